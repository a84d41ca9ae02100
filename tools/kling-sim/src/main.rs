use std::time::Duration;

use clap::Parser;

/// kling-sim: an emulator of Kling's legacy /v1 video API.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "KLING_SIM_ADDR", default_value = "127.0.0.1:9100")]
    addr: String,
    /// AccessKey expected as the JWT issuer.
    #[arg(long, env = "KLING_SIM_ACCESS_KEY", default_value = "local-access-key")]
    access_key: String,
    /// SecretKey that signs the JWT.
    #[arg(long, env = "KLING_SIM_SECRET_KEY", default_value = "local-secret-key")]
    secret_key: String,
    /// Milliseconds a task spends in each of `submitted` and `processing`.
    #[arg(long, env = "KLING_SIM_STEP_MS", default_value_t = 1500)]
    step_ms: u64,
    /// Base URL for result video links (defaults to the listen address).
    #[arg(long, env = "KLING_SIM_PUBLIC_URL")]
    public_url: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    let sim = kling_sim::spawn(
        listener,
        kling_sim::SimConfig {
            access_key: args.access_key,
            secret_key: args.secret_key,
            public_base_url: args.public_url,
            step: Duration::from_millis(args.step_ms),
        },
    )?;
    println!("kling-sim listening on {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
