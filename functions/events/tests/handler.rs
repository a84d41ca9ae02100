//! The status stream's handler with in-memory ports: what a client reads, in order, resumed,
//! refused, capped.

use std::time::Duration;

use events::{App, Body, Limits, handle};
use http_body_util::BodyExt;
use shared::domain::live::LiveEvent;
use shared::domain::task::{Task, TaskStatus};
use shared::domain::timestamp::{Timestamp, unix_seconds};
use shared::edge::stream_token::token_for;
use shared::ports::TaskEvents;
use shared::testing::{HttpEvent, MemoryStore, seed_task, task_fixture};

const SECRET: &[u8] = b"stream-secret-for-tests-0123";

fn limits(per_user: u32) -> Limits {
    Limits {
        per_user,
        poll: Duration::from_millis(20),
        keep_alive: Duration::from_millis(150),
        progress_every: Duration::from_secs(3600),
        max_open: Duration::from_secs(20),
        typical_secs: 300,
    }
}

async fn app(per_user: u32) -> &'static App<MemoryStore> {
    let store = MemoryStore::default();
    seed_task(&store, &task_fixture("t1", "alice", "kling"), None).await;
    seed_task(&store, &task_fixture("t2", "alice", "kling"), None).await;
    Box::leak(Box::new(App {
        store,
        secret: SECRET.to_vec(),
        limits: limits(per_user),
    }))
}

fn link(task: &str, user: &str) -> HttpEvent {
    let expires = unix_seconds(shared::domain::timestamp::now()) + 600;
    HttpEvent::new("GET", format!("/v1/videos/{task}/events"))
        .user(None)
        .query("token", &token_for(SECRET, task, user, expires))
}

async fn record(app: &App<MemoryStore>, task: &str, status: TaskStatus) {
    let mut t: Task = task_fixture(task, "alice", "kling");
    t.status = status;
    t.updated_at = Timestamp::now();
    app.store
        .record_event(task, &LiveEvent::of_status(&t))
        .await
        .unwrap();
}

/// What the client reads until the stream ends, or until `wait` passes without a write.
async fn read(body: &mut Body, wait: Duration) -> (String, bool) {
    let mut text = String::new();
    loop {
        match tokio::time::timeout(wait, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    text.push_str(&String::from_utf8_lossy(&data));
                }
            }
            Ok(_) => return (text, true),
            Err(_) => return (text, false),
        }
    }
}

fn ids(text: &str) -> Vec<u32> {
    text.lines()
        .filter_map(|l| l.strip_prefix("id: "))
        .map(|id| id.parse().unwrap())
        .collect()
}

fn statuses(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<serde_json::Value>(d).unwrap()["status"].to_string())
        .collect()
}

#[tokio::test]
async fn a_client_sees_every_status_in_order_and_the_stream_ends_after_the_last() {
    let app = app(3).await;
    record(app, "t1", TaskStatus::Created).await;
    record(app, "t1", TaskStatus::Queued).await;
    let resp = handle(app, link("t1", "alice").request()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let (first, ended) = read(&mut body, Duration::from_millis(100)).await;
    assert!(!ended);
    assert!(first.starts_with("retry: 2000\n\n"), "{first}");
    assert_eq!(ids(&first), [100, 200]);
    for s in [
        TaskStatus::Running,
        TaskStatus::Finalizing,
        TaskStatus::Succeeded,
    ] {
        record(app, "t1", s).await;
    }
    let (rest, ended) = read(&mut body, Duration::from_secs(2)).await;
    assert!(ended, "the stream ends after the terminal event");
    assert_eq!(ids(&rest), [300, 400, 500]);
    assert_eq!(
        statuses(&format!("{first}{rest}")),
        [
            "\"CREATED\"",
            "\"QUEUED\"",
            "\"RUNNING\"",
            "\"FINALIZING\"",
            "\"SUCCEEDED\""
        ]
    );
    assert_eq!(app.store.open_streams(), 0, "the place is given back");
}

#[tokio::test]
async fn a_resumed_stream_sends_only_what_follows_last_event_id() {
    let app = app(3).await;
    for s in [TaskStatus::Created, TaskStatus::Queued, TaskStatus::Running] {
        record(app, "t1", s).await;
    }
    record(app, "t1", TaskStatus::Failed).await;
    for (resume, want) in [
        ("200", vec![300, 500]),
        ("342", vec![500]),
        ("0", vec![100, 200, 300, 500]),
        ("junk", vec![100, 200, 300, 500]),
        ("500", vec![]),
    ] {
        let req = link("t1", "alice")
            .header("last-event-id", resume)
            .request();
        let mut body = handle(app, req).await.into_body();
        let (text, ended) = read(&mut body, Duration::from_secs(2)).await;
        assert!(ended, "resume {resume}");
        assert_eq!(ids(&text), want, "resume {resume}");
    }
}

#[tokio::test]
async fn an_idle_stream_keeps_alive_with_comments() {
    let app = app(3).await;
    record(app, "t1", TaskStatus::Queued).await;
    let mut body = handle(app, link("t1", "alice").request()).await.into_body();
    let mut text = String::new();
    for _ in 0..3 {
        let frame = tokio::time::timeout(Duration::from_millis(500), body.frame()).await;
        let data = frame.unwrap().unwrap().unwrap().into_data().unwrap();
        text.push_str(&String::from_utf8_lossy(&data));
    }
    assert_eq!(ids(&text), [200]);
    assert!(text.ends_with(": keep-alive\n\n"), "{text}");
}

async fn refusal(app: &'static App<MemoryStore>, event: HttpEvent) -> (u16, String) {
    let resp = handle(app, event.request()).await;
    let status = resp.status().as_u16();
    let (text, ended) = read(&mut resp.into_body(), Duration::from_secs(2)).await;
    assert!(ended);
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn links_for_another_task_owner_or_time_are_refused() {
    let app = app(3).await;
    let now = unix_seconds(shared::domain::timestamp::now());
    let with_token = |task: &str, token: String| {
        HttpEvent::new("GET", format!("/v1/videos/{task}/events"))
            .user(None)
            .query("token", &token)
    };
    let cases = [
        (link("t1", "bob"), 401, "invalid_stream_token"),
        (
            with_token("t2", token_for(SECRET, "t1", "alice", now + 60)),
            401,
            "invalid_stream_token",
        ),
        (
            with_token("t1", token_for(SECRET, "t1", "alice", now - 1)),
            401,
            "invalid_stream_token",
        ),
        (
            with_token(
                "t1",
                token_for(b"another-secret-000000", "t1", "alice", now + 60),
            ),
            401,
            "invalid_stream_token",
        ),
        (
            with_token("t1", "garbage".into()),
            401,
            "invalid_stream_token",
        ),
        (link("missing", "alice"), 401, "invalid_stream_token"),
        (
            HttpEvent::new("GET", "/v1/videos/t1/events").user(None),
            401,
            "invalid_stream_token",
        ),
        (
            HttpEvent::new("POST", "/v1/videos/t1/events").user(None),
            404,
            "route_not_found",
        ),
        (
            HttpEvent::new("GET", "/v1/videos/t1").user(None),
            404,
            "route_not_found",
        ),
    ];
    for (event, status, code) in cases {
        assert_eq!(refusal(app, event).await, (status, code.to_string()));
    }
    assert_eq!(app.store.open_streams(), 0);
}

#[tokio::test]
async fn a_user_holds_at_most_the_cap_of_open_streams() {
    let app = app(2).await;
    record(app, "t1", TaskStatus::Queued).await;
    let a = handle(app, link("t1", "alice").request()).await;
    let b = handle(app, link("t2", "alice").request()).await;
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let t3 = task_fixture("t3", "alice", "kling");
    seed_task(&app.store, &t3, None).await;
    assert_eq!(
        refusal(app, link("t3", "alice")).await,
        (429, "too_many_streams".to_string())
    );
    // A client reconnecting to a task it streams takes its own place over.
    let again = handle(app, link("t2", "alice").request()).await;
    assert_eq!(again.status().as_u16(), 200);
    // The client hangs up: the next write fails and the place is given back.
    drop(a);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while app.store.open_streams() > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.store.open_streams(), 1);
    assert_eq!(
        handle(app, link("t1", "alice").request()).await.status(),
        200
    );
    drop(b);
}
