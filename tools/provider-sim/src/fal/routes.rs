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
use super::state::{FalRequest, FalState, Status};

pub fn router(state: Arc<FalState>) -> Router {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/files/{id}/output.mp4", get(file))
        .route("/_fal/stats", get(stats))
        .route("/_fal/faults", get(get_faults).put(put_faults))
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

fn authorized(state: &FalState, headers: &HeaderMap) -> bool {
    let want = format!("Key {}", state.config.key);
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(want.as_str())
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
    if !authorized(&state, &headers) {
        return answer(401, json!({"detail": "Invalid authentication"}));
    }
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
    let r = state.submit(
        &model_id,
        &app_id(&model_id),
        input,
        q.fal_webhook,
        model.pro,
    );
    if state.lose_submit_answer() {
        return answer(502, json!({"detail": "Bad gateway"}));
    }
    let mut body = urls(&state, &r);
    body["queue_position"] = json!(state.queue_position(&r.id));
    answer(200, body)
}

fn find(state: &FalState, owner: &str, app: &str, id: &str) -> Option<FalRequest> {
    state
        .get(id)
        .filter(|r| r.app_id == format!("{owner}/{app}"))
}

/// What every request-level call goes through: the key, the counter, the request under its app.
fn admitted(
    state: &FalState,
    headers: &HeaderMap,
    call: &str,
    (owner, app, id): (&str, &str, &str),
) -> Result<FalRequest, (u16, Value)> {
    if !authorized(state, headers) {
        return Err((401, json!({"detail": "Invalid authentication"})));
    }
    state.count(call);
    if call != "cancel" && state.read_fails() {
        return Err((503, json!({"detail": "Service temporarily unavailable"})));
    }
    find(state, owner, app, id).ok_or_else(|| (404, json!({"detail": "Request not found"})))
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
