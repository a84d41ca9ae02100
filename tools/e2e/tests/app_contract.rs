//! The app's contract over HTTP against the local stack: conditional GETs that never leave the
//! app with a dead link, polling hints, rate-limit headers, and local settings taken from the
//! caller's environment.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{Api, bin_dir, workspace_root};
use devstack::stack::Stack;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

async fn start(sim_speed: f64) -> Stack {
    common::start(|opts| opts.sim_speed = sim_speed).await
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

async fn create(stack: &Stack, token: &str, key: &str) -> common::Reply {
    let body = json!({"type": "text_to_video", "prompt": "a lighthouse at dawn", "duration": 5});
    Api::new(stack).create(token, key, &body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditional_gets_keep_the_link_valid_and_change_with_the_task() {
    let stack = start(20.0).await;
    let api = Api::new(&stack);
    let http = &api.http;
    let token = stack.token("carol").unwrap();
    let (status, _, created) = create(&stack, &token, "etag-1").await;
    assert_eq!(status, 202, "{created}");
    let path = format!("/v1/videos/{}", created["id"].as_str().unwrap());
    let url = format!("{}{path}", stack.api_url);

    // An unfinished task: an ETag and a polling hint.
    let (status, h, first) = api.get(&path, &token, None).await;
    assert_eq!(status, 200);
    assert_ne!(first["status"], "SUCCEEDED", "{first}");
    let early_tag = header(&h, "etag").expect("ETag").to_string();
    let hint: u64 = header(&h, "retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=10).contains(&hint), "{hint}");

    // Wait for the end, asking with the old tag: transitions answer 200 with a new tag. A
    // finished task changes once more, when its poster is linked; then it holds.
    let (h, done) = loop {
        let (status, h, body) = api.get(&path, &token, Some(&early_tag)).await;
        if status == 200 && body["video"]["poster_url"].is_string() {
            break (h, body);
        }
        assert!(status == 200 || status == 304, "{status} {body}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let done_tag = header(&h, "etag").unwrap().to_string();
    assert_ne!(done_tag, early_tag);
    assert_eq!(
        header(&h, "retry-after"),
        None,
        "no polling hint once finished"
    );
    let link = done["video"]["url"].as_str().unwrap().to_string();

    // Unchanged: 304 without a body, and the link from the 200 still downloads.
    let (status, h, body) = api.get(&path, &token, Some(&done_tag)).await;
    assert_eq!((status, body), (304, Value::Null));
    assert_eq!(header(&h, "etag"), Some(done_tag.as_str()));
    let video = reqwest::get(&link).await.unwrap();
    assert_eq!(video.status().as_u16(), 200);
    assert_eq!(
        video.bytes().await.unwrap().len() as u64,
        done["video"]["bytes"].as_u64().unwrap()
    );
    // Weak and listed forms match too.
    let (status, _, _) = api
        .get(&path, &token, Some(&format!("\"x\", W/{done_tag}")))
        .await;
    assert_eq!(status, 304);

    // The list has its own tag.
    let list = "/v1/videos";
    let (status, h, page) = api.get(list, &token, None).await;
    assert_eq!(status, 200, "{page}");
    let list_tag = header(&h, "etag").unwrap().to_string();
    assert_eq!(api.get(list, &token, Some(&list_tag)).await.0, 304);

    // Deleting the video is a change: the old tag gets a 200 without a video.
    let deleted = http.delete(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let (status, h, body) = api.get(&path, &token, Some(&done_tag)).await;
    assert_eq!(status, 200);
    assert_ne!(header(&h, "etag"), Some(done_tag.as_str()));
    assert_eq!(body["video"], Value::Null, "{body}");
    assert_eq!(api.get(list, &token, Some(&list_tag)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn creates_and_refusals_carry_the_plans_rate_limits() {
    // Slow enough that the first task still holds the free plan's single slot.
    let stack = start(1.0).await;
    let token = stack.token("dave").unwrap();
    let (status, h, body) = create(&stack, &token, "rl-1").await;
    assert_eq!(status, 202, "{body}");
    // Free plan: 1 task at a time, 20 units a day; this task costs 5.
    let policy = header(&h, "ratelimit-policy").expect("RateLimit-Policy");
    assert_eq!(
        policy,
        "\"concurrency\";q=1;qu=\"concurrent-requests\", \"daily\";q=20;w=86400;qu=\"cost-units\""
    );
    let state = header(&h, "ratelimit").expect("RateLimit");
    assert!(
        state.starts_with("\"concurrency\";r=0, \"daily\";r=15;t="),
        "{state}"
    );

    let (status, h, body) = create(&stack, &token, "rl-2").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "concurrency_limit");
    assert!(header(&h, "retry-after").is_some());
    assert_eq!(header(&h, "ratelimit-policy"), Some(policy));
    let state = header(&h, "ratelimit").unwrap();
    assert!(
        state.starts_with("\"concurrency\";r=0, \"daily\";r=15;t="),
        "{state}"
    );
}

/// `devstack up` as a developer runs it, with a setting in the environment.
async fn devstack_up(env: &[(&str, &str)]) -> (tokio::process::Child, String, Vec<String>) {
    let log_dir = std::env::temp_dir().join(format!("devstack-up-{}", uuid::Uuid::new_v4()));
    let mut cmd = tokio::process::Command::new(bin_dir().join("devstack"));
    for name in devstack::settings::USER_SETTINGS {
        cmd.env_remove(name);
    }
    let mut child = cmd
        .current_dir(workspace_root())
        .args(["up", "--runtime", "builtin", "--api-port", "0"])
        .args(["--moto-port", "0", "--sim-port", "0", "--log-dir"])
        .arg(&log_dir)
        // Only this test's settings: none inherited from the caller, no settings file.
        .args(["--settings", "/dev/null"])
        .env_remove("DEVSTACK_SETTINGS")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("devstack up");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    let api = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("devstack up answers")
            .unwrap()
            .expect("devstack up keeps running");
        if let Some(url) = line.trim().strip_prefix("API") {
            break url.trim().to_string();
        }
        seen.push(line);
    };
    // Keep reading: a closed pipe would make devstack's next line a broken-pipe panic.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, api, seen)
}

fn stop(child: &tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
}

async fn image_create(api: &str, token: &str) -> (u16, Value) {
    let resp = shared::runtime::net::client()
        .expect("HTTP client")
        .post(format!("{api}/v1/videos"))
        .bearer_auth(token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({"type": "image_to_video", "prompt": "waves",
            "image": {"url": "https://127.0.0.1:9/start.png"}, "rights_confirmed": true}))
        .send()
        .await
        .unwrap();
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_setting_from_the_environment_reaches_the_functions() {
    let token = devstack::stack::mint_token("erin").unwrap();

    let (child, api, printed) = devstack_up(&[("IMAGE_URL_ALLOW_LOOPBACK", "false")]).await;
    assert!(
        printed
            .iter()
            .any(|l| l == "setting IMAGE_URL_ALLOW_LOOPBACK=false (from the environment)"),
        "{printed:?}"
    );
    let (status, body) = image_create(&api, &token).await;
    stop(&child);
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "image_url_not_public", "{body}");

    // The template's local default allows loopback images (provider-sim serves them).
    let (child, api, printed) = devstack_up(&[]).await;
    assert!(
        !printed.iter().any(|l| l.starts_with("setting ")),
        "{printed:?}"
    );
    let (status, body) = image_create(&api, &token).await;
    stop(&child);
    assert_eq!(status, 202, "{body}");
}

/// What no route matches (an unknown path, a known path with the wrong method, with or
/// without a token) reaches the template's `$default` route and gets `route_not_found` in the
/// error envelope, never the gateway's bare `{"message":"Not Found"}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unknown_routes_answer_route_not_found_in_the_envelope() {
    let stack = start(1.0).await;
    let api = Api::new(&stack);
    let token = stack.token("wanderer").unwrap();
    let url = |p: &str| format!("{}{p}", api.base);
    let requests = [
        api.http.get(url("/v1/nowhere")).bearer_auth(&token),
        api.http.get(url("/")),
        api.http.delete(url("/v1/videos")).bearer_auth(&token),
        api.http.put(url("/v1/me")),
        api.http.get(url("/webhooks/kling/t/x")),
    ];
    for req in requests {
        let (status, _, body) = api.send(req).await;
        assert_eq!(status, 404, "{body}");
        common::assert_envelope(&body, "route_not_found");
    }
}
