//! Measuring a function binary the way Lambda runs it: a minimal Runtime API per process
//! that notes when the process first asks for work (the end of its init) and when it
//! answers each invocation, plus what /proc says about its CPU time and peak memory.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::routing::{get, post};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, mpsc};

use crate::DevError;

enum Signal {
    /// The process asked for its next invocation.
    Ready,
    /// It answered one: its response, or `None` for an error it reported.
    Done(Option<Bytes>),
}

struct RuntimeState {
    events: Mutex<mpsc::Receiver<Bytes>>,
    signals: mpsc::UnboundedSender<Signal>,
    seq: AtomicU64,
}

/// One function process under measurement, with its own Runtime API.
pub struct Measured {
    child: Child,
    pid: u32,
    events: mpsc::Sender<Bytes>,
    signals: mpsc::UnboundedReceiver<Signal>,
    ready: bool,
    spawned: Instant,
    server: tokio::task::JoinHandle<()>,
}

const WAIT: Duration = Duration::from_secs(60);

impl Measured {
    /// Start `binary` with `env` (and the Runtime API variables Lambda sets).
    pub async fn launch(
        binary: &Path,
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self, DevError> {
        let (events_tx, events_rx) = mpsc::channel(1);
        let (signals_tx, signals) = mpsc::unbounded_channel();
        let state = Arc::new(RuntimeState {
            events: Mutex::new(events_rx),
            signals: signals_tx,
            seq: AtomicU64::new(0),
        });
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| DevError::Process(format!("runtime API: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| DevError::Process(e.to_string()))?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, routes(state)).await;
        });
        let log = std::fs::File::create(log).map_err(|e| DevError::Process(e.to_string()))?;
        let err = log
            .try_clone()
            .map_err(|e| DevError::Process(e.to_string()))?;
        let spawned = Instant::now();
        let child = Command::new(binary)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| DevError::Process(format!("{}: {e}", binary.display())))?;
        let pid = child.id().unwrap_or_default();
        Ok(Self {
            child,
            pid,
            events: events_tx,
            signals,
            ready: false,
            spawned,
            server,
        })
    }

    /// Time from spawn until the process first asked for work.
    pub async fn init(&mut self) -> Result<Duration, DevError> {
        self.wait_ready().await?;
        Ok(self.spawned.elapsed())
    }

    async fn wait_ready(&mut self) -> Result<(), DevError> {
        while !self.ready {
            match tokio::time::timeout(WAIT, self.signals.recv()).await {
                Ok(Some(Signal::Ready)) => self.ready = true,
                Ok(Some(Signal::Done(_))) => {}
                _ => {
                    return Err(DevError::Process(
                        "the function never asked for work".into(),
                    ));
                }
            }
        }
        Ok(())
    }

    /// One invocation: its wall time and the function's response (`None`: it reported an
    /// error).
    pub async fn invoke(
        &mut self,
        event: &serde_json::Value,
    ) -> Result<(Duration, Option<serde_json::Value>), DevError> {
        self.wait_ready().await?;
        self.ready = false;
        let body = Bytes::from(event.to_string());
        let started = Instant::now();
        self.events
            .send(body)
            .await
            .map_err(|_| DevError::Process("runtime API closed".into()))?;
        loop {
            match tokio::time::timeout(WAIT, self.signals.recv()).await {
                Ok(Some(Signal::Done(answer))) => {
                    let elapsed = started.elapsed();
                    let answer = answer
                        .map(|b| serde_json::from_slice(&b).unwrap_or(serde_json::Value::Null));
                    return Ok((elapsed, answer));
                }
                Ok(Some(Signal::Ready)) => self.ready = true,
                _ => return Err(DevError::Process("the function never answered".into())),
            }
        }
    }

    /// CPU time of every thread so far (user and system, from the scheduler's counters).
    pub fn cpu(&self) -> Duration {
        cpu_of(self.pid)
    }

    /// Peak resident memory (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.server.abort();
    }
}

fn routes(state: Arc<RuntimeState>) -> Router {
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(done_ok),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(done_err))
        .route("/2018-06-01/runtime/init/error", post(done_err))
        .with_state(state)
}

async fn next(State(state): State<Arc<RuntimeState>>) -> (HeaderMap, Bytes) {
    let _ = state.signals.send(Signal::Ready);
    let event = state.events.lock().await.recv().await.unwrap_or_default();
    let n = state.seq.fetch_add(1, Ordering::Relaxed);
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64 + 60_000);
    let mut headers = HeaderMap::new();
    let pairs = [
        ("lambda-runtime-aws-request-id", format!("bench-{n}")),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench".into(),
        ),
        ("lambda-runtime-trace-id", format!("Root=1-bench-{n}")),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    (headers, event)
}

async fn done_ok(State(state): State<Arc<RuntimeState>>, body: Bytes) -> &'static str {
    let _ = state.signals.send(Signal::Done(Some(body)));
    "{}"
}

async fn done_err(State(state): State<Arc<RuntimeState>>) -> &'static str {
    let _ = state.signals.send(Signal::Done(None));
    "{}"
}

/// CPU time of a whole process so far, threads that ended included (user and system, in the
/// kernel's clock ticks of 10 ms: for runs of seconds); zero once it is gone.
pub fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is 3rd, utime 14th, stime 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// CPU time of every thread of a process so far (user and system, from the scheduler's
/// counters); zero once it is gone.
pub fn cpu_of(pid: u32) -> Duration {
    let dir = format!("/proc/{pid}/task");
    let ns: u64 = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(ns)
}
