//! The whole local stack: moto, the template's resources, provider-sim, the functions (built-in
//! Lambda host or `cargo lambda watch`), the SQS bridges and the schedules.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::Credentials;

use crate::env::{LOCAL_AUTH_SECRET, LocalEndpoints, function_env};
use crate::gateway::{self, Gateway};
use crate::invoker::Invoker;
use crate::lambda_host::{FunctionSpec, LambdaHost};
use crate::moto::{self, Moto, free_port, wait_for_http};
use crate::resources::{self, LocalResources};
use crate::routes::{self, RouteTable};
use crate::template::{EventDef, Template};
use crate::{DevError, bridge, schedule};

#[derive(Debug, Clone)]
pub enum Runtime {
    /// Run the built binaries from this directory under the built-in Lambda host.
    Builtin { bin_dir: PathBuf },
    /// Run `cargo lambda watch`, which builds and serves the functions itself.
    Watch,
}

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The workspace root (holds Cargo.toml and infra/template.yaml).
    pub root: PathBuf,
    /// 0 picks a free port.
    pub api_port: u16,
    pub moto_port: u16,
    pub sim_port: u16,
    /// Serves the app's contract, `api/openapi.yaml`, at `/openapi.yaml`.
    pub docs_port: u16,
    /// provider-sim speed factor over real timings.
    pub sim_speed: f64,
    pub runtime: Runtime,
    pub schedule_every: Duration,
    /// Local visibility timeout for queues, so redeliveries happen within a session.
    pub queue_visibility_secs: u32,
    pub log_dir: PathBuf,
    /// Execution environments per function.
    pub instances: usize,
    /// Extra environment for every function (e.g. `PLANS_JSON` in tests).
    pub extra_env: Vec<(String, String)>,
    /// provider-sim signs callbacks with this `whsec_` secret.
    pub sim_webhook_secret: Option<String>,
    /// Check every AWS call a function makes against its role in the template (built-in
    /// runtime only: under `cargo lambda watch` one process serves every function).
    pub iam_check: bool,
    /// The template's text in place of `infra/template.yaml` (a test that changes a policy).
    pub template_text: Option<String>,
    /// provider-sim's Kling accounts besides its main one (`env::local_kling_account`).
    pub sim_accounts: Vec<provider_sim::SimAccount>,
    /// fal-sim's accounts besides its main one (`env::local_fal_account`), each with its
    /// workers.
    pub fal_accounts: Vec<provider_sim::fal::FalAccount>,
}

impl StackOptions {
    pub fn for_tests(root: &Path, bin_dir: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            api_port: 0,
            moto_port: 0,
            sim_port: 0,
            docs_port: 0,
            sim_speed: 200.0,
            runtime: Runtime::Builtin {
                bin_dir: bin_dir.to_path_buf(),
            },
            schedule_every: Duration::from_secs(3600),
            queue_visibility_secs: 2,
            log_dir: std::env::temp_dir()
                .join(format!("kling-lambda-devstack-{}", uuid::Uuid::new_v4())),
            instances: 1,
            extra_env: Vec::new(),
            sim_webhook_secret: None,
            iam_check: true,
            template_text: None,
            sim_accounts: Vec::new(),
            fal_accounts: Vec::new(),
        }
    }
}

pub struct Stack {
    pub api_url: String,
    /// The status streams' function URL.
    pub stream_url: String,
    /// The OpenAPI document, with `servers` pointing at this stack.
    pub spec_url: String,
    /// The playground page (same origin as a `/v1` forward to the API).
    pub playground_url: String,
    pub moto_endpoint: String,
    pub sim: provider_sim::RunningSim,
    /// fal's queue for Kling's models (`PROVIDER=fal`).
    pub fal: provider_sim::fal::RunningFal,
    /// Where Live Activity pushes go locally.
    pub apns: provider_sim::apns::RunningApns,
    pub resources: LocalResources,
    pub sdk: aws_config::SdkConfig,
    pub log_dir: PathBuf,
    pub functions: Vec<String>,
    /// Each function's environment as the local host gives it (built-in runtime only).
    pub envs: std::collections::HashMap<String, Vec<(String, String)>>,
    /// The IAM check in front of moto, when on.
    pub iam: Option<crate::iam::IamProxy>,
    _moto: Moto,
    host: Option<Arc<LambdaHost>>,
    watch: Option<tokio::process::Child>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.report_iam();
        // `cargo lambda watch` runs the functions as its own children: stop the whole group.
        if let Some(pid) = self.watch.as_ref().and_then(|c| c.id()) {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// The IAM check in front of moto, with each function's statements from the template.
async fn start_iam(
    opts: &StackOptions,
    template: &Template,
    resources: &LocalResources,
    moto: &str,
) -> Result<Option<crate::iam::IamProxy>, DevError> {
    if !opts.iam_check || matches!(opts.runtime, Runtime::Watch) {
        return Ok(None);
    }
    let resolver = crate::iam::intrinsics::Resolver::new(template, resources);
    let policies = crate::iam::policy::Policies::load(template, &resolver)?;
    Ok(Some(crate::iam::IamProxy::start(moto, policies).await?))
}

/// Environments of a streaming function (each open stream holds one).
const STREAMING_INSTANCES: usize = 6;

/// A loopback listener on `port` (0: one the system picks).
async fn bind(port: u16, what: &str) -> Result<tokio::net::TcpListener, DevError> {
    tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| DevError::Process(format!("{what} port {port}: {e}")))
}

fn port_or_free(port: u16) -> Result<u16, DevError> {
    if port == 0 { free_port() } else { Ok(port) }
}

pub async fn local_sdk_config(moto_endpoint: &str) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Ok(http) = shared::runtime::net::SdkHttp::new() {
        loader = loader.http_client(http);
    }
    loader
        .endpoint_url(moto_endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "devstack"))
        .load()
        .await
}

/// fal-sim on a free port, at provider-sim's speed (about 10 s queued, 60 s generating at 1).
async fn start_fal(
    speed: f64,
    accounts: Vec<provider_sim::fal::FalAccount>,
) -> Result<provider_sim::fal::RunningFal, DevError> {
    let speed = if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    };
    let config = provider_sim::fal::FalConfig {
        key: crate::env::LOCAL_FAL_KEY.into(),
        queue_time: Duration::from_secs_f64(10.0 / speed),
        run_time: Duration::from_secs_f64(60.0 / speed),
        accounts,
        ..Default::default()
    };
    provider_sim::fal::spawn(bind(0, "fal-sim").await?, config)
        .map_err(|e| DevError::Process(format!("fal-sim: {e}")))
}

/// The APNs emulator, trusting this stack's throwaway key.
async fn start_apns() -> Result<provider_sim::apns::RunningApns, DevError> {
    let key = crate::env::local_apns_key()
        .ok_or_else(|| DevError::Process("no local APNs key could be made".into()))?;
    let config = provider_sim::apns::ApnsConfig {
        key_id: crate::env::LOCAL_APNS_KEY_ID.into(),
        team_id: crate::env::LOCAL_APNS_TEAM_ID.into(),
        public_key: key.1.clone(),
        bundle_id: crate::env::LOCAL_APNS_TOPIC.into(),
    };
    provider_sim::apns::spawn(bind(0, "APNs emulator").await?, config)
        .map_err(|e| DevError::Process(format!("APNs emulator: {e}")))
}

impl Stack {
    pub async fn start(opts: StackOptions) -> Result<Self, DevError> {
        std::fs::create_dir_all(&opts.log_dir)
            .map_err(|e| DevError::Process(format!("log dir: {e}")))?;
        let template = match &opts.template_text {
            Some(text) => Template::parse(text)?,
            None => Template::load(&opts.root.join("infra/template.yaml"))?,
        };
        let cargo_routes = routes::load(&opts.root.join("Cargo.toml"))?;

        let moto = moto::start(opts.moto_port, &opts.log_dir).await?;
        let sdk = local_sdk_config(&moto.endpoint).await;
        let resources =
            resources::create_all(&template, &sdk, Some(opts.queue_visibility_secs)).await?;

        let sim_listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.sim_port))
            .await
            .map_err(|e| DevError::Process(format!("provider-sim port {}: {e}", opts.sim_port)))?;
        let sim = provider_sim::spawn(
            sim_listener,
            provider_sim::SimConfig {
                access_key: crate::env::LOCAL_KLING_ACCESS_KEY.into(),
                secret_key: crate::env::LOCAL_KLING_SECRET_KEY.into(),
                api_key: Some(crate::env::LOCAL_KLING_API_KEY.into()),
                webhook_secret: opts.sim_webhook_secret.clone(),
                accounts: opts.sim_accounts.clone(),
                ..Default::default()
            }
            .with_speed(opts.sim_speed),
        )
        .map_err(|e| DevError::Process(format!("provider-sim: {e}")))?;

        // The built-in gateway keeps the listener it binds (no port race with other stacks);
        // `cargo lambda watch` binds the port itself.
        let mut api_listener = match opts.runtime {
            Runtime::Builtin { .. } => Some(bind(opts.api_port, "API").await?),
            Runtime::Watch => None,
        };
        let api_port = match &api_listener {
            Some(l) => l
                .local_addr()
                .map_err(|e| DevError::Process(e.to_string()))?
                .port(),
            None => port_or_free(opts.api_port)?,
        };
        let api_url = format!("http://127.0.0.1:{api_port}");
        let fal = start_fal(opts.sim_speed, opts.fal_accounts.clone()).await?;
        let apns = start_apns().await?;
        let iam = start_iam(&opts, &template, &resources, &moto.endpoint).await?;
        let defs = template.functions()?;
        let mut url_listeners = Vec::new();
        let mut stream_url = String::new();
        for def in defs.iter().filter(|d| d.url.is_some()) {
            let url = match opts.runtime {
                Runtime::Builtin { .. } => {
                    let listener = bind(0, "function URL").await?;
                    let port = listener
                        .local_addr()
                        .map_err(|e| DevError::Process(e.to_string()))?
                        .port();
                    url_listeners.push((def.name.clone(), listener));
                    format!("http://127.0.0.1:{port}")
                }
                // cargo lambda watch serves function URLs under its own origin.
                Runtime::Watch => format!("{api_url}/lambda-url/{}", def.name),
            };
            if def.url == Some(true) {
                stream_url = url;
            }
        }
        let endpoints = LocalEndpoints {
            moto: iam
                .as_ref()
                .map_or(moto.endpoint.clone(), |p| p.endpoint.clone()),
            kling: sim.base_url(),
            fal: fal.base_url(),
            api: api_url.clone(),
            stream: stream_url.clone(),
            apns: (apns.base_url(), apns.sandbox_url()),
        };
        let mut tasks = Vec::new();
        let mut host = None;
        let mut watch = None;
        let mut envs = std::collections::HashMap::new();
        match &opts.runtime {
            Runtime::Builtin { bin_dir } => {
                let mut specs = Vec::new();
                for def in &defs {
                    let mut env = function_env(def, &resources, &endpoints)?;
                    for (k, v) in env.iter_mut() {
                        if k == "AWS_ACCESS_KEY_ID" {
                            *v = crate::iam::access_key(&def.name);
                        }
                    }
                    env.extend(opts.extra_env.iter().cloned());
                    envs.insert(def.name.clone(), env.clone());
                    specs.push(FunctionSpec {
                        name: def.name.clone(),
                        binary: bin_dir.join(&def.name),
                        env,
                        timeout: Duration::from_secs(60),
                        // A stream holds its environment while open: room for a few at once.
                        instances: match def.url {
                            Some(true) => opts.instances.max(STREAMING_INSTANCES),
                            _ => def
                                .reserved
                                .map_or(opts.instances, |r| r.min(opts.instances)),
                        },
                    });
                }
                let lambda_host = Arc::new(LambdaHost::start(specs, &opts.log_dir).await?);
                for (function, listener) in url_listeners.drain(..) {
                    let app = crate::function_url::router(lambda_host.clone(), function);
                    tasks.push(tokio::spawn(async move {
                        let _ = axum::serve(listener, app).await;
                    }));
                }
                let gw = Arc::new(Gateway {
                    host: lambda_host.clone(),
                    routes: RouteTable::new(&cargo_routes)?,
                    default_route: template.default_route()?,
                });
                let listener = match api_listener.take() {
                    Some(l) => l,
                    None => bind(api_port, "API").await?,
                };
                tasks.push(tokio::spawn(async move {
                    let _ = axum::serve(listener, gateway::router(gw)).await;
                }));
                host = Some(lambda_host);
            }
            Runtime::Watch => {
                watch = Some(start_watch(&opts, api_port, &defs, &resources, &endpoints).await?);
            }
        }

        let playground_token = shared::edge::auth::mint_local_token(
            LOCAL_AUTH_SECRET.as_bytes(),
            "playground",
            Some("pro"),
            24 * 3600,
        )
        .map_err(|e| DevError::Process(e.to_string()))?;
        let (spec_url, playground_url) =
            serve_docs(&opts, &api_url, playground_token, &mut tasks).await?;
        let invoker = Invoker::new(api_url.clone());
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        for def in &defs {
            for event in &def.events {
                match event {
                    EventDef::Sqs { queue, batch_size } => {
                        let config = bridge::BridgeConfig {
                            queue_url: resources.refs.get(queue).cloned().unwrap_or_default(),
                            queue_arn: resources.arns.get(queue).cloned().unwrap_or_default(),
                            function: def.name.clone(),
                            batch_size: *batch_size as i32,
                        };
                        tasks.push(tokio::spawn(bridge::run(
                            sqs.clone(),
                            config,
                            invoker.clone(),
                        )));
                    }
                    // A job with its own payload (the daily bill reconciliation) runs on
                    // demand here (`make bills`), not every few seconds.
                    EventDef::Schedule { input: Some(_), .. } => {}
                    EventDef::Schedule { input: None, .. } => {
                        tasks.push(tokio::spawn(schedule::run(
                            def.name.clone(),
                            opts.schedule_every,
                            invoker.clone(),
                        )));
                    }
                    EventDef::Stream { table, batch_size } => {
                        let config = crate::stream_bridge::StreamConfig {
                            stream_arn: resources
                                .stream_arns
                                .get(table)
                                .cloned()
                                .unwrap_or_default(),
                            function: def.name.clone(),
                            batch_size: *batch_size as usize,
                        };
                        tasks.push(tokio::spawn(crate::stream_bridge::run(
                            aws_sdk_dynamodbstreams::Client::new(&sdk),
                            config,
                            invoker.clone(),
                        )));
                    }
                    EventDef::Http { .. } => {}
                }
            }
        }

        Ok(Self {
            api_url,
            stream_url,
            spec_url,
            playground_url,
            moto_endpoint: moto.endpoint.clone(),
            sim,
            fal,
            apns,
            resources,
            sdk,
            log_dir: opts.log_dir.clone(),
            functions: defs.iter().map(|d| d.name.clone()).collect(),
            envs,
            iam,
            _moto: moto,
            host,
            watch,
            tasks,
        })
    }

    /// Every call a function's role would not allow in AWS since the last check, as an error
    /// naming function, action and resource.
    pub fn check_iam(&self) -> Result<(), DevError> {
        let Some(iam) = &self.iam else { return Ok(()) };
        let denials = iam.take_denials();
        if denials.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = denials.iter().map(|d| format!("  {d}")).collect();
        Err(DevError::Process(format!(
            "IAM check: calls the template's roles do not allow:\n{}",
            list.join("\n")
        )))
    }

    /// A run that ends with unchecked denials fails (a test's panic is not hidden by another);
    /// with `DEVSTACK_IAM_REPORT=<file>`, what each function was allowed to do is appended.
    fn report_iam(&self) {
        if let (Some(iam), Ok(path)) = (&self.iam, std::env::var("DEVSTACK_IAM_REPORT")) {
            use std::io::Write;
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "{}", iam.allowed().join("\n"));
            }
        }
        if let Err(e) = self.check_iam() {
            if std::thread::panicking() {
                eprintln!("{e}");
            } else {
                panic!("{e}");
            }
        }
    }

    /// A local bearer token that names a plan (like a Cognito group would).
    pub fn token_with_plan(&self, user_id: &str, plan: &str) -> Result<String, DevError> {
        shared::edge::auth::mint_local_token(
            LOCAL_AUTH_SECRET.as_bytes(),
            user_id,
            Some(plan),
            24 * 3600,
        )
        .map_err(|e| DevError::Process(e.to_string()))
    }

    /// moto server's process id.
    pub fn moto_pid(&self) -> Option<u32> {
        self._moto.pid()
    }

    /// The process ids of a function (built-in runtime only).
    pub fn pids(&self, function: &str) -> Vec<u32> {
        self.host
            .as_ref()
            .map_or_else(Vec::new, |h| h.pids(function))
    }

    /// Crash every instance of a function (built-in runtime only); returns how many died.
    pub fn crash(&self, function: &str) -> usize {
        self.host.as_ref().map_or(0, |h| h.kill(function))
    }

    /// A local bearer token for `user_id`.
    pub fn token(&self, user_id: &str) -> Result<String, DevError> {
        mint_token(user_id)
    }

    pub fn resource(&self, logical_id: &str) -> Option<&str> {
        self.resources.refs.get(logical_id).map(String::as_str)
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk)
                .force_path_style(true)
                .build(),
        )
    }
}

/// The docs port: the committed spec (its `servers` set to this stack) and the playground.
async fn serve_docs(
    opts: &StackOptions,
    api_url: &str,
    token: String,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
) -> Result<(String, String), DevError> {
    let path = opts.root.join("api/openapi.yaml");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| DevError::Process(format!("{}: {e}", path.display())))?;
    let docs = crate::docs::Docs {
        spec: text.replacen("http://127.0.0.1:9000", api_url, 1),
        api_url: api_url.to_string(),
        playground_dir: opts.root.join("playground"),
        token,
        http: shared::runtime::net::client().map_err(|e| DevError::Process(e.to_string()))?,
    };
    crate::docs::serve(bind(opts.docs_port, "docs").await?, docs, tasks).await
}

pub fn mint_token(user_id: &str) -> Result<String, DevError> {
    shared::edge::auth::mint_local_token(LOCAL_AUTH_SECRET.as_bytes(), user_id, None, 24 * 3600)
        .map_err(|e| DevError::Process(e.to_string()))
}

async fn start_watch(
    opts: &StackOptions,
    api_port: u16,
    defs: &[crate::template::FunctionDef],
    resources: &LocalResources,
    endpoints: &LocalEndpoints,
) -> Result<tokio::process::Child, DevError> {
    // One process serves every function, so the variables are the union; they agree by name.
    let mut env = std::collections::BTreeMap::new();
    for def in defs {
        for (k, v) in function_env(def, resources, endpoints)? {
            env.insert(k, v);
        }
    }
    env.extend(opts.extra_env.iter().cloned());
    let log = std::fs::File::create(opts.log_dir.join("cargo-lambda-watch.log"))
        .map_err(|e| DevError::Process(format!("watch log: {e}")))?;
    let log_err = log
        .try_clone()
        .map_err(|e| DevError::Process(e.to_string()))?;
    let mut cmd = tokio::process::Command::new("cargo");
    cmd.current_dir(&opts.root).args([
        "lambda",
        "watch",
        "--invoke-address",
        "127.0.0.1",
        "--invoke-port",
        &api_port.to_string(),
    ]);
    // An empty value means "unset" to the functions; cargo lambda refuses `NAME=`. It splits
    // `--env-var` values at commas, so a value with one (JSON settings such as
    // PROVIDER_ACCOUNTS) goes through an env file, single-quoted: taken literally there.
    let mut file = String::new();
    for (k, v) in env.iter().filter(|(_, v)| !v.is_empty()) {
        match v.contains(',') && !v.contains('\'') && !v.contains('\n') {
            true => file.push_str(&format!("{k}='{v}'\n")),
            false => {
                cmd.arg("--env-var").arg(format!("{k}={v}"));
            }
        }
    }
    if !file.is_empty() {
        let path = opts.log_dir.join("watch.env");
        std::fs::write(&path, file).map_err(|e| DevError::Process(format!("watch env: {e}")))?;
        cmd.arg("--env-file").arg(path);
    }
    let child = cmd
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            DevError::Process(format!(
                "could not start `cargo lambda watch` (`make tools` installs cargo-lambda into .venv): {e}"
            ))
        })?;
    wait_for_http(
        &format!("http://127.0.0.1:{api_port}/"),
        Duration::from_secs(60),
    )
    .await
    .map_err(|_| {
        DevError::Process(format!(
            "cargo lambda watch did not start; see {}",
            opts.log_dir.join("cargo-lambda-watch.log").display()
        ))
    })?;
    Ok(child)
}
