//! The daily bill job in process: each account's bill (the test-only provider's) against the
//! in-memory table.

use std::time::Duration;

use reconcile::{App, PayloadError, handle_payload};
use serde_json::{Value, json};
use shared::domain::bill::BillRow;
use shared::domain::pool::Pool;
use shared::domain::task::TaskStatus;
use shared::domain::timestamp::Timestamp;
use shared::lifecycle::sync::SyncPolicy;
use shared::provider::{ProviderError, ProviderRef};
use shared::testing::{FakeProvider, MemoryQueue, MemoryStore, request_fixture, task_fixture};

type TestApp = App<MemoryStore, FakeProvider, MemoryQueue>;

fn app() -> TestApp {
    let accounts = r#"[{"provider": "fake", "name": "b", "capacity": 2}]"#;
    App {
        store: MemoryStore::default(),
        provider: FakeProvider::default(),
        queue: MemoryQueue::default(),
        policy: SyncPolicy {
            stale_after: Duration::from_secs(60),
            hard_timeout: Duration::from_secs(3600),
        },
        pool: Pool::parse(Some(accounts), &["fake".into()], 5).unwrap(),
    }
}

/// Task `id` taken by `account` as the provider's job `reference`, submitted `days_ago`.
fn task(
    app: &TestApp,
    id: &str,
    account: &str,
    reference: &str,
    status: TaskStatus,
    days_ago: i64,
) {
    let mut task = task_fixture(id, "alice", "fake");
    let mut request = request_fixture(id);
    request.account = account.into();
    task.request = Some(request);
    task.status = status;
    task.provider_ref = Some(ProviderRef(reference.into()));
    task.submitted_at = Some(Timestamp::now() - time::Duration::days(days_ago));
    app.store.insert_task(task);
}

fn rows(references: &[&str]) -> Result<Vec<BillRow>, ProviderError> {
    Ok(references
        .iter()
        .map(|r| BillRow {
            reference: (*r).into(),
            amount: 500,
        })
        .collect())
}

async fn today(app: &TestApp) -> Value {
    handle_payload(app, json!({"job": "bills", "day": "today"}))
        .await
        .unwrap()
}

fn kinds(report: &Value, account: usize) -> Vec<(String, String)> {
    report["accounts"][account]["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap().into(),
                m["reference"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_clean_day_reports_nothing() {
    let app = app();
    task(&app, "t-1", "", "k-1", TaskStatus::Succeeded, 0);
    task(&app, "t-2", "b", "k-2", TaskStatus::Succeeded, 0);
    task(&app, "t-3", "b", "k-3", TaskStatus::Failed, 0);
    app.provider.set_bill("main", rows(&["k-1"]));
    app.provider.set_bill("b", rows(&["k-2"]));
    let report = today(&app).await;
    assert_eq!(report["mismatches"], 0, "{report}");
    assert_eq!(report["accounts"][1]["totals"]["bill_rows"], 1);
    assert_eq!(report["accounts"][1]["totals"]["charged"], 5.0);
}

#[tokio::test]
async fn each_account_is_read_against_its_own_tasks() {
    let app = app();
    task(&app, "t-1", "", "k-1", TaskStatus::Succeeded, 0);
    task(&app, "t-2", "b", "k-2", TaskStatus::Failed, 0);
    task(&app, "t-3", "b", "k-3", TaskStatus::Succeeded, 0);
    // main's bill names b's job: main never took it.
    app.provider.set_bill("main", rows(&["k-1", "k-3"]));
    app.provider.set_bill("b", rows(&["k-2", "k-3", "k-3"]));
    let report = today(&app).await;
    assert_eq!(kinds(&report, 0), [("never_recorded".into(), "k-3".into())]);
    assert_eq!(
        kinds(&report, 1),
        [
            ("billed_refunded".into(), "k-2".into()),
            ("billed_twice".into(), "k-3".into())
        ]
    );
    assert_eq!(report["accounts"][1]["mismatches"][0]["task_id"], "t-2");
    assert_eq!(report["mismatches"], 3);
}

#[tokio::test]
async fn a_job_created_past_midnight_still_matches_its_task() {
    let app = app();
    task(&app, "t-1", "", "k-1", TaskStatus::Succeeded, 1);
    app.provider.set_bill("main", rows(&["k-1"]));
    app.provider.set_bill("b", rows(&[]));
    let report = today(&app).await;
    assert_eq!(report["mismatches"], 0, "{report}");
}

#[tokio::test]
async fn an_unreadable_bill_or_none_at_all_is_said_so_and_the_rest_compared() {
    let app = app();
    task(&app, "t-1", "b", "k-1", TaskStatus::Failed, 0);
    app.provider.set_bill(
        "main",
        Err(ProviderError::Auth {
            reason: "bad key".into(),
        }),
    );
    app.provider.set_bill("b", rows(&["k-1"]));
    let report = today(&app).await;
    assert_eq!(report["accounts"][0]["outcome"], "unread");
    assert!(
        report["accounts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("bad key")
    );
    assert_eq!(
        kinds(&report, 1),
        [("billed_refunded".into(), "k-1".into())]
    );

    let app = self::app();
    let report = today(&app).await;
    assert_eq!(report["accounts"][0]["outcome"], "no_bill_by_job");
    assert_eq!(report["mismatches"], 0);
}

#[tokio::test]
async fn the_schedule_asks_for_yesterday_and_bad_jobs_are_refused() {
    let app = app();
    app.provider.set_bill("main", rows(&[]));
    let report = handle_payload(&app, json!({"job": "bills"})).await.unwrap();
    let yesterday = shared::domain::bill::Day::yesterday(time::OffsetDateTime::now_utc());
    assert_eq!(report["day"], yesterday.to_string());
    let bad = [
        json!({"job": "bills", "day": "12/05/2026"}),
        json!({"job": "invoices"}),
        json!({"job": 7}),
        json!([1, 2]),
    ];
    for payload in bad {
        let got = handle_payload(&app, payload.clone()).await;
        assert!(
            matches!(
                got,
                Err(PayloadError::BadDay(_)
                    | PayloadError::UnknownJob(_)
                    | PayloadError::Malformed(_))
            ),
            "{payload}: {got:?}"
        );
    }
}
