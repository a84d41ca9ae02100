//! An account's erasure (`DELETE /v1/me`): its record, and the store's part of the work. The
//! job that does it runs in steps that may repeat (a crash, a redelivery), so every step here is
//! idempotent.

use std::future::Future;
use std::time::Duration;

use crate::domain::timestamp::Timestamp;
use crate::ports::{QueueError, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErasureStatus {
    /// Asked for; the job is at work (or waits for the user's running videos to finish).
    Erasing,
    Erased,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Erasure {
    pub status: ErasureStatus,
    pub requested_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// The ledger's rows are kept for the accounts under this id, which nothing links to the
    /// user once the erasure is done.
    pub ledger_id: String,
}

pub trait Erasures: Send + Sync {
    /// Records `erasure` unless one is recorded already; the one that stands.
    fn begin_erasure(
        &self,
        user_id: &str,
        erasure: &Erasure,
    ) -> impl Future<Output = Result<Erasure, StoreError>> + Send;

    fn erasure(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Option<Erasure>, StoreError>> + Send;

    fn finish_erasure(
        &self,
        user_id: &str,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every item of a task (its record and what hangs off it) deleted.
    fn erase_task(&self, task_id: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Everything held under the user deleted but the erasure record: account, usage,
    /// idempotency records, devices (and the device ownership it holds), groups, cached
    /// results. Ledger rows move to `ledger_id`, without the user.
    fn erase_account(
        &self,
        user_id: &str,
        ledger_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Where an erasure job is (re)started.
pub trait ErasureQueue: Send + Sync {
    fn enqueue_erasure(
        &self,
        user_id: &str,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// The erasure job's message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErasureMessage {
    pub user_id: String,
}
