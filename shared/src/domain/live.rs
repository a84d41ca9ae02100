//! Live progress: the events a task's status stream carries, their ids, how they are framed as
//! Server-Sent Events, and when a progress push may go out.
//!
//! Event ids are numbers that only grow over a task's life: `rank × 100` for a status and
//! `rank × 100 + progress` for a progress sample inside a status (progress < 100). The state
//! machine only moves forward, so a client that resumes with `Last-Event-ID: n` is owed exactly
//! the events whose id is above `n`, and a repeated write of the same status is the same event.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::task::{Task, TaskStatus, progress};
use crate::domain::timestamp::Timestamp;

/// A comment line keeps proxies and clients from closing an idle stream.
pub const KEEP_ALIVE: &str = ": keep-alive\n\n";

/// Where a status stands in a task's life; the terminal statuses share the last rank.
pub fn rank(status: TaskStatus) -> u32 {
    match status {
        TaskStatus::Created => 1,
        TaskStatus::Queued => 2,
        TaskStatus::Running => 3,
        TaskStatus::Finalizing => 4,
        TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled => 5,
    }
}

/// One event of a task's status stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    pub id: u32,
    pub status: TaskStatus,
    pub progress: u8,
    pub at: Timestamp,
    /// When the provider took the task: running progress is measured from here.
    #[serde(default)]
    pub running_since: Option<Timestamp>,
    #[serde(default)]
    pub error_code: Option<String>,
}

impl LiveEvent {
    /// The status event a task's current state stands for.
    pub fn of_status(task: &Task) -> Self {
        Self {
            id: rank(task.status) * 100,
            status: task.status,
            progress: progress(task.status, 0, 1),
            at: task.updated_at,
            running_since: task.submitted_at,
            error_code: task.error.as_ref().map(|e| e.code.clone()),
        }
    }

    /// A progress sample of this (running) status at `now`; `None` when the estimate is not
    /// above what the client has seen (`seen`, an event id).
    pub fn progress_at(&self, now: Timestamp, typical_secs: u64, seen: u32) -> Option<Self> {
        if self.status != TaskStatus::Running {
            return None;
        }
        let since = self.running_since.unwrap_or(self.at);
        let secs = (now.datetime() - since.datetime()).whole_seconds().max(0) as u64;
        let pct = progress(self.status, secs, typical_secs).min(99);
        let id = rank(self.status) * 100 + u32::from(pct);
        (id > seen && pct > self.progress).then(|| Self {
            id,
            progress: pct,
            at: now,
            ..self.clone()
        })
    }

    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// `status` for a change of status, `progress` for a sample inside one.
    pub fn kind(&self) -> &'static str {
        if self.id.is_multiple_of(100) {
            "status"
        } else {
            "progress"
        }
    }

    /// The SSE frame: `id`, `event` and one line of JSON data.
    pub fn frame(&self, task_id: &str) -> String {
        let data = json!({
            "task_id": task_id,
            "status": self.status,
            "label": self.status.label(),
            "progress": self.progress,
            "at": self.at.to_string(),
            "error_code": self.error_code,
        });
        format!("id: {}\nevent: {}\ndata: {data}\n\n", self.id, self.kind())
    }
}

/// The `Last-Event-ID` a client resumes from; anything unreadable starts from the beginning.
pub fn last_event_id(header: Option<&str>) -> u32 {
    header
        .and_then(|h| h.trim().parse::<u32>().ok())
        .filter(|id| *id <= rank(TaskStatus::Succeeded) * 100)
        .unwrap_or(0)
}

/// Whether a progress push (Live Activity update, Android progress message) may go out now:
/// the end always does; an update only once `min_interval` has passed since the last one.
pub fn may_push(terminal: bool, last: Option<Timestamp>, now: Timestamp, min: Duration) -> bool {
    if terminal {
        return true;
    }
    match last {
        None => true,
        Some(last) => {
            let gap = now.datetime() - last.datetime();
            gap >= time::Duration::try_from(min).unwrap_or(time::Duration::MAX)
        }
    }
}

#[cfg(test)]
mod tests;

/// How lock-screen progress is shown (configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LivePolicy {
    /// At most one progress push per task per this interval (`PROGRESS_UPDATE_SECONDS`).
    pub min_interval: Duration,
    /// An update not followed by another within this is shown as stale (`stale-date`).
    pub stale_after: Duration,
    /// How long the ended activity stays on the lock screen (`dismissal-date`).
    pub dismiss_after: Duration,
}

impl Default for LivePolicy {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(10),
            stale_after: Duration::from_secs(600),
            dismiss_after: Duration::from_secs(3600),
        }
    }
}

/// The content state an app's Live Activity renders: the same fields for every update.
fn content_state(task_id: &str, e: &LiveEvent) -> serde_json::Value {
    json!({
        "task_id": task_id,
        "status": e.status,
        "label": e.status.label(),
        "progress": e.progress,
    })
}

/// An APNs `liveactivity` push for one event: `update` while the task is unfinished, `end` on
/// the terminal event (with its dismissal date). The APNs priority goes with it: 10 for a
/// change the user waits for (running, and the end), 5 otherwise.
pub fn live_activity_push(
    task_id: &str,
    e: &LiveEvent,
    now: Timestamp,
    policy: &LivePolicy,
) -> (u8, serde_json::Value) {
    let at = now.datetime().unix_timestamp();
    let secs = |d: Duration| at + i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
    let mut aps = json!({
        "timestamp": at,
        "event": if e.is_terminal() { "end" } else { "update" },
        "content-state": content_state(task_id, e),
        "relevance-score": if e.status == TaskStatus::Running { 100 } else { 50 },
    });
    if e.is_terminal() {
        aps["dismissal-date"] = json!(secs(policy.dismiss_after));
    } else {
        aps["stale-date"] = json!(secs(policy.stale_after));
    }
    let urgent = e.is_terminal() || e.status == TaskStatus::Running;
    (if urgent { 10 } else { 5 }, json!({ "aps": aps }))
}

/// An FCM data message (through SNS, FCM HTTP v1) for an Android progress notification: data
/// only, so the app draws it, and collapsed per task so a phone offline for a while gets the
/// latest only.
pub fn fcm_progress_message(task_id: &str, event_id: &str, e: &LiveEvent) -> String {
    let message = json!({
        "fcmV1Message": {
            "message": {
                "android": {"collapse_key": format!("task-{task_id}"), "priority": "normal"},
                "data": {
                    "kind": "progress",
                    "task_id": task_id,
                    "event_id": event_id,
                    "status": e.status.as_str(),
                    "label": e.status.label(),
                    "progress": e.progress.to_string(),
                },
            }
        }
    });
    json!({ "default": e.status.label(), "GCM": message.to_string() }).to_string()
}
