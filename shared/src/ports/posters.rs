//! Poster frames: the still stored beside a video, and its record on the task.

use std::future::Future;

use bytes::Bytes;

use super::{BlobError, StoreError};
use crate::domain::task::Poster;

/// Where posters are kept: the private video bucket, beside their video.
pub trait PosterImages: Send + Sync {
    /// Stores a JPEG at `key` (a retry overwrites it with the same picture).
    fn put_poster(
        &self,
        key: &str,
        jpeg: Bytes,
    ) -> impl Future<Output = Result<(), BlobError>> + Send;
}

/// The task's record of its poster.
pub trait PosterRecords: Send + Sync {
    /// Adds the poster to the task's stored video when the task still succeeded with the
    /// video at `video_key` (and was not deleted since): whether it was recorded.
    fn record_poster(
        &self,
        task_id: &str,
        video_key: &str,
        poster: &Poster,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}
