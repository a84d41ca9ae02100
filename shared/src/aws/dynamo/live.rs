//! Live progress in the table: `EVENTS#<task>` / `EVENT#<nnnn>` (the status events),
//! `EVENTS#<task>` / `PUSHTURN` (the last progress push), `TASK#<id>` / `LIVE#<activity>` (Live
//! Activity tokens) and `USER#<id>` / `STREAM#<n>` (open status streams).
//!
//! The log and the turn are keyed by the task id alone, outside the task's partition: notify
//! writes them from the change stream, possibly after an account erasure deleted the task, and
//! they name no user (they expire in 7 days).

use std::time::Duration;

use super::{DynamoTaskStore, backend, from_item, n, s, task_pk, to_item, user_pk, written};
use crate::domain::live::LiveEvent;
use crate::domain::timestamp::{Timestamp, unix_seconds};
use crate::ports::{LiveActivities, LiveActivity, StoreError, StreamSlots, TaskEvents};

/// The log outlives any stream a client could still resume.
const EVENT_TTL_SECS: i64 = 7 * 24 * 3600;

fn events_pk(task_id: &str) -> String {
    format!("EVENTS#{task_id}")
}

fn event_sk(id: u32) -> String {
    format!("EVENT#{id:04}")
}

fn expires_in(secs: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    n(unix_seconds(Timestamp::now().datetime()) + secs)
}

fn millis(t: Timestamp) -> i64 {
    (t.datetime().unix_timestamp_nanos() / 1_000_000) as i64
}

impl TaskEvents for DynamoTaskStore {
    async fn record_event(&self, task_id: &str, event: &LiveEvent) -> Result<(), StoreError> {
        let mut item = to_item(event)?;
        item.insert("pk".into(), s(events_pk(task_id)));
        item.insert("sk".into(), s(event_sk(event.id)));
        item.insert("expires_at".into(), expires_in(EVENT_TTL_SECS));
        let put = self.client.put_item().table_name(&self.table);
        put.set_item(Some(item)).send().await.map_err(backend)?;
        Ok(())
    }

    async fn events_after(&self, task_id: &str, after: u32) -> Result<Vec<LiveEvent>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(events_pk(task_id)))
            .expression_attribute_values(":from", s(event_sk(after.saturating_add(1))))
            .expression_attribute_values(":to", s(event_sk(9999)))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }
}

impl StreamSlots for DynamoTaskStore {
    async fn claim_stream(
        &self,
        user_id: &str,
        task_id: &str,
        cap: u32,
        holder: &str,
        until: Timestamp,
    ) -> Result<Option<u32>, StoreError> {
        let now = millis(Timestamp::now());
        for slot in 0..cap {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(user_pk(user_id)))
                .item("sk", s(format!("STREAM#{slot}")))
                .item("holder", s(holder))
                .item("task_id", s(task_id))
                .item("until_ms", n(millis(until)))
                .item("expires_at", n(unix_seconds(until.datetime()) + 3600))
                .condition_expression(
                    "attribute_not_exists(pk) OR until_ms <= :now OR task_id = :task",
                )
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":task", s(task_id))
                .send()
                .await;
            if written(result, |e| e.is_conditional_check_failed_exception())? {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn release_stream(
        &self,
        user_id: &str,
        slot: u32,
        holder: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s(format!("STREAM#{slot}")))
            .condition_expression("holder = :h")
            .expression_attribute_values(":h", s(holder))
            .send()
            .await;
        written(result, |e| e.is_conditional_check_failed_exception()).map(|_| ())
    }
}

impl LiveActivities for DynamoTaskStore {
    async fn put_live_activity(&self, activity: &LiveActivity) -> Result<(), StoreError> {
        let mut item = to_item(activity)?;
        item.insert("pk".into(), s(task_pk(&activity.task_id)));
        item.insert("sk".into(), s(format!("LIVE#{}", activity.id())));
        item.insert("expires_at".into(), expires_in(EVENT_TTL_SECS));
        let put = self.client.put_item().table_name(&self.table);
        put.set_item(Some(item)).send().await.map_err(backend)?;
        Ok(())
    }

    async fn live_activities_of(&self, task_id: &str) -> Result<Vec<LiveActivity>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .expression_attribute_values(":pk", s(task_pk(task_id)))
            .expression_attribute_values(":sk", s("LIVE#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }

    async fn remove_live_activity(
        &self,
        task_id: &str,
        activity_id: &str,
    ) -> Result<(), StoreError> {
        let del = self.client.delete_item().table_name(&self.table);
        del.key("pk", s(task_pk(task_id)))
            .key("sk", s(format!("LIVE#{activity_id}")))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn take_push_turn(
        &self,
        task_id: &str,
        now: Timestamp,
        min: Duration,
    ) -> Result<bool, StoreError> {
        let cutoff = millis(now) - i64::try_from(min.as_millis()).unwrap_or(i64::MAX);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(events_pk(task_id)))
            .item("sk", s("PUSHTURN"))
            .item("at_ms", n(millis(now)))
            .item("expires_at", expires_in(EVENT_TTL_SECS))
            .condition_expression("attribute_not_exists(pk) OR at_ms <= :cutoff")
            .expression_attribute_values(":cutoff", n(cutoff))
            .send()
            .await;
        written(result, |e| e.is_conditional_check_failed_exception())
    }
}
