//! finalize: SQS batch handler that copies a finished video into S3.
//!
//! Per message: re-read the job from the provider (the authoritative status and URL; the
//! callback was only a hint), stream the video through the download guard straight into a
//! multipart upload to `videos/{user}/{task}.mp4`, check it is a real MP4, complete the upload
//! (the object appears whole, written once), then FINALIZING → SUCCEEDED. Redelivery is
//! harmless: a finished task is acknowledged, and a video an earlier version published before
//! a crash is recorded from its metadata without a second download.
//! Transient failures become batch item failures; permanent ones fail the task and refund it.

pub mod boxes;
pub mod copy;
pub mod es256;
pub mod guard;
pub mod label;
#[cfg(any(test, feature = "local-ca"))]
pub mod local_ca;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use shared::domain::state::{TaskEvent, TaskPatch, event_for};
use shared::domain::task::{StoredVideo, Task, video_key};
use shared::domain::timestamp::{self, Timestamp};
use shared::lifecycle::fail::{Failure, fail_and_refund};
use shared::lifecycle::sync::lookup_of;
use shared::ports::{FinalizeMessage, FinalizeReason, Tasks, VideoMetadata, VideoStore};
use shared::provider::{Deadline, JobStatus, ProviderError, VideoProvider};
use shared::runtime::metrics::{self, Unit};

pub use copy::{CopyError, stream_into};
pub use guard::DownloadPolicy;

/// What finalize needs of the table: task records.
pub trait Store: Tasks {}
impl<T: Tasks> Store for T {}

/// Time allowed for the authoritative re-read of the task, retries included.
const QUERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

/// Everything finalize reads from its environment at cold start.
pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub bucket: shared::runtime::config::BucketConfig,
    pub providers: shared::provider::composite::ProviderSettings,
    pub policy: DownloadPolicy,
    pub s3_path_style: bool,
    /// Who signs the C2PA manifests (none: `C2PA_LABEL=off`).
    pub labels: Option<label::Credentials>,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            bucket: shared::runtime::config::BucketConfig::from_source(src)?,
            providers: shared::provider::composite::ProviderSettings::from_source(src)?,
            policy: DownloadPolicy::from_source(src)?,
            s3_path_style: shared::aws::path_style(src),
            labels: label::credentials_from_source(src)?,
        })
    }
}

pub struct App<S, P, V> {
    pub store: S,
    pub provider: P,
    pub videos: V,
    pub http: reqwest::Client,
    pub policy: DownloadPolicy,
    pub labels: Option<label::Credentials>,
}

/// Why a message was not finished: SQS redelivers it, then the DLQ takes it.
#[derive(Debug, thiserror::Error)]
#[error("transient: {0}")]
pub struct Retry(pub String);

pub async fn handle<S: Store, P: VideoProvider, V: VideoStore>(
    app: &App<S, P, V>,
    event: SqsEvent,
) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let span = tracing::info_span!("finalize", %message_id, task_id = tracing::field::Empty);
        if let Err(e) = process(app, &record).instrument(span).await {
            tracing::warn!(%message_id, error = %e, "message will be retried");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

fn retry(e: impl std::fmt::Display) -> Retry {
    Retry(e.to_string())
}

async fn process<S: Store, P: VideoProvider, V: VideoStore>(
    app: &App<S, P, V>,
    record: &SqsMessage,
) -> Result<(), Retry> {
    let Some(message) = record
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<FinalizeMessage>(b).ok())
    else {
        // A message we can never understand is dropped, not retried forever.
        tracing::error!("unreadable finalize message dropped");
        return Ok(());
    };
    tracing::Span::current().record("task_id", message.task_id.as_str());
    let Some(task) = app.store.get_task(&message.task_id).await.map_err(retry)? else {
        tracing::error!("finalize message for an unknown task dropped");
        return Ok(());
    };
    let attempt = record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    finalize_task(app, &task, message.reason, attempt).await
}

/// Deliveries a link answering 403/404/410 gets before the video counts as gone: a CDN may
/// still be propagating a new file.
pub const GONE_ATTEMPTS: u32 = 3;

/// Bring one task to SUCCEEDED (or FAILED), on the provider's word. A reported failure the
/// provider does not confirm (still running) is acknowledged: callbacks and polling go on.
pub async fn finalize_task<S: Store, P: VideoProvider, V: VideoStore>(
    app: &App<S, P, V>,
    task: &Task,
    reason: FinalizeReason,
    attempt: u32,
) -> Result<(), Retry> {
    if task.status.is_terminal() {
        tracing::info!(
            status = task.status.as_str(),
            "already terminal; acknowledged"
        );
        return Ok(());
    }
    let key = video_key(&task.user_id, &task.id);
    if let Some(meta) = app.videos.head(&key).await.map_err(retry)?
        && let Some(video) = stored_from_metadata(&key, &meta)
    {
        tracing::info!(%key, "video already published; recording it without a second upload");
        return record_stored(app, task, video).await;
    }
    let result_url = match confirm(app, task, reason).await? {
        Confirmed::Video(url) => url,
        Confirmed::Failed(code, why) => return fail(app, task, code, &why).await,
        Confirmed::Pending(status) if reason != FinalizeReason::Done => {
            tracing::info!(
                status = status.as_str(),
                ?reason,
                "the provider says the task is not done; acknowledged"
            );
            return Ok(());
        }
        Confirmed::Unknown => {
            tracing::info!("an early callback for a task the provider does not hold; acknowledged");
            return Ok(());
        }
        Confirmed::Pending(status) => {
            return Err(Retry(format!(
                "the provider reports {}; not finished yet",
                status.as_str()
            )));
        }
    };
    store_video(app, task, &key, &result_url, attempt).await
}

/// Download through the guard straight into the final key's multipart upload, check it, and
/// complete the upload (publishing it atomically) unless the task ended meanwhile. The facts
/// known only at the end (size, hash, duration, resolution) are kept on the task item.
async fn store_video<S: Store, P, V: VideoStore>(
    app: &App<S, P, V>,
    task: &Task,
    key: &str,
    result_url: &str,
    attempt: u32,
) -> Result<(), Retry> {
    let url = match app.policy.permits(result_url) {
        Ok(url) => url,
        Err(reason) => return fail(app, task, "video_unusable", &reason).await,
    };
    let metadata = object_metadata(task);
    let started = std::time::Instant::now();
    let target = (key, &metadata);
    let label = start_label(app, task);
    let (http, max) = (&app.http, app.policy.max_bytes);
    let streamed = match stream_into(http, url, max, &app.videos, target, label).await {
        Ok(s) => s,
        Err(CopyError::Transient(e)) => return Err(Retry(e)),
        Err(CopyError::Gone(e)) if attempt < GONE_ATTEMPTS => return Err(Retry(e)),
        Err(CopyError::Permanent(reason) | CopyError::Gone(reason)) => {
            return fail(app, task, "video_unusable", &reason).await;
        }
    };
    let copied = &streamed.copied;
    let video = StoredVideo {
        key: key.to_string(),
        bytes: copied.bytes,
        sha256: copied.sha256.clone(),
        content_type: "video/mp4".into(),
        duration_seconds: Some(copied.facts.duration_seconds),
        width: copied.facts.width,
        height: copied.facts.height,
        poster: None,
    };
    if ended_meanwhile(app, task).await? {
        copy::abort(&app.videos, &streamed.upload).await;
        return Ok(());
    }
    if let Err(e) = app.videos.complete(&streamed.upload).await {
        copy::abort(&app.videos, &streamed.upload).await;
        return Err(retry(e));
    }
    let copy_ms = started.elapsed().as_millis() as u64;
    let labelled = copied.labelled;
    tracing::info!(%key, bytes = video.bytes, sha256 = %video.sha256, copy_ms, labelled, "video stored");
    record_stored(app, task, video).await
}

/// The label this task's video will carry; without one it is still stored (it is paid for).
fn start_label<S, P, V>(app: &App<S, P, V>, task: &Task) -> Option<label::Label> {
    let generation = label::Generation {
        task_id: task.id.to_string(),
        provider: task.provider.clone(),
        model: task.model.clone(),
    };
    match label::Label::start(app.labels.as_ref()?, &generation) {
        Ok(label) => Some(label),
        Err(e) => {
            tracing::error!(error = %e, "could not start the C2PA manifest");
            None
        }
    }
}

/// A task that ended while its video was being copied (failed, canceled, stored by another
/// delivery) gets nothing published: a video must never appear for a task that says otherwise.
async fn ended_meanwhile<S: Store, P, V>(app: &App<S, P, V>, task: &Task) -> Result<bool, Retry> {
    let now = app.store.get_task(&task.id).await.map_err(retry)?;
    let ended = now.as_ref().is_none_or(|t| t.status.is_terminal());
    if ended {
        tracing::warn!("the task ended during the copy; nothing published");
    }
    Ok(ended)
}

/// What the provider says about a job a callback reported finished.
enum Confirmed {
    Video(String),
    Failed(&'static str, String),
    /// Not finished (what it reports is recorded).
    Pending(JobStatus),
    /// The provider does not hold the task (only asked on a hint).
    Unknown,
}

/// Ask the provider itself (the callback was a hint): done with a video, failed, or not
/// finished yet.
async fn confirm<S: Store, P: VideoProvider, V>(
    app: &App<S, P, V>,
    task: &Task,
    reason: FinalizeReason,
) -> Result<Confirmed, Retry> {
    let remote = match app
        .provider
        .lookup(lookup_of(task), Deadline::after(QUERY_BUDGET))
        .await
    {
        Ok(remote) => remote,
        // A hint for a task the provider does not hold (yet): dispatch's own lookup settles it.
        Err(ProviderError::NotFound) if reason == FinalizeReason::Hint => {
            return Ok(Confirmed::Unknown);
        }
        Err(e) => return Err(Retry(format!("provider lookup failed: {e}"))),
    };
    let patch = TaskPatch {
        provider_ref: Some(remote.reference.clone()),
        provider_handle: remote.handle.clone(),
        facts: shared::domain::task::ProviderFacts::from_lookup(&remote),
        ..Default::default()
    };
    match remote.status {
        JobStatus::Succeeded => {}
        JobStatus::Failed => {
            let reason = remote.failure.clone().unwrap_or_default();
            return Ok(Confirmed::Failed("provider_failed", reason));
        }
        other => {
            if let Some(event) = event_for(other) {
                app.store
                    .apply(&task.id, event, patch)
                    .await
                    .map_err(retry)?;
            }
            return Ok(Confirmed::Pending(other));
        }
    }
    let applied = app
        .store
        .apply(&task.id, TaskEvent::ProviderSucceeded, patch)
        .await
        .map_err(retry)?;
    let expected = task
        .request
        .as_ref()
        .and_then(|r| app.provider.expected_units(r));
    shared::lifecycle::billing::observe(task, &applied.task, expected);
    Ok(match remote.video_url {
        Some(url) => Confirmed::Video(url),
        None => Confirmed::Failed(
            "video_unusable",
            "the provider reported success without a video".into(),
        ),
    })
}

async fn record_stored<S: Store, P, V>(
    app: &App<S, P, V>,
    task: &Task,
    video: StoredVideo,
) -> Result<(), Retry> {
    app.store
        .apply(&task.id, TaskEvent::ProviderSucceeded, TaskPatch::default())
        .await
        .map_err(retry)?;
    let applied = app
        .store
        .apply(
            &task.id,
            TaskEvent::Stored,
            TaskPatch {
                video: Some(video),
                ..Default::default()
            },
        )
        .await
        .map_err(retry)?;
    tracing::info!(status = applied.task.status.as_str(), "finalized");
    if applied.moved {
        let latency = applied
            .task
            .submitted_at
            .map_or(0.0, |s| (Timestamp::now() - s).as_seconds_f64());
        metrics::emit(
            &[("Function", "finalize")],
            &[
                ("TaskLatency", latency, Unit::Seconds),
                ("TasksSucceeded", 1.0, Unit::Count),
            ],
        );
    }
    Ok(())
}

async fn fail<S: Store, P, V>(
    app: &App<S, P, V>,
    task: &Task,
    code: &str,
    reason: &str,
) -> Result<(), Retry> {
    let message = match reason {
        "" => "the video could not be produced".to_string(),
        r => r.to_string(),
    };
    let failure = Failure {
        code,
        message,
        retryable: false,
    };
    fail_and_refund(&app.store, "finalize", task, failure, TaskPatch::default())
        .await
        .map_err(retry)?;
    Ok(())
}

/// What the object carries, known before the download: the facts known only at the end are
/// kept on the task item (the upload is completed without a second write).
pub fn object_metadata(task: &Task) -> VideoMetadata {
    let prompt_hash = hex::encode(Sha256::digest(
        task.prompt.as_deref().unwrap_or_default().as_bytes(),
    ));
    let pairs = vec![
        ("ai-generated".to_string(), "true".to_string()),
        ("task-id".to_string(), task.id.to_string()),
        ("prompt-sha256".to_string(), prompt_hash),
        ("model".to_string(), task.model.clone()),
        ("mode".to_string(), task.mode.to_string()),
        ("created-at".to_string(), task.created_at.to_string()),
        (
            "cost-units".to_string(),
            format!("{:.2}", task.cost_units.as_f64()),
        ),
        (
            "stored-at".to_string(),
            timestamp::rfc3339(timestamp::now()),
        ),
    ];
    VideoMetadata { pairs }
}

/// An object published by an earlier version (a copy from staging) carries everything the task
/// record needs; one published since carries only what was known up front, and a task that
/// crashed between completing it and recording it is copied again (the same key, replaced
/// atomically).
pub fn stored_from_metadata(key: &str, meta: &VideoMetadata) -> Option<StoredVideo> {
    Some(StoredVideo {
        key: key.to_string(),
        bytes: meta.get("bytes")?.parse().ok()?,
        sha256: meta.get("sha256")?.to_string(),
        content_type: "video/mp4".into(),
        duration_seconds: meta.get("duration-seconds").and_then(|d| d.parse().ok()),
        width: meta.get("width").and_then(|w| w.parse().ok()),
        height: meta.get("height").and_then(|h| h.parse().ok()),
        poster: None,
    })
}
