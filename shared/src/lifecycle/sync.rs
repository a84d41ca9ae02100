//! Polling makes lost callbacks harmless: bring our view of a task up to date from the provider.
//! Used by status-query (when an app looks at a stale task) and by reconcile (on a schedule),
//! at most once per staleness window per task.

use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::state::{TaskPatch, event_for};
use crate::domain::task::{Task, TaskStatus};
use crate::domain::timestamp::Timestamp;
use crate::lifecycle::fail::{Failure, fail_and_refund};
use crate::ports::{FinalizeMessage, FinalizeQueue, ReconcileIndex, StoreError, Tasks};
use crate::provider::{Deadline, JobLookup, JobStatus, ProviderError, ProviderJob, VideoProvider};

#[derive(Debug, Clone, Copy)]
pub struct SyncPolicy {
    /// A task not seen for this long is asked about.
    pub stale_after: Duration,
    /// A task unfinished this long after creation fails (and is refunded).
    pub hard_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SyncOutcome {
    /// Fresh, finished, or someone else is checking it.
    Skipped,
    Unchanged,
    Moved(TaskStatus),
    FinalizeQueued,
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("provider lookup failed: {0}")]
    Provider(#[source] ProviderError),
    #[error("could not queue finalize: {0}")]
    Queue(#[source] crate::ports::QueueError),
}

/// Bring one task up to date with its provider, at most once per staleness window, whoever
/// asks: fail it past the hard timeout; otherwise apply what the provider reports. A task
/// waiting in line belongs to the dispatcher (which also resubmits one the provider never got).
pub async fn sync_task<S: Tasks + ReconcileIndex, P: VideoProvider, Q: FinalizeQueue>(
    store: &S,
    provider: &P,
    queue: &Q,
    task: &Task,
    policy: SyncPolicy,
    now: OffsetDateTime,
    deadline: Deadline,
) -> Result<SyncOutcome, SyncError> {
    let tasks = std::slice::from_ref(task);
    let mut outcomes = sync_tasks(store, provider, queue, tasks, policy, now, deadline).await;
    outcomes.pop().unwrap_or(Ok(SyncOutcome::Skipped))
}

/// `sync_task` for many tasks, with one `lookup_many` for the ones claimed (a provider that
/// queries in batches asks once per batch). Outcomes are in the tasks' order.
pub async fn sync_tasks<S: Tasks + ReconcileIndex, P: VideoProvider, Q: FinalizeQueue>(
    store: &S,
    provider: &P,
    queue: &Q,
    tasks: &[Task],
    policy: SyncPolicy,
    now: OffsetDateTime,
    deadline: Deadline,
) -> Vec<Result<SyncOutcome, SyncError>> {
    let mut outcomes: Vec<Result<SyncOutcome, SyncError>> = Vec::with_capacity(tasks.len());
    let mut claimed = Vec::new();
    for (i, task) in tasks.iter().enumerate() {
        match task.waiting() {
            true => outcomes.push(Ok(SyncOutcome::Skipped)),
            false => match claim(store, task, policy, now).await {
                Ok(true) => {
                    outcomes.push(Ok(SyncOutcome::Unchanged));
                    claimed.push(i);
                }
                Ok(false) => outcomes.push(Ok(SyncOutcome::Skipped)),
                Err(e) => outcomes.push(Err(e)),
            },
        }
    }
    let lookups: Vec<JobLookup<'_>> = claimed.iter().map(|i| lookup_of(&tasks[*i])).collect();
    let remotes = provider.lookup_many(&lookups, deadline).await;
    for (i, remote) in claimed.into_iter().zip(remotes) {
        let task = &tasks[i];
        let expected = task
            .request
            .as_ref()
            .and_then(|r| provider.expected_units(r));
        outcomes[i] = settle(store, queue, task, remote, policy, now, expected).await;
    }
    outcomes
}

/// What one claimed task becomes given the provider's answer: failed past the hard timeout,
/// otherwise what the provider reports.
async fn settle<S: Tasks, Q: FinalizeQueue>(
    store: &S,
    queue: &Q,
    task: &Task,
    remote: Result<ProviderJob, ProviderError>,
    policy: SyncPolicy,
    now: OffsetDateTime,
    expected: Option<f64>,
) -> Result<SyncOutcome, SyncError> {
    let age = (Timestamp::from(now) - task.created_at).unsigned_abs();
    if age > policy.hard_timeout {
        let said = remote.as_ref().ok().map(|r| r.status);
        if overdue(task.status, said) == Overdue::Fail {
            let minutes = policy.hard_timeout.as_secs() / 60;
            let msg = format!("the video was not ready within {minutes} minutes");
            let failure = Failure {
                code: "timeout",
                message: msg.clone(),
                retryable: true,
            };
            fail_and_refund(store, "sync", task, failure, TaskPatch::default()).await?;
            return Ok(SyncOutcome::Failed(msg));
        }
    }
    match remote {
        Ok(remote) => apply_job(store, queue, task, remote, expected).await,
        Err(ProviderError::NotFound) if task.status == TaskStatus::Created => {
            Ok(SyncOutcome::Unchanged)
        }
        Err(e) => Err(SyncError::Provider(e)),
    }
}

/// What the hard timeout does to an overdue task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdue {
    /// Fail and refund it.
    Fail,
    /// The provider delivered it: store it (finalize), never refund a delivered video.
    Store,
    /// Finalize owns it: it stores the video, or fails the task when the URL is truly gone.
    LeaveToFinalize,
}

/// The hard timeout's rule, given the task's state and what the provider said about it
/// (`None`: no answer).
pub fn overdue(status: TaskStatus, provider_says: Option<JobStatus>) -> Overdue {
    match (status, provider_says) {
        (TaskStatus::Finalizing, _) => Overdue::LeaveToFinalize,
        (_, Some(JobStatus::Succeeded)) => Overdue::Store,
        _ => Overdue::Fail,
    }
}

/// Whether this caller may ask about the task now: unfinished, unseen since the window
/// started, and nobody else claimed it first.
async fn claim<S: ReconcileIndex>(
    store: &S,
    task: &Task,
    policy: SyncPolicy,
    now: OffsetDateTime,
) -> Result<bool, SyncError> {
    if task.status.is_terminal() {
        return Ok(false);
    }
    let now = Timestamp::from(now);
    let cutoff = now - policy.stale_after;
    if task.last_seen() >= cutoff {
        return Ok(false);
    }
    Ok(store.claim_check(&task.id, cutoff, now).await?)
}

/// What the provider reports, applied; a finished job with nothing stored yet (a lost
/// callback or a lost message) queues finalize, which is idempotent.
async fn apply_job<S: Tasks, Q: FinalizeQueue>(
    store: &S,
    queue: &Q,
    task: &Task,
    remote: ProviderJob,
    expected_units: Option<f64>,
) -> Result<SyncOutcome, SyncError> {
    let patch = TaskPatch {
        provider_ref: Some(remote.reference.clone()),
        provider_handle: remote.handle.clone(),
        facts: crate::domain::task::ProviderFacts::from_lookup(&remote),
        ..Default::default()
    };
    if remote.status == JobStatus::Failed {
        let msg = remote
            .failure
            .unwrap_or_else(|| "the video provider could not generate this video".into());
        let failure = Failure {
            code: "provider_failed",
            message: msg.clone(),
            retryable: false,
        };
        let applied = fail_and_refund(store, "sync", task, failure, patch).await?;
        crate::lifecycle::billing::observe(task, &applied.task, expected_units);
        return Ok(SyncOutcome::Failed(msg));
    }
    let Some(event) = event_for(remote.status) else {
        return Ok(SyncOutcome::Unchanged);
    };
    let applied = store.apply(&task.id, event, patch).await?;
    crate::lifecycle::billing::observe(task, &applied.task, expected_units);
    if applied.task.status == TaskStatus::Finalizing {
        let message = FinalizeMessage::done(&task.id);
        queue.enqueue(&message).await.map_err(SyncError::Queue)?;
        return Ok(SyncOutcome::FinalizeQueued);
    }
    Ok(if applied.moved {
        SyncOutcome::Moved(applied.task.status)
    } else {
        SyncOutcome::Unchanged
    })
}

/// How to find a task's job: by the provider's reference once we have it, else by our id.
pub fn lookup_of(task: &Task) -> JobLookup<'_> {
    JobLookup {
        provider: &task.provider,
        kind: task.video_type,
        reference: task.provider_ref.as_ref(),
        handle: task.provider_handle.as_deref(),
        task_id: &task.id,
        request: task.request.as_ref(),
        submitted_at: task.submit_attempted_at,
    }
}

impl SyncPolicy {
    /// `stale_var` names the staleness setting (seconds) of the caller; the timeouts are shared.
    pub fn from_source(
        src: &impl crate::runtime::config::Source,
        stale_var: &'static str,
        default_stale_secs: u64,
    ) -> Result<Self, crate::runtime::config::ConfigError> {
        Ok(Self {
            stale_after: Duration::from_secs(src.parsed(stale_var, default_stale_secs)?),
            hard_timeout: Self::hard_timeout_from_source(src)?,
        })
    }

    /// `TASK_HARD_TIMEOUT_SECONDS` (3 h), shared by every caller.
    pub fn hard_timeout_from_source(
        src: &impl crate::runtime::config::Source,
    ) -> Result<Duration, crate::runtime::config::ConfigError> {
        Ok(Duration::from_secs(
            src.parsed("TASK_HARD_TIMEOUT_SECONDS", 3 * 3600)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hard_timeout_never_refunds_a_delivered_video() {
        use JobStatus as J;
        use Overdue::*;
        use TaskStatus as T;
        let cases = [
            (T::Created, None, Fail),
            (T::Queued, Some(J::Queued), Fail),
            (T::Running, Some(J::Running), Fail),
            (T::Running, Some(J::Failed), Fail),
            (T::Running, Some(J::Unknown), Fail),
            (T::Running, None, Fail),
            (T::Queued, Some(J::Succeeded), Store),
            (T::Running, Some(J::Succeeded), Store),
            (T::Finalizing, None, LeaveToFinalize),
            (T::Finalizing, Some(J::Succeeded), LeaveToFinalize),
            (T::Finalizing, Some(J::Failed), LeaveToFinalize),
        ];
        for (status, said, want) in cases {
            assert_eq!(overdue(status, said), want, "{status:?} {said:?}");
        }
    }
}
