//! Published template versions, variation groups and the result cache.

use std::future::Future;

use super::StoreError;
use super::{CreateOutcome, IdempotencyRecord};
use crate::domain::task::Task;

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
