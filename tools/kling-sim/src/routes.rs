//! HTTP routes: `/v1/videos/text2video` create, query and list; result videos; a stats view.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::tasks::{CreateError, SimState};

const KNOWN_MODELS: [&str; 9] = [
    "kling-v1",
    "kling-v1-5",
    "kling-v1-6",
    "kling-v2-master",
    "kling-v2-1",
    "kling-v2-1-master",
    "kling-v2-5-turbo",
    "kling-v2-6",
    "kling-v3",
];
/// Models with no text-to-video (capability map).
const IMAGE_ONLY_MODELS: [&str; 2] = ["kling-v1-5", "kling-v2-1"];

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route(
            "/v1/videos/text2video",
            get(list_text2video).post(create_text2video),
        )
        .route("/v1/videos/text2video/{id}", get(query_text2video))
        .route("/videos/{task_id}/output.mp4", get(video))
        .route("/_sim/stats", get(stats))
        .with_state(state)
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn ok(data: Value) -> Response {
    (
        StatusCode::OK,
        axum::Json(
            json!({"code": 0, "message": "SUCCEED", "request_id": request_id(), "data": data}),
        ),
    )
        .into_response()
}

/// A Kling error answer: HTTP status, business code, message.
pub struct Fail {
    status: u16,
    code: i64,
    message: String,
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({"code": self.code, "message": self.message, "request_id": request_id()});
        (status, axum::Json(body)).into_response()
    }
}

fn fail(status: u16, code: i64, message: impl Into<String>) -> Fail {
    Fail {
        status,
        code,
        message: message.into(),
    }
}

fn authorize(state: &SimState, headers: &HeaderMap) -> Result<(), Fail> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    crate::auth::check(header, &state.config.access_key, &state.config.secret_key)
        .map_err(|(code, msg)| fail(401, code, msg))
}

fn invalid(message: impl Into<String>) -> Fail {
    fail(400, 1201, message)
}

fn opt_str<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, Fail> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
    }
}

fn check_len(body: &Value, field: &str, max: usize) -> Result<Option<String>, Fail> {
    match opt_str(body, field)? {
        Some(s) if s.chars().count() > max => {
            Err(invalid(format!("{field} must be at most {max} characters")))
        }
        other => Ok(other.map(str::to_string)),
    }
}

async fn create_text2video(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fail(400, 1200, "request body is not valid JSON").into_response();
    };
    if !body.is_object() {
        return fail(400, 1200, "request body must be a JSON object").into_response();
    }
    if let Err(r) = validate_text2video(&body) {
        return r.into_response();
    }
    let duration = opt_str(&body, "duration")
        .ok()
        .flatten()
        .unwrap_or("5")
        .to_string();
    let external = opt_str(&body, "external_task_id")
        .ok()
        .flatten()
        .map(str::to_string);
    let callback = opt_str(&body, "callback_url")
        .ok()
        .flatten()
        .map(str::to_string);
    match state.create("text2video", external, duration, callback) {
        Ok(task) => {
            let mut data = task.to_json();
            if let Some(obj) = data.as_object_mut() {
                obj.remove("task_result");
                obj.remove("task_status_msg");
            }
            ok(data)
        }
        Err(CreateError::DuplicateExternalId) => {
            invalid("external_task_id must be unique per account").into_response()
        }
    }
}

fn validate_text2video(body: &Value) -> Result<(), Fail> {
    let model = opt_str(body, "model_name")?.unwrap_or("kling-v1");
    if !KNOWN_MODELS.contains(&model) {
        return Err(fail(
            404,
            1203,
            format!("model_name {model} does not exist"),
        ));
    }
    if IMAGE_ONLY_MODELS.contains(&model) {
        return Err(invalid(format!(
            "model_name {model} does not support text2video"
        )));
    }
    match check_len(body, "prompt", 2500)? {
        Some(p) if !p.trim().is_empty() => {}
        _ => return Err(invalid("prompt is required")),
    }
    check_len(body, "negative_prompt", 2500)?;
    if let Some(mode) = opt_str(body, "mode")?
        && !matches!(mode, "std" | "pro")
    {
        return Err(invalid("mode must be std or pro"));
    }
    if let Some(ar) = opt_str(body, "aspect_ratio")?
        && !matches!(ar, "16:9" | "9:16" | "1:1")
    {
        return Err(invalid("aspect_ratio must be 16:9, 9:16 or 1:1"));
    }
    let allowed: &[&str] = if model == "kling-v3" {
        &[
            "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
        ]
    } else {
        &["5", "10"]
    };
    if let Some(d) = opt_str(body, "duration")?
        && !allowed.contains(&d)
    {
        return Err(invalid(format!(
            "duration must be one of {}",
            allowed.join(", ")
        )));
    }
    match body.get("cfg_scale") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => {}
            _ => return Err(invalid("cfg_scale must be a number in [0, 1]")),
        },
    }
    if let Some(url) = opt_str(body, "callback_url")?
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(invalid("callback_url must be an http(s) URL"));
    }
    opt_str(body, "external_task_id")?;
    Ok(())
}

async fn query_text2video(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    match state.find("text2video", &id) {
        Some(task) => ok(task.to_json()),
        None => fail(404, 1203, "requested resource does not exist").into_response(),
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

async fn list_text2video(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    if let Err(r) = authorize(&state, &headers) {
        return r.into_response();
    }
    let page_num = match bounded(q.page_num.as_deref(), 1, 1000, "pageNum") {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    let page_size = match bounded(q.page_size.as_deref(), 30, 500, "pageSize") {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    let data: Vec<Value> = state
        .page("text2video", page_num, page_size)
        .iter()
        .map(|t| t.to_json())
        .collect();
    ok(Value::Array(data))
}

async fn video(State(state): State<Arc<SimState>>, Path(task_id): Path<String>) -> Response {
    match state.find("text2video", &task_id) {
        Some(task) if task.status == "succeed" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "video/mp4")],
            crate::SAMPLE_MP4,
        )
            .into_response(),
        _ => (StatusCode::NOT_FOUND, "no such video").into_response(),
    }
}

async fn stats(State(state): State<Arc<SimState>>) -> Response {
    axum::Json(json!({"tasks": state.task_count()})).into_response()
}
