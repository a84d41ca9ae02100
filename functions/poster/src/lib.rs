//! poster: a still for every stored video. It follows the table's change stream like notify
//! and, for a task that became SUCCEEDED with a video and no poster, decodes the video's first
//! keyframe, stores it as a JPEG beside the video and records it on the task. No provider of
//! ours returns a cover image (docs/providers.md §Poster frames), so every poster is made here.
//!
//! A job of its own, not a step of finalize: a video that gives no poster is still a paid,
//! stored video, and the decoder stays out of finalize's package and time budget.

pub mod frame;
pub mod picture;

use aws_lambda_events::dynamodb::{Event, EventRecord};
use bytes::Bytes;
use serde_json::{Value, json};

use shared::domain::task::{Poster, Task, TaskStatus, poster_key};
use shared::ports::{
    BlobError, PosterImages, PosterRecords, StoreError, Tasks, UploadStore, VideoStore,
};
use shared::runtime::config::{ConfigError, Source, TableConfig};

/// Why a stored video gives no poster: nothing a retry changes.
#[derive(Debug, thiserror::Error)]
pub enum PosterError {
    #[error("not a readable MP4: {0}")]
    Unreadable(String),
    #[error("the MP4 could not be read: {0}")]
    Mp4(#[from] mp4::Error),
    #[error("the file has no video track")]
    NoVideo,
    #[error("the video track is not H.264 (avc1)")]
    NotH264,
    #[error("the keyframe's sample is malformed: {0}")]
    BadSample(String),
    #[error("H.264 decoding failed: {0}")]
    Decode(#[source] openh264::Error),
    #[error("the decoder gave no picture for the keyframe")]
    NoPicture,
    #[error("a {0}×{1} picture is too large for a JPEG")]
    TooLarge(usize, usize),
    #[error("JPEG encoding failed: {0}")]
    Encode(#[source] jpeg_encoder::EncodingError),
    #[error("the video is larger than POSTER_MAX_VIDEO_BYTES")]
    VideoTooLarge,
}

/// A failure of the bucket or the table: the record is tried again.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Settings {
    pub table: TableConfig,
    pub bucket: String,
    pub s3_path_style: bool,
    pub max_video_bytes: u64,
}

impl Settings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            table: TableConfig::from_source(src)?,
            bucket: src.required("VIDEO_BUCKET")?,
            s3_path_style: shared::aws::path_style(src),
            max_video_bytes: src.parsed("POSTER_MAX_VIDEO_BYTES", 300 * 1024 * 1024)?,
        })
    }
}

pub struct App<S, B> {
    pub store: S,
    pub blobs: B,
    /// Videos are read whole (a few to tens of megabytes); larger ones get no poster.
    pub max_video_bytes: u64,
}

/// One batch of stream records; the first whose job failed is reported and the stream
/// retries from it (a poster made twice is the same picture at the same key).
pub async fn handle<S, B>(app: &App<S, B>, event: Value) -> Value
where
    S: Tasks + PosterRecords,
    B: VideoStore + UploadStore + PosterImages,
{
    let event: Event = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "stream event is not readable; skipped");
            return json!({ "batchItemFailures": [] });
        }
    };
    for record in &event.records {
        let Some(task) = wanted(record) else {
            continue;
        };
        let span = tracing::info_span!("poster", task_id = %task.id);
        let _enter = span.enter();
        if let Err(e) = make(app, &task).await {
            tracing::warn!(error = %e, "poster not made yet; the stream will retry");
            let id = record.change.sequence_number.clone().unwrap_or_default();
            return json!({ "batchItemFailures": [{ "itemIdentifier": id }] });
        }
    }
    json!({ "batchItemFailures": [] })
}

/// A task item (not its events or marks) that succeeded with a video and has no poster yet.
pub fn wanted(record: &EventRecord) -> Option<Task> {
    let key = |name: &str| match record.change.keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    if !key("pk").is_some_and(|pk| pk.starts_with("TASK#")) || key("sk") != Some("TASK") {
        return None;
    }
    let image = &record.change.new_image;
    if image.is_empty() {
        return None;
    }
    let task: Task = match serde_dynamo::from_item(image.clone()) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "task image is not readable; skipped");
            return None;
        }
    };
    let needs = task.status == TaskStatus::Succeeded
        && task.deleted_at.is_none()
        && task.video.as_ref().is_some_and(|v| v.poster.is_none());
    needs.then_some(task)
}

async fn make<S, B>(app: &App<S, B>, task: &Task) -> Result<(), JobError>
where
    S: Tasks + PosterRecords,
    B: VideoStore + UploadStore + PosterImages,
{
    let Some(video) = &task.video else {
        return Ok(());
    };
    let Some(mp4) = app.blobs.fetch(&video.key, app.max_video_bytes).await? else {
        tracing::info!("the video is gone (deleted since); no poster");
        return Ok(());
    };
    let jpeg = match still_of(&mp4, app.max_video_bytes) {
        Ok(jpeg) => jpeg,
        Err(e) => {
            tracing::error!(error = %e, "the video gives no poster");
            shared::runtime::metrics::emit(
                &[("Function", "poster")],
                &[("PostersNotMade", 1.0, shared::runtime::metrics::Unit::Count)],
            );
            return Ok(());
        }
    };
    let poster = Poster {
        key: poster_key(&video.key),
        width: jpeg.width,
        height: jpeg.height,
        bytes: jpeg.bytes.len() as u64,
    };
    app.blobs
        .put_poster(&poster.key, Bytes::from(jpeg.bytes))
        .await?;
    if !app
        .store
        .record_poster(task.id.as_str(), &video.key, &poster)
        .await?
    {
        forget_unrecorded(app, task.id.as_str(), &poster.key).await?;
    }
    tracing::info!(
        width = poster.width,
        height = poster.height,
        bytes = poster.bytes,
        "poster stored"
    );
    Ok(())
}

fn still_of(mp4: &[u8], max_bytes: u64) -> Result<picture::Jpeg, PosterError> {
    if mp4.len() as u64 > max_bytes {
        return Err(PosterError::VideoTooLarge);
    }
    picture::poster_jpeg(&frame::first_keyframe(mp4)?)
}

/// The task changed between the read and the record: the app deleted its video, or another
/// run recorded this same poster. Only in the first case is the picture removed.
async fn forget_unrecorded<S, B>(app: &App<S, B>, task_id: &str, key: &str) -> Result<(), JobError>
where
    S: Tasks,
    B: VideoStore,
{
    let task = app.store.get_task(task_id).await?;
    let kept = task
        .and_then(|t| t.video)
        .and_then(|v| v.poster)
        .is_some_and(|p| p.key == key);
    if !kept {
        tracing::info!("the video went while its poster was made; poster removed");
        app.blobs.delete(key).await?;
    }
    Ok(())
}
