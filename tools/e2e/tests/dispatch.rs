//! The queue in front of the provider's capacity, against moto and provider-sim over HTTP with the
//! real function binaries: nobody is refused because Kling is full, the account's concurrency
//! is never exceeded, lanes are honoured, a killed dispatcher loses nothing, and waiting tasks
//! can be canceled or time out with a refund.

mod common;

use std::time::{Duration, Instant};

use common::{Api, fast_retries, plans_with, store, t2v, wait_terminal_in_table};
use devstack::stack::Stack;
use provider_sim::Faults;
use serde_json::{Value, json};
use shared::domain::task::TaskStatus;
use shared::ports::{Accounts, Capacity, LedgerKind};

fn plan(priority: u8, max_queue_seconds: u32) -> Value {
    json!({"priority": priority, "max_queue_seconds": max_queue_seconds,
        "qualities": ["draft", "standard", "pro"], "model_overrides": [],
        "max_duration_seconds": 10, "max_concurrent_tasks": 50, "daily_cost_units": 100000,
        "suspend_after_violations": 3, "violation_window_seconds": 3600, "suspension_seconds": 60})
}

/// The stack with the provider account's capacity at `cap` (ours and provider-sim's alike).
async fn start(cap: u32, sim_speed: f64, max_queue_seconds: u32) -> Stack {
    let stack = common::start(|opts| {
        opts.sim_speed = sim_speed;
        opts.extra_env = fast_retries();
        opts.extra_env
            .push(("PROVIDER_MAX_CONCURRENCY".into(), cap.to_string()));
        let plans = plans_with(&[
            ("lane-free", plan(1, max_queue_seconds)),
            ("lane-pro", plan(0, max_queue_seconds)),
        ]);
        opts.extra_env.push(("PLANS_JSON".into(), plans));
    })
    .await;
    stack.sim.state.set_faults(Faults {
        concurrency_limit: Some(cap as usize),
        ..Default::default()
    });
    stack
}

async fn create(stack: &Stack, token: &str, key: &str, prompt: &str) -> String {
    let (status, _, task) = Api::new(stack).create(token, key, &t2v(prompt)).await;
    assert_eq!(status, 202, "{task}");
    task["id"].as_str().unwrap().to_string()
}

/// The ledger balances: one debit per task, one refund per task that did not succeed.
async fn assert_ledger_balances(stack: &Stack, user: &str, ids: &[String]) {
    let entries = store(stack).ledger(user).await.unwrap();
    for id in ids {
        let task = wait_terminal_in_table(stack, id, Duration::from_secs(5)).await;
        let count = |kind| {
            entries
                .iter()
                .filter(|e| e.task_id == *id && e.kind == kind)
                .count()
        };
        let refunds = usize::from(task.status != TaskStatus::Succeeded);
        assert_eq!(
            (count(LedgerKind::Debit), count(LedgerKind::Refund)),
            (1, refunds),
            "{id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_creates_never_exceed_the_providers_capacity_and_all_succeed() {
    let stack = start(3, 200.0, 1800).await;
    let mut jobs = Vec::new();
    for u in 0..20 {
        let plan = if u % 2 == 0 { "lane-free" } else { "lane-pro" };
        let token = stack.token_with_plan(&format!("many-{u}"), plan).unwrap();
        for n in 0..3 {
            jobs.push((token.clone(), format!("many-{u}-{n}")));
        }
    }
    let creates = jobs
        .iter()
        .map(|(token, key)| create(&stack, token, key, "a kite"));
    let ids = futures_util::future::join_all(creates).await;
    for id in &ids {
        let task = wait_terminal_in_table(&stack, id, Duration::from_secs(240)).await;
        assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
        assert_eq!(stack.sim.state.count_for_external(id), 1);
    }
    let counters = stack.sim.state.counters();
    println!(
        "60 tasks: provider-sim held at most {} at once, refused {} with 1303",
        counters.max_unfinished, counters.refused_1303
    );
    assert!(counters.max_unfinished <= 3, "{counters:?}");
    assert_eq!(counters.refused_1303, 0);
    assert!(
        store(&stack)
            .slot_holders("kling")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn under_saturation_a_later_pro_task_starts_before_earlier_free_ones() {
    let stack = start(1, 20.0, 1800).await;
    let free = stack.token_with_plan("lane-f", "lane-free").unwrap();
    let pro = stack.token_with_plan("lane-p", "lane-pro").unwrap();
    let mut free_ids = Vec::new();
    for n in 0..3 {
        free_ids.push(create(&stack, &free, &format!("f-{n}"), "a slow tide").await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pro_id = create(&stack, &pro, "p-0", "a slow tide").await;
    for id in free_ids.iter().chain([&pro_id]) {
        wait_terminal_in_table(&stack, id, Duration::from_secs(120)).await;
    }
    let started = |id: &str| stack.sim.state.find("text2video", id).unwrap().created_at;
    println!(
        "submitted at: free {:?}, pro {}",
        free_ids.iter().map(|i| started(i)).collect::<Vec<_>>(),
        started(&pro_id)
    );
    // The first free task already held the only slot; the pro task jumps the rest.
    assert!(started(&pro_id) < started(&free_ids[1]));
    assert!(started(&pro_id) < started(&free_ids[2]));
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

async fn create_times(stack: &Stack, user: &str, n: usize) -> Vec<Duration> {
    let token = stack.token_with_plan(user, "lane-pro").unwrap();
    let mut times = Vec::new();
    for i in 0..n {
        let t0 = Instant::now();
        create(stack, &token, &format!("{user}-{i}"), "a harbour").await;
        times.push(t0.elapsed());
    }
    times
}

/// Create answers without waiting for the provider: a 3 s Kling leaves it as fast as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn create_answers_at_once_whatever_the_providers_latency() {
    let stack = start(5, 200.0, 1800).await;
    let fast = median(create_times(&stack, "lat-fast", 9).await);
    stack.sim.state.set_faults(Faults {
        latency_ms: 3_000,
        ..Default::default()
    });
    let slow = median(create_times(&stack, "lat-slow", 9).await);
    println!("create median: {fast:?} with an instant provider, {slow:?} with a 3 s provider");
    assert!(
        slow < Duration::from_secs(3),
        "create waited on the provider: {slow:?}"
    );
}

/// The dispatcher is killed again and again while 30 tasks go through: every task ends, Kling
/// holds one task per id, no slot is left held, the ledger balances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dispatcher_killed_at_random_points_loses_and_doubles_nothing() {
    let stack = start(3, 100.0, 1800).await;
    let token = stack.token_with_plan("killed", "lane-free").unwrap();
    let creates = (0..30).map(|n| {
        let token = token.clone();
        let stack = &stack;
        async move { create(stack, &token, &format!("k-{n}"), "a windmill").await }
    });
    let ids = futures_util::future::join_all(creates).await;
    let mut kills = 0;
    for n in 0..12u64 {
        tokio::time::sleep(Duration::from_millis(150 + (n * 97) % 400)).await;
        kills += stack.crash("dispatch");
    }
    for id in &ids {
        let task = wait_terminal_in_table(&stack, id, Duration::from_secs(240)).await;
        assert!(task.status.is_terminal(), "{task:?}");
        assert_eq!(
            stack.sim.state.count_for_external(id),
            1,
            "one Kling task for {id}"
        );
    }
    println!("dispatch killed {kills} times; {} tasks done", ids.len());
    assert!(kills > 0);
    assert_ledger_balances(&stack, "killed", &ids).await;
    // Slots are freed by terminal writes, or repaired by the next run.
    for _ in 0..50 {
        if store(&stack)
            .slot_holders("kling")
            .await
            .unwrap()
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("slots still held after every task ended");
}

async fn cancel(api: &Api, token: &str, id: &str) -> common::Reply {
    let path = format!("/v1/videos/{id}/cancel");
    api.post(&path, Some(token), None, &json!({})).await
}

/// Cancel while waiting: CANCELED, refunded once, never submitted. Cancel after submission:
/// 409, nothing changes. Waiting past the plan's limit: FAILED queue_timeout, refunded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_tasks_can_be_canceled_or_time_out_with_one_refund() {
    let stack = start(1, 5.0, 3).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("waiter", "lane-free").unwrap();
    let holder = create(&stack, &token, "w-0", "a long night").await;
    let waiting = create(&stack, &token, "w-1", "a long night").await;
    let timing_out = create(&stack, &token, "w-2", "a long night").await;

    let (status, _, canceled) = cancel(&api, &token, &waiting).await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("CANCELED")),
        "{canceled}"
    );
    assert_eq!(cancel(&api, &token, &waiting).await.0, 200, "idempotent");
    // The holder is with provider-sim by now (or soon): it cannot be canceled.
    for _ in 0..50 {
        if stack.sim.state.find("text2video", &holder).is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, err) = cancel(&api, &token, &holder).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (409, Some("cannot_cancel"))
    );

    let timed_out = wait_terminal_in_table(&stack, &timing_out, Duration::from_secs(60)).await;
    assert_eq!(timed_out.status, TaskStatus::Failed);
    assert_eq!(timed_out.error.unwrap().code, "queue_timeout");
    assert!(
        stack.sim.state.find("text2video", &waiting).is_none(),
        "never submitted"
    );
    assert!(
        stack.sim.state.find("text2video", &timing_out).is_none(),
        "never submitted"
    );
    wait_terminal_in_table(&stack, &holder, Duration::from_secs(120)).await;
    assert_ledger_balances(&stack, "waiter", &[holder, waiting, timing_out]).await;
}
