//! A provider that exists only in this test (its own job ids, statuses and callback shape)
//! drives a video through every function in process: create → dispatch → callback → finalize
//! → status.
//! Adding it touched no handler: the functions only know the provider port.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};
use shared::domain::plans::Plans;
use shared::edge::auth::AuthMode;
use shared::lifecycle::sync::SyncPolicy;
use shared::provider::JobStatus;
use shared::runtime::config::WebhookConfig;
use shared::testing::{
    FakeCallbacks, FakeProvider, HttpEvent, MemoryBlobs, MemoryQueue, MemoryStore, response_parts,
};

const MP4: &[u8] = include_bytes!("../../provider-sim/assets/gop-720p-9x16.mp4");
const SECRET: &[u8] = b"fake-provider-webhook-secret-0123";

async fn origin() -> String {
    let app = axum::Router::new().route("/out.mp4", axum::routing::get(|| async { MP4 }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}/out.mp4")
}

#[tokio::test]
async fn a_test_only_provider_goes_end_to_end_in_process() {
    let none: HashMap<&str, &str> = HashMap::new();
    let (store, blobs, queue, provider) = (
        MemoryStore::default(),
        MemoryBlobs::default(),
        MemoryQueue::default(),
        FakeProvider::default(),
    );
    let create = create_task::App {
        store: store.clone(),
        provider: provider.clone(),
        uploads: blobs.clone(),
        dispatch: queue.clone(),
        auth: AuthMode::Authorizer,
        webhook: WebhookConfig {
            base_url: Some("https://api.example.com".into()),
            secret: SECRET.to_vec(),
        },
        plans: Plans::from_source(&none).unwrap(),
        moderation: shared::domain::moderation::Policy::from_source(&none).unwrap(),
        upload_policy: create_task::UploadPolicy {
            put_ttl: Duration::from_secs(600),
            allow_loopback_urls: false,
        },
        templates: shared::domain::templates::from_source(&none).unwrap(),
    };
    let dispatcher = dispatch::App {
        store: store.clone(),
        provider: provider.clone(),
        nudge: queue.clone(),
        queue: queue.clone(),
        pool: shared::domain::pool::Pool::parse(None, &["fake".to_string()], 3).unwrap(),
        breaker: shared::domain::breaker::BreakerPolicy {
            threshold: 3,
            open_for: std::time::Duration::from_secs(60),
        },
        account_probe: Duration::from_secs(60),
        pace: shared::domain::pace::Pace::from_source(&none).unwrap(),
        paces: Default::default(),
        holders_read: Default::default(),
        hard_timeout: Duration::from_secs(3 * 3600),
    };
    let receiver = webhook_receiver::App {
        store: store.clone(),
        queue: queue.clone(),
        callbacks: FakeCallbacks,
        secret: SECRET.to_vec(),
        signers: Vec::new(),
        fal_keys: None,
        fal_user_id: None,
    };
    let policy = finalize::DownloadPolicy {
        allowed_hosts: vec!["127.0.0.1".into()],
        allow_http: true,
        allow_private: true,
        max_bytes: 1 << 26,
    };
    let finalizer = finalize::App {
        store: store.clone(),
        provider: provider.clone(),
        videos: blobs.clone(),
        http: policy.client().unwrap(),
        policy,
        labels: None,
    };
    let status = status_query::App {
        store: store.clone(),
        videos: blobs.clone(),
        provider: provider.clone(),
        queue: queue.clone(),
        auth: AuthMode::Authorizer,
        presign_ttl: Duration::from_secs(900),
        capacity: 3,
        plans: Plans::from_source(&none).unwrap(),
        poll: SyncPolicy {
            stale_after: Duration::from_secs(30),
            hard_timeout: Duration::from_secs(3600),
        },
        stream: None,
    };

    // The app creates a video; the fake provider holds it.
    let event = HttpEvent::new("POST", "/v1/videos")
        .header("idempotency-key", "first")
        .json(json!({"type": "text_to_video", "prompt": "a kite over the dunes", "aspect_ratio": "9:16"}));
    let (code, _, task) = response_parts(create_task::handle(&create, event.request()).await);
    assert_eq!(code, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(task["status"], "CREATED", "waiting for the dispatcher");
    assert_eq!(dispatch::handle(&dispatcher).await.submitted, 1);
    let callback_url = provider.submitted.lock().unwrap()[0]
        .callback_url
        .clone()
        .unwrap();
    let path = callback_url
        .trim_start_matches("https://api.example.com")
        .to_string();
    assert!(path.starts_with(&format!("/webhooks/fake/{id}/")), "{path}");

    // The provider finishes and calls back in its own shape.
    provider.set(&id, JobStatus::Succeeded, Some(&origin().await), None);
    let body = json!({"job": "job-1", "state": "done", "ours": id});
    let hook = HttpEvent::new("POST", path).user(None).json(body);
    let (code, _, ack) = response_parts(webhook_receiver::handle(&receiver, hook.request()).await);
    assert_eq!(code, 200, "{ack}");

    // The finalize message goes through finalize as SQS would deliver it.
    let messages = queue.drain();
    assert_eq!(messages.len(), 1);
    let records: Vec<Value> = messages
        .iter()
        .map(|m| json!({"messageId": "m-1", "body": serde_json::to_string(m).unwrap()}))
        .collect();
    let sqs: SqsEvent = serde_json::from_value(json!({"Records": records})).unwrap();
    assert!(
        finalize::handle(&finalizer, sqs)
            .await
            .batch_item_failures
            .is_empty()
    );

    // The app sees the stored video.
    let get = HttpEvent::new("GET", format!("/v1/videos/{id}"));
    let (code, _, view) = response_parts(status_query::handle(&status, get.request()).await);
    assert_eq!(
        (code, view["status"].as_str()),
        (200, Some("SUCCEEDED")),
        "{view}"
    );
    assert_eq!(view["video"]["bytes"], MP4.len());
    assert_eq!(
        (
            view["video"]["width"].as_u64(),
            view["video"]["height"].as_u64()
        ),
        (Some(720), Some(1280))
    );
    let (stored, meta) = blobs.object(&format!("videos/alice/{id}.mp4")).unwrap();
    assert_eq!(stored.as_ref(), MP4);
    assert_eq!(meta.get("ai-generated"), Some("true"));
    let task = shared::ports::Tasks::get_task(&store, &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (task.provider.as_str(), task.provider_ref.unwrap().as_str()),
        ("fake", "job-1")
    );
    assert_eq!(store.ledger_sum("alice"), (500, 0));
}
