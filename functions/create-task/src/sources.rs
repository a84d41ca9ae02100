//! A job on one of the caller's earlier videos (`source.video_id`): the video is theirs (any
//! other answers 404, as if it did not exist, and nothing is charged), finished and stored,
//! and of a length the kind takes. The provider gets its own id for the video while it keeps
//! it, and a presigned URL of our stored copy always (the fallback past its keep).

use std::time::Duration;

use shared::domain::catalogue;
use shared::domain::source::provider_video_id;
use shared::domain::task::{Task, TaskStatus};
use shared::domain::timestamp::Timestamp;
use shared::domain::validation::VideoSpec;
use shared::edge::envelope::ApiError;
use shared::ports::{Tasks, UploadStore};
use shared::provider::{GenerationRequest, SourceVideo};

use crate::Ports;

/// How long the provider has to fetch our copy.
const SOURCE_URL_TTL: Duration = Duration::from_secs(3600);

/// The caller's source task for `spec`, with the task's length taken from the stored video.
pub(crate) async fn read_source<A: Ports>(
    app: &A,
    user_id: &str,
    spec: &mut VideoSpec,
) -> Result<Option<Task>, ApiError> {
    let Some(id) = spec.source_task.as_deref() else {
        return Ok(None);
    };
    let source = app
        .store()
        .get_task(id)
        .await?
        .filter(|t| t.user_id == user_id && t.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("video").with_field("source"))?;
    let seconds = match (&source.status, &source.video) {
        (TaskStatus::Succeeded, Some(_)) => seconds(&source),
        _ => {
            return Err(ApiError::new(
                422,
                "source_not_ready",
                format!(
                    "video {id} has no stored video (it is {})",
                    source.status.as_str()
                ),
            )
            .with_field("source"));
        }
    };
    spec.duration = length_taken(spec, seconds)?;
    Ok(Some(source))
}

/// The source's length in whole seconds, rounded up, when the kind takes it.
fn length_taken(spec: &VideoSpec, seconds: f64) -> Result<u32, ApiError> {
    let whole = seconds.ceil().max(0.0) as u32;
    let taken = catalogue::kind(spec.video_type).durations;
    if taken.contains(&whole) {
        return Ok(whole);
    }
    let (lo, hi) = (taken.first().unwrap_or(&0), taken.last().unwrap_or(&0));
    Err(ApiError::new(
        422,
        "source_duration",
        format!(
            "{} takes videos of {lo} to {hi} seconds; this one is {seconds:.1} s",
            spec.video_type.as_str()
        ),
    )
    .with_field("source"))
}

/// The source by our copy's URL (every provider that takes the kind takes a URL).
pub(crate) async fn attach_source<A: Ports>(
    app: &A,
    source: &Task,
    generation: &mut GenerationRequest,
) -> Result<(), ApiError> {
    let Some(video) = &source.video else {
        return Ok(());
    };
    let url = app
        .uploads()
        .presign_get(&video.key, SOURCE_URL_TTL)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "presigning the source video failed");
            ApiError::internal()
        })?;
    generation.source = Some(described(source, url));
    Ok(())
}

/// Once the provider is chosen: its own id for the video too, while it keeps it.
pub(crate) fn name_for_provider(source: &Task, generation: &mut GenerationRequest) {
    let id = provider_video_id(source, &generation.provider, Timestamp::now());
    if let Some(taken) = generation.source.as_mut() {
        taken.provider_video_id = id.map(str::to_string);
    }
}

/// A stand-in with the source's real length, for checks that need the shape only (estimates).
pub(crate) fn stand_in(source: &Task) -> SourceVideo {
    described(source, "https://example.com/video.mp4".into())
}

/// The source by our copy's URL, with its length as read from the stored file.
fn described(source: &Task, url: String) -> SourceVideo {
    SourceVideo {
        task_id: source.id.to_string(),
        made_by: source.provider.clone(),
        provider_video_id: None,
        url: Some(url),
        duration_seconds: seconds(source),
    }
}

fn seconds(source: &Task) -> f64 {
    source
        .video
        .as_ref()
        .and_then(|v| v.duration_seconds)
        .unwrap_or(f64::from(source.duration))
}
