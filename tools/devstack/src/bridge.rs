//! The SQS → Lambda bridge, standing in for an event source mapping: receive a batch, invoke
//! the function with an SQS event, delete what succeeded, leave the reported batch item
//! failures (or the whole batch, when the invocation failed) for redelivery and, past
//! `maxReceiveCount`, moto's redrive to the dead-letter queue.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use serde_json::{Value, json};

use crate::invoker::Invoker;

pub struct BridgeConfig {
    pub queue_url: String,
    pub queue_arn: String,
    pub function: String,
    pub batch_size: i32,
}

pub fn sqs_event(messages: &[Message], queue_arn: &str) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_string(), Value::String(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": {},
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    json!({ "Records": records })
}

/// Ids the function reported as failed (`batchItemFailures`).
pub fn failed_ids(response: &[u8]) -> HashSet<String> {
    serde_json::from_slice::<Value>(response)
        .ok()
        .and_then(|v| v.get("batchItemFailures").cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|f| {
            f.get("itemIdentifier")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}

pub async fn run(sqs: aws_sdk_sqs::Client, config: BridgeConfig, invoker: Invoker) {
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&config.queue_url)
            .max_number_of_messages(config.batch_size.clamp(1, 10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await;
        let messages = match received {
            Ok(out) => out.messages.unwrap_or_default(),
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let event = sqs_event(&messages, &config.queue_arn);
        let failed = match invoker.invoke(&config.function, &event).await {
            Ok(resp) => failed_ids(&resp),
            Err(e) => {
                tracing::warn!(function = %config.function, error = %e, "batch invocation failed; messages will be redelivered");
                continue;
            }
        };
        for m in &messages {
            if m.message_id().is_some_and(|id| failed.contains(id)) {
                continue;
            }
            if let Some(handle) = m.receipt_handle() {
                let _ = sqs
                    .delete_message()
                    .queue_url(&config.queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await;
            }
        }
    }
}
