//! Live progress on the local stack: a task's status stream read over HTTP from the events
//! function's URL (response streaming through the Lambda runtime protocol), resumed after a
//! dropped connection, ended after the terminal event; the cap on open streams held in the
//! table (moto).

mod common;

use std::time::Duration;

use common::{Api, start, store, t2v};
use futures_util::StreamExt;
use serde_json::Value;
use shared::ports::TaskEvents;

/// One SSE event: its id, kind and data.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: u32,
    kind: String,
    data: Value,
}

/// Parse the complete events in `buf`, leaving a partial one there.
fn take_events(buf: &mut String) -> Vec<Sse> {
    let mut out = Vec::new();
    while let Some(end) = buf.find("\n\n") {
        let block: String = buf.drain(..end + 2).collect();
        let (mut id, mut kind, mut data) = (None, String::new(), Value::Null);
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id: ") {
                id = v.parse().ok();
            } else if let Some(v) = line.strip_prefix("event: ") {
                kind = v.to_string();
            } else if let Some(v) = line.strip_prefix("data: ") {
                data = serde_json::from_str(v).expect("data is JSON");
            }
        }
        if let Some(id) = id {
            out.push(Sse { id, kind, data });
        }
    }
    out
}

/// Read a stream until it ends, or until `stop` says so after an event (the connection is then
/// dropped, as a phone losing its network drops it). Whether the server ended it.
async fn read_stream(
    http: &reqwest::Client,
    url: &str,
    last_id: Option<u32>,
    stop: impl Fn(&Sse) -> bool,
    seen: &mut Vec<Sse>,
) -> bool {
    let mut req = http.get(url);
    if let Some(id) = last_id {
        req = req.header("last-event-id", id.to_string());
    }
    let resp = req.send().await.expect("stream opens");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.bytes_stream();
    let mut buf = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let chunk = tokio::time::timeout_at(deadline, body.next()).await;
        match chunk.expect("the stream moves on") {
            Some(Ok(bytes)) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            Some(Err(e)) => panic!("stream broke: {e}"),
            None => return true,
        }
        for e in take_events(&mut buf) {
            let done = stop(&e);
            seen.push(e);
            if done {
                return false;
            }
        }
    }
}

#[tokio::test]
async fn a_client_sees_every_status_in_order_resumes_without_gaps_and_the_stream_ends() {
    let stack = start(|o| o.sim_speed = 40.0).await;
    let api = Api::new(&stack);
    let token = stack.token("alice").unwrap();
    let (status, _, created) = api.create(&token, "live-1", &t2v("a heron at dawn")).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let (_, view) = api.video(&token, &id).await;
    let url = view["events_url"].as_str().expect("events_url").to_string();
    assert!(url.starts_with(&stack.stream_url), "{url}");
    // The API's route sends the owner to the same link.
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect
        .get(format!("{}/v1/videos/{id}/events", stack.api_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 307);
    assert_eq!(resp.headers()["location"].to_str().unwrap(), url);

    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    // The first connection drops after its first event.
    let ended = read_stream(&http, &url, None, |_| true, &mut seen).await;
    assert!(!ended);
    let resume = seen.last().map(|e| e.id);
    let ended = read_stream(&http, &url, resume, |_| false, &mut seen).await;
    assert!(ended, "the stream ends after the terminal event");

    let ids: Vec<u32> = seen.iter().map(|e| e.id).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {ids:?}"
    );
    let statuses: Vec<&str> = seen
        .iter()
        .filter(|e| e.kind == "status")
        .map(|e| e.data["status"].as_str().unwrap())
        .collect();
    let log = store(&stack).events_after(&id, 0).await.unwrap();
    let logged: Vec<&str> = log.iter().map(|e| e.status.as_str()).collect();
    assert_eq!(statuses, logged, "every status the task went through");
    assert_eq!(statuses.last(), Some(&"SUCCEEDED"));
    assert!(statuses.len() >= 4, "{statuses:?}");
    println!("stream events: {ids:?}");
}

#[tokio::test]
async fn a_user_over_the_cap_of_open_streams_is_refused() {
    let stack = start(|o| {
        o.sim_speed = 5.0;
        o.extra_env.push(("STREAMS_PER_USER".into(), "1".into()));
    })
    .await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("bob", "pro").unwrap();
    let mut urls = Vec::new();
    for key in ["cap-1", "cap-2"] {
        let (status, _, created) = api.create(&token, key, &t2v("a slow tide")).await;
        assert_eq!(status, 202, "{created}");
        let (_, view) = api.video(&token, created["id"].as_str().unwrap()).await;
        urls.push(view["events_url"].as_str().unwrap().to_string());
    }
    let http = reqwest::Client::new();
    let first = http.get(&urls[0]).send().await.unwrap();
    assert_eq!(first.status(), 200);
    let second = http.get(&urls[1]).send().await.unwrap();
    assert_eq!(second.status(), 429);
    let body: Value = second.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_streams");
    // Reconnecting to the task that holds the place is never refused.
    let again = http.get(&urls[0]).send().await.unwrap();
    assert_eq!(again.status(), 200);
    // A forged link is refused with the envelope.
    let forged = format!("{}0", urls[0]);
    let resp = http.get(&forged).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_stream_token");
    drop((first, again));
}

const LIVE_TOKEN: &str =
    "7f3a9c0e5b2d48a1c6e07f3a9c0e5b2d48a1c6e07f3a9c0e5b2d48a1c6e07f3a9c0e5b2d48a1c6e0aa";

/// Create a task and register a Live Activity token for it; the task's id.
async fn task_with_live_activity(stack: &devstack::stack::Stack, token: &str, key: &str) -> String {
    let api = Api::new(stack);
    let (status, _, created) = api.create(token, key, &t2v("a lantern on the lake")).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({ "token": LIVE_TOKEN });
    let path = format!("/v1/videos/{id}/live-activity");
    let (status, _, reg) = api.post(&path, Some(token), None, &body).await;
    assert_eq!(status, 201, "{reg}");
    id
}

#[tokio::test]
async fn the_apns_emulator_gets_updates_and_one_end_per_task_with_a_valid_token() {
    let stack = start(|o| {
        o.sim_speed = 40.0;
        o.extra_env
            .push(("PROGRESS_UPDATE_SECONDS".into(), "0".into()));
    })
    .await;
    let token = stack.token("carol").unwrap();
    let id = task_with_live_activity(&stack, &token, "la-1").await;
    common::wait_terminal_in_table(&stack, &id, Duration::from_secs(60)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let ends = |r: &[provider_sim::apns::Received]| {
        r.iter()
            .filter(|p| p.payload["aps"]["event"] == "end")
            .count()
    };
    while ends(&stack.apns.state.received()) == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = stack.apns.state.received();
    assert!(
        stack.apns.state.refused().is_empty(),
        "{:?}",
        stack.apns.state.refused()
    );
    let events: Vec<String> = received
        .iter()
        .map(|p| {
            let aps = &p.payload["aps"];
            format!(
                "{} {}",
                aps["event"].as_str().unwrap(),
                aps["content-state"]["status"].as_str().unwrap()
            )
        })
        .collect();
    println!("live activity pushes: {events:?}");
    assert_eq!(ends(&received), 1, "{events:?}");
    assert_eq!(events.last().map(String::as_str), Some("end SUCCEEDED"));
    assert!(events.len() >= 3, "updates before the end: {events:?}");
    assert!(received.iter().all(|p| p.token == LIVE_TOKEN && !p.sandbox));
    // Forgotten after the end: notify deletes the registration once APNs has
    // answered, so the emulator may record the end a moment before that.
    let left = registrations_left(&stack, &id).await;
    assert!(left.is_empty(), "still registered after the end: {left:?}");
}

/// The task's Live Activity registrations once notify is done with them (or
/// after 20 s): notify forgets one after APNs answers, so the emulator's
/// record of the push comes a moment before the table changes.
async fn registrations_left(
    stack: &devstack::stack::Stack,
    id: &str,
) -> Vec<shared::ports::LiveActivity> {
    use shared::ports::LiveActivities;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = store(stack).live_activities_of(id).await.unwrap();
        if left.is_empty() || tokio::time::Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_token_apns_revoked_is_removed_and_the_task_still_finishes() {
    let stack = start(|o| o.sim_speed = 40.0).await;
    stack.apns.state.revoke(LIVE_TOKEN);
    let token = stack.token("dave").unwrap();
    let id = task_with_live_activity(&stack, &token, "la-2").await;
    let task = common::wait_terminal_in_table(&stack, &id, Duration::from_secs(60)).await;
    assert_eq!(task.status.as_str(), "SUCCEEDED");
    let left = registrations_left(&stack, &id).await;
    assert!(left.is_empty(), "a revoked token stayed: {left:?}");
    assert!(stack.apns.state.received().is_empty());
    assert_eq!(
        stack.apns.state.refused(),
        [(410, "Unregistered".to_string())]
    );
}
