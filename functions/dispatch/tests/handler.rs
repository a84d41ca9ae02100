//! dispatch in process: the waiting line, the provider's capacity, busy and lost answers,
//! against in-memory ports and the test-only provider.

use std::time::Duration;

use dispatch::{App, handle};
use shared::domain::pace::Pace;
use shared::domain::state::{TaskEvent, TaskPatch};
use shared::domain::task::{Task, TaskStatus};
use shared::domain::timestamp::Timestamp;
use shared::ports::{Capacity, GenerationTimes, Tasks};
use shared::provider::{GenerationRequest, JobStatus, ProviderError};
use shared::testing::{FakeProvider, MemoryQueue, MemoryStore, seed_task, task_fixture};

type TestApp = App<MemoryStore, FakeProvider, MemoryQueue, MemoryQueue>;

fn app(capacity: u32) -> TestApp {
    App {
        store: MemoryStore::default(),
        provider: FakeProvider::default(),
        nudge: MemoryQueue::default(),
        queue: MemoryQueue::default(),
        pool: shared::domain::pool::Pool::parse(None, &["fake".to_string()], capacity).unwrap(),
        breaker: shared::domain::breaker::BreakerPolicy {
            threshold: 3,
            open_for: std::time::Duration::from_secs(60),
        },
        account_probe: Duration::from_secs(60),
        // Nothing is due for a lookup until a test teaches the pace.
        pace: Pace {
            floor: Duration::ZERO,
            fallback: Duration::from_secs(3600),
            recheck: Duration::ZERO,
        },
        paces: Default::default(),
        holders_read: Default::default(),
        hard_timeout: Duration::from_secs(3 * 3600),
    }
}

fn request(id: &str) -> GenerationRequest {
    shared::testing::request_fixture(id)
}

/// A charged task waiting in line: `age_secs` old, in lane `priority`.
async fn waiting(app: &TestApp, id: &str, user: &str, priority: u8, age_secs: i64) -> Task {
    let mut task = task_fixture(id, user, "fake");
    task.priority = priority;
    task.created_at = Timestamp::now() - time::Duration::seconds(age_secs);
    task.queue_deadline = Some(Timestamp::now() + time::Duration::seconds(600));
    task.request = Some(request(id));
    seed_task(&app.store, &task, None).await;
    task
}

async fn status(app: &TestApp, id: &str) -> TaskStatus {
    app.store.get_task(id).await.unwrap().unwrap().status
}

fn submitted(app: &TestApp) -> Vec<String> {
    app.provider
        .submitted
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.task_id.clone())
        .collect()
}

async fn finish(app: &TestApp, id: &str) {
    app.store
        .apply(id, TaskEvent::Failed, TaskPatch::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_line_is_submitted_in_order_up_to_the_capacity() {
    let app = app(2);
    for (i, id) in ["t-1", "t-2", "t-3"].iter().enumerate() {
        waiting(&app, id, "alice", 1, 30 - i as i64).await;
    }
    let report = handle(&app).await;
    assert_eq!((report.submitted, report.waiting), (2, 1));
    assert_eq!(submitted(&app), ["t-1", "t-2"]);
    assert_eq!(status(&app, "t-1").await, TaskStatus::Queued);
    let t1 = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(t1.provider_ref.unwrap().as_str(), "job-1");
    assert_eq!(status(&app, "t-3").await, TaskStatus::Created);
    assert_eq!(app.store.slot_holders("fake").await.unwrap().len(), 2);
    assert_eq!(
        app.nudge.nudges.lock().unwrap().len(),
        1,
        "wakes itself while tasks wait"
    );

    // A terminal write frees the slot; the next run takes the next task.
    finish(&app, "t-1").await;
    assert_eq!(handle(&app).await.submitted, 1);
    assert_eq!(submitted(&app), ["t-1", "t-2", "t-3"]);
    assert_eq!(
        handle(&app).await.submitted,
        0,
        "each task is submitted once"
    );
}

#[tokio::test]
async fn a_later_task_of_a_higher_lane_goes_first() {
    let app = app(1);
    waiting(&app, "free-old", "alice", 1, 60).await;
    waiting(&app, "free-new", "alice", 1, 30).await;
    waiting(&app, "pro-late", "bob", 0, 5).await;
    handle(&app).await;
    assert_eq!(submitted(&app), ["pro-late"]);
}

#[tokio::test]
async fn busy_puts_the_task_back_in_its_place() {
    let app = app(2);
    waiting(&app, "t-1", "alice", 1, 30).await;
    waiting(&app, "t-2", "alice", 1, 20).await;
    app.provider.fail_next_submit(ProviderError::Busy {
        reason: "1303".into(),
        retry_after: Duration::from_secs(60),
    });
    let report = handle(&app).await;
    assert_eq!((report.submitted, report.failed), (0, 0));
    let t1 = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(t1.status, TaskStatus::Created);
    assert!(t1.retry_at.is_some() && t1.submit_attempted_at.is_none());
    assert!(
        app.store.slot_holders("fake").await.unwrap().is_empty(),
        "slot given back"
    );
    // Before its time nothing behind it jumps the line either.
    assert_eq!(handle(&app).await.submitted, 0);
    assert_eq!(
        app.store.ledger_sum("alice"),
        (1000, 0),
        "busy is never a failure"
    );
}

#[tokio::test]
async fn a_lost_answer_is_looked_up_before_any_second_submit() {
    let app = app(2);
    waiting(&app, "t-1", "alice", 1, 30).await;
    app.provider
        .fail_next_submit(ProviderError::OutcomeUnknown {
            reason: "timeout".into(),
        });
    // The fake made nothing; the answer is lost all the same.
    assert_eq!(handle(&app).await.unknown, 1);
    let t1 = app.store.get_task("t-1").await.unwrap().unwrap();
    assert!(t1.status == TaskStatus::Created && t1.submit_attempted_at.is_some());
    assert_eq!(
        app.store.slot_holders("fake").await.unwrap().len(),
        1,
        "slot kept"
    );
    assert_eq!(
        app.store.ledger_sum("alice"),
        (500, 0),
        "never refunded on this"
    );
    // Next run: the provider does not know it, so it is submitted again, once.
    assert_eq!(handle(&app).await.submitted, 1);
    assert_eq!(submitted(&app), ["t-1"]);
    assert_eq!(status(&app, "t-1").await, TaskStatus::Queued);
}

#[tokio::test]
async fn a_lost_answer_the_provider_stored_is_recorded_not_resubmitted() {
    let app = app(2);
    waiting(&app, "t-1", "alice", 1, 30).await;
    let seen = Timestamp::now() - time::Duration::seconds(5);
    app.store
        .claim_submit("t-1", "fake", "main", None, seen)
        .await
        .unwrap();
    app.store.take_slot("fake", "t-1", 2).await.unwrap();
    app.provider.hold("t-1", "job-9", JobStatus::Running);
    assert_eq!(handle(&app).await.recovered, 1);
    assert!(submitted(&app).is_empty());
    let t1 = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(
        (t1.status, t1.provider_ref.unwrap().as_str()),
        (TaskStatus::Running, "job-9")
    );
}

#[tokio::test]
async fn final_refusals_fail_and_refund_and_free_the_slot() {
    let cases = [
        (
            ProviderError::ContentRefused {
                reason: "no".into(),
            },
            "content_policy_violation",
        ),
        (
            ProviderError::NotCreated {
                reason: "1304: IP whitelist policy (request id 9f3a-77)".into(),
            },
            "provider_error",
        ),
    ];
    for (err, code) in cases {
        let app = app(1);
        waiting(&app, "t-1", "alice", 1, 30).await;
        let raw = err.to_string();
        app.provider.fail_next_submit(err);
        assert_eq!(handle(&app).await.failed, 1);
        let t1 = app.store.get_task("t-1").await.unwrap().unwrap();
        let error = t1.error.clone().unwrap();
        assert_eq!((t1.status, error.code.as_str()), (TaskStatus::Failed, code));
        // The app sees the code's fixed sentence; the provider's own words stay with operators.
        assert_eq!(error.message, shared::domain::task::failure_message(code));
        assert!(!error.message.contains("whitelist") && !error.message.contains("9f3a"));
        assert_eq!(
            t1.provider_facts.failure_detail.as_deref(),
            Some(raw.as_str())
        );
        assert_eq!(app.store.ledger_sum("alice"), (500, 500), "{code}");
        assert!(
            app.store.slot_holders("fake").await.unwrap().is_empty(),
            "{code}"
        );
    }
}

#[tokio::test]
async fn a_task_past_its_wait_fails_with_a_refund_once() {
    let app = app(1);
    let mut task = waiting(&app, "t-1", "alice", 1, 3600).await;
    task.queue_deadline = Some(Timestamp::now() - time::Duration::seconds(1));
    app.store.insert_task(task);
    assert_eq!(handle(&app).await.timed_out, 1);
    handle(&app).await;
    let t1 = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(
        (t1.status, t1.error.unwrap().code.as_str()),
        (TaskStatus::Failed, "queue_timeout")
    );
    assert_eq!(app.store.ledger_sum("alice"), (500, 500));
    assert!(submitted(&app).is_empty());
}

#[tokio::test]
async fn slots_whose_holder_is_gone_are_repaired() {
    let app = app(2);
    waiting(&app, "done", "alice", 1, 60).await;
    finish(&app, "done").await;
    waiting(&app, "crashed", "alice", 1, 50).await;
    // Slots left behind: a terminal holder (its release was lost) and a holder a crashed run
    // never claimed a submit for.
    app.store.take_slot("fake", "done", 2).await.unwrap();
    app.store.take_slot("fake", "crashed", 2).await.unwrap();
    waiting(&app, "next", "alice", 1, 40).await;
    let report = handle(&app).await;
    assert_eq!(report.slots_repaired, 2);
    assert_eq!(report.submitted, 2);
    assert_eq!(submitted(&app), ["crashed", "next"]);
}

#[tokio::test]
async fn concurrent_runs_never_exceed_the_capacity_or_submit_twice() {
    let app = app(3);
    for i in 0..10 {
        waiting(&app, &format!("t-{i:02}"), "alice", 1, 100 - i).await;
    }
    let (a, b, c) = tokio::join!(handle(&app), handle(&app), handle(&app));
    assert_eq!(a.submitted + b.submitted + c.submitted, 3);
    assert_eq!(app.store.slot_holders("fake").await.unwrap().len(), 3);
    let mut sent = submitted(&app);
    sent.dedup();
    assert_eq!(sent.len(), 3, "no task submitted twice");
}

/// Teach the pace: `n` generations of the fake model that took no time at all.
async fn learn(app: &TestApp, n: usize) {
    for _ in 0..n {
        app.store
            .record_generation("fake", "fake-model-1", Duration::ZERO, Timestamp::now())
            .await
            .unwrap();
    }
}

async fn running_with_a_lost_callback(app: &TestApp) {
    waiting(app, "first", "alice", 1, 60).await;
    assert_eq!(handle(app).await.submitted, 1);
    waiting(app, "second", "alice", 1, 50).await;
    // The provider finishes "first"; its callback never comes and nobody polls.
    app.provider.set(
        "first",
        JobStatus::Succeeded,
        Some("https://cdn.example/v.mp4"),
        None,
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
}

#[tokio::test]
async fn a_holder_past_its_models_learned_time_is_looked_up_and_frees_its_slot() {
    let app = app(1);
    running_with_a_lost_callback(&app).await;
    // Nothing learned yet (fallback one hour): the holder keeps its slot, nobody asks.
    let report = handle(&app).await;
    assert_eq!((report.submitted, report.slots_repaired), (0, 0));
    let first = app.store.get_task("first").await.unwrap().unwrap();
    assert_eq!((first.status, first.checked_at), (TaskStatus::Queued, None));

    learn(&app, 3).await;
    let report = handle(&app).await;
    assert_eq!((report.slots_repaired, report.submitted), (1, 1));
    assert_eq!(status(&app, "first").await, TaskStatus::Finalizing);
    let queued: Vec<String> = app
        .queue
        .drain()
        .into_iter()
        .map(|m| m.task_id.to_string())
        .collect();
    assert_eq!(queued, ["first"], "the finished holder goes to finalize");
    assert_eq!(submitted(&app), ["first", "second"]);
}

#[tokio::test]
async fn a_due_holder_still_running_is_asked_once_per_recheck_window() {
    let mut app = app(1);
    app.pace.recheck = Duration::from_secs(60);
    waiting(&app, "first", "alice", 1, 60).await;
    handle(&app).await;
    app.provider.set("first", JobStatus::Running, None, None);
    learn(&app, 3).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Updated just now: inside the window, not asked.
    handle(&app).await;
    assert_eq!(
        app.store
            .get_task("first")
            .await
            .unwrap()
            .unwrap()
            .checked_at,
        None
    );
    app.pace.recheck = Duration::ZERO;
    handle(&app).await;
    let first = app.store.get_task("first").await.unwrap().unwrap();
    assert_eq!(
        first.status,
        TaskStatus::Running,
        "the provider's word, applied"
    );
    assert!(first.checked_at.is_some());
    assert_eq!(
        app.store.slot_holders("fake").await.unwrap().len(),
        1,
        "still held"
    );
}

#[tokio::test]
async fn a_slot_is_freed_once_the_provider_is_done_not_when_the_video_is_stored() {
    let app = app(1);
    running_with_a_lost_callback(&app).await;
    // The callback did come: the task is being stored (FINALIZING), which takes no capacity.
    app.store
        .apply("first", TaskEvent::ProviderSucceeded, TaskPatch::default())
        .await
        .unwrap();
    let report = handle(&app).await;
    assert_eq!((report.slots_repaired, report.submitted), (1, 1));
    assert_eq!(status(&app, "first").await, TaskStatus::Finalizing);
}

#[tokio::test]
async fn runs_started_together_schedule_one_wake_up_and_running_tasks_keep_one_going() {
    let mut app = app(1);
    app.pace.recheck = Duration::from_secs(15);
    waiting(&app, "a", "alice", 1, 60).await;
    waiting(&app, "b", "alice", 1, 50).await;
    // Runs woken by creates, callbacks and the schedule at once: one next wake-up between them.
    let (x, y, z) = tokio::join!(handle(&app), handle(&app), handle(&app));
    assert_eq!(x.waiting.max(y.waiting).max(z.waiting), 1);
    assert_eq!(*app.nudge.nudges.lock().unwrap(), [Duration::from_secs(1)]);

    // Nothing waits any more but the provider holds a task: the next look within the window.
    finish(&app, "a").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let report = handle(&app).await;
    assert_eq!((report.submitted, report.waiting), (1, 0));
    let nudges = app.nudge.nudges.lock().unwrap().clone();
    assert_eq!(nudges, [Duration::from_secs(1), Duration::from_secs(15)]);
}

/// The waiting line is an eventually consistent index: a run may read a copy from before the
/// previous run's submit, from before its wait ran out, or from before a failover. Decisions
/// are made on the stored item, so such a copy sends nothing twice, fails nothing the provider
/// holds, and sends nothing to the old provider.
#[tokio::test]
async fn a_stale_copy_of_the_line_resubmits_fails_and_misroutes_nothing() {
    let app = app(3);
    let a = waiting(&app, "a", "alice", 1, 60).await;
    let mut b = waiting(&app, "b", "alice", 1, 50).await;
    assert_eq!(handle(&app).await.submitted, 2);
    let mut moved = task_fixture("moved", "alice", "fake");
    moved.queue_deadline = Some(Timestamp::now() + time::Duration::seconds(600));
    let mut req = request("moved");
    req.callbacks.insert(
        "other".into(),
        "https://api.example.com/webhooks/other/moved/t".into(),
    );
    moved.request = Some(req);
    seed_task(&app.store, &moved, None).await;
    let now = Timestamp::now();
    assert!(
        app.store
            .reassign("moved", None, "other", now)
            .await
            .unwrap()
    );

    // Copies from before all that: "a" still waiting, "b" waiting and past its wait (as it
    // would be when the index lags that long), "moved" still the fake provider's.
    b.created_at = now - time::Duration::seconds(3600);
    b.queue_deadline = Some(now - time::Duration::seconds(1));
    app.store.serve_stale_line(Some(vec![a, b, moved]));
    let report = handle(&app).await;
    assert_eq!(
        (report.submitted, report.timed_out, report.failed),
        (0, 0, 0)
    );
    assert_eq!(
        submitted(&app),
        ["a", "b"],
        "nothing sent twice or to the old provider"
    );
    assert_eq!(status(&app, "a").await, TaskStatus::Queued);
    assert_eq!(status(&app, "b").await, TaskStatus::Queued);
    assert_eq!(app.store.ledger_sum("alice").1, 0, "nothing refunded");
    let moved = app.store.get_task("moved").await.unwrap().unwrap();
    assert_eq!(
        (moved.provider.as_str(), moved.status),
        ("other", TaskStatus::Created)
    );
}

/// Two accounts of the provider: `main` with 2 slots, `b` with 1.
fn pooled(probe: Duration) -> TestApp {
    let mut app = app(2);
    let accounts = r#"[{"provider":"fake","name":"b","capacity":1}]"#;
    app.pool = shared::domain::pool::Pool::parse(Some(accounts), &["fake".to_string()], 2).unwrap();
    app.account_probe = probe;
    app
}

/// (task, account) of every submit so far.
fn placed(app: &TestApp) -> Vec<(String, String)> {
    let submitted = app.provider.submitted.lock().unwrap();
    submitted
        .iter()
        .map(|r| (r.task_id.clone(), r.account.clone()))
        .collect()
}

#[tokio::test]
async fn a_pool_fills_every_account_to_its_capacity_and_each_task_keeps_its_account() {
    let app = pooled(Duration::from_secs(60));
    for (i, id) in ["t-1", "t-2", "t-3", "t-4"].iter().enumerate() {
        waiting(&app, id, "alice", 1, 30 - i as i64).await;
    }
    let report = handle(&app).await;
    assert_eq!((report.submitted, report.waiting), (3, 1));
    // Least loaded for its weight first, configuration order on ties.
    let want = [("t-1", "main"), ("t-2", "b"), ("t-3", "main")];
    let got = placed(&app);
    let got: Vec<(&str, &str)> = got.iter().map(|(t, a)| (t.as_str(), a.as_str())).collect();
    assert_eq!(got, want);
    assert_eq!(app.store.slot_holders("fake").await.unwrap().len(), 2);
    assert_eq!(app.store.slot_holders("fake#b").await.unwrap().len(), 1);
    let t2 = app.store.get_task("t-2").await.unwrap().unwrap();
    assert_eq!((t2.account(), t2.slot_key().as_str()), ("b", "fake#b"));
    // Its terminal write frees b's slot, not main's; the next task goes to b.
    finish(&app, "t-2").await;
    assert!(app.store.slot_holders("fake#b").await.unwrap().is_empty());
    assert_eq!(handle(&app).await.submitted, 1);
    assert_eq!(placed(&app)[3], ("t-4".to_string(), "b".to_string()));
}

#[tokio::test]
async fn an_account_that_refuses_work_for_itself_leaves_the_rotation_and_its_task_moves_on() {
    let refusals = [
        ProviderError::AccountUnusable {
            reason: "1101: account in arrears".into(),
        },
        ProviderError::Auth {
            reason: "1000: authentication failed".into(),
        },
    ];
    for refusal in refusals {
        let app = pooled(Duration::from_secs(60));
        waiting(&app, "t-1", "alice", 1, 30).await;
        waiting(&app, "t-2", "alice", 1, 20).await;
        app.provider.fail_next_submit(refusal.clone());
        let report = handle(&app).await;
        // main refused t-1: nothing failed, nothing refunded; b took it in the same run.
        assert_eq!((report.submitted, report.failed), (1, 0), "{refusal}");
        let t1 = app.store.get_task("t-1").await.unwrap().unwrap();
        assert_eq!((t1.status, t1.account()), (TaskStatus::Queued, "b"));
        assert_eq!(app.store.ledger_sum("alice"), (1000, 0));
        // main is out of rotation: t-2 waits although main has free slots.
        assert_eq!(status(&app, "t-2").await, TaskStatus::Created);
        assert!(app.store.slot_holders("fake").await.unwrap().is_empty());
        assert_eq!(handle(&app).await.submitted, 0, "{refusal}");
        assert_eq!(status(&app, "t-2").await, TaskStatus::Created);
    }
}

#[tokio::test]
async fn an_account_out_of_rotation_is_probed_after_its_quiet_period_and_comes_back() {
    let app = pooled(Duration::ZERO);
    for (i, id) in ["t-1", "t-2", "t-3"].iter().enumerate() {
        waiting(&app, id, "alice", 1, 30 - i as i64).await;
    }
    app.provider
        .fail_next_submit(ProviderError::AccountUnusable {
            reason: "1102: resource pack exhausted".into(),
        });
    assert_eq!(handle(&app).await.submitted, 1);
    let health = shared::ports::Breakers::breaker(&app.store, "fake@account")
        .await
        .unwrap();
    assert_eq!(health.failures, 1);
    // The quiet period is over at once here: the next run's first submit is main's probe.
    assert_eq!(handle(&app).await.submitted, 2);
    let health = shared::ports::Breakers::breaker(&app.store, "fake@account")
        .await
        .unwrap();
    assert_eq!(health, Default::default(), "back in rotation");
    // (The fake keeps the submits it answered: main's refusal is not among them.)
    let accounts: Vec<String> = placed(&app).into_iter().map(|(_, a)| a).collect();
    assert_eq!(accounts, ["b", "main", "main"]);
}

fn count(counter: &std::sync::atomic::AtomicU32) -> u32 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}

/// The holders' tasks are read when one of them was not read within the recheck window: a
/// release lost after its holder's terminal write is found within the window, not at once.
#[tokio::test]
async fn holders_read_within_the_recheck_window_are_not_read_again() {
    let mut app = app(1);
    app.pace.recheck = Duration::from_millis(400);
    waiting(&app, "first", "alice", 1, 60).await;
    assert_eq!(handle(&app).await.submitted, 1);
    assert_eq!(count(&app.store.holder_reads), 0, "no holders yet");
    waiting(&app, "second", "alice", 1, 50).await;
    // A holder this process has not read: read.
    assert_eq!(handle(&app).await.submitted, 0);
    assert_eq!(count(&app.store.holder_reads), 1);
    // Done, but its slot's release was lost; within the window nobody notices.
    app.store
        .apply("first", TaskEvent::ProviderSucceeded, TaskPatch::default())
        .await
        .unwrap();
    let report = handle(&app).await;
    assert_eq!((report.slots_repaired, report.submitted), (0, 0));
    assert_eq!(count(&app.store.holder_reads), 1, "read within the window");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let report = handle(&app).await;
    assert_eq!((report.slots_repaired, report.submitted), (1, 1));
    assert_eq!(count(&app.store.holder_reads), 2);
}

/// A wake-up another run claimed, seen in the run's one read of its line, is not claimed
/// again (the claim would be refused: a round trip for nothing).
#[tokio::test]
async fn a_pending_wake_up_seen_in_the_line_read_is_not_claimed_again() {
    let mut app = app(1);
    app.pace.recheck = Duration::from_secs(15);
    waiting(&app, "a", "alice", 1, 60).await;
    waiting(&app, "b", "alice", 1, 50).await;
    handle(&app).await;
    assert_eq!(count(&app.store.wake_claims), 1);
    for _ in 0..3 {
        assert_eq!(handle(&app).await.waiting, 1);
    }
    assert_eq!(
        count(&app.store.wake_claims),
        1,
        "the wake-up is still pending"
    );
    assert_eq!(*app.nudge.nudges.lock().unwrap(), [Duration::from_secs(1)]);
    // Its time has come (the woken run): claimed and sent again.
    tokio::time::sleep(Duration::from_millis(1050)).await;
    handle(&app).await;
    assert_eq!(count(&app.store.wake_claims), 2);
    assert_eq!(app.nudge.nudges.lock().unwrap().len(), 2);
}

/// A run near the end of its invocation takes nothing more from the line after its first
/// task (which it always takes, so an invocation shorter than the reserve still moves the
/// line): the others keep their places and the next run is woken for them.
#[tokio::test]
async fn a_run_out_of_time_takes_its_first_task_only_and_wakes_the_next() {
    let app = app(3);
    waiting(&app, "a", "alice", 1, 60).await;
    waiting(&app, "b", "alice", 1, 50).await;
    let soon = std::time::Instant::now() + dispatch::RUN_RESERVE / 2;
    let report = dispatch::handle_until(&app, Some(soon)).await;
    assert!(report.out_of_time);
    assert_eq!((report.submitted, report.waiting), (1, 1));
    assert_eq!(submitted(&app), ["a"]);
    assert_eq!(*app.nudge.nudges.lock().unwrap(), [Duration::from_secs(1)]);
    let later = std::time::Instant::now() + dispatch::RUN_RESERVE * 2;
    let report = dispatch::handle_until(&app, Some(later)).await;
    assert!(!report.out_of_time);
    assert_eq!(submitted(&app), ["a", "b"]);
}
