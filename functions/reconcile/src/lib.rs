//! reconcile: the scheduled sweep that drives stuck tasks to a terminal state.
//!
//! It reads unfinished tasks not seen for a while through a sparse index (never a table scan),
//! asks Kling about each, applies what it learns, queues finalize where Kling succeeded but
//! nothing is stored, and fails (and refunds) tasks past the hard timeout. Once a day it also
//! reads each provider account's bill against our tasks (`bills`).

pub mod bills;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;
use tracing::Instrument;

use shared::domain::timestamp;
use shared::lifecycle::sync::{SyncOutcome, SyncPolicy, sync_tasks};
use shared::ports::{FinalizeQueue, ReconcileIndex, Tasks};
use shared::provider::{Deadline, VideoProvider};

/// What reconcile needs of the table: task records and the index of unfinished ones.
pub trait Store: Tasks + ReconcileIndex {}
impl<T: Tasks + ReconcileIndex> Store for T {}

/// Tasks looked at per run; the next run takes the rest.
pub const BATCH: u32 = 100;

/// Everything reconcile reads from its environment at cold start.
pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub providers: shared::provider::composite::ProviderSettings,
    pub queue: shared::runtime::config::QueueConfig,
    pub policy: SyncPolicy,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            providers: shared::provider::composite::ProviderSettings::from_source(src)?,
            queue: shared::runtime::config::QueueConfig::from_source(src)?,
            policy: SyncPolicy::from_source(src, "RECONCILE_STALE_SECONDS", 600)?,
        })
    }
}

pub struct App<S, P, Q> {
    pub store: S,
    pub provider: P,
    pub queue: Q,
    pub policy: SyncPolicy,
    /// Every provider account, whose bills the daily job reads.
    pub pool: shared::domain::pool::Pool,
}

/// What the function is invoked with: the sweep's schedule, or the daily bill job.
pub async fn handle_payload<S, P, Q>(
    app: &App<S, P, Q>,
    payload: serde_json::Value,
) -> Result<serde_json::Value, PayloadError>
where
    S: Store + shared::ports::BillIndex,
    P: VideoProvider + shared::provider::Bills,
    Q: FinalizeQueue,
{
    if payload.get("job").is_some() {
        let job: bills::BillJob = serde_json::from_value(payload)?;
        if job.job != "bills" {
            return Err(PayloadError::UnknownJob(job.job));
        }
        let day = job.day(timestamp::now())?;
        let report = bills::reconcile_bills(&app.store, &app.provider, &app.pool, day).await;
        return Ok(serde_json::to_value(report)?);
    }
    let event: EventBridgeEvent = serde_json::from_value(payload)?;
    Ok(serde_json::to_value(handle(app, event).await)?)
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("not a scheduled event or a job: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("no job named {0:?} (the one job is \"bills\")")]
    UnknownJob(String),
    #[error(transparent)]
    BadDay(#[from] bills::BadDay),
}

#[derive(Debug, Default, Serialize, PartialEq)]
pub struct SweepReport {
    pub checked: u32,
    pub moved: u32,
    pub finalize_queued: u32,
    pub failed: u32,
    pub errors: u32,
    pub scheduled_at: Option<String>,
}

pub async fn handle<S: Store, P: VideoProvider, Q: FinalizeQueue>(
    app: &App<S, P, Q>,
    event: EventBridgeEvent,
) -> SweepReport {
    let mut report = SweepReport {
        scheduled_at: event.time.map(|t| t.to_rfc3339()),
        ..Default::default()
    };
    let now = timestamp::now();
    let cutoff = timestamp::Timestamp::from(now) - app.policy.stale_after;
    let tasks = match app.store.stale_tasks(cutoff, BATCH).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "could not list stale tasks");
            report.errors += 1;
            return report;
        }
    };
    // One batched provider lookup for the sweep where the provider supports it.
    let outcomes = sync_tasks(
        &app.store,
        &app.provider,
        &app.queue,
        &tasks,
        app.policy,
        now,
        Deadline::after(std::time::Duration::from_secs(10)),
    )
    .instrument(tracing::info_span!("reconcile", tasks = tasks.len()))
    .await;
    for (task, outcome) in tasks.iter().zip(outcomes) {
        report.checked += 1;
        match outcome {
            Ok(SyncOutcome::Moved(_)) => report.moved += 1,
            Ok(SyncOutcome::FinalizeQueued) => report.finalize_queued += 1,
            Ok(SyncOutcome::Failed(reason)) => {
                tracing::warn!(task_id = %task.id, %reason, "task failed by reconcile");
                report.failed += 1;
            }
            Ok(SyncOutcome::Skipped | SyncOutcome::Unchanged) => {}
            Err(e) => {
                tracing::warn!(task_id = %task.id, error = %e, "could not reconcile; next run will");
                report.errors += 1;
            }
        }
    }
    tracing::info!(
        checked = report.checked,
        moved = report.moved,
        finalize_queued = report.finalize_queued,
        failed = report.failed,
        "reconcile sweep done"
    );
    report
}
