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
use crate::bodies::{validate_image2video, validate_text2video};
use crate::faults::{CallKind, Faults, http_status_for, message_for};
use crate::tasks::{CreateError, SimState, Surface, now_ms};

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/{product}/{kind}", get(list).post(create))
        .route(
            "/v1/videos/avatar/image2video",
            get(list_avatar).post(create_avatar),
        )
        .route("/v1/videos/avatar/image2video/{id}", get(query_avatar))
        .route(
            "/v1/videos/identify-face",
            post(crate::lip_sync::identify_face),
        )
        .route("/text-to-video/{model}", post(crate::standard::create_text))
        .route(
            "/motion-control/{model}",
            post(crate::standard::create_motion),
        )
        .route(
            "/image-to-video/{model}",
            post(crate::standard::create_image),
        )
        .route("/omni-video/{model}", post(crate::standard::create_omni))
        .route(
            "/tasks",
            get(crate::standard::query).post(crate::standard::list),
        )
        .route("/account/billing/balance", post(crate::billing::balance))
        .route("/_sim/tasks", get(records))
        .route("/v1/{product}/{kind}/{id}", get(query))
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

/// The products under `/v1/videos` and `/v1/audio`.
fn kind_of(product: &str, segment: &str) -> Result<&'static str, Fail> {
    match (product, segment) {
        ("videos", "text2video") => Ok("text2video"),
        ("videos", "image2video") => Ok("image2video"),
        ("videos", "effects") => Ok("effects"),
        ("videos", "motion-control") => Ok("motion-control"),
        ("videos", "advanced-lip-sync") => Ok("advanced-lip-sync"),
        ("audio", "video-to-audio") => Ok("video-to-audio"),
        ("avatar", "image2video") => Ok("avatar"),
        _ => Err(fail(404, 1203, "requested resource does not exist")),
    }
}

/// Authentication, then injected latency and errors: what every legacy API call goes through.
/// The account the caller signed for.
async fn admit(state: &SimState, headers: &HeaderMap, call: CallKind) -> Result<String, Fail> {
    admit_on(state, headers, call, Surface::Legacy).await
}

/// The same for either surface: the standard API takes only the API key (no JWT). A create
/// on an account that cannot take work is refused with its code (1101, 1102).
pub(crate) async fn admit_on(
    state: &SimState,
    headers: &HeaderMap,
    call: CallKind,
    surface: Surface,
) -> Result<String, Fail> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let (inject, latency) = state.on_call(call);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let account = signed_for(state, header, surface).map_err(|(code, msg)| fail(401, code, msg))?;
    if let Some(code) = inject {
        return Err(injected(code));
    }
    if call == CallKind::Create
        && let Some(code) = state.account_refusal(&account)
    {
        return Err(injected(code));
    }
    Ok(account)
}

/// Whose keys signed the request: the main account's, or another's; otherwise the most
/// specific refusal any account's check gave (an expired token beats a foreign issuer).
fn signed_for(
    state: &SimState,
    header: Option<&str>,
    surface: Surface,
) -> Result<String, auth::AuthFailure> {
    let main = Credentials {
        access_key: &state.config.access_key,
        secret_key: &state.config.secret_key,
        api_key: state.config.api_key.as_deref(),
    };
    let others = state.config.accounts.iter().map(|a| {
        let creds = Credentials {
            access_key: &a.access_key,
            secret_key: &a.secret_key,
            api_key: a.api_key.as_deref(),
        };
        (a.name.as_str(), creds)
    });
    let mut refusal: Option<auth::AuthFailure> = None;
    for (name, creds) in std::iter::once((crate::MAIN_ACCOUNT, main)).chain(others) {
        let checked = match surface {
            Surface::Legacy => auth::check(header, &creds, state.now_secs()),
            Surface::Standard => auth::check_api_key(header, creds.api_key),
        };
        match checked {
            Ok(()) => return Ok(name.to_string()),
            Err(e) => refusal = refusal.filter(|r| r.0 >= e.0).or(Some(e)),
        }
    }
    Err(refusal.unwrap_or((1001, "Authorization is empty")))
}

async fn create(
    State(state): State<Arc<SimState>>,
    Path((product, kind)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match create_inner(&state, (&product, &kind), &headers, &body).await {
        Ok(r) | Err(r) => r,
    }
}

/// Avatar's path has a segment more than the others: the same handlers under its own name.
async fn create_avatar(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match create_inner(&state, ("avatar", "image2video"), &headers, &body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn query_avatar(
    state: State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let path = Path(("avatar".to_string(), "image2video".to_string(), id));
    query(state, headers, path).await
}

async fn list_avatar(
    state: State<Arc<SimState>>,
    headers: HeaderMap,
    q: Query<PageQuery>,
) -> Response {
    let path = Path(("avatar".to_string(), "image2video".to_string()));
    list(state, path, headers, q).await
}

async fn create_inner(
    state: &Arc<SimState>,
    (product, kind): (&str, &str),
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Response> {
    let kind = kind_of(product, kind).map_err(IntoResponse::into_response)?;
    let account = admit(state, headers, CallKind::Create)
        .await
        .map_err(IntoResponse::into_response)?;
    let body: Value = serde_json::from_slice(body)
        .map_err(|_| fail(400, 1200, "request body is not valid JSON").into_response())?;
    if !body.is_object() {
        return Err(fail(400, 1200, "request body must be a JSON object").into_response());
    }
    let new = match kind {
        "video-to-audio" => crate::sound::validate_video_to_audio(state, &body).await,
        "motion-control" => crate::motion::validate_motion_control(state, &body).await,
        "avatar" => crate::avatar::validate_avatar(state, &body).await,
        "advanced-lip-sync" => crate::lip_sync::validate_lip_sync(state, &body).await,
        "text2video" => validate_text2video(&body),
        "effects" => crate::effects::validate_effects(&body),
        _ => validate_image2video(&body),
    }
    .map_err(IntoResponse::into_response)?;
    let task = match state.create(new, &account) {
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
        // The task exists; the caller is told the server failed (`docs/providers.md` §Unknown outcomes).
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
    Path((product, kind, id)): Path<(String, String, String)>,
) -> Response {
    let kind = match kind_of(&product, &kind) {
        Ok(k) => k,
        Err(f) => return f.into_response(),
    };
    let account = match admit(&state, &headers, CallKind::Query).await {
        Ok(account) => account,
        Err(f) => return f.into_response(),
    };
    match state.find_for(&account, kind, &id) {
        Some(task) => ok(task.to_json(&state.base_url)),
        // What the live API answers for an unknown id (`docs/providers.md` §Legacy API), not 404/1203.
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
    Path((product, kind)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let result = async {
        let kind = kind_of(&product, &kind)?;
        let account = admit(&state, &headers, CallKind::List).await?;
        let page_num = bounded(q.page_num.as_deref(), 1, 1000, "pageNum")?;
        let page_size = bounded(q.page_size.as_deref(), 30, 500, "pageSize")?;
        let data: Vec<Value> = state
            .page(kind, page_num, page_size)
            .iter()
            .filter(|t| t.account == account)
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
