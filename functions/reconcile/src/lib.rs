//! reconcile: the scheduled sweep that will drive stuck tasks to a terminal state. For now it
//! records that it ran, so the schedule and its wiring are exercised end to end.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Serialize;

#[derive(Debug, Serialize, PartialEq)]
pub struct SweepReport {
    pub checked: u32,
    pub scheduled_at: Option<String>,
}

pub async fn handle(event: EventBridgeEvent) -> SweepReport {
    let scheduled_at = event.time.map(|t| t.to_rfc3339());
    tracing::info!(source = %event.source, ?scheduled_at, "reconcile sweep ran; nothing to reconcile yet");
    SweepReport {
        checked: 0,
        scheduled_at,
    }
}
