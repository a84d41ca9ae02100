//! Draft to final: `POST /v1/videos/{id}/upgrade` re-runs a finished task's exact request —
//! prompt, template version, seed, images, settings — at a higher quality, as a new task
//! priced and charged at that quality. The draft stays as it is.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::domain::task::{Quality, Task, TaskStatus};
use shared::domain::timestamp;
use shared::domain::validation::{ImageRef, VideoSpec};
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response};
use shared::edge::view::task_view;
use shared::ports::{Admission, DispatchNudge, Tasks};
use shared::provider::GenerationRequest;

use crate::{NewTask, Ports, Recorded, admit, priced, record_task, replay};

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct UpgradeBody {
    quality: Option<Quality>,
}

/// The quality asked for: `pro` unless the body names another.
fn target_quality(req: &Request) -> Result<Quality, ApiError> {
    let raw = shared::edge::request::body_bytes(req, 4096)?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(Quality::Pro);
    }
    let body: UpgradeBody = serde_json::from_slice(raw)
        .map_err(|e| ApiError::malformed(format!("invalid request body: {e}")))?;
    Ok(body.quality.unwrap_or(Quality::Pro))
}

/// An image the provider fetched: one of the caller's uploads is checked and signed again (its
/// earlier link has expired); any other URL is asked for as it was.
fn image_ref(url: &str, user_id: &str) -> ImageRef {
    let prefix = format!("/uploads/{user_id}/");
    let path = url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    match path.find(&prefix).map(|at| &path[at + prefix.len()..]) {
        Some(id) if !id.is_empty() && !id.contains('/') => ImageRef::Upload(id.to_string()),
        _ => ImageRef::Url(url.to_string()),
    }
}

/// The source's request as a spec, at the new quality.
pub fn spec_of(request: &GenerationRequest, user_id: &str, quality: Quality) -> VideoSpec {
    VideoSpec {
        video_type: request.kind,
        prompt: request.prompt.clone(),
        negative_prompt: request.negative_prompt.clone().unwrap_or_default(),
        duration: request.duration_seconds,
        aspect_ratio: request.aspect_ratio,
        quality,
        model_override: None,
        cfg_scale: request.cfg_scale,
        image: request.image.as_deref().map(|u| image_ref(u, user_id)),
        image_tail: request.image_tail.as_deref().map(|u| image_ref(u, user_id)),
        camera_control: request.camera,
        audio: request.audio,
        shots: request.shots.clone(),
        seed: request.seed,
        element_ids: request.elements.clone(),
        scene: request.scene.clone(),
        music_prompt: request.music_prompt.clone(),
        source: None,
        orientation: request.orientation,
        voice: None,
        four_k: request.four_k,
    }
}

fn cannot(message: &str) -> ApiError {
    ApiError::new(409, "cannot_upgrade", message.to_string())
}

/// The caller's finished task, and the request it ran.
async fn source<A: Ports>(
    app: &A,
    identity: &Identity,
    id: &str,
    quality: Quality,
) -> Result<(Task, GenerationRequest), ApiError> {
    let task = app.store().get_task(id).await?;
    let task = task
        .filter(|t| t.user_id == identity.user_id)
        .ok_or_else(|| ApiError::not_found("task"))?;
    if task.status != TaskStatus::Succeeded {
        return Err(cannot("only a finished video can be upgraded"));
    }
    // A job on a video re-runs on that video, which may be gone (uploads expire).
    if task
        .request
        .as_ref()
        .is_some_and(|r| r.source.is_some() || r.voice.is_some())
    {
        return Err(cannot(
            "a job made from an uploaded or earlier input cannot be upgraded",
        ));
    }
    if quality <= task.quality {
        return Err(ApiError::new(
            422,
            "invalid_quality",
            "an upgrade asks for a higher quality than the video has",
        )
        .with_field("quality"));
    }
    let request = task
        .request
        .clone()
        .ok_or_else(|| cannot("this video was not made from a request that can be re-run"))?;
    Ok((task, request))
}

pub async fn upgrade<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let key = crate::idempotency_key(req)?;
    let quality = target_quality(req)?;
    let hash = crate::request_hash(&json!({"upgrade": id, "quality": quality}));
    let now = timestamp::now();
    let day = timestamp::utc_day(now);
    let (account, existing) = app.store().admission(&identity.user_id, &day, &key).await?;
    if let Some(existing) = existing {
        return replay(app, &existing, &hash).await;
    }
    let (draft, request) = source(app, identity, id, quality).await?;
    let spec = spec_of(&request, identity.user_id.as_str(), quality);
    let p = priced(app, identity, &account, &spec);
    if let Some(used) = &draft.template {
        crate::templates::check_reuse(app.store(), app.templates(), used, p.plan_name, &spec)
            .await?;
    }
    let moderation_key = crate::request_hash(&json!([key, hash]));
    admit(app, identity, &p, &spec, &account, now, &moderation_key).await?;
    let new = NewTask {
        spec: &spec,
        template: draft.template.as_ref(),
        group: None,
        upgraded_from: Some(&draft.id),
        source: None,
        voice: None,
        key: &key,
        hash: &hash,
    };
    let task = match record_task(app, req, identity, &p, &account, now, &new).await? {
        Recorded::New(task) => *task,
        Recorded::KeyExists(existing) => return replay(app, &existing, &hash).await,
    };
    if let Err(e) = app.dispatch().nudge(std::time::Duration::ZERO).await {
        tracing::warn!(error = %e, "could not wake the dispatcher; its schedule will");
    }
    tracing::info!(task_id = %task.id, draft = %draft.id, "upgrade recorded");
    Ok(json_response(
        202,
        &task_view(&task, None, timestamp::now()),
    ))
}
