//! `POST /v1/videos/{id}/live-activity`: the push token ActivityKit gave the app for the Live
//! Activity that shows this task, registered for the task's owner. notify sends it `update`
//! pushes while the task runs and one `end`, then forgets it.

use lambda_http::{Body, Response};
use serde::{Deserialize, Serialize};

use shared::domain::timestamp::Timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response, logged_internal as internal};
use shared::ports::LiveActivity;

use crate::{App, Store};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveActivityRegistration {
    pub token: String,
    /// A development build's token (APNs sandbox).
    #[serde(default)]
    pub sandbox: bool,
}

#[derive(Debug, Serialize)]
struct LiveActivityView {
    id: String,
    task_id: String,
    created_at: Timestamp,
}

/// Live Activity push tokens are hex, as device tokens (ActivityKit's are longer).
pub fn valid_token(token: &str) -> bool {
    (64..=400).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
}

pub(crate) async fn register<S: Store, E>(
    app: &App<S, E>,
    identity: &Identity,
    task_id: &str,
    reg: LiveActivityRegistration,
) -> Result<Response<Body>, ApiError> {
    if !app.live_activities {
        let why = "this deployment has no Live Activity pushes configured (APNs key)";
        return Err(ApiError::new(422, "push_not_configured", why));
    }
    if !valid_token(&reg.token) {
        let why = "token is not a Live Activity push token (hex)";
        return Err(ApiError::new(422, "invalid_device_token", why).with_field("token"));
    }
    let task = app
        .store
        .get_task(task_id)
        .await
        .map_err(|e| internal("reading the task failed", e))?
        .filter(|t| t.user_id == identity.user_id)
        .ok_or_else(|| ApiError::not_found("task"))?;
    if task.status.is_terminal() {
        let why = "the task has finished; its Live Activity gets no more updates";
        return Err(ApiError::new(409, "task_finished", why));
    }
    let activity = LiveActivity {
        task_id: task.id.clone(),
        user_id: task.user_id.clone(),
        token: reg.token.to_ascii_lowercase(),
        sandbox: reg.sandbox,
        created_at: Timestamp::now(),
    };
    app.store
        .put_live_activity(&activity)
        .await
        .map_err(|e| internal("recording the Live Activity failed", e))?;
    tracing::info!(activity = %activity.id(), "Live Activity registered");
    let view = LiveActivityView {
        id: activity.id(),
        task_id: task.id.to_string(),
        created_at: activity.created_at,
    };
    Ok(json_response(201, &view))
}
