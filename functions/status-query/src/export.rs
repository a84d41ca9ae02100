//! `POST /v1/me/export`: everything the service holds about the caller — the account, every
//! task, every ledger row, the registered devices — as one JSON document in the bucket, behind
//! a short-lived link (GDPR Art. 15 and 20: a copy, in a machine-readable form).

use std::time::Duration;

use lambda_http::{Body, Response};
use serde_json::{Value, json};

use shared::domain::timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response, logged_internal};
use shared::edge::view::TaskView;
use shared::ports::{DocumentStore, VideoStore};

use crate::{App, Store, view_of};

/// How long the link to an export works; the object itself expires with the bucket's
/// `exports/` lifecycle rule.
pub const EXPORT_LINK_TTL: Duration = Duration::from_secs(15 * 60);
/// The document's format, for whoever reads it later.
pub const EXPORT_FORMAT: &str = "kling-lambda.export.v1";
const PAGE: u32 = 100;

pub fn export_key(user_id: &str, export_id: &str) -> String {
    format!("exports/{user_id}/{export_id}.json")
}

pub async fn export<S: Store, V: VideoStore + DocumentStore, P, Q>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let document = document(app, identity).await?;
    let counts = json!({
        "tasks": document["tasks"].as_array().map_or(0, Vec::len),
        "ledger": document["ledger"].as_array().map_or(0, Vec::len),
        "devices": document["devices"].as_array().map_or(0, Vec::len),
    });
    let body = serde_json::to_vec(&document)
        .map_err(|e| logged_internal("encoding the export failed", e))?;
    let key = export_key(&identity.user_id, &uuid::Uuid::new_v4().to_string());
    app.videos
        .put_document(&key, body.into())
        .await
        .map_err(|e| logged_internal("storing the export failed", e))?;
    let url = app
        .videos
        .presign_document(&key, EXPORT_LINK_TTL)
        .await
        .map_err(|e| logged_internal("signing the export's link failed", e))?;
    let expires = timestamp::now() + EXPORT_LINK_TTL;
    tracing::info!(%counts, "account exported");
    Ok(json_response(
        200,
        &json!({"url": url, "expires_at": timestamp::rfc3339(expires), "counts": counts}),
    ))
}

async fn document<S: Store, V: VideoStore, P, Q>(
    app: &App<S, V, P, Q>,
    identity: &Identity,
) -> Result<Value, ApiError> {
    let user = identity.user_id.as_str();
    let now = timestamp::now();
    let account = app.store.account(user, &timestamp::utc_day(now)).await?;
    let devices: Vec<Value> = app
        .store
        .devices_of(user)
        .await?
        .into_iter()
        .map(|d| json!({"id": d.id, "platform": d.platform, "created_at": d.created_at}))
        .collect();
    Ok(json!({
        "format": EXPORT_FORMAT,
        "exported_at": timestamp::rfc3339(now),
        "user_id": user,
        "account": {
            "plan": account.plan,
            "suspended_until": account.suspended_until.map(timestamp::rfc3339_secs),
            "violations": account.violations.into_iter().map(timestamp::rfc3339_secs).collect::<Vec<_>>(),
        },
        "tasks": all_tasks(app, user).await?,
        "ledger": app.store.ledger(user).await?,
        "devices": devices,
    }))
}

/// Every task of the user, newest first, as the API shows them.
async fn all_tasks<S: Store, V: VideoStore, P, Q>(
    app: &App<S, V, P, Q>,
    user: &str,
) -> Result<Vec<TaskView>, ApiError> {
    let mut views = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = app.store.list_tasks(user, PAGE, cursor.as_deref()).await?;
        for task in &page.tasks {
            views.push(view_of(app, task).await?);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(views),
        }
    }
}
