//! Kling 3.0 Omni on the standard API, as far as edits go: `POST /omni-video/kling-3.0-omni`
//! with `contents[]` holding a `prompt` and a `base_video` (fetched here: an MP4/MOV of at most
//! 200 MB, 3 to 15.5 s), optional `refer_image`s; with a base video there is no first or last
//! frame, no multi-shot and no native sound. The result is as long as the base video. Omni
//! generation without a video is not emulated.

use serde_json::Value;

use crate::bodies::opt_str;
use crate::routes::{Fail, invalid};
use crate::sound::mp4_seconds;
use crate::tasks::{NewTask, SimState, Surface};
use crate::video::{Aspect, Resolution};

pub const MODELS: &[&str] = &["kling-3.0-omni"];
const MAX_VIDEO_BYTES: usize = 200 * 1024 * 1024;
const MAX_PROMPT_CHARS: usize = 3072;
const MAX_REFER_IMAGES: usize = 4;

fn of_type<'a>(items: &'a [Value], ty: &str) -> Vec<&'a Value> {
    items
        .iter()
        .filter(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        .collect()
}

fn prompt(items: &[Value]) -> Result<String, Fail> {
    let text = of_type(items, "prompt")
        .first()
        .and_then(|c| c.get("text").and_then(Value::as_str))
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| invalid("contents needs a prompt"))?;
    if text.chars().count() > MAX_PROMPT_CHARS {
        return Err(invalid(format!(
            "the prompt must be at most {MAX_PROMPT_CHARS} characters"
        )));
    }
    Ok(text.to_string())
}

async fn base_seconds(state: &SimState, items: &[Value]) -> Result<f64, Fail> {
    let videos = [
        of_type(items, "base_video"),
        of_type(items, "feature_video"),
    ]
    .concat();
    if videos.len() > 1 {
        return Err(invalid("at most one reference video"));
    }
    let base = of_type(items, "base_video");
    let url = base
        .first()
        .and_then(|c| c.get("url").and_then(Value::as_str))
        .ok_or_else(|| invalid("this emulator serves Omni edits: contents needs a base_video"))?;
    let bytes = state
        .fetch(url, MAX_VIDEO_BYTES)
        .await
        .map_err(|e| invalid(format!("base_video could not be read: {e}")))?;
    let seconds =
        mp4_seconds(&bytes).ok_or_else(|| invalid("base_video is not an MP4/MOV video"))?;
    if !(3.0..=15.5).contains(&seconds) {
        return Err(invalid(format!(
            "the video must last 3 to 15.5 s, not {seconds:.1} s"
        )));
    }
    Ok(seconds)
}

/// What an edit cannot be asked for alongside a base video, and the tier it is billed at (std,
/// pro or 4k) by `settings.resolution`.
fn check_edit(items: &[Value], settings: &Value) -> Result<&'static str, Fail> {
    if !of_type(items, "first_frame").is_empty() || !of_type(items, "last_frame").is_empty() {
        return Err(invalid("a base video takes no first or last frame"));
    }
    if of_type(items, "refer_image").len() > MAX_REFER_IMAGES {
        return Err(invalid("at most 4 reference images with a video"));
    }
    if settings.get("multi_shot").and_then(Value::as_bool) == Some(true) {
        return Err(invalid("a base video cannot be made multi-shot"));
    }
    if opt_str(settings, "audio")? == Some("native") {
        return Err(invalid("a base video takes audio original or off"));
    }
    match opt_str(settings, "resolution")? {
        None | Some("720p") => Ok("std"),
        Some("1080p") => Ok("pro"),
        Some("4k") => Ok("4k"),
        Some(other) => Err(invalid(format!(
            "settings.resolution {other}: must be 720p, 1080p or 4k"
        ))),
    }
}

/// `POST /omni-video/{model}` with a base video.
pub(crate) async fn standard_task(
    state: &SimState,
    body: &Value,
    model: &str,
) -> Result<NewTask, Fail> {
    let items = body.get("contents").and_then(Value::as_array);
    let items = items.ok_or_else(|| invalid("contents is required"))?;
    let settings = body.get("settings").cloned().unwrap_or(Value::Null);
    let prompt = prompt(items)?;
    let mode = check_edit(items, &settings)?;
    let seconds = base_seconds(state, items).await?;
    let options = body.get("options").cloned().unwrap_or(Value::Null);
    Ok(NewTask {
        kind: "omni-video",
        external_task_id: opt_str(&options, "external_task_id")?
            .filter(|e| !e.is_empty())
            .map(str::to_string),
        prompt,
        mode: mode.to_string(),
        // 4K is rendered at 1080p here.
        resolution: if mode == "std" {
            Resolution::P720
        } else {
            Resolution::P1080
        },
        sound: false,
        request: body.clone(),
        surface: Surface::Standard,
        model: model.to_string(),
        duration: seconds.round() as u32,
        aspect: Aspect::Landscape,
        callback_url: opt_str(&options, "callback_url")?.map(str::to_string),
        parent: None,
    })
}
