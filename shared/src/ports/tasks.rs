//! Task records (moved only through the state machine), the index of unfinished tasks, and
//! callback deduplication.

use std::future::Future;

use super::StoreError;
use crate::domain::state::{TaskEvent, TaskPatch};
use crate::domain::task::Task;

#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub task: Task,
    /// Whether the status moved (as opposed to a duplicate or stale event).
    pub moved: bool,
}

/// One callback's identity for deduplication: our task (so a callback URL for one task can
/// never claim another's), the provider's job and the status.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookClaim {
    pub provider: String,
    pub task_id: crate::domain::task::TaskId,
    pub reference: crate::domain::generation::ProviderRef,
    pub status: &'static str,
}

impl WebhookClaim {
    /// The item key. The provider's reference comes from a callback body, so it enters the key
    /// as a hash: the key stays short whatever the body says (DynamoDB refuses keys over 2 KB).
    pub fn key(&self) -> String {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(self.reference.as_str().as_bytes()));
        format!(
            "WEBHOOK#{}#{}#{}#{}",
            self.provider,
            self.task_id,
            &digest[..32],
            self.status
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// Task records, moved only through the state machine.
pub trait Tasks: Send + Sync {
    fn get_task(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<Option<Task>, StoreError>> + Send;

    /// Apply an event through the state machine with a conditional write. Reaching a terminal
    /// state frees the account's slot in the same transaction; FAILED also refunds the cost.
    fn apply(
        &self,
        task_id: &str,
        event: TaskEvent,
        patch: TaskPatch,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// The user's tasks, newest first.
    fn list_tasks(
        &self,
        user_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<TaskPage, StoreError>> + Send;

    /// Claim the right to submit a waiting task to `provider` on `account` (see
    /// `state::claim_submit`): the claimed task, as stored, for exactly one caller.
    fn claim_submit(
        &self,
        task_id: &str,
        provider: &str,
        account: &str,
        seen_attempt: Option<crate::domain::timestamp::Timestamp>,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<Option<Task>, StoreError>> + Send;

    /// Hand a waiting task to another provider (see `state::reassign`): true when done.
    fn reassign(
        &self,
        task_id: &str,
        seen_attempt: Option<crate::domain::timestamp::Timestamp>,
        to: &str,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Put a waiting task back in line until `retry_at` (see `state::defer`).
    fn defer(
        &self,
        task_id: &str,
        retry_at: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record that the app deleted the stored video (idempotent); the task as it is now.
    fn mark_deleted(
        &self,
        task_id: &str,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<Option<Task>, StoreError>> + Send;
}

/// The sparse index of unfinished tasks, for polling and reconcile.
pub trait ReconcileIndex: Send + Sync {
    /// Unfinished tasks not seen (changed or checked) since `cutoff`, stalest first.
    fn stale_tasks(
        &self,
        cutoff: crate::domain::timestamp::Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Task>, StoreError>> + Send;

    /// Claim the right to ask the provider about a task: true for exactly one caller per
    /// `cutoff` window (the task was neither changed nor checked since `cutoff`).
    fn claim_check(
        &self,
        task_id: &str,
        cutoff: crate::domain::timestamp::Timestamp,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The tasks each provider account took, by UTC day: our side of the provider's bill.
pub trait BillIndex: Send + Sync {
    /// Every task `slot_key` (`domain::pool::slot_key`) took on `day`, with its provider job id.
    fn billed_tasks(
        &self,
        slot_key: &str,
        day: crate::domain::bill::Day,
    ) -> impl Future<Output = Result<Vec<crate::domain::bill::BilledTask>, StoreError>> + Send;
}

/// Callback deduplication.
pub trait WebhookDedup: Send + Sync {
    /// True the first time this (provider, provider's job, status) callback is seen.
    fn claim_webhook(
        &self,
        claim: &WebhookClaim,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Forget a claim whose follow-up work failed, so a redelivery can do it.
    fn release_webhook(
        &self,
        claim: &WebhookClaim,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::generation::ProviderRef;

    #[test]
    fn a_claim_is_scoped_to_its_task_and_short_whatever_the_body_says() {
        let claim = |task: &str, reference: &str| WebhookClaim {
            provider: "kling".into(),
            task_id: task.into(),
            reference: ProviderRef(reference.into()),
            status: "succeed",
        };
        let cases = [
            (claim("t-1", "job-1"), claim("t-2", "job-1"), false),
            (claim("t-1", "job-1"), claim("t-1", "job-2"), false),
            (claim("t-1", "job-1"), claim("t-1", "job-1"), true),
        ];
        for (a, b, same) in cases {
            assert_eq!(a.key() == b.key(), same, "{a:?} {b:?}");
        }
        let huge = claim("01a241e5-d12c-76e0-8fee-7beb107d72c1", &"x".repeat(100_000));
        assert!(huge.key().len() < 200, "{}", huge.key().len());
        assert!(huge.key().starts_with("WEBHOOK#kling#01a241e5-"));
    }
}
