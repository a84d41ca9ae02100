//! fal-sim: an emulator of fal.ai's queue for its Kling models (`docs/providers.md` §fal), a
//! second tool in this crate. Submit to `POST /{model id}?fal_webhook=...` with `Key <key>`;
//! status (202 with a `queue_position` that moves while queued, 200 when completed), result,
//! cancel while queued; inputs checked per model id (422 `detail`); webhooks signed with
//! Ed25519 keys whose JWKS it serves (`/.well-known/jwks.json`); faults (5xx on submit,
//! ERROR results, dropped, delayed and repeated webhooks); real MP4s.

pub mod models;
mod routes;
mod signing;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use signing::{jwks, sign};
pub use state::{FalCounters, FalFaults, FalRequest, FalState, Status};

#[derive(Debug, Clone)]
pub struct FalConfig {
    /// Accepted as `Authorization: Key <key>`.
    pub key: String,
    /// The user id put in webhook signatures.
    pub user_id: String,
    /// Ed25519 signing keys (seeds); the JWKS serves them all, webhooks are signed with the
    /// active one (`FalFaults::active_key`).
    pub signing_seeds: Vec<[u8; 32]>,
    pub queue_time: Duration,
    pub run_time: Duration,
    pub public_base_url: Option<String>,
    pub faults: FalFaults,
    /// Requests the main account runs at once (its workers); `None`: no limit, each request
    /// starts after `queue_time` per request queued before it.
    pub workers: Option<usize>,
    /// Accounts besides the main one: each its own key, requests and workers.
    pub accounts: Vec<FalAccount>,
}

/// Another fal account: its requests are its own (another key gets 404 for them, its
/// listing shows only them), its concurrency counted apart.
#[derive(Debug, Clone)]
pub struct FalAccount {
    pub name: String,
    pub key: String,
    pub workers: Option<usize>,
}

/// The account the `key` above belongs to.
pub const MAIN_ACCOUNT: &str = "main";

impl Default for FalConfig {
    fn default() -> Self {
        Self {
            key: "local-fal-key".into(),
            user_id: "local-fal-user".into(),
            signing_seeds: vec![[7; 32], [9; 32]],
            queue_time: Duration::from_millis(200),
            run_time: Duration::from_millis(300),
            public_base_url: None,
            faults: FalFaults::default(),
            workers: None,
            accounts: Vec::new(),
        }
    }
}

pub struct RunningFal {
    pub addr: SocketAddr,
    pub state: Arc<FalState>,
    pub handle: tokio::task::JoinHandle<()>,
}

impl RunningFal {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningFal {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

pub fn spawn(listener: tokio::net::TcpListener, config: FalConfig) -> std::io::Result<RunningFal> {
    let addr = listener.local_addr()?;
    let base = config
        .public_base_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let state = Arc::new(FalState::new(config, base));
    let app = routes::router(state.clone());
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "fal-sim stopped");
        }
    });
    Ok(RunningFal {
        addr,
        state,
        handle,
    })
}
