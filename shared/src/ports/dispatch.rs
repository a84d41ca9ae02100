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

/// What one dispatch run reads before serving a provider's line.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LineState {
    /// The breakers asked for, by key (closed when never written).
    pub breakers: std::collections::HashMap<String, crate::domain::breaker::BreakerState>,
    /// The holders of each capacity item asked for, by slot key.
    pub holders: std::collections::HashMap<String, Vec<crate::domain::task::TaskId>>,
    /// When the pending wake-up is due (`WakeClaims`), if one was ever claimed.
    pub wake_at: Option<crate::domain::timestamp::Timestamp>,
}

impl LineState {
    pub fn breaker(&self, key: &str) -> crate::domain::breaker::BreakerState {
        self.breakers.get(key).copied().unwrap_or_default()
    }

    pub fn holders(&self, slot_key: &str) -> &[crate::domain::task::TaskId] {
        self.holders.get(slot_key).map_or(&[], Vec::as_slice)
    }
}

/// A run's reads in as few round trips as the table allows: the breakers, capacity items and
/// the pending wake-up together, then the slot holders' tasks together (strongly consistent,
/// as the single reads).
pub trait LineStates: Send + Sync {
    fn line_state(
        &self,
        breakers: &[String],
        slots: &[String],
    ) -> impl Future<Output = Result<LineState, StoreError>> + Send;

    /// The tasks named that exist.
    fn tasks_named(
        &self,
        ids: &[crate::domain::task::TaskId],
    ) -> impl Future<Output = Result<Vec<Task>, StoreError>> + Send;
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

/// How long each model has taken lately (submit to the provider's success, as its callbacks
/// tell it), for when to look a slot holder up (`domain::pace`).
pub trait GenerationTimes: Send + Sync {
    /// Count one generation of `model` on `provider` that took `took`, finishing `at`.
    fn record_generation(
        &self,
        provider: &str,
        model: &str,
        took: Duration,
        at: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The generations counted in the last hour or two before `now`.
    fn recent_generations(
        &self,
        provider: &str,
        model: &str,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<crate::domain::pace::Histogram, StoreError>> + Send;
}

/// The dispatcher's next wake-up, claimed once: each run that wants to run again schedules a
/// wake-up only when none is pending, so runs started by creates, callbacks and the schedule
/// never multiply into parallel chains.
pub trait WakeClaims: Send + Sync {
    /// True when no wake-up is pending at `now` (none, or its time has come): `at` is now ours.
    fn claim_wake(
        &self,
        at: crate::domain::timestamp::Timestamp,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Wakes the dispatcher (an SQS message), now or after a delay.
pub trait DispatchNudge: Send + Sync {
    fn nudge(&self, delay: Duration) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Where a waiting task sorts: priority lane, then creation time, then id.
pub fn waiting_key(task: &Task) -> String {
    format!("{}#{}#{}", task.priority, task.created_at, task.id)
}
