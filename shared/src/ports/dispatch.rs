//! What dispatch needs: each provider's capacity, the waiting line, circuit breakers and the
//! nudge that wakes it.

use std::future::Future;
use std::time::Duration;

use super::QueueError;
use super::StoreError;
use crate::domain::task::Task;

/// The provider account's capacity: at most `cap` tasks hold a slot at once. A slot is taken
/// before submitting and freed by the task's terminal write (or a submit that made nothing).
pub trait Capacity: Send + Sync {
    /// True when `task_id` holds a slot now (already held counts).
    fn take_slot(
        &self,
        provider: &str,
        task_id: &str,
        cap: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release_slot(
        &self,
        provider: &str,
        task_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn slot_holders(
        &self,
        provider: &str,
    ) -> impl Future<Output = Result<Vec<crate::domain::task::TaskId>, StoreError>> + Send;
}

/// Tasks waiting for a provider's capacity, in submission order: priority lane, then age.
pub trait WaitingLine: Send + Sync {
    fn waiting(
        &self,
        provider: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Task>, StoreError>> + Send;

    /// How many waiting tasks of the same provider are ahead of this one.
    fn waiting_ahead(&self, task: &Task) -> impl Future<Output = Result<u32, StoreError>> + Send;
}

/// Each provider's circuit breaker (see `breaker`).
pub trait Breakers: Send + Sync {
    fn breaker(
        &self,
        provider: &str,
    ) -> impl Future<Output = Result<crate::domain::breaker::BreakerState, StoreError>> + Send;

    /// Record a submit's outcome; the state after it.
    fn record_submit(
        &self,
        provider: &str,
        ok: bool,
        policy: crate::domain::breaker::BreakerPolicy,
        now: i64,
    ) -> impl Future<Output = Result<crate::domain::breaker::BreakerState, StoreError>> + Send;
}

/// Wakes the dispatcher (an SQS message), now or after a delay.
pub trait DispatchNudge: Send + Sync {
    fn nudge(&self, delay: Duration) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Where a waiting task sorts: priority lane, then creation time, then id.
pub fn waiting_key(task: &Task) -> String {
    format!("{}#{}#{}", task.priority, task.created_at, task.id)
}
