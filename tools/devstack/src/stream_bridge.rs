//! The DynamoDB stream → Lambda bridge, standing in for an event source mapping: read the
//! table's stream in order, invoke the function with batches of records, and on a failure
//! (a crash, or `batchItemFailures`) retry from the first record not done, as Lambda does.

use std::collections::VecDeque;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use serde_json::{Value, json};

use crate::bridge::failed_ids;
use crate::invoker::Invoker;

pub struct StreamConfig {
    pub stream_arn: String,
    pub function: String,
    pub batch_size: usize,
}

fn image(
    item: Option<
        &std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
    >,
) -> Value {
    item.map(|i| serde_dynamo::Item::from(i.clone()))
        .and_then(|i| serde_json::to_value(i).ok())
        .unwrap_or(Value::Null)
}

/// A record as Lambda hands it to a function.
pub fn lambda_record(r: &Record, stream_arn: &str) -> Value {
    let change = r.dynamodb();
    let mut dynamodb = json!({
        "Keys": image(change.and_then(|c| c.keys.as_ref())),
        "SequenceNumber": change.and_then(|c| c.sequence_number()),
        "SizeBytes": change.and_then(|c| c.size_bytes()),
        "StreamViewType": change.and_then(|c| c.stream_view_type()).map(|v| v.as_str()),
        "ApproximateCreationDateTime": change
            .and_then(|c| c.approximate_creation_date_time())
            .map(|t| t.secs()),
    });
    for (name, item) in [
        ("NewImage", change.and_then(|c| c.new_image.as_ref())),
        ("OldImage", change.and_then(|c| c.old_image.as_ref())),
    ] {
        if item.is_some() {
            dynamodb[name] = image(item);
        }
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": r.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "eventSourceARN": stream_arn,
        "dynamodb": dynamodb,
    })
}

async fn first_iterator(client: &aws_sdk_dynamodbstreams::Client, arn: &str) -> Option<String> {
    let stream = client.describe_stream().stream_arn(arn).send().await.ok()?;
    let shard = stream
        .stream_description()?
        .shards()
        .first()?
        .shard_id()?
        .to_string();
    let out = client
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .ok()?;
    out.shard_iterator
}

/// More records, or none yet; keeps the iterator current.
async fn fetch(
    client: &aws_sdk_dynamodbstreams::Client,
    config: &StreamConfig,
    iterator: &mut Option<String>,
) -> Vec<Value> {
    if iterator.is_none() {
        *iterator = first_iterator(client, &config.stream_arn).await;
    }
    let Some(it) = iterator.clone() else {
        return Vec::new();
    };
    match client
        .get_records()
        .shard_iterator(it)
        .limit(100)
        .send()
        .await
    {
        Ok(out) => {
            *iterator = out.next_shard_iterator.clone();
            out.records()
                .iter()
                .map(|r| lambda_record(r, &config.stream_arn))
                .collect()
        }
        Err(e) => {
            tracing::warn!(error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(e), "stream read failed");
            *iterator = None;
            Vec::new()
        }
    }
}

/// How many records of the batch are done: up to the first reported failure, or all.
fn done_count(batch: &[Value], response: &[u8]) -> usize {
    let failed = failed_ids(response);
    batch
        .iter()
        .position(|r| {
            r.pointer("/dynamodb/SequenceNumber")
                .and_then(Value::as_str)
                .is_some_and(|seq| failed.contains(seq))
        })
        .unwrap_or(batch.len())
}

pub async fn run(client: aws_sdk_dynamodbstreams::Client, config: StreamConfig, invoker: Invoker) {
    let mut iterator = None;
    let mut pending: VecDeque<Value> = VecDeque::new();
    loop {
        if pending.is_empty() {
            pending.extend(fetch(&client, &config, &mut iterator).await);
            if pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        }
        let batch: Vec<Value> = pending
            .iter()
            .take(config.batch_size.max(1))
            .cloned()
            .collect();
        match invoker
            .invoke(&config.function, &json!({ "Records": batch }))
            .await
        {
            Ok(resp) => {
                let done = done_count(&batch, &resp);
                pending.drain(..done);
                if done < batch.len() {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            Err(e) => {
                tracing::warn!(function = %config.function, error = %e, "stream batch failed; retried from its first record");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}
