//! Progress outside the app: every Live Activity registered for the task (APNs
//! `liveactivity`) and the owner's Android devices (an FCM data message for their progress
//! notification). Updates are coalesced per task (at most one per `min_interval`); the end of
//! a task always goes out, and its Live Activities are forgotten after it.

use shared::domain::live::{LiveEvent, fcm_progress_message, live_activity_push};
use shared::domain::notice::{Platform, StatusEvent};
use shared::domain::timestamp::Timestamp;
use shared::ports::{Device, LiveActivity, LiveActivityPush, PushEndpoints, PushOutcome};

use crate::stream::SinkFailure;
use crate::{App, Store};

pub(crate) async fn progress<S, B, P, O, L>(
    app: &App<S, B, P, O, L>,
    e: &StatusEvent,
    live: &LiveEvent,
) -> Result<(), SinkFailure>
where
    S: Store,
    P: PushEndpoints,
    L: LiveActivityPush,
{
    if !e.is_terminal() && !turn(app, e).await? {
        tracing::debug!("progress push coalesced");
        return Ok(());
    }
    for activity in app.store.live_activities_of(e.task_id.as_str()).await? {
        to_activity(app, e, live, &activity).await?;
    }
    if e.is_terminal() {
        // The terminal push (with its alert) is the devices' own; see `stream::send`.
        return Ok(());
    }
    for device in app.store.devices_of(e.user_id.as_str()).await? {
        if device.platform == Platform::Fcm {
            progress_to(app, e, live, &device).await?;
        }
    }
    Ok(())
}

/// One progress message to one Android device, once per event. A disabled endpoint is left to
/// the final push, which removes the device with its ownership record (an erasure may be
/// removing both at this moment).
async fn progress_to<S: Store, B, P: PushEndpoints, O, L>(
    app: &App<S, B, P, O, L>,
    e: &StatusEvent,
    live: &LiveEvent,
    device: &Device,
) -> Result<(), SinkFailure> {
    let sink = format!("progress:{}", device.id);
    if app.store.was_sent(&e.event_id, &sink).await? {
        return Ok(());
    }
    let message = fcm_progress_message(e.task_id.as_str(), &e.event_id, live);
    if app.push.push(&device.endpoint, &message).await? == PushOutcome::Sent {
        app.store.mark_sent(&e.event_id, &sink).await?;
    }
    Ok(())
}

/// This event's turn to push progress: taken once (a retried record keeps its turn).
async fn turn<S: Store, B, P, O, L>(
    app: &App<S, B, P, O, L>,
    e: &StatusEvent,
) -> Result<bool, SinkFailure> {
    if app.store.was_sent(&e.event_id, "turn").await? {
        return Ok(true);
    }
    let min = app.live_policy.min_interval;
    let now = Timestamp::now();
    let taken = app
        .store
        .take_push_turn(e.task_id.as_str(), now, min)
        .await?;
    if taken {
        app.store.mark_sent(&e.event_id, "turn").await?;
    }
    Ok(taken)
}

async fn to_activity<S: Store, B, P, O, L: LiveActivityPush>(
    app: &App<S, B, P, O, L>,
    e: &StatusEvent,
    live: &LiveEvent,
    activity: &LiveActivity,
) -> Result<(), SinkFailure> {
    let sink = format!("live:{}", activity.id());
    let task_id = e.task_id.as_str();
    if !app.store.was_sent(&e.event_id, &sink).await? {
        let (priority, payload) =
            live_activity_push(task_id, live, Timestamp::now(), &app.live_policy);
        match app.live.push(activity, priority, &payload).await? {
            PushOutcome::Sent => app.store.mark_sent(&e.event_id, &sink).await?,
            PushOutcome::EndpointDisabled => {
                tracing::info!(activity = %activity.id(), "Live Activity token revoked; removed");
                return Ok(app
                    .store
                    .remove_live_activity(task_id, &activity.id())
                    .await?);
            }
        }
    }
    if e.is_terminal() {
        app.store
            .remove_live_activity(task_id, &activity.id())
            .await?;
    }
    Ok(())
}
