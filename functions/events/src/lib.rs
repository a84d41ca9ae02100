//! events: a task's status as Server-Sent Events, `GET /v1/videos/{id}/events?token=…`.
//!
//! Served from a Lambda function URL in response-streaming mode: API Gateway's HTTP APIs buffer
//! a whole response, so a stream cannot pass through them. A function URL has no JWT
//! authorizer either, so the link carries the right: status-query (owner only, behind the
//! authorizer) hands out links whose token binds task, owner and expiry
//! (`shared::edge::stream_token`).
//!
//! The stream replays the task's event log (written by notify from the table's change stream)
//! after `Last-Event-ID`, samples progress while the task runs, writes a keep-alive comment when
//! idle, and ends after the terminal event, or when its time is up (the client resumes).

mod pump;

use std::time::Duration;

use lambda_http::{Request, RequestExt, Response};

use shared::domain::live::last_event_id;
use shared::domain::timestamp::{self, Timestamp};
use shared::edge::envelope::{ApiError, error_json};
use shared::edge::request::{header, request_id, segments};
use shared::edge::stream_token::{Refusal, verify};
use shared::ports::{StreamSlots, TaskEvents, Tasks};
use shared::runtime::config::{ConfigError, Source, StreamConfig, TableConfig};

pub use lambda_runtime::streaming::Body;

/// What the stream function needs of the table.
pub trait Store: Tasks + TaskEvents + StreamSlots + 'static {}
impl<T: Tasks + TaskEvents + StreamSlots + 'static> Store for T {}

/// How streams behave; every figure from configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open streams per user.
    pub per_user: u32,
    /// How often the event log is read.
    pub poll: Duration,
    /// A comment after this long without a write.
    pub keep_alive: Duration,
    /// At most one progress sample per this interval.
    pub progress_every: Duration,
    /// A stream closes after this long (within the function's timeout); the client resumes.
    pub max_open: Duration,
    /// Typical generation time, for the progress estimate.
    pub typical_secs: u64,
}

pub struct Settings {
    pub table: TableConfig,
    pub secret: Vec<u8>,
    pub limits: Limits,
}

impl Settings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let secs = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(src.parsed(name, default)?))
        };
        Ok(Self {
            table: TableConfig::from_source(src)?,
            secret: StreamConfig::secret_from_source(src)?,
            limits: Limits {
                per_user: src.parsed("STREAMS_PER_USER", 3)?,
                poll: Duration::from_millis(src.parsed("STREAM_POLL_MILLIS", 1000)?),
                keep_alive: secs("STREAM_KEEPALIVE_SECONDS", 15)?,
                progress_every: secs("PROGRESS_UPDATE_SECONDS", 10)?,
                max_open: secs("STREAM_MAX_SECONDS", 840)?,
                typical_secs: shared::edge::view::TYPICAL_GENERATION_SECS,
            },
        })
    }
}

pub struct App<S> {
    pub store: S,
    pub secret: Vec<u8>,
    pub limits: Limits,
}

/// A stream that may start: whose task, from which event, and the place it holds.
struct Opened {
    task_id: String,
    user_id: String,
    after: u32,
    slot: u32,
    holder: String,
}

pub async fn handle<S: Store>(app: &'static App<S>, req: Request) -> Response<Body> {
    let request_id = request_id(&req);
    match open(app, &req, &request_id).await {
        Ok(opened) => pump::start(app, opened),
        Err(err) => refusal(&err, &request_id),
    }
}

fn refused(status: u16, code: &'static str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

async fn open<S: Store>(app: &App<S>, req: &Request, request_id: &str) -> Result<Opened, ApiError> {
    let task_id = match (req.method().as_str(), segments(req).as_slice()) {
        ("GET", ["v1", "videos", id, "events"]) => (*id).to_string(),
        _ => return Err(refused(404, "route_not_found", "no such route")),
    };
    let query = req.query_string_parameters();
    let token = query.first("token").unwrap_or_default();
    let task = app
        .store
        .get_task(&task_id)
        .await
        .map_err(|e| shared::edge::envelope::logged_internal("task not read", e))?;
    // Without the task there is no owner to check the token against: the same answer as a
    // forged one, so a link reveals nothing about tasks it was not made for.
    let bad_link = || refused(401, "invalid_stream_token", "this stream link is not valid");
    let task = task
        .filter(|t| t.deleted_at.is_none())
        .ok_or_else(bad_link)?;
    let now = timestamp::unix_seconds(timestamp::now());
    match verify(&app.secret, &task_id, task.user_id.as_str(), token, now) {
        Ok(()) => {}
        Err(Refusal::Expired) => {
            return Err(refused(
                401,
                "invalid_stream_token",
                "this stream link has expired; get a new one from GET /v1/videos/{id}",
            ));
        }
        Err(_) => return Err(bad_link()),
    }
    let resume = header(req, "last-event-id").or(query.first("lastEventId"));
    let until = Timestamp::from(timestamp::now() + app.limits.max_open + Duration::from_secs(30));
    let user_id = task.user_id.to_string();
    let slot = app
        .store
        .claim_stream(&user_id, &task_id, app.limits.per_user, request_id, until)
        .await
        .map_err(|e| shared::edge::envelope::logged_internal("stream place not taken", e))?;
    let Some(slot) = slot else {
        return Err(refused(
            429,
            "too_many_streams",
            &format!(
                "at most {} status streams may be open at once; close one first",
                app.limits.per_user
            ),
        )
        .retryable(Some(15)));
    };
    Ok(Opened {
        task_id,
        user_id,
        after: last_event_id(resume),
        slot,
        holder: request_id.to_string(),
    })
}

/// A refusal is the same error envelope as the API's, in one chunk.
fn refusal(err: &ApiError, request_id: &str) -> Response<Body> {
    let (mut tx, body) = Body::channel();
    let text = error_json(err, request_id);
    tokio::spawn(async move {
        let _ = tx.send_data(bytes::Bytes::from(text)).await;
    });
    let mut builder = Response::builder()
        .status(err.status)
        .header("content-type", "application/json")
        .header("access-control-allow-origin", "*");
    if let Some(secs) = err.retry_after_secs {
        builder = builder.header("retry-after", secs.to_string());
    }
    builder
        .body(body)
        .unwrap_or_else(|_| Response::new(Body::empty()))
}
