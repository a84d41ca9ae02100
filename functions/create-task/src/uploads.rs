//! `POST /v1/uploads`: a presigned PUT for one JPEG or PNG (≤ 10 MB), one MP4/MOV video
//! (≤ 100 MB) or one MP3/WAV/M4A/AAC audio (≤ 5 MB), bound to its declared type and size, under `uploads/{user}/{upload_id}`. The
//! bytes are checked when a request uses them (a real image; a real video, its length read).

use std::time::Duration;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

use shared::domain::images::{ImageFormat, MAX_IMAGE_BYTES};
use shared::domain::source::{MAX_AUDIO_BYTES, MAX_VIDEO_BYTES};
use shared::domain::timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response};
use shared::edge::request;
use shared::ports::UploadStore;
use shared::runtime::config::{ConfigError, Source};

use crate::Ports;

#[derive(Debug, Clone)]
pub struct UploadPolicy {
    pub put_ttl: Duration,
    /// Local stack only: image URLs on loopback (provider-sim) are allowed.
    pub allow_loopback_urls: bool,
}

impl UploadPolicy {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            put_ttl: Duration::from_secs(src.parsed("UPLOAD_URL_TTL_SECONDS", 600)?),
            allow_loopback_urls: src.parsed("IMAGE_URL_ALLOW_LOOPBACK", false)?,
        })
    }
}

pub fn upload_key(user_id: &str, upload_id: &str) -> String {
    format!("uploads/{user_id}/{upload_id}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadBody {
    content_type: Option<serde_json::Value>,
    bytes: Option<serde_json::Value>,
}

/// The videos a kind can take as its source (`docs/providers.md` §Job kinds: mp4 and mov).
const VIDEO_TYPES: [&str; 2] = ["video/mp4", "video/quicktime"];

/// The audio an avatar can speak (mp3, wav, m4a, aac).
const AUDIO_TYPES: [&str; 5] = [
    "audio/mpeg",
    "audio/wav",
    "audio/x-wav",
    "audio/mp4",
    "audio/aac",
];

/// The declared type, and the largest file of that type.
fn media(body: &UploadBody) -> Result<(&'static str, u64), ApiError> {
    let declared = body.content_type.as_ref().and_then(|v| v.as_str());
    if let Some(format) = declared.and_then(ImageFormat::from_content_type) {
        return Ok((format.content_type(), MAX_IMAGE_BYTES));
    }
    if let Some(video) = VIDEO_TYPES.iter().find(|t| Some(**t) == declared) {
        return Ok((video, MAX_VIDEO_BYTES));
    }
    if let Some(audio) = AUDIO_TYPES.iter().find(|t| Some(**t) == declared) {
        return Ok((audio, MAX_AUDIO_BYTES));
    }
    Err(ApiError::new(
        422,
        "unsupported_image_type",
        "content_type must be image/jpeg, image/png, video/mp4, video/quicktime, audio/mpeg, audio/wav, audio/x-wav, audio/mp4 or audio/aac",
    )
    .with_field("content_type"))
}

pub async fn create_upload<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let body: UploadBody = request::json_body(req)?;
    let (content_type, max) = media(&body)?;
    let bytes = body
        .bytes
        .as_ref()
        .and_then(|v| v.as_u64())
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            let code = match max {
                MAX_IMAGE_BYTES => "image_too_large",
                MAX_AUDIO_BYTES => "audio_too_large",
                _ => "video_too_large",
            };
            ApiError::new(
                422,
                code,
                format!("bytes must be the file size, from 1 to {max}"),
            )
            .with_field("bytes")
        })?;
    let upload_id = uuid::Uuid::new_v4().to_string();
    let key = upload_key(&identity.user_id, &upload_id);
    let url = app
        .uploads()
        .presign_put(&key, content_type, bytes, app.upload_policy().put_ttl)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "presigning an upload failed");
            ApiError::internal()
        })?;
    let expires_at = timestamp::rfc3339(timestamp::now() + app.upload_policy().put_ttl);
    Ok(json_response(
        201,
        &json!({
            "upload_id": upload_id,
            "url": url,
            "method": "PUT",
            "headers": {"content-type": content_type, "content-length": bytes.to_string()},
            "expires_at": expires_at,
            "max_bytes": max,
        }),
    ))
}
