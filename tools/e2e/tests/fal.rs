//! Kling through fal.ai end to end (`PROVIDER=fal`): the functions against fal-sim over HTTP.
//! A task runs through fal's queue with its signed webhooks (fal's retries handled once, a
//! forged one refused) into S3; a task still in fal's queue is canceled there and refunded once.

mod common;

use common::{Api, assert_envelope, start, store};
use serde_json::json;
use shared::ports::{Accounts, LedgerKind, Tasks};

fn on_fal(o: &mut devstack::stack::StackOptions) {
    o.extra_env.push(("PROVIDER".into(), "fal".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_video_through_fals_queue_with_signed_webhooks() {
    let stack = start(on_fal).await;
    stack.fal.state.set_faults(provider_sim::fal::FalFaults {
        repeat_webhooks: 2,
        ..Default::default()
    });
    let api = Api::new(&stack);
    let token = stack.token("falco").unwrap();
    let body = json!({"type": "text_to_video", "prompt": "a heron over a lake", "duration": 5});
    let (status, _, task) = api.create(&token, "fal-1", &body).await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let made = stack.fal.state.all();
    assert_eq!(made.len(), 1, "one submission to fal");
    assert_eq!(
        made[0].model_id,
        "fal-ai/kling-video/v3/standard/text-to-video"
    );
    let served = stack.fal.state.video(&made[0]).unwrap();
    let url = done["video"]["url"].as_str().unwrap();
    let stored = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert!(
        common::provider_part(&stored) == served.as_slice(),
        "the stored video is fal's"
    );
    let (view, jpeg) = api.wait_poster(&token, &id).await;
    let video = &view["video"];
    assert_eq!(
        common::jpeg_size(&jpeg),
        (
            video["width"].as_u64().unwrap(),
            video["height"].as_u64().unwrap()
        ),
        "the poster has the video's size"
    );
    assert_eq!(
        stack.fal.state.counters().webhooks_sent,
        3,
        "fal delivered three times"
    );

    // A forged webhook on a valid URL: the token is right, the signature is not.
    let item = store(&stack).get_task(&id).await.unwrap();
    let hook = made[0].webhook.clone().unwrap();
    let path = hook
        .split_once("/webhooks/")
        .map(|(_, p)| format!("/webhooks/{p}"))
        .unwrap();
    let forged = json!({"request_id": made[0].id, "status": "ERROR", "error": "forged"});
    let (status, err) = api.callback(&path, &forged).await;
    assert_eq!(status, 401);
    assert_envelope(&err, "invalid_webhook_signature");
    assert_eq!(
        store(&stack).get_task(&id).await.unwrap(),
        item,
        "nothing moved"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_reaches_fals_queue_and_refunds_once() {
    // Real-time fal-sim: a request waits about 10 s in its queue.
    let stack = start(|o| {
        on_fal(o);
        o.sim_speed = 1.0;
    })
    .await;
    let api = Api::new(&stack);
    let token = stack.token("canceler").unwrap();
    let body = json!({"type": "text_to_video", "prompt": "a slow tide", "duration": 5});
    let (_, _, task) = api.create(&token, "fal-cancel", &body).await;
    let id = task["id"].as_str().unwrap().to_string();
    // Our record of fal's request id, not fal-sim's own: until dispatch has written it, a
    // cancel is answered "try again" (409, retryable).
    for _ in 0..100 {
        let ours = store(&stack).get_task(&id).await.unwrap().unwrap();
        if ours.provider_ref.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (status, _, canceled) = api
        .post(
            &format!("/v1/videos/{id}/cancel"),
            Some(&token),
            None,
            &json!({}),
        )
        .await;
    assert_eq!(
        (status, canceled["status"].as_str()),
        (200, Some("CANCELED")),
        "{canceled}"
    );
    let at_fal = &stack.fal.state.all()[0];
    assert_eq!(at_fal.status, provider_sim::fal::Status::Canceled);
    let ledger = store(&stack).ledger("canceler").await.unwrap();
    let refunds = ledger
        .iter()
        .filter(|e| e.kind == LedgerKind::Refund)
        .count();
    assert_eq!(refunds, 1, "{ledger:?}");
    let (status, _, again) = api
        .post(
            &format!("/v1/videos/{id}/cancel"),
            Some(&token),
            None,
            &json!({}),
        )
        .await;
    assert_eq!((status, again["status"].as_str()), (200, Some("CANCELED")));
}

/// Failover: Kling answers 5000 to every create, so its breaker opens and tasks go to fal and
/// succeed, each submitted to exactly one provider; when Kling recovers (after the quiet
/// period), new tasks go to Kling again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_kling_fails_over_to_fal_and_back() {
    let stack = start(|o| {
        o.extra_env.push(("PROVIDER".into(), "kling,fal".into()));
        o.extra_env.push(("BREAKER_THRESHOLD".into(), "2".into()));
        o.extra_env
            .push(("BREAKER_OPEN_SECONDS".into(), "4".into()));
        o.extra_env.extend(common::fast_retries());
    })
    .await;
    stack.sim.state.set_faults(provider_sim::Faults {
        next_errors: vec![provider_sim::NextError {
            code: 5000,
            times: 100_000,
            on: provider_sim::CallKind::Create,
        }],
        ..Default::default()
    });
    let api = Api::new(&stack);
    let token = stack.token("traveller").unwrap();
    let mut ids = Vec::new();
    for n in 0..3 {
        let body = json!({"type": "text_to_video", "prompt": format!("a lighthouse, take {n}")});
        let (status, _, task) = api.create(&token, &format!("fo-{n}"), &body).await;
        assert_eq!(status, 202, "{task}");
        let id = task["id"].as_str().unwrap().to_string();
        let done = api.wait_terminal(&token, &id).await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
        ids.push(id);
    }
    assert_eq!(stack.sim.state.task_count(), 0, "Kling stored none of them");
    let at_fal = stack.fal.state.all();
    for id in &ids {
        let copies = at_fal
            .iter()
            .filter(|r| {
                r.webhook
                    .as_deref()
                    .is_some_and(|w| w.contains(id.as_str()))
            })
            .count();
        assert_eq!(copies, 1, "{id} submitted to fal once");
        let task = store(&stack).get_task(id).await.unwrap().unwrap();
        assert_eq!(task.provider, "fal");
    }
    // Kling recovers; once the quiet period is over new tasks go to it again.
    stack.sim.state.set_faults(provider_sim::Faults::default());
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let body = json!({"type": "text_to_video", "prompt": "a lighthouse, back home"});
    let (_, _, task) = api.create(&token, "fo-back", &body).await;
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(stack.sim.state.count_for_external(&id), 1, "back on Kling");
    assert_eq!(stack.fal.state.all().len(), 3, "fal got nothing more");
    let task = store(&stack).get_task(&id).await.unwrap().unwrap();
    assert_eq!(task.provider, "kling");
}

/// Failover on the plan's deadline: Kling keeps answering 1303 (its account is full), so the
/// task waits in Kling's line; once half its wait is gone it goes to fal and succeeds there,
/// never having been stored at Kling.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_task_kept_waiting_by_a_busy_kling_goes_to_fal_before_its_deadline() {
    let plans = common::plans_with(&[(
        "free",
        json!({"qualities": ["draft", "standard"], "model_overrides": [], "max_duration_seconds": 5,
            "max_concurrent_tasks": 1, "daily_cost_units": 20, "suspend_after_violations": 3,
            "violation_window_seconds": 86400, "suspension_seconds": 86400, "max_queue_seconds": 6}),
    )]);
    let stack = start(|o| {
        o.extra_env.push(("PROVIDER".into(), "kling,fal".into()));
        o.extra_env.push(("PLANS_JSON".into(), plans));
        o.extra_env.extend(common::fast_retries());
    })
    .await;
    stack.sim.state.set_faults(provider_sim::Faults {
        concurrency_limit: Some(0),
        ..Default::default()
    });
    let api = Api::new(&stack);
    let token = stack.token("patient").unwrap();
    let body = json!({"type": "text_to_video", "prompt": "a tide that will not wait"});
    let (_, _, task) = api.create(&token, "busy-1", &body).await;
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert!(
        stack.sim.state.counters().refused_1303 >= 1,
        "Kling was asked and was busy"
    );
    assert_eq!(stack.sim.state.task_count(), 0);
    assert_eq!(stack.fal.state.all().len(), 1);
    let task = store(&stack).get_task(&id).await.unwrap().unwrap();
    assert_eq!(task.provider, "fal");
}

/// fal's webhooks lost or late: polling finds the finished request at fal and the video is
/// stored all the same (the webhook is only ever a hint).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dropped_or_delayed_fal_webhooks_are_caught_by_polling() {
    let stack = start(|o| {
        on_fal(o);
        o.extra_env.push(("POLL_STALE_SECONDS".into(), "1".into()));
    })
    .await;
    let api = Api::new(&stack);
    let token = stack.token("poller").unwrap();
    for (n, faults) in [
        provider_sim::fal::FalFaults {
            drop_webhooks: true,
            ..Default::default()
        },
        provider_sim::fal::FalFaults {
            webhook_delay_ms: 20_000,
            ..Default::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        stack.fal.state.set_faults(faults);
        let body = json!({"type": "text_to_video", "prompt": format!("a quiet pier {n}")});
        let (_, _, task) = api.create(&token, &format!("poll-{n}"), &body).await;
        let done = api
            .wait_terminal(&token, task["id"].as_str().unwrap())
            .await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
    }
    assert_eq!(
        stack.fal.state.counters().webhooks_sent,
        0,
        "no webhook arrived in time"
    );
}
