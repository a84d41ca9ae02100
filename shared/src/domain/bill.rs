//! A provider's bill against our tasks (`docs/providers.md` §Bills).
//!
//! The bill is asked for one UTC day of task creation per provider account; our side is every
//! task that account took on that day and the days either side (a submit sent at 23:59:59.9
//! may be created on the provider's next day). Only what costs money is a mismatch: a row for a
//! task we refunded, two rows for one task, a row for no task of ours. A task of ours the bill
//! lacks costs nothing and is counted, not flagged.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::domain::task::{CostUnits, TaskId, TaskStatus};
pub use crate::domain::timestamp::Day;

/// One deduction on the provider's bill.
#[derive(Debug, Clone, PartialEq)]
pub struct BillRow {
    /// The provider's id of the job (Kling's `task_id`), as our tasks keep it.
    pub reference: String,
    /// In hundredths of the bill's currency.
    pub amount: i64,
}

/// One of our tasks as the bill is compared with it.
#[derive(Debug, Clone, PartialEq)]
pub struct BilledTask {
    pub reference: String,
    pub task_id: TaskId,
    pub status: TaskStatus,
    pub cost_units: CostUnits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MismatchKind {
    /// The provider billed a task we refunded to the user.
    BilledRefunded,
    /// More than one deduction for one job.
    BilledTwice,
    /// A deduction for a job no task of ours holds.
    NeverRecorded,
}

impl MismatchKind {
    pub const ALL: [MismatchKind; 3] = [
        MismatchKind::BilledRefunded,
        MismatchKind::BilledTwice,
        MismatchKind::NeverRecorded,
    ];

    /// The metric's `Kind` dimension.
    pub fn as_str(self) -> &'static str {
        match self {
            MismatchKind::BilledRefunded => "billed_refunded",
            MismatchKind::BilledTwice => "billed_twice",
            MismatchKind::NeverRecorded => "never_recorded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    pub kind: MismatchKind,
    pub reference: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<TaskId>,
    /// The bill's rows for this job and their total (hundredths).
    pub rows: u32,
    pub amount: i64,
}

/// The totals of both sides, for an operator to read beside the mismatches.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub bill_rows: u32,
    /// Hundredths of the bill's currency.
    pub bill_amount: i64,
    /// Bill rows that name a task of ours.
    pub matched_rows: u32,
    /// What we charged users for the tasks the bill names (refunded ones excluded).
    pub charged: CostUnits,
    /// Our succeeded tasks of the day that the bill does not name (not a loss; counted).
    pub unbilled_succeeded: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Comparison {
    pub totals: Totals,
    pub mismatches: Vec<Mismatch>,
}

/// Compares one account's bill for a day with our tasks of that day (`day_tasks`) and its
/// neighbours (`nearby`, matched but never counted as unbilled). Deterministic order.
pub fn compare(rows: &[BillRow], day_tasks: &[BilledTask], nearby: &[BilledTask]) -> Comparison {
    let ours: BTreeMap<&str, &BilledTask> = nearby
        .iter()
        .chain(day_tasks)
        .map(|t| (t.reference.as_str(), t))
        .collect();
    let mut by_ref: BTreeMap<&str, (u32, i64)> = BTreeMap::new();
    for row in rows {
        let entry = by_ref.entry(row.reference.as_str()).or_default();
        entry.0 += 1;
        entry.1 += row.amount;
    }
    let mut out = Comparison::default();
    out.totals.bill_rows = rows.len() as u32;
    out.totals.bill_amount = rows.iter().map(|r| r.amount).sum();
    for (reference, (count, amount)) in &by_ref {
        let task = ours.get(reference).copied();
        for kind in mismatches_of(task, *count) {
            out.mismatches.push(Mismatch {
                kind,
                reference: reference.to_string(),
                task_id: task.map(|t| t.task_id.clone()),
                rows: *count,
                amount: *amount,
            });
        }
        if let Some(t) = task {
            out.totals.matched_rows += count;
            if !t.status.refunds() {
                out.totals.charged = CostUnits(out.totals.charged.0 + t.cost_units.0);
            }
        }
    }
    out.totals.unbilled_succeeded = day_tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeeded)
        .filter(|t| !by_ref.contains_key(t.reference.as_str()))
        .count() as u32;
    out.mismatches
        .sort_by(|a, b| (a.kind, &a.reference).cmp(&(b.kind, &b.reference)));
    out
}

/// The rule for one job: what its bill rows and our task say together.
pub fn mismatches_of(task: Option<&BilledTask>, rows: u32) -> Vec<MismatchKind> {
    let mut kinds = Vec::new();
    match task {
        None => kinds.push(MismatchKind::NeverRecorded),
        Some(t) if t.status.refunds() => kinds.push(MismatchKind::BilledRefunded),
        Some(_) => {}
    }
    if rows > 1 {
        kinds.push(MismatchKind::BilledTwice);
    }
    kinds
}

/// A bill's amount (a JSON number such as `5.0`) in hundredths.
pub fn hundredths(amount: f64) -> i64 {
    if amount.is_finite() {
        (amount * 100.0).round() as i64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(reference: &str, status: TaskStatus) -> BilledTask {
        BilledTask {
            reference: reference.into(),
            task_id: TaskId::from(format!("t-{reference}")),
            status,
            cost_units: CostUnits(100),
        }
    }

    fn row(reference: &str) -> BillRow {
        BillRow {
            reference: reference.into(),
            amount: 500,
        }
    }

    #[test]
    fn the_rule_for_one_job() {
        use MismatchKind::*;
        use TaskStatus::*;
        let table: [(Option<TaskStatus>, u32, Vec<MismatchKind>); 8] = [
            (Some(Succeeded), 1, vec![]),
            (Some(Running), 1, vec![]),
            (Some(Finalizing), 1, vec![]),
            (Some(Succeeded), 2, vec![BilledTwice]),
            (Some(Failed), 1, vec![BilledRefunded]),
            (Some(Canceled), 1, vec![BilledRefunded]),
            (Some(Failed), 2, vec![BilledRefunded, BilledTwice]),
            (None, 1, vec![NeverRecorded]),
        ];
        for (status, rows, want) in table {
            let t = status.map(|s| task("k", s));
            assert_eq!(mismatches_of(t.as_ref(), rows), want, "{status:?} × {rows}");
        }
    }

    #[test]
    fn a_clean_day_reports_nothing_and_counts_both_sides() {
        let ours = [
            task("a", TaskStatus::Succeeded),
            task("b", TaskStatus::Succeeded),
            task("c", TaskStatus::Failed),
        ];
        let got = compare(&[row("a"), row("b")], &ours, &[]);
        assert!(got.mismatches.is_empty());
        assert_eq!(got.totals.bill_rows, 2);
        assert_eq!(got.totals.bill_amount, 1000);
        assert_eq!(got.totals.matched_rows, 2);
        assert_eq!(got.totals.charged, CostUnits(200));
        assert_eq!(got.totals.unbilled_succeeded, 0);
    }

    #[test]
    fn each_mismatch_is_reported_once_in_a_stable_order() {
        let ours = [
            task("a", TaskStatus::Succeeded),
            task("b", TaskStatus::Failed),
            task("d", TaskStatus::Succeeded),
        ];
        let bill = [row("b"), row("a"), row("x"), row("a")];
        let got = compare(&bill, &ours, &[]);
        let kinds: Vec<(MismatchKind, &str)> = got
            .mismatches
            .iter()
            .map(|m| (m.kind, m.reference.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (MismatchKind::BilledRefunded, "b"),
                (MismatchKind::BilledTwice, "a"),
                (MismatchKind::NeverRecorded, "x"),
            ]
        );
        assert_eq!(got.mismatches[1].rows, 2);
        assert_eq!(got.mismatches[1].amount, 1000);
        assert_eq!(got.mismatches[2].task_id, None);
        assert_eq!(got.totals.unbilled_succeeded, 1, "d was not billed");
    }

    #[test]
    fn a_task_of_the_next_day_matches_without_being_counted_unbilled() {
        let nearby = [task("late", TaskStatus::Succeeded)];
        let got = compare(&[row("late")], &[], &nearby);
        assert!(got.mismatches.is_empty());
        let got = compare(&[], &[], &nearby);
        assert_eq!(got.totals.unbilled_succeeded, 0);
    }

    #[test]
    fn days_and_amounts() {
        let day = Day::parse("2026-12-05").expect("a day");
        assert_eq!(day.to_string(), "2026-12-05");
        assert_eq!(day.unix_ms(), (1_796_428_800_000, 1_796_515_200_000));
        assert_eq!(day.neighbours()[0].to_string(), "2026-12-04");
        assert_eq!(Day::parse("2026-13-01"), None);
        assert_eq!(hundredths(5.0), 500);
        assert_eq!(hundredths(0.125), 13);
        assert_eq!(hundredths(f64::NAN), 0);
    }
}
