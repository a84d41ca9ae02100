//! The daily bill reconciliation end to end: two Kling accounts in provider-sim bill what they
//! made (`POST /account/billing/balance`), reconcile reads each against the table in moto,
//! through the real binaries. A clean day reports nothing; a day with a failed task the sim
//! billed anyway and a task it billed twice reports exactly those two. fal's bill (its
//! successful requests, fal-sim's request listing) is compared the same way.

mod common;

use std::time::Duration;

use common::{Api, pool_plan, store, t2v, wait_terminal_in_table};
use serde_json::{Value, json};
use shared::domain::task::TaskStatus;
use shared::ports::{Accounts, LedgerKind, Tasks};

async fn run_bills(stack: &devstack::stack::Stack) -> Value {
    let body = devstack::invoker::Invoker::new(stack.api_url.clone())
        .invoke("reconcile", &json!({"job": "bills", "day": "today"}))
        .await
        .expect("the bill job runs");
    serde_json::from_slice(&body).unwrap()
}

/// Every account's mismatches as (kind, our task id).
fn mismatches(report: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["mismatches"].as_array().cloned().unwrap_or_default())
        .map(|m| {
            (
                m["kind"].as_str().unwrap().into(),
                m["task_id"].as_str().unwrap_or("-").into(),
            )
        })
        .collect();
    out.sort();
    out
}

fn total(report: &Value, field: &str) -> u64 {
    report["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["totals"][field].as_u64().unwrap_or(0))
        .sum()
}

/// Tasks made at once (so both accounts take some), each waited for; their ids.
async fn make(stack: &devstack::stack::Stack, api: &Api, tasks: &[(&str, &str)]) -> Vec<String> {
    let token = stack.token_with_plan("biller", "pool").unwrap();
    let mut ids = Vec::new();
    for (key, prompt) in tasks {
        let (status, _, task) = api.create(&token, key, &t2v(prompt)).await;
        assert_eq!(status, 202, "{task}");
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        wait_terminal_in_table(stack, id, Duration::from_secs(120)).await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_day_reports_nothing_and_injected_mistakes_exactly() {
    let (b, b_env) = devstack::env::local_kling_account("b", 2);
    let stack = common::start(|o| {
        o.sim_speed = 20.0;
        o.sim_accounts.push(b);
        o.extra_env.extend(b_env);
        let pool = json!([
            {"provider": "kling", "name": "main", "capacity": 2},
            {"provider": "kling", "name": "b", "capacity": 2},
        ]);
        o.extra_env
            .push(("PROVIDER_ACCOUNTS".into(), pool.to_string()));
        o.extra_env.push(pool_plan());
    })
    .await;
    let api = Api::new(&stack);
    let clean: Vec<(String, &str)> = (0..4)
        .map(|i| (format!("clean-{i}"), "a quiet harbour"))
        .collect();
    let clean: Vec<(&str, &str)> = clean.iter().map(|(k, p)| (k.as_str(), *p)).collect();
    make(&stack, &api, &clean).await;
    let clean = run_bills(&stack).await;
    println!("clean day: {clean}");
    assert_eq!(clean["mismatches"], 0, "{clean}");
    assert_eq!(total(&clean, "bill_rows"), 4);
    assert_eq!(total(&clean, "matched_rows"), 4);

    let bad = make(
        &stack,
        &api,
        &[
            ("bad-1", "a storm [sim:fail=Render failed][sim:bill-failed]"),
            ("bad-2", "a second harbour [sim:bill-twice]"),
        ],
    )
    .await;
    let (refunded, twice) = (bad[0].clone(), bad[1].clone());
    let task = store(&stack).get_task(&refunded).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    let refunds = store(&stack)
        .ledger("biller")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == LedgerKind::Refund)
        .count();
    assert_eq!(refunds, 1, "the failed task was refunded");

    let day = run_bills(&stack).await;
    println!("day with mistakes: {day}");
    assert_eq!(
        mismatches(&day),
        [
            ("billed_refunded".into(), refunded),
            ("billed_twice".into(), twice)
        ]
    );
    assert_eq!(day["mismatches"], 2);
    assert_eq!(
        total(&day, "bill_rows"),
        7,
        "4 clean + 1 failed + 2 for one job"
    );
    let per_account: Vec<(String, u64)> = day["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["account"].as_str().unwrap().into(),
                a["totals"]["bill_rows"].as_u64().unwrap(),
            )
        })
        .collect();
    println!("bill rows per account: {per_account:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fals_bill_is_its_successful_requests_and_a_refunded_one_is_found() {
    let stack = common::start(|o| {
        o.extra_env.push(("PROVIDER".into(), "fal".into()));
        o.extra_env.push(pool_plan());
    })
    .await;
    let api = Api::new(&stack);
    make(
        &stack,
        &api,
        &[("fal-1", "a quiet harbour"), ("fal-2", "a pier")],
    )
    .await;
    let clean = run_bills(&stack).await;
    println!("fal, clean day: {clean}");
    assert_eq!(clean["accounts"][0]["outcome"], "compared", "{clean}");
    assert_eq!(clean["mismatches"], 0, "{clean}");
    assert_eq!(total(&clean, "bill_rows"), 2);
    assert_eq!(total(&clean, "matched_rows"), 2);

    let prompt = "a storm [fal:error=generation_error][fal:bill-failed]";
    let bad = make(&stack, &api, &[("fal-3", prompt)]).await;
    let task = store(&stack).get_task(&bad[0]).await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Failed);
    let day = run_bills(&stack).await;
    println!("fal, day with a mistake: {day}");
    assert_eq!(
        mismatches(&day),
        [("billed_refunded".into(), bad[0].clone())]
    );
    assert_eq!(total(&day, "bill_rows"), 3);
}
