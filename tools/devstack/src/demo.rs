//! One task of any kind through the HTTP API, end to end, as an app would do it (`make demo
//! KIND=…`).

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

/// The kinds `make demo KIND=…` can run, as the API names them.
pub const KINDS: [&str; 8] = shared::domain::validation::KIND_NAMES;

/// The stack settings a kind needs beyond the defaults: a kind Kling's legacy API does not
/// offer but its standard API does (`omni_edit`) runs on the standard API.
pub fn settings_for(kind: &str) -> Vec<(String, String)> {
    use shared::domain::catalogue::{self, Surface};
    let Ok(kind) = serde_json::from_value::<shared::domain::task::VideoType>(json!(kind)) else {
        return Vec::new();
    };
    let surfaces = catalogue::kind(kind).surfaces;
    if surfaces.contains(&Surface::KlingLegacy) || !surfaces.contains(&Surface::KlingStandard) {
        return Vec::new();
    }
    vec![("KLING_API_STYLE".into(), "standard".into())]
}

/// A photo for the kinds that start from one (`image_to_video`, `effect`).
const PHOTO: &[u8] = include_bytes!("../../e2e/tests/fixtures/photo-640x480.png");

struct Client {
    http: reqwest::Client,
    api: String,
    token: String,
}

impl Client {
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<(u16, Value), DevError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| DevError::Demo(format!("{what} request failed: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp
            .json()
            .await
            .map_err(|e| DevError::Demo(format!("{what} answer is not JSON: {e}")))?;
        Ok((status, body))
    }

    /// Create one task and follow it until it ends.
    async fn make(&self, body: Value, timeout: Duration) -> Result<Value, DevError> {
        let req = self
            .http
            .post(format!("{}/v1/videos", self.api))
            .header("idempotency-key", uuid::Uuid::new_v4().to_string())
            .json(&body);
        let (status, created) = self.send(req, "create").await?;
        if status != 202 {
            return Err(DevError::Demo(format!(
                "create answered {status}: {created}"
            )));
        }
        let id = created["id"].as_str().unwrap_or_default().to_string();
        println!("created {} task {id} ({})", body["type"], created["status"]);
        self.follow(&id, timeout).await
    }

    async fn follow(&self, id: &str, timeout: Duration) -> Result<Value, DevError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last_status = String::new();
        loop {
            let req = self.http.get(format!("{}/v1/videos/{id}", self.api));
            let (_, task) = self.send(req, "status").await?;
            let status = task["status"].as_str().unwrap_or_default().to_string();
            if status != last_status {
                println!(
                    "  {status:<10} {}",
                    task["label"].as_str().unwrap_or_default()
                );
                last_status = status.clone();
            }
            if status == "SUCCEEDED" || status == "FAILED" {
                return Ok(task);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(DevError::Demo(format!(
                    "task {id} still {status} after {timeout:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Upload a file as an app would: a presigned PUT.
    async fn upload(&self, content_type: &str, bytes: Vec<u8>) -> Result<Value, DevError> {
        let grant = json!({"content_type": content_type, "bytes": bytes.len()});
        let req = self
            .http
            .post(format!("{}/v1/uploads", self.api))
            .json(&grant);
        let (status, grant) = self.send(req, "upload").await?;
        let url = grant["url"].as_str().filter(|_| status == 201);
        let url =
            url.ok_or_else(|| DevError::Demo(format!("upload answered {status}: {grant}")))?;
        let put = self
            .http
            .put(url)
            .header("content-type", content_type)
            .body(bytes)
            .send()
            .await
            .map_err(|e| DevError::Demo(format!("upload PUT failed: {e}")))?;
        if !put.status().is_success() {
            return Err(DevError::Demo(format!(
                "upload PUT answered {}",
                put.status()
            )));
        }
        Ok(json!({"upload_id": grant["upload_id"]}))
    }

    async fn upload_photo(&self) -> Result<Value, DevError> {
        self.upload("image/png", PHOTO.to_vec()).await
    }
}

/// The request body for a kind; `video_to_audio`, `omni_edit` and `lip_sync` first make the
/// video they work on.
async fn body_for(c: &Client, kind: &str, timeout: Duration) -> Result<Value, DevError> {
    let prompt = "A paper boat drifting down a rainy city street at dusk, cinematic";
    let t2v = json!({"type": "text_to_video", "prompt": prompt, "duration": 5,
        "aspect_ratio": "16:9", "quality": "standard"});
    Ok(match kind {
        "text_to_video" => t2v,
        "image_to_video" => json!({"type": "image_to_video", "prompt": "the scene comes alive",
            "image": c.upload_photo().await?, "rights_confirmed": true, "duration": 5}),
        "effect" => json!({"type": "effect", "scene": "pet_lion_pro",
            "image": c.upload_photo().await?, "rights_confirmed": true}),
        "motion_control" => {
            use provider_sim::video::{Aspect, Resolution, render};
            let dance = render(Aspect::Portrait, Resolution::P720, 6)
                .map_err(|e| DevError::Demo(format!("rendering the reference video: {e}")))?;
            json!({"type": "motion_control", "image": c.upload_photo().await?,
                "source": c.upload("video/mp4", dance).await?, "rights_confirmed": true,
                "prompt": "dancing in the rain"})
        }
        "avatar" => {
            let speech = shared::domain::audio_probe::wav(6.0);
            json!({"type": "avatar", "image": c.upload_photo().await?,
                "voice": {"upload_id": c.upload("audio/wav", speech).await?["upload_id"]},
                "rights_confirmed": true, "prompt": "smiling, nodding"})
        }
        "lip_sync" => {
            let source = c.make(t2v, timeout).await?;
            let speech = shared::domain::audio_probe::wav(3.0);
            json!({"type": "lip_sync", "source": {"video_id": source["id"]},
                "voice": {"upload_id": c.upload("audio/wav", speech).await?["upload_id"]},
                "rights_confirmed": true})
        }
        "omni_edit" => {
            let source = c.make(t2v, timeout).await?;
            json!({"type": "omni_edit", "source": {"video_id": source["id"]},
                "prompt": "make it snow on @video_1, keep everything else", "rights_confirmed": true,
                "image": c.upload_photo().await?})
        }
        "video_to_audio" => {
            let source = c.make(t2v, timeout).await?;
            json!({"type": "video_to_audio", "source": {"video_id": source["id"]},
                "prompt": "rain on the street, a distant tram", "music_prompt": "soft jazz"})
        }
        other => {
            return Err(DevError::Demo(format!(
                "KIND={other}: one of {}",
                KINDS.join(", ")
            )));
        }
    })
}

/// One task of `kind` through the HTTP API, end to end, as an app would make it.
pub async fn run(stack: &Stack, timeout: Duration, kind: &str) -> Result<DemoOutcome, DevError> {
    let client = Client {
        http: shared::runtime::net::client().expect("HTTP client"),
        api: stack.api_url.clone(),
        token: stack.token_with_plan(DEMO_USER, "pro")?,
    };
    let body = body_for(&client, kind, timeout).await?;
    let task = client.make(body, timeout).await?;
    let id = task["id"].as_str().unwrap_or_default().to_string();

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
    let kling = [
        "text2video",
        "image2video",
        "effects",
        "video-to-audio",
        "motion-control",
        "avatar",
        "omni-video",
        "advanced-lip-sync",
    ]
    .into_iter()
    .find_map(|kind| stack.sim.state.find(kind, id));
    if let Some(t) = kling {
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

pub use finalize::label::split_manifest;

/// How a C2PA reader trusting the local stack's CA judges a stored video's manifest.
pub fn manifest_state(stored: &[u8]) -> Result<String, DevError> {
    let ca = crate::env::local_c2pa().ok_or_else(|| DevError::Demo("no local CA".into()))?;
    let reader = ca
        .read(stored)
        .map_err(|e| DevError::Demo(format!("C2PA: {e}")))?;
    Ok(format!("{:?}", reader.validation_state()))
}
