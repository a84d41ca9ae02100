//! create-task against moto server and provider-sim over HTTP, through the local API Gateway and
//! the real function binaries: money, idempotency, moderation, uploads.

mod common;

use std::path::Path;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{Api, fast_retries, plans_with, store, t2v};
use devstack::stack::Stack;
use provider_sim::{CallKind, Faults, NextError};
use serde_json::{Value, json};

/// Plans for these tests: the shipped ones (with this suspension rule), plus a `race` plan
/// with two slots.
fn plans_json(suspend_after: u32, suspension_seconds: u32) -> String {
    let mut free: Value = serde_json::from_str(shared::domain::plans::DEFAULT_PLANS_JSON).unwrap();
    let mut free = free["plans"]["free"].take();
    free["suspend_after_violations"] = json!(suspend_after);
    free["suspension_seconds"] = json!(suspension_seconds);
    let race = json!({
        "qualities": ["draft", "standard", "pro"], "model_overrides": [],
        "max_duration_seconds": 10, "max_concurrent_tasks": 2, "daily_cost_units": 1000,
        "suspend_after_violations": 3, "violation_window_seconds": 3600, "suspension_seconds": 60
    });
    plans_with(&[("free", free), ("race", race)])
}

async fn start(instances: usize, sim_speed: f64) -> Stack {
    common::start(|opts| {
        opts.instances = instances;
        opts.sim_speed = sim_speed;
        opts.extra_env = fast_retries();
        opts.extra_env.push(("PLANS_JSON".into(), plans_json(2, 3)));
    })
    .await
}

/// Debits and refunds of one user's ledger, in hundredths.
async fn ledger(stack: &Stack, user: &str) -> Vec<shared::ports::LedgerEntry> {
    use shared::ports::Accounts;
    store(stack).ledger(user).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_creates_take_exactly_the_plans_two_slots() {
    // Tasks stay queued in provider-sim for the whole burst.
    let stack = start(6, 1.0).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("racer", "race").unwrap();
    let mut handles = Vec::new();
    for n in 0..50 {
        let http = api.http.clone();
        let url = format!("{}/v1/videos", api.base);
        let token = token.clone();
        handles.push(tokio::spawn(async move {
            let resp = http
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", format!("race-{n}"))
                .json(&t2v("a paper boat on a rainy street"))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").is_some();
            let body: Value = resp.json().await.unwrap();
            (status, retry_after, body)
        }));
    }
    let mut accepted = 0;
    let mut limited = 0;
    for h in handles {
        let (status, retry_after, body) = h.await.unwrap();
        match status {
            202 => accepted += 1,
            429 => {
                assert!(retry_after, "429 carries Retry-After");
                assert_eq!(body["error"]["code"], "concurrency_limit", "{body}");
                limited += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((accepted, limited), (2, 48));
    assert_eq!(
        stack.sim.state.task_count(),
        2,
        "only accepted tasks reached Kling"
    );

    let me = api.get("/v1/me", &token, None).await.2;
    assert_eq!(me["plan"], "race");
    assert_eq!(me["usage"]["in_flight"], 2);
    assert_eq!(me["usage"]["cost_units"], 10.0);
    assert_eq!(me["ledger_today"]["net"], me["usage"]["cost_units"], "{me}");
    let entries = ledger(&stack, "racer").await;
    assert_eq!(entries.len(), 2);
    assert!(me["usage"]["remaining_cost_units"].as_f64().unwrap() >= 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idempotency_keys_replay_refuse_and_expire() {
    let stack = start(3, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token("idem").unwrap();
    let body = t2v("a lighthouse in a storm");

    let (status, _, err) = api.post("/v1/videos", Some(&token), None, &body).await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("idempotency_key_required"))
    );
    let (status, _, err) = api
        .post("/v1/videos", Some(&token), Some(&"k".repeat(256)), &body)
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("invalid_idempotency_key"))
    );

    let (status, _, first) = api
        .post("/v1/videos", Some(&token), Some("key-1"), &body)
        .await;
    assert_eq!(status, 202, "{first}");
    let id = first["id"].as_str().unwrap().to_string();
    // Same key, same body (another key order): the first answer, no second task or debit.
    let reordered =
        json!({"duration": 5, "prompt": "a lighthouse in a storm", "type": "text_to_video"});
    let (status, _, again) = api
        .post("/v1/videos", Some(&token), Some("key-1"), &reordered)
        .await;
    assert_eq!((status, again["id"].as_str()), (202, Some(id.as_str())));
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(stack.sim.state.count_for_external(&id), 1);
    assert_eq!(stack.sim.state.counters().create, 1);
    assert_eq!(ledger(&stack, "idem").await.len(), 1, "one debit");

    let (status, _, err) = api
        .post(
            "/v1/videos",
            Some(&token),
            Some("key-1"),
            &t2v("another prompt"),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );

    // The record expires after 48 hours (TTL attribute).
    let item = aws_sdk_dynamodb::Client::new(&stack.sdk)
        .get_item()
        .table_name(stack.resource("TasksTable").unwrap())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("USER#idem".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("IDEMPOTENCY#key-1".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let expires: i64 = item["expires_at"].as_n().unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (expires - (now + 48 * 3600)).abs() < 120,
        "expires_at {expires}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn final_provider_rejections_fail_and_refund_exactly_once() {
    let stack = start(2, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token("refused").unwrap();

    // Final refusals of the submit: the create itself was accepted (the provider is not
    // called while the app waits), then the task fails and is refunded once. (5000 may have
    // stored the task: an unknown outcome, never a failure; see async_path's lost answers.)
    let cases = [(1301, "content_policy_violation"), (1201, "provider_error")];
    for (code, task_code) in cases {
        stack.sim.state.set_faults(Faults {
            next_errors: vec![NextError {
                code,
                times: 1,
                on: CallKind::Create,
            }],
            ..Default::default()
        });
        let (got, _, task) = api
            .post(
                "/v1/videos",
                Some(&token),
                Some(&format!("refused-{code}")),
                &t2v("a quiet harbour"),
            )
            .await;
        assert_eq!(got, 202, "{task}");
        let done = api
            .wait_terminal(&token, task["id"].as_str().unwrap())
            .await;
        assert_eq!(done["status"], "FAILED", "{done}");
        assert_eq!(done["error"]["code"], task_code, "{done}");
        assert_eq!(done["error"]["retryable"], false);
    }
    let page = api.get("/v1/videos", &token, None).await.2;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for t in items {
        assert_eq!(t["status"], "FAILED");
        assert!(t["error"]["code"].is_string());
    }
    let entries = ledger(&stack, "refused").await;
    for t in items {
        let id = t["id"].as_str().unwrap();
        let kinds: Vec<_> = entries
            .iter()
            .filter(|e| e.task_id == id)
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds.len(),
            2,
            "one debit and one refund for {id}: {kinds:?}"
        );
        assert!(kinds.contains(&shared::ports::LedgerKind::Debit));
        assert!(kinds.contains(&shared::ports::LedgerKind::Refund));
    }
    let me = api.get("/v1/me", &token, None).await.2;
    assert_eq!(me["usage"]["cost_units"], 0.0);
    assert_eq!(me["usage"]["in_flight"], 0);
    assert_eq!(me["ledger_today"]["net"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moderation_blocks_counts_violations_and_suspends_for_a_while() {
    let stack = start(2, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token("moderated").unwrap();

    let (status, _, err) = api
        .post(
            "/v1/videos",
            Some(&token),
            Some("m-1"),
            &t2v("a s.3.x scene in a car"),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["error"]["code"], "content_policy_violation");
    assert_eq!(err["error"]["details"]["category"], "sexual");
    assert!(err["error"]["details"].get("suspended_until").is_none());
    // The same request retried (same key, same body) is refused again but counted once:
    // two counted violations would suspend here.
    for _ in 0..2 {
        let (status, _, err) = api
            .post(
                "/v1/videos",
                Some(&token),
                Some("m-1"),
                &t2v("a s.3.x scene in a car"),
            )
            .await;
        assert_eq!(status, 422, "{err}");
        assert!(err["error"]["details"].get("suspended_until").is_none());
    }

    // Asking to avoid something is not a violation: the negative prompt is the provider's
    // list of what to keep out, never part of the prompt. (That task is then finished so
    // the free plan's single slot is free again.)
    let mut neg = t2v("a calm lake");
    neg["negative_prompt"] = json!("d1smembered bodies, nudity, gore");
    let (status, _, task) = api
        .post("/v1/videos", Some(&token), Some("m-neg"), &neg)
        .await;
    assert_eq!(status, 202, "{task}");
    let task_id = task["id"].as_str().unwrap();
    let finished = api.wait_terminal(&token, task_id).await;
    assert_eq!(finished["status"], "SUCCEEDED");

    let (status, _, err) = api
        .post(
            "/v1/videos",
            Some(&token),
            Some("m-2"),
            &t2v("d1smembered bodies by a calm lake"),
        )
        .await;
    assert_eq!(
        (status, err["error"]["field"].as_str()),
        (422, Some("prompt"))
    );
    assert_eq!(err["error"]["details"]["category"], "graphic_violence");
    assert!(
        err["error"]["details"]["suspended_until"].is_string(),
        "second violation suspends"
    );
    assert_eq!(
        stack.sim.state.task_count(),
        1,
        "only the benign task was submitted"
    );
    assert_eq!(
        ledger(&stack, "moderated").await.len(),
        1,
        "only the benign task was charged"
    );

    let (status, _, err) = api
        .post("/v1/videos", Some(&token), Some("m-3"), &t2v("a calm lake"))
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (403, Some("account_suspended")),
        "{err}"
    );
    let me = api.get("/v1/me", &token, None).await.2;
    assert!(me["suspended_until"].is_string());

    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let (status, _, ok) = api
        .post("/v1/videos", Some(&token), Some("m-4"), &t2v("a calm lake"))
        .await;
    assert_eq!(status, 202, "the suspension ended: {ok}");
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// Ask for an upload URL and PUT the bytes there, as an app would.
async fn upload(api: &Api, token: &str, content_type: &str, bytes: &[u8]) -> String {
    let (status, _, grant) = api
        .post(
            "/v1/uploads",
            Some(token),
            None,
            &json!({"content_type": content_type, "bytes": bytes.len()}),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let put = api
        .http
        .put(grant["url"].as_str().unwrap())
        .header("content-type", content_type)
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "PUT {}", put.status());
    grant["upload_id"].as_str().unwrap().to_string()
}

fn i2v(image: Value) -> Value {
    json!({"type": "image_to_video", "image": image, "prompt": "the picture comes alive", "rights_confirmed": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_round_trip_and_bad_images_are_refused() {
    let stack = start(2, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("uploader", "race").unwrap();

    for (n, (name, ct)) in [
        ("photo-640x480.png", "image/png"),
        ("photo-800x600.jpg", "image/jpeg"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = upload(&api, &token, ct, &fixture(name)).await;
        let (status, _, task) = api
            .post(
                "/v1/videos",
                Some(&token),
                Some(&format!("img-{n}")),
                &i2v(json!({"upload_id": id})),
            )
            .await;
        assert_eq!(status, 202, "{name}: {task}");
        let tid = task["id"].as_str().unwrap();
        api.wait_terminal(&token, tid).await;
        assert!(
            stack.sim.state.find("image2video", tid).is_some(),
            "{name} reached provider-sim"
        );
    }

    let refused = [
        ("tiny-200x200.png", "image/png", "image_too_small"),
        ("wide-1000x300.jpg", "image/jpeg", "image_aspect_ratio"),
        ("still-400x400.gif", "image/png", "unsupported_image_type"),
    ];
    for (n, (name, ct, code)) in refused.into_iter().enumerate() {
        let id = upload(&api, &token, ct, &fixture(name)).await;
        let (status, _, err) = api
            .post(
                "/v1/videos",
                Some(&token),
                Some(&format!("bad-{n}")),
                &i2v(json!({"upload_id": id})),
            )
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (422, Some(code)),
            "{name}: {err}"
        );
    }

    // Declared type and size are checked when the upload is requested.
    let (status, _, err) = api
        .post(
            "/v1/uploads",
            Some(&token),
            None,
            &json!({"content_type": "image/gif", "bytes": 100}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("unsupported_image_type"))
    );
    let (status, _, err) = api
        .post(
            "/v1/uploads",
            Some(&token),
            None,
            &json!({"content_type": "image/png", "bytes": 11 * 1024 * 1024}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("image_too_large"))
    );
    // An object over 10 MB that got there anyway is refused by its size.
    let mut big = fixture("photo-640x480.png");
    big.resize(10 * 1024 * 1024 + 10, 0);
    stack
        .s3()
        .put_object()
        .bucket(stack.resource("VideoBucket").unwrap())
        .key("uploads/uploader/big-one")
        .body(big.into())
        .send()
        .await
        .unwrap();
    let (status, _, err) = api
        .post(
            "/v1/videos",
            Some(&token),
            Some("big"),
            &i2v(json!({"upload_id": "big-one"})),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("image_too_large"))
    );

    let other = [
        (
            i2v(json!({"upload_id": "never-uploaded"})),
            "upload_not_found",
        ),
        (
            i2v(json!({"url": "https://169.254.169.254/latest/meta-data.png"})),
            "image_url_not_public",
        ),
        (
            i2v(json!({"url": "https://10.0.0.1/a.png"})),
            "image_url_not_public",
        ),
        (
            i2v(json!({"url": "http://8.8.8.8/a.png"})),
            "image_url_not_https",
        ),
        (
            json!({"type": "image_to_video", "image": {"url": "https://8.8.8.8/a.png"}}),
            "consent_required",
        ),
    ];
    for (n, (body, code)) in other.into_iter().enumerate() {
        let (status, _, err) = api
            .post(
                "/v1/videos",
                Some(&token),
                Some(&format!("other-{n}")),
                &body,
            )
            .await;
        assert_eq!(
            (status, err["error"]["code"].as_str()),
            (422, Some(code)),
            "{body}: {err}"
        );
    }
    assert_eq!(
        stack.sim.state.task_count(),
        2,
        "refused images never reached Kling"
    );
    assert_eq!(
        ledger(&stack, "uploader").await.len(),
        2,
        "and were never charged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn estimates_price_without_creating_and_bodies_are_bounded() {
    let stack = start(1, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token("estimator").unwrap();

    let (status, _, est) = api
        .post(
            "/v1/videos/estimate",
            Some(&token),
            None,
            &json!({"type": "text_to_video", "prompt": "p", "duration": 10, "quality": "pro"}),
        )
        .await;
    assert_eq!(status, 200, "{est}");
    assert_eq!(est["cost_units"], 16.0);
    assert_eq!(
        est["breakdown"],
        json!({"duration_seconds": 10, "tier_multiplier": 1.6, "feature_multiplier": 1.0})
    );
    assert_eq!(est["allowed"], false);
    let codes: Vec<_> = est["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].clone())
        .collect();
    assert_eq!(
        codes,
        vec![json!("quality_not_in_plan"), json!("duration_not_in_plan")]
    );

    let (_, _, ok) = api
        .post(
            "/v1/videos/estimate",
            Some(&token),
            None,
            &json!({"type": "text_to_video", "prompt": "p", "model": "kling-v3", "camera_control": {"type": "simple", "config": {"zoom": 5}}}),
        )
        .await;
    assert_eq!(ok["cost_units"], 6.5);
    assert_eq!(ok["reasons"][0]["code"], "model_not_in_plan");
    assert_eq!(ok["reasons"][1]["code"], "camera_control_not_supported");
    assert_eq!(stack.sim.state.task_count(), 0);
    assert!(ledger(&stack, "estimator").await.is_empty());

    // Unsupported combinations are refused before any money moves.
    let pro = stack.token_with_plan("estimator-pro", "pro").unwrap();
    let (status, _, err) = api
        .post(
            "/v1/videos",
            Some(&pro),
            Some("combo"),
            &json!({"type": "text_to_video", "prompt": "p", "model": "kling-v2-6", "cfg_scale": 0.5}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (422, Some("cfg_scale_not_supported")),
        "{err}"
    );
    assert!(ledger(&stack, "estimator-pro").await.is_empty());

    let big = "x".repeat(1024 * 1024 + 1);
    let resp = api
        .http
        .post(format!("{}/v1/videos", api.base))
        .bearer_auth(&token)
        .header("idempotency-key", "big")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let (status, _, err) = api
        .send(
            api.http
                .post(format!("{}/v1/videos", api.base))
                .bearer_auth(&token)
                .header("idempotency-key", "bad-json")
                .body("{not json"),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
    let (status, _, err) = api
        .post(
            "/v1/videos",
            Some(&token),
            Some("unknown"),
            &json!({"type": "text_to_video", "prompt": "p", "colour": "red"}),
        )
        .await;
    assert_eq!(
        (status, err["error"]["code"].as_str()),
        (400, Some("malformed_request"))
    );
}

/// Against moto: the plan follows the token (an upgrade and a downgrade take effect with the
/// next token, whatever the first create recorded), and an operator's `plan_override` on the
/// account wins over the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_upgrades_downgrades_and_the_operators_plan() {
    let stack = start(1, 50.0).await;
    let api = Api::new(&stack);
    let pro = json!({"type": "text_to_video", "prompt": "a kite over dunes", "quality": "pro"});
    let free_token = stack.token_with_plan("switcher", "free").unwrap();
    let race_token = stack.token_with_plan("switcher", "race").unwrap();
    let mut key = 0;
    let mut try_pro = async |token: &str| {
        key += 1;
        api.create(token, &format!("plan-{key}"), &pro).await
    };
    assert_eq!(try_pro(&free_token).await.0, 403);
    assert_eq!(try_pro(&race_token).await.0, 202, "upgrade");
    let (status, _, body) = try_pro(&free_token).await;
    assert_eq!(status, 403, "downgrade: {body}");
    common::assert_envelope(&body, "quality_not_in_plan");
    let me = api.get("/v1/me", &free_token, None).await.2;
    assert_eq!(me["plan"], "free", "{me}");

    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .update_item()
        .table_name(stack.resource("TasksTable").unwrap())
        .key("pk", AttributeValue::S("USER#switcher".into()))
        .key("sk", AttributeValue::S("ACCOUNT".into()))
        .update_expression("SET #p = :p")
        .expression_attribute_names("#p", shared::aws::OPERATOR_PLAN_ATTRIBUTE)
        .expression_attribute_values(":p", AttributeValue::S("race".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        try_pro(&free_token).await.0,
        202,
        "the operator's plan wins"
    );
    let me = api.get("/v1/me", &free_token, None).await.2;
    assert_eq!(me["plan"], "race", "{me}");
}

/// Templates through the real table: version 1 from the shipped file, version 2 published as a
/// table item (once), both listed and used through the API, version 1 re-run to the same prompt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_versions_live_in_the_table_and_rerun_byte_for_byte() {
    use shared::ports::TemplateStore;
    let stack = start(1, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("templater", "pro").unwrap();
    let fields =
        json!({"product": "a steel bottle", "setting": "a mountain trail", "mood": "energetic"});
    let body = |version: Option<u32>| {
        let mut template = json!({"id": "product-ad", "fields": fields});
        if let Some(v) = version {
            template["version"] = json!(v);
        }
        json!({"type": "text_to_video", "duration": 5, "template": template})
    };
    let (status, _, v1) = api.create(&token, "tpl-1", &body(None)).await;
    assert_eq!(status, 202, "{v1}");
    assert_eq!(v1["template"]["version"], 1);

    let mut edited =
        shared::domain::templates::from_source(&std::collections::HashMap::<&str, &str>::new())
            .unwrap()
            .remove(0);
    edited.version = 2;
    edited.frame.lighting = Some("hard noon sun".into());
    let store = store(&stack);
    assert!(store.publish_template(&edited).await.unwrap());
    assert!(
        !store.publish_template(&edited).await.unwrap(),
        "published once"
    );

    let (_, _, listed) = api.get("/v1/templates", &token, None).await;
    let product = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "product-ad")
        .unwrap();
    assert_eq!(product["version"], 2);
    let (_, _, v2) = api.create(&token, "tpl-2", &body(None)).await;
    assert_eq!(v2["template"]["version"], 2);
    assert!(
        v2["prompt"]
            .as_str()
            .unwrap()
            .contains("Lighting: hard noon sun.")
    );
    let (_, _, again) = api.create(&token, "tpl-3", &body(Some(1))).await;
    assert_eq!(again["prompt"], v1["prompt"]);
    assert_eq!(again["template"], v1["template"]);
}

/// `variations: 3` through the stack: three tasks, three seeds, three charges; provider-sim refuses
/// exactly one submit, and exactly that one is refunded. The group lists through the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_variations_are_charged_three_times_and_only_the_failed_one_refunded() {
    use shared::ports::LedgerKind;
    let stack = start(2, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("variant", "pro").unwrap();
    stack.sim.state.set_faults(Faults {
        next_errors: vec![NextError {
            code: 1301,
            times: 1,
            on: CallKind::Create,
        }],
        ..Default::default()
    });
    let body = json!({"type": "text_to_video", "prompt": "a paper plane over a city", "duration": 5, "variations": 3});
    let (status, _, group) = api
        .post("/v1/videos", Some(&token), Some("vary-e2e"), &body)
        .await;
    assert_eq!(status, 202, "{group}");
    let ids: Vec<String> = group["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let seeds: std::collections::BTreeSet<u64> = group["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["seed"].as_u64().unwrap())
        .collect();
    assert_eq!((ids.len(), seeds.len()), (3, 3));
    let mut failed = Vec::new();
    for id in &ids {
        let done = api.wait_terminal(&token, id).await;
        if done["status"] == "FAILED" {
            failed.push(id.clone());
        } else {
            assert_eq!(done["status"], "SUCCEEDED", "{done}");
        }
    }
    assert_eq!(failed.len(), 1, "provider-sim refused exactly one submit");
    let entries = ledger(&stack, "variant").await;
    let count = |kind: LedgerKind, id: &str| {
        entries
            .iter()
            .filter(|e| e.kind == kind && e.task_id == id)
            .count()
    };
    for id in &ids {
        assert_eq!(count(LedgerKind::Debit, id), 1, "{id} charged once");
        assert_eq!(
            count(LedgerKind::Refund, id),
            usize::from(failed.contains(id)),
            "{id}"
        );
    }
    let gid = group["group_id"].as_str().unwrap();
    let (_, _, listed) = api
        .get(&format!("/v1/videos?group={gid}"), &token, None)
        .await;
    let listed: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids.iter().map(String::as_str).collect::<Vec<_>>());
}

/// A cacheable template asked twice within its TTL: one provider call, two tasks, the second
/// free and showing the same stored object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_template_request_makes_one_provider_call_for_two_tasks() {
    let stack = start(2, 200.0).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("cacher", "pro").unwrap();
    let body = json!({"type": "text_to_video", "duration": 5, "template": {"id": "product-ad",
        "fields": {"product": "a linen shirt", "setting": "a breezy terrace", "mood": "calm"}}});
    let (status, _, first) = api
        .post("/v1/videos", Some(&token), Some("cache-a"), &body)
        .await;
    assert_eq!(status, 202, "{first}");
    let first_id = first["id"].as_str().unwrap();
    let done = api.wait_terminal(&token, first_id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let creates = stack.sim.state.counters().create;
    let (_, _, second) = api
        .post("/v1/videos", Some(&token), Some("cache-b"), &body)
        .await;
    assert_eq!(second["cached_from"], first_id);
    assert_eq!(
        (second["status"].as_str(), second["cost_units"].as_f64()),
        (Some("SUCCEEDED"), Some(0.0))
    );
    let second_id = second["id"].as_str().unwrap();
    let tasks = store(&stack);
    use shared::ports::Tasks;
    let a = tasks
        .get_task(first_id)
        .await
        .unwrap()
        .unwrap()
        .video
        .unwrap();
    let b = tasks
        .get_task(second_id)
        .await
        .unwrap()
        .unwrap()
        .video
        .unwrap();
    assert_eq!(
        (a.key, a.sha256),
        (b.key, b.sha256),
        "the same stored object"
    );
    let (_, _, shown) = api
        .get(&format!("/v1/videos/{second_id}"), &token, None)
        .await;
    assert!(
        shown["video"]["url"]
            .as_str()
            .unwrap()
            .contains(&format!("/videos/cacher/{first_id}.mp4"))
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stack.sim.state.counters().create,
        creates,
        "no provider call for the cached one"
    );
    let debits = ledger(&stack, "cacher").await;
    assert_eq!(debits.len(), 1, "one charge: {debits:?}");
    // The answer from the cache has a poster too: its source's picture.
    let (view, _) = api.wait_poster(&token, second_id).await;
    let poster = view["video"]["poster_url"].as_str().unwrap();
    assert!(
        poster.contains(&format!("/videos/cacher/{first_id}.jpg")),
        "{poster}"
    );
}
