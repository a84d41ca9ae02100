//! `POST /v1/audio/video-to-audio` checked as Kling checks it: exactly one of `video_id` (a
//! video this account made) and `video_url` (fetched here: an MP4/MOV of at most 100 MB), a
//! video of 3.0 to 20.0 s, prompts of at most 200 characters. The answer is the same video
//! with sound, as long as its source, and `task_info.parent_video` names the source.

use serde_json::{Value, json};

use crate::bodies::opt_str;
use crate::routes::{Fail, invalid};
use crate::tasks::{NewTask, SimState, Surface};
use crate::video::{Aspect, Resolution};

const MAX_PROMPT_CHARS: usize = 200;
const MAX_VIDEO_BYTES: usize = 100 * 1024 * 1024;

fn prompt(body: &Value, field: &str) -> Result<Option<String>, Fail> {
    match opt_str(body, field)? {
        Some(s) if s.chars().count() > MAX_PROMPT_CHARS => Err(invalid(format!(
            "{field} must be at most {MAX_PROMPT_CHARS} characters"
        ))),
        other => Ok(other.map(str::to_string)),
    }
}

/// The source's length in seconds, from this account's own task or from the file at the URL.
pub(crate) async fn source_seconds(state: &SimState, body: &Value) -> Result<f64, Fail> {
    match (opt_str(body, "video_id")?, opt_str(body, "video_url")?) {
        (Some(id), None) => {
            let task = id
                .strip_prefix('v')
                .and_then(|t| state.get(t))
                .filter(|t| t.status == "succeed")
                .ok_or_else(|| invalid(format!("video_id {id} is not a video of this account")))?;
            Ok(f64::from(task.duration))
        }
        (None, Some(url)) => {
            let bytes = state
                .fetch(url, MAX_VIDEO_BYTES)
                .await
                .map_err(|e| invalid(format!("video_url could not be read: {e}")))?;
            mp4_seconds(&bytes).ok_or_else(|| invalid("video_url is not an MP4/MOV video"))
        }
        _ => Err(invalid("exactly one of video_id and video_url is required")),
    }
}

/// The movie header's length (`mvhd`: duration / timescale), read by the `mp4` crate.
pub fn mp4_seconds(bytes: &[u8]) -> Option<f64> {
    let reader =
        mp4::Mp4Reader::read_header(std::io::Cursor::new(bytes), bytes.len() as u64).ok()?;
    let mvhd = &reader.moov.mvhd;
    (mvhd.timescale > 0).then(|| mvhd.duration as f64 / f64::from(mvhd.timescale))
}

pub(crate) async fn validate_video_to_audio(
    state: &SimState,
    body: &Value,
) -> Result<NewTask, Fail> {
    let sound = prompt(body, "sound_effect_prompt")?;
    let music = prompt(body, "bgm_prompt")?;
    let seconds = source_seconds(state, body).await?;
    if !(3.0..=20.0).contains(&seconds) {
        return Err(invalid(format!(
            "the video must last 3.0 to 20.0 s, not {seconds:.1} s"
        )));
    }
    if let Some(url) = opt_str(body, "callback_url")?
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(invalid("callback_url must be an http(s) URL"));
    }
    Ok(NewTask {
        kind: "video-to-audio",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt: [sound, music]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" / "),
        resolution: Resolution::P720,
        sound: true,
        mode: "std".into(),
        request: body.clone(),
        surface: Surface::Legacy,
        model: "video-to-audio".into(),
        duration: seconds.round() as u32,
        aspect: Aspect::Landscape,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
        parent: Some(parent_video(body, seconds)),
    })
}

/// `task_info.parent_video` as Kling shows it.
pub(crate) fn parent_video(request: &Value, seconds: f64) -> Value {
    json!({
        "id": request["video_id"].as_str().unwrap_or_default(),
        "url": request["video_url"].as_str().unwrap_or_default(),
        "duration": format!("{seconds:.1}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::video::{Aspect, Resolution, render};

    #[test]
    fn the_movie_header_gives_the_length() {
        let six = render(Aspect::Portrait, Resolution::P720, 6).unwrap();
        assert_eq!(mp4_seconds(&six).map(f64::round), Some(6.0));
        assert_eq!(mp4_seconds(b"not a video"), None);
    }
}
