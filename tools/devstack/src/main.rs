use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use devstack::settings;
use devstack::stack::{Runtime, Stack, StackOptions, mint_token};

/// The local kling-lambda stack: moto, provider-sim, the functions, the SQS bridge and schedules.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum RuntimeKind {
    /// `cargo lambda watch` builds and serves the functions (hot reload).
    Watch,
    /// The built binaries under the built-in Lambda Runtime API host.
    Builtin,
}

#[derive(clap::Args)]
struct StackArgs {
    #[arg(long, env = "API_PORT", default_value_t = 9000)]
    api_port: u16,
    #[arg(long, env = "MOTO_PORT", default_value_t = 4566)]
    moto_port: u16,
    #[arg(long, env = "KLING_SIM_PORT", default_value_t = 9100)]
    sim_port: u16,
    /// Where the OpenAPI spec is served (`/openapi.yaml`).
    #[arg(long, env = "DOCS_PORT", default_value_t = 9001)]
    docs_port: u16,
    /// provider-sim speed factor over real timings (10 s queued, 60 s generating at 1).
    #[arg(long, env = "KLING_SIM_SPEED", default_value_t = 20.0)]
    sim_speed: f64,
    /// Kling accounts in the pool (`main`, then `acct2`…), each with PROVIDER_MAX_CONCURRENCY
    /// slots at provider-sim and here.
    #[arg(long, env = "KLING_ACCOUNTS", default_value_t = 1)]
    kling_accounts: usize,
    /// fal accounts in the pool (`main`, then `acct2`…); each other than main runs
    /// PROVIDER_MAX_CONCURRENCY requests at once at fal-sim (its workers).
    #[arg(long, env = "FAL_ACCOUNTS", default_value_t = 1)]
    fal_accounts: usize,
    /// Check each function's AWS calls against its role in the template (built-in runtime).
    #[arg(long, env = "DEVSTACK_IAM_CHECK", default_value_t = true, action = clap::ArgAction::Set)]
    iam_check: bool,
    #[arg(long, value_enum, env = "DEVSTACK_RUNTIME", default_value = "watch")]
    runtime: RuntimeKind,
    /// Seconds between scheduled reconcile runs.
    #[arg(long, default_value_t = 60)]
    schedule_every: u64,
    #[arg(long, default_value = ".devstack")]
    log_dir: PathBuf,
    /// Function settings (NAME=value lines) layered over the template's; the caller's
    /// environment wins over this file. Default: ./devstack.env when it exists.
    #[arg(long, env = "DEVSTACK_SETTINGS")]
    settings: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Start the stack and keep it running until Ctrl-C.
    Up(StackArgs),
    /// Start the stack, run one task of a kind through the API, print the result, stop.
    Demo {
        #[command(flatten)]
        stack: StackArgs,
        /// The kind: text_to_video, image_to_video, effect, video_to_audio, motion_control, avatar,
        /// lip_sync or omni_edit (on Kling's standard API unless PROVIDER or KLING_API_STYLE say otherwise).
        #[arg(long, env = "KIND", default_value = "text_to_video")]
        kind: String,
    },
    /// Print a local bearer token for a user.
    Token { user: String },
    /// Run the daily bill reconciliation now against a running stack (`make dev`) and print its
    /// report; exits 1 when it found a mismatch.
    Bills {
        #[arg(long, env = "API_PORT", default_value_t = 9000)]
        api_port: u16,
        /// A UTC day (YYYY-MM-DD), or today: the local stack's tasks are today's.
        #[arg(long, env = "DAY", default_value = "today")]
        day: String,
    },
    /// Start the stack (built-in runtime, IAM check on) with two Kling accounts and fal, send
    /// a steady rate of creates through the API, wait for every task, and print what a video
    /// cost us (CPU by function, AWS requests by operation, queue wait); exits 1 when a task
    /// did not succeed.
    Load {
        #[command(flatten)]
        stack: StackArgs,
        /// Creates per second.
        #[arg(long, env = "LOAD_RATE", default_value_t = 20)]
        rate: u32,
        /// For how long.
        #[arg(long, env = "LOAD_SECONDS", default_value_t = 60)]
        seconds: u32,
        /// Slots of each Kling account.
        #[arg(long, env = "LOAD_KLING_CAPACITY", default_value_t = 10)]
        kling_capacity: usize,
        /// Slots of the fal account.
        #[arg(long, env = "LOAD_FAL_CAPACITY", default_value_t = 5)]
        fal_capacity: usize,
    },
    /// Start the stack, run a command with API_URL, SPEC_URL, API_TOKEN and API_TOKEN_PRO in its
    /// environment, stop the stack, and exit with the command's status.
    Exec {
        #[command(flatten)]
        stack: StackArgs,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
}

/// The local settings file and the caller's environment, over the template's settings.
fn local_settings(args: &StackArgs) -> Result<Vec<(String, String)>, devstack::DevError> {
    let path = args.settings.clone().or_else(|| {
        let default = PathBuf::from(settings::DEFAULT_FILE);
        default.exists().then_some(default)
    });
    let text = match &path {
        Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
            devstack::DevError::Process(format!("settings file {}: {e}", p.display()))
        })?),
        None => None,
    };
    let file = path.as_deref().zip(text.as_deref());
    let overrides = settings::collect(std::env::vars(), file)?;
    for line in settings::describe(&overrides) {
        println!("setting {line}");
    }
    Ok(overrides.into_iter().map(|o| (o.name, o.value)).collect())
}

fn options(args: &StackArgs) -> Result<StackOptions, devstack::DevError> {
    let root = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut extra_env = local_settings(args)?;
    let capacity = extra_env
        .iter()
        .find(|(k, _)| k == "PROVIDER_MAX_CONCURRENCY")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(5);
    let pool = devstack::env::local_pool(args.kling_accounts, args.fal_accounts, capacity);
    // Listed after the caller's settings: a PROVIDER_ACCOUNTS of theirs wins.
    let theirs = extra_env.iter().any(|(k, _)| k == "PROVIDER_ACCOUNTS");
    extra_env.splice(
        0..0,
        pool.env
            .into_iter()
            .filter(|(k, _)| !theirs || k != "PROVIDER_ACCOUNTS"),
    );
    Ok(StackOptions {
        runtime: match args.runtime {
            RuntimeKind::Watch => Runtime::Watch,
            // The functions are built next to devstack itself.
            RuntimeKind::Builtin => Runtime::Builtin {
                bin_dir: std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(PathBuf::from))
                    .unwrap_or_else(|| root.join("target/debug")),
            },
        },
        root,
        api_port: args.api_port,
        moto_port: args.moto_port,
        sim_port: args.sim_port,
        docs_port: args.docs_port,
        sim_speed: args.sim_speed,
        schedule_every: Duration::from_secs(args.schedule_every),
        queue_visibility_secs: 10,
        log_dir: args.log_dir.clone(),
        instances: 2,
        extra_env,
        sim_webhook_secret: None,
        iam_check: args.iam_check,
        template_text: None,
        sim_accounts: pool.kling,
        fal_accounts: pool.fal,
    })
}

async fn load(
    mut args: StackArgs,
    plan: devstack::load::LoadPlan,
    kling: usize,
    fal: usize,
) -> Result<ExitCode, devstack::DevError> {
    // Processes of our own to read CPU from, and the IAM check to count requests at.
    args.runtime = RuntimeKind::Builtin;
    args.iam_check = true;
    let mut opts = options(&args)?;
    let (b, env) = devstack::load::settings(kling, fal);
    opts.sim_accounts.push(b);
    opts.extra_env.extend(env);
    let stack = Stack::start(opts).await?;
    println!("local stack up at {}; driving it", stack.api_url);
    let report = devstack::load::run(&stack, &plan).await?;
    for line in &report.lines {
        println!("{line}");
    }
    stack.check_iam()?;
    Ok(match report.unfinished {
        0 => ExitCode::SUCCESS,
        n => {
            eprintln!("{n} accepted tasks did not succeed");
            ExitCode::FAILURE
        }
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, devstack::DevError> {
    match cli.command {
        Command::Token { user } => {
            println!("{}", mint_token(&user)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bills { api_port, day } => {
            let report = devstack::invoker::Invoker::new(format!("http://127.0.0.1:{api_port}"))
                .invoke(
                    "reconcile",
                    &serde_json::json!({"job": "bills", "day": day}),
                )
                .await
                .map_err(|e| devstack::DevError::Process(format!("reconcile: {e}")))?;
            let report: serde_json::Value = serde_json::from_slice(&report).unwrap_or_default();
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            let clean = report["mismatches"].as_u64() == Some(0);
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Up(args) => {
            let stack = Stack::start(options(&args)?).await?;
            println!("kling-lambda local stack is up");
            println!("  API        {}", stack.api_url);
            println!("  OpenAPI    {}", stack.spec_url);
            println!("  playground {}", stack.playground_url);
            println!("  provider-sim  {}", stack.sim.base_url());
            println!("  moto       {}", stack.moto_endpoint);
            println!("  logs       {}", stack.log_dir.display());
            println!("  token      {}", stack.token("dev-user")?);
            println!();
            println!(
                "try: curl -s -X POST {}/v1/videos -H \"authorization: Bearer $TOKEN\" \\",
                stack.api_url
            );
            println!(
                "       -H 'idempotency-key: demo-1' -d '{{\"type\":\"text_to_video\",\"prompt\":\"a red fox in snow\"}}'"
            );
            println!("Ctrl-C stops everything.");
            let _ = tokio::signal::ctrl_c().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { stack: args, kind } => {
            let mut opts = options(&args)?;
            let chosen = ["PROVIDER", "KLING_API_STYLE"].map(|v| std::env::var(v).is_ok());
            if !chosen.contains(&true) {
                opts.extra_env.extend(devstack::demo::settings_for(&kind));
            }
            let stack = Stack::start(opts).await?;
            println!(
                "local stack up at {} (logs in {})",
                stack.api_url,
                stack.log_dir.display()
            );
            let outcome = devstack::demo::run(&stack, Duration::from_secs(300), &kind).await?;
            // A call AWS would deny is the likelier cause of a failed demo than the task itself.
            stack.check_iam()?;
            println!(
                "{}",
                serde_json::to_string_pretty(&outcome.task).unwrap_or_default()
            );
            let (Some(key), Some(bytes)) = (&outcome.key, &outcome.stored_bytes) else {
                eprintln!("the task did not succeed");
                return Ok(ExitCode::FAILURE);
            };
            println!(
                "stored video: s3://{}/{key} ({} bytes)",
                outcome.bucket,
                bytes.len()
            );
            let served = outcome.served_bytes.as_deref().map(Vec::as_slice);
            let Some((video, manifest)) = devstack::demo::split_manifest(bytes) else {
                eprintln!("the stored video does not end with its C2PA manifest");
                return Ok(ExitCode::FAILURE);
            };
            if Some(video) != served {
                eprintln!("the stored bytes differ from what the emulator served");
                return Ok(ExitCode::FAILURE);
            }
            let state = devstack::demo::manifest_state(bytes)?;
            println!(
                "the stored object is the video the emulator served, byte for byte, followed by its C2PA manifest ({} bytes, {state} to a reader trusting the local test CA)",
                manifest.len()
            );
            if state != "Trusted" {
                return Ok(ExitCode::FAILURE);
            }
            if let Some((surface, model)) = &outcome.surface {
                println!(
                    "provider API: {surface} (model {model}; PROVIDER and KLING_API_STYLE pick it)"
                );
            }
            let file = stack.log_dir.join("demo.mp4");
            std::fs::write(&file, bytes)
                .map_err(|e| devstack::DevError::Demo(format!("{}: {e}", file.display())))?;
            println!(
                "saved the video to {} — play it with any video player",
                file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Exec { stack, command } => exec(stack, command).await,
        Command::Load {
            stack,
            rate,
            seconds,
            kling_capacity,
            fal_capacity,
        } => {
            let plan = devstack::load::LoadPlan {
                rate,
                seconds,
                users: 100,
                drain: Duration::from_secs(900),
            };
            load(stack, plan, kling_capacity, fal_capacity).await
        }
    }
}

async fn exec(args: StackArgs, command: Vec<String>) -> Result<ExitCode, devstack::DevError> {
    let stack = Stack::start(options(&args)?).await?;
    println!(
        "local stack up at {} (logs in {})",
        stack.api_url,
        stack.log_dir.display()
    );
    let (program, rest) = command
        .split_first()
        .ok_or_else(|| devstack::DevError::Process("no command given".into()))?;
    let status = tokio::process::Command::new(program)
        .args(rest)
        .env("API_URL", &stack.api_url)
        .env("SPEC_URL", &stack.spec_url)
        .env("PLAYGROUND_URL", &stack.playground_url)
        .env("API_TOKEN", stack.token("exec-user")?)
        .env(
            "API_TOKEN_PRO",
            stack.token_with_plan("exec-pro-user", "pro")?,
        )
        .status()
        .await
        .map_err(|e| devstack::DevError::Process(format!("{program}: {e}")))?;
    stack.check_iam()?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}
