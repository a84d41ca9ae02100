//! The video a kind works on (`source`): one of the caller's finished tasks (any other answers
//! 404, as if it did not exist) or a video they uploaded (a real MP4/MOV of at most 100 MB,
//! its length read from the file). Either way its length must be one the kind takes, and
//! nothing is charged when it is not. The provider gets a presigned URL of the file, and its
//! own id for the video too while it made and still keeps it.

use std::time::Duration;

use shared::domain::audio_probe;
use shared::domain::catalogue;
use shared::domain::generation::AudioInput;
use shared::domain::mp4_probe;
use shared::domain::source::{MAX_AUDIO_BYTES, MAX_VIDEO_BYTES, provider_video_id};
use shared::domain::task::{Task, TaskStatus};
use shared::domain::timestamp::Timestamp;
use shared::domain::validation::{SourceRef, VideoSpec};
use shared::edge::envelope::ApiError;
use shared::ports::{Tasks, UploadStore};
use shared::provider::{GenerationRequest, SourceVideo};

use crate::Ports;
use crate::uploads::upload_key;

/// How long the provider has to fetch the video.
const SOURCE_URL_TTL: Duration = Duration::from_secs(3600);

/// A source read and checked: where its file is, how long it is, and the task that made it.
pub(crate) struct Source {
    pub(crate) task: Option<Task>,
    key: String,
    seconds: f64,
}

fn refused(code: &'static str, message: String) -> ApiError {
    ApiError::new(422, code, message).with_field("source")
}

/// The request's source, with the task's length taken from it.
pub(crate) async fn read_source<A: Ports>(
    app: &A,
    user_id: &str,
    spec: &mut VideoSpec,
) -> Result<Option<Source>, ApiError> {
    let source = match &spec.source {
        None => return Ok(None),
        Some(SourceRef::Video(id)) => from_task(app, user_id, id).await?,
        Some(SourceRef::Upload(id)) => from_upload(app, &upload_key(user_id, id)).await?,
    };
    spec.duration = length_taken(spec, source.seconds)?;
    Ok(Some(source))
}

async fn from_task<A: Ports>(app: &A, user_id: &str, id: &str) -> Result<Source, ApiError> {
    let task = app
        .store()
        .get_task(id)
        .await?
        .filter(|t| t.user_id == user_id && t.deleted_at.is_none())
        .ok_or_else(|| ApiError::not_found("video").with_field("source"))?;
    let Some(video) = task
        .video
        .as_ref()
        .filter(|_| task.status == TaskStatus::Succeeded)
    else {
        let state = task.status.as_str();
        return Err(refused(
            "source_not_ready",
            format!("video {id} has no stored video (it is {state})"),
        ));
    };
    Ok(Source {
        key: video.key.clone(),
        seconds: video.duration_seconds.unwrap_or(f64::from(task.duration)),
        task: Some(task),
    })
}

async fn from_upload<A: Ports>(app: &A, key: &str) -> Result<Source, ApiError> {
    let bytes = fetch(app, key, MAX_VIDEO_BYTES).await?.ok_or_else(|| {
        let msg = "source.upload_id was not uploaded (or has expired)".to_string();
        refused("upload_not_found", msg)
    })?;
    if bytes.len() as u64 > MAX_VIDEO_BYTES {
        let msg = format!("the video must be at most {MAX_VIDEO_BYTES} bytes");
        return Err(refused("video_too_large", msg));
    }
    let facts = mp4_probe::probe(&bytes).map_err(|e| {
        refused(
            "invalid_video",
            format!("the upload is not a usable MP4/MOV video: {e}"),
        )
    })?;
    Ok(Source {
        task: None,
        key: key.to_string(),
        seconds: facts.duration_seconds,
    })
}

/// The request's voice (an audio upload, its length read from the file), with the task's length
/// taken from it unless a source video gives it (lip-sync: as long as the video). The kind's
/// input lengths bound the audio too (avatar 2-300 s, lip-sync 2-60 s).
pub(crate) async fn read_voice<A: Ports>(
    app: &A,
    user_id: &str,
    spec: &mut VideoSpec,
) -> Result<Option<Source>, ApiError> {
    let Some(id) = &spec.voice else {
        return Ok(None);
    };
    let key = upload_key(user_id, id);
    let refused = |code, message: String| ApiError::new(422, code, message).with_field("voice");
    let bytes = fetch(app, &key, MAX_AUDIO_BYTES).await?.ok_or_else(|| {
        let msg = "voice.upload_id was not uploaded (or has expired)".to_string();
        refused("upload_not_found", msg)
    })?;
    if bytes.len() as u64 > MAX_AUDIO_BYTES {
        let msg = format!("the audio must be at most {MAX_AUDIO_BYTES} bytes");
        return Err(refused("audio_too_large", msg));
    }
    let seconds = audio_probe::audio_seconds(&bytes).map_err(|e| {
        refused(
            "invalid_audio",
            format!("the upload is not usable audio: {e}"),
        )
    })?;
    let whole = seconds.ceil().max(0.0) as u32;
    catalogue::check_input_length(spec.video_type, whole, None).map_err(|e| {
        refused(
            "audio_duration",
            format!("{e} (this one is {seconds:.1} s)"),
        )
    })?;
    if spec.source.is_none() {
        spec.duration = whole;
    }
    Ok(Some(Source {
        task: None,
        key,
        seconds,
    }))
}

/// An upload's bytes (at most `max` + 1 of them), `None` when there is none.
async fn fetch<A: Ports>(app: &A, key: &str, max: u64) -> Result<Option<bytes::Bytes>, ApiError> {
    app.uploads().fetch(key, max).await.map_err(|e| {
        tracing::error!(error = %e, "reading an upload failed");
        ApiError::internal()
    })
}

/// The source's length in whole seconds, rounded up, when the kind takes it.
fn length_taken(spec: &VideoSpec, seconds: f64) -> Result<u32, ApiError> {
    let whole = seconds.ceil().max(0.0) as u32;
    catalogue::check_input_length(spec.video_type, whole, spec.orientation)
        .map(|()| whole)
        .map_err(|e| {
            refused(
                "source_duration",
                format!("{e} (this one is {seconds:.1} s)"),
            )
        })
}

/// The source by a URL of its file (every provider that takes these kinds takes a URL).
pub(crate) async fn attach_source<A: Ports>(
    app: &A,
    source: &Source,
    generation: &mut GenerationRequest,
) -> Result<(), ApiError> {
    let url = app
        .uploads()
        .presign_get(&source.key, SOURCE_URL_TTL)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "presigning the source video failed");
            ApiError::internal()
        })?;
    generation.source = Some(described(source, url));
    Ok(())
}

/// Once the provider is chosen: its own id for the video too, while it made and keeps it.
pub(crate) fn name_for_provider(source: &Source, generation: &mut GenerationRequest) {
    let Some(task) = &source.task else { return };
    let id = provider_video_id(task, &generation.provider, Timestamp::now());
    if let Some(taken) = generation.source.as_mut() {
        taken.provider_video_id = id.map(str::to_string);
    }
}

/// The voice by a URL of the upload.
pub(crate) async fn attach_voice<A: Ports>(
    app: &A,
    voice: &Source,
    generation: &mut GenerationRequest,
) -> Result<(), ApiError> {
    let url = app
        .uploads()
        .presign_get(&voice.key, SOURCE_URL_TTL)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "presigning the voice failed");
            ApiError::internal()
        })?;
    generation.voice = Some(AudioInput {
        url,
        duration_seconds: voice.seconds,
    });
    Ok(())
}

/// A stand-in voice with its real length (estimates).
pub(crate) fn voice_stand_in(voice: &Source) -> AudioInput {
    AudioInput {
        url: "https://example.com/voice.mp3".into(),
        duration_seconds: voice.seconds,
    }
}

/// A stand-in with the source's real length, for checks that need the shape only (estimates).
pub(crate) fn stand_in(source: &Source) -> SourceVideo {
    described(source, "https://example.com/video.mp4".into())
}

fn described(source: &Source, url: String) -> SourceVideo {
    SourceVideo {
        task_id: source.task.as_ref().map(|t| t.id.to_string()),
        made_by: source
            .task
            .as_ref()
            .map_or_else(String::new, |t| t.provider.clone()),
        provider_video_id: None,
        url: Some(url),
        duration_seconds: source.seconds,
    }
}
