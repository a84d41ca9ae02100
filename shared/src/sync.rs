//! Polling makes lost callbacks harmless: bring our view of a task up to date from the provider.
//! Used by status-query (when an app looks at a stale task) and by reconcile (on a schedule),
//! at most once per staleness window per task.

use std::time::Duration;

use time::OffsetDateTime;

use crate::ports::{FinalizeMessage, FinalizeQueue, ReconcileIndex, StoreError, Tasks};
use crate::provider::{Deadline, JobLookup, JobStatus, ProviderError, VideoProvider};
use crate::state::{TaskEvent, TaskPatch, event_for};
use crate::task::{Task, TaskError, TaskStatus};
use crate::time_util;

#[derive(Debug, Clone, Copy)]
pub struct SyncPolicy {
    /// A task not seen for this long is asked about.
    pub stale_after: Duration,
    /// A task unfinished this long after creation fails (and is refunded).
    pub hard_timeout: Duration,
    /// A task Kling does not know this long after creation was never submitted.
    pub submit_grace: Duration,
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
    Queue(String),
}

fn failed(code: &str, message: String, retryable: bool) -> TaskPatch {
    TaskPatch {
        error: Some(TaskError {
            code: code.to_string(),
            message,
            retryable,
        }),
        ..Default::default()
    }
}

pub async fn sync_task<S: Tasks + ReconcileIndex, P: VideoProvider, Q: FinalizeQueue>(
    store: &S,
    provider: &P,
    queue: &Q,
    task: &Task,
    policy: SyncPolicy,
    now: OffsetDateTime,
    deadline: Deadline,
) -> Result<SyncOutcome, SyncError> {
    if task.status.is_terminal() {
        return Ok(SyncOutcome::Skipped);
    }
    let cutoff = time_util::rfc3339(now - policy.stale_after);
    if task.last_seen() >= cutoff.as_str() {
        return Ok(SyncOutcome::Skipped);
    }
    if !store
        .claim_check(&task.id, &cutoff, &time_util::rfc3339(now))
        .await?
    {
        return Ok(SyncOutcome::Skipped);
    }
    let age = time_util::parse_rfc3339(&task.created_at)
        .map_or(Duration::ZERO, |c| (now - c).unsigned_abs());
    if age > policy.hard_timeout {
        let msg = format!(
            "the video was not ready within {} minutes",
            policy.hard_timeout.as_secs() / 60
        );
        store
            .apply(
                &task.id,
                TaskEvent::Failed,
                failed("timeout", msg.clone(), true),
            )
            .await?;
        return Ok(SyncOutcome::Failed(msg));
    }
    let remote = match provider.lookup(lookup_of(task), deadline).await {
        Ok(remote) => remote,
        Err(ProviderError::NotFound) if task.status == TaskStatus::Created => {
            if age < policy.submit_grace {
                return Ok(SyncOutcome::Unchanged);
            }
            let msg = "the video request never reached the provider".to_string();
            store
                .apply(
                    &task.id,
                    TaskEvent::Failed,
                    failed("submission_lost", msg.clone(), true),
                )
                .await?;
            return Ok(SyncOutcome::Failed(msg));
        }
        Err(e) => return Err(SyncError::Provider(e)),
    };
    let mut patch = TaskPatch {
        provider_ref: Some(remote.reference.clone()),
        ..Default::default()
    };
    if remote.status == JobStatus::Failed {
        let msg = remote
            .failure
            .clone()
            .unwrap_or_else(|| "the video provider could not generate this video".into());
        patch.error = failed("provider_failed", msg.clone(), false).error;
        store.apply(&task.id, TaskEvent::Failed, patch).await?;
        crate::metrics::emit(
            &[("Reason", "provider_failed")],
            &[("TasksFailed", 1.0, crate::metrics::Unit::Count)],
        );
        return Ok(SyncOutcome::Failed(msg));
    }
    let Some(event) = event_for(remote.status) else {
        return Ok(SyncOutcome::Unchanged);
    };
    let applied = store.apply(&task.id, event, patch).await?;
    if applied.task.status == TaskStatus::Finalizing {
        // Provider done, nothing stored yet (a lost callback or a lost message): finalize is
        // idempotent, so asking again is safe.
        queue
            .enqueue(&FinalizeMessage {
                task_id: task.id.clone(),
            })
            .await
            .map_err(|e| SyncError::Queue(e.to_string()))?;
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
        kind: task.video_type,
        reference: task.provider_ref.as_ref(),
        task_id: &task.id,
    }
}

impl SyncPolicy {
    /// `stale_var` names the staleness setting (seconds) of the caller; the timeouts are shared.
    pub fn from_source(
        src: &impl crate::config::Source,
        stale_var: &'static str,
        default_stale_secs: u64,
    ) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            stale_after: Duration::from_secs(src.parsed(stale_var, default_stale_secs)?),
            hard_timeout: Duration::from_secs(src.parsed("TASK_HARD_TIMEOUT_SECONDS", 3 * 3600)?),
            submit_grace: Duration::from_secs(src.parsed("SUBMIT_GRACE_SECONDS", 120)?),
        })
    }
}
