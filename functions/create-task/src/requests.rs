//! From a validated request to the provider's generation request: images resolved to URLs the
//! provider can fetch, model and mode from the preset or the allowed override.

use std::time::Duration;

use shared::domain::images;
use shared::domain::validation::{ImageRef, VideoSpec};
use shared::edge::envelope::ApiError;
use shared::ports::UploadStore;
use shared::provider::{GenerationRequest, ModelChoice};

use crate::Ports;
use crate::uploads::upload_key;

/// How long the provider has to fetch an uploaded image.
const IMAGE_URL_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedImages {
    pub image: Option<String>,
    pub image_tail: Option<String>,
}

impl ResolvedImages {
    /// Stand-ins with the right presence, for checks that need the shape only (estimates).
    pub fn placeholders(spec: &VideoSpec) -> Self {
        let stand_in = |r: &Option<ImageRef>| {
            r.as_ref()
                .map(|_| "https://example.com/image.png".to_string())
        };
        Self {
            image: stand_in(&spec.image),
            image_tail: stand_in(&spec.image_tail),
        }
    }
}

/// The provider-neutral request for a validated spec, its model and its resolved images.
pub fn generation_request(
    spec: &VideoSpec,
    model: &ModelChoice,
    images: &ResolvedImages,
    callback_url: Option<String>,
    task_id: &str,
) -> GenerationRequest {
    GenerationRequest {
        image: images.image.clone(),
        image_tail: images.image_tail.clone(),
        callback_url,
        ..GenerationRequest::for_spec(spec, model.clone(), task_id)
    }
}

/// Uploaded images are checked by their bytes and handed to the provider as short-lived presigned
/// URLs; URL images must be https and public.
pub async fn resolve_images<A: Ports>(
    app: &A,
    user_id: &str,
    spec: &VideoSpec,
) -> Result<ResolvedImages, ApiError> {
    let mut out = ResolvedImages::default();
    for (field, image, slot) in [
        ("image", &spec.image, &mut out.image),
        ("image_tail", &spec.image_tail, &mut out.image_tail),
    ] {
        *slot = match image {
            None => None,
            Some(ImageRef::Url(url)) => Some(
                images::check_image_url(url, field, app.upload_policy().allow_loopback_urls)
                    .await?
                    .to_string(),
            ),
            Some(ImageRef::Upload(id)) => {
                let key = upload_key(user_id, id);
                let bytes = app
                    .uploads()
                    .fetch(&key, images::MAX_IMAGE_BYTES)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "reading an upload failed");
                        ApiError::internal()
                    })?
                    .ok_or_else(|| {
                        ApiError::new(
                            422,
                            "upload_not_found",
                            format!("{field}.upload_id was not uploaded (or has expired)"),
                        )
                        .with_field(field)
                    })?;
                let facts = images::inspect(&bytes, field)?;
                tracing::info!(
                    field,
                    width = facts.width,
                    height = facts.height,
                    "upload checked"
                );
                Some(
                    app.uploads()
                        .presign_get(&key, IMAGE_URL_TTL)
                        .await
                        .map_err(|e| {
                            tracing::error!(error = %e, "presigning an upload failed");
                            ApiError::internal()
                        })?,
                )
            }
        };
    }
    Ok(out)
}
