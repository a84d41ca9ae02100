//! finalize in process: in-memory table and bucket, the test-only provider, and a real MP4
//! served over HTTP on loopback by the test itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lambda_events::sqs::SqsEvent;
use finalize::{App, DownloadPolicy, handle};
use serde_json::json;
use sha2::Digest;
use shared::domain::state::{TaskEvent, TaskPatch};
use shared::domain::task::TaskStatus;
use shared::ports::{Accounts, Tasks, VideoMetadata, VideoStore};
use shared::provider::{JobStatus, ProviderError};
use shared::testing::{FakeProvider, MemoryBlobs, MemoryStore, seed_task, task_fixture};

const MP4: &[u8] = include_bytes!("../../../tools/provider-sim/assets/gop-720p-16x9.mp4");

type TestApp = App<MemoryStore, FakeProvider, MemoryBlobs>;

/// Serves `/video.mp4` (the real file), `/junk.mp4` (not an MP4); counts downloads.
async fn origin() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new()
        .route(
            "/video.mp4",
            axum::routing::get(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { MP4 }
            }),
        )
        .route("/big.mp4", axum::routing::get(|| async { big_video() }))
        .route(
            "/junk.mp4",
            axum::routing::get(|| async { "<html>nope</html>" }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://127.0.0.1:{}", addr.port()), hits)
}

/// Bytes in a video two parts and a bit long.
const BIG: usize = 2 * finalize::copy::PART_SIZE + 12_345;

/// A valid MP4 header padded to `BIG` bytes, sent in chunks that never line up with a part.
fn big_video() -> axum::response::Response {
    let (head, padding) = provider_sim::video::padded_header(MP4, BIG as u64);
    let mut body = head;
    body.resize(body.len() + padding as usize, 0);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
        .chunks(100_003)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    axum::response::Response::new(axum::body::Body::from_stream(futures_util::stream::iter(
        chunks,
    )))
}

/// The test CA every app here signs with (made once: key generation is the slow part).
fn local_ca() -> &'static finalize::local_ca::LocalCa {
    static CA: std::sync::OnceLock<finalize::local_ca::LocalCa> = std::sync::OnceLock::new();
    CA.get_or_init(|| finalize::local_ca::make().unwrap())
}

fn trusted(stored: &[u8]) -> c2pa::Reader {
    let reader = local_ca().read(stored).unwrap();
    assert_eq!(
        reader.validation_state(),
        c2pa::ValidationState::Trusted,
        "{:?}",
        reader.validation_status()
    );
    reader
}

fn app() -> TestApp {
    let policy = DownloadPolicy {
        allowed_hosts: vec!["127.0.0.1".into()],
        allow_http: true,
        allow_private: true,
        max_bytes: 64 * 1024 * 1024,
    };
    App {
        store: MemoryStore::default(),
        provider: FakeProvider::default(),
        videos: MemoryBlobs::default(),
        http: policy.client().unwrap(),
        policy,
        labels: Some(
            finalize::label::Credentials::new(local_ca().chain.clone(), local_ca().key.clone())
                .unwrap(),
        ),
    }
}

/// A task the provider reports done with this video URL, and our record at FINALIZING.
async fn done_task(app: &TestApp, url: Option<&str>) {
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", "fake"),
        Some("job-1"),
    )
    .await;
    app.store
        .apply("t-1", TaskEvent::ProviderSucceeded, TaskPatch::default())
        .await
        .unwrap();
    app.provider.hold("t-1", "job-1", JobStatus::Queued);
    app.provider.set("t-1", JobStatus::Succeeded, url, None);
}

fn batch(bodies: &[&str]) -> SqsEvent {
    let records: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| json!({"messageId": format!("m-{i}"), "body": b}))
        .collect();
    serde_json::from_value(json!({"Records": records})).unwrap()
}

const T1: &str = r#"{"task_id": "t-1"}"#;

async fn run(app: &TestApp, bodies: &[&str]) -> Vec<String> {
    handle(app, batch(bodies))
        .await
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

async fn task(app: &TestApp) -> shared::domain::task::Task {
    app.store.get_task("t-1").await.unwrap().unwrap()
}

#[tokio::test]
async fn a_finished_video_is_stored_with_its_facts_and_the_task_succeeds() {
    let (base, hits) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/video.mp4"))).await;
    assert!(run(&app, &[T1]).await.is_empty());
    let t = task(&app).await;
    assert_eq!(t.status, TaskStatus::Succeeded);
    let video = t.video.unwrap();
    assert_eq!(video.key, "videos/alice/t-1.mp4");
    let (stored, meta) = app.videos.object("videos/alice/t-1.mp4").unwrap();
    // The provider's bytes, then the C2PA manifest, counted and hashed as stored.
    assert_eq!(&stored[..MP4.len()], MP4);
    assert!(stored.len() > MP4.len());
    assert_eq!(
        (video.bytes, video.width, video.height),
        (stored.len() as u64, Some(1280), Some(720))
    );
    assert_eq!(video.sha256, hex::encode(sha2::Sha256::digest(&stored)));
    let json = trusted(&stored).json();
    assert!(json.contains("trainedAlgorithmicMedia") && json.contains("\"t-1\""));
    assert_eq!(meta.get("ai-generated"), Some("true"));
    assert_eq!(
        app.videos.keys(),
        ["videos/alice/t-1.mp4"],
        "no other object written"
    );
    assert_eq!(app.videos.uploads_in_progress(), 0);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let account = app.store.account("alice", "any").await.unwrap();
    assert_eq!(account.in_flight, 0, "slot freed");
}

#[tokio::test]
async fn a_video_of_several_parts_is_cut_into_whole_parts_and_stored_whole() {
    let (base, _) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/big.mp4"))).await;
    assert!(run(&app, &[T1]).await.is_empty());
    assert_eq!(task(&app).await.status, TaskStatus::Succeeded);
    let key = "videos/alice/t-1.mp4";
    let part = finalize::copy::PART_SIZE;
    let (stored, _) = app.videos.object(key).unwrap();
    let manifest = stored.len() - BIG;
    assert_eq!(app.videos.part_sizes(key), [part, part, 12_345 + manifest]);
    trusted(&stored);
}

#[tokio::test]
async fn with_labels_off_the_provider_bytes_are_stored_as_they_came() {
    let (base, _) = origin().await;
    let app = TestApp {
        labels: None,
        ..app()
    };
    done_task(&app, Some(&format!("{base}/video.mp4"))).await;
    assert!(run(&app, &[T1]).await.is_empty());
    let (stored, _) = app.videos.object("videos/alice/t-1.mp4").unwrap();
    assert_eq!(stored.as_ref(), MP4);
    assert_eq!(task(&app).await.video.unwrap().bytes, MP4.len() as u64);
}

#[tokio::test]
async fn a_redelivered_message_downloads_nothing_again() {
    let (base, hits) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/video.mp4"))).await;
    run(&app, &[T1]).await;
    assert!(run(&app, &[T1, T1]).await.is_empty());
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_video_published_before_a_crash_is_recorded_without_a_download() {
    let (base, hits) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/video.mp4"))).await;
    // An earlier version published it (with every fact) and crashed before writing the task.
    let meta = VideoMetadata {
        pairs: vec![
            ("bytes".into(), MP4.len().to_string()),
            ("sha256".into(), "abc".into()),
        ],
    };
    app.videos
        .put_with("videos/alice/t-1.mp4", MP4.to_vec(), meta);
    assert!(run(&app, &[T1]).await.is_empty());
    assert_eq!(task(&app).await.status, TaskStatus::Succeeded);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

/// The upload goes straight to the final key and carries what was known up front; a crash
/// between completing it and recording the task copies it again (the same key, replaced
/// whole), and the task gets every fact.
#[tokio::test]
async fn a_video_is_written_once_and_a_crash_after_completing_copies_it_again() {
    let (base, hits) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/video.mp4"))).await;
    let meta = finalize::object_metadata(&task(&app).await);
    app.videos
        .put_with("videos/alice/t-1.mp4", MP4.to_vec(), meta);
    assert!(run(&app, &[T1]).await.is_empty());
    let t = task(&app).await;
    assert_eq!(t.status, TaskStatus::Succeeded);
    let video = t.video.unwrap();
    let (stored, _) = app.videos.object("videos/alice/t-1.mp4").unwrap();
    assert_eq!(
        (video.bytes, video.width),
        (stored.len() as u64, Some(1280))
    );
    trusted(&stored);
    assert_eq!(hits.load(Ordering::SeqCst), 1, "copied again");
    assert_eq!(
        app.videos.keys(),
        ["videos/alice/t-1.mp4"],
        "nothing but the video"
    );
    assert_eq!(app.videos.uploads_in_progress(), 0);
    let (_, stored_meta) = app.videos.object("videos/alice/t-1.mp4").unwrap();
    assert_eq!(
        stored_meta.get("sha256"),
        None,
        "the hash lives on the task item"
    );
    assert_eq!(stored_meta.get("ai-generated"), Some("true"));
}

#[tokio::test]
async fn a_job_still_running_is_retried_later() {
    let app = app();
    done_task(&app, None).await;
    app.provider.set("t-1", JobStatus::Running, None, None);
    assert_eq!(run(&app, &[T1]).await, ["m-0"]);
    assert_eq!(task(&app).await.status, TaskStatus::Finalizing);
}

#[tokio::test]
async fn an_unknown_outcome_from_the_provider_is_retried() {
    let app = app();
    done_task(&app, None).await;
    app.provider
        .fail_next_lookup(ProviderError::OutcomeUnknown {
            reason: "timeout".into(),
        });
    assert_eq!(run(&app, &[T1]).await, ["m-0"]);
    assert_eq!(task(&app).await.status, TaskStatus::Finalizing);
}

#[tokio::test]
async fn a_provider_failure_fails_and_refunds() {
    let app = app();
    done_task(&app, None).await;
    app.provider
        .set("t-1", JobStatus::Failed, None, Some("the fake broke"));
    assert!(run(&app, &[T1]).await.is_empty());
    let t = task(&app).await;
    assert_eq!(
        (t.status, t.error.unwrap().code.as_str()),
        (TaskStatus::Failed, "provider_failed")
    );
    assert_eq!(app.store.ledger_sum("alice"), (500, 500));
}

#[tokio::test]
async fn unusable_videos_fail_the_task() {
    let (base, _) = origin().await;
    let cases = [
        (Some(format!("{base}/junk.mp4")), "not an MP4"),
        (
            Some("http://203.0.113.9/video.mp4".to_string()),
            "host not allowed",
        ),
        (Some("ftp://127.0.0.1/video.mp4".to_string()), "scheme"),
        (None, "no video"),
    ];
    for (url, why) in cases {
        let app = app();
        done_task(&app, url.as_deref()).await;
        assert!(run(&app, &[T1]).await.is_empty(), "{why}");
        let t = task(&app).await;
        assert_eq!(t.status, TaskStatus::Failed, "{why}");
        assert_eq!(t.error.unwrap().code, "video_unusable", "{why}");
        assert_eq!(app.store.ledger_sum("alice"), (500, 500), "{why}");
        assert!(app.videos.keys().is_empty(), "{why}");
    }
}

#[tokio::test]
async fn unreadable_and_unknown_messages_are_dropped_not_retried() {
    let app = app();
    assert!(
        run(&app, &["not json", r#"{"task_id": "t-404"}"#])
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_store_failure_is_retried() {
    let (base, _) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/video.mp4"))).await;
    app.store.fail_writes.store(true, Ordering::SeqCst);
    assert_eq!(run(&app, &[T1]).await, ["m-0"]);
    app.store.fail_writes.store(false, Ordering::SeqCst);
    assert!(run(&app, &[T1]).await.is_empty());
    assert_eq!(task(&app).await.status, TaskStatus::Succeeded);
}

#[tokio::test]
async fn a_terminal_task_is_acknowledged() {
    let app = app();
    done_task(&app, None).await;
    app.store
        .apply("t-1", TaskEvent::Failed, TaskPatch::default())
        .await
        .unwrap();
    assert!(run(&app, &[T1]).await.is_empty());
    assert!(app.videos.keys().is_empty());
}

#[tokio::test]
async fn the_sample_batch() {
    let app = app();
    let event: SqsEvent =
        serde_json::from_str(include_str!("../../../events/finalize/sqs-batch.json")).unwrap();
    assert!(handle(&app, event).await.batch_item_failures.is_empty());
}

#[tokio::test]
async fn a_deleted_video_is_never_published_twice() {
    let (base, _) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/video.mp4"))).await;
    run(&app, &[T1]).await;
    app.videos.delete("videos/alice/t-1.mp4").await.unwrap();
    // The task is terminal now: a late message changes nothing and stores nothing.
    assert!(run(&app, &[T1]).await.is_empty());
    assert!(app.videos.keys().is_empty());
}

const REPORTED: &str = r#"{"task_id": "t-1", "reason": "failure_reported"}"#;

/// A failure a callback reported, confirmed by the provider: failed and refunded once.
#[tokio::test]
async fn a_reported_failure_the_provider_confirms_fails_and_refunds() {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", "fake"),
        Some("job-1"),
    )
    .await;
    app.provider.hold("t-1", "job-1", JobStatus::Failed);
    assert!(run(&app, &[REPORTED, REPORTED]).await.is_empty());
    let t = task(&app).await;
    assert_eq!(
        (t.status, t.error.unwrap().code.as_str()),
        (TaskStatus::Failed, "provider_failed")
    );
    assert_eq!(app.store.ledger_sum("alice"), (500, 500));
}

/// A failure the provider denies (a forged or mistaken callback): nothing fails, nothing is
/// refunded, and the message is not retried (callbacks and polling carry on).
#[tokio::test]
async fn a_reported_failure_the_provider_denies_changes_nothing() {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", "fake"),
        Some("job-1"),
    )
    .await;
    app.provider.hold("t-1", "job-1", JobStatus::Running);
    assert!(run(&app, &[REPORTED]).await.is_empty());
    assert_eq!(task(&app).await.status, TaskStatus::Running);
    assert_eq!(app.store.ledger_sum("alice"), (500, 0));
}

/// A link answering 404 (a CDN still propagating, or an expired link) is retried by
/// redelivery before anything fails; only after a few deliveries is the video gone.
#[tokio::test]
async fn a_missing_video_is_retried_before_it_counts_as_gone() {
    let (base, _) = origin().await;
    let app = app();
    done_task(&app, Some(&format!("{base}/missing.mp4"))).await;
    let delivery = |count: u32| {
        let record = json!({"messageId": "m-0", "body": T1,
            "attributes": {"ApproximateReceiveCount": count.to_string()}});
        serde_json::from_value::<SqsEvent>(json!({"Records": [record]})).unwrap()
    };
    for count in 1..finalize::GONE_ATTEMPTS {
        let failures = handle(&app, delivery(count)).await.batch_item_failures;
        assert_eq!(failures.len(), 1, "delivery {count} is retried");
        assert_eq!(task(&app).await.status, TaskStatus::Finalizing);
        assert_eq!(app.store.ledger_sum("alice"), (500, 0));
    }
    let failures = handle(&app, delivery(finalize::GONE_ATTEMPTS))
        .await
        .batch_item_failures;
    assert!(failures.is_empty());
    let t = task(&app).await;
    assert_eq!(
        (t.status, t.error.unwrap().code.as_str()),
        (TaskStatus::Failed, "video_unusable")
    );
    assert_eq!(app.store.ledger_sum("alice"), (500, 500));
}

/// A task that fails while its video is being copied (another delivery gave up on it, say)
/// gets nothing published, and the copy is discarded: no video ever sits beside a FAILED task.
#[tokio::test]
async fn a_task_that_ends_during_the_copy_gets_nothing_published() {
    let app = app();
    let store = app.store.clone();
    let serve = axum::Router::new().route(
        "/video.mp4",
        axum::routing::get(move || {
            let store = store.clone();
            async move {
                let failed = TaskPatch {
                    error: Some(shared::domain::task::TaskError {
                        code: "video_unusable".into(),
                        message: "gone".into(),
                        retryable: false,
                    }),
                    ..Default::default()
                };
                store.apply("t-1", TaskEvent::Failed, failed).await.unwrap();
                MP4
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, serve).await });
    done_task(&app, Some(&format!("http://{addr}/video.mp4"))).await;
    assert!(run(&app, &[T1]).await.is_empty());
    assert_eq!(task(&app).await.status, TaskStatus::Failed);
    assert_eq!(
        app.videos.keys(),
        Vec::<String>::new(),
        "nothing published or left"
    );
    assert_eq!(app.store.ledger_sum("alice"), (500, 500), "refunded once");
}

const HINT: &str = r#"{"task_id": "t-1", "reason": "hint"}"#;

/// An early callback's hint (a task we hold no reference for): finalize asks the provider by
/// our id. A job it does not hold changes nothing and is not retried; one it holds gives the
/// task its reference and status; a finished one is stored. Nothing is refunded on the way.
#[tokio::test]
async fn a_hint_records_what_the_provider_holds_and_nothing_else() {
    let (base, _) = origin().await;
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fake"), None).await;
    assert!(
        run(&app, &[HINT]).await.is_empty(),
        "not held: acknowledged"
    );
    assert_eq!(task(&app).await.status, TaskStatus::Created);
    app.provider.hold("t-1", "job-1", JobStatus::Running);
    assert!(run(&app, &[HINT]).await.is_empty(), "running: acknowledged");
    let t = task(&app).await;
    assert_eq!(t.status, TaskStatus::Running);
    assert_eq!(t.provider_ref.map(|r| r.0), Some("job-1".to_string()));
    let url = format!("{base}/video.mp4");
    app.provider
        .set("t-1", JobStatus::Succeeded, Some(url.as_str()), None);
    assert!(run(&app, &[HINT]).await.is_empty());
    assert_eq!(task(&app).await.status, TaskStatus::Succeeded);
    assert_eq!(app.store.ledger_sum("alice"), (500, 0));
}
