//! HTTP routes: create, query (by task_id or external_task_id) and list for text2video and
//! image2video; result videos; the control and stats endpoints.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::auth::{self, Credentials};
use crate::capability::{RETIRED, known_model, supports, takes_cfg_scale};
use crate::faults::{CallKind, Faults, http_status_for, message_for};
use crate::tasks::{CreateError, NewTask, SimState, Surface, now_ms};
use crate::video::{Aspect, Resolution};

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/videos/{kind}", get(list).post(create))
        .route("/text-to-video/{model}", post(crate::standard::create_text))
        .route(
            "/image-to-video/{model}",
            post(crate::standard::create_image),
        )
        .route(
            "/tasks",
            get(crate::standard::query).post(crate::standard::list),
        )
        .route("/_sim/tasks", get(records))
        .route("/v1/videos/{kind}/{id}", get(query))
        .route("/videos/{task_id}/output.mp4", get(video))
        .route("/_sim/stats", get(stats))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .with_state(state)
}

/// A Kling error answer: HTTP status, business code, message.
pub(crate) struct Fail {
    status: u16,
    code: i64,
    message: String,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({"code": self.code, "message": self.message, "request_id": uuid::Uuid::new_v4().to_string()});
        (status, axum::Json(body)).into_response()
    }
}

pub(crate) fn fail(status: u16, code: i64, message: impl Into<String>) -> Fail {
    Fail {
        status,
        code,
        message: message.into(),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> Fail {
    fail(400, 1201, message)
}

pub(crate) fn injected(code: i64) -> Fail {
    fail(http_status_for(code), code, message_for(code))
}

pub(crate) fn ok(data: Value) -> Response {
    let body = json!({"code": 0, "message": "SUCCEED", "request_id": uuid::Uuid::new_v4().to_string(), "data": data});
    (StatusCode::OK, axum::Json(body)).into_response()
}

fn kind_of(segment: &str) -> Result<&'static str, Fail> {
    match segment {
        "text2video" => Ok("text2video"),
        "image2video" => Ok("image2video"),
        _ => Err(fail(404, 1203, "requested resource does not exist")),
    }
}

/// Authentication, then injected latency and errors: what every legacy API call goes through.
async fn admit(state: &SimState, headers: &HeaderMap, call: CallKind) -> Result<(), Fail> {
    admit_on(state, headers, call, Surface::Legacy).await
}

/// The same for either surface: the standard API takes only the API key (no JWT).
pub(crate) async fn admit_on(
    state: &SimState,
    headers: &HeaderMap,
    call: CallKind,
    surface: Surface,
) -> Result<(), Fail> {
    let creds = Credentials {
        access_key: &state.config.access_key,
        secret_key: &state.config.secret_key,
        api_key: state.config.api_key.as_deref(),
    };
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (inject, latency) = state.on_call(call);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match surface {
        Surface::Legacy => auth::check(header, &creds, state.now_secs()),
        Surface::Standard => auth::check_api_key(header, creds.api_key),
    }
    .map_err(|(code, msg)| fail(401, code, msg))?;
    match inject {
        Some(code) => Err(injected(code)),
        None => Ok(()),
    }
}

pub(crate) fn opt_str<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, Fail> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
    }
}

pub(crate) fn text(body: &Value, field: &str) -> Result<Option<String>, Fail> {
    match opt_str(body, field)? {
        Some(s) if s.chars().count() > 2500 => {
            Err(invalid(format!("{field} must be at most 2500 characters")))
        }
        other => Ok(other.map(str::to_string)),
    }
}

pub(crate) fn image(body: &Value, field: &str) -> Result<Option<String>, Fail> {
    match opt_str(body, field)? {
        Some(s) if s.starts_with("data:") => Err(invalid(format!(
            "{field}: base64 must not include a data: prefix"
        ))),
        Some("") => Err(invalid(format!("{field} is empty"))),
        other => Ok(other.map(str::to_string)),
    }
}

/// The fields both kinds share, checked against the capability map.
struct Common {
    model: String,
    mode: String,
    duration: u32,
}

fn common(body: &Value) -> Result<Common, Fail> {
    let model = opt_str(body, "model_name")?
        .unwrap_or("kling-v1")
        .to_string();
    if RETIRED.contains(&model.as_str()) {
        return Err(invalid(format!(
            "model_name {model} is no longer available"
        )));
    }
    if !known_model(&model) {
        return Err(fail(
            404,
            1203,
            format!("model_name {model} does not exist"),
        ));
    }
    let mode = opt_str(body, "mode")?.unwrap_or("std").to_string();
    if !matches!(mode.as_str(), "std" | "pro") {
        return Err(invalid("mode must be std or pro"));
    }
    let duration = match opt_str(body, "duration")? {
        None => 5,
        Some(d) => d
            .parse::<u32>()
            .map_err(|_| invalid("duration must be a string such as \"5\""))?,
    };
    match body.get("cfg_scale") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => {
                if !takes_cfg_scale(&model) {
                    return Err(invalid(format!("cfg_scale is not supported by {model}")));
                }
            }
            _ => return Err(invalid("cfg_scale must be a number in [0, 1]")),
        },
    }
    text(body, "negative_prompt")?;
    if let Some(url) = opt_str(body, "callback_url")?
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(invalid("callback_url must be an http(s) URL"));
    }
    opt_str(body, "external_task_id")?;
    Ok(Common {
        model,
        mode,
        duration,
    })
}

fn require(model: &str, feature: &str, label: &str, c: &Common) -> Result<(), Fail> {
    if supports(model, feature, &c.mode, c.duration) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{label} is not supported by {model} {} {}s",
            c.mode, c.duration
        )))
    }
}

fn camera(body: &Value) -> Result<Option<&str>, Fail> {
    let Some(cam) = body.get("camera_control").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let ty = cam.get("type").and_then(Value::as_str).unwrap_or("");
    let config = cam.get("config").filter(|v| !v.is_null());
    match (ty, config) {
        ("simple", Some(cfg)) => {
            let keys = ["horizontal", "vertical", "pan", "tilt", "roll", "zoom"];
            let values: Vec<f64> = keys
                .iter()
                .map(|k| cfg.get(*k).and_then(Value::as_f64).unwrap_or(0.0))
                .collect();
            if values.iter().any(|v| !(-10.0..=10.0).contains(v))
                || values.iter().filter(|v| **v != 0.0).count() != 1
            {
                return Err(invalid(
                    "camera_control.config needs exactly one non-zero value in [-10, 10]",
                ));
            }
        }
        ("simple", None) => {
            return Err(invalid("camera_control.config is required for type simple"));
        }
        ("down_back" | "forward_up" | "right_turn_forward" | "left_turn_forward", None) => {}
        ("down_back" | "forward_up" | "right_turn_forward" | "left_turn_forward", Some(_)) => {
            return Err(invalid(
                "camera_control.config must be empty unless type is simple",
            ));
        }
        _ => return Err(invalid("camera_control.type is not valid")),
    }
    Ok(Some(if ty == "simple" { "simple" } else { "preset" }))
}

fn resolution(mode: &str) -> Resolution {
    match mode {
        "std" => Resolution::P720,
        _ => Resolution::P1080,
    }
}

/// Sound, multi-shot and elements (v2.6/v3 fields of both kinds, kling-api.md §0-A.5);
/// whether the video has sound.
fn extras(body: &Value, c: &Common) -> Result<bool, Fail> {
    let sound = match opt_str(body, "sound")? {
        None | Some("off") => false,
        Some("on") => true,
        Some(_) => return Err(invalid("sound must be on or off")),
    };
    if sound {
        require(&c.model, "sound", "sound", c)?;
    }
    if body.get("multi_shot").and_then(Value::as_bool) == Some(true) {
        require(&c.model, "multi-shot", "multi_shot", c)?;
        let shots = body.get("multi_prompt").and_then(Value::as_array);
        let durations = shots.map(|s| s.iter().map(shot_duration).collect::<Vec<_>>());
        let durations = durations
            .unwrap_or_default()
            .into_iter()
            .collect::<Option<Vec<u32>>>();
        let ok = durations.as_ref().is_some_and(|d| {
            (1..=6).contains(&d.len()) && !d.contains(&0) && d.iter().sum::<u32>() == c.duration
        });
        if !ok || opt_str(body, "shot_type")? != Some("customize") {
            return Err(invalid(
                "multi_prompt needs 1 to 6 shots of at least 1 s summing to duration, with shot_type customize",
            ));
        }
    }
    if let Some(elements) = body.get("element_list").filter(|v| !v.is_null()) {
        require(&c.model, "elements", "element_list", c)?;
        let ids = elements.as_array().map(|e| {
            e.iter().all(|x| {
                x.get("element_id")
                    .is_some_and(|id| id.is_string() || id.is_u64())
            }) && e.len() <= 3
        });
        if ids != Some(true) {
            return Err(invalid("element_list takes at most 3 {element_id}"));
        }
    }
    Ok(sound)
}

/// A shot's duration, written as a string or a number; at most 512 characters of prompt.
fn shot_duration(shot: &Value) -> Option<u32> {
    let prompt = shot.get("prompt").and_then(Value::as_str)?;
    if prompt.chars().count() > 512 {
        return None;
    }
    match shot.get("duration")? {
        Value::String(s) => s.parse().ok(),
        v => v.as_u64().and_then(|d| u32::try_from(d).ok()),
    }
}

fn validate_text2video(body: &Value) -> Result<NewTask, Fail> {
    let c = common(body)?;
    let multi_shot = body.get("multi_shot").and_then(Value::as_bool) == Some(true);
    let prompt = text(body, "prompt")?
        .filter(|p| multi_shot || !p.trim().is_empty())
        .ok_or_else(|| invalid("prompt is required"))?;
    let aspect = match opt_str(body, "aspect_ratio")? {
        None => Aspect::Landscape,
        Some(a) => {
            Aspect::parse(a).ok_or_else(|| invalid("aspect_ratio must be 16:9, 9:16 or 1:1"))?
        }
    };
    require(&c.model, "t2v", "text2video", &c)?;
    if camera(body)?.is_some() {
        require(&c.model, "t2v-camera", "camera_control", &c)?;
    }
    let sound = extras(body, &c)?;
    Ok(NewTask {
        kind: "text2video",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt,
        resolution: resolution(&c.mode),
        sound,
        mode: c.mode,
        request: body.clone(),
        surface: Surface::Legacy,
        model: c.model,
        duration: c.duration,
        aspect,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
    })
}

fn validate_image2video(body: &Value) -> Result<NewTask, Fail> {
    let c = common(body)?;
    if body.get("aspect_ratio").is_some_and(|v| !v.is_null()) {
        // Not a field of image2video: Kling ignores unknown fields.
        tracing::debug!("aspect_ratio ignored for image2video");
    }
    let prompt = text(body, "prompt")?.unwrap_or_default();
    let start = image(body, "image")?;
    let tail = image(body, "image_tail")?;
    let static_mask = image(body, "static_mask")?;
    let masks = match body.get("dynamic_masks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(m)) => m.clone(),
        Some(_) => return Err(invalid("dynamic_masks must be an array")),
    };
    if start.is_none() && tail.is_none() {
        return Err(invalid("image or image_tail is required"));
    }
    let start_end = start.is_some() && tail.is_some();
    let brush = static_mask.is_some() || !masks.is_empty();
    let cam = camera(body)?;
    if [start_end, brush, cam.is_some()]
        .iter()
        .filter(|x| **x)
        .count()
        > 1
    {
        return Err(invalid(
            "image+image_tail, dynamic_masks/static_mask and camera_control cannot be used together",
        ));
    }
    require(&c.model, "i2v", "image2video", &c)?;
    if start_end {
        require(&c.model, "start-end", "image_tail with image", &c)?;
    }
    if start.is_none() {
        require(&c.model, "end-only", "image_tail without image", &c)?;
    }
    if brush {
        require(&c.model, "brush", "motion brush", &c)?;
        if masks.len() > 6 {
            return Err(invalid("dynamic_masks allows at most 6 groups"));
        }
        for m in &masks {
            image(m, "mask")?.ok_or_else(|| invalid("dynamic_masks[].mask is required"))?;
            let points = m
                .get("trajectories")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if !(2..=77).contains(&points) {
                return Err(invalid("dynamic_masks[].trajectories needs 2 to 77 points"));
            }
        }
    }
    if let Some(kind) = cam
        && (kind != "simple" || !supports(&c.model, "i2v-camera", &c.mode, c.duration))
    {
        return Err(invalid(format!(
            "camera_control is not supported by {} {} {}s",
            c.model, c.mode, c.duration
        )));
    }
    let sound = extras(body, &c)?;
    Ok(NewTask {
        kind: "image2video",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt,
        resolution: resolution(&c.mode),
        sound,
        mode: c.mode,
        request: body.clone(),
        surface: Surface::Legacy,
        model: c.model,
        duration: c.duration,
        aspect: Aspect::Landscape,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
    })
}

async fn create(
    State(state): State<Arc<SimState>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match create_inner(&state, &kind, &headers, &body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn create_inner(
    state: &Arc<SimState>,
    kind: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Response> {
    let kind = kind_of(kind).map_err(IntoResponse::into_response)?;
    admit(state, headers, CallKind::Create)
        .await
        .map_err(IntoResponse::into_response)?;
    let body: Value = serde_json::from_slice(body)
        .map_err(|_| fail(400, 1200, "request body is not valid JSON").into_response())?;
    if !body.is_object() {
        return Err(fail(400, 1200, "request body must be a JSON object").into_response());
    }
    let new = match kind {
        "text2video" => validate_text2video(&body),
        _ => validate_image2video(&body),
    }
    .map_err(IntoResponse::into_response)?;
    let task = match state.create(new) {
        Ok(task) => task,
        Err(CreateError::DuplicateExternalId) => {
            return Err(invalid("external_task_id must be unique per account").into_response());
        }
        Err(CreateError::ConcurrencyLimit) => return Err(injected(1303).into_response()),
    };
    if let Some(hang) = state.take_create_hang() {
        // The task exists; the answer arrives too late for the caller.
        tokio::time::sleep(hang).await;
    }
    if state.take_fail_after_storing() {
        // The task exists; the caller is told the server failed (kling-api.md §0-A.3).
        return Err(injected(5000).into_response());
    }
    let mut data = task.to_json(&state.base_url);
    if let Some(obj) = data.as_object_mut() {
        obj.remove("task_result");
        obj.remove("task_status_msg");
    }
    Ok(ok(data))
}

async fn query(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let kind = match kind_of(&kind) {
        Ok(k) => k,
        Err(f) => return f.into_response(),
    };
    if let Err(f) = admit(&state, &headers, CallKind::Query).await {
        return f.into_response();
    }
    match state.find(kind, &id) {
        Some(task) => ok(task.to_json(&state.base_url)),
        // What the live API answers for an unknown id (kling-api.md §0-A.2), not 404/1203.
        None => fail(400, 1201, format!("Task not found by id/external id: {id}")).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct PageQuery {
    #[serde(rename = "pageNum")]
    page_num: Option<String>,
    #[serde(rename = "pageSize")]
    page_size: Option<String>,
}

fn bounded(raw: Option<&str>, default: usize, max: usize, name: &str) -> Result<usize, Fail> {
    match raw {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| invalid(format!("{name} must be an integer in [1, {max}]"))),
    }
}

async fn list(
    State(state): State<Arc<SimState>>,
    Path(kind): Path<String>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let result = async {
        let kind = kind_of(&kind)?;
        admit(&state, &headers, CallKind::List).await?;
        let page_num = bounded(q.page_num.as_deref(), 1, 1000, "pageNum")?;
        let page_size = bounded(q.page_size.as_deref(), 30, 500, "pageSize")?;
        let data: Vec<Value> = state
            .page(kind, page_num, page_size)
            .iter()
            .map(|t| t.to_json(&state.base_url))
            .collect();
        Ok::<_, Fail>(ok(Value::Array(data)))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

#[derive(serde::Deserialize)]
struct VideoQuery {
    exp: Option<i64>,
}

const CHUNK: usize = 64 * 1024;

async fn video(
    State(state): State<Arc<SimState>>,
    Path(task_id): Path<String>,
    Query(q): Query<VideoQuery>,
) -> Response {
    let Some(task) = state.get(&task_id).filter(|t| t.status == "succeed") else {
        return (StatusCode::NOT_FOUND, "no such video").into_response();
    };
    let truncated = state.start_download(&task);
    let expires = task.video_expires_at.or(q.exp);
    if expires.is_some_and(|e| now_ms() >= e) {
        return (StatusCode::FORBIDDEN, "this link has expired").into_response();
    }
    let bytes = match state.video_bytes(&task) {
        Ok(b) => b,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    if let Some(mib) = task.faults.size_mib {
        return large_video(&bytes, mib * 1024 * 1024);
    }
    let total = bytes.len();
    let truncate_at = truncated.then_some(total / 2);
    let rate = state
        .faults()
        .download_bytes_per_sec
        .or(task.faults.slow_download.then_some(256 * 1024));
    if truncate_at.is_none() && rate.is_none() {
        return (
            [(header::CONTENT_TYPE, "video/mp4")],
            bytes.as_ref().clone(),
        )
            .into_response();
    }
    // Stream in chunks; a truncated body ends with an error, so the connection is cut short
    // of the announced Content-Length, as a dropped CDN transfer would be.
    let stream = futures_util::stream::unfold(0usize, move |offset| {
        let bytes = bytes.clone();
        async move {
            if offset >= total {
                return None;
            }
            if truncate_at.is_some_and(|cut| offset >= cut) {
                return Some((Err(std::io::Error::other("transfer interrupted")), total));
            }
            let end = (offset + CHUNK)
                .min(total)
                .min(truncate_at.unwrap_or(total).max(offset + 1));
            if let Some(rate) = rate.filter(|r| *r > 0) {
                tokio::time::sleep(Duration::from_secs_f64((end - offset) as f64 / rate as f64))
                    .await;
            }
            Some((Ok(Bytes::copy_from_slice(&bytes[offset..end])), end))
        }
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "video/mp4")
        .header(header::CONTENT_LENGTH, total)
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A video of `total` bytes, streamed without holding it: the real header, then padding.
fn large_video(sample: &[u8], total: u64) -> Response {
    let (head, padding) = crate::video::padded_header(sample, total);
    let length = head.len() as u64 + padding;
    let zeros = Bytes::from(vec![0u8; CHUNK]);
    let body =
        futures_util::stream::unfold((Some(Bytes::from(head)), padding), move |(head, left)| {
            let zeros = zeros.clone();
            async move {
                if let Some(h) = head {
                    return Some((Ok::<_, std::io::Error>(h), (None, left)));
                }
                if left == 0 {
                    return None;
                }
                let n = left.min(CHUNK as u64);
                Some((Ok(zeros.slice(..n as usize)), (None, left - n)))
            }
        });
    Response::builder()
        .header(header::CONTENT_TYPE, "video/mp4")
        .header(header::CONTENT_LENGTH, length)
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Every task with the create body exactly as it arrived, for tests to assert on.
async fn records(State(state): State<Arc<SimState>>) -> Response {
    let tasks: Vec<Value> = state
        .all()
        .iter()
        .map(|t| {
            json!({"task_id": t.task_id, "external_task_id": t.external_task_id,
                "surface": t.surface, "model": t.model, "request": t.request})
        })
        .collect();
    axum::Json(json!({ "tasks": tasks })).into_response()
}

async fn stats(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(json!({"tasks": state.task_count(), "counters": state.counters()})).into_response()
}

async fn get_faults(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(state.faults()).into_response()
}

async fn put_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(faults) => {
            state.set_faults(faults);
            axum::Json(state.faults()).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}
