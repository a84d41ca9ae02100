//! The task lifecycle under every fault at once, on each provider, against moto, provider-sim
//! and fal-sim over HTTP: 40 tasks over a capacity of 5, 30 % of callbacks lost, 30 % of
//! provider calls failing, some generations failing, and dispatch, finalize and
//! webhook-receiver killed at random. Every task ends once with its money right and one
//! provider job, and a slot is back in the pool soon after the provider finished (printed).
//!
//! On fal, submits answered 500 having queued nothing are found absent in fal's listing of
//! finished requests once every request they could have made has ended, and sent again; one
//! fal got (its answer lost with a killed dispatch) gets its request id from fal's signed
//! webhook, success or failure.

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Api, fast_retries, plans_with, store, t2v};
use devstack::stack::Stack;
use provider_sim::Faults;
use provider_sim::fal::FalFaults;
use serde_json::json;
use shared::domain::task::{Task, TaskStatus};
use shared::ports::{Accounts, Capacity, LedgerKind, Tasks};

const TASKS: usize = 40;
const CAPACITY: usize = 5;

#[derive(Clone, Copy, PartialEq, Debug)]
enum On {
    Kling,
    Fal,
}

impl On {
    fn name(self) -> &'static str {
        match self {
            On::Kling => "kling",
            On::Fal => "fal",
        }
    }
}

fn plans() -> String {
    let plan = json!({"qualities": ["draft", "standard", "pro"], "model_overrides": [],
        "max_duration_seconds": 10, "max_concurrent_tasks": 100, "daily_cost_units": 100000,
        "max_queue_seconds": 1800, "suspend_after_violations": 3,
        "violation_window_seconds": 3600, "suspension_seconds": 60});
    plans_with(&[("chaos", plan)])
}

async fn start(on: On) -> Stack {
    common::start(|o| {
        o.instances = 2;
        // About 1 s queued and 6 s generating per task.
        o.sim_speed = 10.0;
        // As in AWS: the dispatcher's safety-net schedule is a minute.
        o.schedule_every = Duration::from_secs(60);
        o.extra_env = fast_retries();
        for (k, v) in [
            ("PLANS_JSON", plans()),
            ("PROVIDER_MAX_CONCURRENCY", CAPACITY.to_string()),
            // Until three callbacks have taught the pace, holders are asked about from 20 s.
            ("SLOT_CHECK_FALLBACK_SECONDS", "20".into()),
            ("SLOT_CHECK_FLOOR_SECONDS", "1".into()),
            // Locally a queue message is seen again after 2 s (not minutes): under 30 % provider
            // errors and kills, finalize can spend its 5 receives and leave a task to the
            // dead-letter queue; reconcile, on the minute's schedule, is what picks it up.
            ("RECONCILE_STALE_SECONDS", "10".into()),
            ("SLOT_RECHECK_SECONDS", "2".into()),
            ("PROVIDER", on.name().into()),
            ("FAL_START_TIMEOUT_SECONDS", "10".into()),
            ("FAL_RUN_BOUND_SECONDS", "10".into()),
        ] {
            o.extra_env.push((k.into(), v));
        }
    })
    .await
}

fn set_faults(stack: &Stack, on: On) {
    match on {
        On::Kling => stack.sim.state.set_faults(Faults {
            seed: 28,
            concurrency_limit: Some(CAPACITY),
            error_rate: 0.3,
            error_codes: vec![5000, 5002],
            callback_drop_rate: 0.3,
            fail_rate: 0.15,
            fail_message: "risk control".into(),
            ..Default::default()
        }),
        On::Fal => stack.fal.state.set_faults(FalFaults {
            seed: 28,
            // Three submits answer 500 having queued nothing: unknown to us until fal's listing
            // shows them absent (40 s on), then sent again.
            fail_next_submits: 3,
            submit_busy_rate: 0.3,
            read_error_rate: 0.3,
            error_rate: 0.15,
            // A lost delivery is one fal sees fail: it tries again (10 attempts over 2 h; 3 s
            // here). Without that, a submit answer lost to a kill would wait for the hard timeout.
            webhook_drop_rate: 0.3,
            webhook_retry_ms: 3000,
            ..Default::default()
        }),
    }
}

/// Kills one of the functions that move tasks every second or two until told to stop.
fn killer(stack: Arc<Stack>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let victims = ["dispatch", "finalize", "webhook-receiver"];
        let (mut kills, mut turn) = (0, 0usize);
        while !stop.load(Ordering::Relaxed) {
            // A fixed, uneven rhythm: 1.0 s, 1.7 s, 2.4 s, …
            tokio::time::sleep(Duration::from_millis(1000 + (turn as u64 % 3) * 700)).await;
            kills += stack.crash(victims[(turn * 7 + turn / 3) % victims.len()]);
            turn += 1;
        }
        kills
    })
}

/// Samples the provider's slots every 100 ms: when each task was last seen holding one.
type LastHeld = Arc<Mutex<HashMap<String, i64>>>;

fn slot_watch(
    stack: Arc<Stack>,
    on: On,
    stop: Arc<AtomicBool>,
) -> (LastHeld, tokio::task::JoinHandle<()>) {
    let seen: LastHeld = Default::default();
    let out = seen.clone();
    let handle = tokio::spawn(async move {
        let store = store(&stack);
        while !stop.load(Ordering::Relaxed) {
            if let Ok(holders) = store.slot_holders(on.name()).await {
                let now = provider_sim::tasks::now_ms();
                let mut seen = seen.lock().unwrap();
                for id in holders {
                    seen.insert(id.to_string(), now);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (out, handle)
}

/// Each task's provider jobs and, for a finished job, when the provider finished it (ms).
fn provider_jobs(stack: &Stack, on: On, id: &str) -> (usize, Option<i64>) {
    match on {
        On::Kling => {
            let jobs: Vec<_> = stack
                .sim
                .state
                .all()
                .into_iter()
                .filter(|t| t.external_task_id.as_deref() == Some(id))
                .collect();
            let done = jobs
                .iter()
                .find(|t| matches!(t.status, "succeed" | "failed"))
                .map(|t| t.updated_at);
            (jobs.len(), done)
        }
        On::Fal => {
            let marker = format!("/{id}/");
            let jobs: Vec<_> = stack
                .fal
                .state
                .all()
                .into_iter()
                .filter(|r| r.webhook.as_deref().is_some_and(|w| w.contains(&marker)))
                .collect();
            let done = jobs.iter().find_map(|r| r.completed_at_ms);
            (jobs.len(), done)
        }
    }
}

async fn wait_all_terminal(stack: &Stack, ids: &[String]) -> HashMap<String, Task> {
    let store = store(stack);
    let mut done = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while done.len() < ids.len() {
        if tokio::time::Instant::now() > deadline {
            for id in ids.iter().filter(|id| !done.contains_key(*id)) {
                let t = store.get_task(id).await.unwrap().unwrap();
                eprintln!(
                    "unfinished {id}: {:?} ref {:?} attempted {:?} submitted {:?}",
                    t.status, t.provider_ref, t.submit_attempted_at, t.submitted_at
                );
            }
            panic!("{} of {} finished", done.len(), ids.len());
        }
        for id in ids {
            if done.contains_key(id) {
                continue;
            }
            if let Ok(Some(t)) = store.get_task(id).await
                && t.status.is_terminal()
            {
                done.insert(id.clone(), t);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    done
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    let rank = ((sorted.len() as f64) * p).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

async fn chaos(on: On) {
    let stack = Arc::new(start(on).await);
    set_faults(&stack, on);
    let user = format!("chaos-{}", on.name());
    let token = stack.token_with_plan(&user, "chaos").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (last_held, watcher) = slot_watch(stack.clone(), on, stop.clone());
    let kills = killer(stack.clone(), stop.clone());
    let api = Api::new(&stack);
    let mut ids = Vec::new();
    for i in 0..TASKS {
        let (status, _, body) = api
            .create(&token, &format!("{user}-{i}"), &t2v(&format!("scene {i}")))
            .await;
        assert_eq!(status, 202, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let finished = wait_all_terminal(&stack, &ids).await;
    stop.store(true, Ordering::Relaxed);
    let kills = kills.await.unwrap();
    watcher.await.unwrap();
    // Settled: the slot watcher's last look is after every terminal write.
    let store = store(&stack);
    let entries = store.ledger(&user).await.unwrap();
    let last_held = last_held.lock().unwrap().clone();
    let (mut held_after, mut succeeded) = (Vec::new(), 0);
    for (id, task) in &finished {
        let (jobs, provider_done) = provider_jobs(&stack, on, id);
        assert_eq!(
            jobs, 1,
            "{id} ({:?}) made exactly one provider job",
            task.status
        );
        let count = |kind| {
            entries
                .iter()
                .filter(|e| &e.task_id == id && e.kind == kind)
                .count()
        };
        let failed = task.status != TaskStatus::Succeeded;
        assert_eq!(
            (count(LedgerKind::Debit), count(LedgerKind::Refund)),
            (1, usize::from(failed)),
            "{id} {:?}: charged once, refunded iff it failed",
            task.status
        );
        succeeded += usize::from(!failed);
        let done = provider_done.unwrap_or_else(|| panic!("{id}: the provider never finished it"));
        let released = last_held.get(id).copied().unwrap_or(done);
        held_after.push((released - done).max(0));
    }
    assert!(
        store.slot_holders(on.name()).await.unwrap().is_empty(),
        "capacity back to 0"
    );
    let (_, _, me) = api.get("/v1/me", &token, None).await;
    assert_eq!(me["usage"]["in_flight"], 0, "{me}");
    held_after.sort_unstable();
    let (p50, p95, max) = (
        percentile(&held_after, 0.5),
        percentile(&held_after, 0.95),
        *held_after.last().unwrap(),
    );
    println!(
        "chaos on {}: {TASKS} tasks, capacity {CAPACITY}, {succeeded} succeeded, {} failed, \
         {kills} functions killed; slot held after the provider finished: p50 {p50} ms, \
         p95 {p95} ms, max {max} ms (bound: p95 <= 30000 ms)",
        on.name(),
        TASKS - succeeded,
    );
    assert!(p95 <= 30_000, "slots follow the provider: p95 {p95} ms");
    assert!(kills > 0, "functions were killed");
    assert!(
        succeeded > 0 && succeeded < TASKS,
        "the faults were real: {succeeded} succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_kling_every_task_ends_once_with_one_job_and_slots_follow_the_provider() {
    chaos(On::Kling).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_on_fal_every_task_ends_once_with_one_job_and_slots_follow_the_provider() {
    chaos(On::Fal).await;
}
