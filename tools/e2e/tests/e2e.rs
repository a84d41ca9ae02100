//! End to end: the real function binaries under the Lambda Runtime API, against moto server
//! and provider-sim over HTTP, driven through the local API Gateway and the SQS bridge.

mod common;

use common::{Api, assert_envelope, start, workspace_root};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn text_to_video_end_to_end_with_identity_and_forgery_checks() {
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let alice = stack.token("alice").unwrap();
    let bob = stack.token("bob").unwrap();
    let body = json!({"type": "text_to_video", "prompt": "a red fox running through fresh snow", "duration": 5});

    // No identity: 401 in the envelope, nothing created.
    let (status, _, err) = api.post("/v1/videos", None, Some("k-anon"), &body).await;
    assert_eq!(status, 401);
    assert_envelope(&err, "unauthenticated");
    assert_eq!(stack.sim.state.task_count(), 0);

    let (status, _, created) = api.create(&alice, "k-1", &body).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["ai_generated"], true);

    let done = api.wait_terminal(&alice, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(done["label"], "Ready");
    assert_eq!(done["progress"], 100);
    let video = &done["video"];
    let sim_task = stack
        .sim
        .state
        .find("text2video", &id)
        .expect("provider-sim knows the task");
    let served = stack.sim.state.video_bytes(&sim_task).unwrap();
    assert!(
        video["bytes"].as_u64().unwrap() > served.len() as u64,
        "the video and its manifest"
    );
    assert_eq!(
        (video["width"].as_u64(), video["height"].as_u64()),
        (Some(1280), Some(720))
    );

    // The presigned URL downloads exactly what provider-sim served.
    let url = video["url"].as_str().unwrap();
    let downloaded = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    assert!(common::provider_part(&downloaded) == served.as_slice());
    assert_eq!(video["bytes"], downloaded.len());
    // Players seek: a range of the link answers 206 with exactly those bytes.
    let part = api
        .http
        .get(url)
        .header("range", "bytes=100-1099")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status().as_u16(), 206);
    assert_eq!(part.bytes().await.unwrap().as_ref(), &served[100..1100]);
    let object = stack
        .s3()
        .get_object()
        .bucket(stack.resource("VideoBucket").unwrap())
        .key(format!("videos/alice/{id}.mp4"))
        .send()
        .await
        .unwrap();
    let metadata = object.metadata().cloned().unwrap_or_default();
    assert_eq!(
        metadata.get("ai-generated").map(String::as_str),
        Some("true")
    );
    assert!(object.body.collect().await.unwrap().into_bytes() == downloaded);

    // Another user's task is a 404, exactly like a missing one.
    let (status, err) = api.video(&bob, &id).await;
    assert_eq!(status, 404);
    assert_envelope(&err, "not_found");

    // Idempotency: the same key and body replays the task; Kling saw one task for it.
    let (status, _, replay) = api.create(&alice, "k-1", &body).await;
    assert_eq!((status, replay["id"].as_str()), (202, Some(id.as_str())));
    assert_eq!(stack.sim.state.count_for_external(&id), 1);
    let other = json!({"type": "text_to_video", "prompt": "something else"});
    let (status, _, err) = api.create(&alice, "k-1", &other).await;
    assert_eq!(status, 422);
    assert_envelope(&err, "idempotency_key_reused");

    // Forged callbacks against a task still in flight change nothing.
    let (status, _, second) = api.create(&alice, "k-2", &body).await;
    assert_eq!(status, 202, "{second}");
    let second_id = second["id"].as_str().unwrap().to_string();
    let forged_failure = json!({"task_id": "1", "task_status": "failed", "task_status_msg": "forged",
        "task_info": {"external_task_id": second_id}});
    let (status, err) = api
        .callback(
            &format!("/webhooks/kling/{second_id}/{}", "0".repeat(64)),
            &forged_failure,
        )
        .await;
    assert_eq!(status, 401);
    assert_envelope(&err, "invalid_webhook_token");
    // A valid token of another task does not open this one.
    let other_token = shared::edge::webhook_token::token_for(
        devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes(),
        "kling",
        &id,
    );
    let (status, _) = api
        .callback(
            &format!("/webhooks/kling/{second_id}/{other_token}"),
            &forged_failure,
        )
        .await;
    assert_eq!(status, 401);
    // The right token with a body about another task is refused.
    let token = shared::edge::webhook_token::token_for(
        devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes(),
        "kling",
        &second_id,
    );
    let mismatched =
        json!({"task_id": "999", "task_status": "failed", "task_info": {"external_task_id": id}});
    let (status, err) = api
        .callback(&format!("/webhooks/kling/{second_id}/{token}"), &mismatched)
        .await;
    assert_eq!(status, 422);
    assert_envelope(&err, "callback_task_mismatch");
    let finished = api.wait_terminal(&alice, &second_id).await;
    assert_eq!(
        finished["status"], "SUCCEEDED",
        "forged failures were ignored: {finished}"
    );
    assert_eq!(finished["error"], Value::Null);

    // Listing: the caller's tasks only, newest first.
    let (status, _, page) = api.get("/v1/videos?limit=10", &alice, None).await;
    assert_eq!(status, 200);
    let ids: Vec<_> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, vec![json!(second_id), json!(id)]);
    let (_, _, bobs) = api.get("/v1/videos", &bob, None).await;
    assert_eq!(bobs["items"], json!([]));
}

enum Expect {
    Http(u16),
    Json(Value),
    /// A streamed HTTP answer (function URL, `RESPONSE_STREAM`): its prelude's status.
    Stream(u16),
}

/// A streamed answer read whole: the prelude (status, headers) before eight NUL bytes, then
/// the body.
fn streamed(out: &[u8]) -> (Value, Value) {
    let at = out
        .windows(8)
        .position(|w| w == [0u8; 8])
        .expect("a prelude and its delimiter");
    let prelude = serde_json::from_slice(&out[..at]).unwrap();
    let body = serde_json::from_slice(&out[at + 8..]).unwrap_or(Value::Null);
    (prelude, body)
}

/// Every sample in events/ runs through its function, so the samples cannot rot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_sample_event_runs_on_its_handler() {
    let samples: Vec<(&str, &str, Expect)> = vec![
        ("create-task", "create-video.json", Expect::Http(202)),
        (
            "create-task",
            "create-video-invalid.json",
            Expect::Http(422),
        ),
        (
            "create-task",
            "create-video-unauthenticated.json",
            Expect::Http(401),
        ),
        ("status-query", "get-video.json", Expect::Http(404)),
        ("status-query", "list-videos.json", Expect::Http(200)),
        ("webhook-receiver", "kling-callback.json", Expect::Http(404)),
        (
            "webhook-receiver",
            "kling-callback-forged.json",
            Expect::Http(401),
        ),
        (
            "finalize",
            "sqs-batch.json",
            Expect::Json(json!({"batchItemFailures": []})),
        ),
        (
            "dispatch",
            "scheduled.json",
            Expect::Json(
                // The create sample's task may have just finished and left its slot for this
                // run to free: any count there (null) is right.
                json!({"submitted": 0, "recovered": 0, "unknown": 0, "failed": 0,
                "timed_out": 0, "failed_over": 0, "slots_repaired": null, "out_of_time": false,
                "waiting": 0, "errors": 0}),
            ),
        ),
        (
            "dispatch",
            "nudge.json",
            Expect::Json(
                // Either dispatch run may be the one that frees that slot (seen in CI).
                json!({"submitted": 0, "recovered": 0, "unknown": 0, "failed": 0,
                "timed_out": 0, "failed_over": 0, "slots_repaired": null, "out_of_time": false,
                "waiting": 0, "errors": 0}),
            ),
        ),
        (
            "notify",
            "task-succeeded.json",
            Expect::Json(json!({"batchItemFailures": []})),
        ),
        (
            "notify",
            "webhook-delivery.json",
            Expect::Json(json!({"batchItemFailures": []})),
        ),
        // The sample's video is not in this stack's bucket: nothing to make a poster of.
        (
            "poster",
            "task-succeeded.json",
            Expect::Json(json!({"batchItemFailures": []})),
        ),
        ("devices", "register-device.json", Expect::Http(201)),
        // The sample's link is not one this stack signed: refused, as a stream.
        ("events", "open-stream.json", Expect::Stream(401)),
        // /mcp has no gateway authorizer: without a bearer token, the MCP challenge.
        ("mcp", "tools-list.json", Expect::Http(401)),
        (
            "reconcile",
            "scheduled.json",
            Expect::Json(
                json!({"checked": 0, "moved": 0, "finalize_queued": 0, "failed": 0, "errors": 0,
                "scheduled_at": "2026-11-25T02:00:00+00:00"}),
            ),
        ),
    ];
    let root = workspace_root().join("events");
    let mut on_disk = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        for file in std::fs::read_dir(&dir).unwrap() {
            let name = file.unwrap().file_name().into_string().unwrap();
            on_disk.push(format!(
                "{}/{name}",
                dir.file_name().unwrap().to_str().unwrap()
            ));
        }
    }
    on_disk.sort();
    let mut listed: Vec<String> = samples.iter().map(|(f, n, _)| format!("{f}/{n}")).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "every sample event has an expectation here"
    );

    let stack = start(|_| {}).await;
    let invoker = devstack::invoker::Invoker::new(stack.api_url.clone());
    let mut repaired = 0;
    for (function, name, expect) in samples {
        let event: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join(function).join(name)).unwrap())
                .unwrap();
        let out = invoker
            .invoke(function, &event)
            .await
            .unwrap_or_else(|e| panic!("{function}/{name}: {e}"));
        if let Expect::Stream(code) = expect {
            let (prelude, body) = streamed(&out);
            assert_eq!(prelude["statusCode"], code, "{function}/{name}: {prelude}");
            assert_envelope(&body, "invalid_stream_token");
            continue;
        }
        let out: Value = serde_json::from_slice(&out).unwrap();
        repaired += out["slots_repaired"].as_u64().unwrap_or(0);
        match expect {
            Expect::Http(code) => {
                assert_eq!(out["statusCode"], code, "{function}/{name}: {out}");
                let body: Value =
                    serde_json::from_str(out["body"].as_str().unwrap_or("null")).unwrap();
                if code >= 400 {
                    assert_envelope(&body, body["error"]["code"].as_str().unwrap_or("?"));
                }
            }
            Expect::Json(mut want) => {
                // A null in the expectation takes whatever number the run reports.
                if let (Some(w), Some(o)) = (want.as_object_mut(), out.as_object()) {
                    for (k, v) in w.iter_mut().filter(|(_, v)| v.is_null()) {
                        assert!(
                            o.get(k).is_some_and(Value::is_number),
                            "{function}/{name}: {k}"
                        );
                        *v = o[k].clone();
                    }
                }
                assert_eq!(out, want, "{function}/{name}")
            }
            Expect::Stream(_) => {}
        }
    }
    // Only the create sample's task ever held a slot.
    assert!(repaired <= 1, "slots freed twice: {repaired}");
}
