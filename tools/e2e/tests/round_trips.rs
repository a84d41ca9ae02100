//! AWS round trips per create, counted where they happen: create-task's handler with the real
//! SDK clients (DynamoDB, SQS) against moto through a counting proxy. A create reads once
//! (`BatchGetItem`: account, today's usage, the idempotency key), writes once (the
//! transaction) and nudges the dispatcher once; a replay reads once.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::start;
use create_task::{App, UploadPolicy, handle};
use devstack::lossy::LossyProxy;
use serde_json::json;
use shared::aws::{DynamoTaskStore, SqsQueue};
use shared::domain::moderation::Policy;
use shared::domain::plans::Plans;
use shared::edge::auth::AuthMode;
use shared::runtime::config::WebhookConfig;
use shared::testing::{FakeProvider, HttpEvent, MemoryBlobs, response_parts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_takes_three_aws_round_trips() {
    let stack = start(|_| {}).await;
    let proxy = LossyProxy::start(&stack.moto_endpoint).await.unwrap();
    let sdk = devstack::stack::local_sdk_config(&proxy.endpoint).await;
    let none: HashMap<&str, &str> = HashMap::new();
    let app = App {
        store: DynamoTaskStore::from_sdk(&sdk, stack.resource("TasksTable").unwrap()),
        provider: FakeProvider::default(),
        uploads: MemoryBlobs::default(),
        dispatch: SqsQueue::from_sdk(&sdk, stack.resource("DispatchQueue").unwrap()),
        auth: AuthMode::Authorizer,
        webhook: WebhookConfig {
            base_url: Some("https://api.example.com".into()),
            secret: b"round-trip-webhook-secret-0123456789".to_vec(),
        },
        plans: Plans::from_source(&none).unwrap(),
        moderation: Policy::from_source(&none).unwrap(),
        upload_policy: UploadPolicy {
            put_ttl: Duration::from_secs(600),
            allow_loopback_urls: false,
        },
        templates: shared::domain::templates::from_source(&none).unwrap(),
    };
    let create = || {
        HttpEvent::new("POST", "/v1/videos")
            .header("idempotency-key", "rt-1")
            .json(json!({"type": "text_to_video", "prompt": "a red fox in snow"}))
            .request()
    };
    proxy.reset_calls();
    let (status, _, body) = response_parts(handle(&app, create()).await);
    assert_eq!(status, 202, "{body}");
    let calls = proxy.calls();
    let total: usize = calls.values().sum();
    println!("AWS round trips per create: {total} {calls:?} (budget 3)");
    assert_eq!(total, 3, "{calls:?}");
    assert_eq!(
        (
            calls.get("BatchGetItem"),
            calls.get("TransactWriteItems"),
            calls.get("SendMessage")
        ),
        (Some(&1), Some(&1), Some(&1))
    );
    proxy.reset_calls();
    let (status, _, replay) = response_parts(handle(&app, create()).await);
    assert_eq!((status, &replay["id"]), (202, &body["id"]));
    let calls = proxy.calls();
    println!(
        "AWS round trips per replay: {} {calls:?}",
        calls.values().sum::<usize>()
    );
    assert_eq!(
        calls.get("TransactWriteItems"),
        None,
        "a replay charges nothing"
    );
}
