//! Provider accounts as a pool, against moto, provider-sim and fal-sim over HTTP with the real
//! function binaries: two Kling accounts (3 slots each) and fal (2) in failover; one Kling
//! account falls into arrears mid-run and recovers; two fal accounts held to their slots.

mod common;

use std::time::Duration;

use common::{Api, fast_retries, pool_plan, store, t2v, wait_terminal_in_table};
use serde_json::json;
use shared::domain::task::TaskStatus;
use shared::ports::{Accounts, LedgerKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn forty_tasks_over_two_kling_accounts_and_fal_with_one_account_in_arrears_midway() {
    let (b, b_env) = devstack::env::local_kling_account("b", 3);
    let stack = common::start(|o| {
        o.sim_speed = 10.0;
        o.instances = 2;
        o.schedule_every = Duration::from_secs(2);
        o.sim_accounts.push(b);
        o.extra_env = fast_retries();
        o.extra_env.extend(b_env);
        let pool = json!([
            {"provider": "kling", "name": "main", "capacity": 3},
            {"provider": "kling", "name": "b", "capacity": 3, "weight": 1},
            {"provider": "fal", "name": "main", "capacity": 2},
        ]);
        o.extra_env.extend([
            ("PROVIDER".into(), "kling,fal".into()),
            ("PROVIDER_ACCOUNTS".into(), pool.to_string()),
            ("ACCOUNT_PROBE_SECONDS".into(), "3".into()),
        ]);
        o.extra_env.push(pool_plan());
    })
    .await;
    stack.sim.state.set_faults(provider_sim::Faults {
        concurrency_limit: Some(3),
        ..Default::default()
    });
    let ids = create_many(&stack, "pooled", 40, "a lantern festival").await;
    let on_b = || {
        let all = stack.sim.state.all();
        all.into_iter().filter(|t| t.account == "b").count()
    };
    wait_for(|| on_b() >= 3, "b takes work").await;
    stack.sim.state.set_account_refusal("b", Some(1101));
    wait_for(
        || stack.sim.state.counters().refused_account > 0,
        "b refuses a create",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let before = on_b();
    stack.sim.state.set_account_refusal("b", None);
    let recovered_at = provider_sim::tasks::now_ms();

    for id in &ids {
        let task = wait_terminal_in_table(&stack, id, Duration::from_secs(300)).await;
        assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
        if task.provider == "kling" {
            let made = stack
                .sim
                .state
                .find("text2video", task.provider_ref.as_ref().unwrap().as_str())
                .unwrap();
            let account = if task.account().is_empty() {
                "main"
            } else {
                task.account()
            };
            assert_eq!(
                made.account, account,
                "{id}: made on the account it records"
            );
        }
    }
    let counters = stack.sim.state.counters();
    let high = &counters.max_unfinished_by_account;
    let fal = stack.fal.state.counters();
    let after = stack
        .sim
        .state
        .all()
        .into_iter()
        .filter(|t| t.account == "b" && t.created_at >= recovered_at)
        .count();
    let fal_tasks = stack.fal.state.all().len();
    println!(
        "pool: high-water kling/main {:?}, kling/b {:?}, fal {}; creates b refused {} (arrears), \
         1303 {}; b made {before} before recovering and {after} after; fal made {fal_tasks}",
        high.get("main"),
        high.get("b"),
        fal.max_unfinished,
        counters.refused_account,
        counters.refused_1303,
    );
    assert!(high.get("main").is_some_and(|n| *n <= 3), "{high:?}");
    assert!(high.get("b").is_some_and(|n| *n <= 3), "{high:?}");
    assert!(fal.max_unfinished <= 2, "{fal:?}");
    assert!(counters.refused_account > 0);
    assert!(after > 0, "b is back in rotation after its arrears");
    let entries = store(&stack).ledger("pooled").await.unwrap();
    let refunds = entries
        .iter()
        .filter(|e| e.kind == LedgerKind::Refund)
        .count();
    assert_eq!(refunds, 0, "nothing failed");
}

/// `n` text-to-video tasks of `user` (on the `pool` plan), all accepted; their ids.
async fn create_many(
    stack: &devstack::stack::Stack,
    user: &str,
    n: usize,
    prompt: &str,
) -> Vec<String> {
    let token = stack.token_with_plan(user, "pool").unwrap();
    let api = Api::new(stack);
    let mut ids = Vec::new();
    for i in 0..n {
        let (status, _, task) = api
            .create(&token, &format!("{user}-{i}"), &t2v(prompt))
            .await;
        assert_eq!(status, 202, "{task}");
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    ids
}

async fn wait_for(mut done: impl FnMut() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Two fal accounts in the pool, 2 slots each (under PROVIDER_MAX_CONCURRENCY's 5), and 2
/// workers each at fal-sim: dispatch holds each account to its entry's capacity, every task is
/// made on (and looked up with) the account it records, and both accounts work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fal_accounts_each_get_no_more_than_their_pool_capacity() {
    let (b, b_env) = devstack::env::local_fal_account("b", 2);
    let stack = common::start(|o| {
        o.sim_speed = 20.0;
        o.fal_accounts.push(b);
        o.extra_env.extend(b_env);
        o.extra_env.extend([
            ("PROVIDER".into(), "fal".into()),
            (
                "PROVIDER_ACCOUNTS".into(),
                json!([{"provider": "fal", "name": "main", "capacity": 2},
                    {"provider": "fal", "name": "b", "capacity": 2}])
                .to_string(),
            ),
            pool_plan(),
        ]);
    })
    .await;
    let ids = create_many(&stack, "fal-pool", 12, "a paper boat").await;
    for id in &ids {
        let task = wait_terminal_in_table(&stack, id, Duration::from_secs(240)).await;
        assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
        let reference = task.provider_ref.as_ref().unwrap().as_str();
        let made = stack.fal.state.get(reference).unwrap();
        let account = Some(task.account()).filter(|a| !a.is_empty());
        assert_eq!(
            made.account,
            account.unwrap_or("main"),
            "{id}: made where recorded"
        );
    }
    let c = stack.fal.state.counters();
    let (high, running) = (&c.max_unfinished_by_account, &c.max_running_by_account);
    println!(
        "fal pool: 12 tasks; at once per account {high:?} (capacity 2 each), running {running:?} \
         (2 workers each)"
    );
    assert_eq!(
        high.get("main"),
        Some(&2),
        "main filled to its capacity, never above"
    );
    assert_eq!(
        high.get("b"),
        Some(&2),
        "b filled to its capacity, never above"
    );
}
