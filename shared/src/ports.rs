//! Ports: what the handlers need from the outside world. The AWS adapters are in `aws`; the
//! Kling client implements `VideoProvider`.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use crate::kling::{
    Deadline, KlingClient, KlingError, KlingTask, TaskRef, Text2VideoRequest, VideoKind,
};
use crate::state::{TaskEvent, TaskPatch};
use crate::task::Task;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend error: {0}")]
    Backend(String),
    #[error(transparent)]
    InvalidTransition(#[from] crate::state::InvalidTransition),
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
    pub user_id: String,
    pub key: String,
    pub request_hash: String,
    pub task_id: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CreateOutcome {
    Created,
    /// The key was used before; here is what it recorded.
    KeyExists(IdempotencyRecord),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub task: Task,
    /// Whether the status moved (as opposed to a duplicate or stale event).
    pub moved: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    pub next_cursor: Option<String>,
}

pub trait TaskStore: Send + Sync {
    /// Record a new task together with its idempotency record, atomically.
    fn create_task(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
    ) -> impl Future<Output = Result<CreateOutcome, StoreError>> + Send;

    fn get_task(
        &self,
        task_id: &str,
    ) -> impl Future<Output = Result<Option<Task>, StoreError>> + Send;

    /// Apply an event through the state machine with a conditional write.
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

    /// True the first time this (provider task, status) callback is seen.
    fn claim_webhook(
        &self,
        provider_task_id: &str,
        status: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Forget a claim whose follow-up work failed, so a redelivery can do it.
    fn release_webhook(
        &self,
        provider_task_id: &str,
        status: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("queue error: {0}")]
pub struct QueueError(pub String);

/// The body of a finalize queue message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FinalizeMessage {
    pub task_id: String,
}

pub trait FinalizeQueue: Send + Sync {
    fn enqueue(
        &self,
        message: &FinalizeMessage,
    ) -> impl Future<Output = Result<(), QueueError>> + Send;
}

#[derive(Debug, thiserror::Error)]
#[error("object storage error: {0}")]
pub struct BlobError(pub String);

/// Object metadata written with a stored video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoMetadata {
    pub pairs: Vec<(String, String)>,
}

pub trait VideoStore: Send + Sync {
    fn put_video(
        &self,
        key: &str,
        body: Bytes,
        content_type: &str,
        metadata: &VideoMetadata,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;

    fn presign_get(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, BlobError>> + Send;
}

pub trait VideoProvider: Send + Sync {
    fn submit_text2video(
        &self,
        request: &Text2VideoRequest,
        deadline: Deadline,
    ) -> impl Future<Output = Result<KlingTask, KlingError>> + Send;

    fn query_task(
        &self,
        kind: VideoKind,
        task: TaskRef<'_>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<KlingTask, KlingError>> + Send;
}

impl VideoProvider for KlingClient {
    async fn submit_text2video(
        &self,
        request: &Text2VideoRequest,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        self.create_text2video(request, deadline).await
    }

    async fn query_task(
        &self,
        kind: VideoKind,
        task: TaskRef<'_>,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        self.query(kind, task, deadline).await
    }
}
