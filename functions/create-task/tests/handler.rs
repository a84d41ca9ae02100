//! create-task in process: the handler with in-memory ports and the test-only provider.
//! Nothing runs beside the test.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use create_task::{App, UploadPolicy, handle};
use serde_json::{Value, json};
use shared::domain::moderation::Policy;
use shared::domain::plans::Plans;
use shared::edge::auth::AuthMode;
use shared::ports::{Accounts, Tasks};
use shared::runtime::config::WebhookConfig;
use shared::testing::{
    FakeProvider, HttpEvent, MemoryBlobs, MemoryQueue, MemoryStore, request_from, response_parts,
};

type TestApp = App<MemoryStore, FakeProvider, MemoryBlobs, MemoryQueue>;

fn app() -> TestApp {
    let none: HashMap<&str, &str> = HashMap::new();
    App {
        store: MemoryStore::default(),
        provider: FakeProvider::default(),
        uploads: MemoryBlobs::default(),
        dispatch: MemoryQueue::default(),
        auth: AuthMode::Authorizer,
        webhook: WebhookConfig {
            base_url: Some("https://api.example.com".into()),
            secret: b"test-webhook-secret-0123456789".to_vec(),
        },
        plans: Plans::from_source(&none).unwrap(),
        moderation: Policy::from_source(&none).unwrap(),
        upload_policy: UploadPolicy {
            put_ttl: Duration::from_secs(600),
            allow_loopback_urls: false,
        },
        templates: shared::domain::templates::from_source(&none).unwrap(),
    }
}

fn t2v() -> Value {
    json!({"type": "text_to_video", "prompt": "a red fox running through fresh snow", "duration": 5})
}

fn create(body: Value) -> HttpEvent {
    HttpEvent::new("POST", "/v1/videos")
        .header("idempotency-key", &uuid::Uuid::new_v4().to_string())
        .json(body)
}

async fn send(app: &TestApp, event: HttpEvent) -> (u16, http::HeaderMap, Value) {
    response_parts(handle(app, event.request()).await)
}

fn assert_error(got: &(u16, http::HeaderMap, Value), status: u16, code: &str) {
    assert_eq!(
        (got.0, got.2["error"]["code"].as_str()),
        (status, Some(code)),
        "{}",
        got.2
    );
    assert!(got.2["request_id"].is_string(), "{}", got.2);
    assert!(
        got.2["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// A PNG header of this size (enough for the header check).
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    b.extend(width.to_be_bytes());
    b.extend(height.to_be_bytes());
    b.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b.resize(2048, 0);
    b
}

#[tokio::test]
async fn the_sample_event_creates_a_task() {
    let app = app();
    let raw = include_str!("../../../events/create-task/create-video.json");
    let (status, _, task) = response_parts(handle(&app, request_from(raw)).await);
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["aspect_ratio"], "9:16");
}

#[tokio::test]
async fn the_unauthenticated_sample_is_refused() {
    let app = app();
    let raw = include_str!("../../../events/create-task/create-video-unauthenticated.json");
    let got = response_parts(handle(&app, request_from(raw)).await);
    assert_error(&got, 401, "unauthenticated");
    assert_eq!(app.provider.submit_count(), 0);
}

#[tokio::test]
async fn the_invalid_sample_is_refused() {
    let app = app();
    let raw = include_str!("../../../events/create-task/create-video-invalid.json");
    let got = response_parts(handle(&app, request_from(raw)).await);
    assert_eq!(got.0, 422, "{}", got.2);
}

#[tokio::test]
async fn the_plans_concurrency_and_budget_answer_429_with_rate_limits() {
    let app = app();
    assert_eq!(send(&app, create(t2v())).await.0, 202);
    let got = send(&app, create(t2v())).await;
    assert_error(&got, 429, "concurrency_limit");
    assert!(got.1.contains_key("ratelimit-policy") && got.1.contains_key("retry-after"));
    assert_eq!(app.store.ledger_sum("alice"), (500, 0));
}

#[tokio::test]
async fn the_daily_budget_answers_429_until_midnight() {
    let app = app();
    let mut last = (0, http::HeaderMap::new(), Value::Null);
    for i in 0..5 {
        // Free: 20 units a day, 5 per video, one at a time: finish each before the next.
        last = send(&app, create(t2v()).user(Some("carol"))).await;
        if last.0 != 202 {
            assert!(i >= 4, "refused too early: {}", last.2);
            break;
        }
        let id = last.2["id"].as_str().unwrap().to_string();
        use shared::ports::Tasks;
        for event in [
            shared::domain::state::TaskEvent::ProviderSucceeded,
            shared::domain::state::TaskEvent::Stored,
        ] {
            let patch = shared::domain::state::TaskPatch {
                video: Some(shared::domain::task::StoredVideo {
                    key: "k".into(),
                    bytes: 1,
                    sha256: "x".into(),
                    content_type: "video/mp4".into(),
                    duration_seconds: None,
                    width: None,
                    height: None,
                    poster: None,
                }),
                ..Default::default()
            };
            app.store.apply(&id, event, patch).await.unwrap();
        }
    }
    assert_error(&last, 429, "daily_budget_exceeded");
    let wait: u64 = last.1["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&wait));
}

#[tokio::test]
async fn plan_refusals_are_403() {
    let app = app();
    let cases = [
        (
            json!({"type": "text_to_video", "prompt": "p", "quality": "pro"}),
            "quality_not_in_plan",
        ),
        (
            json!({"type": "text_to_video", "prompt": "p", "model": "kling-v3"}),
            "model_not_in_plan",
        ),
        (
            json!({"type": "text_to_video", "prompt": "p", "duration": 10}),
            "duration_not_in_plan",
        ),
        (
            json!({"type": "text_to_video", "prompt": "p", "audio": true}),
            "audio_not_in_plan",
        ),
    ];
    for (body, code) in cases {
        assert_error(&send(&app, create(body)).await, 403, code);
    }
    assert_eq!(app.provider.submit_count(), 0);
}

#[tokio::test]
async fn repeated_violations_suspend_the_account() {
    let app = app();
    let bad = json!({"type": "text_to_video", "prompt": "a graphic beheading scene"});
    for _ in 0..3 {
        assert_error(
            &send(&app, create(bad.clone())).await,
            422,
            "content_policy_violation",
        );
    }
    assert_error(&send(&app, create(t2v())).await, 403, "account_suspended");
}

/// A refused request retried with the same key and body counts once; the same key with
/// another body is another request.
#[tokio::test]
async fn a_refused_request_retried_counts_once() {
    let app = app();
    let bad = json!({"type": "text_to_video", "prompt": "a graphic beheading scene"});
    let again = || {
        HttpEvent::new("POST", "/v1/videos")
            .header("idempotency-key", "retry-me")
            .json(bad.clone())
    };
    for _ in 0..5 {
        assert_error(&send(&app, again()).await, 422, "content_policy_violation");
    }
    let day = shared::domain::timestamp::utc_day(shared::domain::timestamp::now());
    let account = app.store.account("alice", &day).await.unwrap();
    assert_eq!(account.violations.len(), 1);
    let other = json!({"type": "text_to_video", "prompt": "a graphic beheading scene, at night"});
    let event = HttpEvent::new("POST", "/v1/videos")
        .header("idempotency-key", "retry-me")
        .json(other);
    assert_error(&send(&app, event).await, 422, "content_policy_violation");
    let account = app.store.account("alice", &day).await.unwrap();
    assert_eq!(account.violations.len(), 2);
    assert_eq!(account.suspended_until, None);
}

#[tokio::test]
async fn capability_refusals_cost_nothing() {
    let app = app();
    let camera = json!({"type": "text_to_video", "prompt": "p", "duration": 10, "quality": "pro",
        "camera_control": {"type": "simple", "config": {"zoom": 5}}});
    assert_error(
        &send(&app, create(camera).plan("pro")).await,
        422,
        "camera_control_not_supported",
    );
    let invalid = json!({"type": "text_to_video", "prompt": "p [fake:invalid]"});
    assert_error(&send(&app, create(invalid)).await, 422, "invalid_request");
    assert_eq!(app.store.ledger_sum("alice"), (0, 0));
}

#[tokio::test]
async fn a_store_failure_is_an_internal_error_in_the_envelope() {
    let app = app();
    app.store.fail_writes.store(true, Ordering::SeqCst);
    assert_error(&send(&app, create(t2v())).await, 500, "internal_error");
}

#[tokio::test]
async fn estimates_price_without_charging() {
    let app = app();
    let event = HttpEvent::new("POST", "/v1/videos/estimate")
        .json(json!({"type": "text_to_video", "prompt": "p", "duration": 10, "quality": "pro"}));
    let (status, _, body) = send(&app, event.plan("pro")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["cost_units"].as_f64(), body["allowed"].as_bool()),
        (Some(16.0), Some(true))
    );
    assert_eq!(app.provider.submit_count(), 0);
    let event = HttpEvent::new("POST", "/v1/videos/estimate")
        .json(json!({"type": "text_to_video", "prompt": "p", "quality": "pro"}));
    let (_, _, body) = send(&app, event).await;
    assert_eq!(body["reasons"][0]["code"], "quality_not_in_plan");
}

#[tokio::test]
async fn uploads_hand_out_a_bound_put() {
    let app = app();
    let event = HttpEvent::new("POST", "/v1/uploads")
        .json(json!({"content_type": "image/png", "bytes": 1000}));
    let (status, _, body) = send(&app, event).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .contains("type=image/png&length=1000")
    );
    let bad = HttpEvent::new("POST", "/v1/uploads")
        .json(json!({"content_type": "image/gif", "bytes": 1}));
    assert_error(&send(&app, bad).await, 422, "unsupported_image_type");
    let big = HttpEvent::new("POST", "/v1/uploads")
        .json(json!({"content_type": "image/png", "bytes": 20_000_000}));
    assert_error(&send(&app, big).await, 422, "image_too_large");
    let video = |bytes: u64| {
        HttpEvent::new("POST", "/v1/uploads")
            .json(json!({"content_type": "video/mp4", "bytes": bytes}))
    };
    let (status, _, body) = send(&app, video(50_000_000)).await;
    assert_eq!(
        (status, body["max_bytes"].as_u64()),
        (201, Some(104_857_600)),
        "{body}"
    );
    assert_error(
        &send(&app, video(104_857_601)).await,
        422,
        "video_too_large",
    );
}

/// Uploaded bytes are checked before anything is charged.
#[tokio::test]
async fn uploaded_images_are_checked() {
    let app = app();
    let i2v = |id: &str| json!({"type": "image_to_video", "image": {"upload_id": id}, "rights_confirmed": true});
    app.uploads.put("uploads/alice/good", png(640, 480));
    app.uploads.put("uploads/alice/tiny", png(200, 200));
    app.uploads.put("uploads/alice/thin", png(3000, 400));
    app.uploads.put(
        "uploads/alice/junk",
        b"GIF89a not an image we take".to_vec(),
    );
    app.uploads
        .put("uploads/alice/broken", b"\x89PNG\r\n\x1a\n".to_vec());
    let cases = [
        ("missing", "upload_not_found"),
        ("tiny", "image_too_small"),
        ("thin", "image_aspect_ratio"),
        ("junk", "unsupported_image_type"),
        ("broken", "unreadable_image"),
    ];
    for (id, code) in cases {
        assert_error(&send(&app, create(i2v(id))).await, 422, code);
    }
    let (status, _, task) = send(&app, create(i2v("good"))).await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap();
    let stored = app.store.get_task(id).await.unwrap().unwrap();
    let image = stored.request.unwrap().image.unwrap();
    assert!(
        image.starts_with("https://memory.invalid/uploads/alice/good"),
        "{image}"
    );
}

#[tokio::test]
async fn image_urls_must_be_https_and_public() {
    let app = app();
    let i2v = |url: &str| json!({"type": "image_to_video", "image": {"url": url}, "rights_confirmed": true});
    let cases = [
        ("http://8.8.8.8/a.png", "image_url_not_https"),
        ("https://10.0.0.7/a.png", "image_url_not_public"),
        ("https://127.0.0.1/a.png", "image_url_not_public"),
        (
            "https://no-such-host.invalid/a.png",
            "image_url_unresolvable",
        ),
    ];
    for (url, code) in cases {
        assert_error(&send(&app, create(i2v(url))).await, 422, code);
    }
}

#[tokio::test]
async fn unknown_routes_and_big_bodies() {
    let app = app();
    assert_error(
        &send(&app, HttpEvent::new("PUT", "/v1/videos")).await,
        404,
        "route_not_found",
    );
    let big = create(t2v()).raw_body("x".repeat(2 * 1024 * 1024));
    assert_error(&send(&app, big).await, 413, "body_too_large");
}

#[tokio::test]
async fn the_idempotency_header_is_required_and_checked() {
    let app = app();
    let none = HttpEvent::new("POST", "/v1/videos").json(t2v());
    assert_error(&send(&app, none).await, 400, "idempotency_key_required");
    let bad = HttpEvent::new("POST", "/v1/videos")
        .header("idempotency-key", &"k".repeat(300))
        .json(t2v());
    assert_error(&send(&app, bad).await, 400, "invalid_idempotency_key");
}

/// One test per way a body is malformed or invalid: the status and the stable code.
macro_rules! refused {
    ($($name:ident: $body:expr => $status:expr, $code:expr;)*) => {$(
        #[tokio::test]
        async fn $name() {
            let app = app();
            let event = HttpEvent::new("POST", "/v1/videos")
                .header("idempotency-key", stringify!($name))
                .raw_body($body);
            assert_error(&send(&app, event).await, $status, $code);
            assert_eq!(app.provider.submit_count(), 0);
            assert_eq!(app.store.ledger_sum("alice"), (0, 0));
        }
    )*};
}

refused! {
    not_json: "{nope" => 400, "malformed_request";
    unknown_field: r#"{"type":"text_to_video","prompt":"p","colour":"red"}"# => 400, "malformed_request";
    empty_body: "" => 400, "malformed_request";
    type_missing: r#"{"prompt":"p"}"# => 422, "type_required";
    type_wrong: r#"{"type":"gif","prompt":"p"}"# => 422, "invalid_type";
    prompt_missing: r#"{"type":"text_to_video"}"# => 422, "prompt_required";
    prompt_not_text: r#"{"type":"text_to_video","prompt":7}"# => 422, "invalid_prompt";
    prompt_long: &format!(r#"{{"type":"text_to_video","prompt":"{}"}}"#, "a".repeat(2501)) => 422, "prompt_too_long";
    negative_not_text: r#"{"type":"text_to_video","prompt":"p","negative_prompt":[]}"# => 422, "invalid_negative_prompt";
    negative_long: &format!(r#"{{"type":"text_to_video","prompt":"p","negative_prompt":"{}"}}"#, "a".repeat(2501)) => 422, "negative_prompt_too_long";
    duration_odd: r#"{"type":"text_to_video","prompt":"p","duration":16}"# => 422, "invalid_duration";
    audio_odd: r#"{"type":"text_to_video","prompt":"p","audio":"loud"}"# => 422, "invalid_audio";
    shots_odd: r#"{"type":"text_to_video","shots":[{"prompt":"a"}]}"# => 422, "invalid_shots";
    shots_seven: &format!(r#"{{"type":"text_to_video","duration":7,"shots":[{}]}}"#, [r#"{"prompt":"a","duration":1}"#; 7].join(",")) => 422, "too_many_shots";
    shots_short: r#"{"type":"text_to_video","duration":10,"shots":[{"prompt":"a","duration":4},{"prompt":"b","duration":4}]}"# => 422, "shots_duration_mismatch";
    seed_odd: r#"{"type":"text_to_video","prompt":"p","seed":-3}"# => 422, "invalid_seed";
    elements_odd: r#"{"type":"text_to_video","prompt":"p","element_ids":[7]}"# => 422, "invalid_element_ids";
    elements_four: r#"{"type":"text_to_video","prompt":"p","element_ids":["a","b","c","d"]}"# => 422, "too_many_elements";
    shot_moderated: r#"{"type":"text_to_video","duration":5,"shots":[{"prompt":"a calm lake","duration":2},{"prompt":"a graphic beheading scene","duration":3}]}"# => 422, "content_policy_violation";
    aspect_odd: r#"{"type":"text_to_video","prompt":"p","aspect_ratio":"4:3"}"# => 422, "invalid_aspect_ratio";
    aspect_on_image: r#"{"type":"image_to_video","aspect_ratio":"1:1","image":{"upload_id":"a"},"rights_confirmed":true}"# => 422, "aspect_ratio_not_supported";
    quality_odd: r#"{"type":"text_to_video","prompt":"p","quality":"ultra"}"# => 422, "invalid_quality";
    model_empty: r#"{"type":"text_to_video","prompt":"p","model":""}"# => 422, "invalid_model";
    model_unknown: r#"{"type":"text_to_video","prompt":"p","model":"kling-v9"}"# => 422, "unknown_model";
    cfg_out_of_range: r#"{"type":"text_to_video","prompt":"p","cfg_scale":2}"# => 422, "invalid_cfg_scale";
    camera_odd: r#"{"type":"text_to_video","prompt":"p","camera_control":{"type":"spin"}}"# => 422, "invalid_camera_control";
    image_missing: r#"{"type":"image_to_video","prompt":"p"}"# => 422, "image_required";
    image_on_text: r#"{"type":"text_to_video","prompt":"p","image":{"upload_id":"a"}}"# => 422, "image_not_supported";
    image_shape: r#"{"type":"image_to_video","image":"a.png"}"# => 422, "invalid_image";
    upload_id_odd: r#"{"type":"image_to_video","image":{"upload_id":"../x"}}"# => 422, "invalid_upload_id";
    image_url_odd: r#"{"type":"image_to_video","image":{"url":"not a url"}}"# => 422, "invalid_image_url";
    consent_missing: r#"{"type":"image_to_video","image":{"upload_id":"a"}}"# => 422, "consent_required";
    consent_odd: r#"{"type":"image_to_video","image":{"upload_id":"a"},"rights_confirmed":"yes"}"# => 422, "invalid_rights_confirmed";
    moderated: r#"{"type":"text_to_video","prompt":"a graphic beheading scene"}"# => 422, "content_policy_violation";
}

/// A negative prompt lists what to keep out: naming "nudity, gore" there is asking for
/// safety, neither refused nor counted; and it cannot exempt a word of the prompt.
#[tokio::test]
async fn negative_prompts_are_not_violations_and_smuggle_nothing() {
    let app = app();
    for _ in 0..4 {
        let body = json!({"type": "text_to_video", "prompt": "a calm lake at dawn",
            "negative_prompt": "blurry, nudity, gore, a graphic beheading scene"});
        let (status, _, task) = send(&app, create(body)).await;
        assert_eq!(status, 202, "{task}");
        let id = task["id"].as_str().unwrap();
        app.provider
            .set(id, shared::provider::JobStatus::Failed, None, None);
        use shared::ports::Tasks;
        let patch = shared::domain::state::TaskPatch::default();
        app.store
            .apply(id, shared::domain::state::TaskEvent::Failed, patch)
            .await
            .unwrap();
    }
    let account = app.store.account("alice", "any").await.unwrap();
    assert!(account.violations.is_empty() && account.suspended_until.is_none());
    // An allowed phrase in the negative prompt exempts nothing in the prompt.
    let smuggled = json!({"type": "text_to_video", "prompt": "a graphic beheading scene",
        "negative_prompt": "naked mole rat"});
    let got = send(&app, create(smuggled)).await;
    assert_error(&got, 422, "content_policy_violation");
    assert_eq!(got.2["error"]["field"], "prompt");
}

/// A create records the task, charged, waiting in line with the exact request the dispatcher
/// will submit, wakes the dispatcher and answers at once: the provider is not called here.
#[tokio::test]
async fn a_create_records_charges_queues_and_answers_202_at_once() {
    let app = app();
    let (status, headers, task) = send(&app, create(t2v()).plan("pro")).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(
        (task["status"].as_str(), task["label"].as_str()),
        (Some("CREATED"), Some("Waiting"))
    );
    assert!(headers.contains_key("ratelimit"));
    assert_eq!(
        app.provider.submit_count(),
        0,
        "the provider is never called by create"
    );
    assert_eq!(
        app.dispatch.nudges.lock().unwrap().len(),
        1,
        "the dispatcher was woken"
    );
    let id = task["id"].as_str().unwrap();
    let stored = app.store.get_task(id).await.unwrap().unwrap();
    assert_eq!((stored.priority, stored.provider.as_str()), (0, "fake"));
    assert!(stored.queue_deadline.is_some());
    let request = stored.request.unwrap();
    assert_eq!(request.task_id, id);
    let callback = request.callback_url.unwrap();
    assert!(callback.starts_with(&format!("https://api.example.com/webhooks/fake/{id}/")));
    assert_eq!(app.store.ledger_sum("alice"), (500, 0));
}

/// A lost nudge loses nothing: the task is recorded and the dispatcher's schedule finds it.
#[tokio::test]
async fn a_lost_nudge_still_records_the_task() {
    let app = app();
    app.dispatch.fail.store(true, Ordering::SeqCst);
    let (status, _, task) = send(&app, create(t2v())).await;
    assert_eq!((status, task["status"].as_str()), (202, Some("CREATED")));
}

/// The same key and body answer with the key's task, whatever it is doing; another body is
/// refused; nothing is charged twice.
#[tokio::test]
async fn the_same_key_replays_and_another_body_is_refused() {
    let app = app();
    let keyed = |body| HttpEvent {
        headers: vec![("idempotency-key".into(), "k-1".into())],
        ..create(body)
    };
    let (_, _, a) = send(&app, keyed(t2v())).await;
    let (status, _, b) = send(&app, keyed(t2v())).await;
    assert_eq!((status, &a["id"]), (202, &b["id"]));
    let other = json!({"type": "text_to_video", "prompt": "another prompt"});
    assert_error(
        &send(&app, keyed(other)).await,
        422,
        "idempotency_key_reused",
    );
    assert_eq!(app.store.ledger_sum("alice"), (500, 0), "charged once");
}

/// The plan is read on every request: an upgrade (a new token naming `pro`) takes effect at
/// once, so does a downgrade; an operator's plan on the account wins over the token.
#[tokio::test]
async fn plan_changes_take_effect_and_the_operators_plan_wins() {
    let app = app();
    let pro_quality = || {
        create(json!({"type": "text_to_video", "prompt": "a red fox in snow", "quality": "pro"}))
    };
    let steps = [
        (None, "free", 403),
        (None, "pro", 202),
        (None, "free", 403),
        (Some("pro"), "free", 202),
        (Some("free"), "pro", 403),
    ];
    for (i, (operator, token, want)) in steps.into_iter().enumerate() {
        if let Some(plan) = operator {
            app.store.set_plan("alice", plan);
        }
        let got = send(&app, pro_quality().plan(token)).await;
        assert_eq!(got.0, want, "step {i}: {}", got.2);
        if got.0 == 202 {
            // Free the free plan's one slot for the next step.
            let id = got.2["id"].as_str().unwrap();
            let failed = shared::domain::state::TaskEvent::Failed;
            let patch = shared::domain::state::TaskPatch::default();
            app.store.apply(id, failed, patch).await.unwrap();
        }
    }
}

/// A user can write their own custom attributes: a token whose `custom:plan` says pro gets the
/// default (free) plan, so pro quality is refused; the same user in the `plan:pro` group is not.
#[tokio::test]
async fn a_user_written_plan_claim_gets_the_default_plan() {
    let app = app();
    let mut event =
        create(json!({"type": "text_to_video", "prompt": "a lighthouse", "quality": "pro"}))
            .event();
    event["requestContext"]["authorizer"]["jwt"]["claims"]["custom:plan"] = json!("pro");
    let got = response_parts(handle(&app, request_from(&event.to_string())).await);
    assert_error(&got, 403, "quality_not_in_plan");
    let grouped =
        create(json!({"type": "text_to_video", "prompt": "a lighthouse", "quality": "pro"}))
            .plan("pro");
    let got = response_parts(handle(&app, grouped.request()).await);
    assert_eq!(got.0, 202, "{}", got.2);
}

type KlingApp = App<MemoryStore, shared::provider::kling::KlingProvider, MemoryBlobs, MemoryQueue>;

/// The same app with the real Kling adapter: its capability map runs in process (it needs no
/// I/O) and Kling's URL is never reached.
fn kling_app(surface: &str) -> KlingApp {
    let env = HashMap::from([
        ("KLING_API_STYLE", surface),
        ("KLING_ACCESS_KEY", "ak"),
        ("KLING_SECRET_KEY", "sk"),
        ("KLING_API_KEY", "key"),
        ("KLING_BASE_URL", "http://127.0.0.1:9"),
        ("KLING_PRESET_PRO", "kling-v3:pro"),
    ]);
    let cfg = shared::provider::kling::KlingConfig::from_source(&env).unwrap();
    with_provider(shared::provider::kling::KlingProvider::new(&cfg).unwrap())
}

/// The test app's ports with a real provider adapter.
fn with_provider<P>(provider: P) -> App<MemoryStore, P, MemoryBlobs, MemoryQueue> {
    let base = app();
    App {
        store: base.store,
        provider,
        uploads: base.uploads,
        dispatch: base.dispatch,
        auth: base.auth,
        webhook: base.webhook,
        plans: base.plans,
        moderation: base.moderation,
        upload_policy: base.upload_policy,
        templates: base.templates,
    }
}

/// What Kling's map does not offer is named, refused before any charge, on either surface;
/// the same requests on kling-v3 are accepted and charged.
#[tokio::test]
async fn kling_refusals_name_the_feature_and_cost_nothing() {
    let shots = |n: usize, each: u32| {
        json!(
            (0..n)
                .map(|i| json!({"prompt": format!("shot {i}"), "duration": each}))
                .collect::<Vec<_>>()
        )
    };
    let on = |model: &str, extra: Value| {
        let mut b = json!({"type": "text_to_video", "prompt": "a lighthouse at dusk", "quality": "pro", "model": model});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let refused = [
        (
            on("kling-v2-5-turbo", json!({"audio": true})),
            "audio_not_supported",
        ),
        (
            on("kling-v2-6", json!({"duration": 12})),
            "duration_not_supported",
        ),
        (
            on("kling-v2-6", json!({"shots": shots(2, 5), "duration": 10})),
            "multi_shot_not_supported",
        ),
        (
            on("kling-v2-6", json!({"element_ids": ["el-1"]})),
            "elements_not_supported",
        ),
        (
            on("kling-v3", json!({"cfg_scale": 0.5})),
            "cfg_scale_not_supported",
        ),
    ];
    for surface in ["legacy", "standard"] {
        let mut app = kling_app(surface);
        if let Some(pro) = app.plans.plans.get_mut("pro") {
            pro.element_ids = vec!["el-1".into(), "el-2".into()];
        }
        for (body, code) in &refused {
            let got =
                response_parts(handle(&app, create(body.clone()).plan("pro").request()).await);
            assert_error(&got, 422, code);
        }
        assert_eq!(
            app.store.ledger_sum("alice"),
            (0, 0),
            "nothing charged on {surface}"
        );
        // Frames need uploads or public URLs to create; the estimate names the refusal alike.
        let ends = json!({"type": "image_to_video", "image": {"upload_id": "a"},
            "image_tail": {"upload_id": "b"}, "rights_confirmed": true, "model": "kling-v2-5-turbo"});
        let event = HttpEvent::new("POST", "/v1/videos/estimate")
            .json(ends)
            .plan("pro");
        let (status, _, estimate) = response_parts(handle(&app, event.request()).await);
        assert_eq!(
            (status, &estimate["reasons"][0]["code"]),
            (200, &json!("unsupported_combination"))
        );
        for body in [
            on("kling-v3", json!({"audio": true, "duration": 12})),
            on(
                "kling-v3",
                json!({"shots": shots(6, 2), "duration": 12, "element_ids": ["el-1", "el-2"]}),
            ),
        ] {
            let got = response_parts(handle(&app, create(body).plan("pro").request()).await);
            assert_eq!(got.0, 202, "{}", got.2);
        }
    }
    let legacy = kling_app("legacy");
    let turbo = on("kling-3.0-turbo", json!({}));
    let mut plans = legacy.plans.clone();
    if let Some(pro) = plans.plans.get_mut("pro") {
        pro.model_overrides.push("kling-3.0-turbo".into());
    }
    let legacy = KlingApp { plans, ..legacy };
    let got = response_parts(handle(&legacy, create(turbo).plan("pro").request()).await);
    assert_error(&got, 422, "model_not_available");
}

fn from_template(user: &str, template: Value) -> HttpEvent {
    create(json!({"type": "text_to_video", "duration": 5, "template": template}))
        .user(Some(user))
        .plan("pro")
}

fn mug_fields() -> Value {
    json!({"product": "a ceramic mug", "setting": "a sunny kitchen counter", "mood": "calm"})
}

/// Used twice at version 1, edited (version 2 published), then version 1 asked for again: the
/// tasks record their versions, and the old version makes the same prompt byte for byte.
#[tokio::test]
async fn a_template_version_makes_the_same_prompt_again_after_an_edit() {
    use shared::ports::TemplateStore;
    let app = app();
    let latest = json!({"id": "product-ad", "fields": mug_fields()});
    let first = send(&app, from_template("u1", latest.clone())).await;
    let second = send(&app, from_template("u2", latest.clone())).await;
    for got in [&first, &second] {
        assert_eq!(got.0, 202, "{}", got.2);
        assert_eq!(got.2["template"]["version"], 1);
    }
    let v1_prompt = first.2["prompt"].as_str().unwrap().to_string();
    assert_eq!(second.2["prompt"], v1_prompt);
    assert!(
        v1_prompt.starts_with("a ceramic mug on a clean pedestal slowly rotating"),
        "{v1_prompt}"
    );
    assert!(
        v1_prompt.contains("a sunny kitchen counter. Camera: smooth orbit"),
        "{v1_prompt}"
    );

    let mut edited = shared::domain::templates::from_source(&HashMap::<&str, &str>::new())
        .unwrap()
        .into_iter()
        .find(|t| t.id == "product-ad")
        .unwrap();
    edited.version = 2;
    edited.frame.style = Some("bold pop-art colours".into());
    assert!(app.store.publish_template(&edited).await.unwrap());
    assert!(
        !app.store.publish_template(&edited).await.unwrap(),
        "a version is published once"
    );

    let third = send(&app, from_template("u3", latest)).await;
    assert_eq!(third.2["template"]["version"], 2);
    assert!(
        third.2["prompt"]
            .as_str()
            .unwrap()
            .ends_with("Style: bold pop-art colours.")
    );
    let rerun = json!({"id": "product-ad", "version": 1, "fields": mug_fields()});
    let again = send(&app, from_template("u4", rerun)).await;
    assert_eq!(again.2["template"], first.2["template"]);
    assert_eq!(
        again.2["prompt"].as_str().unwrap().as_bytes(),
        v1_prompt.as_bytes()
    );
    // The stored task keeps the version, the fields and the exact prompt sent.
    let id = again.2["id"].as_str().unwrap();
    let task = app.store.get_task(id).await.unwrap().unwrap();
    let used = task.template.unwrap();
    assert_eq!((used.id.as_str(), used.version), ("product-ad", 1));
    assert_eq!(
        task.request.unwrap().prompt.as_deref(),
        Some(v1_prompt.as_str())
    );
}

#[tokio::test]
async fn prompt_parts_compose_the_prompt() {
    let app = app();
    let parts = json!({"subject": "a red fox", "action": "leaps over a frozen stream",
        "camera": "low tracking shot", "style": "nature documentary"});
    let body = json!({"type": "text_to_video", "duration": 5, "prompt_parts": parts});
    let got = send(&app, create(body)).await;
    assert_eq!(got.0, 202, "{}", got.2);
    assert_eq!(
        got.2["prompt"],
        "a red fox leaps over a frozen stream. Camera: low tracking shot. Style: nature documentary."
    );
}

#[tokio::test]
async fn bad_template_and_prompt_parts_requests_get_their_codes_and_charge_nothing() {
    let app = app();
    let t2v = |extra: Value| {
        let mut body = json!({"type": "text_to_video", "duration": 5});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        create(body)
    };
    let mug = json!({"id": "product-ad", "fields": mug_fields()});
    let cases = [
        (
            t2v(json!({"prompt": "a fox", "template": mug})),
            "conflicting_prompt",
        ),
        (
            t2v(json!({"prompt": "a fox", "prompt_parts": {"subject": "a fox"}})),
            "conflicting_prompt",
        ),
        (
            t2v(json!({"prompt_parts": {"camera": "close-up"}})),
            "invalid_prompt_parts",
        ),
        (t2v(json!({"template": {"fields": {}}})), "invalid_template"),
        (
            t2v(json!({"template": {"id": "product-ad", "fields": {}, "extra": 1}})),
            "invalid_template",
        ),
        (
            t2v(json!({"template": {"id": "no-such-template"}})),
            "unknown_template",
        ),
        (
            t2v(json!({"template": {"id": "product-ad", "version": 9, "fields": mug_fields()}})),
            "unknown_template",
        ),
        // travel-reel is for the pro plan; alice is on free.
        (
            t2v(
                json!({"template": {"id": "travel-reel", "fields": {"place": "Lisbon", "time_of_day": "night"}}}),
            ),
            "unknown_template",
        ),
        (
            t2v(json!({"template": {"id": "product-ad", "fields": {"product": "a mug"}}})),
            "invalid_template_fields",
        ),
        (
            create(json!({"type": "text_to_video", "duration": 3, "template": mug})),
            "template_setting_not_allowed",
        ),
    ];
    for (event, code) in cases {
        let got = send(&app, event).await;
        assert_error(&got, 422, code);
    }
    assert_eq!(app.store.ledger_sum("alice"), (0, 0));
}

#[tokio::test]
async fn templates_are_listed_for_the_callers_plan_at_their_newest_version() {
    use shared::ports::TemplateStore;
    let app = app();
    let ids = |got: &(u16, http::HeaderMap, Value)| -> Vec<(String, u64)> {
        got.2["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_str().unwrap().to_string(),
                    t["version"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let free = send(&app, HttpEvent::new("GET", "/v1/templates")).await;
    assert_eq!(free.0, 200, "{}", free.2);
    assert_eq!(
        ids(&free),
        [("pet-lion".to_string(), 1), ("product-ad".to_string(), 1)]
    );
    assert_eq!(free.2["items"][0]["kind"], "effect");
    assert_eq!(free.2["items"][1]["cacheable"], true);
    let mut edited =
        shared::domain::templates::from_source(&HashMap::<&str, &str>::new()).unwrap()[1].clone();
    edited.version = 3;
    app.store.publish_template(&edited).await.unwrap();
    let pro = send(&app, HttpEvent::new("GET", "/v1/templates").plan("pro")).await;
    assert_eq!(
        ids(&pro),
        [
            ("pet-lion".to_string(), 1),
            ("product-ad".to_string(), 1),
            ("travel-reel".to_string(), 3)
        ]
    );
    let anonymous = send(&app, HttpEvent::new("GET", "/v1/templates").user(None)).await;
    assert_error(&anonymous, 401, "unauthenticated");
}

fn variations(n: Value, key: &str) -> HttpEvent {
    HttpEvent::new("POST", "/v1/videos")
        .header("idempotency-key", key)
        .plan("pro")
        .json(json!({"type": "text_to_video", "prompt": "a kite over dunes", "duration": 5, "variations": n}))
}

#[tokio::test]
async fn variations_make_one_task_each_with_its_own_seed_and_charge_and_replay_as_a_group() {
    let app = app();
    let got = send(&app, variations(json!(3), "vary-1")).await;
    assert_eq!(got.0, 202, "{}", got.2);
    let group = got.2["group_id"].as_str().unwrap().to_string();
    let items = got.2["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 3);
    let seeds: std::collections::BTreeSet<u64> =
        items.iter().map(|t| t["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds.len(), 3, "distinct seeds");
    assert!(items.iter().all(|t| t["group_id"] == group.as_str()));
    let cost = (items[0]["cost_units"].as_f64().unwrap() * 100.0).round() as u64;
    assert_eq!(
        app.store.ledger_sum("alice"),
        (3 * cost, 0),
        "one charge per variation"
    );
    // The same key again: the same three tasks, nothing charged twice.
    let again = send(&app, variations(json!(3), "vary-1")).await;
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids(&again.2), ids(&got.2));
    assert_eq!(app.store.ledger_sum("alice"), (3 * cost, 0));
    // A seed given: the variations count up from it.
    let seeded = send(
        &app,
        HttpEvent::new("POST", "/v1/videos").header("idempotency-key", "vary-2").user(Some("bob")).plan("pro")
            .json(json!({"type": "text_to_video", "prompt": "a kite", "duration": 5, "variations": 2, "seed": 41})),
    )
    .await;
    let seeds: Vec<u64> = seeded.2["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["seed"].as_u64().unwrap())
        .collect();
    assert_eq!(seeds, [41, 42]);
}

#[tokio::test]
async fn variations_beyond_the_plan_are_refused_before_any_charge() {
    let app = app();
    let free = HttpEvent::new("POST", "/v1/videos")
        .header("idempotency-key", "vary-free")
        .json(json!({"type": "text_to_video", "prompt": "a kite", "duration": 5, "variations": 2}));
    assert_error(&send(&app, free).await, 422, "too_many_variations");
    assert_error(
        &send(&app, variations(json!(5), "vary-5")).await,
        422,
        "too_many_variations",
    );
    // The edge: the pro plan's most variations fill its tasks in flight exactly; with those
    // in flight, one more is a 429 and nothing more is charged.
    assert_error(
        &send(&app, variations(json!(4), "vary-4")).await,
        422,
        "too_many_variations",
    );
    let got = send(&app, variations(json!(3), "vary-3")).await;
    assert_eq!(got.0, 202, "{got:?}");
    let charged = app.store.ledger_sum("alice");
    let got = send(&app, variations(json!(2), "vary-2")).await;
    assert_error(&got, 429, "concurrency_limit");
    assert_eq!(app.store.ledger_sum("alice"), charged);
    for bad in [json!(0), json!(9), json!("3"), json!(2.5)] {
        assert_error(
            &send(&app, variations(bad, "vary-bad")).await,
            422,
            "invalid_variations",
        );
    }
    assert_eq!(app.store.ledger_sum("alice").1, 0, "nothing refunded");
}

/// Mark a task succeeded with a stored video, as finalize would.
fn succeed(app: &TestApp, id: &str) -> shared::domain::task::Task {
    let mut task = stored_task(app, id);
    task.status = shared::domain::task::TaskStatus::Succeeded;
    task.video = Some(shared::domain::task::StoredVideo {
        key: format!("videos/{}/{id}.mp4", task.user_id),
        bytes: 1000,
        sha256: "ab".repeat(32),
        content_type: "video/mp4".into(),
        duration_seconds: Some(5.0),
        width: Some(1280),
        height: Some(720),
        poster: None,
    });
    app.store.insert_task(task.clone());
    task
}

fn stored_task(app: &TestApp, id: &str) -> shared::domain::task::Task {
    let rt = tokio::runtime::Handle::current();
    tokio::task::block_in_place(|| rt.block_on(app.store.get_task(id)))
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_cacheable_template_asked_again_reuses_the_stored_video_at_no_cost() {
    let app = app();
    let ask = |key: &str, extra: Value| {
        let mut body = json!({"type": "text_to_video", "duration": 5,
            "template": {"id": "product-ad", "fields": mug_fields()}});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        HttpEvent::new("POST", "/v1/videos")
            .header("idempotency-key", key)
            .plan("pro")
            .json(body)
    };
    let first = send(&app, ask("cache-1", json!({}))).await;
    assert_eq!(first.0, 202, "{}", first.2);
    let first_id = first.2["id"].as_str().unwrap().to_string();
    // Still in progress: nothing to reuse yet, so a second request is made afresh.
    let early = send(&app, ask("cache-2", json!({}))).await;
    assert!(early.2["cached_from"].is_null(), "{}", early.2);
    let early_id = early.2["id"].as_str().unwrap().to_string();
    let source = succeed(&app, &early_id);
    succeed(&app, &first_id);
    let charged = app.store.ledger_sum("alice").0;

    let hit = send(&app, ask("cache-3", json!({}))).await;
    assert_eq!(hit.0, 202, "{}", hit.2);
    assert_eq!(hit.2["cached_from"], early_id.as_str());
    assert_eq!(
        (hit.2["status"].as_str(), hit.2["cost_units"].as_f64()),
        (Some("SUCCEEDED"), Some(0.0))
    );
    let stored = app
        .store
        .get_task(hit.2["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.video.unwrap().key,
        source.video.unwrap().key,
        "the same stored object"
    );
    assert_eq!(app.store.ledger_sum("alice").0, charged, "nothing charged");
    // The same key again replays the cached answer.
    let replayed = send(&app, ask("cache-3", json!({}))).await;
    assert_eq!(replayed.2["id"], hit.2["id"]);
    // fresh: true asks the provider; other fields are another request.
    let fresh = send(&app, ask("cache-4", json!({"fresh": true}))).await;
    assert!(fresh.2["cached_from"].is_null() && fresh.2["cost_units"].as_f64() > Some(0.0));
    let other = send(
        &app,
        ask(
            "cache-5",
            json!({"template": {"id": "product-ad",
        "fields": {"product": "a teapot", "setting": "a sunny kitchen counter", "mood": "calm"}}}),
        ),
    )
    .await;
    assert_eq!(
        other.0, 429,
        "a new request, charged like any (the plan's 3 slots are taken)"
    );
    let bad = send(&app, ask("cache-6", json!({"fresh": "yes"}))).await;
    assert_error(&bad, 422, "invalid_request");
}

fn upgrade(id: &str, key: &str, body: Option<Value>) -> HttpEvent {
    let event = HttpEvent::new("POST", format!("/v1/videos/{id}/upgrade"))
        .header("idempotency-key", key)
        .plan("pro");
    match body {
        Some(b) => event.json(b),
        None => event,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_finished_draft_is_re_run_at_a_higher_quality_as_a_new_priced_task() {
    let app = app();
    let draft_body = json!({"type": "text_to_video", "prompt": "a lantern drifting on a lake at night",
        "duration": 5, "quality": "draft", "seed": 1234, "aspect_ratio": "9:16"});
    let draft = send(&app, create(draft_body).plan("pro")).await;
    assert_eq!(draft.0, 202, "{}", draft.2);
    let id = draft.2["id"].as_str().unwrap().to_string();
    let in_progress = send(&app, upgrade(&id, "up-0", None)).await;
    assert_error(&in_progress, 409, "cannot_upgrade");
    succeed(&app, &id);

    let up = send(&app, upgrade(&id, "up-1", None)).await;
    assert_eq!(up.0, 202, "{}", up.2);
    assert_eq!(up.2["upgraded_from"], id.as_str());
    assert_eq!(up.2["quality"], "pro");
    for field in ["prompt", "seed", "aspect_ratio", "duration", "type"] {
        assert_eq!(up.2[field], draft.2[field], "{field}");
    }
    assert!(
        up.2["cost_units"].as_f64() > draft.2["cost_units"].as_f64(),
        "priced at the new quality"
    );
    assert_ne!(up.2["id"], draft.2["id"]);
    let replay = send(&app, upgrade(&id, "up-1", None)).await;
    assert_eq!(replay.2["id"], up.2["id"]);
    let standard = send(
        &app,
        upgrade(&id, "up-2", Some(json!({"quality": "standard"}))),
    )
    .await;
    assert_eq!(
        (standard.0, standard.2["quality"].as_str()),
        (202, Some("standard"))
    );

    assert_error(
        &send(
            &app,
            upgrade(&id, "up-3", Some(json!({"quality": "draft"}))),
        )
        .await,
        422,
        "invalid_quality",
    );
    assert_error(
        &send(
            &app,
            upgrade(&id, "up-4", Some(json!({"quality": "ultra"}))),
        )
        .await,
        400,
        "malformed_request",
    );
    let not_mine = upgrade(&id, "up-5", None).user(Some("mallory"));
    assert_error(&send(&app, not_mine).await, 404, "not_found");
    let no_key = HttpEvent::new("POST", format!("/v1/videos/{id}/upgrade")).plan("pro");
    assert_error(&send(&app, no_key).await, 400, "idempotency_key_required");
}

/// An upgrade of a draft made from a template keeps to that version's limits: a version that
/// offers no pro quality refuses the pro upgrade by name, and nothing is charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn an_upgrade_keeps_to_the_templates_own_limits() {
    use shared::ports::TemplateStore;
    let app = app();
    let mut limited = shared::domain::templates::from_source(&HashMap::<&str, &str>::new())
        .unwrap()
        .remove(0);
    limited.version = 2;
    limited.qualities = vec![
        shared::domain::task::Quality::Draft,
        shared::domain::task::Quality::Standard,
    ];
    app.store.publish_template(&limited).await.unwrap();
    let draft = send(
        &app,
        create(
            json!({"type": "text_to_video", "duration": 5, "quality": "draft",
            "template": {"id": "product-ad", "version": 2, "fields": mug_fields()}}),
        )
        .user(Some("tpl-1"))
        .plan("pro"),
    )
    .await;
    assert_eq!(
        (draft.0, &draft.2["template"]["version"]),
        (202, &json!(2)),
        "{}",
        draft.2
    );
    let id = draft.2["id"].as_str().unwrap().to_string();
    succeed(&app, &id);
    let spent = app.store.ledger_sum("tpl-1");
    let pro = send(&app, upgrade(&id, "tpl-up-1", None).user(Some("tpl-1"))).await;
    assert_error(&pro, 422, "template_setting_not_allowed");
    assert_eq!(pro.2["error"]["field"], "quality");
    assert_eq!(app.store.ledger_sum("tpl-1"), spent, "nothing charged");
    let standard = send(
        &app,
        upgrade(&id, "tpl-up-2", Some(json!({"quality": "standard"}))).user(Some("tpl-1")),
    )
    .await;
    assert_eq!(
        standard.0, 202,
        "the template offers standard: {}",
        standard.2
    );
}

#[tokio::test]
async fn a_published_version_whose_slots_and_frame_disagree_is_ignored() {
    use shared::ports::TemplateStore;
    let app = app();
    let mut broken = shared::domain::templates::from_source(&HashMap::<&str, &str>::new())
        .unwrap()
        .remove(0);
    broken.version = 2;
    broken.frame.style = Some("{nowhere}".into());
    app.store.publish_template(&broken).await.unwrap();
    let got = send(
        &app,
        from_template("u9", json!({"id": "product-ad", "fields": mug_fields()})),
    )
    .await;
    assert_eq!(got.2["template"]["version"], 1, "{}", got.2);
}

/// An effect is checked by its own rules: the body's shape at validation, the surface and the
/// scene by the catalogue (named in the estimate), and nothing is charged.
#[tokio::test]
async fn effects_are_refused_by_name_and_cost_nothing() {
    let fx = |extra: Value| {
        let mut b = json!({"type": "effect", "scene": "pet_lion_pro",
            "image": {"upload_id": "a"}, "rights_confirmed": true});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let app = kling_app("legacy");
    let invalid = [
        (fx(json!({"prompt": "a lion"})), "field_not_for_kind"),
        (fx(json!({"scene": null})), "scene_required"),
        (fx(json!({"scene": "Lion!"})), "invalid_scene"),
    ];
    for (body, code) in invalid {
        let got = response_parts(handle(&app, create(body).plan("pro").request()).await);
        assert_error(&got, 422, code);
    }
    let estimates = [
        (
            "legacy",
            fx(json!({"scene": "hug_pro"})),
            "scene_not_available",
        ),
        ("standard", fx(json!({})), "kind_not_available"),
    ];
    for (surface, body, code) in estimates {
        let app = kling_app(surface);
        let event = HttpEvent::new("POST", "/v1/videos/estimate")
            .json(body)
            .plan("pro");
        let (status, _, estimate) = response_parts(handle(&app, event.request()).await);
        assert_eq!(
            (status, &estimate["reasons"][0]["code"]),
            (200, &json!(code)),
            "{surface}: {estimate}"
        );
        assert_eq!(app.store.ledger_sum("alice"), (0, 0));
    }
}

/// One of the caller's finished videos, of this length, made by Kling `days_ago`.
fn stored_source(id: &str, user: &str, seconds: f64, days_ago: u64) -> shared::domain::task::Task {
    let mut t = shared::testing::task_fixture(id, user, "kling");
    t.status = shared::domain::task::TaskStatus::Succeeded;
    t.completed_at = Some(
        shared::domain::timestamp::Timestamp::now() - Duration::from_secs(days_ago * 24 * 3600),
    );
    t.provider_facts.video_id = Some(format!("kv-{id}"));
    t.video = Some(shared::domain::task::StoredVideo {
        key: format!("videos/{user}/{id}.mp4"),
        bytes: 1000,
        sha256: "00".into(),
        content_type: "video/mp4".into(),
        duration_seconds: Some(seconds),
        width: Some(1280),
        height: Some(720),
        poster: None,
    });
    t
}

fn sound_for(id: &str) -> Value {
    json!({"type": "video_to_audio", "source": {"video_id": id}, "prompt": "rain on a tin roof"})
}

/// Sound for a video: priced by the source's own length, Kling's id while it keeps the video and
/// our copy's URL always; anyone else's video is 404, one not stored or too long is refused by
/// name, and none of these refusals costs anything.
#[tokio::test]
async fn sound_for_a_video_follows_its_source_and_refuses_anyone_elses() {
    let app = kling_app("legacy");
    let mut waiting = stored_source("src-wait", "alice", 5.0, 0);
    waiting.status = shared::domain::task::TaskStatus::Queued;
    for t in [
        stored_source("src-new", "alice", 7.2, 1),
        stored_source("src-old", "alice", 5.0, 40),
        stored_source("src-long", "alice", 25.0, 1),
        stored_source("src-bob", "bob", 5.0, 1),
        waiting,
    ] {
        app.store.insert_task(t);
    }
    let before = app.store.ledger_sum("alice");
    let (status, _, task) = response_parts_of(&app, create(sound_for("src-new")).plan("pro")).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(
        (task["duration"].as_u64(), task["cost_units"].as_f64()),
        (Some(8), Some(8.0)),
        "7.2 s rounds up to 8 s at 1 unit a second"
    );
    assert_eq!(task["source_task"], "src-new");
    let id = task["id"].as_str().unwrap();
    let stored = app.store.get_task(id).await.unwrap().unwrap();
    let source = stored.request.unwrap().source.unwrap();
    assert_eq!(source.provider_video_id.as_deref(), Some("kv-src-new"));
    assert!(source.url.unwrap().contains("videos/alice/src-new.mp4"));

    let (status, _, old) = response_parts_of(&app, create(sound_for("src-old")).plan("pro")).await;
    assert_eq!(status, 202, "{old}");
    let old = app.store.get_task(old["id"].as_str().unwrap()).await;
    let source = old.unwrap().unwrap().request.unwrap().source.unwrap();
    assert_eq!(source.provider_video_id, None, "past Kling's 30 days");
    assert!(source.url.is_some(), "our copy goes by URL");
    let spent = app.store.ledger_sum("alice");

    let refused = [
        ("src-bob", 404, "not_found"),
        ("no-such", 404, "not_found"),
        ("src-wait", 422, "source_not_ready"),
        ("src-long", 422, "source_duration"),
    ];
    for (source, status, code) in refused {
        let got = response_parts_of(&app, create(sound_for(source)).plan("pro")).await;
        assert_error(&got, status, code);
        assert_eq!(got.2["error"]["field"], "source", "{}", got.2);
    }
    let malformed = [
        (json!({"type": "video_to_audio"}), "source_required"),
        (
            json!({"type": "video_to_audio", "source": "src-new"}),
            "invalid_source",
        ),
    ];
    for (body, code) in malformed {
        let got = response_parts_of(&app, create(body).plan("pro")).await;
        assert_error(&got, 422, code);
    }
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent,
        "refusals cost nothing"
    );
    assert_eq!(spent.0 - before.0, 800 + 500, "charged 8 s and 5 s");
    let standard = kling_app("standard");
    standard
        .store
        .insert_task(stored_source("s", "alice", 5.0, 1));
    let got = response_parts_of(&standard, create(sound_for("s")).plan("pro")).await;
    assert_error(&got, 422, "kind_not_available");
}

async fn response_parts_of<P: shared::provider::VideoProvider>(
    app: &App<MemoryStore, P, MemoryBlobs, MemoryQueue>,
    event: HttpEvent,
) -> (u16, http::HeaderMap, Value) {
    response_parts(handle(app, event.request()).await)
}

/// An MP4 of this many seconds, as provider-sim renders one.
fn mp4(seconds: u32) -> Vec<u8> {
    use provider_sim::video::{Aspect, Resolution, render};
    render(Aspect::Portrait, Resolution::P720, seconds).unwrap()
}

fn motion(source: &str, orientation: &str) -> Value {
    json!({"type": "motion_control", "image": {"upload_id": "photo"},
        "source": {"upload_id": source}, "orientation": orientation, "rights_confirmed": true})
}

/// Motion control: as long as its reference video (read from the file), priced per second × tier
/// × 1.3, the reference sent by URL; a reference that is not a real video, too long for the
/// orientation, or missing is refused by name with nothing charged.
#[tokio::test]
async fn motion_control_follows_its_reference_and_refuses_bad_media() {
    let app = kling_app("legacy");
    let six = mp4(6);
    app.uploads.put("uploads/alice/photo", png(640, 480));
    app.uploads.put("uploads/alice/six", six.clone());
    app.uploads.put("uploads/alice/twelve", mp4(12));
    app.uploads.put(
        "uploads/alice/junk",
        b"RIFF....WAVEfmt not a video".to_vec(),
    );
    app.uploads
        .put("uploads/alice/cut", six[..six.len() / 2].to_vec());
    let (status, _, task) =
        response_parts_of(&app, create(motion("six", "video")).plan("pro")).await;
    assert_eq!(status, 202, "{task}");
    let tier = if task["mode"] == "pro" { 1.6 } else { 1.0 };
    assert_eq!(task["duration"], 6, "the reference's length, from the file");
    let want = 6.0 * tier * 1.3;
    assert!(
        (task["cost_units"].as_f64().unwrap() - want).abs() < 0.01,
        "{task}"
    );
    let stored = app
        .store
        .get_task(task["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let request = stored.request.unwrap();
    assert!(
        request
            .source
            .unwrap()
            .url
            .unwrap()
            .contains("uploads/alice/six")
    );
    assert_eq!(
        request.orientation,
        Some(shared::domain::generation::Orientation::Video)
    );
    let spent = app.store.ledger_sum("alice");
    let (status, _, long) =
        response_parts_of(&app, create(motion("twelve", "video")).plan("pro")).await;
    assert_eq!(status, 202, "12 s keeping the video's orientation: {long}");
    let spent_twice = app.store.ledger_sum("alice");
    assert!(spent_twice.0 > spent.0);
    let refused = [
        (motion("twelve", "image"), "source_duration"),
        (motion("junk", "video"), "invalid_video"),
        (motion("cut", "video"), "invalid_video"),
        (motion("missing", "video"), "upload_not_found"),
        (motion("six", "sideways"), "invalid_orientation"),
    ];
    for (body, code) in refused {
        let got = response_parts_of(&app, create(body.clone()).plan("pro")).await;
        assert_error(&got, 422, code);
    }
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent_twice,
        "refusals cost nothing"
    );
}

fn avatar(voice: &str) -> Value {
    json!({"type": "avatar", "image": {"upload_id": "photo"}, "voice": {"upload_id": voice},
        "rights_confirmed": true})
}

/// An avatar: as long as its audio (read from the file), priced per second of it × tier × 1.5;
/// audio that is not audio, too long, or over 5 MB is refused by name with nothing charged.
#[tokio::test]
async fn an_avatar_follows_its_audio_and_refuses_bad_audio() {
    use shared::domain::audio_probe::wav;
    let app = kling_app("legacy");
    app.uploads.put("uploads/alice/photo", png(640, 480));
    app.uploads.put("uploads/alice/speech", wav(7.5));
    app.uploads.put("uploads/alice/long", wav(301.0));
    app.uploads
        .put("uploads/alice/noise", b"ID3 not really an mp3".to_vec());
    app.uploads
        .put("uploads/alice/cut", wav(4.0)[..8000].to_vec());
    let (status, _, task) = response_parts_of(&app, create(avatar("speech")).plan("pro")).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["duration"], 8, "7.5 s of audio rounds up to 8 s");
    let tier = if task["mode"] == "pro" { 1.6 } else { 1.0 };
    let want = 8.0 * tier * 1.5;
    assert!(
        (task["cost_units"].as_f64().unwrap() - want).abs() < 0.01,
        "{task}"
    );
    let stored = app
        .store
        .get_task(task["id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let voice = stored.request.unwrap().voice.unwrap();
    assert!(voice.url.contains("uploads/alice/speech") && voice.duration_seconds > 7.4);
    let spent = app.store.ledger_sum("alice");
    let refused = [
        ("long", "audio_duration"),
        ("noise", "invalid_audio"),
        ("cut", "invalid_audio"),
        ("missing", "upload_not_found"),
    ];
    for (voice, code) in refused {
        let got = response_parts_of(&app, create(avatar(voice)).plan("pro")).await;
        assert_error(&got, 422, code);
        assert_eq!(got.2["error"]["field"], "voice", "{}", got.2);
    }
    for (body, code) in [
        (
            json!({"type": "avatar", "image": {"upload_id": "photo"}, "rights_confirmed": true}),
            "voice_required",
        ),
        (
            json!({"type": "avatar", "image": {"upload_id": "photo"}, "voice": "speech", "rights_confirmed": true}),
            "invalid_voice",
        ),
    ] {
        assert_error(
            &response_parts_of(&app, create(body).plan("pro")).await,
            422,
            code,
        );
    }
    let upload = |bytes: u64| {
        HttpEvent::new("POST", "/v1/uploads")
            .json(json!({"content_type": "audio/mpeg", "bytes": bytes}))
    };
    let (status, _, grant) = response_parts_of(&app, upload(5_242_880)).await;
    assert_eq!(
        (status, grant["max_bytes"].as_u64()),
        (201, Some(5_242_880)),
        "{grant}"
    );
    assert_error(
        &response_parts_of(&app, upload(5_242_881)).await,
        422,
        "audio_too_large",
    );
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent,
        "refusals cost nothing"
    );
}

/// An effect template makes an effect of its scene from the caller's photo: the request names no
/// type (or the template's) and no scene of its own; another kind is refused by name.
#[tokio::test]
async fn an_effect_template_makes_its_scene_from_the_callers_photo() {
    let app = kling_app("legacy");
    app.uploads.put("uploads/alice/photo", png(640, 480));
    let body = |extra: Value| {
        let mut b = json!({"template": {"id": "pet-lion"}, "image": {"upload_id": "photo"},
            "rights_confirmed": true});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    for (n, extra) in [json!({}), json!({"type": "effect"})]
        .into_iter()
        .enumerate()
    {
        let (status, _, task) = response_parts_of(&app, create(body(extra)).plan("pro")).await;
        assert_eq!(status, 202, "{n}: {task}");
        assert_eq!(
            (task["type"].as_str(), task["scene"].as_str()),
            (Some("effect"), Some("pet_lion_pro"))
        );
        assert_eq!(task["template"]["id"], "pet-lion");
    }
    let spent = app.store.ledger_sum("alice");
    for (extra, field) in [
        (json!({"type": "image_to_video"}), "type"),
        (json!({"scene": "spring_bloom"}), "scene"),
    ] {
        let got = response_parts_of(&app, create(body(extra)).plan("pro")).await;
        assert_error(&got, 422, "template_kind_mismatch");
        assert_eq!(got.2["error"]["field"], field);
    }
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent,
        "refusals cost nothing"
    );
}

fn edit_of(source: Value) -> Value {
    json!({"type": "omni_edit", "source": source, "prompt": "make it snow",
        "rights_confirmed": true})
}

/// An Omni edit on the standard API: as long as its video (one of yours or an upload), priced
/// per second × tier, the video by URL (Kling's base video takes no id); anyone else's video is
/// 404, one too long or not a video is refused by name, `/v1` answers kind_not_available, and
/// none of these refusals costs anything.
#[tokio::test]
async fn an_omni_edit_follows_its_video_on_the_standard_api_only() {
    let app = kling_app("standard");
    for t in [
        stored_source("mine", "alice", 6.4, 1),
        stored_source("long", "alice", 16.2, 1),
        stored_source("bobs", "bob", 5.0, 1),
    ] {
        app.store.insert_task(t);
    }
    app.uploads.put("uploads/alice/clip", mp4(4));
    app.uploads
        .put("uploads/alice/junk", b"not a video at all".to_vec());
    let (status, _, task) = response_parts_of(
        &app,
        create(edit_of(json!({"video_id": "mine"}))).plan("pro"),
    )
    .await;
    assert_eq!(status, 202, "{task}");
    let tier = if task["mode"] == "pro" { 1.6 } else { 1.0 };
    assert_eq!(task["duration"], 7, "6.4 s rounds up to 7 s");
    let want = 7.0 * tier;
    assert!(
        (task["cost_units"].as_f64().unwrap() - want).abs() < 0.01,
        "{task}"
    );
    assert_eq!(task["source_task"], "mine");
    let stored = app.store.get_task(task["id"].as_str().unwrap()).await;
    let request = stored.unwrap().unwrap().request.unwrap();
    assert!(
        request
            .source
            .unwrap()
            .url
            .unwrap()
            .contains("videos/alice/mine.mp4")
    );
    let (status, _, upload) = response_parts_of(
        &app,
        create(edit_of(json!({"upload_id": "clip"}))).plan("pro"),
    )
    .await;
    assert_eq!((status, &upload["duration"]), (202, &json!(4)), "{upload}");
    let spent = app.store.ledger_sum("alice");
    let refused = [
        (edit_of(json!({"video_id": "bobs"})), 404, "not_found"),
        (edit_of(json!({"video_id": "long"})), 422, "source_duration"),
        (edit_of(json!({"upload_id": "junk"})), 422, "invalid_video"),
        (
            json!({"type": "omni_edit", "source": {"video_id": "mine"}, "rights_confirmed": true}),
            422,
            "prompt_required",
        ),
    ];
    for (body, status, code) in refused {
        let got = response_parts_of(&app, create(body).plan("pro")).await;
        assert_error(&got, status, code);
    }
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent,
        "refusals cost nothing"
    );
    let legacy = kling_app("legacy");
    legacy
        .store
        .insert_task(stored_source("mine", "alice", 6.4, 1));
    let got = response_parts_of(
        &legacy,
        create(edit_of(json!({"video_id": "mine"}))).plan("pro"),
    )
    .await;
    assert_error(&got, 422, "kind_not_available");
    assert_eq!(legacy.store.ledger_sum("alice").0, 0);
}

/// 4K: charged at the configured 4K tier (5 s × 5.0) on Kling's standard API with kling-v3;
/// `/v1` answers `resolution_not_supported`, the free plan `resolution_not_in_plan`, any other
/// value `invalid_resolution`, a kind without it `field_not_for_kind` — none charged.
#[tokio::test]
async fn four_k_is_priced_at_its_tier_where_offered_and_refused_by_name_elsewhere() {
    let uhd = |extra: Value| {
        let mut b = json!({"type": "text_to_video", "prompt": "a lighthouse at dusk",
            "model": "kling-v3", "quality": "pro", "resolution": "4k"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let app = kling_app("standard");
    let (status, _, task) =
        response_parts(handle(&app, create(uhd(json!({}))).plan("pro").request()).await);
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["cost_units"], 25.0, "5 s × the 4K tier 5.0");
    let stored = app.store.get_task(task["id"].as_str().unwrap()).await;
    assert!(stored.unwrap().unwrap().request.unwrap().four_k);
    let spent = app.store.ledger_sum("alice");
    let refused = [
        (
            uhd(json!({"resolution": "8k"})),
            "pro",
            "invalid_resolution",
        ),
        (
            json!({"type": "text_to_video", "prompt": "a lighthouse", "resolution": "4k"}),
            "free",
            "resolution_not_in_plan",
        ),
        (
            json!({"type": "video_to_audio", "source": {"video_id": "v"}, "resolution": "4k"}),
            "pro",
            "field_not_for_kind",
        ),
    ];
    for (body, plan, code) in refused {
        let got = response_parts(handle(&app, create(body).plan(plan).request()).await);
        assert!(got.0 == 422 || got.0 == 403, "{code}: {}", got.2);
        assert_eq!(got.2["error"]["code"], code, "{}", got.2);
    }
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent,
        "refusals cost nothing"
    );
    let legacy = kling_app("legacy");
    let got = response_parts(handle(&legacy, create(uhd(json!({}))).plan("pro").request()).await);
    assert_error(&got, 422, "resolution_not_supported");
    assert_eq!(got.2["error"]["field"], "resolution");
    assert_eq!(legacy.store.ledger_sum("alice"), (0, 0));
}

/// Element ids are the provider account's, not a user's: only those the plan lists may be
/// named (403 `element_not_in_plan` otherwise, nothing charged).
#[tokio::test]
async fn only_the_plans_elements_may_be_named() {
    let mut app = kling_app("standard");
    if let Some(pro) = app.plans.plans.get_mut("pro") {
        pro.element_ids = vec!["el-ours".into()];
    }
    let with = |ids: Value| {
        json!({"type": "text_to_video", "prompt": "our mascot waving", "model": "kling-v3",
            "quality": "pro", "element_ids": ids})
    };
    let theirs = response_parts(
        handle(
            &app,
            create(with(json!(["el-theirs"]))).plan("pro").request(),
        )
        .await,
    );
    assert_error(&theirs, 403, "element_not_in_plan");
    assert_eq!(app.store.ledger_sum("alice"), (0, 0), "nothing charged");
    let ours =
        response_parts(handle(&app, create(with(json!(["el-ours"]))).plan("pro").request()).await);
    assert_eq!(ours.0, 202, "{}", ours.2);
}

type FalApp = App<MemoryStore, shared::provider::fal::FalProvider, MemoryBlobs, MemoryQueue>;

/// The app with the real fal adapter (its checks need no I/O; fal's URL is never reached).
fn fal_app() -> FalApp {
    let env = HashMap::from([
        ("FAL_KEY", "local-fal-key"),
        ("FAL_QUEUE_URL", "http://127.0.0.1:9"),
        ("FAL_PRESET_PRO", "kling-v3:pro"),
    ]);
    let cfg = shared::provider::fal::FalConfig::from_source(&env).unwrap();
    with_provider(shared::provider::fal::FalProvider::new(&cfg).unwrap())
}

/// On fal an Omni edit is Kling O3's, which takes videos of 3-10 s: a 6.4 s video is charged
/// as on Kling, an 11.2 s one (fine on Kling's 3-15 s) is `source_duration` by name, estimated
/// and created alike, and costs nothing.
#[tokio::test]
async fn on_fal_an_omni_edit_takes_its_own_shorter_videos() {
    let app = fal_app();
    for t in [
        stored_source("mine", "alice", 6.4, 1),
        stored_source("long", "alice", 11.2, 1),
    ] {
        app.store.insert_task(t);
    }
    let (status, _, task) = response_parts_of(
        &app,
        create(edit_of(json!({"video_id": "mine"}))).plan("pro"),
    )
    .await;
    assert_eq!((status, &task["duration"]), (202, &json!(7)), "{task}");
    let stored = app.store.get_task(task["id"].as_str().unwrap()).await;
    let source = stored.unwrap().unwrap().request.unwrap().source.unwrap();
    assert!(
        source.url.unwrap().contains("videos/alice/mine.mp4"),
        "fal gets our copy"
    );
    let spent = app.store.ledger_sum("alice");
    let long = edit_of(json!({"video_id": "long"}));
    let got = response_parts_of(&app, create(long.clone()).plan("pro")).await;
    assert_error(&got, 422, "source_duration");
    assert_eq!(got.2["error"]["field"], "source", "{}", got.2);
    let event = HttpEvent::new("POST", "/v1/videos/estimate")
        .json(long)
        .plan("pro");
    let (status, _, estimate) = response_parts(handle(&app, event.request()).await);
    assert_eq!(
        (status, &estimate["reasons"][0]["code"]),
        (200, &json!("source_duration")),
        "{estimate}"
    );
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent,
        "refusals cost nothing"
    );
}

fn lip_sync_of(video: &str, voice: &str) -> Value {
    json!({"type": "lip_sync", "source": {"video_id": video}, "voice": {"upload_id": voice},
        "rights_confirmed": true})
}

/// A lip-sync: as long as its video (not its audio), priced per second of it; Kling's own id
/// for the video while it keeps it; anyone else's video is 404, audio or video outside 2-60 s
/// is refused by name, the standard API answers kind_not_available, and none of these costs
/// anything.
#[tokio::test]
async fn a_lip_sync_follows_its_video_and_refuses_bad_audio() {
    use shared::domain::audio_probe::wav;
    let app = kling_app("legacy");
    for t in [
        stored_source("mine", "alice", 6.4, 1),
        stored_source("long", "alice", 61.0, 1),
        stored_source("bobs", "bob", 5.0, 1),
    ] {
        app.store.insert_task(t);
    }
    app.uploads.put("uploads/alice/speech", wav(3.0));
    app.uploads.put("uploads/alice/speech-long", wav(61.0));
    let (status, _, task) =
        response_parts_of(&app, create(lip_sync_of("mine", "speech")).plan("pro")).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(
        task["duration"], 7,
        "the video's 6.4 s, not the audio's 3 s"
    );
    assert_eq!(
        task["cost_units"].as_f64(),
        Some(7.0),
        "per second, no tier"
    );
    let stored = app.store.get_task(task["id"].as_str().unwrap()).await;
    let request = stored.unwrap().unwrap().request.unwrap();
    assert_eq!(
        request.source.unwrap().provider_video_id.as_deref(),
        Some("kv-mine")
    );
    assert!(request.voice.unwrap().url.contains("uploads/alice/speech"));
    let spent = app.store.ledger_sum("alice");
    let refused = [
        (lip_sync_of("bobs", "speech"), 404, "not_found"),
        (lip_sync_of("long", "speech"), 422, "source_duration"),
        (lip_sync_of("mine", "speech-long"), 422, "audio_duration"),
        (lip_sync_of("mine", "missing"), 422, "upload_not_found"),
        (
            json!({"type": "lip_sync", "source": {"video_id": "mine"}, "rights_confirmed": true}),
            422,
            "voice_required",
        ),
    ];
    for (body, status, code) in refused {
        let got = response_parts_of(&app, create(body).plan("pro")).await;
        assert_error(&got, status, code);
    }
    assert_eq!(
        app.store.ledger_sum("alice"),
        spent,
        "refusals cost nothing"
    );
    let standard = kling_app("standard");
    standard
        .store
        .insert_task(stored_source("mine", "alice", 6.4, 1));
    standard.uploads.put("uploads/alice/speech", wav(3.0));
    let got = response_parts_of(&standard, create(lip_sync_of("mine", "speech")).plan("pro")).await;
    assert_error(&got, 422, "kind_not_available");
}
