//! A timer standing in for an EventBridge schedule rule.

use std::time::Duration;

use serde_json::{Value, json};

use crate::invoker::Invoker;

pub fn scheduled_event(rule: &str) -> Value {
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": now,
        "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:123456789012:rule/{rule}")],
        "detail": {}
    })
}

pub async fn run(function: String, every: Duration, invoker: Invoker) {
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(e) = invoker.invoke(&function, &scheduled_event(&function)).await {
            tracing::warn!(%function, error = %e, "scheduled invocation failed");
        }
    }
}
