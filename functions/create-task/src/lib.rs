//! create-task: `POST /v1/videos` — validate, price, record (with the idempotency record in
//! one transaction), then submit to Kling with `external_task_id` = our id and a per-task
//! callback URL.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use shared::auth::{AuthMode, identify};
use shared::config::WebhookConfig;
use shared::envelope::{ApiError, error_response, json_response};
use shared::http_util::{self, header};
use shared::kling::{Deadline, KlingConfig, KlingError, Text2VideoRequest};
use shared::ports::{CreateOutcome, IdempotencyRecord, StoreError, TaskStore, VideoProvider};
use shared::pricing::{PriceTable, price};
use shared::state::{TaskEvent, TaskPatch, event_for};
use shared::task::{Task, TaskError, TaskStatus};
use shared::time_util;
use shared::validation::{CreateVideoBody, VideoSpec, validate};
use shared::view::task_view;
use shared::webhook_token::callback_url;

pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

pub struct App<S, P> {
    pub store: S,
    pub provider: P,
    pub auth: AuthMode,
    pub webhook: WebhookConfig,
    pub kling: KlingConfig,
    pub prices: PriceTable,
}

pub async fn handle<S: TaskStore, P: VideoProvider>(
    app: &App<S, P>,
    req: Request,
) -> Response<Body> {
    let request_id = http_util::request_id(&req);
    let span = tracing::info_span!("create-task", %request_id, task_id = tracing::field::Empty);
    match route(app, &req).instrument(span).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err, &request_id),
    }
}

async fn route<S: TaskStore, P: VideoProvider>(
    app: &App<S, P>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().as_str();
    match (method, http_util::segments(req).as_slice()) {
        ("POST", ["v1", "videos"]) => create(app, req).await,
        ("POST", ["v1", "videos", "estimate"]) | ("POST", ["v1", "uploads"]) => Err(ApiError::new(
            501,
            "not_implemented",
            "this endpoint is not available yet",
        )),
        _ => Err(ApiError::route_not_found(method, req.uri().path())),
    }
}

fn idempotency_key(req: &Request) -> Result<String, ApiError> {
    let key = header(req, "idempotency-key").ok_or_else(|| {
        ApiError::new(
            400,
            "idempotency_key_required",
            "the Idempotency-Key header is required",
        )
    })?;
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(ApiError::new(
            400,
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(key.to_string())
}

/// Hash of the body as parsed, so formatting and key order do not make two requests differ.
fn request_hash(body: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

fn store_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "store failure");
    ApiError::internal()
}

async fn create<S: TaskStore, P: VideoProvider>(
    app: &App<S, P>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let identity = identify(
        &app.auth,
        http_util::authorizer_claims(req),
        header(req, "authorization"),
    )?;
    let key = idempotency_key(req)?;
    let raw: serde_json::Value = http_util::json_body(req)?;
    let body: CreateVideoBody = serde_json::from_value(raw.clone())
        .map_err(|e| ApiError::malformed(format!("invalid request body: {e}")))?;
    let spec = validate(&body)?;

    let now = time_util::rfc3339(time_util::now());
    let task = new_task(app, &identity.user_id, &spec, &now);
    tracing::Span::current().record("task_id", task.id.as_str());
    let record = IdempotencyRecord {
        user_id: identity.user_id.clone(),
        key,
        request_hash: request_hash(&raw),
        task_id: task.id.clone(),
        created_at: now,
    };

    match app
        .store
        .create_task(&task, &record)
        .await
        .map_err(store_error)?
    {
        CreateOutcome::Created => {}
        CreateOutcome::KeyExists(existing) => return replay(app, &existing, &record).await,
    }
    tracing::info!(model = %task.model, mode = %task.mode, duration = task.duration, "task recorded");
    let base = webhook_base(app, req)?;
    let task = submit(app, task, &spec, &base, http_util::lambda_deadline(req)).await?;
    Ok(json_response(
        202,
        &task_view(&task, None, time_util::now()),
    ))
}

fn new_task<S, P>(app: &App<S, P>, user_id: &str, spec: &VideoSpec, now: &str) -> Task {
    let preset = app.kling.preset(spec.quality);
    let cost = price(&app.prices, spec.duration, preset.mode == "pro", false).cost;
    Task {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        status: TaskStatus::Created,
        video_type: spec.video_type,
        prompt: Some(spec.prompt.clone()),
        negative_prompt: Some(spec.negative_prompt.clone()),
        duration: spec.duration,
        aspect_ratio: Some(spec.aspect_ratio),
        quality: spec.quality,
        model: preset.model.clone(),
        mode: preset.mode.clone(),
        cost_units: cost,
        provider_task_id: None,
        created_at: now.to_string(),
        updated_at: now.to_string(),
        submitted_at: None,
        completed_at: None,
        error: None,
        video: None,
    }
}

/// Same key again: the same body replays the first answer; another body is refused.
async fn replay<S: TaskStore, P: VideoProvider>(
    app: &App<S, P>,
    existing: &IdempotencyRecord,
    attempt: &IdempotencyRecord,
) -> Result<Response<Body>, ApiError> {
    if existing.request_hash != attempt.request_hash {
        return Err(ApiError::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        )
        .with_field("Idempotency-Key"));
    }
    let task = app
        .store
        .get_task(&existing.task_id)
        .await
        .map_err(store_error)?
        .ok_or_else(ApiError::internal)?;
    if task.status == TaskStatus::Created {
        return Err(ApiError::new(
            409,
            "idempotency_key_in_flight",
            "a request with this Idempotency-Key is still being processed",
        )
        .retryable(Some(2)));
    }
    tracing::info!(task_id = %task.id, "idempotent replay");
    Ok(json_response(
        202,
        &task_view(&task, None, time_util::now()),
    ))
}

/// Where Kling calls back: the configured base, or the API domain this request came in on.
fn webhook_base<S, P>(app: &App<S, P>, req: &Request) -> Result<String, ApiError> {
    if let Some(base) = &app.webhook.base_url {
        return Ok(base.clone());
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.domain_name.as_ref().map(|d| format!("https://{d}"))
        }
        _ => None,
    }
    .ok_or_else(|| {
        tracing::error!("no WEBHOOK_BASE_URL and no domain name on the request");
        ApiError::internal()
    })
}

async fn submit<S: TaskStore, P: VideoProvider>(
    app: &App<S, P>,
    task: Task,
    spec: &VideoSpec,
    webhook_base: &str,
    deadline: Deadline,
) -> Result<Task, ApiError> {
    let request = Text2VideoRequest {
        model_name: task.model.clone(),
        prompt: spec.prompt.clone(),
        negative_prompt: Some(spec.negative_prompt.clone()),
        cfg_scale: None,
        mode: task.mode.clone(),
        camera_control: None,
        aspect_ratio: spec.aspect_ratio.as_str().to_string(),
        duration: spec.duration.to_string(),
        callback_url: Some(callback_url(webhook_base, &app.webhook.secret, &task.id)),
        external_task_id: Some(task.id.clone()),
    };
    match app.provider.submit_text2video(&request, deadline).await {
        Ok(submitted) => {
            let event = event_for(submitted.task_status).unwrap_or(TaskEvent::ProviderQueued);
            let patch = TaskPatch {
                provider_task_id: Some(submitted.task_id.clone()),
                ..Default::default()
            };
            tracing::info!(provider_task_id = %submitted.task_id, "submitted to Kling");
            let applied = app
                .store
                .apply(&task.id, event, patch)
                .await
                .map_err(store_error)?;
            Ok(applied.task)
        }
        Err(err) => {
            tracing::warn!(error = %err, "Kling refused the task");
            let api = provider_error(&err);
            let patch = TaskPatch {
                error: Some(TaskError {
                    code: api.code.to_string(),
                    message: api.message.clone(),
                    retryable: api.retryable,
                }),
                ..Default::default()
            };
            app.store
                .apply(&task.id, TaskEvent::Failed, patch)
                .await
                .map_err(store_error)?;
            Err(api)
        }
    }
}

/// How a Kling refusal reaches the app.
pub fn provider_error(err: &KlingError) -> ApiError {
    match err.code() {
        Some(1300 | 1301) => ApiError::new(
            422,
            "content_policy_violation",
            "the video provider refused this content",
        ),
        _ if err.is_retryable() => ApiError::provider_unavailable(
            "the video provider is busy or unavailable; try again later",
        ),
        _ => ApiError::new(
            502,
            "provider_error",
            "the video provider rejected the request",
        ),
    }
}
