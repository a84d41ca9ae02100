//! `DELETE /v1/me`: the account's erasure, asked for. The work is the account function's job
//! (`functions/account`); this records the request once and (re)starts the job, so a repeated
//! request resumes a stalled job and never starts a second erasure beside the first.

use std::time::Duration;

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::domain::timestamp::Timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response, logged_internal};
use shared::ports::{
    Erasure, ErasureQueue, ErasureStatus, FinalizeMessage, FinalizeQueue, QueueError,
};

use crate::{App, Store};

/// Where status-query sends: finalize (a callback found lost by polling) and erasure jobs.
pub struct Queues<F, E> {
    pub finalize: F,
    pub erasure: E,
}

impl<F: FinalizeQueue, E: Send + Sync> FinalizeQueue for Queues<F, E> {
    async fn enqueue(&self, message: &FinalizeMessage) -> Result<(), QueueError> {
        self.finalize.enqueue(message).await
    }
}

impl<F: Send + Sync, E: ErasureQueue> ErasureQueue for Queues<F, E> {
    async fn enqueue_erasure(&self, user_id: &str, delay: Duration) -> Result<(), QueueError> {
        self.erasure.enqueue_erasure(user_id, delay).await
    }
}

/// The erasure as the app sees it (the ledger's id stays inside).
pub fn erasure_view(erasure: &Erasure) -> Value {
    json!({
        "status": erasure.status,
        "requested_at": erasure.requested_at,
        "finished_at": erasure.finished_at,
    })
}

pub async fn erase_me<S: Store, V, P, Q: ErasureQueue>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let user = identity.user_id.as_str();
    let asked = Erasure {
        status: ErasureStatus::Erasing,
        requested_at: Timestamp::now(),
        finished_at: None,
        ledger_id: uuid::Uuid::new_v4().to_string(),
    };
    let erasure = app.store.begin_erasure(user, &asked).await?;
    // Every request (re)starts the job: it resumes one that stalled, and after an erasure it
    // erases whatever the account made since; the job is idempotent.
    app.queue
        .enqueue_erasure(user, Duration::ZERO)
        .await
        .map_err(|e| logged_internal("queueing the erasure failed", e))?;
    tracing::info!(status = ?erasure.status, "account erasure asked for");
    let status = match erasure.status {
        ErasureStatus::Erasing => 202,
        ErasureStatus::Erased => 200,
    };
    Ok(json_response(
        status,
        &json!({"erasure": erasure_view(&erasure)}),
    ))
}
