//! Motion control on both surfaces. `POST /v1/videos/motion-control` checked as Kling checks it: a model that runs it
//! (`kling-v2-6`, `kling-v3`), `mode` std/pro, the character photo (`image_url`) and the
//! reference video (`video_url`, fetched here: an MP4/MOV of at most 100 MB, 3-30 s, at most
//! 10 s when `character_orientation` is `image`). The result is as long as the reference.

use serde_json::Value;

use crate::bodies::{opt_str, text};
use crate::routes::{Fail, invalid};
use crate::sound::mp4_seconds;
use crate::tasks::{NewTask, SimState, Surface};
use crate::video::{Aspect, Resolution};

const MODELS: [&str; 2] = ["kling-v2-6", "kling-v3"];
const MAX_VIDEO_BYTES: usize = 100 * 1024 * 1024;

fn required<'a>(body: &'a Value, field: &str) -> Result<&'a str, Fail> {
    opt_str(body, field)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("{field} is required")))
}

async fn reference_seconds(state: &SimState, url: &str, orientation: &str) -> Result<f64, Fail> {
    let bytes = state
        .fetch(url, MAX_VIDEO_BYTES)
        .await
        .map_err(|e| invalid(format!("video_url could not be read: {e}")))?;
    let seconds =
        mp4_seconds(&bytes).ok_or_else(|| invalid("video_url is not an MP4/MOV video"))?;
    let max = if orientation == "image" { 10.0 } else { 30.0 };
    if !(3.0..=max).contains(&seconds) {
        return Err(invalid(format!(
            "the reference video must last 3 to {max} s with character_orientation {orientation}, not {seconds:.1} s"
        )));
    }
    Ok(seconds)
}

pub(crate) async fn validate_motion_control(
    state: &SimState,
    body: &Value,
) -> Result<NewTask, Fail> {
    let model = opt_str(body, "model_name")?.unwrap_or(MODELS[0]);
    if !MODELS.contains(&model) {
        return Err(invalid(format!(
            "model_name {model} does not run motion control"
        )));
    }
    let mode = required(body, "mode")?;
    if !["std", "pro"].contains(&mode) {
        return Err(invalid("mode must be std or pro"));
    }
    let orientation = required(body, "character_orientation")?;
    if !["image", "video"].contains(&orientation) {
        return Err(invalid("character_orientation must be image or video"));
    }
    let image = required(body, "image_url")?;
    if !(image.starts_with("http://") || image.starts_with("https://")) {
        return Err(invalid("image_url must be an http(s) URL"));
    }
    let seconds = reference_seconds(state, required(body, "video_url")?, orientation).await?;
    Ok(NewTask {
        kind: "motion-control",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt: text(body, "prompt")?.unwrap_or_default(),
        resolution: Resolution::P720,
        sound: false,
        mode: mode.to_string(),
        request: body.clone(),
        surface: Surface::Legacy,
        model: model.to_string(),
        duration: seconds.round() as u32,
        aspect: Aspect::Portrait,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
        parent: None,
    })
}

/// The standard API's motion-control models (`POST /motion-control/{model}`).
pub const STANDARD_MODELS: &[&str] = &["kling-3.0", "kling-2.6"];

/// `POST /motion-control/{model}`: `contents[]` with the photo (`image`) and the reference
/// (`video`), `settings.character_orientation` (required) and `resolution`, `options`.
pub(crate) async fn standard_task(
    state: &SimState,
    body: &Value,
    model: &str,
) -> Result<NewTask, Fail> {
    let items = body.get("contents").and_then(Value::as_array);
    let items = items.ok_or_else(|| invalid("contents is required"))?;
    let url_of = |ty: &str| {
        items
            .iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
            .and_then(|c| c.get("url").and_then(Value::as_str))
    };
    url_of("image").ok_or_else(|| invalid("contents needs an image"))?;
    let video = url_of("video").ok_or_else(|| invalid("contents needs a video"))?;
    let settings = body.get("settings").cloned().unwrap_or(Value::Null);
    let orientation = required(&settings, "character_orientation")?;
    if !["image", "video"].contains(&orientation) {
        return Err(invalid(
            "settings.character_orientation must be image or video",
        ));
    }
    let mode = match opt_str(&settings, "resolution")? {
        None | Some("720p") => "std",
        Some("1080p") => "pro",
        Some(_) => return Err(invalid("settings.resolution must be 720p or 1080p")),
    };
    let seconds = reference_seconds(state, video, orientation).await?;
    let options = body.get("options").cloned().unwrap_or(Value::Null);
    let prompt = items
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some("prompt"))
        .and_then(|c| c.get("text").and_then(Value::as_str));
    Ok(NewTask {
        kind: "motion-control",
        external_task_id: opt_str(&options, "external_task_id")?
            .filter(|e| !e.is_empty())
            .map(str::to_string),
        prompt: prompt.unwrap_or_default().to_string(),
        resolution: if mode == "pro" {
            Resolution::P1080
        } else {
            Resolution::P720
        },
        sound: false,
        mode: mode.to_string(),
        request: body.clone(),
        surface: Surface::Standard,
        model: model.to_string(),
        duration: seconds.round() as u32,
        aspect: Aspect::Portrait,
        callback_url: opt_str(&options, "callback_url")?.map(str::to_string),
        parent: None,
    })
}
