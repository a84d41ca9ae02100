//! status-query: `GET /v1/videos/{id}` and `GET /v1/videos` for the caller's own tasks, with a
//! presigned URL minted per request for finished videos; `GET /v1/me` and `POST /v1/me/export`
//! (everything held about the caller, as one JSON document behind a short-lived link).

use std::time::Duration;

use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

use shared::domain::plans::Plans;
use shared::domain::state::{TaskEvent, TaskPatch};
use shared::domain::task::{Task, TaskStatus, video_key};
use shared::domain::timestamp;
use shared::edge::auth::{AuthMode, Identity, identify};
use shared::edge::envelope::{ApiError, answer, error_response, json_response};
use shared::edge::request::{self, header};
use shared::edge::view::{PresignedLink, TaskView, link_window, queue_view, task_view};
use shared::lifecycle::sync::{SyncPolicy, lookup_of, sync_task};
use shared::ports::{
    Accounts, Devices, DocumentStore, ErasureQueue, Erasures, FinalizeQueue, Groups, LedgerKind,
    ReconcileIndex, StoreError, Tasks, VideoStore, WaitingLine,
};

pub mod erasure;
pub mod export;
use shared::provider::{CancelOutcome, Deadline, VideoProvider};

/// What status-query needs of the table: task records, accounts, and the polling claim.
pub trait Store:
    Tasks + Accounts + ReconcileIndex + WaitingLine + Groups + Devices + Erasures
{
}
impl<T: Tasks + Accounts + ReconcileIndex + WaitingLine + Groups + Devices + Erasures> Store for T {}

pub const DEFAULT_PAGE: u32 = 20;
pub const MAX_PAGE: u32 = 100;

/// Everything status-query reads from its environment at cold start.
pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub bucket: shared::runtime::config::BucketConfig,
    pub providers: shared::provider::composite::ProviderSettings,
    pub queue: shared::runtime::config::QueueConfig,
    /// Where `DELETE /v1/me` starts the account function's erasure job.
    pub erasure_queue_url: String,
    pub auth: AuthMode,
    pub plans: Plans,
    pub poll: SyncPolicy,
    /// The first provider's slots over all its accounts (for a waiting task's estimate).
    pub capacity: u32,
    pub s3_path_style: bool,
    /// CloudFront signed URLs instead of S3 presigned ones (`CDN_DOMAIN`).
    pub cdn: Option<shared::edge::cdn::CdnSigner>,
    /// The status stream's function URL and link key (`STREAM_URL`, `STREAM_SECRET`).
    pub stream: Option<shared::runtime::config::StreamConfig>,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        let providers = shared::provider::composite::ProviderSettings::from_source(src)?;
        let first = providers.order.first().map_or("kling", String::as_str);
        let capacity = providers.pool.capacity_of(first);
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            bucket: shared::runtime::config::BucketConfig::from_source(src)?,
            providers,
            queue: shared::runtime::config::QueueConfig::from_source(src)?,
            erasure_queue_url: src.required("ERASURE_QUEUE_URL")?,
            auth: AuthMode::from_source(src)?,
            plans: Plans::from_source(src)?,
            poll: SyncPolicy::from_source(src, "POLL_STALE_SECONDS", 30)?,
            capacity,
            s3_path_style: shared::aws::path_style(src),
            cdn: shared::edge::cdn::CdnSigner::from_source(src)?,
            stream: shared::runtime::config::StreamConfig::from_source(src)?,
        })
    }
}

pub struct App<S, V, P, Q> {
    pub store: S,
    pub videos: V,
    pub provider: P,
    pub queue: Q,
    pub auth: AuthMode,
    pub presign_ttl: Duration,
    /// The provider account's concurrency, for queue estimates.
    pub capacity: u32,
    pub plans: Plans,
    /// When an app looks at an unfinished task this stale, ask the provider (lost callbacks).
    pub poll: SyncPolicy,
    /// Where status streams are served, when they are.
    pub stream: Option<shared::runtime::config::StreamConfig>,
}

/// How long a status-stream link holds once handed out (at least).
const STREAM_LINK_TTL: Duration = Duration::from_secs(3600);

pub async fn handle<
    S: Store,
    V: VideoStore + DocumentStore,
    P: VideoProvider,
    Q: FinalizeQueue + ErasureQueue,
>(
    app: &App<S, V, P, Q>,
    req: Request,
) -> Response<Body> {
    answer("status-query", &req, route(app, &req)).await
}

async fn route<
    S: Store,
    V: VideoStore + DocumentStore,
    P: VideoProvider,
    Q: FinalizeQueue + ErasureQueue,
>(
    app: &App<S, V, P, Q>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().as_str();
    let segments = request::segments(req);
    let known = matches!(
        (method, segments.as_slice()),
        ("GET", ["v1", "videos"])
            | ("GET" | "DELETE", ["v1", "videos", _])
            | ("GET", ["v1", "videos", _, "events"])
            | ("POST", ["v1", "videos", _, "cancel"])
            | ("GET" | "DELETE", ["v1", "me"])
            | ("POST", ["v1", "me", "export"])
    );
    if !known {
        return Err(ApiError::route_not_found(method, req.uri().path()));
    }
    let identity = identify(
        &app.auth,
        request::authorizer_claims(req),
        header(req, "authorization"),
    )?;
    match (method, segments.as_slice()) {
        ("GET", ["v1", "videos"]) => list(app, req, &identity).await,
        ("GET", ["v1", "videos", id]) => get_one(app, req, &identity, id).await,
        ("GET", ["v1", "videos", id, "events"]) => events(app, &identity, id).await,
        ("GET", ["v1", "me"]) => me(app, &identity).await,
        ("DELETE", ["v1", "me"]) => erasure::erase_me(app, &identity).await,
        ("POST", ["v1", "me", "export"]) => export::export(app, &identity).await,
        ("DELETE", ["v1", "videos", id]) => delete(app, &identity, id).await,
        ("POST", ["v1", "videos", id, "cancel"]) => cancel(app, &identity, id).await,
        _ => Err(ApiError::route_not_found(method, req.uri().path())),
    }
}

pub(crate) async fn view_of<S, V: VideoStore, P, Q>(
    app: &App<S, V, P, Q>,
    task: &Task,
) -> Result<TaskView, ApiError> {
    let now = timestamp::now();
    let link = match (&task.video, task.status) {
        (Some(video), TaskStatus::Succeeded) => {
            let window = link_window(now, app.presign_ttl);
            let signed_at: std::time::SystemTime = window.signed_at.into();
            let url = app
                .videos
                .presign_get(&video.key, signed_at, app.presign_ttl)
                .await
                .map_err(presign_failed)?;
            let poster_url = match &video.poster {
                Some(poster) => Some(
                    app.videos
                        .presign_get(&poster.key, signed_at, app.presign_ttl)
                        .await
                        .map_err(presign_failed)?,
                ),
                None => None,
            };
            Some(PresignedLink {
                url,
                expires_at: timestamp::rfc3339(window.expires_at),
                poster_url,
            })
        }
        _ => None,
    };
    let mut view = task_view(task, link, now);
    view.events_url = app
        .stream
        .as_ref()
        .map(|stream| shared::edge::view::events_url(stream, task, now, STREAM_LINK_TTL));
    Ok(view)
}

fn presign_failed(e: shared::ports::BlobError) -> ApiError {
    tracing::error!(error = %e, "presign failed");
    ApiError::internal()
}

/// `GET /v1/videos/{id}/events`: the stream itself is served by the events function's URL
/// (HTTP APIs do not stream); the owner is sent there with a signed link.
async fn events<S: Store, V, P, Q>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let Some(stream) = &app.stream else {
        return Err(ApiError::new(
            404,
            "route_not_found",
            "no status stream is deployed here",
        ));
    };
    let task = owned_task(app, identity, id).await?;
    let url = shared::edge::view::events_url(stream, &task, timestamp::now(), STREAM_LINK_TTL);
    Response::builder()
        .status(307)
        .header("location", url)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .map_err(|e| shared::edge::envelope::logged_internal("redirect not built", e))
}

async fn get_one<S: Store, V: VideoStore, P: VideoProvider, Q: FinalizeQueue>(
    app: &App<S, V, P, Q>,
    req: &Request,
    identity: &Identity,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let task = owned_task(app, identity, id).await?;
    let task = poll_if_stale(app, task).await;
    let mut view = view_of(app, &task).await?;
    if task.waiting() {
        let ahead = app.store.waiting_ahead(&task).await?;
        view.queue = Some(queue_view(ahead, app.capacity, timestamp::now()));
    }
    let hint = shared::edge::view::poll_hint_secs(task.status);
    Ok(conditional(req, &view, hint))
}

/// `POST /v1/videos/{id}/cancel`: a task no provider holds yet is canceled and refunded in
/// full (in one transaction); asking again answers the same. Once a submit went out, the
/// provider may hold it (Kling has no cancel): 409.
async fn cancel<S: Store, V: VideoStore, P: VideoProvider, Q>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let task = owned_task(app, identity, id).await?;
    let task = match task.status {
        TaskStatus::Canceled => task,
        TaskStatus::Created if task.waiting() => {
            apply_cancel(app, &task, TaskEvent::Canceled).await?
        }
        TaskStatus::Created | TaskStatus::Queued if task.provider_ref.is_some() => {
            cancel_at_provider(app, &task).await?
        }
        // The submit is out and its answer not recorded yet: ask again in a moment, when the
        // provider's reference is known (a provider that can drop queued jobs may still).
        TaskStatus::Created => return Err(cannot_cancel().retryable(Some(2))),
        _ => return Err(cannot_cancel()),
    };
    tracing::info!("task canceled");
    Ok(json_response(200, &view_of(app, &task).await?))
}

fn cannot_cancel() -> ApiError {
    ApiError::new(
        409,
        "cannot_cancel",
        "the video provider already has this task; it can no longer be canceled",
    )
}

/// The cancel written (refunded once by the terminal write), or 409 when the task moved on.
async fn apply_cancel<S: Store, V, P, Q>(
    app: &App<S, V, P, Q>,
    task: &Task,
    event: TaskEvent,
) -> Result<Task, ApiError> {
    match app.store.apply(&task.id, event, TaskPatch::default()).await {
        Ok(applied) if applied.task.status == TaskStatus::Canceled => Ok(applied.task),
        Ok(_) | Err(StoreError::InvalidTransition(_)) => Err(cannot_cancel()),
        Err(e) => Err(ApiError::from(e)),
    }
}

/// A job the provider holds in its queue: the provider drops it (fal) or says it is too late
/// (or cannot cancel at all: Kling), and the task goes on.
async fn cancel_at_provider<S: Store, V, P: VideoProvider, Q>(
    app: &App<S, V, P, Q>,
    task: &Task,
) -> Result<Task, ApiError> {
    let deadline = Deadline::after(std::time::Duration::from_secs(5));
    match app.provider.cancel(lookup_of(task), deadline).await {
        Ok(CancelOutcome::Canceled) => apply_cancel(app, task, TaskEvent::ProviderCanceled).await,
        Ok(CancelOutcome::AlreadyStarted | CancelOutcome::NotOffered) => Err(cannot_cancel()),
        Err(e) => {
            tracing::warn!(error = %e, "the provider could not cancel");
            Err(cannot_cancel().retryable(Some(5)))
        }
    }
}

/// A `200` with an `ETag`, or a bodiless `304` when the app already holds this representation;
/// `Retry-After` tells a polling app when to look again.
fn conditional<T: Serialize>(req: &Request, body: &T, retry_after: Option<u64>) -> Response<Body> {
    let Ok(text) = serde_json::to_string(body) else {
        return error_response(&ApiError::internal(), &request::request_id(req));
    };
    let tag = request::etag(text.as_bytes());
    let fresh = request::if_none_match_hits(header(req, "if-none-match"), &tag);
    let mut builder = Response::builder()
        .header("etag", &tag)
        .header("cache-control", "private, no-cache");
    if let Some(secs) = retry_after {
        builder = builder.header("retry-after", secs.to_string());
    }
    let built = if fresh {
        builder.status(304).body(Body::Empty)
    } else {
        builder
            .status(200)
            .header("content-type", "application/json")
            .body(Body::Text(text))
    };
    built.unwrap_or_else(|_| Response::new(Body::Empty))
}

/// The caller's task; another user's task is indistinguishable from a missing one.
async fn owned_task<S: Store, V, P, Q>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
    id: &str,
) -> Result<Task, ApiError> {
    if !shared::domain::task::TaskId::well_formed(id) {
        return Err(ApiError::not_found("video"));
    }
    tracing::Span::current().record("task_id", id);
    app.store
        .get_task(id)
        .await?
        .filter(|t| t.user_id == identity.user_id)
        .ok_or_else(|| ApiError::not_found("video"))
}

/// The fallback for lost callbacks: a stale unfinished task is checked with the provider (at most once
/// per window per task, whoever asks); a failure to check only means the view stays as it was.
async fn poll_if_stale<S: Store, V, P: VideoProvider, Q: FinalizeQueue>(
    app: &App<S, V, P, Q>,
    task: Task,
) -> Task {
    let outcome = sync_task(
        &app.store,
        &app.provider,
        &app.queue,
        &task,
        app.poll,
        timestamp::now(),
        Deadline::after(Duration::from_secs(5)),
    )
    .await;
    match outcome {
        Ok(
            shared::lifecycle::sync::SyncOutcome::Skipped
            | shared::lifecycle::sync::SyncOutcome::Unchanged,
        ) => task,
        Ok(outcome) => {
            tracing::info!(?outcome, "status poll moved the task");
            app.store
                .get_task(&task.id)
                .await
                .ok()
                .flatten()
                .unwrap_or(task)
        }
        Err(e) => {
            tracing::warn!(error = %e, "status poll failed");
            task
        }
    }
}

/// `DELETE /v1/videos/{id}`: remove the stored video and mark the task deleted; repeating it
/// changes nothing. A task still in progress cannot be deleted yet.
async fn delete<S: Store, V: VideoStore, P, Q>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
    id: &str,
) -> Result<Response<Body>, ApiError> {
    let task = owned_task(app, identity, id).await?;
    if !task.status.is_terminal() {
        return Err(ApiError::new(
            409,
            "task_in_progress",
            "the video is still being made; delete it once it is ready or failed",
        )
        .retryable(Some(30)));
    }
    // Whatever object exists goes, recorded or not (a finalize that lost a race with a
    // failure may have left one behind). A task answered from the cache shows another task's
    // object: that one stays.
    if task.cached_from.is_none() {
        let key = task
            .video
            .as_ref()
            .map_or_else(|| video_key(&task.user_id, &task.id), |v| v.key.clone());
        // Its poster too, made or not (the poster job removes one it makes after this).
        for key in [shared::domain::task::poster_key(&key), key] {
            app.videos.delete(&key).await.map_err(|e| {
                tracing::error!(error = %e, "deleting the video failed");
                ApiError::internal()
            })?;
        }
    }
    app.store
        .mark_deleted(&task.id, shared::domain::timestamp::Timestamp::now())
        .await?;
    tracing::info!("video deleted");
    Ok(Response::builder()
        .status(204)
        .body(Body::Empty)
        .unwrap_or_else(|_| Response::new(Body::Empty)))
}

/// `GET /v1/me`: plan, limits and today's usage, with the ledger's own sum beside it.
async fn me<S: Store, V, P, Q>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let now = timestamp::now();
    let day = timestamp::utc_day(now);
    let account = app.store.account(&identity.user_id, &day).await?;
    let (plan_name, plan) = app
        .plans
        .resolve(account.plan.as_deref(), identity.plan_hint.as_deref());
    let ledger = app.store.ledger(&identity.user_id).await?;
    let (mut debits, mut refunds) = (0u64, 0u64);
    for entry in ledger.iter().filter(|e| e.day == day) {
        match entry.kind {
            LedgerKind::Debit => debits += entry.units.0,
            LedgerKind::Refund => refunds += entry.units.0,
        }
    }
    let erasure = app.store.erasure(&identity.user_id).await?;
    let budget = plan.daily_budget();
    let suspended_until = account
        .suspended_until
        .filter(|u| *u > timestamp::unix_seconds(now))
        .map(timestamp::rfc3339_secs);
    Ok(json_response(
        200,
        &serde_json::json!({
            "user_id": identity.user_id,
            "plan": plan_name,
            "limits": plan,
            "usage": {
                "day": day,
                "cost_units": account.used_today,
                "remaining_cost_units": shared::domain::task::CostUnits(budget.0.saturating_sub(account.used_today.0)),
                "in_flight": account.in_flight,
            },
            "ledger_today": {
                "debits": shared::domain::task::CostUnits(debits),
                "refunds": shared::domain::task::CostUnits(refunds),
                "net": shared::domain::task::CostUnits(debits.saturating_sub(refunds)),
            },
            "suspended_until": suspended_until,
            "erasure": erasure.as_ref().map(erasure::erasure_view),
        }),
    ))
}

#[derive(Serialize)]
struct Page {
    items: Vec<TaskView>,
    next_cursor: Option<String>,
}

/// `limit` from the query string: 1..=100, default 20.
pub fn parse_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    422,
                    "invalid_limit",
                    format!("limit must be an integer from 1 to {MAX_PAGE}"),
                )
                .with_field("limit")
            }),
    }
}

async fn list<S: Store, V: VideoStore, P: VideoProvider, Q: FinalizeQueue>(
    app: &App<S, V, P, Q>,
    req: &Request,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let query = req.query_string_parameters();
    let limit = parse_limit(query.first("limit"))?;
    if let Some(group) = query.first("group") {
        return list_group(app, req, identity, group).await;
    }
    let page = app
        .store
        .list_tasks(&identity.user_id, limit, query.first("cursor"))
        .await?;
    let mut items = Vec::with_capacity(page.tasks.len());
    for task in &page.tasks {
        items.push(view_of(app, task).await?);
    }
    let page = Page {
        items,
        next_cursor: page.next_cursor,
    };
    Ok(conditional(req, &page, None))
}

/// `GET /v1/videos?group=`: the tasks of one of the caller's variation groups, in order.
async fn list_group<S: Store, V: VideoStore, P, Q>(
    app: &App<S, V, P, Q>,
    req: &Request,
    identity: &Identity,
    group: &str,
) -> Result<Response<Body>, ApiError> {
    let ids = app
        .store
        .group(&identity.user_id, group)
        .await?
        .ok_or_else(|| ApiError::not_found("group"))?;
    let mut items = Vec::with_capacity(ids.len());
    for id in &ids {
        if let Some(task) = app.store.get_task(id).await? {
            items.push(view_of(app, &task).await?);
        }
    }
    let page = Page {
        items,
        next_cursor: None,
    };
    Ok(conditional(req, &page, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_table() {
        let cases = [
            (None, Ok(20)),
            (Some("1"), Ok(1)),
            (Some("100"), Ok(100)),
            (Some("0"), Err(())),
            (Some("101"), Err(())),
            (Some("x"), Err(())),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_limit(raw).map_err(|_| ()), want, "{raw:?}");
        }
    }
}
