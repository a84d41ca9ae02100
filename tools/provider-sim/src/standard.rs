//! The 2026 standard API (`docs/providers.md` §Standard API): `POST /text-to-video/{model}` and
//! `/image-to-video/{model}` with `{prompt | contents, settings, options}`, `GET /tasks` by ids
//! (an unknown id is simply absent), cursor listing with `POST /tasks`. API key only. Unknown
//! top-level fields are ignored and `duration` is not range-checked, as live.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::bodies::{image, opt_str};
use crate::capability::offers;
use crate::faults::CallKind;
use crate::routes::{Fail, admit_on, fail, injected, invalid, ok};
use crate::tasks::{CreateError, NewTask, SimState, Surface};
use crate::video::{Aspect, Resolution};

const MODELS: &[&str] = &[
    "kling-2.5-turbo",
    "kling-2.6",
    "kling-3.0",
    "kling-3.0-turbo",
];
const MAX_PROMPT_CHARS: usize = 3072;
/// The one model the standard API makes 4K with (its video is rendered at 1080p here).
const FOUR_K_MODEL: &str = "kling-3.0";
const MAX_IDS: usize = 20;

/// What a standard create asks for, read from `settings`.
struct Settings {
    /// std (720p) or pro (1080p, also the tier a 4K video's features are checked at).
    mode: String,
    /// `resolution: 4k` (Kling 3.0 only).
    four_k: bool,
    duration: u32,
    aspect: Aspect,
    sound: bool,
    multi_shot: bool,
}

fn settings(body: &Value, model: &str, t2v: bool) -> Result<Settings, Fail> {
    let s = body.get("settings").cloned().unwrap_or(json!({}));
    let (mode, four_k) = match opt_str(&s, "resolution")? {
        None | Some("720p") => ("std", false),
        Some("1080p") => ("pro", false),
        Some("4k") if model == FOUR_K_MODEL => ("pro", true),
        Some("4k") => return Err(invalid(format!("4k is not supported by {model}"))),
        Some(_) => return Err(invalid("settings.resolution must be 720p, 1080p or 4k")),
    };
    let duration = match s.get("duration") {
        None | Some(Value::Null) => 5,
        Some(v) => v
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| *d > 0)
            .ok_or_else(|| invalid("settings.duration must be an integer"))?,
    };
    let aspect = match (t2v, opt_str(&s, "aspect_ratio")?) {
        (true, Some(a)) => Aspect::parse(a)
            .ok_or_else(|| invalid("settings.aspect_ratio must be 16:9, 9:16 or 1:1"))?,
        _ => Aspect::Landscape,
    };
    let sound = match opt_str(&s, "audio")? {
        None | Some("off") => false,
        Some("native") => true,
        Some(_) => return Err(invalid("settings.audio must be native or off")),
    };
    if sound && !offers(model, "sound", mode) {
        return Err(invalid(format!(
            "native audio is not supported by {model} {mode}"
        )));
    }
    let multi_shot = s.get("multi_shot").and_then(Value::as_bool) == Some(true);
    Ok(Settings {
        mode: mode.into(),
        four_k,
        duration,
        aspect,
        sound,
        multi_shot,
    })
}

/// `shot n, m, words; ...`: each shot's length, when the prompt is written that way.
fn shots_in(prompt: &str) -> Option<Vec<u32>> {
    prompt
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|shot| {
            let rest = shot.strip_prefix("shot ")?;
            let mut parts = rest.splitn(3, ',');
            let (_n, m, words) = (parts.next()?, parts.next()?, parts.next()?);
            (words.trim().chars().count() <= 512).then_some(())?;
            m.trim().parse().ok()
        })
        .collect()
}

fn check_shots(model: &str, prompt: &str, s: &Settings) -> Result<(), Fail> {
    if !s.multi_shot {
        return Ok(());
    }
    if !offers(model, "multi-shot", "*") {
        return Err(invalid(format!("multi_shot is not supported by {model}")));
    }
    let ok = shots_in(prompt).is_some_and(|d| {
        (1..=6).contains(&d.len()) && !d.contains(&0) && d.iter().sum::<u32>() == s.duration
    });
    match ok {
        true => Ok(()),
        false => Err(invalid(
            "the prompt must be 1 to 6 shots 'shot n, m, words;' summing to the duration",
        )),
    }
}

/// The prompt and frames: top-level `prompt` for text-to-video, `contents[]` for image-to-video.
fn contents(body: &Value, model: &str, t2v: bool, s: &Settings) -> Result<String, Fail> {
    if t2v {
        let prompt = opt_str(body, "prompt")?.filter(|p| !p.trim().is_empty());
        let prompt = prompt.ok_or_else(|| invalid("prompt is required"))?;
        if prompt.chars().count() > MAX_PROMPT_CHARS {
            return Err(invalid("prompt must be at most 3072 characters"));
        }
        return Ok(prompt.to_string());
    }
    let items = body.get("contents").and_then(Value::as_array);
    let items = items.ok_or_else(|| invalid("contents is required"))?;
    let of = |ty: &'static str| {
        items
            .iter()
            .filter(move |c| c.get("type").and_then(Value::as_str) == Some(ty))
    };
    let prompt = of("prompt")
        .find_map(|c| c.get("text").and_then(Value::as_str))
        .unwrap_or("");
    if of("first_frame").next().is_none() {
        return Err(invalid("contents needs a first_frame"));
    }
    for frame in of("first_frame").chain(of("last_frame")) {
        image(frame, "url")?.ok_or_else(|| invalid("contents[].url is required"))?;
    }
    if of("last_frame").next().is_some() && !offers(model, "start-end", &s.mode) {
        return Err(invalid(format!(
            "last_frame is not supported by {model} {}",
            s.mode
        )));
    }
    let elements = of("element").count();
    if elements > 0 && (!offers(model, "elements", "*") || elements > 3) {
        return Err(invalid(format!(
            "at most 3 elements, on models that take them ({model})"
        )));
    }
    Ok(prompt.to_string())
}

fn new_task(body: &Value, model: &str, t2v: bool) -> Result<NewTask, Fail> {
    if !body.is_object() {
        return Err(fail(400, 1200, "request body must be a JSON object"));
    }
    let kind = if t2v { "text2video" } else { "image2video" };
    let feature = if t2v { "t2v" } else { "i2v" };
    let s = settings(body, model, t2v)?;
    if !offers(model, feature, &s.mode) {
        return Err(invalid(format!("{kind} is not supported by {model}")));
    }
    let prompt = contents(body, model, t2v, &s)?;
    check_shots(model, &prompt, &s)?;
    let options = body.get("options").cloned().unwrap_or(json!({}));
    let callback_url = opt_str(&options, "callback_url")?.map(str::to_string);
    if callback_url
        .as_deref()
        .is_some_and(|u| !u.starts_with("http://") && !u.starts_with("https://"))
    {
        return Err(invalid("options.callback_url must be an http(s) URL"));
    }
    Ok(NewTask {
        surface: Surface::Standard,
        request: body.clone(),
        // Billed by it: 4K has its own rate.
        mode: if s.four_k {
            "4k".into()
        } else {
            s.mode.clone()
        },
        sound: s.sound,
        kind,
        external_task_id: opt_str(&options, "external_task_id")?
            .filter(|e| !e.is_empty())
            .map(str::to_string),
        prompt,
        model: model.to_string(),
        duration: s.duration,
        aspect: s.aspect,
        resolution: if s.mode == "pro" {
            Resolution::P1080
        } else {
            Resolution::P720
        },
        callback_url,
        parent: None,
    })
}

/// The standard API's products this emulator serves.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Product {
    Text,
    Image,
    Motion,
    Omni,
}

pub async fn create_text(
    state: State<Arc<SimState>>,
    model: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(state, model, headers, body, Product::Text).await
}

/// `POST /motion-control/{kling-3.0|kling-2.6}`.
pub async fn create_motion(
    state: State<Arc<SimState>>,
    model: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(state, model, headers, body, Product::Motion).await
}

/// `POST /omni-video/kling-3.0-omni` (edits: a base video).
pub async fn create_omni(
    state: State<Arc<SimState>>,
    model: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(state, model, headers, body, Product::Omni).await
}

pub async fn create_image(
    state: State<Arc<SimState>>,
    model: Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    create(state, model, headers, body, Product::Image).await
}

async fn create(
    State(state): State<Arc<SimState>>,
    Path(model): Path<String>,
    headers: HeaderMap,
    body: Bytes,
    product: Product,
) -> Response {
    let result = async {
        let account = admit_on(&state, &headers, CallKind::Create, Surface::Standard).await?;
        let models = match product {
            Product::Motion => crate::motion::STANDARD_MODELS,
            Product::Omni => crate::omni::MODELS,
            _ => MODELS,
        };
        if !models.contains(&model.as_str()) {
            return Err(fail(404, 1203, format!("model {model} does not exist")));
        }
        let body: Value = serde_json::from_slice(&body).map_err(|_| fail(400, 1200, "request body is not valid JSON"))?;
        let new = match product {
            Product::Motion => crate::motion::standard_task(&state, &body, &model).await?,
            Product::Omni => crate::omni::standard_task(&state, &body, &model).await?,
            _ => new_task(&body, &model, product == Product::Text)?,
        };
        let task = match state.create(new, &account) {
            Ok(task) => task,
            Err(CreateError::DuplicateExternalId) => return Err(invalid("external_task_id must be unique per account")),
            Err(CreateError::ConcurrencyLimit) => return Err(injected(1303)),
        };
        if let Some(hang) = state.take_create_hang() {
            tokio::time::sleep(hang).await;
        }
        if state.take_fail_after_storing() {
            return Err(injected(5000));
        }
        Ok(ok(json!({"id": task.task_id, "status": "submitted", "create_time": task.created_at,
            "update_time": task.updated_at, "external_id": task.external_task_id.unwrap_or_default()})))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(serde::Deserialize)]
pub struct TaskIds {
    task_ids: Option<String>,
    external_task_ids: Option<String>,
}

/// `GET /tasks?task_ids=a,b` or `?external_task_ids=...` (not both, at most 20).
pub async fn query(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<TaskIds>,
) -> Response {
    let result = async {
        let account = admit_on(&state, &headers, CallKind::Query, Surface::Standard).await?;
        let (raw, external) = match (q.task_ids.as_deref(), q.external_task_ids.as_deref()) {
            (Some(ids), None) => (ids, false),
            (None, Some(ids)) => (ids, true),
            _ => return Err(invalid("give task_ids or external_task_ids, not both")),
        };
        let ids: Vec<&str> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if ids.is_empty() || ids.len() > MAX_IDS {
            return Err(invalid("between 1 and 20 ids"));
        }
        let mut found = state.find_many(&ids, external);
        found.retain(|t| t.account == account);
        Ok(ok(Value::Array(
            found
                .iter()
                .map(|t| t.to_standard_json(&state.base_url))
                .collect(),
        )))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /tasks {cursor, limit ≤ 500, filters}`: newest first; the cursor is an offset.
pub async fn list(State(state): State<Arc<SimState>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        admit_on(&state, &headers, CallKind::List, Surface::Standard).await?;
        let body: Value = serde_json::from_slice(&body).unwrap_or(json!({}));
        let limit = body.get("limit").and_then(Value::as_u64).unwrap_or(100) as usize;
        if !(1..=500).contains(&limit) {
            return Err(invalid("limit must be in [1, 500]"));
        }
        let start = match opt_str(&body, "cursor")? {
            None | Some("") => 0,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| invalid("cursor is not valid"))?,
        };
        let statuses: Vec<String> = body["filters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["key"] == "status")
            .flat_map(|f| f["values"].as_array().cloned().unwrap_or_default())
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        let all: Vec<Value> = state
            .all()
            .iter()
            .rev()
            .map(|t| t.to_standard_json(&state.base_url))
            .filter(|t| statuses.is_empty() || statuses.iter().any(|s| t["status"] == s.as_str()))
            .collect();
        let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
        let next = start + page.len();
        let has_more = next < all.len();
        Ok(ok(
            json!({"result": page, "count": all.len(), "has_more": has_more,
            "next_cursor": if has_more { next.to_string() } else { String::new() }}),
        ))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shots_are_read_from_the_prompt() {
        assert_eq!(
            shots_in("shot 1, 4, a door; shot 2, 6, a cat;"),
            Some(vec![4, 6])
        );
        assert_eq!(shots_in("a plain prompt"), None);
    }
}
