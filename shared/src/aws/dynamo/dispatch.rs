//! Dispatch state: circuit breakers, capacity slots and the waiting line.

use super::*;

pub(super) fn breaker_pk(provider: &str) -> String {
    format!("BREAKER#{provider}")
}

/// Read, then written whole: two dispatchers racing may lose a count, which only delays the
/// breaker by a failure; it never sends a task twice.
impl crate::ports::Breakers for DynamoTaskStore {
    async fn breaker(
        &self,
        provider: &str,
    ) -> Result<crate::domain::breaker::BreakerState, StoreError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(breaker_pk(provider)))
            .key("sk", s("STATE"))
            .send()
            .await
            .map_err(backend)?;
        match got.item {
            Some(item) => from_item(item),
            None => Ok(Default::default()),
        }
    }

    async fn record_submit(
        &self,
        provider: &str,
        ok: bool,
        policy: crate::domain::breaker::BreakerPolicy,
        now: i64,
    ) -> Result<crate::domain::breaker::BreakerState, StoreError> {
        let next = crate::domain::breaker::after(self.breaker(provider).await?, ok, policy, now);
        let mut item = to_item(&next)?;
        item.insert("pk".into(), s(breaker_pk(provider)));
        item.insert("sk".into(), s("STATE"));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(backend)?;
        Ok(next)
    }
}

/// BatchGetItem's limit per request.
const BATCH_KEYS: usize = 100;

impl DynamoTaskStore {
    /// The items at these keys that exist, strongly consistent, in one request per 100 keys
    /// (and again for any the table left unprocessed).
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(BATCH_KEYS) {
            let mut pending = Some(
                aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(chunk.to_vec()))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Backend(Box::new(e)))?,
            );
            while let Some(request) = pending.take() {
                let got = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(backend)?;
                out.extend(
                    got.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                pending = got
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .filter(|k| !k.keys.is_empty());
            }
        }
        Ok(out)
    }
}

fn key_of(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_string(), s(pk)), ("sk".to_string(), s(sk))])
}

fn text(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

impl crate::ports::LineStates for DynamoTaskStore {
    async fn line_state(
        &self,
        breakers: &[String],
        slots: &[String],
    ) -> Result<crate::ports::LineState, StoreError> {
        let keys = breakers
            .iter()
            .map(|b| key_of(breaker_pk(b), "STATE"))
            .chain(slots.iter().map(|k| key_of(capacity_pk(k), "SLOTS")))
            .chain([key_of(WAKE_PK.into(), "WAKE")])
            .collect();
        let mut state = crate::ports::LineState::default();
        for key in slots {
            state.holders.insert(key.clone(), Vec::new());
        }
        for item in self.batch_get(keys).await? {
            let pk = text(&item, "pk");
            if pk == WAKE_PK {
                state.wake_at = Timestamp::parse(&text(&item, "wake_at"));
            } else if let Some(key) = pk.strip_prefix("BREAKER#") {
                let key = key.to_string();
                state.breakers.insert(key, from_item(item)?);
            } else if let Some(key) = pk.strip_prefix("CAPACITY#") {
                let holders = item
                    .get("holders")
                    .and_then(|h| h.as_ss().ok())
                    .cloned()
                    .unwrap_or_default();
                state.holders.insert(
                    key.to_string(),
                    holders.into_iter().map(TaskId::from).collect(),
                );
            }
        }
        Ok(state)
    }

    async fn tasks_named(&self, ids: &[TaskId]) -> Result<Vec<Task>, StoreError> {
        let keys = ids.iter().map(|id| key_of(task_pk(id), "TASK")).collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(|item| from_item::<TaskItem>(item).map(|i| i.task))
            .collect()
    }
}

pub(super) fn capacity_pk(provider: &str) -> String {
    format!("CAPACITY#{provider}")
}

impl Capacity for DynamoTaskStore {
    async fn take_slot(&self, provider: &str, task_id: &str, cap: u32) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(capacity_pk(provider)))
            .key("sk", s("SLOTS"))
            .update_expression("ADD holders :me")
            .condition_expression(
                "attribute_not_exists(holders) OR size(holders) < :cap OR contains(holders, :id)",
            )
            .expression_attribute_values(":me", AttributeValue::Ss(vec![task_id.to_string()]))
            .expression_attribute_values(":id", s(task_id))
            .expression_attribute_values(":cap", n(cap))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }

    async fn release_slot(&self, provider: &str, task_id: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(capacity_pk(provider)))
            .key("sk", s("SLOTS"))
            .update_expression("DELETE holders :me")
            .expression_attribute_values(":me", AttributeValue::Ss(vec![task_id.to_string()]))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn slot_holders(&self, provider: &str) -> Result<Vec<TaskId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(capacity_pk(provider)))
            .key("sk", s("SLOTS"))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out
            .item
            .and_then(|i| i.get("holders").and_then(|h| h.as_ss().ok()).cloned())
            .unwrap_or_default()
            .into_iter()
            .map(TaskId::from)
            .collect())
    }
}

impl WaitingLine for DynamoTaskStore {
    async fn waiting(&self, provider: &str, limit: u32) -> Result<Vec<Task>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI3)
            .key_condition_expression("gsi3pk = :p")
            .expression_attribute_values(":p", s(format!("WAITING#{provider}")))
            .limit(limit as i32)
            .send()
            .await
            .map_err(backend)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|item| from_item::<TaskItem>(item).map(|i| i.task))
            .collect()
    }

    async fn waiting_ahead(&self, task: &Task) -> Result<u32, StoreError> {
        let (mut count, mut start) = (0u32, None);
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI3)
                .key_condition_expression("gsi3pk = :p AND gsi3sk < :k")
                .expression_attribute_values(":p", s(format!("WAITING#{}", task.provider)))
                .expression_attribute_values(":k", s(crate::ports::waiting_key(task)))
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            count += out.count.max(0) as u32;
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }
}

/// One item per model and hour, a counter per bin (`ADD`, so concurrent callbacks never lose a
/// count); read back over the current and the previous hour. Kept a day.
impl crate::ports::GenerationTimes for DynamoTaskStore {
    async fn record_generation(
        &self,
        provider: &str,
        model: &str,
        took: std::time::Duration,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let bin = crate::domain::pace::bin(took);
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pace_pk(provider, model)))
            .key("sk", s(pace_hour(at)))
            .update_expression("ADD #bin :one SET expires_at = :ttl")
            .expression_attribute_names("#bin", format!("b{bin}"))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(timestamp::unix_seconds(at.datetime()) + 86_400))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn recent_generations(
        &self,
        provider: &str,
        model: &str,
        now: Timestamp,
    ) -> Result<crate::domain::pace::Histogram, StoreError> {
        let mut times = crate::domain::pace::Histogram::default();
        for hour in [now - std::time::Duration::from_secs(3600), now] {
            let got = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(pace_pk(provider, model)))
                .key("sk", s(pace_hour(hour)))
                .send()
                .await
                .map_err(backend)?;
            for (name, value) in got.item.unwrap_or_default() {
                let bin = name.strip_prefix('b').and_then(|b| b.parse::<u64>().ok());
                let count = value.as_n().ok().and_then(|c| c.parse::<u64>().ok());
                if let (Some(bin), Some(count)) = (bin, count) {
                    *times.0.entry(bin).or_default() += count;
                }
            }
        }
        Ok(times)
    }
}

fn pace_pk(provider: &str, model: &str) -> String {
    format!("PACE#{provider}#{model}")
}

/// `HOUR#2026-12-04T18`: the hour a generation finished in.
fn pace_hour(at: Timestamp) -> String {
    let text = at.to_string();
    format!("HOUR#{}", text.get(..13).unwrap_or(&text))
}

const WAKE_PK: &str = "DISPATCH#WAKE";

impl crate::ports::WakeClaims for DynamoTaskStore {
    async fn claim_wake(&self, at: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(WAKE_PK))
            .key("sk", s("WAKE"))
            .update_expression("SET wake_at = :at")
            .condition_expression("attribute_not_exists(wake_at) OR wake_at <= :now")
            .expression_attribute_values(":at", s(at.to_string()))
            .expression_attribute_values(":now", s(now.to_string()))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }
}
