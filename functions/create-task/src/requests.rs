//! From a validated request to the exact Kling request: images resolved to URLs Kling can
//! fetch, model and mode from the preset or the allowed override.

use std::time::Duration;

use shared::envelope::ApiError;
use shared::images;
use shared::kling::{
    Deadline, Image2VideoRequest, ImageInput, KlingError, KlingTask, Text2VideoRequest, capability,
};
use shared::ports::{TaskStore, UploadStore, VideoProvider};
use shared::task::VideoType;
use shared::validation::{ImageRef, VideoSpec};

use crate::App;
use crate::uploads::upload_key;

/// How long Kling has to fetch an uploaded image.
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

#[derive(Debug, Clone, PartialEq)]
pub enum KlingRequest {
    Text(Text2VideoRequest),
    Image(Image2VideoRequest),
}

impl KlingRequest {
    pub fn build(
        spec: &VideoSpec,
        model: &str,
        mode: &str,
        images: &ResolvedImages,
        callback_url: String,
        task_id: &str,
    ) -> Self {
        let callback_url = (!callback_url.is_empty()).then_some(callback_url);
        let external_task_id = (!task_id.is_empty()).then(|| task_id.to_string());
        match spec.video_type {
            VideoType::TextToVideo => KlingRequest::Text(Text2VideoRequest {
                model_name: model.to_string(),
                prompt: spec.prompt.clone().unwrap_or_default(),
                negative_prompt: Some(spec.negative_prompt.clone()),
                cfg_scale: spec.cfg_scale,
                mode: mode.to_string(),
                camera_control: spec.camera_control.clone(),
                aspect_ratio: spec
                    .aspect_ratio
                    .map(|a| a.as_str())
                    .unwrap_or("16:9")
                    .to_string(),
                duration: spec.duration.to_string(),
                callback_url,
                external_task_id,
            }),
            VideoType::ImageToVideo => KlingRequest::Image(Image2VideoRequest {
                model_name: model.to_string(),
                image: images.image.clone().map(ImageInput::Url),
                image_tail: images.image_tail.clone().map(ImageInput::Url),
                prompt: spec.prompt.clone(),
                negative_prompt: Some(spec.negative_prompt.clone()),
                cfg_scale: spec.cfg_scale,
                mode: mode.to_string(),
                static_mask: None,
                dynamic_masks: None,
                camera_control: spec.camera_control.clone(),
                duration: spec.duration.to_string(),
                callback_url,
                external_task_id,
            }),
        }
    }

    /// Kling's capability map, before any money moves.
    pub fn check(&self) -> Result<(), KlingError> {
        match self {
            KlingRequest::Text(r) => capability::check_text2video(r),
            KlingRequest::Image(r) => capability::check_image2video(r),
        }
    }

    pub async fn submit<P: VideoProvider>(
        &self,
        provider: &P,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        match self {
            KlingRequest::Text(r) => provider.submit_text2video(r, deadline).await,
            KlingRequest::Image(r) => provider.submit_image2video(r, deadline).await,
        }
    }
}

/// Uploaded images are checked by their bytes and handed to Kling as short-lived presigned
/// URLs; URL images must be https and public.
pub async fn resolve_images<S: TaskStore, P, U: UploadStore>(
    app: &App<S, P, U>,
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
                images::check_image_url(url, field, app.upload_policy.allow_loopback_urls)
                    .await?
                    .to_string(),
            ),
            Some(ImageRef::Upload(id)) => {
                let key = upload_key(user_id, id);
                let bytes = app
                    .uploads
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
                    app.uploads
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
