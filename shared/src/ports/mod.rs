//! Ports: what the handlers need from the outside world. The AWS adapters are in `aws`; the
//! provider port is in `provider`, with one adapter per provider surface.

mod accounts;
mod dispatch;
mod erasure;
mod live;
mod notify;
mod posters;
mod storage;
mod tasks;
mod templates;

pub use accounts::*;
pub use dispatch::*;
pub use erasure::*;
pub use live::*;
pub use notify::*;
pub use posters::*;
pub use storage::*;
pub use tasks::*;
pub use templates::*;

/// The underlying failure an adapter reports, kept as the error's source.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend error: {0}")]
    Backend(#[source] Cause),
    #[error(transparent)]
    InvalidTransition(#[from] crate::domain::state::InvalidTransition),
    #[error("task {0} does not exist")]
    NoSuchTask(String),
    #[error("task {0} kept changing under concurrent writers")]
    Contention(String),
    #[error("stored record is not readable: {0}")]
    Corrupt(String),
    #[error("the pagination cursor is not valid")]
    InvalidCursor,
}

/// Everything the DynamoDB table provides, for wiring and tests that use it all.
pub trait TaskStore: Tasks + Accounts + Idempotency + ReconcileIndex + WebhookDedup {}

impl<T: Tasks + Accounts + Idempotency + ReconcileIndex + WebhookDedup> TaskStore for T {}
