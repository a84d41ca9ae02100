//! Notifications: the event bus, mobile push endpoints and devices, the marks that keep a
//! repeated stream record from sending twice, and app-webhook deliveries.

use std::future::Future;
use std::time::Duration;

use super::QueueError;
use super::{Cause, StoreError};

#[derive(Debug, thiserror::Error)]
#[error("notification sink error: {0}")]
pub struct SinkError(#[source] pub Cause);

/// Where terminal task events go for other systems (an EventBridge bus).
pub trait EventBus: Send + Sync {
    fn publish(
        &self,
        event: &crate::domain::notice::StatusEvent,
    ) -> impl Future<Output = Result<(), SinkError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Sent,
    /// The platform no longer takes pushes for this endpoint (app uninstalled, token expired).
    EndpointDisabled,
}

/// Mobile push endpoints (SNS platform endpoints).
pub trait PushEndpoints: Send + Sync {
    /// The endpoint for a device token; the same token gives the same endpoint.
    fn create_endpoint(
        &self,
        platform: crate::domain::notice::Platform,
        token: &str,
        user_id: &str,
    ) -> impl Future<Output = Result<String, SinkError>> + Send;

    fn delete_endpoint(&self, endpoint: &str)
    -> impl Future<Output = Result<(), SinkError>> + Send;

    fn push(
        &self,
        endpoint: &str,
        message: &str,
    ) -> impl Future<Output = Result<PushOutcome, SinkError>> + Send;
}

/// A device registered for a user's push notifications.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Device {
    pub id: String,
    pub user_id: crate::domain::task::UserId,
    pub platform: crate::domain::notice::Platform,
    pub endpoint: String,
    pub created_at: crate::domain::timestamp::Timestamp,
}

pub trait Devices: Send + Sync {
    /// Record a device (the same id again replaces it) and make its user the device's owner:
    /// a phone another user signs in on stops getting the first user's pushes.
    fn put_device(&self, device: &Device) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The user who registered the device last.
    fn owner_of(
        &self,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<crate::domain::task::UserId>, StoreError>> + Send;

    fn devices_of(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Device>, StoreError>> + Send;

    /// Remove a device, and its ownership when this user holds it (that record names the
    /// user); the removed record, if it was there.
    fn remove_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> impl Future<Output = Result<Option<Device>, StoreError>> + Send;
}

/// Which sinks an event has reached, so a repeated stream record sends nothing twice.
pub trait NoticeMarks: Send + Sync {
    fn was_sent(
        &self,
        event_id: &str,
        sink: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn mark_sent(
        &self,
        event_id: &str,
        sink: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// One app-webhook delivery: the same `event_id` (the `webhook-id`) on every attempt.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WebhookJob {
    pub event_id: String,
    pub task_id: crate::domain::task::TaskId,
    pub payload: String,
    /// The event's time: the `webhook-timestamp` is the attempt's, this bounds the retries.
    pub first_attempt_at: Option<crate::domain::timestamp::Timestamp>,
    #[serde(default)]
    pub failures: u32,
    /// Not before this (SQS delays at most 15 minutes; longer waits are re-queued).
    #[serde(default)]
    pub not_before: Option<crate::domain::timestamp::Timestamp>,
}

/// The queue of app-webhook deliveries and its dead-letter queue.
pub trait WebhookOutbox: Send + Sync {
    fn enqueue(
        &self,
        job: &WebhookJob,
        delay: Duration,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;

    fn dead_letter(&self, job: &WebhookJob) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    Delivered,
    Failed,
    Refused,
    DeadLettered,
}

/// One line of a task's delivery log, for the operator.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub task_id: crate::domain::task::TaskId,
    pub event_id: String,
    pub attempt: u32,
    pub at: crate::domain::timestamp::Timestamp,
    pub outcome: DeliveryOutcome,
    #[serde(default)]
    pub status_code: Option<u16>,
    #[serde(default)]
    pub detail: Option<String>,
}

pub trait DeliveryLog: Send + Sync {
    fn log_delivery(&self, entry: &Delivery)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    fn deliveries_of(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<Vec<Delivery>, StoreError>> + Send;
}
