//! provider-sim: emulators of the video providers, for local development and tests. Kling's API
//! (this module's routes): the legacy `/v1/` surface and the 2026 standard one
//! (`POST /{product}/{model}`, `/tasks`), with the same tasks, faults and videos behind both.
//! fal.ai's queue: [`fal`].
//!
//! It is written against the published contract only and shares no types with the backend's
//! Kling client, so each side checks the other.

pub mod apns;
pub mod auth;
pub mod avatar;
pub mod billing;
pub mod bodies;
pub mod capability;
pub mod effects;
pub mod fal;
pub mod faults;
pub mod lip_sync;
pub mod motion;
pub mod omni;
pub mod routes;
pub mod signing;
pub mod sound;
pub mod standard;
pub mod tasks;
pub mod video;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use faults::{CallKind, Faults, NextError};
pub use tasks::{MAIN_ACCOUNT, SimState, Surface};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub access_key: String,
    pub secret_key: String,
    /// A static key accepted as `Bearer <key>` (a Kling-compatible gateway).
    pub api_key: Option<String>,
    /// Base URL put into result video URLs; defaults to the bound address.
    pub public_base_url: Option<String>,
    /// Time a task spends `submitted`.
    pub queue_time: Duration,
    /// Time a task spends `processing`.
    pub run_time: Duration,
    pub faults: Faults,
    /// `whsec_...`: sign callbacks with Standard Webhooks headers.
    pub webhook_secret: Option<String>,
    /// Accounts besides the one above (`main`): each its own keys, tasks and concurrency.
    pub accounts: Vec<SimAccount>,
}

/// Another Kling account on the same API: its tasks are its own (another account's are not
/// found), its concurrency counted apart.
#[derive(Debug, Clone)]
pub struct SimAccount {
    pub name: String,
    pub access_key: String,
    pub secret_key: String,
    pub api_key: Option<String>,
    pub concurrency_limit: Option<usize>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            access_key: "local-access-key".into(),
            secret_key: "local-secret-key".into(),
            api_key: None,
            public_base_url: None,
            queue_time: Duration::from_millis(200),
            run_time: Duration::from_millis(300),
            faults: Faults::default(),
            webhook_secret: None,
            accounts: Vec::new(),
        }
    }
}

impl SimConfig {
    /// Timings of a real task (about 10 s queued, 60 s generating) divided by `speed`.
    pub fn with_speed(mut self, speed: f64) -> Self {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        self.queue_time = Duration::from_secs_f64(10.0 / speed);
        self.run_time = Duration::from_secs_f64(60.0 / speed);
        self
    }
}

/// A running simulator.
pub struct RunningSim {
    pub addr: SocketAddr,
    pub state: Arc<SimState>,
    pub handle: tokio::task::JoinHandle<()>,
}

impl RunningSim {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Serve on an already bound listener (port 0 gives an ephemeral port).
pub fn spawn(listener: tokio::net::TcpListener, config: SimConfig) -> std::io::Result<RunningSim> {
    let addr = listener.local_addr()?;
    let base = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let state = Arc::new(SimState::new(config, base));
    let app = routes::router(state.clone());
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "provider-sim stopped");
        }
    });
    Ok(RunningSim {
        addr,
        state,
        handle,
    })
}

/// The simulators' client for callbacks: the workspace builds reqwest without a default
/// crypto provider (the functions choose ring), so the simulators install ring too.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}
