//! fal's queue routes: submit under the model id, status/result/cancel under the app id (the
//! model id without its endpoint sub-path), the JWKS, the result files, the control endpoints.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};

use super::models;
use super::state::{FalRequest, FalState, NewRequest, Status};

pub fn router(state: Arc<FalState>) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/files/{id}/output.mp4", get(file))
        .route("/_fal/stats", get(stats))
        .route("/_fal/faults", get(get_faults).put(put_faults))
        .route("/v1/models/requests/by-endpoint", get(by_endpoint))
        .route("/{owner}/{app}/requests/{id}/status", get(status))
        .route("/{owner}/{app}/requests/{id}/cancel", put(cancel))
        .route("/{owner}/{app}/requests/{id}", get(result))
        // Submits go to the model id, any depth (a catch-all route would clash with the above).
        .fallback(submit)
        .with_state(state)
}

fn answer(status: u16, body: Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::Json(body)).into_response()
}

/// The account whose key the call carries.
fn authorized(state: &FalState, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    state.account_of(value)
}

#[derive(serde::Deserialize)]
struct SubmitQuery {
    fal_webhook: Option<String>,
}

/// `fal-ai/kling-video/v3/pro/text-to-video` → app `fal-ai/kling-video`.
fn app_id(model_id: &str) -> String {
    model_id.split('/').take(2).collect::<Vec<_>>().join("/")
}

fn urls(state: &FalState, r: &FalRequest) -> Value {
    let base = format!("{}/{}/requests/{}", state.base_url, r.app_id, r.id);
    json!({"request_id": r.id, "response_url": base, "status_url": format!("{base}/status"),
        "cancel_url": format!("{base}/cancel")})
}

async fn submit(
    State(state): State<Arc<FalState>>,
    method: Method,
    uri: Uri,
    Query(q): Query<SubmitQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let model_id = uri.path().trim_start_matches('/').to_string();
    if method != Method::POST {
        return answer(404, json!({"detail": "Not found"}));
    }
    let Some(account) = authorized(&state, &headers) else {
        return answer(401, json!({"detail": "Invalid authentication"}));
    };
    if state.count("submit") {
        return answer(500, json!({"detail": "Internal server error"}));
    }
    if state.roll(|f| f.submit_busy_rate) {
        return answer(429, json!({"detail": "Too many requests"}));
    }
    let Some(model) = models::model(&model_id) else {
        return answer(
            404,
            json!({"detail": format!("Application '{model_id}' not found")}),
        );
    };
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return answer(
            422,
            json!({"detail": [{"loc": ["body"], "msg": "invalid JSON", "type": "value_error.jsondecode"}]}),
        );
    };
    let problems = models::problems(&model, &input);
    if !problems.is_empty() {
        return answer(422, json!({ "detail": problems }));
    }
    let start_timeout = headers
        .get("x-fal-request-timeout")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.1)
        .map(std::time::Duration::from_secs_f64);
    let duration = match made_seconds(&state, &model, &input).await {
        Ok(d) => d,
        Err(detail) => return answer(422, json!({ "detail": [detail] })),
    };
    let r = state.submit(NewRequest {
        account,
        app_id: app_id(&model_id),
        model_id,
        input,
        webhook: q.fal_webhook,
        pro: model.pro,
        start_timeout,
        duration,
    });
    if state.lose_submit_answer() {
        return answer(502, json!({"detail": "Bad gateway"}));
    }
    let mut body = urls(&state, &r);
    body["queue_position"] = json!(state.queue_position(&r.id));
    answer(200, body)
}

/// fal's largest input video (the edit's 200 MB) and audio (5 MB).
const MAX_VIDEO_BYTES: usize = 200 * 1024 * 1024;
const MAX_AUDIO_BYTES: usize = 5 * 1024 * 1024;

fn bad_input(field: &str, msg: String) -> Value {
    json!({"loc": ["body", field], "msg": msg, "type": "value_error"})
}

/// The length of the file at `field`'s URL: an MP4/MOV for a video, any audio we can read for
/// `audio_url`.
async fn file_seconds(state: &FalState, input: &Value, field: &str) -> Result<f64, Value> {
    let url = input[field].as_str().unwrap_or_default();
    let audio = field == "audio_url";
    let max = if audio {
        MAX_AUDIO_BYTES
    } else {
        MAX_VIDEO_BYTES
    };
    let bytes = state
        .fetch(url, max)
        .await
        .map_err(|e| bad_input(field, format!("{field} could not be read: {e}")))?;
    let seconds = match audio {
        true => crate::avatar::audio_seconds(bytes),
        false => crate::sound::mp4_seconds(&bytes),
    };
    seconds.ok_or_else(|| bad_input(field, format!("{field} is not a readable file")))
}

/// The seconds a request makes: its `duration` (5 by default), or for a kind made from a video
/// or an audio track that input's length, read from the fetched file (a lip-sync's audio must
/// last 2-60 s too); a 422 naming the field otherwise.
async fn made_seconds(
    state: &FalState,
    model: &models::Model,
    input: &Value,
) -> Result<u32, Value> {
    if !model.task.measured() {
        let asked = input.get("duration").and_then(Value::as_str);
        return Ok(asked.and_then(|d| d.parse().ok()).unwrap_or(5));
    }
    let field = model.task.measured_field();
    let seconds = file_seconds(state, input, field).await?;
    models::allowed_seconds(model, input, seconds).map_err(|m| bad_input(field, m))?;
    if model.task == models::Task::LipSync {
        let audio = file_seconds(state, input, "audio_url").await?;
        if !(2.0..=60.0).contains(&audio) {
            let msg = format!("audio_url must last 2 to 60 s, not {audio:.2} s");
            return Err(bad_input("audio_url", msg));
        }
    }
    // As Kling does: an avatar as long as its audio, rounded up; a video's length as it is.
    let whole = if field == "audio_url" {
        seconds.ceil()
    } else {
        seconds.round()
    };
    Ok(whole.max(1.0) as u32)
}

/// The request under its app, if the account made it (another account's is not found).
fn find(
    state: &FalState,
    account: &str,
    (owner, app, id): (&str, &str, &str),
) -> Option<FalRequest> {
    state
        .get(id)
        .filter(|r| r.app_id == format!("{owner}/{app}") && r.account == account)
}

/// What every request-level call goes through: the key, the counter, the request under its app.
fn admitted(
    state: &FalState,
    headers: &HeaderMap,
    call: &str,
    path: (&str, &str, &str),
) -> Result<FalRequest, (u16, Value)> {
    let Some(account) = authorized(state, headers) else {
        return Err((401, json!({"detail": "Invalid authentication"})));
    };
    state.count(call);
    if call != "cancel" && state.read_fails() {
        return Err((503, json!({"detail": "Service temporarily unavailable"})));
    }
    find(state, &account, path).ok_or_else(|| (404, json!({"detail": "Request not found"})))
}

async fn status(
    State(state): State<Arc<FalState>>,
    Path((owner, app, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let r = match admitted(&state, &headers, "status", (&owner, &app, &id)) {
        Ok(r) => r,
        Err((status, body)) => return answer(status, body),
    };
    let mut body = urls(&state, &r);
    body["status"] = json!(r.status);
    match r.status {
        Status::InQueue => {
            body["queue_position"] = json!(state.queue_position(&r.id));
            answer(202, body)
        }
        Status::InProgress => answer(202, body),
        Status::Completed | Status::Canceled => {
            if let Some((kind, msg)) = &r.error {
                body["error"] = json!(msg);
                body["error_type"] = json!(kind);
            }
            answer(200, body)
        }
    }
}

async fn result(
    State(state): State<Arc<FalState>>,
    Path((owner, app, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let r = match admitted(&state, &headers, "result", (&owner, &app, &id)) {
        Ok(r) => r,
        Err((status, body)) => return answer(status, body),
    };
    match (r.status, &r.error) {
        (Status::Completed, None) => answer(200, state.output(&r)),
        (Status::Completed, Some((kind, msg))) => {
            let mut resp = answer(422, json!({"detail": [{"msg": msg, "type": kind}]}));
            if let Ok(v) = kind.parse() {
                resp.headers_mut().insert("x-fal-error-type", v);
            }
            resp
        }
        (Status::Canceled, _) => answer(400, json!({"detail": "Request was cancelled"})),
        _ => answer(400, json!({"detail": "Request is still in progress"})),
    }
}

async fn cancel(
    State(state): State<Arc<FalState>>,
    Path((owner, app, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Err((status, body)) = admitted(&state, &headers, "cancel", (&owner, &app, &id)) {
        return answer(status, body);
    }
    match state.cancel(&id) {
        Ok(()) => answer(202, json!({"status": "CANCELLATION_REQUESTED"})),
        Err(why) => answer(400, json!({ "status": why })),
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    endpoint_id: String,
    start: Option<String>,
    /// Exclusive.
    end: Option<String>,
    /// `success`, `error` or `user_error`.
    status: Option<String>,
    expand: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

fn rfc3339_ms(ms: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The HTTP status a request ended with, as the listing shows it.
fn status_code(r: &FalRequest) -> u16 {
    match &r.error {
        _ if r.billed_anyway => 200,
        None if r.status == Status::Completed => 200,
        Some((kind, _)) if kind == "request_timeout" => 504,
        _ => 422,
    }
}

/// Whether a status code is in the listing's `status` filter.
fn in_filter(code: u16, status: Option<&str>) -> bool {
    match status {
        Some("success") => (200..300).contains(&code),
        Some("user_error") => (400..500).contains(&code),
        Some("error") => code >= 500,
        _ => true,
    }
}

fn listed(state: &FalState, r: &FalRequest, payloads: bool) -> Value {
    let code = status_code(r);
    let mut item = json!({"request_id": r.id, "endpoint_id": r.model_id,
        "sent_at": rfc3339_ms(r.sent_at_ms), "started_at": r.started_at_ms.and_then(rfc3339_ms),
        "ended_at": r.completed_at_ms.and_then(rfc3339_ms), "status_code": code});
    if payloads {
        item["json_input"] = r.input.clone();
        item["json_output"] = if code == 200 {
            state.output(r)
        } else {
            json!(null)
        };
    }
    item
}

/// fal's Platform API listing: requests of the endpoints that ended since `start` (24 h by
/// default), 100 a page at most, a base64 page number as the cursor.
async fn by_endpoint(
    State(state): State<Arc<FalState>>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    let Some(account) = authorized(&state, &headers) else {
        return answer(401, json!({"detail": "Invalid authentication"}));
    };
    if state.read_fails() {
        return answer(503, json!({"detail": "Service temporarily unavailable"}));
    }
    let parse = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    let ms = |t: time::OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
    let since_ms = match q.start.as_deref().map(parse) {
        None => crate::tasks::now_ms() - 24 * 3600 * 1000,
        Some(Some(t)) => ms(t),
        Some(None) => return answer(422, json!({"detail": "start must be ISO 8601"})),
    };
    let until_ms = match q.end.as_deref().map(parse) {
        None => i64::MAX,
        Some(Some(t)) => ms(t),
        Some(None) => return answer(422, json!({"detail": "end must be ISO 8601"})),
    };
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let page: usize = q
        .cursor
        .and_then(|c| b64.decode(c).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|p| p.parse().ok())
        .unwrap_or(1)
        .max(1);
    let limit = q.limit.unwrap_or(50).clamp(1, 100);
    let endpoints: Vec<&str> = q.endpoint_id.split(',').map(str::trim).collect();
    let mut ended = state.ended(&account, &endpoints, (since_ms, until_ms));
    ended.retain(|r| in_filter(status_code(r), q.status.as_deref()));
    let payloads = q.expand.as_deref().is_some_and(|e| e.contains("payloads"))
        && !state.faults().list_without_payloads;
    let items: Vec<Value> = ended
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|r| listed(&state, r, payloads))
        .collect();
    let has_more = ended.len() > page * limit;
    let next = has_more.then(|| b64.encode((page + 1).to_string()));
    answer(
        200,
        json!({"items": items, "next_cursor": next, "has_more": has_more}),
    )
}

async fn file(State(state): State<Arc<FalState>>, Path(id): Path<String>) -> Response {
    let done = state
        .get(&id)
        .filter(|r| r.status == Status::Completed && r.error.is_none());
    match done.map(|r| state.video(&r)) {
        Some(Ok(bytes)) => ([(header::CONTENT_TYPE, "video/mp4")], bytes).into_response(),
        Some(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

async fn jwks(State(state): State<Arc<FalState>>) -> Response {
    let seeds = &state.config.signing_seeds;
    let published = state.faults().published_keys.unwrap_or(seeds.len());
    axum::Json(super::jwks(&seeds[..published.min(seeds.len())])).into_response()
}

async fn stats(State(state): State<Arc<FalState>>) -> Response {
    axum::Json(json!({ "counters": state.counters() })).into_response()
}

async fn get_faults(State(state): State<Arc<FalState>>) -> Response {
    axum::Json(state.faults()).into_response()
}

async fn put_faults(State(state): State<Arc<FalState>>, body: Bytes) -> Response {
    match serde_json::from_slice(&body) {
        Ok(faults) => {
            state.set_faults(faults);
            axum::Json(state.faults()).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}
