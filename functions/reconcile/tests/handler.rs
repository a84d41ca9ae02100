//! reconcile in process: stale tasks against the test-only provider, with in-memory ports.

use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use reconcile::{App, SweepReport, handle};
use shared::domain::task::TaskStatus;
use shared::domain::timestamp::Timestamp;
use shared::lifecycle::sync::SyncPolicy;
use shared::ports::Tasks;
use shared::provider::{JobStatus, ProviderError, ProviderRef};
use shared::testing::{FakeProvider, MemoryQueue, MemoryStore, seed_task, task_fixture};

type TestApp = App<MemoryStore, FakeProvider, MemoryQueue>;

fn app() -> TestApp {
    App {
        store: MemoryStore::default(),
        provider: FakeProvider::default(),
        queue: MemoryQueue::default(),
        policy: SyncPolicy {
            stale_after: Duration::from_secs(60),
            hard_timeout: Duration::from_secs(3600),
        },
        pool: shared::domain::pool::Pool::parse(None, &["fake".into()], 5).unwrap(),
    }
}

fn event() -> EventBridgeEvent {
    serde_json::from_str(include_str!("../../../events/reconcile/scheduled.json")).unwrap()
}

/// A charged task last seen `quiet` ago, created `age` ago, in `status` (submitted as job-1
/// unless CREATED).
async fn stale(app: &TestApp, status: TaskStatus, quiet: i64, age: i64) {
    let mut task = task_fixture("t-1", "alice", "fake");
    seed_task(&app.store, &task, None).await;
    task.status = status;
    if status != TaskStatus::Created {
        task.provider_ref = Some(ProviderRef("job-1".into()));
    }
    task.updated_at = Timestamp::now() - time::Duration::seconds(quiet);
    task.created_at = Timestamp::now() - time::Duration::seconds(age);
    app.store.insert_task(task);
}

async fn status(app: &TestApp) -> TaskStatus {
    app.store.get_task("t-1").await.unwrap().unwrap().status
}

#[tokio::test]
async fn the_sample_schedule_with_nothing_to_do() {
    let report = handle(&app(), event()).await;
    assert_eq!(
        report,
        SweepReport {
            scheduled_at: Some("2026-11-25T02:00:00+00:00".into()),
            ..Default::default()
        }
    );
}

#[tokio::test]
async fn a_lost_success_callback_queues_finalize() {
    let app = app();
    stale(&app, TaskStatus::Running, 600, 900).await;
    app.provider.hold("t-1", "job-1", JobStatus::Succeeded);
    let report = handle(&app, event()).await;
    assert_eq!((report.checked, report.finalize_queued), (1, 1));
    assert_eq!(status(&app).await, TaskStatus::Finalizing);
    assert_eq!(app.queue.drain()[0].task_id, "t-1");
}

#[tokio::test]
async fn progress_the_callbacks_missed_is_applied() {
    let app = app();
    stale(&app, TaskStatus::Queued, 600, 900).await;
    app.provider.hold("t-1", "job-1", JobStatus::Running);
    assert_eq!(handle(&app, event()).await.moved, 1);
    assert_eq!(status(&app).await, TaskStatus::Running);
}

#[tokio::test]
async fn a_provider_failure_fails_and_refunds() {
    let app = app();
    stale(&app, TaskStatus::Running, 600, 900).await;
    app.provider.hold("t-1", "job-1", JobStatus::Failed);
    assert_eq!(handle(&app, event()).await.failed, 1);
    assert_eq!(status(&app).await, TaskStatus::Failed);
    assert_eq!(app.store.ledger_sum("alice"), (500, 500));
}

#[tokio::test]
async fn a_task_past_the_hard_timeout_fails_and_refunds_once() {
    let app = app();
    stale(&app, TaskStatus::Running, 600, 7200).await;
    assert_eq!(handle(&app, event()).await.failed, 1);
    let task = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(task.error.unwrap().code, "timeout");
    handle(&app, event()).await;
    assert_eq!(app.store.ledger_sum("alice"), (500, 500));
}

/// Past the hard timeout, a video the provider delivered is stored, never refunded: a task
/// finalize is copying is left to finalize (queued again), and one whose success callback was
/// lost is finalized instead of failed.
#[tokio::test]
async fn the_hard_timeout_never_refunds_a_delivered_video() {
    for state in [TaskStatus::Finalizing, TaskStatus::Running] {
        let app = app();
        stale(&app, state, 600, 7200).await;
        app.provider.hold("t-1", "job-1", JobStatus::Succeeded);
        let report = handle(&app, event()).await;
        assert_eq!((report.failed, report.finalize_queued), (0, 1), "{state:?}");
        assert_eq!(status(&app).await, TaskStatus::Finalizing);
        assert_eq!(
            app.store.ledger_sum("alice"),
            (500, 0),
            "{state:?}: no refund"
        );
    }
}

/// A task waiting in line belongs to the dispatcher: reconcile leaves it alone, however long
/// it waits (its plan's queue deadline fails it). One whose submit answer was lost is looked
/// up: found, it moves on; unknown to the provider, the dispatcher submits it again.
#[tokio::test]
async fn waiting_tasks_are_the_dispatchers() {
    let app = app();
    stale(&app, TaskStatus::Created, 600, 600).await;
    let report = handle(&app, event()).await;
    assert_eq!((report.failed, report.moved), (0, 0));
    assert_eq!(status(&app).await, TaskStatus::Created);
    assert_eq!(app.store.ledger_sum("alice"), (500, 0));

    let app = self::app();
    let mut task = task_fixture("t-1", "alice", "fake");
    seed_task(&app.store, &task, None).await;
    task.submit_attempted_at = Some(Timestamp::now() - time::Duration::seconds(600));
    task.updated_at = Timestamp::now() - time::Duration::seconds(600);
    app.store.insert_task(task);
    let report = handle(&app, event()).await;
    assert_eq!(
        (report.checked, report.failed),
        (1, 0),
        "unknown to the provider: left for dispatch"
    );
    assert_eq!(status(&app).await, TaskStatus::Created);
    app.provider.hold("t-1", "job-7", JobStatus::Running);
    let mut task = app.store.get_task("t-1").await.unwrap().unwrap();
    task.checked_at = None;
    app.store.insert_task(task);
    assert_eq!(handle(&app, event()).await.moved, 1);
    let task = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(
        (task.status, task.provider_ref.unwrap().as_str()),
        (TaskStatus::Running, "job-7")
    );
}

#[tokio::test]
async fn a_provider_error_leaves_the_task_for_the_next_run() {
    let app = app();
    stale(&app, TaskStatus::Running, 600, 900).await;
    app.provider
        .fail_next_lookup(ProviderError::OutcomeUnknown {
            reason: "timeout".into(),
        });
    assert_eq!(handle(&app, event()).await.errors, 1);
    assert_eq!(status(&app).await, TaskStatus::Running);
}

#[tokio::test]
async fn fresh_tasks_are_left_alone_and_a_task_is_checked_once_per_window() {
    let app = app();
    stale(&app, TaskStatus::Running, 10, 900).await;
    assert_eq!(handle(&app, event()).await.checked, 0);

    let app = self::app();
    stale(&app, TaskStatus::Running, 600, 900).await;
    app.provider.hold("t-1", "job-1", JobStatus::Running);
    assert_eq!(handle(&app, event()).await.checked, 1);
    assert_eq!(
        handle(&app, event()).await.checked,
        0,
        "checked moments ago"
    );
}

/// A long waiting line never hides a task whose callback was lost: tasks still in line for
/// their first submit are the dispatcher's and stay out of reconcile's index, so a running
/// task behind 150 older waiting ones is polled in the first sweep.
#[tokio::test]
async fn a_long_line_of_waiting_tasks_never_starves_a_running_one() {
    let app = app();
    let long_ago = Timestamp::now() - time::Duration::seconds(3000);
    for i in 0..150 {
        let mut waiting = task_fixture(&format!("w-{i:03}"), "alice", "fake");
        waiting.updated_at = long_ago;
        waiting.created_at = long_ago;
        app.store.insert_task(waiting);
    }
    stale(&app, TaskStatus::Running, 600, 900).await;
    app.provider.hold("t-1", "job-1", JobStatus::Succeeded);
    let report = handle(&app, event()).await;
    assert_eq!(
        (report.checked, report.finalize_queued),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(status(&app).await, TaskStatus::Finalizing);
}
