//! App-backend webhooks on the local stack: deliveries signed per Standard Webhooks (checked
//! with the reference library, not our verifier), the same `webhook-id` on every retry, the
//! delivery log, and endpoints on private or loopback addresses refused and dead-lettered.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Api, start, store, t2v, wait_terminal_in_table};
use serde_json::{Value, json};
use shared::ports::{DeliveryLog, DeliveryOutcome};

const SECRET_NEW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

type Seen = Arc<Mutex<Vec<Value>>>;

/// A receiver on loopback that answers 503 `fail_first` times, then 204; keeps each request.
async fn receiver(fail_first: u32) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let count = Arc::new(AtomicU32::new(0));
    let (s, c) = (seen.clone(), count);
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let (s, c) = (s.clone(), c.clone());
            async move {
                let headers: serde_json::Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or_default())))
                    .collect();
                s.lock()
                    .unwrap()
                    .push(json!({"headers": headers, "body": body}));
                if c.fetch_add(1, Ordering::SeqCst) < fail_first {
                    http::StatusCode::SERVICE_UNAVAILABLE
                } else {
                    http::StatusCode::NO_CONTENT
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

fn webhook_env(url: &str, allow_loopback: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("APP_WEBHOOK_URL".into(), url.into()),
        (
            "APP_WEBHOOK_SECRETS".into(),
            format!("{SECRET_NEW},{SECRET_OLD}"),
        ),
        ("APP_WEBHOOK_FIRST_RETRY_SECONDS".into(), "1".into()),
        ("APP_WEBHOOK_MAX_RETRY_SECONDS".into(), "2".into()),
    ];
    if allow_loopback {
        env.push(("WEBHOOK_URL_ALLOW_LOOPBACK".into(), "true".into()));
    }
    env
}

/// The reference library verifies every delivery with each secret.
fn verify_independently(deliveries: &[Value]) -> String {
    let file = std::env::temp_dir().join(format!("deliveries-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, serde_json::to_vec(deliveries).unwrap()).unwrap();
    let script = common::workspace_root().join("tools/independent/verify_webhooks.py");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&file)
        .args([SECRET_NEW, SECRET_OLD])
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_failing_three_times_gets_one_webhook_id_and_valid_signatures() {
    let (url, seen) = receiver(3).await;
    let stack = start(|o| o.extra_env.extend(webhook_env(&url, true))).await;
    let api = Api::new(&stack);
    let token = stack.token("hooked").unwrap();
    let (status, _, body) = api
        .create(&token, "hook-1", &t2v("a lighthouse at dawn"))
        .await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    wait_terminal_in_table(&stack, &id, Duration::from_secs(60)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while seen.lock().unwrap().len() < 4 {
        assert!(tokio::time::Instant::now() < deadline, "4 attempts arrive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let deliveries = seen.lock().unwrap().clone();
    assert_eq!(deliveries.len(), 4, "delivered once it succeeded");
    let verified = verify_independently(&deliveries);
    let want = format!("{id}.succeeded video.succeeded\n").repeat(4);
    assert_eq!(verified, want);
    let log = store(&stack).deliveries_of(&id).await.unwrap();
    let outcomes: Vec<_> = log
        .iter()
        .map(|d| (d.attempt, d.outcome, d.status_code))
        .collect();
    use DeliveryOutcome::{Delivered, Failed};
    let want = [
        (1, Failed, Some(503)),
        (2, Failed, Some(503)),
        (3, Failed, Some(503)),
        (4, Delivered, Some(204)),
    ];
    assert_eq!(outcomes, want);
    println!("webhook: 4 attempts, one webhook-id, verified by the reference library");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_on_a_private_or_loopback_address_is_refused_and_dead_lettered() {
    let (url, seen) = receiver(0).await;
    let loopback = url.replace("http://", "https://");
    for target in [loopback.as_str(), "https://10.20.30.40/hook"] {
        let stack = start(|o| o.extra_env.extend(webhook_env(target, false))).await;
        let api = Api::new(&stack);
        let token = stack.token("refused").unwrap();
        let (_, _, body) = api.create(&token, "hook-2", &t2v("a quiet harbour")).await;
        let id = body["id"].as_str().unwrap().to_string();
        wait_terminal_in_table(&stack, &id, Duration::from_secs(60)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let log = loop {
            let log = store(&stack).deliveries_of(&id).await.unwrap();
            if !log.is_empty() || tokio::time::Instant::now() > deadline {
                break log;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(log.len(), 1, "{target}");
        assert_eq!(log[0].outcome, DeliveryOutcome::Refused, "{target}");
        let dead = aws_sdk_sqs::Client::new(&stack.sdk)
            .receive_message()
            .queue_url(stack.resource("AppWebhookDeadLetterQueue").unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(dead.messages.unwrap_or_default().len(), 1, "{target}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the receiver"
    );
}
