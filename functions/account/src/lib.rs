//! account: the erasure job behind `DELETE /v1/me`. status-query records the request and
//! queues the job; this function does the work in steps that may repeat (a crash, a
//! redelivery, the job run twice), each idempotent:
//!
//! 1. the user's tasks: a task still waiting for the provider is canceled (refunded once, by its
//!    terminal write); a finished one loses its stored video, then its items; a running one is
//!    left to finish, and the job comes back later (`ERASURE_RECHECK_SECONDS`) — its video
//!    and its refund, if any, land before the account is erased;
//! 2. the devices' push endpoints (those the user still owns), the uploads and exports;
//! 3. everything under the user in the table but the erasure record; the ledger rows are kept
//!    for the accounts under an id nothing links to the user;
//! 4. the erasure marked done.

use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

use shared::domain::state::{TaskEvent, TaskPatch};
use shared::domain::task::{Task, TaskStatus};
use shared::domain::timestamp::Timestamp;
use shared::ports::{
    BlobError, Devices, ErasureMessage, ErasureQueue, Erasures, PushEndpoints, QueueError,
    StoreError, Tasks, UploadStore, VideoStore,
};

pub trait Store: Tasks + Devices + Erasures {}
impl<T: Tasks + Devices + Erasures> Store for T {}

pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub bucket: shared::runtime::config::BucketConfig,
    pub push_apps: shared::aws::PlatformApps,
    pub erasure_queue_url: String,
    /// How long the job waits for the user's running videos before it looks again.
    pub recheck: Duration,
    pub s3_path_style: bool,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            bucket: shared::runtime::config::BucketConfig::from_source(src)?,
            push_apps: shared::aws::PlatformApps::from_source(src),
            erasure_queue_url: src.required("ERASURE_QUEUE_URL")?,
            recheck: Duration::from_secs(src.parsed("ERASURE_RECHECK_SECONDS", 60)?),
            s3_path_style: shared::aws::path_style(src),
        })
    }
}

pub struct App<S, V, E, Q> {
    pub store: S,
    pub videos: V,
    pub push: E,
    pub queue: Q,
    pub recheck: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("bucket: {0}")]
    Blob(#[from] BlobError),
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
}

/// Where an erasure stands after one run of the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Erased,
    /// Tasks the provider still works on; the job runs again later.
    Waiting {
        running: usize,
    },
    /// No erasure was asked for (a stray message): nothing done.
    NotAsked,
}

/// What the job does with one of the user's tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposal {
    /// Still waiting for the provider: canceled and refunded, then erased.
    Cancel,
    Erase,
    /// The provider has it (or its submit is out): it finishes first.
    Wait,
}

pub fn disposal(task: &Task) -> Disposal {
    match task.status {
        TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled => Disposal::Erase,
        TaskStatus::Created if task.waiting() => Disposal::Cancel,
        TaskStatus::Created | TaskStatus::Queued | TaskStatus::Running | TaskStatus::Finalizing => {
            Disposal::Wait
        }
    }
}

pub async fn handle<S: Store, V: VideoStore + UploadStore, E: PushEndpoints, Q: ErasureQueue>(
    app: &App<S, V, E, Q>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("erasure", %message_id);
        if let Err(e) = process(app, &record).instrument(span).await {
            tracing::warn!(%message_id, error = %e, "erasure step failed; it will be retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

async fn process<S: Store, V: VideoStore + UploadStore, E: PushEndpoints, Q: ErasureQueue>(
    app: &App<S, V, E, Q>,
    record: &SqsMessage,
) -> Result<(), JobError> {
    let body = record.body.as_deref().unwrap_or_default();
    let Ok(message) = serde_json::from_str::<ErasureMessage>(body) else {
        tracing::error!("not an erasure message; dropped");
        return Ok(());
    };
    match erase(app, &message.user_id).await? {
        Progress::Waiting { running } => {
            tracing::info!(running, "waiting for the user's running videos");
            app.queue
                .enqueue_erasure(&message.user_id, app.recheck)
                .await?;
        }
        Progress::Erased => tracing::info!("account erased"),
        Progress::NotAsked => tracing::warn!("no erasure recorded for this user; nothing done"),
    }
    Ok(())
}

/// One run of the job for `user`.
pub async fn erase<S: Store, V: VideoStore + UploadStore, E: PushEndpoints, Q>(
    app: &App<S, V, E, Q>,
    user: &str,
) -> Result<Progress, JobError> {
    // An erasure already done runs again all the same: a `DELETE /v1/me` after it erases what
    // the account made since (and finds nothing, cheaply, otherwise).
    let Some(erasure) = app.store.erasure(user).await? else {
        return Ok(Progress::NotAsked);
    };
    let running = erase_tasks(app, user).await?;
    if running > 0 {
        return Ok(Progress::Waiting { running });
    }
    erase_endpoints(app, user).await?;
    // `videos/` last: the tasks' videos went with their tasks; what is left there (posters,
    // a copy a lost race left behind) goes now.
    for prefix in [
        format!("uploads/{user}/"),
        format!("exports/{user}/"),
        format!("videos/{user}/"),
    ] {
        let n = app.videos.delete_prefix(&prefix).await?;
        tracing::info!(
            prefix = prefix.split('/').next(),
            objects = n,
            "objects deleted"
        );
    }
    app.store.erase_account(user, &erasure.ledger_id).await?;
    app.store.finish_erasure(user, Timestamp::now()).await?;
    Ok(Progress::Erased)
}

/// The user's tasks canceled or erased; how many are still with the provider.
async fn erase_tasks<S: Store, V: VideoStore, E, Q>(
    app: &App<S, V, E, Q>,
    user: &str,
) -> Result<usize, JobError> {
    let mut running = 0;
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.list_tasks(user, 100, cursor.as_deref()).await?;
        for task in &page.tasks {
            if !erase_task(app, task).await? {
                running += 1;
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(running),
        }
    }
}

/// Whether the task is gone (`false`: it is still being made).
async fn erase_task<S: Store, V: VideoStore, E, Q>(
    app: &App<S, V, E, Q>,
    task: &Task,
) -> Result<bool, JobError> {
    match disposal(task) {
        Disposal::Wait => return Ok(false),
        Disposal::Cancel => {
            match app
                .store
                .apply(&task.id, TaskEvent::Canceled, TaskPatch::default())
                .await
            {
                Ok(applied) if applied.task.status == TaskStatus::Canceled => {}
                // Dispatched meanwhile: it finishes first.
                Ok(_) | Err(StoreError::InvalidTransition(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        Disposal::Erase => {
            if let Some(video) = &task.video {
                app.videos.delete(&video.key).await?;
            }
        }
    }
    app.store.erase_task(&task.id).await?;
    Ok(true)
}

/// The push endpoints of the user's devices, unless another user owns the phone now. A failed
/// delete is logged, not retried: the record goes anyway, so nothing pushes to it again.
async fn erase_endpoints<S: Store, V, E: PushEndpoints, Q>(
    app: &App<S, V, E, Q>,
    user: &str,
) -> Result<(), JobError> {
    for device in app.store.devices_of(user).await? {
        let owner = app.store.owner_of(&device.id).await?;
        if owner.is_some_and(|o| o.as_str() != user) {
            continue;
        }
        if let Err(e) = app.push.delete_endpoint(&device.endpoint).await {
            tracing::warn!(error = %e, "push endpoint not deleted");
        }
    }
    Ok(())
}
