//! The single-table design (`docs/architecture.md` §The table): tasks, idempotency records and webhook dedup items.

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

mod accounts;
mod bills;
mod cursor;
mod dispatch;
mod erasure;
mod live;
mod notify;
mod tasks;
mod templates;
mod webhooks;

pub use cursor::decode_cursor;
use cursor::encode_cursor;

/// The table's key design, as the code uses it (checked against the template by the drift test).
pub const PRIMARY_KEY: (&str, &str) = ("pk", "sk");
pub const INDEXES: [(&str, &str, &str); 4] = [
    (GSI1, "gsi1pk", "gsi1sk"),
    (GSI2, "gsi2pk", "gsi2sk"),
    (GSI3, "gsi3pk", "gsi3sk"),
    (GSI4, "gsi4pk", "gsi4sk"),
];
pub const TTL_ATTRIBUTE: &str = "expires_at";
pub const GSI1: &str = "gsi1";
pub const GSI2: &str = "gsi2";
/// Sparse index of tasks waiting for their provider's capacity, in submission order.
pub const GSI3: &str = "gsi3";
/// Sparse index of the tasks each provider account took per UTC day, by the provider's job id
/// (the bill's side of reconciliation).
pub const GSI4: &str = "gsi4";
const ACTIVE: &str = "ACTIVE";
const IDEMPOTENCY_TTL_SECS: i64 = 48 * 3600;
const WEBHOOK_DEDUP_TTL_SECS: i64 = 7 * 24 * 3600;
/// The account attribute an operator sets to pin a plan (`docs/api.md`); nothing here writes
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

pub(super) fn bill_pk(slot_key: &str, day: crate::domain::bill::Day) -> String {
    format!("BILL#{slot_key}#{day}")
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi4pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsi4sk: Option<String>,
    version: u64,
    #[serde(flatten)]
    task: Task,
}

impl TaskItem {
    fn new(task: Task, version: u64) -> Self {
        let waiting = task.status == crate::domain::task::TaskStatus::Created;
        let (gsi4pk, gsi4sk) = match &task.provider_ref {
            Some(r) => (
                Some(bill_pk(&task.slot_key(), task.bill_day())),
                Some(r.to_string()),
            ),
            None => (None, None),
        };
        Self {
            pk: task_pk(&task.id),
            sk: "TASK".into(),
            gsi1pk: user_pk(&task.user_id),
            gsi1sk: format!("{}#{}", task.created_at, task.id),
            gsi2pk: task.reconciled().then(|| ACTIVE.to_string()),
            gsi2sk: task
                .reconciled()
                .then(|| format!("{}#{}", task.last_seen(), task.id)),
            gsi3pk: waiting.then(|| format!("WAITING#{}", task.provider)),
            gsi3sk: waiting.then(|| crate::ports::waiting_key(&task)),
            gsi4pk,
            gsi4sk,
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
