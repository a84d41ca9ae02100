//! The same Idempotency-Key again: the same body answers with the key's task as it is now;
//! another body is refused.

use lambda_http::{Body, Response};

use shared::domain::task::Task;
use shared::domain::timestamp;
use shared::edge::envelope::{ApiError, json_response};
use shared::edge::view::task_view;
use shared::ports::IdempotencyRecord;
use shared::ports::Tasks;

use crate::*;

/// Same key again: the same body answers with the key's task as it is now; another body is
/// refused.
/// The task a used key recorded, when this request is the one it was used with.
pub(crate) async fn replayed_task<A: Ports>(
    app: &A,
    existing: &IdempotencyRecord,
    hash: &str,
) -> Result<Task, ApiError> {
    if existing.request_hash != hash {
        return Err(ApiError::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        )
        .with_field("Idempotency-Key"));
    }
    app.store()
        .get_task(&existing.task_id)
        .await?
        .ok_or_else(ApiError::internal)
}

pub(crate) async fn replay<A: Ports>(
    app: &A,
    existing: &IdempotencyRecord,
    hash: &str,
) -> Result<Response<Body>, ApiError> {
    let task = replayed_task(app, existing, hash).await?;
    // The record is written in the task's own transaction: once it exists, the first request
    // is done and its task (waiting or further along) is the answer.
    tracing::info!(task_id = %task.id, "idempotent replay");
    Ok(json_response(
        202,
        &task_view(&task, None, timestamp::now()),
    ))
}
