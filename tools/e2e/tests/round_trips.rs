//! AWS round trips per create, counted where they happen: create-task's handler with the real
//! SDK clients (DynamoDB, SQS) against moto through a counting proxy. A create reads once
//! (`BatchGetItem`: account, today's usage, the idempotency key), writes once (the
//! transaction) and nudges the dispatcher once; a replay reads once. A dispatch run over a
//! full account reads once for its line (breakers, slots, the pending wake-up), once for the
//! waiting tasks, and claims and sends a wake-up only when none is pending.

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

fn create_app(
    sdk: &aws_config::SdkConfig,
    stack: &devstack::stack::Stack,
) -> App<DynamoTaskStore, FakeProvider, MemoryBlobs, SqsQueue> {
    let none: HashMap<&str, &str> = HashMap::new();
    App {
        store: DynamoTaskStore::from_sdk(sdk, stack.resource("TasksTable").unwrap()),
        provider: FakeProvider::default(),
        uploads: MemoryBlobs::default(),
        dispatch: SqsQueue::from_sdk(sdk, stack.resource("DispatchQueue").unwrap()),
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_takes_three_aws_round_trips() {
    let stack = start(|_| {}).await;
    let proxy = LossyProxy::start(&stack.moto_endpoint).await.unwrap();
    let sdk = devstack::stack::local_sdk_config(&proxy.endpoint).await;
    let app = create_app(&sdk, &stack);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatch_run_over_a_full_account_takes_two_reads() {
    let stack = start(|_| {}).await;
    let proxy = LossyProxy::start(&stack.moto_endpoint).await.unwrap();
    let sdk = devstack::stack::local_sdk_config(&proxy.endpoint).await;
    let creates = create_app(&sdk, &stack);
    for i in 0..3 {
        let event = HttpEvent::new("POST", "/v1/videos")
            .user(Some(&format!("user-{i}")))
            .header("idempotency-key", &format!("rt-d{i}"))
            .json(json!({"type": "text_to_video", "prompt": "a red fox in snow"}))
            .request();
        let (status, _, body) = response_parts(handle(&creates, event).await);
        assert_eq!(status, 202, "{body}");
    }
    let app = dispatch::App {
        store: DynamoTaskStore::from_sdk(&sdk, stack.resource("TasksTable").unwrap()),
        provider: creates.provider.clone(),
        nudge: SqsQueue::from_sdk(&sdk, stack.resource("DispatchQueue").unwrap()),
        queue: SqsQueue::from_sdk(&sdk, stack.resource("FinalizeQueue").unwrap()),
        pool: shared::domain::pool::Pool::parse(None, &["fake".to_string()], 1).unwrap(),
        breaker: shared::domain::breaker::BreakerPolicy {
            threshold: 3,
            open_for: Duration::from_secs(60),
        },
        account_probe: Duration::from_secs(60),
        pace: shared::domain::pace::Pace {
            floor: Duration::from_secs(600),
            fallback: Duration::from_secs(3600),
            recheck: Duration::from_secs(15),
        },
        paces: Default::default(),
        holders_read: Default::default(),
        hard_timeout: Duration::from_secs(3 * 3600),
    };
    assert_eq!(dispatch::handle(&app).await.submitted, 1);
    // The next run reads the new holder once; the runs after it are measured.
    assert_eq!(dispatch::handle(&app).await.waiting, 2);
    proxy.reset_calls();
    let started = std::time::Instant::now();
    let runs = 6;
    for _ in 0..runs {
        let report = dispatch::handle(&app).await;
        assert_eq!((report.submitted, report.waiting, report.errors), (0, 2, 0));
    }
    let calls = proxy.calls();
    let total: usize = calls.values().sum();
    println!(
        "AWS round trips per dispatch run over a full account: {:.2} {calls:?} (budget 3)",
        total as f64 / runs as f64
    );
    assert_eq!(calls.get("BatchGetItem"), Some(&runs), "{calls:?}");
    assert_eq!(calls.get("Query"), Some(&runs), "{calls:?}");
    // A wake-up every second at most (AGAIN_AFTER), whatever the runs' pace.
    let wakes = started.elapsed().as_secs() as usize + 1;
    let claims = calls.get("UpdateItem").copied().unwrap_or(0);
    assert!(claims <= wakes, "{claims} claims in {wakes} s: {calls:?}");
    assert_eq!(calls.get("SendMessage").copied().unwrap_or(0), claims);
    assert_eq!(total, 2 * runs + 2 * claims, "{calls:?}");
}
