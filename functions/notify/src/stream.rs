//! Stream records → status events → the bus, devices and the webhook queue.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use serde_json::Value;

use shared::domain::live::LiveEvent;
use shared::domain::notice::{StatusEvent, push_message, status_event};
use shared::domain::task::Task;
use shared::ports::{
    Device, EventBus, LiveActivityPush, PushEndpoints, PushOutcome, StoreError, WebhookJob,
    WebhookOutbox,
};

use crate::{App, Store};

#[derive(Debug, thiserror::Error)]
pub(crate) enum SinkFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] shared::ports::SinkError),
    #[error(transparent)]
    Queue(#[from] shared::ports::QueueError),
}

/// Records are handled in order; the first that fails is reported, and the stream retries
/// from it (those before it are done and marked).
pub(crate) async fn on_records<S, B, P, O, L>(app: &App<S, B, P, O, L>, event: Value) -> Vec<String>
where
    S: Store,
    B: EventBus,
    P: PushEndpoints,
    O: WebhookOutbox,
    L: LiveActivityPush,
{
    let event: Event = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "stream event is not readable; skipped");
            return Vec::new();
        }
    };
    for record in &event.records {
        let Some((notice, live)) = notice_of(record) else {
            continue;
        };
        let span =
            tracing::info_span!("notify", task_id = %notice.task_id, event_id = %notice.event_id);
        let _enter = span.enter();
        if let Err(e) = send(app, &notice, &live).await {
            tracing::warn!(error = %e, "a sink failed; the stream will retry from this record");
            return vec![record.change.sequence_number.clone().unwrap_or_default()];
        }
    }
    Vec::new()
}

fn task_of(image: &serde_dynamo::Item) -> Option<Task> {
    if image.is_empty() {
        return None;
    }
    match serde_dynamo::from_item(image.clone()) {
        Ok(task) => Some(task),
        Err(e) => {
            tracing::error!(error = %e, "task image is not readable; skipped");
            None
        }
    }
}

/// Only task items (`TASK#…`/`TASK`) carry statuses.
fn notice_of(record: &EventRecord) -> Option<(StatusEvent, LiveEvent)> {
    let key = |name: &str| match record.change.keys.get(name) {
        Some(serde_dynamo::AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    if !key("pk").is_some_and(|pk| pk.starts_with("TASK#")) || key("sk") != Some("TASK") {
        return None;
    }
    let old = task_of(&record.change.old_image);
    let new = task_of(&record.change.new_image);
    let notice = status_event(old.as_ref(), new.as_ref())?;
    Some((notice, LiveEvent::of_status(new.as_ref()?)))
}

async fn send<S, B, P, O, L>(
    app: &App<S, B, P, O, L>,
    e: &StatusEvent,
    live: &LiveEvent,
) -> Result<(), SinkFailure>
where
    S: Store,
    B: EventBus,
    P: PushEndpoints,
    O: WebhookOutbox,
    L: LiveActivityPush,
{
    // The stream's log first: a status stream replays it, whatever happens to the pushes.
    app.store.record_event(e.task_id.as_str(), live).await?;
    crate::live::progress(app, e, live).await?;
    if !e.is_terminal() {
        return Ok(());
    }
    if !app.store.was_sent(&e.event_id, "bus").await? {
        app.bus.publish(e).await?;
        app.store.mark_sent(&e.event_id, "bus").await?;
    }
    for device in app.store.devices_of(e.user_id.as_str()).await? {
        push_to(app, e, &device).await?;
    }
    if app.webhook.is_some() && !app.store.was_sent(&e.event_id, "webhook").await? {
        let job = WebhookJob {
            event_id: e.event_id.clone(),
            task_id: e.task_id.clone(),
            payload: shared::domain::notice::webhook_payload(e),
            first_attempt_at: Some(shared::domain::timestamp::Timestamp::now()),
            failures: 0,
            not_before: None,
        };
        app.outbox.enqueue(&job, std::time::Duration::ZERO).await?;
        app.store.mark_sent(&e.event_id, "webhook").await?;
    }
    Ok(())
}

async fn push_to<S, B, P, O, L>(
    app: &App<S, B, P, O, L>,
    e: &StatusEvent,
    device: &Device,
) -> Result<(), SinkFailure>
where
    S: Store,
    P: PushEndpoints,
{
    let sink = format!("push:{}", device.id);
    if app.store.was_sent(&e.event_id, &sink).await? {
        return Ok(());
    }
    if app.store.owner_of(&device.id).await?.as_ref() != Some(&device.user_id) {
        tracing::info!(device = %device.id, "device now registered to another user; removed");
        app.store
            .remove_device(device.user_id.as_str(), &device.id)
            .await?;
        return Ok(());
    }
    let Some(message) = push_message(device.platform, e, &app.push_text) else {
        return Ok(());
    };
    match app.push.push(&device.endpoint, &message).await? {
        PushOutcome::Sent => app.store.mark_sent(&e.event_id, &sink).await?,
        PushOutcome::EndpointDisabled => {
            tracing::info!(device = %device.id, "push endpoint disabled; device removed");
            app.store
                .remove_device(device.user_id.as_str(), &device.id)
                .await?;
            if let Err(err) = app.push.delete_endpoint(&device.endpoint).await {
                tracing::warn!(error = %err, "disabled endpoint not deleted");
            }
        }
    }
    Ok(())
}
