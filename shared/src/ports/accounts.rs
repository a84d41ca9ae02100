//! Accounts and their money (the charge that records a task, usage, violations, the ledger)
//! and the record that makes a create idempotent.

use std::future::Future;

use super::StoreError;
pub use crate::domain::plans::{ChargeRefusal, ViolationPolicy};
use crate::domain::task::Task;

/// The record that makes a create idempotent per user and `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyRecord {
    pub user_id: crate::domain::task::UserId,
    pub key: String,
    pub request_hash: String,
    pub task_id: crate::domain::task::TaskId,
    pub created_at: String,
}

/// What creating a task charges, and the plan limits the charge must respect.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub max_concurrent: u32,
    pub daily_budget: crate::domain::task::CostUnits,
    /// The UTC day the cost counts against.
    pub day: String,
    pub now_secs: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created,
    /// The key was used before; here is what it recorded.
    KeyExists(IdempotencyRecord),
    /// The plan's limits refused the debit; nothing was written.
    Refused(ChargeRefusal),
}

/// The account as stored: plan, slots in use, today's spend, moderation state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountView {
    pub plan: Option<String>,
    pub in_flight: u32,
    pub used_today: crate::domain::task::CostUnits,
    pub suspended_until: Option<i64>,
    pub violations: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Debit,
    Refund,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LedgerEntry {
    pub task_id: crate::domain::task::TaskId,
    pub kind: LedgerKind,
    pub units: crate::domain::task::CostUnits,
    /// The UTC day the entry counts against.
    pub day: String,
    pub at: String,
}

impl LedgerEntry {
    /// The charge for a task, against the day it was created on.
    pub fn debit(task: &Task, day: &str) -> Self {
        Self {
            task_id: task.id.clone(),
            kind: LedgerKind::Debit,
            units: task.cost_units,
            day: day.to_string(),
            at: task.created_at.to_string(),
        }
    }

    /// A failed task's refund, against the day that paid.
    pub fn refund(before: &Task, after: &Task) -> Self {
        Self {
            task_id: before.id.clone(),
            kind: LedgerKind::Refund,
            units: before.cost_units,
            day: crate::domain::plans::refund_day(before.created_at),
            at: after.updated_at.to_string(),
        }
    }
}

/// Accounts and their money: the charge that records a task, usage, violations and the ledger.
pub trait Accounts: Send + Sync {
    /// Record a new task, its idempotency record, the account's debit and in-flight slot and a
    /// ledger entry in one transaction, or nothing when the plan's limits refuse it.
    fn create_task(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
        charge: &Charge,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;

    fn account(
        &self,
        user_id: &str,
        day: &str,
    ) -> impl Future<Output = Result<AccountView, StoreError>> + Send;

    /// Count a moderation violation once per `request` (the same request retried, or resent
    /// after a lost reply, counts once); returns when the account is now suspended until.
    fn record_violation(
        &self,
        user_id: &str,
        request: &str,
        now_secs: i64,
        policy: ViolationPolicy,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    fn ledger(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;
}

/// What an `Idempotency-Key` recorded.
pub trait Idempotency: Send + Sync {
    fn idempotency(
        &self,
        user_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;
}

/// What a create reads before deciding: the account, today's usage and the caller's record of
/// its idempotency key. Stores that can read them in one round trip do (DynamoDB:
/// `BatchGetItem`); the default reads them in turn.
pub trait Admission: Accounts + Idempotency {
    fn admission(
        &self,
        user_id: &str,
        day: &str,
        key: &str,
    ) -> impl Future<Output = Result<(AccountView, Option<IdempotencyRecord>), StoreError>> + Send
    {
        async move {
            let record = self.idempotency(user_id, key).await?;
            Ok((self.account(user_id, day).await?, record))
        }
    }
}
