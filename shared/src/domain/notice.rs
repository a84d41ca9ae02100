//! Notifications: every change of a task's status becomes one event with a stable id, derived
//! from the table's change stream, so a crash between "state written" and "event sent" can
//! only repeat an event, never lose it. Consumers deduplicate by `event_id`.
//!
//! Pure rules only: which change is an event, what each sink receives, when a failed app
//! webhook is tried again.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::task::{CostUnits, Task, TaskId, TaskStatus, UserId};
use crate::domain::timestamp::Timestamp;

/// EventBridge `source` of our events.
pub const EVENT_SOURCE: &str = "kling-lambda";

/// One status change of one task. A task enters each status at most once (the state machine
/// only moves forward), so `{task}.{status}` names the change for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub event_id: String,
    pub task_id: TaskId,
    pub user_id: UserId,
    pub status: TaskStatus,
    pub cost_units: CostUnits,
    #[serde(default)]
    pub video_key: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    pub at: Timestamp,
}

impl StatusEvent {
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }
}

fn status_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Created => "created",
        TaskStatus::Queued => "queued",
        TaskStatus::Running => "running",
        TaskStatus::Finalizing => "finalizing",
        TaskStatus::Succeeded => "succeeded",
        TaskStatus::Failed => "failed",
        TaskStatus::Canceled => "canceled",
    }
}

/// The event a change of a task item stands for: none when the status did not move (other
/// fields changed) or the item was removed.
pub fn status_event(old: Option<&Task>, new: Option<&Task>) -> Option<StatusEvent> {
    let new = new?;
    if old.is_some_and(|o| o.status == new.status) {
        return None;
    }
    Some(StatusEvent {
        event_id: format!("{}.{}", new.id, status_name(new.status)),
        task_id: new.id.clone(),
        user_id: new.user_id.clone(),
        status: new.status,
        cost_units: new.cost_units,
        video_key: new.video.as_ref().map(|v| v.key.clone()),
        error_code: new.error.as_ref().map(|e| e.code.clone()),
        at: new.updated_at,
    })
}

/// EventBridge `detail-type` of a terminal event; other changes are not put on the bus.
pub fn detail_type(status: TaskStatus) -> Option<&'static str> {
    match status {
        TaskStatus::Succeeded => Some("Video Succeeded"),
        TaskStatus::Failed => Some("Video Failed"),
        TaskStatus::Canceled => Some("Video Canceled"),
        _ => None,
    }
}

/// The event's fields as every sink shows them.
pub fn event_detail(e: &StatusEvent) -> serde_json::Value {
    json!({
        "event_id": e.event_id,
        "task_id": e.task_id,
        "user_id": e.user_id,
        "status": e.status,
        "cost_units": e.cost_units,
        "video_key": e.video_key,
        "error_code": e.error_code,
    })
}

/// The Standard Webhooks payload: `type`, `timestamp`, `data`.
pub fn webhook_payload(e: &StatusEvent) -> String {
    json!({
        "type": format!("video.{}", status_name(e.status)),
        "timestamp": e.at.to_string(),
        "data": event_detail(e),
    })
    .to_string()
}

/// The words of a push notification (configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct PushText {
    pub title: String,
    pub succeeded: String,
    pub failed: String,
    pub canceled: String,
}

impl Default for PushText {
    fn default() -> Self {
        Self {
            title: "Your video".into(),
            succeeded: "Your video is ready.".into(),
            failed: "Your video could not be made. You were not charged.".into(),
            canceled: "Your video was canceled.".into(),
        }
    }
}

/// A mobile platform SNS can push to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Apns,
    ApnsSandbox,
    Fcm,
}

impl Platform {
    /// The key of this platform's message in SNS's per-protocol JSON.
    pub fn sns_key(self) -> &'static str {
        match self {
            Platform::Apns => "APNS",
            Platform::ApnsSandbox => "APNS_SANDBOX",
            Platform::Fcm => "GCM",
        }
    }
}

/// SNS `MessageStructure=json` body for one device: a short alert carrying the task and event
/// ids, so the app can open the video and drop repeats.
pub fn push_message(platform: Platform, e: &StatusEvent, text: &PushText) -> Option<String> {
    let body = match e.status {
        TaskStatus::Succeeded => &text.succeeded,
        TaskStatus::Failed => &text.failed,
        TaskStatus::Canceled => &text.canceled,
        _ => return None,
    };
    let ids = json!({"task_id": e.task_id, "event_id": e.event_id, "status": e.status});
    let inner = match platform {
        Platform::Apns | Platform::ApnsSandbox => json!({
            "aps": {"alert": {"title": text.title, "body": body}},
            "video": ids,
        }),
        Platform::Fcm => json!({
            "notification": {"title": text.title, "body": body},
            "data": ids,
        }),
    };
    Some(json!({ "default": body, platform.sns_key(): inner.to_string() }).to_string())
}

/// How long failed app-webhook deliveries are tried again, and how far apart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub window: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(3 * 3600),
            window: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NextAttempt {
    After(Duration),
    DeadLetter,
}

/// After `failures` failed attempts, the first at `first`: wait twice as long as the last
/// time (capped), or give up once the next try would fall outside the window.
pub fn next_attempt(
    policy: RetryPolicy,
    failures: u32,
    first: Timestamp,
    now: Timestamp,
) -> NextAttempt {
    let exp = failures.saturating_sub(1).min(30);
    let delay = policy
        .first_delay
        .saturating_mul(1u32 << exp)
        .min(policy.max_delay);
    let elapsed = (now.datetime() - first.datetime()).max(time::Duration::ZERO);
    let elapsed = Duration::try_from(elapsed).unwrap_or_default();
    if elapsed + delay > policy.window {
        NextAttempt::DeadLetter
    } else {
        NextAttempt::After(delay)
    }
}

#[cfg(test)]
mod tests;
