//! `POST /v1/uploads`: a presigned PUT for one JPEG or PNG (≤ 10 MB), bound to its declared
//! type and size, under `uploads/{user}/{upload_id}`.

use std::time::Duration;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::json;

use shared::domain::images::{ImageFormat, MAX_IMAGE_BYTES};
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

pub async fn create_upload<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let body: UploadBody = request::json_body(req)?;
    let format = body
        .content_type
        .as_ref()
        .and_then(|v| v.as_str())
        .and_then(ImageFormat::from_content_type)
        .ok_or_else(|| {
            ApiError::new(
                422,
                "unsupported_image_type",
                "content_type must be image/jpeg or image/png",
            )
            .with_field("content_type")
        })?;
    let bytes = body
        .bytes
        .as_ref()
        .and_then(|v| v.as_u64())
        .filter(|n| (1..=MAX_IMAGE_BYTES).contains(n))
        .ok_or_else(|| {
            ApiError::new(
                422,
                "image_too_large",
                format!("bytes must be the file size, from 1 to {MAX_IMAGE_BYTES}"),
            )
            .with_field("bytes")
        })?;
    let upload_id = uuid::Uuid::new_v4().to_string();
    let key = upload_key(&identity.user_id, &upload_id);
    let url = app
        .uploads()
        .presign_put(
            &key,
            format.content_type(),
            bytes,
            app.upload_policy().put_ttl,
        )
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
            "headers": {"content-type": format.content_type(), "content-length": bytes.to_string()},
            "expires_at": expires_at,
            "max_bytes": MAX_IMAGE_BYTES,
        }),
    ))
}
