//! A local Lambda host: each function binary runs as a child process against its own
//! implementation of the Lambda Runtime API, exactly as on AWS (`/2018-06-01/runtime/...`).
//! A process that exits is restarted, and the invocation it held fails, like a crashed
//! execution environment.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::process::Command;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::DevError;

/// What a function returned: its response, or the error document it reported.
pub type InvokeResult = Result<Bytes, InvokeError>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum InvokeError {
    #[error("function error: {0}")]
    Function(String),
    #[error("no function named {0}")]
    NoSuchFunction(String),
    #[error("invocation timed out")]
    Timeout,
    #[error("the function process exited during the invocation")]
    Crashed,
}

/// A streamed response as it arrives: the function's chunks (for a function URL, its
/// metadata prelude, eight NUL bytes, then the body).
pub type ResponseStream = mpsc::Receiver<Bytes>;

struct Invocation {
    request_id: String,
    payload: Bytes,
    deadline_ms: u64,
    reply: Reply,
}

/// Where an invocation's answer goes: the whole of it, and its chunks as they come when the
/// caller takes a streamed response.
struct Reply {
    done: oneshot::Sender<InvokeResult>,
    stream: Option<oneshot::Sender<ResponseStream>>,
}

/// One execution environment's view of the Runtime API: the function's shared invocation
/// queue, and the invocations this environment holds (failed if it dies).
struct RuntimeState {
    function_name: String,
    queue: Arc<Mutex<mpsc::Receiver<Invocation>>>,
    pending: Mutex<HashMap<String, Reply>>,
    /// The running process, so a test can crash it.
    pid: std::sync::Mutex<Option<u32>>,
}

struct FunctionSlot {
    sender: mpsc::Sender<Invocation>,
    timeout: Duration,
}

/// A streaming invocation's answer.
pub enum Streamed {
    Chunks(ResponseStream),
    Whole(Bytes),
}

type EnqueuedReply<'a> = (
    &'a FunctionSlot,
    oneshot::Receiver<InvokeResult>,
    Option<oneshot::Receiver<ResponseStream>>,
);

pub struct LambdaHost {
    functions: HashMap<String, FunctionSlot>,
    environments: HashMap<String, Vec<Arc<RuntimeState>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for LambdaHost {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

pub struct FunctionSpec {
    pub name: String,
    pub binary: PathBuf,
    pub env: Vec<(String, String)>,
    pub timeout: Duration,
    /// Execution environments running side by side (Lambda concurrency).
    pub instances: usize,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl LambdaHost {
    pub async fn start(specs: Vec<FunctionSpec>, log_dir: &Path) -> Result<Self, DevError> {
        let mut functions = HashMap::new();
        let mut environments: HashMap<String, Vec<Arc<RuntimeState>>> = HashMap::new();
        let mut tasks = Vec::new();
        for spec in specs {
            if !spec.binary.exists() {
                return Err(DevError::Process(format!(
                    "{} is not built; run `cargo build --workspace --bins` first",
                    spec.binary.display()
                )));
            }
            let (tx, rx) = mpsc::channel(64);
            let queue = Arc::new(Mutex::new(rx));
            for _ in 0..spec.instances.max(1) {
                let state = Arc::new(RuntimeState {
                    function_name: spec.name.clone(),
                    queue: queue.clone(),
                    pending: Mutex::new(HashMap::new()),
                    pid: std::sync::Mutex::new(None),
                });
                environments
                    .entry(spec.name.clone())
                    .or_default()
                    .push(state.clone());
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(|e| DevError::Process(e.to_string()))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| DevError::Process(e.to_string()))?;
                let app = runtime_api(state.clone());
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(listener, app).await;
                }));
                tasks.push(tokio::spawn(supervise(
                    spec.clone_for_supervisor(),
                    addr.to_string(),
                    state,
                    log_dir.to_path_buf(),
                )));
            }
            functions.insert(
                spec.name.clone(),
                FunctionSlot {
                    sender: tx,
                    timeout: spec.timeout,
                },
            );
        }
        Ok(Self {
            functions,
            environments,
            tasks,
        })
    }

    pub async fn invoke(&self, function: &str, payload: Bytes) -> InvokeResult {
        let (slot, rx, _) = self.enqueue(function, payload, false).await?;
        match tokio::time::timeout(slot.timeout + Duration::from_secs(1), rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(InvokeError::Crashed),
            Err(_) => Err(InvokeError::Timeout),
        }
    }

    /// Invoke a function whose response may stream (a function URL in `RESPONSE_STREAM`
    /// mode): its chunks as they come, or its whole answer when it did not stream.
    pub async fn invoke_streaming(
        &self,
        function: &str,
        payload: Bytes,
    ) -> Result<Streamed, InvokeError> {
        let (slot, done, stream) = self.enqueue(function, payload, true).await?;
        let Some(stream) = stream else {
            return Err(InvokeError::Crashed);
        };
        let wait = tokio::time::timeout(slot.timeout + Duration::from_secs(1), async {
            tokio::select! {
                Ok(chunks) = stream => Ok(Streamed::Chunks(chunks)),
                whole = done => whole.map_err(|_| InvokeError::Crashed)?.map(Streamed::Whole),
            }
        });
        wait.await.map_err(|_| InvokeError::Timeout)?
    }

    async fn enqueue(
        &self,
        function: &str,
        payload: Bytes,
        streaming: bool,
    ) -> Result<EnqueuedReply<'_>, InvokeError> {
        let slot = self
            .functions
            .get(function)
            .ok_or_else(|| InvokeError::NoSuchFunction(function.to_string()))?;
        let (done, rx) = oneshot::channel();
        let (stream, stream_rx) = if streaming {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let invocation = Invocation {
            request_id: uuid::Uuid::new_v4().to_string(),
            payload,
            deadline_ms: now_ms() + slot.timeout.as_millis() as u64,
            reply: Reply { done, stream },
        };
        slot.sender
            .send(invocation)
            .await
            .map_err(|_| InvokeError::Crashed)?;
        Ok((slot, rx, stream_rx))
    }

    /// Kill every process of a function, as a crash would (they are restarted).
    pub fn kill(&self, function: &str) -> usize {
        let mut killed = 0;
        for env in self.environments.get(function).into_iter().flatten() {
            let pid = *env.pid.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(pid) = pid {
                let ok = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .status()
                    .is_ok_and(|s| s.success());
                killed += usize::from(ok);
            }
        }
        killed
    }

    /// The process ids of a function's running environments.
    pub fn pids(&self, function: &str) -> Vec<u32> {
        self.environments
            .get(function)
            .into_iter()
            .flatten()
            .filter_map(|env| *env.pid.lock().unwrap_or_else(|p| p.into_inner()))
            .collect()
    }

    pub fn function_names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.functions.keys().cloned().collect();
        names.sort();
        names
    }
}

impl FunctionSpec {
    fn clone_for_supervisor(&self) -> FunctionSpec {
        FunctionSpec {
            name: self.name.clone(),
            binary: self.binary.clone(),
            env: self.env.clone(),
            timeout: self.timeout,
            instances: self.instances,
        }
    }
}

/// Run the function process; when it exits, fail what it held and start a new one.
async fn supervise(
    spec: FunctionSpec,
    runtime_addr: String,
    state: Arc<RuntimeState>,
    log_dir: PathBuf,
) {
    loop {
        let log_path = log_dir.join(format!("{}.log", spec.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path);
        let (out, err) = match log.and_then(|f| Ok((f.try_clone()?, f))) {
            Ok((a, b)) => (Stdio::from(a), Stdio::from(b)),
            Err(_) => (Stdio::null(), Stdio::null()),
        };
        let mut cmd = Command::new(&spec.binary);
        cmd.env_clear()
            .envs(
                ["PATH", "HOME"]
                    .iter()
                    .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
            )
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", &runtime_addr)
            .env("AWS_LAMBDA_FUNCTION_NAME", &spec.name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", spec.name),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(function = %spec.name, error = %e, "could not start function");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        *state.pid.lock().unwrap_or_else(|p| p.into_inner()) = child.id();
        let status = child.wait().await;
        tracing::warn!(function = %spec.name, ?status, "function process exited; restarting");
        for (_, reply) in state.pending.lock().await.drain() {
            let _ = reply.done.send(Err(InvokeError::Crashed));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn runtime_api(state: Arc<RuntimeState>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(state)
}

async fn next(State(state): State<Arc<RuntimeState>>) -> Response {
    let invocation = {
        let mut queue = state.queue.lock().await;
        queue.recv().await
    };
    let Some(inv) = invocation else {
        return StatusCode::GONE.into_response();
    };
    state
        .pending
        .lock()
        .await
        .insert(inv.request_id.clone(), inv.reply);
    let mut headers = HeaderMap::new();
    let arn = format!(
        "arn:aws:lambda:us-east-1:123456789012:function:{}",
        state.function_name
    );
    for (k, v) in [
        ("lambda-runtime-aws-request-id", inv.request_id.as_str()),
        ("lambda-runtime-deadline-ms", &inv.deadline_ms.to_string()),
        ("lambda-runtime-invoked-function-arn", &arn),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0",
        ),
        ("content-type", "application/json"),
    ] {
        if let Ok(v) = v.parse() {
            headers.insert(k, v);
        }
    }
    (StatusCode::OK, headers, inv.payload).into_response()
}

async fn response(
    State(state): State<Arc<RuntimeState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> StatusCode {
    let Some(reply) = state.pending.lock().await.remove(&id) else {
        return StatusCode::NOT_FOUND;
    };
    let streaming = headers
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    match (streaming, reply.stream) {
        (true, Some(to_caller)) => {
            let (tx, rx) = mpsc::channel(16);
            let _ = to_caller.send(rx);
            forward(body, tx).await;
            let _ = reply.done.send(Ok(Bytes::new()));
        }
        _ => {
            let whole = axum::body::to_bytes(body, usize::MAX).await;
            let _ = reply
                .done
                .send(whole.map_err(|e| InvokeError::Function(e.to_string())));
        }
    }
    StatusCode::ACCEPTED
}

/// Pass a streamed response on as it comes. A caller that hung up gets nothing more, but the
/// rest is still read to its end: as on Lambda, the invocation runs until the function ends it.
async fn forward(body: axum::body::Body, tx: mpsc::Sender<Bytes>) {
    use futures_util::StreamExt;
    let mut chunks = body.into_data_stream();
    let mut caller = Some(tx);
    while let Some(Ok(chunk)) = chunks.next().await {
        if let Some(tx) = &caller
            && tx.send(chunk).await.is_err()
        {
            caller = None;
        }
    }
}

async fn error(
    State(state): State<Arc<RuntimeState>>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    match state.pending.lock().await.remove(&id) {
        Some(reply) => {
            let _ = reply.done.send(Err(InvokeError::Function(
                String::from_utf8_lossy(&body).into_owned(),
            )));
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn init_error(State(state): State<Arc<RuntimeState>>, body: Bytes) -> StatusCode {
    tracing::error!(function = %state.function_name, error = %String::from_utf8_lossy(&body), "function failed to start");
    StatusCode::ACCEPTED
}
