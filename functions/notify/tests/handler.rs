//! notify's handler with in-memory ports: stream records in, sinks out; queued deliveries in,
//! signed POSTs to a loopback receiver out.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use notify::{App, AppWebhook, Signer, handle};
use serde_json::{Value, json};
use shared::domain::live::LivePolicy;
use shared::domain::notice::{Platform, PushText, RetryPolicy};
use shared::domain::task::{Task, TaskStatus};
use shared::domain::timestamp::Timestamp;
use shared::ports::{DeliveryLog, DeliveryOutcome, Device, Devices, NoticeMarks};
use shared::testing::{
    MemoryBus, MemoryLivePush, MemoryOutbox, MemoryPush, MemoryStore, task_fixture,
};

const SECRET_NEW: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET_OLD: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

type TestApp = App<MemoryStore, MemoryBus, MemoryPush, MemoryOutbox, MemoryLivePush>;

fn app(webhook_url: Option<&str>, allow_loopback: bool) -> TestApp {
    App {
        store: MemoryStore::default(),
        bus: MemoryBus::default(),
        push: MemoryPush::default(),
        outbox: MemoryOutbox::default(),
        push_text: PushText::default(),
        webhook: webhook_url.map(|url| AppWebhook {
            url: url.into(),
            signer: Signer::from_list(&format!("{SECRET_NEW},{SECRET_OLD}")).unwrap(),
            allow_loopback,
        }),
        retry: RetryPolicy {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(4),
            window: Duration::from_secs(3600),
        },
        http: shared::runtime::net::client().unwrap(),
        live: MemoryLivePush::default(),
        live_policy: LivePolicy {
            min_interval: Duration::ZERO,
            ..LivePolicy::default()
        },
    }
}

fn image(task: &Task) -> Value {
    let mut item: serde_dynamo::Item = serde_dynamo::to_item(task).unwrap();
    item.insert(
        "pk".into(),
        serde_dynamo::AttributeValue::S(format!("TASK#{}", task.id)),
    );
    item.insert("sk".into(), serde_dynamo::AttributeValue::S("TASK".into()));
    serde_json::to_value(item).unwrap()
}

fn record(seq: &str, old: Option<&Task>, new: &Task) -> Value {
    let mut change = json!({
        "Keys": {"pk": {"S": format!("TASK#{}", new.id)}, "sk": {"S": "TASK"}},
        "NewImage": image(new),
        "SequenceNumber": seq,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "SizeBytes": 100,
    });
    if let Some(old) = old {
        change["OldImage"] = image(old);
    }
    json!({"eventID": seq, "eventName": if old.is_some() {"MODIFY"} else {"INSERT"},
        "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": change})
}

fn stream(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

fn with_status(task: &Task, status: TaskStatus) -> Task {
    Task {
        status,
        ..task.clone()
    }
}

async fn device(app: &TestApp, user: &str, id: &str, platform: Platform) -> Device {
    let d = Device {
        id: id.into(),
        user_id: user.into(),
        platform,
        endpoint: format!("{}/{id}-token", platform.sns_key()),
        created_at: Timestamp::now(),
    };
    app.store.put_device(&d).await.unwrap();
    d
}

fn failures(answer: &Value) -> Vec<String> {
    answer["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_terminal_change_reaches_every_sink_once_even_when_the_record_repeats() {
    let app = app(Some("https://hooks.example.com/kling"), false);
    device(&app, "alice", "phone", Platform::Apns).await;
    device(&app, "alice", "tablet", Platform::Fcm).await;
    device(&app, "bob", "other", Platform::Fcm).await;
    let running = with_status(&task_fixture("t1", "alice", "fake"), TaskStatus::Running);
    let done = with_status(&running, TaskStatus::Succeeded);
    let batch = stream(vec![record("1", Some(&running), &done)]);
    for _ in 0..3 {
        assert!(failures(&handle(&app, batch.clone()).await).is_empty());
    }
    let events = app.bus.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_id, "t1.succeeded");
    let sent = app.push.sent.lock().unwrap().clone();
    let endpoints: Vec<&str> = sent.iter().map(|(e, _)| e.as_str()).collect();
    assert_eq!(endpoints, ["APNS/phone-token", "GCM/tablet-token"]);
    let queued = app.outbox.queued.lock().unwrap().clone();
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].0.event_id, "t1.succeeded");
}

#[tokio::test]
async fn changes_that_are_not_terminal_status_moves_send_nothing() {
    let app = app(Some("https://hooks.example.com/kling"), false);
    device(&app, "alice", "phone", Platform::Apns).await;
    let created = task_fixture("t2", "alice", "fake");
    let running = with_status(&created, TaskStatus::Running);
    let mut checked = running.clone();
    checked.checked_at = Some(Timestamp::now());
    let mut ledger = record("3", None, &running);
    ledger["dynamodb"]["Keys"]["sk"] = json!({"S": "LEDGER#x"});
    let batch = stream(vec![
        record("1", None, &created),
        record("2", Some(&created), &running),
        record("3", Some(&running), &checked),
        ledger,
    ]);
    assert!(failures(&handle(&app, batch).await).is_empty());
    assert!(app.bus.events.lock().unwrap().is_empty());
    assert!(app.push.sent.lock().unwrap().is_empty());
    assert!(app.outbox.queued.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_disabled_endpoint_loses_its_device() {
    let app = app(None, false);
    let gone = device(&app, "alice", "old-phone", Platform::Apns).await;
    device(&app, "alice", "phone", Platform::ApnsSandbox).await;
    app.push
        .disabled
        .lock()
        .unwrap()
        .insert(gone.endpoint.clone());
    let running = with_status(&task_fixture("t3", "alice", "fake"), TaskStatus::Running);
    let failed = with_status(&running, TaskStatus::Failed);
    handle(&app, stream(vec![record("1", Some(&running), &failed)])).await;
    let left: Vec<String> = app
        .store
        .devices_of("alice")
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left, ["phone"]);
    assert_eq!(*app.push.deleted.lock().unwrap(), [gone.endpoint]);
    assert_eq!(app.push.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_sink_reports_its_record_and_the_retry_sends_the_rest_once() {
    let app = app(None, false);
    let a = with_status(&task_fixture("ta", "alice", "fake"), TaskStatus::Running);
    let b = with_status(&task_fixture("tb", "alice", "fake"), TaskStatus::Running);
    let batch = stream(vec![
        record("10", Some(&a), &with_status(&a, TaskStatus::Succeeded)),
        record("11", Some(&b), &with_status(&b, TaskStatus::Canceled)),
    ]);
    app.store.mark_sent("ta.succeeded", "bus").await.unwrap();
    app.bus.fail.store(true, Ordering::SeqCst);
    assert_eq!(failures(&handle(&app, batch.clone()).await), ["11"]);
    app.bus.fail.store(false, Ordering::SeqCst);
    assert!(failures(&handle(&app, batch).await).is_empty());
    let ids: Vec<String> = app
        .bus
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.event_id.clone())
        .collect();
    assert_eq!(ids, ["tb.canceled"]);
}

/// A loopback receiver that answers 500 `fail_first` times, then 204; keeps every request.
async fn receiver(fail_first: u32) -> (String, Arc<Mutex<Vec<(http::HeaderMap, String)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let count = Arc::new(AtomicU32::new(0));
    let (s, c) = (seen.clone(), count.clone());
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: http::HeaderMap, body: String| {
            let (s, c) = (s.clone(), c.clone());
            async move {
                s.lock().unwrap().push((headers, body));
                if c.fetch_add(1, Ordering::SeqCst) < fail_first {
                    http::StatusCode::INTERNAL_SERVER_ERROR
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

/// Feed every queued delivery back as the queue would (delays skipped by clearing `not_before`).
async fn drain(app: &TestApp) {
    loop {
        let jobs: Vec<_> = std::mem::take(&mut *app.outbox.queued.lock().unwrap());
        if jobs.is_empty() {
            return;
        }
        let records: Vec<Value> = jobs
            .into_iter()
            .enumerate()
            .map(|(i, (mut job, _))| {
                job.not_before = None;
                json!({"messageId": format!("m{i}"), "eventSource": "aws:sqs",
                    "body": serde_json::to_string(&job).unwrap()})
            })
            .collect();
        assert!(failures(&handle(app, json!({"Records": records})).await).is_empty());
    }
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_same_webhook_id_every_time() {
    let (url, seen) = receiver(3).await;
    let app = app(Some(&url), true);
    let running = with_status(&task_fixture("t4", "alice", "fake"), TaskStatus::Running);
    let done = with_status(&running, TaskStatus::Succeeded);
    handle(&app, stream(vec![record("1", Some(&running), &done)])).await;
    let first = app.outbox.queued.lock().unwrap()[0].clone();
    assert_eq!(first.1, Duration::ZERO);
    drain(&app).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    for (headers, body) in &seen {
        assert_eq!(headers["webhook-id"], "t4.succeeded");
        // Both secrets sign (rotation): a receiver holding either one verifies.
        for secret in [SECRET_NEW, SECRET_OLD] {
            let wh = standardwebhooks::Webhook::new(secret).unwrap();
            wh.verify(body.as_bytes(), headers)
                .expect("signature verifies");
        }
        assert_eq!(
            serde_json::from_str::<Value>(body).unwrap()["data"]["task_id"],
            "t4"
        );
    }
    let log = app.store.deliveries_of("t4").await.unwrap();
    let outcomes: Vec<_> = log
        .iter()
        .map(|d| (d.attempt, d.outcome, d.status_code))
        .collect();
    use DeliveryOutcome::{Delivered, Failed};
    assert_eq!(
        outcomes,
        [
            (1, Failed, Some(500)),
            (2, Failed, Some(500)),
            (3, Failed, Some(500)),
            (4, Delivered, Some(204))
        ]
    );
}

#[tokio::test]
async fn retries_back_off_and_end_in_the_dead_letter_queue() {
    let (url, _) = receiver(u32::MAX).await;
    let mut app = app(Some(&url), true);
    app.retry.window = Duration::from_secs(5);
    let running = with_status(&task_fixture("t5", "alice", "fake"), TaskStatus::Running);
    handle(
        &app,
        stream(vec![record(
            "1",
            Some(&running),
            &with_status(&running, TaskStatus::Failed),
        )]),
    )
    .await;
    let mut delays = Vec::new();
    loop {
        let jobs: Vec<_> = std::mem::take(&mut *app.outbox.queued.lock().unwrap());
        let Some((mut job, delay)) = jobs.into_iter().next() else {
            break;
        };
        delays.push(delay.as_secs());
        job.not_before = None;
        // Pretend the wait passed: move the first attempt back by what was waited.
        let first = job.first_attempt_at.unwrap().datetime()
            - time::Duration::seconds(delay.as_secs() as i64);
        job.first_attempt_at = Some(Timestamp::from(first));
        let msg = json!({"messageId": "m", "eventSource": "aws:sqs", "body": serde_json::to_string(&job).unwrap()});
        handle(&app, json!({"Records": [msg]})).await;
    }
    assert_eq!(delays, [0, 1, 2]);
    assert_eq!(app.outbox.dead.lock().unwrap().len(), 1);
    let last = app.store.deliveries_of("t5").await.unwrap().pop().unwrap();
    assert_eq!(last.outcome, DeliveryOutcome::DeadLettered);
}

#[tokio::test]
async fn an_endpoint_on_a_private_or_loopback_address_is_refused() {
    let (url, seen) = receiver(0).await;
    for target in [
        url.as_str(),
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://[::1]/x",
        "http://hooks.example.com/x",
    ] {
        let app = app(Some(target), false);
        let running = with_status(&task_fixture("t6", "alice", "fake"), TaskStatus::Running);
        handle(
            &app,
            stream(vec![record(
                "1",
                Some(&running),
                &with_status(&running, TaskStatus::Succeeded),
            )]),
        )
        .await;
        drain(&app).await;
        let log = app.store.deliveries_of("t6").await.unwrap();
        assert_eq!(log.len(), 1, "{target}");
        assert_eq!(log[0].outcome, DeliveryOutcome::Refused, "{target}");
        assert_eq!(app.outbox.dead.lock().unwrap().len(), 1, "{target}");
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "nothing reached the loopback receiver"
    );
}

#[tokio::test]
async fn a_phone_another_user_signed_in_on_gets_none_of_the_first_users_pushes() {
    let app = app(None, false);
    device(&app, "alice", "shared-phone", Platform::Fcm).await;
    device(&app, "bob", "shared-phone", Platform::Fcm).await;
    let running = with_status(&task_fixture("t7", "alice", "fake"), TaskStatus::Running);
    let done = with_status(&running, TaskStatus::Succeeded);
    handle(&app, stream(vec![record("1", Some(&running), &done)])).await;
    assert!(app.push.sent.lock().unwrap().is_empty());
    assert!(app.store.devices_of("alice").await.unwrap().is_empty());
    assert_eq!(app.store.devices_of("bob").await.unwrap().len(), 1);
}

#[tokio::test]
async fn every_status_change_is_logged_once_for_the_status_stream() {
    use shared::ports::TaskEvents;
    let app = app(None, false);
    let created = task_fixture("t5", "alice", "fake");
    let queued = with_status(&created, TaskStatus::Queued);
    let mut running = with_status(&queued, TaskStatus::Running);
    running.submitted_at = Some(Timestamp::now());
    let mut checked = running.clone();
    checked.checked_at = Some(Timestamp::now());
    let failed = with_status(&running, TaskStatus::Failed);
    let batch = stream(vec![
        record("1", None, &created),
        record("2", Some(&created), &queued),
        record("3", Some(&queued), &running),
        record("4", Some(&running), &checked),
        record("5", Some(&checked), &failed),
    ]);
    for _ in 0..2 {
        assert!(failures(&handle(&app, batch.clone()).await).is_empty());
    }
    let log = app.store.events_after("t5", 0).await.unwrap();
    let got: Vec<(u32, TaskStatus)> = log.iter().map(|e| (e.id, e.status)).collect();
    assert_eq!(
        got,
        [
            (100, TaskStatus::Created),
            (200, TaskStatus::Queued),
            (300, TaskStatus::Running),
            (500, TaskStatus::Failed),
        ]
    );
    assert_eq!(log[2].running_since, running.submitted_at);
}

const LIVE_TOKEN: &str = "80a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

async fn live_activity(app: &TestApp, task: &str) {
    use shared::ports::{LiveActivities, LiveActivity};
    let activity = LiveActivity {
        task_id: task.into(),
        user_id: "alice".into(),
        token: LIVE_TOKEN.into(),
        sandbox: false,
        created_at: Timestamp::now(),
    };
    app.store.put_live_activity(&activity).await.unwrap();
}

/// A task's whole life as stream records, one status after another.
fn life(id: &str) -> Value {
    let created = task_fixture(id, "alice", "fake");
    let statuses = [
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Finalizing,
        TaskStatus::Succeeded,
    ];
    let mut records = vec![record("0", None, &created)];
    let mut old = created;
    for (i, status) in statuses.into_iter().enumerate() {
        let new = with_status(&old, status);
        records.push(record(&(i + 1).to_string(), Some(&old), &new));
        old = new;
    }
    stream(records)
}

fn live_events(app: &TestApp) -> Vec<(String, u8)> {
    let sent = app.live.sent.lock().unwrap().clone();
    sent.iter()
        .map(|(_, p, body)| {
            let aps = &body["aps"];
            let what = format!(
                "{}:{}",
                aps["event"].as_str().unwrap(),
                aps["content-state"]["status"].as_str().unwrap()
            );
            (what, *p)
        })
        .collect()
}

#[tokio::test]
async fn a_live_activity_gets_every_update_and_one_end_then_is_forgotten() {
    use shared::ports::LiveActivities;
    let app = app(None, false);
    live_activity(&app, "t7").await;
    for _ in 0..2 {
        assert!(failures(&handle(&app, life("t7")).await).is_empty());
    }
    assert_eq!(
        live_events(&app),
        [
            ("update:CREATED".to_string(), 5),
            ("update:QUEUED".to_string(), 5),
            ("update:RUNNING".to_string(), 10),
            ("update:FINALIZING".to_string(), 5),
            ("end:SUCCEEDED".to_string(), 10),
        ]
    );
    assert!(app.store.live_activities_of("t7").await.unwrap().is_empty());
}

#[tokio::test]
async fn progress_pushes_are_coalesced_per_task_but_the_end_always_goes() {
    let mut app = app(None, false);
    app.live_policy.min_interval = Duration::from_secs(3600);
    live_activity(&app, "t8").await;
    device(&app, "alice", "pixel", Platform::Fcm).await;
    assert!(failures(&handle(&app, life("t8")).await).is_empty());
    let events: Vec<String> = live_events(&app).into_iter().map(|(e, _)| e).collect();
    assert_eq!(events, ["update:CREATED", "end:SUCCEEDED"]);
    // Android: one progress data message (the first), then the terminal notification.
    let sent = app.push.sent.lock().unwrap().clone();
    let kinds: Vec<String> = sent
        .iter()
        .map(|(_, m)| {
            let outer: Value = serde_json::from_str(m).unwrap();
            let inner: Value = serde_json::from_str(outer["GCM"].as_str().unwrap()).unwrap();
            match inner.pointer("/fcmV1Message/message/data/progress") {
                Some(p) => format!("progress {}", p.as_str().unwrap()),
                None => "notification".to_string(),
            }
        })
        .collect();
    assert_eq!(kinds, ["progress 0", "notification"]);
}

#[tokio::test]
async fn a_revoked_live_activity_token_is_removed_and_nothing_fails() {
    use shared::ports::LiveActivities;
    let app = app(None, false);
    live_activity(&app, "t9").await;
    app.live.revoked.lock().unwrap().insert(LIVE_TOKEN.into());
    assert!(failures(&handle(&app, life("t9")).await).is_empty());
    assert!(app.live.sent.lock().unwrap().is_empty());
    assert!(app.store.live_activities_of("t9").await.unwrap().is_empty());
}
