//! Templates and prompt parts, turned into the prompt before validation sees the body: the
//! same frame composes both, so a structured form and an operator's template give prompts of
//! one shape. `GET /v1/templates` lists what the caller's plan may use.

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::domain::task::TemplateUse;
use shared::domain::templates::{VideoTemplate, check_fields, compose, fill, pick};
use shared::domain::timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response};
use shared::ports::{Accounts, TemplateStore};

use crate::Ports;
use crate::body::{CreateRequest, PromptFrom};

/// The shipped versions and the published ones; a shipped version wins over a table item that
/// claims its number (a published version never changes).
pub async fn all_versions<S: TemplateStore>(
    store: &S,
    shipped: &[VideoTemplate],
) -> Result<Vec<VideoTemplate>, ApiError> {
    let mut all = shipped.to_vec();
    for t in store.published_templates().await? {
        // A table item whose slots and frame disagree would make broken prompts: left out.
        if let Err(e) = shared::domain::templates::check_template(&t) {
            tracing::error!(error = %e, "published template version ignored");
            continue;
        }
        if !all.iter().any(|s| s.id == t.id && s.version == t.version) {
            all.push(t);
        }
    }
    Ok(all)
}

/// An upgrade re-runs a task made from a template: that version's own limits (its plans,
/// qualities and durations) hold for the new quality as they did for the draft.
pub async fn check_reuse<S: TemplateStore>(
    store: &S,
    shipped: &[VideoTemplate],
    used: &TemplateUse,
    plan: &str,
    spec: &shared::domain::validation::VideoSpec,
) -> Result<(), ApiError> {
    let versions = all_versions(store, shipped).await?;
    let same_id: Vec<VideoTemplate> = versions.into_iter().filter(|t| t.id == used.id).collect();
    let t = pick(&same_id, Some(used.version)).ok_or_else(|| unknown(&used.id))?;
    check_plan(t, plan)?;
    shared::domain::templates::check_settings(t, spec.quality, spec.duration)
}

fn unknown(id: &str) -> ApiError {
    ApiError::new(
        422,
        "unknown_template",
        format!("no template {id} is available"),
    )
    .with_field("template.id")
}

/// The prompt the request's one way of giving it makes: `prompt` as sent, composed parts, or a
/// published template version filled with the caller's fields (whose negative prompt applies
/// when the request gives none). The version used is returned for the task's record.
pub async fn compose_prompt<S: TemplateStore>(
    store: &S,
    shipped: &[VideoTemplate],
    request: &mut CreateRequest,
) -> Result<Option<(VideoTemplate, TemplateUse)>, ApiError> {
    let requested = match &request.prompt_from {
        PromptFrom::Text => return Ok(None),
        PromptFrom::Parts(parts) => {
            request.video.prompt = Some(json!(compose(parts)));
            return Ok(None);
        }
        PromptFrom::Template(requested) => requested,
    };
    let versions: Vec<VideoTemplate> = all_versions(store, shipped)
        .await?
        .into_iter()
        .filter(|t| t.id == requested.id)
        .collect();
    let t = pick(&versions, requested.version)
        .ok_or_else(|| unknown(&requested.id))?
        .clone();
    let values = check_fields(&t, &requested.fields)?;
    target_kind(&t, request)?;
    if t.kind != Some(shared::domain::task::VideoType::Effect) {
        request.video.prompt = Some(json!(compose(&fill(&t, &values))));
    }
    let no_negative = request
        .video
        .negative_prompt
        .as_ref()
        .is_none_or(Value::is_null);
    if let (true, Some(negative)) = (no_negative, &t.negative_prompt) {
        request.video.negative_prompt = Some(json!(negative));
    }
    let used = TemplateUse {
        id: t.id.clone(),
        version: t.version,
        fields: values.into_iter().collect(),
    };
    Ok(Some((t, used)))
}

/// A template that targets a kind sets the request's `type` (and an effect template its
/// `scene`); a request that names another kind, or its own scene, is refused.
fn target_kind(t: &VideoTemplate, request: &mut CreateRequest) -> Result<(), ApiError> {
    let Some(kind) = t.kind else { return Ok(()) };
    let given = request.video.video_type.as_ref().filter(|v| !v.is_null());
    let other_kind = given.is_some_and(|v| v.as_str() != Some(kind.as_str()));
    let own_scene = request.video.scene.as_ref().is_some_and(|v| !v.is_null());
    if other_kind || own_scene {
        let field = if other_kind { "type" } else { "scene" };
        return Err(ApiError::new(
            422,
            "template_kind_mismatch",
            format!(
                "template {} makes {} videos{}; leave {field} out",
                t.id,
                kind.as_str(),
                t.scene
                    .as_deref()
                    .map(|s| format!(" ({s})"))
                    .unwrap_or_default()
            ),
        )
        .with_field(field));
    }
    request.video.video_type = Some(json!(kind.as_str()));
    request.video.scene = t.scene.as_ref().map(|s| json!(s));
    Ok(())
}

/// A template is for the plans it names only; to others it does not exist.
pub fn check_plan(t: &VideoTemplate, plan: &str) -> Result<(), ApiError> {
    if t.allows_plan(plan) {
        Ok(())
    } else {
        Err(unknown(&t.id))
    }
}

/// `GET /v1/templates`: the newest version of each template the caller's plan may use.
pub async fn list<A: Ports>(app: &A, identity: &Identity) -> Result<Response<Body>, ApiError> {
    let day = timestamp::utc_day(timestamp::now());
    let account = app.store().account(&identity.user_id, &day).await?;
    let (plan, _) = app
        .plans()
        .resolve(account.plan.as_deref(), identity.plan_hint.as_deref());
    let all = all_versions(app.store(), app.templates()).await?;
    let mut ids: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let items: Vec<Value> = ids
        .into_iter()
        .filter_map(|id| {
            let versions: Vec<VideoTemplate> = all.iter().filter(|t| t.id == id).cloned().collect();
            pick(&versions, None)
                .filter(|t| t.allows_plan(plan))
                .map(view)
        })
        .collect();
    Ok(json_response(200, &json!({ "items": items })))
}

fn view(t: &VideoTemplate) -> Value {
    json!({
        "id": t.id, "version": t.version, "name": t.name, "description": t.description,
        "slots": t.slots, "frame": t.frame, "qualities": t.qualities, "durations": t.durations,
        "kind": t.kind, "scene": t.scene,
        "cacheable": t.cache_ttl_seconds.is_some(),
    })
}
