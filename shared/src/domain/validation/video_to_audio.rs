//! The `video_to_audio` body: a video (`source`: one of the caller's, or an upload) and what
//! to hear — sound effects (`prompt`) and music (`music_prompt`), each at most 200 characters
//! (Kling's bound, `docs/providers.md` §Job kinds). The video's owner, state and length are
//! checked at admission, where the task is read.

use super::effect::not_for_kind;
use super::source::source;
use super::{CreateVideoBody, VideoSpec, invalid, present, text};
use crate::domain::error::ApiError;
use crate::domain::task::{Quality, VideoType};

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
    let foreign = [
        ("negative_prompt", &body.negative_prompt),
        ("duration", &body.duration),
        ("aspect_ratio", &body.aspect_ratio),
        ("quality", &body.quality),
        ("model", &body.model),
        ("cfg_scale", &body.cfg_scale),
        ("image", &body.image),
        ("image_tail", &body.image_tail),
        ("camera_control", &body.camera_control),
        ("audio", &body.audio),
        ("shots", &body.shots),
        ("seed", &body.seed),
        ("element_ids", &body.element_ids),
        ("scene", &body.scene),
        ("rights_confirmed", &body.rights_confirmed),
        ("orientation", &body.orientation),
    ];
    if let Some((field, _)) = foreign.iter().find(|(_, v)| present(v).is_some()) {
        return Err(not_for_kind(field, VideoType::VideoToAudio));
    }
    let source = source(body, VideoType::VideoToAudio)?;
    Ok(VideoSpec {
        video_type: VideoType::VideoToAudio,
        prompt: sound_text(body, "prompt")?,
        negative_prompt: String::new(),
        duration: 0,
        aspect_ratio: None,
        quality: Quality::Standard,
        model_override: None,
        cfg_scale: None,
        image: None,
        image_tail: None,
        camera_control: None,
        audio: false,
        shots: Vec::new(),
        seed: None,
        element_ids: Vec::new(),
        scene: None,
        music_prompt: sound_text(body, "music_prompt")?,
        source: Some(source),
        orientation: None,
    })
}
