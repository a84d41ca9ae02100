//! status-query in process: in-memory ports and the test-only provider.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use shared::domain::plans::Plans;
use shared::domain::state::{TaskEvent, TaskPatch};
use shared::domain::task::{StoredVideo, TaskStatus};
use shared::domain::timestamp::Timestamp;
use shared::edge::auth::AuthMode;
use shared::lifecycle::sync::SyncPolicy;
use shared::ports::Tasks;
use shared::provider::JobStatus;
use shared::testing::{
    FakeProvider, HttpEvent, MemoryBlobs, MemoryQueue, MemoryStore, request_from, response_parts,
    seed_task, task_fixture,
};
use status_query::{App, handle};

type TestApp = App<MemoryStore, MemoryBlobs, FakeProvider, MemoryQueue>;

fn app() -> TestApp {
    let none: HashMap<&str, &str> = HashMap::new();
    App {
        store: MemoryStore::default(),
        videos: MemoryBlobs::default(),
        provider: FakeProvider::default(),
        queue: MemoryQueue::default(),
        auth: AuthMode::Authorizer,
        presign_ttl: Duration::from_secs(900),
        capacity: 2,
        plans: Plans::from_source(&none).unwrap(),
        poll: SyncPolicy {
            stale_after: Duration::from_secs(30),
            hard_timeout: Duration::from_secs(3 * 3600),
        },
        stream: None,
    }
}

async fn send(app: &TestApp, event: HttpEvent) -> (u16, http::HeaderMap, Value) {
    response_parts(handle(app, event.request()).await)
}

fn code(got: &(u16, http::HeaderMap, Value)) -> (u16, &str) {
    (got.0, got.2["error"]["code"].as_str().unwrap_or("-"))
}

fn get(id: &str) -> HttpEvent {
    HttpEvent::new("GET", format!("/v1/videos/{id}"))
}

/// A task that finished and whose video is in the bucket.
async fn finished(app: &TestApp, id: &str) {
    seed_task(
        &app.store,
        &task_fixture(id, "alice", "fake"),
        Some("job-1"),
    )
    .await;
    app.store
        .apply(id, TaskEvent::ProviderSucceeded, TaskPatch::default())
        .await
        .unwrap();
    let key = format!("videos/alice/{id}.mp4");
    app.videos.put(&key, vec![0u8; 10]);
    let video = StoredVideo {
        key,
        bytes: 10,
        sha256: "x".into(),
        content_type: "video/mp4".into(),
        duration_seconds: Some(5.0),
        width: Some(1280),
        height: Some(720),
        poster: None,
    };
    let patch = TaskPatch {
        video: Some(video),
        ..Default::default()
    };
    app.store.apply(id, TaskEvent::Stored, patch).await.unwrap();
}

/// A finished task is read with one `GetItem` and no index `Query`; only a task waiting for
/// capacity asks how many are ahead of it.
#[tokio::test]
async fn only_a_waiting_task_costs_a_query() {
    use std::sync::atomic::Ordering;
    let app = app();
    finished(&app, "t-done").await;
    seed_task(&app.store, &task_fixture("t-wait", "alice", "fake"), None).await;
    let before = app.store.queries.load(Ordering::Relaxed);
    let done = send(&app, get("t-done")).await;
    assert_eq!(done.2["status"], "SUCCEEDED");
    assert_eq!(
        app.store.queries.load(Ordering::Relaxed),
        before,
        "no Query"
    );
    let waiting = send(&app, get("t-wait")).await;
    assert!(waiting.2["queue"].is_object(), "{}", waiting.2);
    assert_eq!(app.store.queries.load(Ordering::Relaxed), before + 1);
}

#[tokio::test]
async fn an_unfinished_task_has_an_etag_and_a_polling_hint() {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", "fake"),
        Some("job-1"),
    )
    .await;
    let (status, headers, task) = send(&app, get("t-1")).await;
    assert_eq!((status, task["status"].as_str()), (200, Some("QUEUED")));
    assert_eq!(headers["retry-after"], "5");
    let tag = headers["etag"].to_str().unwrap().to_string();
    let again = send(&app, get("t-1").header("if-none-match", &tag)).await;
    assert_eq!((again.0, again.2), (304, Value::Null));
    assert_eq!(again.1["etag"].to_str().unwrap(), tag);
}

#[tokio::test]
async fn a_finished_task_carries_a_link_that_holds_for_the_window() {
    let app = app();
    finished(&app, "t-1").await;
    let (status, headers, task) = send(&app, get("t-1")).await;
    assert_eq!(status, 200);
    assert!(!headers.contains_key("retry-after"));
    let url = task["video"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://memory.invalid/videos/alice/t-1.mp4?signed="),
        "{url}"
    );
    let (_, _, again) = send(&app, get("t-1")).await;
    assert_eq!(
        again["video"]["url"], task["video"]["url"],
        "same link within a window"
    );
    assert_eq!(task["video"]["width"], 1280);
    assert!(task["video"]["poster_url"].is_null(), "no poster made yet");
}

/// Once the poster job recorded a poster, the view links it, signed like the video; a
/// delete removes both objects.
#[tokio::test]
async fn a_recorded_poster_is_linked_beside_the_video_and_deleted_with_it() {
    use shared::ports::PosterRecords;
    let app = app();
    finished(&app, "t-1").await;
    app.videos.put("videos/alice/t-1.jpg", vec![0xffu8, 0xd8]);
    let poster = shared::domain::task::Poster {
        key: "videos/alice/t-1.jpg".into(),
        width: 1280,
        height: 720,
        bytes: 2,
    };
    let recorded = app
        .store
        .record_poster("t-1", "videos/alice/t-1.mp4", &poster)
        .await
        .unwrap();
    assert!(recorded);
    let (_, _, task) = send(&app, get("t-1")).await;
    let url = task["video"]["poster_url"].as_str().unwrap();
    let video = task["video"]["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://memory.invalid/videos/alice/t-1.jpg?signed="),
        "{url}"
    );
    assert_eq!(url.split("signed=").nth(1), video.split("signed=").nth(1));
    let del = HttpEvent::new("DELETE", "/v1/videos/t-1");
    assert_eq!(send(&app, del).await.0, 204);
    assert!(app.videos.keys().is_empty(), "{:?}", app.videos.keys());
}

#[tokio::test]
async fn a_transition_changes_the_etag() {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", "fake"),
        Some("job-1"),
    )
    .await;
    let (_, headers, _) = send(&app, get("t-1")).await;
    let tag = headers["etag"].to_str().unwrap().to_string();
    app.store
        .apply("t-1", TaskEvent::ProviderRunning, TaskPatch::default())
        .await
        .unwrap();
    let (status, headers, task) = send(&app, get("t-1").header("if-none-match", &tag)).await;
    assert_eq!((status, task["status"].as_str()), (200, Some("RUNNING")));
    assert_ne!(headers["etag"].to_str().unwrap(), tag);
}

#[tokio::test]
async fn another_users_task_is_not_found() {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", "fake"),
        Some("job-1"),
    )
    .await;
    assert_eq!(
        code(&send(&app, get("t-1").user(Some("mallory"))).await),
        (404, "not_found")
    );
    assert_eq!(code(&send(&app, get("t-404")).await), (404, "not_found"));
}

/// Ids no task can have (too long, odd characters) are not found without reaching the store.
#[tokio::test]
async fn impossible_ids_are_not_found() {
    let app = app();
    for id in ["x".repeat(3000), "x".repeat(65), "a.b".to_string()] {
        assert_eq!(
            code(&send(&app, get(&id)).await),
            (404, "not_found"),
            "{id}"
        );
        let del = HttpEvent::new("DELETE", format!("/v1/videos/{id}"));
        assert_eq!(code(&send(&app, del).await), (404, "not_found"), "{id}");
    }
}

#[tokio::test]
async fn no_identity_is_401() {
    let app = app();
    assert_eq!(
        code(&send(&app, get("t-1").user(None)).await),
        (401, "unauthenticated")
    );
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let app = app();
    let got = send(&app, HttpEvent::new("POST", "/v1/me")).await;
    assert_eq!(code(&got), (404, "route_not_found"));
}

#[tokio::test]
async fn a_stale_task_is_checked_with_the_provider() {
    let app = app();
    let mut task = task_fixture("t-1", "alice", "fake");
    seed_task(&app.store, &task, None).await;
    let old = Timestamp::parse("2026-01-01T00:00:00.000Z").unwrap();
    task.status = TaskStatus::Queued;
    task.provider_ref = Some(shared::provider::ProviderRef("job-1".into()));
    task.updated_at = old;
    task.created_at = Timestamp::now();
    app.store.insert_task(task);
    app.provider.hold("t-1", "job-1", JobStatus::Succeeded);
    let (_, _, view) = send(&app, get("t-1")).await;
    assert_eq!(view["status"], "FINALIZING", "{view}");
    assert_eq!(
        app.queue.drain().len(),
        1,
        "finalize queued for the lost callback"
    );
}

#[tokio::test]
async fn lists_are_newest_first_with_cursors() {
    let app = app();
    for i in 0..5 {
        let mut t = task_fixture(&format!("t-{i}"), "alice", "fake");
        t.created_at = Timestamp::parse(&format!("2026-11-26T00:00:0{i}.000Z")).unwrap();
        seed_task(&app.store, &t, None).await;
    }
    seed_task(&app.store, &task_fixture("t-bob", "bob", "fake"), None).await;
    let page = |cursor: Option<&str>| {
        let e = HttpEvent::new("GET", "/v1/videos").query("limit", "2");
        match cursor {
            Some(c) => e.query("cursor", c),
            None => e,
        }
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let (status, headers, body) = send(&app, page(cursor.as_deref())).await;
        assert_eq!(status, 200, "{body}");
        assert!(headers.contains_key("etag"));
        for item in body["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ["t-4", "t-3", "t-2", "t-1", "t-0"]);
}

/// DELETE removes whatever object sits at the task's key, even one the task never recorded
/// (left by a finalize that lost a race with a failure).
#[tokio::test]
async fn delete_removes_an_unrecorded_object_too() {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-3", "alice", "fake"),
        Some("job-3"),
    )
    .await;
    app.store
        .apply("t-3", TaskEvent::Failed, TaskPatch::default())
        .await
        .unwrap();
    app.videos.put("videos/alice/t-3.mp4", vec![0u8; 10]);
    let del = HttpEvent::new("DELETE", "/v1/videos/t-3");
    assert_eq!(send(&app, del).await.0, 204);
    assert!(app.videos.keys().is_empty());
}

#[tokio::test]
async fn bad_limits_and_foreign_cursors_are_refused() {
    let app = app();
    let limit = HttpEvent::new("GET", "/v1/videos").query("limit", "0");
    assert_eq!(code(&send(&app, limit).await), (422, "invalid_limit"));
    let cursor = HttpEvent::new("GET", "/v1/videos").query("cursor", "bob|x");
    assert_eq!(code(&send(&app, cursor).await), (400, "invalid_cursor"));
}

#[tokio::test]
async fn delete_removes_the_video_once_and_refuses_work_in_progress() {
    let app = app();
    finished(&app, "t-1").await;
    seed_task(
        &app.store,
        &task_fixture("t-2", "alice", "fake"),
        Some("job-2"),
    )
    .await;
    let del = |id: &str| HttpEvent::new("DELETE", format!("/v1/videos/{id}"));
    assert_eq!(send(&app, del("t-1")).await.0, 204);
    assert!(app.videos.keys().is_empty());
    assert_eq!(send(&app, del("t-1")).await.0, 204, "idempotent");
    let (_, _, view) = send(&app, get("t-1")).await;
    assert!(
        view["deleted_at"].is_string() && view["video"].is_null(),
        "{view}"
    );
    assert_eq!(
        code(&send(&app, del("t-2")).await),
        (409, "task_in_progress")
    );
    assert_eq!(code(&send(&app, del("t-404")).await), (404, "not_found"));
}

#[tokio::test]
async fn me_shows_the_plan_usage_and_the_ledger() {
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fake"), None).await;
    let (status, _, me) = send(&app, HttpEvent::new("GET", "/v1/me").plan("pro")).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["plan"], "pro");
    assert_eq!(me["usage"]["in_flight"], 1);
    assert_eq!(me["usage"]["cost_units"].as_f64(), Some(5.0));
    assert_eq!(me["ledger_today"]["debits"].as_f64(), Some(5.0));
}

#[tokio::test]
async fn the_sample_events() {
    let app = app();
    let get = include_str!("../../../events/status-query/get-video.json");
    let got = response_parts(handle(&app, request_from(get)).await);
    assert_eq!(code(&got), (404, "not_found"));
    let list = include_str!("../../../events/status-query/list-videos.json");
    let (status, _, body) = response_parts(handle(&app, request_from(list)).await);
    assert_eq!(
        (status, body["items"].as_array().map(Vec::len)),
        (200, Some(0))
    );
}

fn cancel(id: &str) -> HttpEvent {
    HttpEvent::new("POST", format!("/v1/videos/{id}/cancel"))
}

/// A task still waiting is canceled and refunded in full, once; asking again answers the same.
#[tokio::test]
async fn cancel_while_waiting_refunds_once() {
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fake"), None).await;
    let (status, _, task) = send(&app, cancel("t-1")).await;
    assert_eq!(
        (status, task["status"].as_str()),
        (200, Some("CANCELED")),
        "{task}"
    );
    assert_eq!(task["label"], "Canceled");
    let (status, _, again) = send(&app, cancel("t-1")).await;
    assert_eq!((status, again["status"].as_str()), (200, Some("CANCELED")));
    assert_eq!(app.store.ledger_sum("alice"), (500, 500));
    use shared::ports::Accounts;
    assert_eq!(
        app.store.account("alice", "any").await.unwrap().in_flight,
        0
    );
}

/// Once a submit went out the provider may hold the task: 409, and nothing changes.
#[tokio::test]
async fn cancel_after_submission_is_409() {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", "fake"),
        Some("job-1"),
    )
    .await;
    assert_eq!(
        code(&send(&app, cancel("t-1")).await),
        (409, "cannot_cancel")
    );
    seed_task(&app.store, &task_fixture("t-2", "alice", "fake"), None).await;
    app.store
        .claim_submit("t-2", "fake", "main", None, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(
        code(&send(&app, cancel("t-2")).await),
        (409, "cannot_cancel")
    );
    assert_eq!(app.store.ledger_sum("alice"), (1000, 0));
    assert_eq!(
        code(&send(&app, cancel("t-1").user(Some("mallory"))).await),
        (404, "not_found")
    );
}

/// A waiting task shows its place in line; a submitted one shows none.
#[tokio::test]
async fn waiting_tasks_show_their_place_in_line() {
    let app = app();
    for (i, id) in ["t-1", "t-2", "t-3"].iter().enumerate() {
        let mut t = task_fixture(id, "alice", "fake");
        t.created_at = Timestamp::parse(&format!("2026-11-26T00:00:0{i}.000Z")).unwrap();
        seed_task(&app.store, &t, None).await;
    }
    let (_, _, third) = send(&app, get("t-3")).await;
    assert_eq!(third["queue"]["position"], 3, "{third}");
    assert!(third["queue"]["estimated_start_at"].is_string());
    let (_, _, first) = send(&app, get("t-1")).await;
    assert_eq!(first["queue"]["position"], 1);
    seed_task(
        &app.store,
        &task_fixture("t-4", "alice", "fake"),
        Some("job-4"),
    )
    .await;
    let (_, _, submitted) = send(&app, get("t-4")).await;
    assert_eq!(submitted["queue"], Value::Null);
}

/// A provider that drops queued jobs (fal): cancel of a task it still holds in its queue asks
/// the provider, cancels and refunds once; a started job goes on (409); a second cancel answers
/// the canceled task again.
#[tokio::test]
async fn cancel_reaches_a_provider_that_can_drop_queued_jobs() {
    use shared::ports::Accounts;
    let app = app();
    app.provider
        .cancelable
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let fixture = task_fixture("t-1", "alice", "fake");
    seed_task(&app.store, &fixture, Some("job-1")).await;
    app.provider
        .hold("t-1", "job-1", shared::provider::JobStatus::Queued);
    let (status, _, body) = send(&app, cancel("t-1")).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("CANCELED")),
        "{body}"
    );
    let (status, _, body) = send(&app, cancel("t-1")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("CANCELED")));
    let refunds = app.store.ledger("alice").await.unwrap();
    let refunds = refunds
        .iter()
        .filter(|e| e.kind == shared::ports::LedgerKind::Refund);
    assert_eq!(refunds.count(), 1, "refunded once");
    seed_task(
        &app.store,
        &task_fixture("t-2", "alice", "fake"),
        Some("job-2"),
    )
    .await;
    app.provider
        .hold("t-2", "job-2", shared::provider::JobStatus::Running);
    assert_eq!(
        code(&send(&app, cancel("t-2")).await),
        (409, "cannot_cancel")
    );
}

#[tokio::test]
async fn a_variation_group_lists_its_tasks_for_its_owner_only() {
    use shared::ports::Groups;
    let app = app();
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut task = shared::testing::task_fixture(&format!("var-{n}"), "alice", "fake");
        task.group_id = Some("grp_1".into());
        shared::testing::seed_task(&app.store, &task, None).await;
        ids.push(task.id);
    }
    app.store.put_group("alice", "grp_1", &ids).await.unwrap();
    let got = send(
        &app,
        HttpEvent::new("GET", "/v1/videos").query("group", "grp_1"),
    )
    .await;
    assert_eq!(got.0, 200, "{}", got.2);
    let listed: Vec<&str> = got.2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["var-0", "var-1", "var-2"]);
    assert!(
        got.2["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["group_id"] == "grp_1")
    );
    let other = send(
        &app,
        HttpEvent::new("GET", "/v1/videos")
            .query("group", "grp_1")
            .user(Some("bob")),
    )
    .await;
    assert_eq!(code(&other), (404, "not_found"));
}

/// A task answered from the cache shows its source's object: deleting it keeps that object.
#[tokio::test]
async fn deleting_a_cached_task_keeps_the_source_tasks_object() {
    let app = app();
    finished(&app, "source").await;
    let mut cached = app.store.get_task("source").await.unwrap().unwrap();
    cached.id = "cached".into();
    cached.cached_from = Some("source".into());
    app.store.insert_task(cached);
    let got = send(&app, HttpEvent::new("DELETE", "/v1/videos/cached")).await;
    assert_eq!(got.0, 204, "{}", got.2);
    assert!(
        app.videos.object("videos/alice/source.mp4").is_some(),
        "the source's object stays"
    );
    let shown = send(&app, get("cached")).await;
    assert!(shown.2["deleted_at"].is_string());
    let source = send(&app, get("source")).await;
    assert!(
        source.2["video"]["url"].is_string(),
        "the source still plays"
    );
}

/// A cancel that arrives while the submit is out and its answer not yet recorded cannot know
/// whether the provider holds the task: 409 "try again" (retryable, `Retry-After`), and
/// nothing changes; once the reference is recorded the provider is asked.
#[tokio::test]
async fn cancel_while_the_submit_is_in_flight_says_try_again() {
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fake"), None).await;
    app.store
        .claim_submit("t-1", "fake", "main", None, Timestamp::now())
        .await
        .unwrap();
    let got = send(&app, cancel("t-1")).await;
    assert_eq!(code(&got), (409, "cannot_cancel"));
    assert_eq!(got.2["error"]["retryable"], true);
    assert_eq!(got.1["retry-after"], "2");
    let task = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Created);
    assert_eq!(app.store.ledger_sum("alice"), (500, 0));
}

/// The export holds every task (past one page), every ledger row and the devices of the caller,
/// and nothing of anyone else's; the link is short-lived.
#[tokio::test]
async fn an_export_holds_every_task_ledger_row_and_device_of_the_caller_only() {
    use shared::ports::{Accounts, Device, Devices};
    let app = app();
    for n in 0..130 {
        let id = format!("t-{n:03}");
        seed_task(&app.store, &task_fixture(&id, "alice", "fake"), None).await;
    }
    finished(&app, "t-done").await;
    seed_task(&app.store, &task_fixture("b-1", "bob", "fake"), None).await;
    for (user, id) in [("alice", "phone"), ("bob", "tablet")] {
        let device = Device {
            id: id.into(),
            user_id: user.into(),
            platform: shared::domain::notice::Platform::Fcm,
            endpoint: format!("arn:aws:sns:us-east-1:1:endpoint/GCM/app/{id}"),
            created_at: Timestamp::now(),
        };
        app.store.put_device(&device).await.unwrap();
    }
    let (status, _, reply) = send(&app, HttpEvent::new("POST", "/v1/me/export")).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["counts"]["tasks"], 131);
    let url = reply["url"].as_str().unwrap();
    assert!(url.contains("ttl=900"), "{url}");
    let key = url
        .trim_start_matches("https://memory.invalid/")
        .split('?')
        .next()
        .unwrap();
    assert!(key.starts_with("exports/alice/"), "{key}");
    let (bytes, _) = app.videos.object(key).unwrap();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(doc["format"], status_query::export::EXPORT_FORMAT);
    let ids: std::collections::BTreeSet<&str> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 131);
    assert!(ids.contains("t-000") && ids.contains("t-129") && ids.contains("t-done"));
    assert!(!ids.contains("b-1"));
    let ledger = app.store.ledger("alice").await.unwrap();
    assert!(!ledger.is_empty());
    assert_eq!(doc["ledger"], serde_json::to_value(&ledger).unwrap());
    assert_eq!(doc["devices"].as_array().unwrap().len(), 1);
    assert_eq!(doc["devices"][0]["id"], "phone");
    assert!(
        doc["devices"][0].get("endpoint").is_none(),
        "internal ARNs stay out"
    );
}

/// `DELETE /v1/me` records the erasure once and (re)starts the job each time; `GET /v1/me`
/// shows where it stands.
#[tokio::test]
async fn deleting_the_account_records_it_once_and_starts_the_job() {
    use shared::ports::Erasures;
    let app = app();
    let (status, _, first) = send(&app, HttpEvent::new("DELETE", "/v1/me")).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(first["erasure"]["status"], "erasing");
    assert!(first["erasure"].get("ledger_id").is_none(), "internal");
    let (status, _, again) = send(&app, HttpEvent::new("DELETE", "/v1/me")).await;
    assert_eq!((status, &again), (202, &first), "the same erasure");
    assert_eq!(
        app.queue.erasures.lock().unwrap().len(),
        2,
        "each request (re)starts the job"
    );
    let (_, _, me) = send(&app, HttpEvent::new("GET", "/v1/me")).await;
    assert_eq!(me["erasure"], first["erasure"]);
    app.store
        .finish_erasure("alice", Timestamp::now())
        .await
        .unwrap();
    let (status, _, done) = send(&app, HttpEvent::new("DELETE", "/v1/me")).await;
    assert_eq!(
        (status, done["erasure"]["status"].as_str()),
        (200, Some("erased"))
    );
    let (_, _, bob) = send(&app, HttpEvent::new("GET", "/v1/me").user(Some("bob"))).await;
    assert!(bob["erasure"].is_null());
}

const STREAM_SECRET: &[u8] = b"stream-secret-for-tests-0123";

fn with_stream(mut app: TestApp) -> TestApp {
    app.stream = Some(shared::runtime::config::StreamConfig {
        url: "https://stream.example".into(),
        secret: STREAM_SECRET.to_vec(),
    });
    app
}

#[tokio::test]
async fn the_owner_gets_a_signed_stream_link_and_a_redirect_to_it() {
    use shared::edge::stream_token::verify;
    let app = with_stream(app());
    seed_task(&app.store, &task_fixture("t1", "alice", "fake"), None).await;
    let (status, _, view) = send(&app, get("t1")).await;
    assert_eq!(status, 200);
    let url = view["events_url"].as_str().unwrap().to_string();
    let token = url
        .strip_prefix("https://stream.example/v1/videos/t1/events?token=")
        .unwrap();
    let now = shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now());
    assert_eq!(
        verify(STREAM_SECRET, "t1", "alice", token, now + 3600),
        Ok(())
    );
    assert!(verify(STREAM_SECRET, "t1", "bob", token, now).is_err());
    // The same link within its window: the view's ETag holds.
    assert_eq!(
        send(&app, get("t1")).await.2["events_url"],
        view["events_url"]
    );

    let events = HttpEvent::new("GET", "/v1/videos/t1/events");
    let (status, headers, _) = send(&app, events).await;
    assert_eq!(status, 307);
    assert_eq!(headers["location"].to_str().unwrap(), url);
    let other = HttpEvent::new("GET", "/v1/videos/t1/events").user(Some("bob"));
    assert_eq!(code(&send(&app, other).await), (404, "not_found"));
}

#[tokio::test]
async fn without_a_stream_there_is_no_link_and_no_route() {
    let app = app();
    seed_task(&app.store, &task_fixture("t1", "alice", "fake"), None).await;
    let (_, _, view) = send(&app, get("t1")).await;
    assert!(view.get("events_url").is_none());
    let events = HttpEvent::new("GET", "/v1/videos/t1/events");
    assert_eq!(code(&send(&app, events).await), (404, "route_not_found"));
}
