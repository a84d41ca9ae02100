use clap::Parser;

/// provider-sim's Kling emulator (the legacy /v1 surface and the 2026 standard one), with fault
/// injection. The fal.ai emulator in the same crate (`provider_sim::fal`) is started by the devstack.
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
    /// Also accept this static key as `Bearer <key>` (gateway mode).
    #[arg(long, env = "KLING_SIM_API_KEY")]
    api_key: Option<String>,
    /// Speed factor over real timings (about 10 s queued and 60 s generating at 1).
    #[arg(long, env = "KLING_SIM_SPEED", default_value_t = 20.0)]
    speed: f64,
    /// Base URL for result video links (defaults to the listen address).
    #[arg(long, env = "KLING_SIM_PUBLIC_URL")]
    public_url: Option<String>,
    /// Sign callbacks with Standard Webhooks headers using this `whsec_...` secret.
    #[arg(long, env = "KLING_SIM_WEBHOOK_SECRET")]
    webhook_secret: Option<String>,
    #[command(flatten)]
    faults: provider_sim::Faults,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    let config = provider_sim::SimConfig {
        access_key: args.access_key,
        secret_key: args.secret_key,
        api_key: args.api_key,
        public_base_url: args.public_url,
        faults: args.faults,
        webhook_secret: args.webhook_secret,
        ..Default::default()
    }
    .with_speed(args.speed);
    let sim = provider_sim::spawn(listener, config)?;
    println!("provider-sim listening on {}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
