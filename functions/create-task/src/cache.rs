//! The result cache: a cacheable template version asked again by the same user with the same
//! fields and settings, within its TTL, gets a new task that shows the video already stored
//! (`cached_from`, cost 0, no provider call). `fresh: true` asks the provider anyway (and the
//! new result becomes the cached one).

use sha2::{Digest, Sha256};

use shared::domain::task::{CostUnits, Task, TaskStatus};
use shared::domain::timestamp::{self, Timestamp};
use shared::edge::envelope::ApiError;
use shared::ports::IdempotencyRecord;
use shared::ports::{ResultCache, Tasks};

use crate::{Parsed, Ports};

/// What makes two requests the same: the template version and fields, and every setting.
pub fn cache_key(parsed: &Parsed) -> Option<(String, u64)> {
    let (template, used) = parsed.template.as_ref()?;
    let ttl = template.cache_ttl_seconds?;
    let used = serde_json::to_string(used).unwrap_or_default();
    let text = format!("{used}\n{:?}", parsed.spec);
    Some((hex::encode(Sha256::digest(text.as_bytes())), ttl))
}

/// The stored task a request may reuse: succeeded, its video still there.
pub async fn hit<A: Ports>(app: &A, user_id: &str, key: &str) -> Result<Option<Task>, ApiError> {
    let now = timestamp::unix_seconds(timestamp::now());
    let Some(id) = app.store().cached(user_id, key, now).await? else {
        return Ok(None);
    };
    let task = app.store().get_task(&id).await?;
    Ok(task.filter(|t| {
        t.user_id == user_id
            && t.status == TaskStatus::Succeeded
            && t.video.is_some()
            && t.deleted_at.is_none()
    }))
}

/// A new task showing `source`'s video: succeeded at once, nothing charged.
pub fn from_cache(source: &Task, parsed: &Parsed, now: Timestamp) -> Task {
    let id = uuid::Uuid::now_v7().to_string();
    let mut task = source.clone();
    task.id = id.as_str().into();
    task.created_at = now;
    task.updated_at = now;
    task.completed_at = Some(now);
    task.cost_units = CostUnits(0);
    task.cached_from = Some(source.id.clone());
    task.template = parsed.template.as_ref().map(|(_, used)| used.clone());
    task.group_id = None;
    task.upgraded_from = None;
    task.request = None;
    task.provider_ref = None;
    task.provider_handle = None;
    task.submitted_at = None;
    task.checked_at = None;
    task.provider_facts = Default::default();
    task
}

/// The answer from the cache, when there is one: recorded under the key, no provider call.
pub async fn answer<A: Ports>(
    app: &A,
    parsed: &Parsed,
    user_id: &str,
    (key, hash): (&str, &str),
) -> Result<Option<Result<Task, IdempotencyRecord>>, ApiError> {
    let Some((cache_key, _)) = cache_key(parsed).filter(|_| !parsed.request.fresh) else {
        return Ok(None);
    };
    let Some(source) = hit(app, user_id, &cache_key).await? else {
        return Ok(None);
    };
    let task = from_cache(&source, parsed, Timestamp::now());
    if let Some(existing) = record(app, &task, key, hash).await? {
        return Ok(Some(Err(existing)));
    }
    tracing::info!(task_id = %task.id, cached_from = %source.id, "answered from the result cache");
    Ok(Some(Ok(task)))
}

/// A new result of a cacheable request becomes the cached one (until the template's TTL).
pub async fn remember<A: Ports>(app: &A, parsed: &Parsed, task: &Task) {
    let Some((key, ttl)) = cache_key(parsed) else {
        return;
    };
    let expires = timestamp::unix_seconds(timestamp::now()) + ttl as i64;
    if let Err(e) = app
        .store()
        .remember(task.user_id.as_str(), &key, &task.id, expires)
        .await
    {
        tracing::warn!(error = %e, "result not remembered for the cache");
    }
}

/// Record the cached answer under the request's key; the key's earlier record when it was used.
pub async fn record<A: Ports>(
    app: &A,
    task: &Task,
    key: &str,
    hash: &str,
) -> Result<Option<IdempotencyRecord>, ApiError> {
    let record = IdempotencyRecord {
        user_id: task.user_id.clone(),
        key: key.to_string(),
        request_hash: hash.to_string(),
        task_id: task.id.clone(),
        created_at: task.created_at.to_string(),
    };
    match app.store().record_cached(task, &record).await? {
        shared::ports::CreateOutcome::KeyExists(existing) => Ok(Some(existing)),
        _ => Ok(None),
    }
}
