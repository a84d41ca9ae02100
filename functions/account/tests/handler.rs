//! The erasure job in process, with the in-memory table, bucket, push endpoints and queue.

use std::time::Duration;

use account::{App, Disposal, Progress, disposal, erase, handle};
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use shared::domain::notice::Platform;
use shared::domain::state::{TaskEvent, TaskPatch};
use shared::domain::task::{StoredVideo, Task, TaskStatus};
use shared::domain::timestamp::Timestamp;
use shared::ports::{Accounts, Device, Devices, Erasure, ErasureStatus, Erasures, Tasks};
use shared::testing::{MemoryBlobs, MemoryPush, MemoryQueue, MemoryStore, seed_task, task_fixture};

type TestApp = App<MemoryStore, MemoryBlobs, MemoryPush, MemoryQueue>;

fn app() -> TestApp {
    App {
        store: MemoryStore::default(),
        videos: MemoryBlobs::default(),
        push: MemoryPush::default(),
        queue: MemoryQueue::default(),
        recheck: Duration::from_secs(60),
    }
}

fn with(task: &Task, status: TaskStatus) -> Task {
    let mut t = task.clone();
    t.status = status;
    t
}

#[test]
fn each_task_is_canceled_erased_or_waited_for() {
    let waiting = task_fixture("t", "u", "fake");
    let mut submitted = waiting.clone();
    submitted.submit_attempted_at = Some(Timestamp::now());
    for (task, want) in [
        (waiting.clone(), Disposal::Cancel),
        (submitted, Disposal::Wait),
        (with(&waiting, TaskStatus::Queued), Disposal::Wait),
        (with(&waiting, TaskStatus::Running), Disposal::Wait),
        (with(&waiting, TaskStatus::Finalizing), Disposal::Wait),
        (with(&waiting, TaskStatus::Succeeded), Disposal::Erase),
        (with(&waiting, TaskStatus::Failed), Disposal::Erase),
        (with(&waiting, TaskStatus::Canceled), Disposal::Erase),
    ] {
        assert_eq!(disposal(&task), want, "{:?}", task.status);
    }
}

/// alice: a task waiting for the provider, one the provider runs, one finished with its video,
/// an upload, an export and a phone; bob: a task, an upload and a phone of his own.
async fn seeded() -> TestApp {
    let app = app();
    seed_task(&app.store, &task_fixture("a-wait", "alice", "fake"), None).await;
    seed_task(
        &app.store,
        &task_fixture("a-run", "alice", "fake"),
        Some("job-run"),
    )
    .await;
    seed_task(
        &app.store,
        &task_fixture("a-done", "alice", "fake"),
        Some("job-done"),
    )
    .await;
    seed_task(&app.store, &task_fixture("b-1", "bob", "fake"), None).await;
    let stored = TaskPatch {
        video: Some(StoredVideo {
            key: "videos/alice/a-done.mp4".into(),
            bytes: 3,
            sha256: "x".into(),
            content_type: "video/mp4".into(),
            duration_seconds: Some(5.0),
            width: None,
            height: None,
            poster: None,
        }),
        ..Default::default()
    };
    let s = &app.store;
    s.apply("a-done", TaskEvent::ProviderSucceeded, TaskPatch::default())
        .await
        .unwrap();
    s.apply("a-done", TaskEvent::Stored, stored).await.unwrap();
    s.apply("a-run", TaskEvent::ProviderRunning, TaskPatch::default())
        .await
        .unwrap();
    for key in [
        "videos/alice/a-done.mp4",
        "videos/alice/a-done.jpg",
        "videos/alice2/x.jpg",
        "uploads/alice/u1",
        "exports/alice/e1.json",
        "uploads/bob/u1",
        "uploads/alice2/u1",
    ] {
        app.videos.put(key, vec![1u8, 2, 3]);
    }
    for (user, id) in [("alice", "phone-a"), ("bob", "phone-b")] {
        let device = Device {
            id: id.into(),
            user_id: user.into(),
            platform: Platform::Fcm,
            endpoint: format!("arn:endpoint/{id}"),
            created_at: Timestamp::now(),
        };
        app.store.put_device(&device).await.unwrap();
    }
    let asked = Erasure {
        status: ErasureStatus::Erasing,
        requested_at: Timestamp::now(),
        finished_at: None,
        ledger_id: "L1".into(),
    };
    app.store.begin_erasure("alice", &asked).await.unwrap();
    app
}

#[tokio::test]
async fn the_job_waits_for_running_videos_then_erases_everything_but_anonymous_ledger_rows() {
    let app = seeded().await;
    // First run: the waiting task is canceled and refunded, the finished one erased with its
    // video; the running one holds the rest back.
    assert_eq!(
        erase(&app, "alice").await.unwrap(),
        Progress::Waiting { running: 1 }
    );
    assert!(app.store.get_task("a-wait").await.unwrap().is_none());
    assert!(app.store.get_task("a-done").await.unwrap().is_none());
    assert!(app.videos.object("videos/alice/a-done.mp4").is_none());
    assert!(
        app.store.ledger_sum("alice").1 > 0,
        "the waiting task was refunded"
    );
    assert!(app.videos.object("uploads/alice/u1").is_some(), "not yet");
    // The same run again (a redelivery) changes nothing more.
    let refunds = app.store.ledger_sum("alice");
    assert_eq!(
        erase(&app, "alice").await.unwrap(),
        Progress::Waiting { running: 1 }
    );
    assert_eq!(app.store.ledger_sum("alice"), refunds, "refunded once");

    // The running task fails (refunded by its terminal write); the next run finishes.
    app.store
        .apply("a-run", TaskEvent::Failed, TaskPatch::default())
        .await
        .unwrap();
    let ledger_before = app.store.ledger("alice").await.unwrap();
    assert_eq!(erase(&app, "alice").await.unwrap(), Progress::Erased);
    let page = app.store.list_tasks("alice", 100, None).await.unwrap();
    assert!(page.tasks.is_empty());
    for gone in [
        "uploads/alice/u1",
        "exports/alice/e1.json",
        "videos/alice/a-done.jpg",
    ] {
        assert!(app.videos.object(gone).is_none(), "{gone}");
    }
    for kept in ["uploads/bob/u1", "uploads/alice2/u1", "videos/alice2/x.jpg"] {
        assert!(app.videos.object(kept).is_some(), "{kept}");
    }
    assert_eq!(*app.push.deleted.lock().unwrap(), ["arn:endpoint/phone-a"]);
    assert!(app.store.devices_of("alice").await.unwrap().is_empty());
    assert_eq!(app.store.devices_of("bob").await.unwrap().len(), 1);
    assert!(app.store.ledger("alice").await.unwrap().is_empty());
    assert_eq!(
        app.store.erased_ledger("L1"),
        ledger_before,
        "kept, without the user"
    );
    let day = shared::domain::timestamp::utc_day(shared::domain::timestamp::now());
    let account = app.store.account("alice", &day).await.unwrap();
    assert_eq!((account.in_flight, account.used_today.0), (0, 0));
    let erasure = app.store.erasure("alice").await.unwrap().unwrap();
    assert_eq!(erasure.status, ErasureStatus::Erased);
    assert!(erasure.finished_at.is_some());
    assert!(
        app.store.get_task("b-1").await.unwrap().is_some(),
        "bob's untouched"
    );
    // Done is done: a run again finds nothing more to do.
    assert_eq!(erase(&app, "alice").await.unwrap(), Progress::Erased);
    assert_eq!(app.push.deleted.lock().unwrap().len(), 1);
}

fn message(body: &str) -> SqsEvent {
    let mut record = SqsMessage::default();
    record.message_id = Some("m-1".into());
    record.body = Some(body.into());
    let mut event = SqsEvent::default();
    event.records = vec![record];
    event
}

#[tokio::test]
async fn a_waiting_erasure_comes_back_later_and_a_stray_message_is_dropped() {
    let app = seeded().await;
    let out = handle(&app, message(r#"{"user_id":"alice"}"#)).await;
    assert!(out.batch_item_failures.is_empty());
    assert_eq!(
        *app.queue.erasures.lock().unwrap(),
        [("alice".to_string(), Duration::from_secs(60))]
    );
    for stray in ["not json", r#"{"user_id":"nobody-asked"}"#] {
        let out = handle(&app, message(stray)).await;
        assert!(out.batch_item_failures.is_empty(), "{stray}");
    }
    assert_eq!(app.queue.erasures.lock().unwrap().len(), 1);
    // The job cannot be put back on the queue: the message is retried, nothing is lost.
    app.queue
        .fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let out = handle(&app, message(r#"{"user_id":"alice"}"#)).await;
    assert_eq!(out.batch_item_failures.len(), 1);
    app.queue
        .fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    app.store
        .apply("a-run", TaskEvent::Failed, TaskPatch::default())
        .await
        .unwrap();
    handle(&app, message(r#"{"user_id":"alice"}"#)).await;
    let erasure = app.store.erasure("alice").await.unwrap().unwrap();
    assert_eq!(erasure.status, ErasureStatus::Erased);
    assert!(app.videos.object("uploads/alice/u1").is_none());
}
