//! Templates and prompt parts, turned into the prompt before validation sees the body: the
//! same frame composes both, so a structured form and an operator's template give prompts of
//! one shape. `GET /v1/templates` lists what the caller's plan may use.

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::domain::task::TemplateUse;
use shared::domain::templates::{
    VideoTemplate, check_fields, compose, fill, parse_parts, parse_request, pick,
};
use shared::domain::timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response};
use shared::ports::{Accounts, TemplateStore};

use crate::Ports;

/// The body validation sees, and the template version that made its prompt.
pub struct Composed {
    pub body: Value,
    pub template: Option<(VideoTemplate, TemplateUse)>,
}

fn given<'a>(raw: &'a Value, name: &str) -> Option<&'a Value> {
    raw.get(name).filter(|v| !v.is_null())
}

/// The shipped versions and the published ones; a shipped version wins over a table item that
/// claims its number (a published version never changes).
pub async fn all_versions<S: TemplateStore>(
    store: &S,
    shipped: &[VideoTemplate],
) -> Result<Vec<VideoTemplate>, ApiError> {
    let mut all = shipped.to_vec();
    for t in store.published_templates().await.map_err(ApiError::from)? {
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

fn unknown(id: &str) -> ApiError {
    ApiError::new(
        422,
        "unknown_template",
        format!("no template {id} is available"),
    )
    .with_field("template.id")
}

/// One way to say what the video shows: `prompt`, `prompt_parts` or `template`.
pub async fn compose_prompt<S: TemplateStore>(
    store: &S,
    shipped: &[VideoTemplate],
    raw: &Value,
) -> Result<Composed, ApiError> {
    let ways: Vec<&str> = ["prompt", "prompt_parts", "template"]
        .into_iter()
        .filter(|w| given(raw, w).is_some())
        .collect();
    if let [_, second, ..] = ways.as_slice() {
        return Err(ApiError::new(
            422,
            "conflicting_prompt",
            "give one of prompt, prompt_parts and template",
        )
        .with_field(*second));
    }
    let mut body = raw.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("prompt_parts");
        map.remove("template");
    }
    if let Some(parts) = given(raw, "prompt_parts") {
        body["prompt"] = json!(compose(&parse_parts(parts)?));
    }
    let Some(requested) = given(raw, "template") else {
        return Ok(Composed {
            body,
            template: None,
        });
    };
    let req = parse_request(requested)?;
    let versions: Vec<VideoTemplate> = all_versions(store, shipped)
        .await?
        .into_iter()
        .filter(|t| t.id == req.id)
        .collect();
    let t = pick(&versions, req.version)
        .ok_or_else(|| unknown(&req.id))?
        .clone();
    let values = check_fields(&t, &req.fields)?;
    body["prompt"] = json!(compose(&fill(&t, &values)));
    if let (None, Some(negative)) = (given(raw, "negative_prompt"), &t.negative_prompt) {
        body["negative_prompt"] = json!(negative);
    }
    let used = TemplateUse {
        id: t.id.clone(),
        version: t.version,
        fields: values.into_iter().collect(),
    };
    Ok(Composed {
        body,
        template: Some((t, used)),
    })
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
    let account = app
        .store()
        .account(&identity.user_id, &day)
        .await
        .map_err(ApiError::from)?;
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
        "cacheable": t.cache_ttl_seconds.is_some(),
    })
}
