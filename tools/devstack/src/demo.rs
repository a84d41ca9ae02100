//! One text-to-video task through the HTTP API, end to end, as an app would do it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::DevError;
use crate::stack::Stack;

pub struct DemoOutcome {
    pub task: Value,
    pub bucket: String,
    pub key: Option<String>,
    pub stored_bytes: Option<Vec<u8>>,
    /// What provider-sim serves at this task's result URL.
    pub served_bytes: Option<std::sync::Arc<Vec<u8>>>,
    /// Which API the task went through (Kling's legacy or standard surface, or fal), and the
    /// model as it was named there.
    pub surface: Option<(String, String)>,
}

pub const DEMO_USER: &str = "demo-user";

pub async fn run(stack: &Stack, timeout: Duration) -> Result<DemoOutcome, DevError> {
    let http = shared::runtime::net::client().expect("HTTP client");
    let token = stack.token(DEMO_USER)?;
    let created = http
        .post(format!("{}/v1/videos", stack.api_url))
        .bearer_auth(&token)
        .header("idempotency-key", uuid::Uuid::new_v4().to_string())
        .json(&json!({
            "type": "text_to_video",
            "prompt": "A paper boat drifting down a rainy city street at dusk, cinematic",
            "duration": 5,
            "aspect_ratio": "16:9",
            "quality": "standard"
        }))
        .send()
        .await
        .map_err(|e| DevError::Demo(format!("create request failed: {e}")))?;
    let status = created.status();
    let body: Value = created
        .json()
        .await
        .map_err(|e| DevError::Demo(format!("create answer is not JSON: {e}")))?;
    if status.as_u16() != 202 {
        return Err(DevError::Demo(format!("create answered {status}: {body}")));
    }
    let id = body["id"].as_str().unwrap_or_default().to_string();
    println!("created task {id} ({})", body["status"]);

    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_status = String::new();
    let task = loop {
        let resp = http
            .get(format!("{}/v1/videos/{id}", stack.api_url))
            .bearer_auth(&token)
            .send()
            .await
            .map_err(|e| DevError::Demo(format!("status request failed: {e}")))?;
        let task: Value = resp
            .json()
            .await
            .map_err(|e| DevError::Demo(format!("status answer is not JSON: {e}")))?;
        let status = task["status"].as_str().unwrap_or_default().to_string();
        if status != last_status {
            println!(
                "  {status:<10} {}",
                task["label"].as_str().unwrap_or_default()
            );
            last_status = status.clone();
        }
        if status == "SUCCEEDED" || status == "FAILED" {
            break task;
        }
        if tokio::time::Instant::now() > deadline {
            return Err(DevError::Demo(format!(
                "task {id} still {status} after {timeout:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    let bucket = stack
        .resource("VideoBucket")
        .unwrap_or_default()
        .to_string();
    let key =
        (task["status"] == "SUCCEEDED").then(|| shared::domain::task::video_key(DEMO_USER, &id));
    let stored_bytes = match &key {
        Some(key) => {
            let object = stack
                .s3()
                .get_object()
                .bucket(&bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| {
                    DevError::Demo(format!(
                        "stored object missing: {}",
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ))
                })?;
            let bytes = object
                .body
                .collect()
                .await
                .map_err(|e| DevError::Demo(format!("reading the stored object: {e}")))?;
            Some(bytes.into_bytes().to_vec())
        }
        None => None,
    };
    let (served_bytes, surface) = served(stack, &id);
    Ok(DemoOutcome {
        task,
        bucket,
        key,
        stored_bytes,
        served_bytes,
        surface,
    })
}

/// What the emulator that made the task served, and where it was made: provider-sim (either
/// surface) or fal-sim (found by the task id in its webhook URL).
#[allow(clippy::type_complexity)]
fn served(stack: &Stack, id: &str) -> (Option<std::sync::Arc<Vec<u8>>>, Option<(String, String)>) {
    if let Some(t) = stack.sim.state.find("text2video", id) {
        let bytes = stack.sim.state.video_bytes(&t).ok();
        return (bytes, Some((format!("Kling {:?}", t.surface), t.model)));
    }
    let made = stack
        .fal
        .state
        .all()
        .into_iter()
        .find(|r| r.webhook.as_deref().is_some_and(|w| w.contains(id)));
    match made {
        Some(r) => {
            let bytes = stack.fal.state.video(&r).ok().map(std::sync::Arc::new);
            (bytes, Some(("fal".to_string(), r.model_id)))
        }
        None => (None, None),
    }
}
