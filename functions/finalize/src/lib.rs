//! finalize: SQS batch handler that copies a finished video into S3.
//!
//! Per message: re-read the task from Kling (the authoritative status and URL; the callback was
//! only a hint), download from an allowlisted host, check the bytes are a real MP4, store them at
//! `videos/{user}/{task}.mp4` with metadata, then FINALIZING → SUCCEEDED. Redelivery is harmless:
//! a task already SUCCEEDED is acknowledged. Transient failures become batch item failures.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use shared::config::{ConfigError, Source};
use shared::kling::{Deadline, KlingTask, ProviderStatus, TaskRef, VideoKind};
use shared::mp4_probe;
use shared::ports::{FinalizeMessage, TaskStore, VideoMetadata, VideoProvider, VideoStore};
use shared::state::{TaskEvent, TaskPatch, event_for};
use shared::task::{StoredVideo, Task, TaskError, video_key};
use shared::time_util;

#[derive(Debug, Clone)]
pub struct DownloadPolicy {
    /// Hosts videos may come from: exact names, or `.suffix` for a domain and its subdomains.
    pub allowed_hosts: Vec<String>,
    /// Plain http is for the local stack only.
    pub allow_http: bool,
    pub max_bytes: u64,
}

impl DownloadPolicy {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let allowed_hosts: Vec<String> = src
            .required("DOWNLOAD_ALLOWED_HOSTS")?
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        Ok(Self {
            allowed_hosts,
            allow_http: src.parsed("DOWNLOAD_ALLOW_HTTP", false)?,
            max_bytes: src.parsed("MAX_VIDEO_BYTES", 200 * 1024 * 1024)?,
        })
    }

    /// Whether a result URL may be fetched at all.
    pub fn permits(&self, raw: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("invalid video URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(format!("scheme {other} is not allowed")),
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let allowed = self
            .allowed_hosts
            .iter()
            .any(|h| match h.strip_prefix('.') {
                Some(domain) => host == domain || host.ends_with(h.as_str()),
                None => host == *h,
            });
        if !allowed {
            return Err(format!("host {host} is not on the download allowlist"));
        }
        Ok(url)
    }
}

/// Time allowed for the authoritative re-read of the task, retries included.
const QUERY_BUDGET: std::time::Duration = std::time::Duration::from_secs(15);

pub struct App<S, P, V> {
    pub store: S,
    pub provider: P,
    pub videos: V,
    pub http: reqwest::Client,
    pub policy: DownloadPolicy,
}

/// Why a message was not finished.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// Try again later (SQS redelivers, then the DLQ).
    #[error("transient: {0}")]
    Retry(String),
}

use FinalizeError::Retry;

pub async fn handle<S: TaskStore, P: VideoProvider, V: VideoStore>(
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

async fn process<S: TaskStore, P: VideoProvider, V: VideoStore>(
    app: &App<S, P, V>,
    record: &SqsMessage,
) -> Result<(), FinalizeError> {
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
    let Some(task) = app
        .store
        .get_task(&message.task_id)
        .await
        .map_err(|e| Retry(e.to_string()))?
    else {
        tracing::error!("finalize message for an unknown task dropped");
        return Ok(());
    };
    if task.status.is_terminal() {
        tracing::info!(
            status = task.status.as_str(),
            "already terminal; acknowledged"
        );
        return Ok(());
    }

    let reference = match &task.provider_task_id {
        Some(id) => TaskRef::Provider(id),
        None => TaskRef::External(&task.id),
    };
    let remote = app
        .provider
        .query_task(
            VideoKind::Text2Video,
            reference,
            Deadline::after(QUERY_BUDGET),
        )
        .await
        .map_err(|e| Retry(format!("Kling query failed: {e}")))?;
    let patch = TaskPatch {
        provider_task_id: Some(remote.task_id.clone()),
        ..Default::default()
    };
    match remote.task_status {
        ProviderStatus::Succeed => {}
        ProviderStatus::Failed => {
            let reason = remote.task_status_msg.clone().unwrap_or_default();
            fail(app, &task, "provider_failed", &reason).await?;
            return Ok(());
        }
        other => {
            if let Some(event) = event_for(other) {
                app.store
                    .apply(&task.id, event, patch)
                    .await
                    .map_err(|e| Retry(e.to_string()))?;
            }
            return Err(Retry(format!(
                "Kling reports {}; not finished yet",
                other.as_str()
            )));
        }
    }
    app.store
        .apply(&task.id, TaskEvent::ProviderSucceeded, patch)
        .await
        .map_err(|e| Retry(e.to_string()))?;

    let video = match copy_video(app, &task, &remote).await? {
        Ok(video) => video,
        Err(reason) => {
            fail(app, &task, "video_unusable", &reason).await?;
            return Ok(());
        }
    };
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
        .map_err(|e| Retry(e.to_string()))?;
    tracing::info!(status = applied.task.status.as_str(), "finalized");
    Ok(())
}

async fn fail<S: TaskStore, P, V>(
    app: &App<S, P, V>,
    task: &Task,
    code: &str,
    reason: &str,
) -> Result<(), FinalizeError> {
    tracing::warn!(code, reason, "task failed");
    let patch = TaskPatch {
        error: Some(TaskError {
            code: code.to_string(),
            message: if reason.is_empty() {
                "the video could not be produced".to_string()
            } else {
                reason.to_string()
            },
            retryable: false,
        }),
        ..Default::default()
    };
    app.store
        .apply(&task.id, TaskEvent::Failed, patch)
        .await
        .map_err(|e| Retry(e.to_string()))?;
    Ok(())
}

/// Download and store. The outer error is transient; the inner one makes the task fail.
async fn copy_video<S, P, V: VideoStore>(
    app: &App<S, P, V>,
    task: &Task,
    remote: &KlingTask,
) -> Result<Result<StoredVideo, String>, FinalizeError> {
    let Some(result) = remote.first_video() else {
        return Ok(Err("Kling reported success without a video".into()));
    };
    let url = match app.policy.permits(&result.url) {
        Ok(url) => url,
        Err(reason) => return Ok(Err(reason)),
    };
    let bytes = match download(&app.http, url, app.policy.max_bytes).await? {
        Ok(bytes) => bytes,
        Err(reason) => return Ok(Err(reason)),
    };
    let facts = match mp4_probe::probe(&bytes) {
        Ok(facts) => facts,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let key = video_key(&task.user_id, &task.id);
    let video = StoredVideo {
        key: key.clone(),
        bytes: bytes.len() as u64,
        sha256: sha256.clone(),
        content_type: "video/mp4".into(),
        duration_seconds: Some(facts.duration_seconds),
        width: facts.width,
        height: facts.height,
    };
    let metadata = object_metadata(task, &video);
    app.videos
        .put_video(&key, bytes, &video.content_type, &metadata)
        .await
        .map_err(|e| Retry(e.to_string()))?;
    tracing::info!(%key, bytes = video.bytes, %sha256, "video stored");
    Ok(Ok(video))
}

fn object_metadata(task: &Task, video: &StoredVideo) -> VideoMetadata {
    let prompt_hash = hex::encode(Sha256::digest(
        task.prompt.as_deref().unwrap_or_default().as_bytes(),
    ));
    let mut pairs = vec![
        ("ai-generated".to_string(), "true".to_string()),
        ("task-id".to_string(), task.id.clone()),
        ("bytes".to_string(), video.bytes.to_string()),
        ("sha256".to_string(), video.sha256.clone()),
        ("prompt-sha256".to_string(), prompt_hash),
        ("model".to_string(), task.model.clone()),
        ("mode".to_string(), task.mode.clone()),
        ("created-at".to_string(), task.created_at.clone()),
        (
            "cost-units".to_string(),
            format!("{:.2}", task.cost_units.as_f64()),
        ),
        (
            "stored-at".to_string(),
            time_util::rfc3339(time_util::now()),
        ),
    ];
    if let Some(d) = video.duration_seconds {
        pairs.push(("duration-seconds".into(), format!("{d:.3}")));
    }
    if let (Some(w), Some(h)) = (video.width, video.height) {
        pairs.push(("resolution".into(), format!("{w}x{h}")));
    }
    VideoMetadata { pairs }
}

async fn download(
    http: &reqwest::Client,
    url: url::Url,
    max_bytes: u64,
) -> Result<Result<Bytes, String>, FinalizeError> {
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| Retry(format!("download failed: {e}")))?;
    let status = resp.status();
    if status.is_server_error() {
        return Err(Retry(format!("download answered HTTP {status}")));
    }
    if !status.is_success() {
        return Ok(Err(format!("download answered HTTP {status}")));
    }
    if resp.content_length().is_some_and(|n| n > max_bytes) {
        return Ok(Err(format!("video is larger than {max_bytes} bytes")));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| Retry(format!("download interrupted: {e}")))?
    {
        if (body.len() + chunk.len()) as u64 > max_bytes {
            return Ok(Err(format!("video is larger than {max_bytes} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Ok(Bytes::from(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_policy_table() {
        let policy = DownloadPolicy {
            allowed_hosts: vec![".kwimgs.com".into(), "cdn.example.com".into()],
            allow_http: false,
            max_bytes: 1,
        };
        let cases = [
            ("https://p1.a.kwimgs.com/x/output.mp4", true),
            ("https://kwimgs.com/x.mp4", true),
            ("https://cdn.example.com/v.mp4", true),
            ("http://cdn.example.com/v.mp4", false),
            ("https://evilkwimgs.com/x.mp4", false),
            ("https://cdn.example.com.evil.net/v.mp4", false),
            ("https://127.0.0.1/v.mp4", false),
            ("file:///etc/passwd", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            assert_eq!(policy.permits(url).is_ok(), ok, "{url}");
        }
    }
}
