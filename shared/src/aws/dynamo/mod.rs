//! The single-table design (DESIGN.md): tasks, idempotency records and webhook dedup items.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::domain::state::{TaskEvent, TaskPatch, apply_event};
use crate::domain::task::{CostUnits, Task, TaskId};
use crate::domain::timestamp::{self, Timestamp};
use crate::ports::{
    AccountView, Accounts, Applied, Capacity, Charge, ChargeRefusal, CreateOutcome, Idempotency,
    IdempotencyRecord, LedgerEntry, LedgerKind, ReconcileIndex, StoreError, TaskPage, Tasks,
    ViolationPolicy, WaitingLine, WebhookClaim, WebhookDedup,
};

mod notify;
mod templates;

/// The table's key design, as the code uses it (checked against the template by the drift test).
pub const PRIMARY_KEY: (&str, &str) = ("pk", "sk");
pub const INDEXES: [(&str, &str, &str); 3] = [
    (GSI1, "gsi1pk", "gsi1sk"),
    (GSI2, "gsi2pk", "gsi2sk"),
    (GSI3, "gsi3pk", "gsi3sk"),
];
pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const GSI1: &str = "gsi1";
pub const GSI2: &str = "gsi2";
/// Sparse index of tasks waiting for their provider's capacity, in submission order.
pub const GSI3: &str = "gsi3";
const ACTIVE: &str = "ACTIVE";
const IDEMPOTENCY_TTL_SECS: i64 = 48 * 3600;
const WEBHOOK_DEDUP_TTL_SECS: i64 = 7 * 24 * 3600;
/// The account attribute an operator sets to pin a plan (README, "Plans"); nothing here writes
/// it. (`plan`, which early versions wrote at the first create, is ignored.)
pub const OPERATOR_PLAN_ATTRIBUTE: &str = "plan_override";
/// Daily usage items outlive their day long enough for reporting.
const USAGE_TTL_SECS: i64 = 90 * 24 * 3600;
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
    /// Sparse index of unfinished tasks by freshness, for reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi2sk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi3sk: Option<String>,
    version: u64,
    #[serde(flatten)]
    task: Task,
}

impl TaskItem {
    fn new(task: Task, version: u64) -> Self {
        let waiting = task.status == crate::domain::task::TaskStatus::Created;
        Self {
            pk: task_pk(&task.id),
            sk: "TASK".into(),
            gsi1pk: user_pk(&task.user_id),
            gsi1sk: format!("{}#{}", task.created_at, task.id),
            gsi2pk: (!task.status.is_terminal()).then(|| ACTIVE.to_string()),
            gsi2sk: (!task.status.is_terminal())
                .then(|| format!("{}#{}", task.last_seen(), task.id)),
            gsi3pk: waiting.then(|| format!("WAITING#{}", task.provider)),
            gsi3sk: waiting.then(|| crate::ports::waiting_key(&task)),
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
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Backend(super::sdk_error(e))
}

/// Whether a conditional write happened: `false` when its condition did not hold.
fn written<O, E, R>(
    result: Result<O, aws_sdk_dynamodb::error::SdkError<E, R>>,
    condition_failed: impl Fn(&E) -> bool,
) -> Result<bool, StoreError>
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(&condition_failed) => Ok(false),
        Err(e) => Err(backend(e)),
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Cost units as a DynamoDB number (exact decimal, two places).
fn units(c: CostUnits) -> AttributeValue {
    n(format!("{}.{:02}", c.0 / 100, c.0 % 100))
}

fn negative_units(c: CostUnits) -> AttributeValue {
    n(format!("-{}.{:02}", c.0 / 100, c.0 % 100))
}

fn read_units(item: &Item, name: &str) -> CostUnits {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|v| CostUnits((v * 100.0).round().max(0.0) as u64))
        .unwrap_or_default()
}

fn read_i64(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The account as a create sees it, from its item and today's usage item.
fn account_view(account: &Item, usage: &Item) -> AccountView {
    let violations = account
        .get("violations")
        .and_then(|v| v.as_l().ok())
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_n().ok()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    AccountView {
        plan: account
            .get(OPERATOR_PLAN_ATTRIBUTE)
            .and_then(|v| v.as_s().ok())
            .cloned(),
        in_flight: read_i64(account, "in_flight").unwrap_or(0).max(0) as u32,
        used_today: read_units(usage, "units"),
        suspended_until: read_i64(account, "suspended_until"),
        violations,
    }
}

fn usage_sk(day: &str) -> String {
    format!("USAGE#{day}")
}

fn ledger_item(user_id: &str, entry: &LedgerEntry) -> Result<Item, StoreError> {
    let kind = match entry.kind {
        LedgerKind::Debit => "debit",
        LedgerKind::Refund => "refund",
    };
    let mut item = to_item(entry)?;
    item.insert("pk".into(), s(user_pk(user_id)));
    item.insert(
        "sk".into(),
        s(format!("LEDGER#{}#{}#{kind}", entry.at, entry.task_id)),
    );
    Ok(item)
}

fn put(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_string))
        .build()
        .map_err(|e| StoreError::Backend(Box::new(e)))?;
    Ok(TransactWriteItem::builder().put(put).build())
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

impl DynamoTaskStore {
    /// The terminal write: the task, the freed slot and, for a failure, the refund, together.
    /// `false` means the task changed under us.
    async fn finish(
        &self,
        before: &Task,
        after: &Task,
        item: Item,
        version: u64,
    ) -> Result<bool, StoreError> {
        let build_err = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(Box::new(e));
        let task_put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .build()
            .map_err(build_err)?;
        let release = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&before.user_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression("ADD in_flight :minus_one")
            .expression_attribute_values(":minus_one", n(-1))
            .build()
            .map_err(build_err)?;
        // The provider account's slot is freed with the terminal write (a no-op when the task
        // never held one).
        let free_slot = Update::builder()
            .table_name(&self.table)
            .key("pk", s(capacity_pk(&before.provider)))
            .key("sk", s("SLOTS"))
            .update_expression("DELETE holders :me")
            .expression_attribute_values(":me", AttributeValue::Ss(vec![before.id.to_string()]))
            .build()
            .map_err(build_err)?;
        let mut items = vec![
            TransactWriteItem::builder().put(task_put).build(),
            TransactWriteItem::builder().update(release).build(),
            TransactWriteItem::builder().update(free_slot).build(),
        ];
        if after.status.refunds() && before.cost_units.0 > 0 {
            items.extend(self.refund_items(before, after)?);
        }
        let tx = self
            .client
            .transact_write_items()
            // A retry after a lost reply is then the same transaction, not a refused second one.
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .set_transact_items(Some(items));
        match tx.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// A failed task's refund: today's usage of the day that paid, and the ledger's entry.
    fn refund_items(
        &self,
        before: &Task,
        after: &Task,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let day = crate::domain::plans::refund_day(before.created_at);
        let refund_usage = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&before.user_id)))
            .key("sk", s(usage_sk(&day)))
            .update_expression("ADD units :refund")
            .expression_attribute_values(":refund", negative_units(before.cost_units))
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let refund = LedgerEntry::refund(before, after);
        let ledger = ledger_item(&before.user_id, &refund)?;
        Ok(vec![
            TransactWriteItem::builder().update(refund_usage).build(),
            put(&self.table, ledger, Some("attribute_not_exists(pk)"))?,
        ])
    }

    /// The create transaction: the task and the key's record (both new), the account's slot
    /// (under the plan's concurrency, not suspended), today's usage (within the budget) and
    /// the ledger's debit.
    fn charge_items(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
        charge: &Charge,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let now = charge.now_secs;
        let build_err = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Backend(Box::new(e));
        let remaining = CostUnits(charge.daily_budget.0.saturating_sub(task.cost_units.0));
        let idem_item = to_item(&IdempotencyItem {
            pk: user_pk(&idempotency.user_id),
            sk: format!("IDEMPOTENCY#{}", idempotency.key),
            expires_at: now + IDEMPOTENCY_TTL_SECS,
            record: idempotency.clone(),
        })?;
        let account = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&task.user_id)))
            .key("sk", s("ACCOUNT"))
            // The plan is not pinned here: the token's plan (or an operator's) is read live.
            .update_expression("ADD in_flight :one")
            .condition_expression(
                "(attribute_not_exists(in_flight) OR in_flight < :max) \
                 AND (attribute_not_exists(suspended_until) OR suspended_until <= :now)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(charge.max_concurrent))
            .expression_attribute_values(":now", n(now))
            .build()
            .map_err(build_err)?;
        let usage = Update::builder()
            .table_name(&self.table)
            .key("pk", s(user_pk(&task.user_id)))
            .key("sk", s(usage_sk(&charge.day)))
            .update_expression("ADD units :cost SET expires_at = if_not_exists(expires_at, :ttl)")
            .condition_expression("attribute_not_exists(units) OR units <= :remaining")
            .expression_attribute_values(":cost", units(task.cost_units))
            .expression_attribute_values(":remaining", units(remaining))
            .expression_attribute_values(":ttl", n(now + USAGE_TTL_SECS))
            .build()
            .map_err(build_err)?;
        let debit = LedgerEntry::debit(task, &charge.day);
        let new = Some("attribute_not_exists(pk)");
        Ok(vec![
            put(&self.table, to_item(&TaskItem::new(task.clone(), 1))?, new)?,
            put(&self.table, idem_item, new)?,
            TransactWriteItem::builder().update(account).build(),
            TransactWriteItem::builder().update(usage).build(),
            put(&self.table, ledger_item(&task.user_id, &debit)?, new)?,
        ])
    }

    /// Read, change with a pure rule, and write back only if nobody wrote in between; `None`
    /// when the rule changes nothing (or the task does not exist).
    async fn update_task(
        &self,
        task_id: &str,
        rule: impl Fn(&Task) -> Option<Task> + Send,
    ) -> Result<Option<Task>, StoreError> {
        for _ in 0..MAX_APPLY_ATTEMPTS {
            let Some(current) = self.get_task_item(task_id).await? else {
                return Ok(None);
            };
            let Some(next) = rule(&current.task) else {
                return Ok(None);
            };
            let item = to_item(&TaskItem::new(next.clone(), current.version + 1))?;
            if self.put_versioned(item, current.version).await? {
                return Ok(Some(next));
            }
        }
        Err(StoreError::Contention(task_id.to_string()))
    }

    /// Put a task item only if nobody wrote it since `version`; `false` when someone had.
    async fn put_versioned(&self, item: Item, version: u64) -> Result<bool, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :v")
            .expression_attribute_values(":v", n(version))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }
}

impl Accounts for DynamoTaskStore {
    async fn create_task(
        &self,
        task: &Task,
        idempotency: &IdempotencyRecord,
        charge: &Charge,
    ) -> Result<CreateOutcome, StoreError> {
        if task.cost_units > charge.daily_budget {
            return Ok(CreateOutcome::Refused(ChargeRefusal::Budget));
        }
        let items = self.charge_items(task, idempotency, charge)?;
        let result = self
            .client
            .transact_write_items()
            .client_request_token(task.id.to_string())
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(CreateOutcome::Created),
            Err(e) => e,
        };
        let canceled = err
            .as_service_error()
            .is_some_and(|se| se.is_transaction_canceled_exception());
        if !canceled {
            return Err(backend(err));
        }
        // Which condition failed, from the state now: a used key is a replay whatever else
        // failed with it; then the plan's limits.
        if let Some(existing) = self
            .get_idempotency(&idempotency.user_id, &idempotency.key)
            .await?
        {
            return Ok(CreateOutcome::KeyExists(existing));
        }
        let view = self.account(&task.user_id, &charge.day).await?;
        let usage = crate::domain::plans::Usage {
            in_flight: view.in_flight,
            used_today: view.used_today,
            suspended_until: view.suspended_until,
        };
        Ok(CreateOutcome::Refused(
            crate::domain::plans::charge_refusal(
                &usage,
                charge.max_concurrent,
                charge.daily_budget,
                task.cost_units,
                charge.now_secs,
            ),
        ))
    }

    async fn account(&self, user_id: &str, day: &str) -> Result<AccountView, StoreError> {
        let get = |sk: String| {
            self.client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(user_pk(user_id)))
                .key("sk", s(sk))
                .consistent_read(true)
                .send()
        };
        let account = get("ACCOUNT".into())
            .await
            .map_err(backend)?
            .item
            .unwrap_or_default();
        let usage = get(usage_sk(day))
            .await
            .map_err(backend)?
            .item
            .unwrap_or_default();
        Ok(account_view(&account, &usage))
    }

    async fn record_violation(
        &self,
        user_id: &str,
        request: &str,
        now_secs: i64,
        policy: ViolationPolicy,
    ) -> Result<Option<i64>, StoreError> {
        let Some(violations) = self.count_violation(user_id, request, now_secs).await? else {
            let today = timestamp::utc_day(timestamp::now());
            let suspended = self.account(user_id, &today).await?.suspended_until;
            return Ok(suspended.filter(|u| *u > now_secs));
        };
        let Some(until) = crate::domain::plans::suspension(&violations, now_secs, policy) else {
            return Ok(None);
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression(
                "SET suspended_until = :until, violations = :empty REMOVE violation_requests",
            )
            .expression_attribute_values(":until", n(until))
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .send()
            .await
            .map_err(backend)?;
        Ok(Some(until))
    }

    async fn ledger(&self, user_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :ledger)")
                .expression_attribute_values(":pk", s(user_pk(user_id)))
                .expression_attribute_values(":ledger", s("LEDGER#"))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(backend)?;
            for item in out.items.unwrap_or_default() {
                entries.push(from_item(item)?);
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(entries);
            }
        }
    }
}

impl Tasks for DynamoTaskStore {
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
            let Some(next) = apply_event(&current.task, event, &patch, Timestamp::now())? else {
                return Ok(Applied {
                    task: current.task,
                    moved: false,
                });
            };
            let moved = next.status != current.task.status;
            let item = to_item(&TaskItem::new(next.clone(), current.version + 1))?;
            let written = if moved && next.status.is_terminal() {
                self.finish(&current.task, &next, item, current.version)
                    .await?
            } else {
                self.put_versioned(item, current.version).await?
            };
            if written {
                return Ok(Applied { task: next, moved });
            }
            // Someone else wrote first: read again and decide again.
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

    async fn mark_deleted(
        &self,
        task_id: &str,
        now: Timestamp,
    ) -> Result<Option<Task>, StoreError> {
        let changed = self
            .update_task(task_id, |t| crate::domain::state::mark_deleted(t, now))
            .await?;
        match changed {
            Some(next) => Ok(Some(next)),
            None => self.get_task(task_id).await,
        }
    }

    async fn claim_submit(
        &self,
        task_id: &str,
        seen_attempt: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let claimed = self
            .update_task(task_id, |t| {
                crate::domain::state::claim_submit(t, seen_attempt, now)
            })
            .await?;
        Ok(claimed.is_some())
    }

    async fn reassign(
        &self,
        task_id: &str,
        seen_attempt: Option<Timestamp>,
        to: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let moved = self
            .update_task(task_id, |t| {
                crate::domain::state::reassign(t, seen_attempt, to, now)
            })
            .await?;
        Ok(moved.is_some())
    }

    async fn defer(&self, task_id: &str, retry_at: Timestamp) -> Result<(), StoreError> {
        self.update_task(task_id, |t| crate::domain::state::defer(t, retry_at))
            .await?;
        Ok(())
    }
}

fn breaker_pk(provider: &str) -> String {
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

fn capacity_pk(provider: &str) -> String {
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

/// The three items in one `BatchGetItem` (strongly consistent); keys DynamoDB leaves
/// unprocessed are read one by one.
impl crate::ports::Admission for DynamoTaskStore {
    async fn admission(
        &self,
        user_id: &str,
        day: &str,
        key: &str,
    ) -> Result<(AccountView, Option<IdempotencyRecord>), StoreError> {
        let sks = [
            "ACCOUNT".to_string(),
            usage_sk(day),
            format!("IDEMPOTENCY#{key}"),
        ];
        let keys: Vec<Item> = sks
            .iter()
            .map(|sk| {
                HashMap::from([
                    ("pk".to_string(), s(user_pk(user_id))),
                    ("sk".to_string(), s(sk.clone())),
                ])
            })
            .collect();
        let wanted = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Backend(Box::new(e)))?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, wanted)
            .send()
            .await
            .map_err(backend)?;
        if out.unprocessed_keys.as_ref().is_some_and(|u| !u.is_empty()) {
            let record = self.get_idempotency(user_id, key).await?;
            return Ok((self.account(user_id, day).await?, record));
        }
        let items = out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        let by_sk = |sk: &str| {
            let found = items
                .iter()
                .find(|i| i.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str) == Some(sk));
            found.cloned().unwrap_or_default()
        };
        let view = account_view(&by_sk(&sks[0]), &by_sk(&sks[1]));
        let record = Some(by_sk(&sks[2])).filter(|i| !i.is_empty());
        let record = record
            .map(from_item::<IdempotencyItem>)
            .transpose()?
            .map(|i| i.record);
        Ok((view, record))
    }
}

impl Idempotency for DynamoTaskStore {
    async fn idempotency(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_idempotency(user_id, key).await
    }
}

impl ReconcileIndex for DynamoTaskStore {
    async fn stale_tasks(&self, cutoff: Timestamp, limit: u32) -> Result<Vec<Task>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :active AND gsi2sk < :cutoff")
            .expression_attribute_values(":active", s(ACTIVE))
            .expression_attribute_values(":cutoff", s(cutoff.to_string()))
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

    async fn claim_check(
        &self,
        task_id: &str,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(task_pk(task_id)))
            .key("sk", s("TASK"))
            .update_expression("SET checked_at = :now, gsi2sk = :sk")
            .condition_expression(
                "attribute_exists(gsi2pk) AND updated_at < :cutoff \
                 AND (attribute_not_exists(checked_at) OR attribute_type(checked_at, :null) OR checked_at < :cutoff)",
            )
            .expression_attribute_values(":now", s(now.to_string()))
            .expression_attribute_values(":sk", s(format!("{now}#{task_id}")))
            .expression_attribute_values(":cutoff", s(cutoff.to_string()))
            .expression_attribute_values(":null", s("NULL"))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }
}

impl DynamoTaskStore {
    /// Append a violation unless this request was counted before (a retry, or the SDK
    /// resending after a lost reply): the account's violations now, or `None` if counted.
    async fn count_violation(
        &self,
        user_id: &str,
        request: &str,
        now_secs: i64,
    ) -> Result<Option<Vec<i64>>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s("ACCOUNT"))
            .update_expression(
                "SET violations = list_append(if_not_exists(violations, :empty), :v) \
                 ADD violation_requests :request",
            )
            .condition_expression(
                "attribute_not_exists(violation_requests) OR NOT contains(violation_requests, :r)",
            )
            .expression_attribute_values(":empty", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":v", AttributeValue::L(vec![n(now_secs)]))
            .expression_attribute_values(":request", AttributeValue::Ss(vec![request.into()]))
            .expression_attribute_values(":r", s(request))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(backend(e)),
        };
        let violations = out
            .attributes
            .as_ref()
            .and_then(|a| a.get("violations"))
            .and_then(|v| v.as_l().ok())
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_n().ok()?.parse::<i64>().ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Some(violations))
    }
}

impl WebhookDedup for DynamoTaskStore {
    async fn claim_webhook(&self, claim: &WebhookClaim) -> Result<bool, StoreError> {
        let expires = timestamp::unix_seconds(timestamp::now()) + WEBHOOK_DEDUP_TTL_SECS;
        // The SDK resends this very request when a reply is lost: a claim that is ours is won.
        let mine = uuid::Uuid::new_v4().to_string();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(claim.key()))
            .item("sk", s("DEDUP"))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .item("claim", s(mine.clone()))
            .condition_expression("attribute_not_exists(pk) OR #claim = :claim")
            .expression_attribute_names("#claim", "claim")
            .expression_attribute_values(":claim", s(mine))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }

    async fn release_webhook(&self, claim: &WebhookClaim) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(claim.key()))
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

/// A cursor this store issued to this user: anything else (forged, another user's, with
/// parts a key cannot have) is refused before it reaches DynamoDB.
const MAX_CURSOR_LEN: usize = 2048;

pub fn decode_cursor(cursor: &str, user_id: &str) -> Result<Item, StoreError> {
    if cursor.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let plain: HashMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidCursor)?;
    let expected = ["gsi1pk", "gsi1sk", "pk", "sk"];
    if plain.len() != expected.len()
        || !expected.iter().all(|k| plain.contains_key(*k))
        || plain.get("gsi1pk") != Some(&user_pk(user_id))
        || plain.get("sk").map(String::as_str) != Some("TASK")
        || !plain
            .get("pk")
            .and_then(|pk| pk.strip_prefix("TASK#"))
            .is_some_and(crate::domain::task::TaskId::well_formed)
        || plain.values().any(|v| v.is_empty() || v.len() > 1024)
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

    /// Forged cursors whose key parts DynamoDB would refuse (a 500 on AWS) are refused here.
    #[test]
    fn forged_cursors_with_impossible_keys() {
        let forge = |pk: &str, sk: &str, gsi1sk: &str| {
            let plain = serde_json::json!({"pk": pk, "sk": sk, "gsi1pk": "USER#alice",
                "gsi1sk": gsi1sk});
            URL_SAFE_NO_PAD.encode(plain.to_string())
        };
        let long = "x".repeat(2000);
        let cases = [
            forge("", "TASK", "2026#t1"),
            forge("TASK#", "TASK", "2026#t1"),
            forge("USER#bob", "TASK", "2026#t1"),
            forge("TASK#t1", "", "2026#t1"),
            forge("TASK#t1", "ACCOUNT", "2026#t1"),
            forge("TASK#t1", "TASK", ""),
            forge("TASK#t1", "TASK", &long),
            forge(&format!("TASK#{long}"), "TASK", "2026#t1"),
            "A".repeat(5000),
        ];
        for c in cases {
            assert!(
                matches!(decode_cursor(&c, "alice"), Err(StoreError::InvalidCursor)),
                "{c}"
            );
        }
        assert!(decode_cursor(&forge("TASK#t1", "TASK", "2026#t1"), "alice").is_ok());
    }
}
