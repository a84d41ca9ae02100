//! The finalize queue, the private video bucket and app uploads of input images.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;

use super::Cause;

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
    /// A callback arrived before we knew the provider's reference for the task (an unsigned
    /// callback cannot give us one): finalize asks the provider by our id, which records the
    /// reference and the status, and stores the video if it is done.
    Hint,
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
    pub parts: Vec<UploadedPart>,
}

/// A stored part, as the upload's completion names it (ordered by number).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UploadedPart {
    pub number: i32,
    pub etag: String,
    /// The part's CRC32 as the store checked it (base64): an upload begun with a checksum
    /// algorithm names each part's checksum in its completion.
    pub crc32: Option<String>,
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

    /// Upload part `number` (from 1); what its completion names. Several parts of one upload
    /// may be in flight at once.
    fn upload_part(
        &self,
        upload: &MultipartUpload,
        number: i32,
        body: Bytes,
    ) -> impl Future<Output = Result<UploadedPart, BlobError>> + Send;

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

    /// Every object under `prefix` (a user's uploads or exports) deleted; how many.
    fn delete_prefix(&self, prefix: &str) -> impl Future<Output = Result<usize, BlobError>> + Send;
}

/// Documents made for a user (an account export), in the same private bucket under `exports/`.
pub trait DocumentStore: Send + Sync {
    /// Stores a JSON document at `key`.
    fn put_document(
        &self,
        key: &str,
        body: Bytes,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;

    /// A GET link straight from the bucket: the CDN serves only videos.
    fn presign_document(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<String, BlobError>> + Send;
}
