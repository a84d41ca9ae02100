//! webhook-receiver in process: callbacks of the test-only provider (its own body shape) and of
//! Kling, against in-memory ports. Nothing runs beside the test.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use shared::domain::task::TaskStatus;
use shared::edge::webhook_token::token_for;
use shared::ports::{FinalizeReason, Tasks};
use shared::provider::fal::webhook::FalKeys;
use shared::provider::{CallbackError, CallbackHint, CallbackReader};
use shared::testing::{
    FakeCallbacks, HttpEvent, MemoryQueue, MemoryStore, request_from, response_parts, seed_task,
    task_fixture,
};
use webhook_receiver::{App, handle};

fn fal_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[11; 32])
}

const SECRET: &[u8] = b"local-dev-webhook-secret-not-for-production";

/// The fake's callbacks and Kling's, side by side (as a deployment with both would read them).
struct Both;

impl CallbackReader for Both {
    fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError> {
        match provider {
            "kling" | "fal" => shared::provider::composite::callbacks().read(provider, body),
            _ => FakeCallbacks.read(provider, body),
        }
    }
}

type TestApp = App<MemoryStore, MemoryQueue, Both>;

fn app() -> TestApp {
    App {
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        callbacks: Both,
        secret: SECRET.to_vec(),
        signers: Vec::new(),
        fal_keys: Some(FalKeys::fixed(vec![fal_key().verifying_key()])),
        fal_user_id: None,
    }
}

async fn seeded(provider: &str) -> TestApp {
    let app = app();
    seed_task(
        &app.store,
        &task_fixture("t-1", "alice", provider),
        Some("job-1"),
    )
    .await;
    app
}

fn callback(provider: &str, task: &str, body: Value) -> HttpEvent {
    let token = token_for(SECRET, provider, task);
    HttpEvent::new("POST", format!("/webhooks/{provider}/{task}/{token}"))
        .user(None)
        .json(body)
}

fn fake(state: &str) -> Value {
    json!({"job": "job-1", "state": state, "ours": "t-1"})
}

async fn send(app: &TestApp, event: HttpEvent) -> (u16, Value) {
    let (status, _, body) = response_parts(handle(app, event.request()).await);
    (status, body)
}

async fn status(app: &TestApp) -> TaskStatus {
    app.store.get_task("t-1").await.unwrap().unwrap().status
}

fn code(got: &(u16, Value)) -> (u16, &str) {
    (got.0, got.1["error"]["code"].as_str().unwrap_or("-"))
}

#[tokio::test]
async fn a_running_callback_moves_the_task() {
    let app = seeded("fake").await;
    let got = send(&app, callback("fake", "t-1", fake("working"))).await;
    assert_eq!(got, (200, json!({"ok": true})));
    assert_eq!(status(&app).await, TaskStatus::Running);
}

#[tokio::test]
async fn success_queues_finalize_once_and_duplicates_are_acknowledged() {
    let app = seeded("fake").await;
    assert_eq!(
        send(&app, callback("fake", "t-1", fake("done"))).await.0,
        200
    );
    assert_eq!(status(&app).await, TaskStatus::Finalizing);
    let dup = send(&app, callback("fake", "t-1", fake("done"))).await;
    assert_eq!(dup, (200, json!({"ok": true, "duplicate": true})));
    let queued = app.queue.drain();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].task_id, "t-1");
}

#[tokio::test]
async fn a_success_callback_counts_one_generation_time_for_its_model() {
    use shared::ports::GenerationTimes;
    let app = seeded("fake").await;
    let model = app.store.get_task("t-1").await.unwrap().unwrap().model;
    let now = shared::domain::timestamp::Timestamp::now();
    send(&app, callback("fake", "t-1", fake("working"))).await;
    send(&app, callback("fake", "t-1", fake("done"))).await;
    send(&app, callback("fake", "t-1", fake("done"))).await;
    let times = app
        .store
        .recent_generations("fake", &model, now)
        .await
        .unwrap();
    assert_eq!(
        times.total(),
        1,
        "one sample, from the callback that moved the task"
    );
}

#[tokio::test]
async fn a_late_running_callback_never_moves_a_task_backwards() {
    let app = seeded("fake").await;
    send(&app, callback("fake", "t-1", fake("done"))).await;
    assert_eq!(
        send(&app, callback("fake", "t-1", fake("working"))).await.0,
        200
    );
    assert_eq!(status(&app).await, TaskStatus::Finalizing);
}

/// A reported failure is a hint: nothing fails and nothing is refunded until the provider
/// confirms it (finalize asks); a duplicate is queued once.
#[tokio::test]
async fn a_reported_failure_is_sent_for_confirmation_not_applied() {
    let app = seeded("fake").await;
    send(&app, callback("fake", "t-1", fake("broken"))).await;
    send(&app, callback("fake", "t-1", fake("broken"))).await;
    assert_eq!(status(&app).await, TaskStatus::Queued);
    assert_eq!(app.store.ledger_sum("alice"), (500, 0));
    let queued = app.queue.drain();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].reason, FinalizeReason::FailureReported);
}

/// The provider's reference is only taken from our own answers, never from a callback body.
#[tokio::test]
async fn a_callback_never_binds_a_task_to_a_job() {
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fake"), None).await;
    let body = json!({"job": "someone-elses-job", "state": "working", "ours": "t-1"});
    assert_eq!(send(&app, callback("fake", "t-1", body)).await.0, 200);
    let task = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(task.provider_ref, None);
}

#[tokio::test]
async fn an_unknown_status_is_acknowledged_and_ignored() {
    let app = seeded("fake").await;
    let got = send(&app, callback("fake", "t-1", fake("pondering"))).await;
    assert_eq!(got.1["ignored"], "unknown status");
    assert_eq!(status(&app).await, TaskStatus::Queued);
}

#[tokio::test]
async fn a_callback_for_another_job_or_task_is_refused() {
    let app = seeded("fake").await;
    let other_job = json!({"job": "job-9", "state": "done", "ours": "t-1"});
    assert_eq!(
        code(&send(&app, callback("fake", "t-1", other_job)).await),
        (422, "callback_task_mismatch")
    );
    let other_task = json!({"job": "job-1", "state": "done", "ours": "t-2"});
    assert_eq!(
        code(&send(&app, callback("fake", "t-1", other_task)).await),
        (422, "callback_task_mismatch")
    );
    assert_eq!(status(&app).await, TaskStatus::Queued);
}

#[tokio::test]
async fn tokens_bind_the_provider_and_the_task() {
    let app = seeded("fake").await;
    seed_task(
        &app.store,
        &task_fixture("t-2", "bob", "fake"),
        Some("job-2"),
    )
    .await;
    // A token for t-2 does not open t-1; a kling token does not open a fake callback.
    let token = token_for(SECRET, "fake", "t-2");
    let event = HttpEvent::new("POST", format!("/webhooks/fake/t-1/{token}"))
        .user(None)
        .json(fake("done"));
    assert_eq!(
        code(&send(&app, event).await),
        (401, "invalid_webhook_token")
    );
    let token = token_for(SECRET, "kling", "t-1");
    let event = HttpEvent::new("POST", format!("/webhooks/fake/t-1/{token}"))
        .user(None)
        .json(fake("done"));
    assert_eq!(
        code(&send(&app, event).await),
        (401, "invalid_webhook_token")
    );
    assert_eq!(status(&app).await, TaskStatus::Queued);
}

#[tokio::test]
async fn a_callback_on_another_providers_route_is_refused() {
    // The task is Kling's; a valid token for the fake route still cannot move it.
    let app = seeded("kling").await;
    let got = send(&app, callback("fake", "t-1", fake("done"))).await;
    assert_eq!(code(&got), (422, "callback_task_mismatch"));
}

#[tokio::test]
async fn a_provider_nobody_reads_is_not_a_route() {
    struct OnlyFake;
    impl CallbackReader for OnlyFake {
        fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError> {
            FakeCallbacks.read(provider, body)
        }
    }
    let app = App {
        store: MemoryStore::default(),
        queue: MemoryQueue::default(),
        callbacks: OnlyFake,
        secret: SECRET.to_vec(),
        signers: Vec::new(),
        fal_keys: Some(FalKeys::fixed(vec![fal_key().verifying_key()])),
        fal_user_id: None,
    };
    let token = token_for(SECRET, "other", "t-1");
    let event = HttpEvent::new("POST", format!("/webhooks/other/t-1/{token}"))
        .user(None)
        .json(json!({}));
    let (status, _, body) = response_parts(handle(&app, event.request()).await);
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("route_not_found"))
    );
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let app = seeded("fake").await;
    let event = callback("fake", "t-1", json!(null)).raw_body("{not json");
    assert_eq!(code(&send(&app, event).await), (400, "malformed_request"));
    let event = callback("fake", "t-1", json!({"state": "done"}));
    assert_eq!(code(&send(&app, event).await), (400, "malformed_request"));
}

#[tokio::test]
async fn an_unknown_task_is_404() {
    let app = app();
    assert_eq!(
        code(&send(&app, callback("fake", "t-404", fake("done"))).await),
        (404, "not_found")
    );
}

#[tokio::test]
async fn a_lost_queue_message_lets_the_redelivery_try_again() {
    let app = seeded("fake").await;
    app.queue.fail.store(true, Ordering::SeqCst);
    let got = send(&app, callback("fake", "t-1", fake("done"))).await;
    assert_eq!(code(&got), (503, "queue_unavailable"));
    app.queue.fail.store(false, Ordering::SeqCst);
    let again = send(&app, callback("fake", "t-1", fake("done"))).await;
    assert_eq!(
        again,
        (200, json!({"ok": true})),
        "not taken for a duplicate"
    );
    assert_eq!(app.queue.drain().len(), 1);
}

#[tokio::test]
async fn a_store_failure_is_500_in_the_envelope() {
    let app = seeded("fake").await;
    app.store.fail_writes.store(true, Ordering::SeqCst);
    let got = send(&app, callback("fake", "t-1", fake("done"))).await;
    assert_eq!(code(&got), (500, "internal_error"));
}

#[tokio::test]
async fn signed_callbacks_need_a_valid_signature_when_signing_is_on() {
    let secret = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI=";
    let mut app = seeded("fake").await;
    app.signers = vec![standardwebhooks::Webhook::new(secret).unwrap()];
    let unsigned = send(&app, callback("fake", "t-1", fake("working"))).await;
    assert_eq!(code(&unsigned), (401, "invalid_webhook_signature"));
    let body = fake("working").to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = provider_sim::signing::signature(secret, "msg-1", now, body.as_bytes()).unwrap();
    let signed = callback("fake", "t-1", json!(null))
        .raw_body(body)
        .header("webhook-id", "msg-1")
        .header("webhook-timestamp", &now.to_string())
        .header("webhook-signature", &sig);
    assert_eq!(send(&app, signed).await.0, 200);
    assert_eq!(status(&app).await, TaskStatus::Running);
}

#[tokio::test]
async fn kling_callbacks_and_urls_of_tasks_in_flight_keep_working() {
    use hmac::Mac;
    let app = seeded("kling").await;
    // A token minted before callbacks named their provider.
    let mut legacy = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
    legacy.update(b"kling-callback:t-1");
    let token = hex::encode(legacy.finalize().into_bytes());
    let body = json!({"task_id": "job-1", "task_status": "processing",
        "task_info": {"external_task_id": "t-1"}});
    let event = HttpEvent::new("POST", format!("/webhooks/kling/t-1/{token}"))
        .user(None)
        .json(body);
    assert_eq!(send(&app, event).await.0, 200);
    assert_eq!(status(&app).await, TaskStatus::Running);
}

#[tokio::test]
async fn the_sample_callbacks() {
    let app = app();
    let sample = include_str!("../../../events/webhook-receiver/kling-callback.json");
    let got = response_parts(handle(&app, request_from(sample)).await);
    assert_eq!(
        (got.0, got.2["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let forged = include_str!("../../../events/webhook-receiver/kling-callback-forged.json");
    let got = response_parts(handle(&app, request_from(forged)).await);
    assert_eq!(
        (got.0, got.2["error"]["code"].as_str()),
        (401, Some("invalid_webhook_token"))
    );
}

#[tokio::test]
async fn other_routes_are_404() {
    let app = app();
    let event = HttpEvent::new("GET", "/webhooks/fake/t-1/x").user(None);
    assert_eq!(code(&send(&app, event).await), (404, "route_not_found"));
}

/// fal's signature over request id, user id, timestamp and the body's hash.
fn fal_signed(key: &ed25519_dalek::SigningKey, ts: i64, body: &str) -> (i64, String) {
    use ed25519_dalek::Signer;
    use sha2::Digest;
    let msg = format!(
        "job-1\nuser-1\n{ts}\n{}",
        hex::encode(sha2::Sha256::digest(body))
    );
    (ts, hex::encode(key.sign(msg.as_bytes()).to_bytes()))
}

fn fal_event((ts, sig): (i64, String), raw: &str) -> HttpEvent {
    callback("fal", "t-1", json!(null))
        .raw_body(raw)
        .header("x-fal-webhook-request-id", "job-1")
        .header("x-fal-webhook-user-id", "user-1")
        .header("x-fal-webhook-timestamp", &ts.to_string())
        .header("x-fal-webhook-signature", &sig)
}

fn fal_done_body() -> String {
    json!({"request_id": "job-1", "gateway_request_id": "job-1", "status": "OK",
        "payload": {"video": {"url": "https://v3.fal.media/files/x.mp4"}}})
    .to_string()
}

/// fal's webhooks carry an Ed25519 signature over request id, user id, timestamp and the body's
/// hash: signed by a fal key it is a hint like any other; unsigned, stale, re-signed by
/// another key or with another body it is 401 and nothing moves.
#[tokio::test]
async fn fal_webhooks_need_fals_signature() {
    let app = seeded("fal").await;
    let before = status(&app).await;
    let body = fal_done_body();
    let signed = fal_signed;
    let event = fal_event;
    let now = shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now());
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[12; 32]);
    let refused = [
        event(signed(&stranger, now, &body), &body),
        event(signed(&fal_key(), now - 400, &body), &body),
        event(
            signed(&fal_key(), now, &body),
            r#"{"request_id":"job-1","status":"OK"}"#,
        ),
        callback("fal", "t-1", json!(null)).raw_body(&body),
    ];
    for e in refused {
        assert_eq!(
            code(&send(&app, e).await),
            (401, "invalid_webhook_signature")
        );
    }
    assert_eq!(status(&app).await, before, "nothing moved");
    let got = send(&app, event(signed(&fal_key(), now, &body), &body)).await;
    assert_eq!(got, (200, json!({"ok": true})));
    assert_eq!(status(&app).await, TaskStatus::Finalizing);
    let again = send(&app, event(signed(&fal_key(), now, &body), &body)).await;
    assert_eq!(again.1["duplicate"], true, "fal's retries are handled once");
}

/// A callback for a task we hold no reference for (our create is still out, or its answer was
/// lost) and that nothing proves came from the provider moves nothing: finalize asks the
/// provider by our id first (and dispatch's own lookup settles the rest).
#[tokio::test]
async fn an_early_unsigned_callback_moves_nothing_and_asks_the_provider() {
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fake"), None).await;
    for state in ["working", "done", "broken"] {
        let got = send(&app, callback("fake", "t-1", fake(state))).await;
        assert_eq!(got.0, 200, "{got:?}");
    }
    let task = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(
        (task.status, task.provider_ref),
        (TaskStatus::Created, None)
    );
    assert_eq!(app.store.ledger_sum("alice"), (500, 0), "nothing refunded");
    let queued = app.queue.drain();
    assert_eq!(queued.len(), 3);
    assert!(queued.iter().all(|m| m.reason == FinalizeReason::Hint));
}

/// fal's signature vouches for the request id it names: a verified webhook for a task whose
/// submit answer was lost gives the task its reference, so finalize can ask fal about it.
#[tokio::test]
async fn a_verified_fal_webhook_gives_a_task_without_a_reference_its_reference() {
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fal"), None).await;
    let body = fal_done_body();
    let now = shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now());
    let got = send(&app, fal_event(fal_signed(&fal_key(), now, &body), &body)).await;
    assert_eq!(got, (200, json!({"ok": true})));
    let task = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(task.status, TaskStatus::Finalizing);
    assert_eq!(task.provider_ref.map(|r| r.0), Some("job-1".to_string()));
    assert_eq!(app.queue.drain().len(), 1);
}

/// A verified failure webhook for a task whose submit answer was lost records fal's request id
/// (and refunds nothing yet): finalize confirms the failure by that id, which fal can answer.
#[tokio::test]
async fn a_verified_fal_failure_for_a_task_without_a_reference_gives_it_its_reference() {
    let app = app();
    seed_task(&app.store, &task_fixture("t-1", "alice", "fal"), None).await;
    let body = json!({"request_id": "job-1", "gateway_request_id": "job-1", "status": "ERROR",
        "error": "generation failed", "payload": null})
    .to_string();
    let now = shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now());
    let got = send(&app, fal_event(fal_signed(&fal_key(), now, &body), &body)).await;
    assert_eq!(got, (200, json!({"ok": true})));
    let task = app.store.get_task("t-1").await.unwrap().unwrap();
    assert_eq!(
        task.status,
        TaskStatus::Queued,
        "held by fal, not failed on a hint"
    );
    assert_eq!(task.provider_ref.map(|r| r.0), Some("job-1".to_string()));
    assert_eq!(
        app.store.ledger_sum("alice"),
        (500, 0),
        "nothing refunded yet"
    );
    let queued = app.queue.drain();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].reason, FinalizeReason::FailureReported);
}

/// fal's keys sign every fal account's webhooks: with our account's user id configured, a
/// webhook fal signed for another account is refused like a bad signature, and nothing moves.
#[tokio::test]
async fn a_fal_webhook_signed_for_another_account_is_refused() {
    let body = fal_done_body();
    let now = shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now());
    for (ours, accepted) in [("user-1", true), ("someone-else", false)] {
        let mut app = app();
        app.fal_user_id = Some(ours.to_string());
        seed_task(
            &app.store,
            &task_fixture("t-1", "alice", "fal"),
            Some("job-1"),
        )
        .await;
        let got = send(&app, fal_event(fal_signed(&fal_key(), now, &body), &body)).await;
        match accepted {
            true => assert_eq!(got.0, 200, "{got:?}"),
            false => {
                assert_eq!(code(&got), (401, "invalid_webhook_signature"));
                assert_eq!(status(&app).await, TaskStatus::Queued, "nothing moved");
            }
        }
    }
}
