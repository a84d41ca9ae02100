//! The `video_to_audio` body: a video (`source`: one of the caller's, or an upload) and what
//! to hear — sound effects (`prompt`) and music (`music_prompt`), each at most 200 characters
//! (Kling's bound, `docs/providers.md` §Job kinds). The video's owner, state and length are
//! checked at admission, where the task is read.

use super::source::source;
use super::{CreateVideoBody, VideoSpec, invalid, only_fields, text};
use crate::domain::error::ApiError;
use crate::domain::task::VideoType;

/// Kling's bound on `sound_effect_prompt` and `bgm_prompt`.
pub const MAX_SOUND_PROMPT_CHARS: usize = 200;

fn sound_text(body: &CreateVideoBody, field: &str) -> Result<Option<String>, ApiError> {
    let v = if field == "prompt" {
        &body.prompt
    } else {
        &body.music_prompt
    };
    let got = text(v, field, "invalid_prompt", "prompt_too_long")?;
    match got {
        Some(t) if t.chars().count() > MAX_SOUND_PROMPT_CHARS => Err(invalid(
            "prompt_too_long",
            field,
            format!("{field} must be at most {MAX_SOUND_PROMPT_CHARS} characters"),
        )),
        other => Ok(other),
    }
}

/// Sound for an earlier video: its source, and optionally the sounds and music to make; the
/// video's own length decides the task's (filled in at admission).
pub(super) fn validate_video_to_audio(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let takes = ["source", "prompt", "music_prompt"];
    only_fields(body, VideoType::VideoToAudio, &takes)?;
    let source = source(body, VideoType::VideoToAudio)?;
    Ok(VideoSpec {
        prompt: sound_text(body, "prompt")?,
        music_prompt: sound_text(body, "music_prompt")?,
        source: Some(source),
        ..VideoSpec::bare(VideoType::VideoToAudio)
    })
}
