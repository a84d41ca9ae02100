//! Live progress: each task's log of status events (what a status stream replays), the caps on
//! open streams, Live Activity registrations, and the turn a progress push takes.

use std::future::Future;

use super::StoreError;
use crate::domain::live::LiveEvent;
use crate::domain::timestamp::Timestamp;

/// A task's status events, written once each by notify from the table's change stream.
pub trait TaskEvents: Send + Sync {
    /// Record an event; the same id again changes nothing.
    fn record_event(
        &self,
        task_id: &str,
        event: &LiveEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The recorded events whose id is above `after`, in id order.
    fn events_after(
        &self,
        task_id: &str,
        after: u32,
    ) -> impl Future<Output = Result<Vec<LiveEvent>, StoreError>> + Send;
}

/// A user's open status streams: at most `cap` places, each held until its stream closes or
/// `until` passes (a stream whose function died frees its place by itself). A stream of a task
/// that already holds a place may take that place over: a client that reconnects (its old
/// connection may still look open from the function's side) is never refused.
pub trait StreamSlots: Send + Sync {
    /// The place taken (`Some(slot)`), or `None` when all `cap` are held by other tasks.
    fn claim_stream(
        &self,
        user_id: &str,
        task_id: &str,
        cap: u32,
        holder: &str,
        until: Timestamp,
    ) -> impl Future<Output = Result<Option<u32>, StoreError>> + Send;

    fn release_stream(
        &self,
        user_id: &str,
        slot: u32,
        holder: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// An iOS Live Activity's push token, registered for one task by its owner.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LiveActivity {
    pub task_id: crate::domain::task::TaskId,
    pub user_id: crate::domain::task::UserId,
    /// Hex push token, as the app got it from ActivityKit.
    pub token: String,
    /// `true` for tokens of development builds (APNs sandbox).
    #[serde(default)]
    pub sandbox: bool,
    pub created_at: Timestamp,
}

impl LiveActivity {
    /// Stable and short: a token may be re-registered, never duplicated.
    pub fn id(&self) -> String {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(self.token.as_bytes())[..12])
    }
}

pub trait LiveActivities: Send + Sync {
    fn put_live_activity(
        &self,
        activity: &LiveActivity,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn live_activities_of(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<Vec<LiveActivity>, StoreError>> + Send;

    fn remove_live_activity(
        &self,
        task_id: &str,
        activity_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Take the task's turn for a progress push at `now` unless the last was taken less than
    /// `min` before (coalescing, atomic across concurrent senders); `true` when taken.
    fn take_push_turn(
        &self,
        task_id: &str,
        now: Timestamp,
        min: std::time::Duration,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Where Live Activity pushes go (APNs, token-based auth, `apns-push-type: liveactivity`).
/// `EndpointDisabled` when APNs says the token is no longer valid (410, or a bad token).
pub trait LiveActivityPush: Send + Sync {
    fn push(
        &self,
        activity: &LiveActivity,
        priority: u8,
        payload: &serde_json::Value,
    ) -> impl Future<Output = Result<super::PushOutcome, super::SinkError>> + Send;
}

/// No APNs configured: nothing can be delivered, so a registration is let go.
impl<T: LiveActivityPush> LiveActivityPush for Option<T> {
    async fn push(
        &self,
        activity: &LiveActivity,
        priority: u8,
        payload: &serde_json::Value,
    ) -> Result<super::PushOutcome, super::SinkError> {
        match self {
            Some(inner) => inner.push(activity, priority, payload).await,
            None => Ok(super::PushOutcome::EndpointDisabled),
        }
    }
}
