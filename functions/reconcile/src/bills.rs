//! The daily bill reconciliation (`docs/operations.md` §Bill reconciliation):
//! for every provider account, the provider's bill for one UTC day of task creation against
//! the tasks that account took (`domain::bill`). Mismatches are logged one by one, counted in a
//! metric per kind (each with an alarm) and returned.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use shared::domain::bill::{self, Comparison, Day, MismatchKind};
use shared::domain::pool::{Account, Pool};
use shared::ports::BillIndex;
use shared::provider::{Bills, Deadline};
use shared::runtime::metrics::{Unit, emit};

/// How long the whole job may read bills: the function's timeout (900 s) less room to report.
const BILLS_DEADLINE: Duration = Duration::from_secs(840);

/// The payload that asks for it: `{"job": "bills"}` (yesterday, what the daily schedule
/// sends) or with `"day": "YYYY-MM-DD"` or `"today"`.
#[derive(Debug, Deserialize)]
pub struct BillJob {
    pub job: String,
    #[serde(default)]
    pub day: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("day must be YYYY-MM-DD or \"today\", got {0:?}")]
pub struct BadDay(String);

impl BillJob {
    pub fn day(&self, now: time::OffsetDateTime) -> Result<Day, BadDay> {
        match self.day.as_deref() {
            None => Ok(Day::yesterday(now)),
            Some("today") => Ok(Day::of(now)),
            Some(d) => Day::parse(d).ok_or_else(|| BadDay(d.to_string())),
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
pub struct AccountBill {
    pub provider: String,
    pub account: String,
    /// `compared`, `no_bill_by_job` (the provider has none) or `unread` (see `error`).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(flatten)]
    pub comparison: Comparison,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct BillsReport {
    pub day: Day,
    pub accounts: Vec<AccountBill>,
    pub mismatches: u32,
}

pub async fn reconcile_bills<S: BillIndex, P: Bills>(
    store: &S,
    provider: &P,
    pool: &Pool,
    day: Day,
) -> BillsReport {
    let deadline = Deadline::after(BILLS_DEADLINE);
    let mut accounts = Vec::new();
    for account in pool.accounts() {
        accounts.push(account_bill(store, provider, account, day, deadline).await);
    }
    let mismatches: u32 = accounts
        .iter()
        .map(|a| a.comparison.mismatches.len() as u32)
        .sum();
    for kind in MismatchKind::ALL {
        let n = accounts
            .iter()
            .flat_map(|a| &a.comparison.mismatches)
            .filter(|m| m.kind == kind)
            .count();
        emit(
            &[("Function", "reconcile")],
            &[(metric_name(kind), n as f64, Unit::Count)],
        );
    }
    tracing::info!(%day, mismatches, "bill reconciliation done");
    BillsReport {
        day,
        accounts,
        mismatches,
    }
}

/// The metric (and alarm) for one kind of mismatch.
pub fn metric_name(kind: MismatchKind) -> &'static str {
    match kind {
        MismatchKind::BilledRefunded => "BillBilledRefunded",
        MismatchKind::BilledTwice => "BillBilledTwice",
        MismatchKind::NeverRecorded => "BillNeverRecorded",
    }
}

async fn account_bill<S: BillIndex, P: Bills>(
    store: &S,
    provider: &P,
    account: &Account,
    day: Day,
    deadline: Deadline,
) -> AccountBill {
    let mut out = AccountBill {
        provider: account.provider.clone(),
        account: account.name.clone(),
        outcome: "compared",
        error: None,
        comparison: Comparison::default(),
    };
    let rows = match provider
        .bill(&account.provider, &account.name, day, deadline)
        .await
    {
        Ok(Some(rows)) => rows,
        Ok(None) => {
            out.outcome = "no_bill_by_job";
            return out;
        }
        Err(e) => return unread(out, e.to_string()),
    };
    let slot_key = account.slot_key();
    let mut day_tasks = Vec::new();
    let mut nearby = Vec::new();
    for d in day.neighbours() {
        match store.billed_tasks(&slot_key, d).await {
            Ok(tasks) if d == day => day_tasks = tasks,
            Ok(tasks) => nearby.extend(tasks),
            Err(e) => return unread(out, e.to_string()),
        }
    }
    out.comparison = bill::compare(&rows, &day_tasks, &nearby);
    for m in &out.comparison.mismatches {
        tracing::error!(
            provider = %account.provider,
            account = %account.name,
            kind = m.kind.as_str(),
            reference = %m.reference,
            task_id = m.task_id.as_deref().unwrap_or("-"),
            rows = m.rows,
            "the provider's bill disagrees with our tasks"
        );
    }
    out
}

fn unread(mut out: AccountBill, error: String) -> AccountBill {
    tracing::error!(provider = %out.provider, account = %out.account, %error, "could not read the bill");
    out.outcome = "unread";
    out.error = Some(error);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_day_a_job_asks_for() {
        let now = time::macros::datetime!(2026-12-06 00:30 UTC);
        let job = |day: Option<&str>| BillJob {
            job: "bills".into(),
            day: day.map(String::from),
        };
        let table = [
            (None, Ok("2026-12-05")),
            (Some("today"), Ok("2026-12-06")),
            (Some("2026-11-30"), Ok("2026-11-30")),
            (Some("yesterday"), Err(BadDay("yesterday".into()))),
        ];
        for (day, want) in table {
            let got = job(day).day(now).map(|d| d.to_string());
            assert_eq!(got, want.map(String::from), "{day:?}");
        }
    }
}
