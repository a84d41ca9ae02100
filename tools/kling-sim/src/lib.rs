//! kling-sim: an emulator of Kling's legacy `/v1/` video API for local development and tests.
//!
//! It is written against the published contract only and shares no types with the backend's
//! Kling client, so each side checks the other.

pub mod auth;
pub mod callbacks;
pub mod routes;
pub mod tasks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use tasks::SimState;

/// The sample video served for every finished task.
pub static SAMPLE_MP4: &[u8] = include_bytes!("../assets/sample-720p-16x9-5s.mp4");

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub access_key: String,
    pub secret_key: String,
    /// Base URL put into result video URLs; defaults to the bound address.
    pub public_base_url: Option<String>,
    /// Time a task spends in each of `submitted` and `processing`.
    pub step: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            access_key: "local-access-key".into(),
            secret_key: "local-secret-key".into(),
            public_base_url: None,
            step: Duration::from_millis(500),
        }
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
            tracing::error!(error = %e, "kling-sim stopped");
        }
    });
    Ok(RunningSim {
        addr,
        state,
        handle,
    })
}
