//! The single-table design (DESIGN.md): tasks, idempotency records and webhook dedup items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::ports::{Applied, CreateOutcome, IdempotencyRecord, StoreError, TaskPage, TaskStore};
use crate::state::{TaskEvent, TaskPatch, apply_event};
use crate::task::Task;
use crate::time_util;

pub const GSI1: &str = "gsi1";
const IDEMPOTENCY_TTL_SECS: i64 = 48 * 3600;
const WEBHOOK_DEDUP_TTL_SECS: i64 = 7 * 24 * 3600;
/// Optimistic-concurrency attempts before giving up on a hot task.
const MAX_APPLY_ATTEMPTS: usize = 8;

type Item = HashMap<String, AttributeValue>;

pub fn task_pk(task_id: &str) -> String {
    format!("TASK#{task_id}")
}

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

#[derive(Serialize, Deserialize)]
struct TaskItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    version: u64,
    #[serde(flatten)]
    task: Task,
}

impl TaskItem {
    fn new(task: Task, version: u64) -> Self {
        Self {
            pk: task_pk(&task.id),
            sk: "TASK".into(),
            gsi1pk: user_pk(&task.user_id),
            gsi1sk: format!("{}#{}", task.created_at, task.id),
            version,
            task,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    expires_at: i64,
    #[serde(flatten)]
    record: IdempotencyRecord,
}

pub struct DynamoTaskStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: for<'de> Deserialize<'de>>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn backend<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    StoreError::Backend(super::sdk_error(e))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

impl DynamoTaskStore {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table)
    }

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get_task_item(&self, task_id: &str) -> Result<Option<TaskItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(task_pk(task_id)))
            .key("sk", s("TASK"))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn get_idempotency(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s(format!("IDEMPOTENCY#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out
            .item
            .map(from_item::<IdempotencyItem>)
            .transpose()?
            .map(|i| i.record))
    }
}

fn webhook_pk(provider_task_id: &str, status: &str) -> String {
    format!("WEBHOOK#{provider_task_id}#{status}")
}

impl TaskStore for DynamoTaskStore {
    async fn create_task(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
    ) -> Result<CreateOutcome, StoreError> {
        let now = time_util::unix_seconds(time_util::now());
        let task_item = to_item(&TaskItem::new(task.clone(), 1))?;
        let idem_item = to_item(&IdempotencyItem {
            pk: user_pk(&idempotency.user_id),
            sk: format!("IDEMPOTENCY#{}", idempotency.key),
            expires_at: now + IDEMPOTENCY_TTL_SECS,
            record: idempotency.clone(),
        })?;
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let result = self
            .client
            .transact_write_items()
            .transact_items(put(task_item)?)
            .transact_items(put(idem_item)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(e) => {
                let canceled = e
                    .as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception());
                if !canceled {
                    return Err(backend(e));
                }
                // A canceled transaction whose key exists is a replay; anything else is a fault.
                match self
                    .get_idempotency(&idempotency.user_id, &idempotency.key)
                    .await?
                {
                    Some(existing) => Ok(CreateOutcome::KeyExists(existing)),
                    None => Err(backend(e)),
                }
            }
        }
    }

    async fn get_task(&self, task_id: &str) -> Result<Option<Task>, StoreError> {
        Ok(self.get_task_item(task_id).await?.map(|i| i.task))
    }

    async fn apply(
        &self,
        task_id: &str,
        event: TaskEvent,
        patch: TaskPatch,
    ) -> Result<Applied, StoreError> {
        for _ in 0..MAX_APPLY_ATTEMPTS {
            let current = self
                .get_task_item(task_id)
                .await?
                .ok_or_else(|| StoreError::NoSuchTask(task_id.to_string()))?;
            let now = time_util::rfc3339(time_util::now());
            let Some(next) = apply_event(&current.task, event, &patch, &now)? else {
                return Ok(Applied {
                    task: current.task,
                    moved: false,
                });
            };
            let moved = next.status != current.task.status;
            let item = to_item(&TaskItem::new(next.clone(), current.version + 1))?;
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", AttributeValue::N(current.version.to_string()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Applied { task: next, moved }),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    continue;
                }
                Err(e) => return Err(backend(e)),
            }
        }
        Err(StoreError::Contention(task_id.to_string()))
    }

    async fn list_tasks(
        &self,
        user_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TaskPage, StoreError> {
        let start_key = cursor.map(|c| decode_cursor(c, user_id)).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :u")
            .expression_attribute_values(":u", s(user_pk(user_id)))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(backend)?;
        let tasks = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<TaskItem>(item).map(|i| i.task))
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = out.last_evaluated_key.map(|k| encode_cursor(&k));
        Ok(TaskPage { tasks, next_cursor })
    }

    async fn claim_webhook(
        &self,
        provider_task_id: &str,
        status: &str,
    ) -> Result<bool, StoreError> {
        let expires = time_util::unix_seconds(time_util::now()) + WEBHOOK_DEDUP_TTL_SECS;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(webhook_pk(provider_task_id, status)))
            .item("sk", s("DEDUP"))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn release_webhook(
        &self,
        provider_task_id: &str,
        status: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(webhook_pk(provider_task_id, status)))
            .key("sk", s("DEDUP"))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// The cursor is the GSI's last key, opaque to apps. It must name the caller's own partition.
fn encode_cursor(key: &Item) -> String {
    let plain: HashMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k.as_str(), v.as_str())))
        .collect();
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&plain).unwrap_or_default())
}

fn decode_cursor(cursor: &str, user_id: &str) -> Result<Item, StoreError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let plain: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let expected = ["gsi1pk", "gsi1sk", "pk", "sk"];
    if plain.len() != expected.len()
        || !expected.iter().all(|k| plain.contains_key(*k))
        || plain.get("gsi1pk") != Some(&user_pk(user_id))
    {
        return Err(StoreError::InvalidCursor);
    }
    Ok(plain
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_ownership() {
        let key: Item = [
            ("pk", "TASK#t1"),
            ("sk", "TASK"),
            ("gsi1pk", "USER#alice"),
            ("gsi1sk", "2026-01-01T00:00:00.000Z#t1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), s(v)))
        .collect();
        let c = encode_cursor(&key);
        assert_eq!(decode_cursor(&c, "alice").unwrap(), key);
        assert!(matches!(
            decode_cursor(&c, "mallory"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("%%%", "alice"),
            Err(StoreError::InvalidCursor)
        ));
        assert!(matches!(
            decode_cursor("e30", "alice"),
            Err(StoreError::InvalidCursor)
        ));
    }
}
