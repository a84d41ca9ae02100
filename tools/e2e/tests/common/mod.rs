//! The end-to-end harness every test file shares: start the stack, typed API calls, waits on
//! the API or on the table, and the envelope check. (Each test file uses a part of it.)
#![allow(dead_code)]

pub mod notifications;

use std::path::{Path, PathBuf};
use std::time::Duration;

use devstack::stack::{Stack, StackOptions};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use shared::domain::task::Task;
use shared::ports::Tasks;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `target/debug`, where `cargo build --workspace --bins` put the function binaries.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The local stack for a test, after `tweak` adjusts the test defaults.
pub async fn start(tweak: impl FnOnce(&mut StackOptions)) -> Stack {
    let mut opts = StackOptions::for_tests(&workspace_root(), &bin_dir());
    tweak(&mut opts);
    Stack::start(opts)
        .await
        .expect("local stack starts (needs `cargo build --workspace --bins` and moto server)")
}

/// The shipped plans with these added or replaced.
pub fn plans_with(extra: &[(&str, Value)]) -> String {
    let mut plans: Value = serde_json::from_str(shared::domain::plans::DEFAULT_PLANS_JSON).unwrap();
    for (name, plan) in extra {
        plans["plans"][name] = plan.clone();
    }
    plans.to_string()
}

/// A plan with room for every task at once (`pool`), waiting up to 240 s.
pub fn pool_plan() -> (String, String) {
    let plan = json!({"priority": 1, "max_queue_seconds": 240,
        "qualities": ["draft", "standard", "pro"], "model_overrides": [],
        "max_duration_seconds": 10, "max_concurrent_tasks": 50, "daily_cost_units": 100000,
        "suspend_after_violations": 3, "violation_window_seconds": 3600,
        "suspension_seconds": 60});
    ("PLANS_JSON".into(), plans_with(&[("pool", plan)]))
}

/// Fast Kling retries, so fault tests do not wait on production backoff.
pub fn fast_retries() -> Vec<(String, String)> {
    vec![
        ("KLING_RETRY_BASE_MS".into(), "10".into()),
        ("KLING_RETRY_CAP_MS".into(), "40".into()),
        ("KLING_CONCURRENCY_BACKOFF_MS".into(), "10".into()),
    ]
}

pub fn store(stack: &Stack) -> shared::aws::DynamoTaskStore {
    shared::aws::DynamoTaskStore::from_sdk(&stack.sdk, stack.resource("TasksTable").unwrap())
}

pub fn t2v(prompt: &str) -> Value {
    json!({"type": "text_to_video", "prompt": prompt, "duration": 5})
}

/// The mobile API as an app calls it.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
}

pub type Reply = (u16, HeaderMap, Value);

impl Api {
    pub fn new(stack: &Stack) -> Self {
        Self {
            http: shared::runtime::net::client().expect("HTTP client"),
            base: stack.api_url.clone(),
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// A POST with an optional identity and `Idempotency-Key`.
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: &Value,
    ) -> Reply {
        let mut req = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("idempotency-key", k);
        }
        self.send(req).await
    }

    pub async fn create(&self, token: &str, key: &str, body: &Value) -> Reply {
        self.post("/v1/videos", Some(token), Some(key), body).await
    }

    /// A GET, conditional when `etag` is given.
    pub async fn get(&self, path: &str, token: &str, etag: Option<&str>) -> Reply {
        let mut req = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(tag) = etag {
            req = req.header("if-none-match", tag);
        }
        self.send(req).await
    }

    pub async fn video(&self, token: &str, id: &str) -> (u16, Value) {
        let (status, _, body) = self.get(&format!("/v1/videos/{id}"), token, None).await;
        (status, body)
    }

    /// Poll `GET /v1/videos/{id}` until SUCCEEDED or FAILED.
    pub async fn wait_terminal(&self, token: &str, id: &str) -> Value {
        for _ in 0..300 {
            let (status, task) = self.video(token, id).await;
            assert_eq!(status, 200, "{task}");
            if matches!(task["status"].as_str(), Some("SUCCEEDED" | "FAILED")) {
                return task;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("task {id} did not finish");
    }

    /// Poll a SUCCEEDED task until its view links a poster (the poster job follows the
    /// table's stream); the view and the poster's bytes.
    pub async fn wait_poster(&self, token: &str, id: &str) -> (Value, Vec<u8>) {
        for _ in 0..150 {
            let (status, task) = self.video(token, id).await;
            assert_eq!(status, 200, "{task}");
            if let Some(url) = task["video"]["poster_url"].as_str() {
                let resp = self.http.get(url).send().await.expect("poster");
                assert_eq!(resp.status(), 200, "{url}");
                let bytes = resp.bytes().await.expect("poster body").to_vec();
                return (task, bytes);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("task {id} got no poster");
    }

    /// An unauthenticated POST, as a provider's callback arrives.
    pub async fn callback(&self, path: &str, body: &Value) -> (u16, Value) {
        let (status, _, body) = self.post(path, None, None, body).await;
        (status, body)
    }
}

/// Wait on the table directly (not through the API, which would poll the provider).
pub async fn wait_terminal_in_table(stack: &Stack, id: &str, limit: Duration) -> Task {
    let store = store(stack);
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let task = store.get_task(id).await.unwrap().unwrap();
        if task.status.is_terminal() {
            return task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task {id} stuck in {:?}",
            task.status
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The error envelope with this code.
pub fn assert_envelope(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["retryable"].is_boolean(), "{body}");
    assert!(body["request_id"].is_string(), "{body}");
}

/// The stored videos under `prefix`: its objects less the posters beside them (which the
/// poster job adds a moment after a task succeeds).
pub async fn videos_under(stack: &Stack, prefix: &str) -> Vec<String> {
    let mut keys = objects_under(stack, prefix).await;
    keys.retain(|k| k.ends_with(".mp4"));
    keys
}

/// Wait until the poster job recorded the task's poster (it follows the table's stream).
pub async fn wait_poster_in_table(stack: &Stack, id: &str) {
    for _ in 0..150 {
        let task = store(stack).get_task(id).await.unwrap();
        if task.and_then(|t| t.video).and_then(|v| v.poster).is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("task {id} got no poster");
}

/// The width and height a JPEG's header gives.
pub fn jpeg_size(bytes: &[u8]) -> (u64, u64) {
    assert_eq!(
        imagesize::image_type(bytes).ok(),
        Some(imagesize::ImageType::Jpeg)
    );
    let size = imagesize::blob_size(bytes).expect("a readable JPEG header");
    (size.width as u64, size.height as u64)
}

/// The keys of the stored objects under `prefix`.
pub async fn objects_under(stack: &Stack, prefix: &str) -> Vec<String> {
    let out = stack
        .s3()
        .list_objects_v2()
        .bucket(stack.resource("VideoBucket").unwrap())
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_string))
        .collect()
}

/// The provider's bytes of a stored video: everything before the C2PA manifest finalize
/// appends as the last top-level box (which must be there).
pub fn provider_part(stored: &[u8]) -> &[u8] {
    devstack::demo::split_manifest(stored)
        .expect("the stored video ends with its C2PA manifest")
        .0
}

/// A stored object's bytes.
pub async fn object_bytes(stack: &Stack, key: &str) -> Vec<u8> {
    let object = stack
        .s3()
        .get_object()
        .bucket(stack.resource("VideoBucket").unwrap())
        .key(key)
        .send()
        .await
        .unwrap();
    object.body.collect().await.unwrap().into_bytes().to_vec()
}
