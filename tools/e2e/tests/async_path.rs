//! The asynchronous path against moto server and provider-sim over HTTP: callbacks that come
//! twice, out of order, late or never; SQS redelivery; a finalize that crashes; downloads that
//! break or expire. Nothing lost, nothing forged, nothing double-counted.

mod common;

use sha2::Digest;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::notifications::{
    disable_endpoint, distinct, drain_events, endpoint_of, event_sink, pushes, register_device,
};
use common::{
    fast_retries, objects_under, plans_with, store, wait_terminal_in_table as wait_terminal,
};
use devstack::stack::{Stack, StackOptions};
use provider_sim::Faults;
use serde_json::{Value, json};
use shared::domain::task::{Task, TaskStatus};
use shared::ports::{Accounts, LedgerEntry, LedgerKind, Tasks};

fn plans_json() -> String {
    let chaos = json!({"qualities": ["draft", "standard", "pro"], "model_overrides": [],
        "max_duration_seconds": 10, "max_concurrent_tasks": 500, "daily_cost_units": 100000,
        "suspend_after_violations": 3, "violation_window_seconds": 3600, "suspension_seconds": 60});
    plans_with(&[("chaos", chaos)])
}

async fn start(tweak: impl FnOnce(&mut StackOptions)) -> Stack {
    common::start(|opts| {
        opts.extra_env = fast_retries();
        opts.extra_env.push(("PLANS_JSON".into(), plans_json()));
        tweak(opts);
    })
    .await
}

async fn create(stack: &Stack, token: &str, key: &str, prompt: &str) -> String {
    let (status, _, body) = common::Api::new(stack)
        .create(token, key, &common::t2v(prompt))
        .await;
    assert_eq!(status, 202, "{body}");
    body["id"].as_str().unwrap().to_string()
}

async fn wait_sim_succeeded(stack: &Stack, id: &str) -> Value {
    for _ in 0..200 {
        if let Some(t) = stack.sim.state.find("text2video", id)
            && t.status == "succeed"
        {
            return t.to_json(&stack.sim.state.base_url);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("provider-sim never finished {id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_callback_five_times_yields_one_transition_one_message_one_object() {
    let stack = start(|o| o.instances = 3).await;
    let token = stack.token("dup").unwrap();
    // provider-sim sends nothing for this task; the test delivers its success five times at once.
    let id = create(
        &stack,
        &token,
        "dup-1",
        "a kite over a beach [sim:drop-callbacks]",
    )
    .await;
    let body = wait_sim_succeeded(&stack, &id).await;
    let secret = devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes();
    let url = shared::edge::webhook_token::callback_url(&stack.api_url, secret, "kling", &id);
    let sends = (0..5).map(|_| {
        let url = url.clone();
        let body = body.clone();
        tokio::spawn(async move {
            let resp = shared::runtime::net::client()
                .expect("HTTP client")
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        })
    });
    let mut first = 0;
    for s in sends {
        let (status, answer) = s.await.unwrap();
        assert_eq!(status, 200, "{answer}");
        if answer.get("duplicate").is_none() {
            first += 1;
        }
    }
    assert_eq!(first, 1, "one delivery acted, four were duplicates");
    let task = wait_terminal(&stack, &id, Duration::from_secs(30)).await;
    assert_eq!(task.status, TaskStatus::Succeeded);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stack.sim.state.counters().download,
        1,
        "one finalize download"
    );
    assert_eq!(
        common::videos_under(&stack, "videos/dup/").await,
        vec![format!("videos/dup/{id}.mp4")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_callbacks_are_caught_by_status_polling() {
    let stack = start(|o| o.extra_env.push(("POLL_STALE_SECONDS".into(), "1".into()))).await;
    let token = stack.token("poller").unwrap();
    let id = create(&stack, &token, "poll-1", "a red fox [sim:drop-callbacks]").await;
    let http = shared::runtime::net::client().expect("HTTP client");
    let mut status = String::new();
    for _ in 0..120 {
        let t: Value = http
            .get(format!("{}/v1/videos/{id}", stack.api_url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status = t["status"].as_str().unwrap_or_default().to_string();
        if status == "SUCCEEDED" {
            assert!(t["video"]["url"].is_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(
        stack.sim.state.counters().callbacks_sent,
        0,
        "no callback ever arrived"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_callbacks_are_caught_by_reconcile_when_nobody_polls() {
    let stack = start(|o| {
        o.schedule_every = Duration::from_secs(1);
        o.extra_env
            .push(("RECONCILE_STALE_SECONDS".into(), "1".into()));
    })
    .await;
    let token = stack.token_with_plan("sweeper", "chaos").unwrap();
    let ok = create(
        &stack,
        &token,
        "sweep-1",
        "a lighthouse [sim:drop-callbacks]",
    )
    .await;
    let bad = create(
        &stack,
        &token,
        "sweep-2",
        "a harbour [sim:drop-callbacks] [sim:fail=Image pixel is invalid]",
    )
    .await;
    assert_eq!(
        wait_terminal(&stack, &ok, Duration::from_secs(60))
            .await
            .status,
        TaskStatus::Succeeded
    );
    let failed = wait_terminal(&stack, &bad, Duration::from_secs(60)).await;
    assert_eq!(failed.status, TaskStatus::Failed);
    // Kling's own words are the operator's; the app sees the code's sentence.
    assert_eq!(
        failed.provider_facts.failure_detail.as_deref(),
        Some("Image pixel is invalid")
    );
    let error = failed.error.unwrap();
    assert_eq!(
        error.message,
        shared::domain::task::failure_message(&error.code)
    );
    let refunds = refund_count(&stack, "sweeper").await;
    assert_eq!(refunds, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn broken_downloads_retry_and_expired_links_fail_with_a_refund() {
    let stack = start(|o| o.instances = 2).await;
    let token = stack.token_with_plan("downloads", "chaos").unwrap();
    let cut = create(&stack, &token, "dl-1", "a river [sim:truncate-download]").await;
    let gone = create(&stack, &token, "dl-2", "a desert [sim:expire-url]").await;
    let cut = wait_terminal(&stack, &cut, Duration::from_secs(60)).await;
    assert_eq!(
        cut.status,
        TaskStatus::Succeeded,
        "the cut-off download was retried"
    );
    let served = stack
        .sim
        .state
        .served_sha256(cut.provider_ref.as_ref().unwrap().as_str())
        .unwrap();
    let key = cut.video.as_ref().unwrap().key.clone();
    let stored = common::object_bytes(&stack, &key).await;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(common::provider_part(&stored))),
        served
    );
    assert_eq!(
        cut.video.unwrap().sha256,
        hex::encode(sha2::Sha256::digest(&stored))
    );
    let gone = wait_terminal(&stack, &gone, Duration::from_secs(60)).await;
    assert_eq!(gone.status, TaskStatus::Failed);
    assert_eq!(gone.error.unwrap().code, "video_unusable");
    assert!(
        common::videos_under(&stack, "videos/downloads/")
            .await
            .len()
            == 1
    );
}

/// 100 tasks with every fault on, finalize and notify crashing once mid-run, forged "failed"
/// callbacks with valid tokens, and one DynamoDB write reply in ten lost after the write (the
/// functions reach DynamoDB through a proxy that applies the write, then answers 500). Every
/// terminal task yields one EventBridge event and one push per registered device (by event id).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_every_task_ends_once_with_its_money_right() {
    let lossy = devstack::lossy::LossyProxy::start("").await.unwrap();
    let stack = start(|o| {
        o.instances = 4;
        o.sim_speed = 300.0;
        o.schedule_every = Duration::from_secs(2);
        o.extra_env
            .push(("RECONCILE_STALE_SECONDS".into(), "3".into()));
        o.extra_env.push(("POLL_STALE_SECONDS".into(), "3".into()));
        o.extra_env
            .push(("AWS_ENDPOINT_URL_DYNAMODB".into(), lossy.endpoint.clone()));
    })
    .await;
    lossy.connect(&stack.moto_endpoint);
    lossy.lose_every_nth_write(10);
    stack.sim.state.set_faults(Faults {
        seed: 7,
        error_rate: 0.1,
        error_codes: vec![5000, 5001, 5002],
        callback_drop_rate: 0.2,
        callback_duplicate_rate: 0.3,
        callback_reorder_rate: 0.3,
        callback_delay_ms: 50,
        fail_rate: 0.1,
        fail_message: "risk control".into(),
        truncate_download_rate: 0.2,
        download_bytes_per_sec: Some(2_000_000),
        ..Default::default()
    });
    let token = stack.token_with_plan("chaos", "chaos").unwrap();
    let sink = event_sink(&stack).await;
    let phone = register_device(&stack, &token, "apns", &"a1".repeat(32)).await;
    let tablet = register_device(&stack, &token, "fcm", "chaos:APA91b-tablet-token-0001").await;
    let uninstalled = register_device(&stack, &token, "apns_sandbox", &"b2".repeat(32)).await;
    let gone = endpoint_of(&stack, "chaos", &uninstalled).await.unwrap();
    disable_endpoint(&stack, &gone).await;
    let mut ids = Vec::new();
    let mut forged = 0;
    let http = shared::runtime::net::client().expect("HTTP client");
    for batch in 0..10 {
        let mut sends = Vec::new();
        for n in 0..10 {
            let i = batch * 10 + n;
            let prompt = if i % 17 == 0 {
                format!("scene {i} [sim:expire-url]")
            } else {
                format!("scene {i} of a chaotic day")
            };
            let req = http
                .post(format!("{}/v1/videos", stack.api_url))
                .bearer_auth(&token)
                .header("idempotency-key", format!("chaos-{i}"))
                .json(&json!({"type": "text_to_video", "prompt": prompt, "duration": 5}));
            sends.push(tokio::spawn(async move {
                // As an app does: a retryable 500 (here: the table's replies lost on every
                // SDK attempt) is sent again with the same Idempotency-Key.
                for _ in 0..3 {
                    let resp = req.try_clone().unwrap().send().await.unwrap();
                    let status = resp.status().as_u16();
                    let body = resp.json::<Value>().await.unwrap();
                    if status != 500 || body["error"]["retryable"] != json!(true) {
                        return (status, body);
                    }
                }
                (500, json!("retryable 500 three times with the same key"))
            }));
        }
        for s in sends {
            let (status, body) = s.await.unwrap();
            match status {
                202 => ids.push(body["id"].as_str().unwrap().to_string()),
                // Kling kept failing through every retry: the task exists, FAILED and refunded.
                503 => {}
                other => panic!("unexpected {other}: {body}"),
            }
        }
        if batch == 3 {
            let killed = stack.crash("finalize");
            assert!(killed > 0, "finalize crashed");
        }
        if batch == 6 {
            assert!(stack.crash("notify") > 0, "notify crashed");
        }
        // A leaked callback URL: forged failures for tasks of the batch before (in flight).
        let before = ids.len().saturating_sub(20)..ids.len().saturating_sub(10);
        forged += forge_failures(&stack, ids[before].iter().step_by(2)).await;
    }
    // On a busy machine the batches may all be created before any reaches Kling: forge then.
    let until = tokio::time::Instant::now() + Duration::from_secs(60);
    while forged == 0 {
        assert!(tokio::time::Instant::now() < until, "no task reached Kling");
        tokio::time::sleep(Duration::from_millis(500)).await;
        forged += forge_failures(&stack, ids.iter().step_by(5)).await;
    }
    let store = store(&stack);
    let page = store.list_tasks("chaos", 100, None).await.unwrap();
    assert_eq!(page.tasks.len(), 100, "every request left a task");

    let mut finished: HashMap<String, Task> = HashMap::new();
    // A liveness bound, not a speed claim: moto's transactions and a loaded 2-core machine (66
    // of 100 done at 180 s once, with a build running beside it) set the pace here.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(420);
    while finished.len() < 100 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of 100 finished",
            finished.len()
        );
        for t in &page.tasks {
            if finished.contains_key(t.id.as_str()) {
                continue;
            }
            let now = store.get_task(&t.id).await.unwrap().unwrap();
            if now.status.is_terminal() {
                finished.insert(t.id.to_string(), now);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let objects = objects_under(&stack, "videos/chaos/").await;
    let entries = store.ledger("chaos").await.unwrap();
    let (mut succeeded, mut failed, mut charged) = (0, 0, 0u64);
    for (id, task) in &finished {
        let debits = entries
            .iter()
            .filter(|e| &e.task_id == id && e.kind == LedgerKind::Debit)
            .count();
        let refunds = entries
            .iter()
            .filter(|e| &e.task_id == id && e.kind == LedgerKind::Refund)
            .count();
        assert_eq!(debits, 1, "{id} charged once");
        match task.status {
            TaskStatus::Succeeded => {
                succeeded += 1;
                charged += task.cost_units.0;
                assert_eq!(refunds, 0, "{id} succeeded and was refunded");
                let key = format!("videos/chaos/{id}.mp4");
                assert_eq!(
                    objects.iter().filter(|k| **k == key).count(),
                    1,
                    "{id} has one object"
                );
                let video = task.video.as_ref().unwrap();
                let provider_id = task.provider_ref.as_ref().unwrap().as_str();
                // The object written once, whole: its bytes are the ones the task records,
                // the provider's followed by the C2PA manifest.
                let body = common::object_bytes(&stack, &key).await;
                assert_eq!(
                    Some(hex::encode(sha2::Sha256::digest(common::provider_part(
                        &body
                    )))),
                    stack.sim.state.served_sha256(provider_id),
                    "{id}"
                );
                assert_eq!(
                    hex::encode(sha2::Sha256::digest(&body)),
                    video.sha256,
                    "{id}"
                );
            }
            TaskStatus::Failed => {
                failed += 1;
                assert_eq!(refunds, 1, "{id} failed and was refunded exactly once");
            }
            other => panic!("{id} ended {other:?}"),
        }
    }
    let videos = objects.iter().filter(|k| k.ends_with(".mp4")).count();
    assert_eq!(videos, succeeded, "no stray videos");
    // Posters only beside videos that were kept (the job lags by a moment: some may be missing).
    for poster in objects.iter().filter(|k| !k.ends_with(".mp4")) {
        let video = poster.replace(".jpg", ".mp4");
        assert!(objects.contains(&video), "stray object {poster}");
    }
    let me: Value = http
        .get(format!("{}/v1/me", stack.api_url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Usage counts by UTC day: a run that crosses midnight compares today's charges only.
    let today = me["usage"]["day"].as_str().unwrap();
    let charged_today: u64 = finished
        .iter()
        .filter(|(id, t)| t.status == TaskStatus::Succeeded && debit_day(&entries, id) == today)
        .map(|(_, t)| t.cost_units.0)
        .sum();
    assert!(charged_today <= charged);
    let used = (me["usage"]["cost_units"].as_f64().unwrap() * 100.0).round() as u64;
    assert_eq!(
        used, charged_today,
        "usage equals what today's succeeded tasks cost"
    );
    assert_eq!(
        me["ledger_today"]["net"], me["usage"]["cost_units"],
        "the ledger balances"
    );
    assert_eq!(me["usage"]["in_flight"], 0);
    let lost = lossy.lost();
    eprintln!(
        "chaos: {succeeded} succeeded, {failed} failed, {forged} forged failures, {lost} DynamoDB replies lost"
    );
    assert!(lost > 0, "write replies were lost");
    println!(
        "chaos: {succeeded} succeeded, {failed} failed, {} downloads, {} callbacks",
        stack.sim.state.counters().download,
        stack.sim.state.counters().callbacks_sent
    );
    assert!(
        succeeded > 50 && failed > 5,
        "the faults were real: {succeeded}/{failed}"
    );
    let devices = [(phone, "phone"), (tablet, "tablet")];
    assert_notified(&stack, &sink, &finished, &devices, &gone).await;
    let removed = endpoint_of(&stack, "chaos", &uninstalled).await;
    assert!(removed.is_none(), "the disabled device was removed");
}

/// The UTC day a task was charged on, from its ledger debit.
fn debit_day<'a>(entries: &'a [LedgerEntry], id: &str) -> &'a str {
    entries
        .iter()
        .find(|e| e.task_id.as_str() == id && e.kind == LedgerKind::Debit)
        .map_or("", |e| e.day.as_str())
}

/// Every terminal task: one distinct bus event of the right kind, and one distinct push on each
/// live device; the disabled device is gone and got nothing.
async fn assert_notified(
    stack: &Stack,
    sink: &str,
    finished: &HashMap<String, Task>,
    devices: &[(String, &str)],
    disabled: &str,
) {
    let expected: BTreeSet<String> = finished
        .iter()
        .map(|(id, t)| format!("{id}.{}", format!("{:?}", t.status).to_lowercase()))
        .collect();
    let mut events = Vec::new();
    // notify reads the stream in order, behind every record the run wrote (with moto's pace
    // and the lost replies it retries): wait while events keep coming, not for a fixed time.
    let mut deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut seen_before = 0;
    loop {
        events.extend(drain_events(stack, sink).await);
        let seen: BTreeSet<String> = events
            .iter()
            .map(|e| e["detail"]["event_id"].as_str().unwrap().to_string())
            .collect();
        if seen.len() > seen_before {
            seen_before = seen.len();
            deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        }
        if seen.len() >= expected.len() || tokio::time::Instant::now() > deadline {
            assert_eq!(seen, expected, "one bus event per terminal task");
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    for e in &events {
        let status = e["detail"]["status"].as_str().unwrap();
        let kind = e["detail-type"].as_str().unwrap();
        assert_eq!(
            kind,
            format!("Video {}{}", &status[..1], status[1..].to_lowercase())
        );
    }
    // notify publishes to the bus before it pushes: the last pushes may follow the last bus
    // event by a moment.
    let mut endpoints = Vec::new();
    for (device, name) in devices {
        endpoints.push((endpoint_of(stack, "chaos", device).await.unwrap(), *name));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let pushes = loop {
        let pushes = pushes(stack).await;
        let complete = endpoints.iter().all(|(endpoint, _)| {
            pushes.get(endpoint).map(|g| distinct(g)) == Some(expected.clone())
        });
        if complete || tokio::time::Instant::now() > deadline {
            break pushes;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    for (endpoint, name) in &endpoints {
        let got = &pushes[endpoint];
        assert_eq!(
            distinct(got),
            expected,
            "one push per terminal task on the {name}"
        );
        println!(
            "notify: {name}: {} pushes, {} distinct",
            got.len(),
            expected.len()
        );
    }
    assert!(
        pushes[disabled].is_empty(),
        "the disabled endpoint got nothing"
    );
    println!(
        "notify: {} bus events, {} distinct",
        events.len(),
        expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_signing_on_only_signed_callbacks_count() {
    let secret = "whsec_bG9jYWwtc2lnbmluZy1zZWNyZXQtZm9yLXRlc3Rz";
    let stack = start(|o| {
        o.sim_webhook_secret = Some(secret.into());
        o.extra_env
            .push(("WEBHOOK_SIGNING_SECRETS".into(), secret.into()));
    })
    .await;
    let token = stack.token("signed").unwrap();
    let id = create(&stack, &token, "signed-1", "a windmill at dawn").await;
    let task = wait_terminal(&stack, &id, Duration::from_secs(30)).await;
    assert_eq!(
        task.status,
        TaskStatus::Succeeded,
        "signed callbacks were accepted"
    );

    // The right URL token without a signature is not enough.
    let url = shared::edge::webhook_token::callback_url(
        &stack.api_url,
        devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes(),
        "kling",
        &id,
    );
    let resp = shared::runtime::net::client().expect("HTTP client")
        .post(url)
        .json(&json!({"task_id": task.provider_ref, "task_status": "failed", "task_info": {"external_task_id": id}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_webhook_signature");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deleting_a_video_removes_the_object_once_and_only_for_its_owner() {
    let stack = start(|o| o.instances = 2).await;
    let token = stack.token_with_plan("deleter", "chaos").unwrap();
    let other = stack.token("someone-else").unwrap();
    let http = shared::runtime::net::client().expect("HTTP client");
    let url = |id: &str| format!("{}/v1/videos/{id}", stack.api_url);

    let slow = create(&stack, &token, "del-0", "a glacier [sim:drop-callbacks]").await;
    let resp = http
        .delete(url(&slow))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 409, "a task in progress cannot be deleted");

    let id = create(&stack, &token, "del-1", "a meadow").await;
    assert_eq!(
        wait_terminal(&stack, &id, Duration::from_secs(30))
            .await
            .status,
        TaskStatus::Succeeded
    );
    assert_eq!(
        common::videos_under(&stack, "videos/deleter/").await.len(),
        1
    );
    let resp = http
        .delete(url(&id))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "another user's video");
    assert_eq!(
        common::videos_under(&stack, "videos/deleter/").await.len(),
        1
    );

    // Once its poster is made, the delete removes both objects.
    common::wait_poster_in_table(&stack, &id).await;
    for _ in 0..2 {
        let resp = http
            .delete(url(&id))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 204);
    }
    assert!(objects_under(&stack, "videos/deleter/").await.is_empty());
    let task: Value = http
        .get(url(&id))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["video"], Value::Null);
    assert!(task["deleted_at"].is_string());
}

/// Kling stored the task but its answer was lost (a hang past our timeout; a 5000 after
/// storing): the create is looked up by our id, never submitted twice, and the video arrives
/// with no refund.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_create_answer_costs_neither_a_video_nor_a_second_charge() {
    let stack = start(|opts| {
        opts.extra_env
            .push(("KLING_REQUEST_TIMEOUT_MS".into(), "700".into()));
    })
    .await;
    let token = stack.token_with_plan("lost", "chaos").unwrap();
    let faults = [
        Faults {
            hang_next_creates: 1,
            hang_ms: 3_000,
            ..Default::default()
        },
        Faults {
            fail_after_storing_next_creates: 1,
            ..Default::default()
        },
    ];
    for (n, fault) in faults.into_iter().enumerate() {
        stack.sim.state.set_faults(fault);
        let id = create(&stack, &token, &format!("lost-{n}"), "a heron on a pier").await;
        let task = wait_terminal(&stack, &id, Duration::from_secs(60)).await;
        assert_eq!(task.status, TaskStatus::Succeeded, "case {n}: {task:?}");
        assert_eq!(
            stack.sim.state.count_for_external(&id),
            1,
            "case {n}: one Kling task"
        );
    }
    let refunds = refund_count(&stack, "lost").await;
    assert_eq!(refunds, 0);
}

async fn refund_count(stack: &Stack, user: &str) -> usize {
    let entries = store(stack).ledger(user).await.unwrap();
    entries
        .iter()
        .filter(|e| e.kind == LedgerKind::Refund)
        .count()
}

/// Post a forged "failed" callback with a valid token for each task Kling has; how many.
async fn forge_failures<'a>(stack: &Stack, ids: impl Iterator<Item = &'a String>) -> usize {
    let http = shared::runtime::net::client().expect("HTTP client");
    let mut sent = 0;
    for id in ids {
        let Some(sim_task) = stack.sim.state.find("text2video", id) else {
            continue;
        };
        let url = shared::edge::webhook_token::callback_url(
            &stack.api_url,
            devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes(),
            "kling",
            id,
        );
        let forged = json!({"task_id": sim_task.task_id, "task_status": "failed",
            "task_status_msg": "forged", "task_info": {"external_task_id": id}});
        if http.post(url).json(&forged).send().await.is_ok() {
            sent += 1;
        }
    }
    sent
}

/// A leaked callback URL cannot fail a task: a forged "failed" callback with the right token
/// only asks finalize to confirm with Kling, which says the task is still generating.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_failure_with_a_valid_token_neither_fails_nor_refunds() {
    let stack = start(|opts| opts.sim_speed = 20.0).await;
    let token = stack.token_with_plan("forged", "chaos").unwrap();
    let id = create(&stack, &token, "forged-1", "a lantern festival").await;
    let url = shared::edge::webhook_token::callback_url(
        &stack.api_url,
        devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes(),
        "kling",
        &id,
    );
    let mut sim_task = None;
    for _ in 0..100 {
        sim_task = stack.sim.state.find("text2video", &id);
        if sim_task.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sim_task = sim_task.expect("dispatched to provider-sim");
    let forged = json!({"task_id": sim_task.task_id, "task_status": "failed",
        "task_status_msg": "forged", "task_info": {"external_task_id": id}});
    let resp = shared::runtime::net::client()
        .expect("HTTP client")
        .post(url)
        .json(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let task = wait_terminal(&stack, &id, Duration::from_secs(60)).await;
    assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
    let refunds = refund_count(&stack, "forged").await;
    assert_eq!(refunds, 0);
}
