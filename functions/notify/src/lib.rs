//! notify: the table's change stream → one event per task status change → EventBridge, mobile
//! push and the app-webhook queue; and the app-webhook queue → signed deliveries.
//!
//! Every sink is marked once reached, after it was reached: a crash in between repeats a send
//! (consumers drop repeats by `event_id`), never loses one.

pub mod apns;
mod deliver;
mod live;
mod stream;

use std::time::Duration;

use serde_json::{Value, json};

use shared::domain::notice::{PushText, RetryPolicy};
use shared::ports::{
    DeliveryLog, Devices, EventBus, LiveActivities, LiveActivityPush, NoticeMarks, PushEndpoints,
    TaskEvents, WebhookOutbox,
};
use shared::runtime::config::{ConfigError, Source};

pub use deliver::{SignError, Signer};

/// What notify needs of the table.
pub trait Store: Devices + NoticeMarks + DeliveryLog + TaskEvents + LiveActivities {}
impl<T: Devices + NoticeMarks + DeliveryLog + TaskEvents + LiveActivities> Store for T {}

/// The operator's app-backend endpoint and its signing secrets (newest first; two while a
/// secret is rotated).
#[derive(Clone)]
pub struct AppWebhook {
    pub url: String,
    pub signer: Signer,
    /// The local stack's receivers listen on loopback.
    pub allow_loopback: bool,
}

pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub event_bus: String,
    pub push_apps: shared::aws::PlatformApps,
    pub push_text: PushText,
    pub webhook: Option<AppWebhook>,
    pub webhook_queue_url: String,
    pub webhook_dead_letter_url: String,
    pub retry: RetryPolicy,
    /// Live Activity pushes: the APNs key and topic, when the app has Live Activities.
    pub apns: Option<apns::ApnsConfig>,
    pub live_policy: shared::domain::live::LivePolicy,
}

fn text(src: &impl Source, name: &str, default: String) -> String {
    src.optional(name).unwrap_or(default)
}

fn push_text(src: &impl Source) -> PushText {
    let d = PushText::default();
    PushText {
        title: text(src, "PUSH_TITLE", d.title),
        succeeded: text(src, "PUSH_TEXT_SUCCEEDED", d.succeeded),
        failed: text(src, "PUSH_TEXT_FAILED", d.failed),
        canceled: text(src, "PUSH_TEXT_CANCELED", d.canceled),
    }
}

impl Settings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let webhook = match src.optional("APP_WEBHOOK_URL") {
            None => None,
            Some(url) => Some(AppWebhook {
                url,
                signer: Signer::from_list(&src.required("APP_WEBHOOK_SECRETS")?).map_err(|e| {
                    ConfigError::Invalid {
                        name: "APP_WEBHOOK_SECRETS",
                        reason: e.to_string(),
                    }
                })?,
                allow_loopback: src
                    .optional("WEBHOOK_URL_ALLOW_LOOPBACK")
                    .is_some_and(|v| v == "true"),
            }),
        };
        let secs = |name: &'static str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(src.parsed(name, default)?))
        };
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            event_bus: src.required("EVENT_BUS_NAME")?,
            push_apps: shared::aws::PlatformApps::from_source(src),
            push_text: push_text(src),
            webhook,
            webhook_queue_url: src.required("APP_WEBHOOK_QUEUE_URL")?,
            webhook_dead_letter_url: src.required("APP_WEBHOOK_DEAD_LETTER_URL")?,
            retry: RetryPolicy {
                first_delay: secs("APP_WEBHOOK_FIRST_RETRY_SECONDS", 30)?,
                max_delay: secs("APP_WEBHOOK_MAX_RETRY_SECONDS", 3 * 3600)?,
                window: secs("APP_WEBHOOK_RETRY_WINDOW_SECONDS", 24 * 3600)?,
            },
            apns: apns::ApnsConfig::from_source(src)?,
            live_policy: shared::domain::live::LivePolicy {
                min_interval: secs("PROGRESS_UPDATE_SECONDS", 10)?,
                stale_after: secs("LIVE_ACTIVITY_STALE_SECONDS", 600)?,
                dismiss_after: secs("LIVE_ACTIVITY_DISMISS_SECONDS", 3600)?,
            },
        })
    }
}

pub struct App<S, B, P, O, L> {
    pub store: S,
    pub bus: B,
    pub push: P,
    pub outbox: O,
    /// Live Activity pushes (APNs).
    pub live: L,
    pub live_policy: shared::domain::live::LivePolicy,
    pub push_text: PushText,
    pub webhook: Option<AppWebhook>,
    pub retry: RetryPolicy,
    pub http: reqwest::Client,
}

/// One invocation: a batch of stream records or of queued deliveries. The answer lists the
/// items to try again (`batchItemFailures`).
pub async fn handle<S, B, P, O, L>(app: &App<S, B, P, O, L>, event: Value) -> Value
where
    S: Store,
    B: EventBus,
    P: PushEndpoints,
    O: WebhookOutbox,
    L: LiveActivityPush,
{
    let source = event
        .pointer("/Records/0/eventSource")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let failed: Vec<String> = match source.as_str() {
        "aws:dynamodb" => stream::on_records(app, event).await,
        "aws:sqs" => deliver::on_messages(app, event).await,
        "" => Vec::new(),
        other => {
            tracing::error!(source = other, "event from an unknown source; ignored");
            Vec::new()
        }
    };
    let failures: Vec<Value> = failed
        .into_iter()
        .map(|id| json!({ "itemIdentifier": id }))
        .collect();
    json!({ "batchItemFailures": failures })
}
