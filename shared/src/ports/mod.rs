//! Ports: what the handlers need from the outside world. The AWS adapters are in `aws`; the
//! provider port is in `provider`, with one adapter per provider surface.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

pub use crate::domain::plans::{ChargeRefusal, ViolationPolicy};
use crate::domain::state::{TaskEvent, TaskPatch};
use crate::domain::task::Task;

/// The underlying failure an adapter reports, kept as the error's source.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend error: {0}")]
    Backend(#[source] Cause),
    #[error(transparent)]
    InvalidTransition(#[from] crate::domain::state::InvalidTransition),
    #[error("task {0} does not exist")]
    NoSuchTask(String),
    #[error("task {0} kept changing under concurrent writers")]
    Contention(String),
    #[error("stored record is not readable: {0}")]
    Corrupt(String),
    #[error("the pagination cursor is not valid")]
    InvalidCursor,
}

/// The record that makes a create idempotent per user and `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyRecord {
    pub user_id: crate::domain::task::UserId,
    pub key: String,
    pub request_hash: String,
    pub task_id: crate::domain::task::TaskId,
    pub created_at: String,
}

/// What creating a task charges, and the plan limits the charge must respect.
#[derive(Debug, Clone, PartialEq)]
pub struct Charge {
    pub max_concurrent: u32,
    pub daily_budget: crate::domain::task::CostUnits,
    /// The UTC day the cost counts against.
    pub day: String,
    pub now_secs: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created,
    /// The key was used before; here is what it recorded.
    KeyExists(IdempotencyRecord),
    /// The plan's limits refused the debit; nothing was written.
    Refused(ChargeRefusal),
}

/// The account as stored: plan, slots in use, today's spend, moderation state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountView {
    pub plan: Option<String>,
    pub in_flight: u32,
    pub used_today: crate::domain::task::CostUnits,
    pub suspended_until: Option<i64>,
    pub violations: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LedgerKind {
    Debit,
    Refund,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LedgerEntry {
    pub task_id: crate::domain::task::TaskId,
    pub kind: LedgerKind,
    pub units: crate::domain::task::CostUnits,
    /// The UTC day the entry counts against.
    pub day: String,
    pub at: String,
}

impl LedgerEntry {
    /// The charge for a task, against the day it was created on.
    pub fn debit(task: &Task, day: &str) -> Self {
        Self {
            task_id: task.id.clone(),
            kind: LedgerKind::Debit,
            units: task.cost_units,
            day: day.to_string(),
            at: task.created_at.to_string(),
        }
    }

    /// A failed task's refund, against the day that paid.
    pub fn refund(before: &Task, after: &Task) -> Self {
        Self {
            task_id: before.id.clone(),
            kind: LedgerKind::Refund,
            units: before.cost_units,
            day: crate::domain::plans::refund_day(before.created_at),
            at: after.updated_at.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub task: Task,
    /// Whether the status moved (as opposed to a duplicate or stale event).
    pub moved: bool,
}

/// One callback's identity for deduplication, namespaced by provider.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WebhookClaim {
    pub provider: String,
    pub reference: crate::domain::generation::ProviderRef,
    pub status: &'static str,
}

impl WebhookClaim {
    pub fn key(&self) -> String {
        format!(
            "WEBHOOK#{}#{}#{}",
            self.provider, self.reference, self.status
        )
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<String>,
}

/// Accounts and their money: the charge that records a task, usage, violations and the ledger.
pub trait Accounts: Send + Sync {
    /// Record a new task, its idempotency record, the account's debit and in-flight slot and a
    /// ledger entry in one transaction, or nothing when the plan's limits refuse it.
    fn create_task(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
        charge: &Charge,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;

    fn account(
        &self,
        user_id: &str,
        day: &str,
    ) -> impl Future<Output = Result<AccountView, StoreError>> + Send;

    /// Count a moderation violation once per `request` (the same request retried, or resent
    /// after a lost reply, counts once); returns when the account is now suspended until.
    fn record_violation(
        &self,
        user_id: &str,
        request: &str,
        now_secs: i64,
        policy: ViolationPolicy,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    fn ledger(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;
}

/// Task records, moved only through the state machine.
pub trait Tasks: Send + Sync {
    fn get_task(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<Option<Task>, StoreError>> + Send;

    /// Apply an event through the state machine with a conditional write. Reaching a terminal
    /// state frees the account's slot in the same transaction; FAILED also refunds the cost.
    fn apply(
        &self,
        task_id: &str,
        event: TaskEvent,
        patch: TaskPatch,
    ) -> impl Future<Output = Result<Applied, StoreError>> + Send;

    /// The user's tasks, newest first.
    fn list_tasks(
        &self,
        user_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<TaskPage, StoreError>> + Send;

    /// Claim the right to submit a waiting task (see `state::claim_submit`): true for
    /// exactly one caller.
    fn claim_submit(
        &self,
        task_id: &str,
        seen_attempt: Option<crate::domain::timestamp::Timestamp>,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Hand a waiting task to another provider (see `state::reassign`): true when done.
    fn reassign(
        &self,
        task_id: &str,
        seen_attempt: Option<crate::domain::timestamp::Timestamp>,
        to: &str,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Put a waiting task back in line until `retry_at` (see `state::defer`).
    fn defer(
        &self,
        task_id: &str,
        retry_at: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record that the app deleted the stored video (idempotent); the task as it is now.
    fn mark_deleted(
        &self,
        task_id: &str,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<Option<Task>, StoreError>> + Send;
}

/// What an `Idempotency-Key` recorded.
pub trait Idempotency: Send + Sync {
    fn idempotency(
        &self,
        user_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<IdempotencyRecord>, StoreError>> + Send;
}

/// The provider account's capacity: at most `cap` tasks hold a slot at once. A slot is taken
/// before submitting and freed by the task's terminal write (or a submit that made nothing).
/// What a create reads before deciding: the account, today's usage and the caller's record of
/// its idempotency key. Stores that can read them in one round trip do (DynamoDB:
/// `BatchGetItem`); the default reads them in turn.
pub trait Admission: Accounts + Idempotency {
    fn admission(
        &self,
        user_id: &str,
        day: &str,
        key: &str,
    ) -> impl Future<Output = Result<(AccountView, Option<IdempotencyRecord>), StoreError>> + Send
    {
        async move {
            let record = self.idempotency(user_id, key).await?;
            Ok((self.account(user_id, day).await?, record))
        }
    }
}

pub trait Capacity: Send + Sync {
    /// True when `task_id` holds a slot now (already held counts).
    fn take_slot(
        &self,
        provider: &str,
        task_id: &str,
        cap: u32,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    fn release_slot(
        &self,
        provider: &str,
        task_id: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn slot_holders(
        &self,
        provider: &str,
    ) -> impl Future<Output = Result<Vec<crate::domain::task::TaskId>, StoreError>> + Send;
}

/// Tasks waiting for a provider's capacity, in submission order: priority lane, then age.
pub trait WaitingLine: Send + Sync {
    fn waiting(
        &self,
        provider: &str,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Task>, StoreError>> + Send;

    /// How many waiting tasks of the same provider are ahead of this one.
    fn waiting_ahead(&self, task: &Task) -> impl Future<Output = Result<u32, StoreError>> + Send;
}

/// Wakes the dispatcher (an SQS message), now or after a delay.
/// Each provider's circuit breaker (see `breaker`).
pub trait Breakers: Send + Sync {
    fn breaker(
        &self,
        provider: &str,
    ) -> impl Future<Output = Result<crate::domain::breaker::BreakerState, StoreError>> + Send;

    /// Record a submit's outcome; the state after it.
    fn record_submit(
        &self,
        provider: &str,
        ok: bool,
        policy: crate::domain::breaker::BreakerPolicy,
        now: i64,
    ) -> impl Future<Output = Result<crate::domain::breaker::BreakerState, StoreError>> + Send;
}

pub trait DispatchNudge: Send + Sync {
    fn nudge(&self, delay: Duration) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Where a waiting task sorts: priority lane, then creation time, then id.
pub fn waiting_key(task: &Task) -> String {
    format!("{}#{}#{}", task.priority, task.created_at, task.id)
}

/// The sparse index of unfinished tasks, for polling and reconcile.
pub trait ReconcileIndex: Send + Sync {
    /// Unfinished tasks not seen (changed or checked) since `cutoff`, stalest first.
    fn stale_tasks(
        &self,
        cutoff: crate::domain::timestamp::Timestamp,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Task>, StoreError>> + Send;

    /// Claim the right to ask the provider about a task: true for exactly one caller per
    /// `cutoff` window (the task was neither changed nor checked since `cutoff`).
    fn claim_check(
        &self,
        task_id: &str,
        cutoff: crate::domain::timestamp::Timestamp,
        now: crate::domain::timestamp::Timestamp,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Callback deduplication.
pub trait WebhookDedup: Send + Sync {
    /// True the first time this (provider, provider's job, status) callback is seen.
    fn claim_webhook(
        &self,
        claim: &WebhookClaim,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Forget a claim whose follow-up work failed, so a redelivery can do it.
    fn release_webhook(
        &self,
        claim: &WebhookClaim,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Everything the DynamoDB table provides, for wiring and tests that use it all.
pub trait TaskStore: Tasks + Accounts + Idempotency + ReconcileIndex + WebhookDedup {}

impl<T: Tasks + Accounts + Idempotency + ReconcileIndex + WebhookDedup> TaskStore for T {}

#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(#[source] pub Cause);

/// The body of a finalize queue message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FinalizeMessage {
    pub task_id: crate::domain::task::TaskId,
    /// Why finalize should look: the provider is said to be done (the default), or a callback
    /// reported a failure that the provider must confirm before anything is refunded.
    #[serde(default, skip_serializing_if = "FinalizeReason::is_done")]
    pub reason: FinalizeReason,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinalizeReason {
    #[default]
    Done,
    FailureReported,
}

impl FinalizeReason {
    pub fn is_done(&self) -> bool {
        *self == FinalizeReason::Done
    }
}

impl FinalizeMessage {
    pub fn done(task_id: &crate::domain::task::TaskId) -> Self {
        Self {
            task_id: task_id.clone(),
            reason: FinalizeReason::Done,
        }
    }
}

pub trait FinalizeQueue: Send + Sync {
    fn enqueue(
        &self,
        message: &FinalizeMessage,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("object storage error: {0}")]
pub struct BlobError(#[source] pub Cause);

/// Object metadata written with a stored video.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoMetadata {
    pub pairs: Vec<(String, String)>,
}

impl VideoMetadata {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// An open multipart upload.
#[derive(Debug, Clone, PartialEq)]
pub struct MultipartUpload {
    pub key: String,
    pub upload_id: String,
    pub parts: Vec<(i32, String)>,
}

/// The private video bucket. Videos are streamed straight to their final key with a multipart
/// upload, whose completion is atomic: a final key exists only complete, and every byte is
/// written once.
pub trait VideoStore: Send + Sync {
    /// A multipart upload to `key` whose object, once completed (atomically), carries this
    /// metadata.
    fn begin(
        &self,
        key: &str,
        content_type: &str,
        metadata: &VideoMetadata,
    ) -> impl Future<Output = Result<MultipartUpload, BlobError>> + Send;

    /// Upload part `number` (from 1); its `(number, etag)` for completion. Several parts of
    /// one upload may be in flight at once.
    fn upload_part(
        &self,
        upload: &MultipartUpload,
        number: i32,
        body: Bytes,
    ) -> impl Future<Output = Result<(i32, String), BlobError>> + Send;

    fn complete(
        &self,
        upload: &MultipartUpload,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;

    fn abort(&self, upload: &MultipartUpload)
    -> impl Future<Output = Result<(), BlobError>> + Send;

    /// The object's metadata, `None` when it does not exist.
    fn head(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<VideoMetadata>, BlobError>> + Send;

    fn delete(&self, key: &str) -> impl Future<Output = Result<(), BlobError>> + Send;

    /// A GET link signed as of `signed_at` (a window start, so repeated asks get one URL).
    fn presign_get(
        &self,
        key: &str,
        signed_at: std::time::SystemTime,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, BlobError>> + Send;
}

/// App uploads of input images, in the same private bucket under `uploads/{user}/`.
pub trait UploadStore: Send + Sync {
    /// A presigned PUT bound to this content type and length.
    fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, BlobError>> + Send;

    /// The object's bytes, `None` when it does not exist; at most `max_bytes + 1` are read.
    fn fetch(
        &self,
        key: &str,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Option<Bytes>, BlobError>> + Send;

    fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, BlobError>> + Send;
}

// ---- Notifications (the notify function and device registration) ----

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

    /// Remove a device; the removed record, if it was there.
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

// ---- Templates (runtime versions beside the shipped file) ----

/// Published template versions kept in the table. A version is written once and never changes.
pub trait TemplateStore: Send + Sync {
    fn published_templates(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::domain::templates::VideoTemplate>, StoreError>> + Send;

    /// Publish a version; false when that version exists already (it is left as it was).
    fn publish_template(
        &self,
        template: &crate::domain::templates::VideoTemplate,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// Variation groups: the tasks one request with `variations: n` made, by group id.
pub trait Groups: Send + Sync {
    fn put_group(
        &self,
        user_id: &str,
        group_id: &str,
        task_ids: &[crate::domain::task::TaskId],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The group's task ids, when it is the user's.
    fn group(
        &self,
        user_id: &str,
        group_id: &str,
    ) -> impl Future<Output = Result<Option<Vec<crate::domain::task::TaskId>>, StoreError>> + Send;
}

/// The result cache: the same request (a cacheable template version with the same fields and
/// settings) by the same user within the template's TTL reuses the stored video.
pub trait ResultCache: Send + Sync {
    /// The task that made this request's result, while its entry lives.
    fn cached(
        &self,
        user_id: &str,
        key: &str,
        now_secs: i64,
    ) -> impl Future<Output = Result<Option<crate::domain::task::TaskId>, StoreError>> + Send;

    fn remember(
        &self,
        user_id: &str,
        key: &str,
        task_id: &crate::domain::task::TaskId,
        expires_at: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Record a task answered from the cache with its idempotency record: no charge, no slot.
    fn record_cached(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;
}
