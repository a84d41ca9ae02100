//! Kling's `/v1` request bodies checked before they are sent: the wire's own rules (text sizes,
//! aspect ratios, camera configs, image forms), then the catalogue's for the model.

use super::error::KlingError;
use super::wire::{
    AvatarRequest, CameraType, EffectsRequest, Image2VideoRequest, ImageInput,
    MotionControlRequest, Text2VideoRequest, VideoToAudioRequest,
};
use crate::domain::catalogue::{self, MAX_SHOT_PROMPT_CHARS, Model, Surface, Wanted, WantedEffect};

const MAX_PROMPT_CHARS: usize = 2500;

fn check(w: &Wanted<'_>) -> Result<&'static Model, KlingError> {
    Ok(catalogue::check(w, Surface::KlingLegacy)?)
}

fn parse_duration(raw: &str) -> Result<u32, KlingError> {
    raw.parse().map_err(|_| {
        KlingError::InvalidInput(format!("duration '{raw}' is not a whole number of seconds"))
    })
}

fn check_text(field: &str, text: Option<&str>, max: usize) -> Result<(), KlingError> {
    match text.map(|t| t.chars().count()) {
        Some(n) if n > max => Err(KlingError::InvalidInput(format!(
            "{field} must be at most {max} characters (got {n})"
        ))),
        _ => Ok(()),
    }
}

fn check_camera(camera: &super::wire::CameraControl) -> Result<(), KlingError> {
    let values = camera.config.map(|c| c.values()).unwrap_or_default();
    let nonzero = values.iter().filter(|v| **v != 0.0).count();
    if values.iter().any(|v| !(-10.0..=10.0).contains(v)) {
        return Err(KlingError::InvalidInput(
            "camera_control values must be within [-10, 10]".into(),
        ));
    }
    match (camera.camera_type, nonzero) {
        (CameraType::Simple, 1) | (CameraType::DownBack, 0) => Ok(()),
        (CameraType::ForwardUp | CameraType::RightTurnForward | CameraType::LeftTurnForward, 0) => {
            Ok(())
        }
        (CameraType::Simple, _) => Err(KlingError::InvalidInput(
            "camera_control config must have exactly one non-zero value".into(),
        )),
        _ => Err(KlingError::InvalidInput(
            "camera_control config must be empty unless the type is simple".into(),
        )),
    }
}

fn check_image(field: &str, image: &ImageInput) -> Result<(), KlingError> {
    match image {
        ImageInput::Url(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            Err(KlingError::InvalidInput(format!(
                "{field} URL must be http(s)"
            )))
        }
        ImageInput::Base64(b) if b.starts_with("data:") => Err(KlingError::InvalidInput(format!(
            "{field} base64 must not carry a data: prefix"
        ))),
        ImageInput::Base64(b) if b.is_empty() => {
            Err(KlingError::InvalidInput(format!("{field} is empty")))
        }
        _ => Ok(()),
    }
}

fn shots_of(multi_prompt: Option<&[super::wire::ShotPrompt]>) -> Result<Vec<u32>, KlingError> {
    let mut out = Vec::new();
    for shot in multi_prompt.unwrap_or_default() {
        check_text(
            "multi_prompt.prompt",
            Some(&shot.prompt),
            MAX_SHOT_PROMPT_CHARS,
        )?;
        out.push(parse_duration(&shot.duration)?);
    }
    Ok(out)
}

pub fn check_text2video(req: &Text2VideoRequest) -> Result<&'static Model, KlingError> {
    if req.prompt.trim().is_empty() && req.extras.multi_prompt.is_none() {
        return Err(KlingError::InvalidInput(
            "prompt is required for text-to-video".into(),
        ));
    }
    check_text("prompt", Some(&req.prompt), MAX_PROMPT_CHARS)?;
    check_text(
        "negative_prompt",
        req.negative_prompt.as_deref(),
        MAX_PROMPT_CHARS,
    )?;
    if !matches!(req.aspect_ratio.as_str(), "16:9" | "9:16" | "1:1") {
        return Err(KlingError::InvalidInput(format!(
            "aspect_ratio '{}' must be 16:9, 9:16 or 1:1",
            req.aspect_ratio
        )));
    }
    if let Some(camera) = &req.camera_control {
        check_camera(camera)?;
    }
    let wanted = Wanted {
        model: &req.model_name,
        text_to_video: true,
        mode: &req.mode,
        duration: parse_duration(&req.duration)?,
        audio: req.extras.sound.as_deref() == Some("on"),
        shots: shots_of(req.extras.multi_prompt.as_deref())?,
        elements: req.extras.element_list.as_ref().map_or(0, Vec::len),
        camera_control: req.camera_control.is_some(),
        cfg_scale: req.cfg_scale.is_some(),
        ..Default::default()
    };
    check(&wanted)
}

/// An effect: its photo, then the catalogue's rule for the scene (Kling's scenes make 5 s).
pub fn check_effects(req: &EffectsRequest) -> Result<(), KlingError> {
    let photos: Vec<&ImageInput> = match (&req.input.image, &req.input.images) {
        (Some(one), None) => vec![one],
        (None, Some(two)) => two.iter().collect(),
        _ => {
            return Err(KlingError::InvalidInput(
                "an effect takes input.image or input.images, not both".into(),
            ));
        }
    };
    for photo in &photos {
        check_image("input.image", photo)?;
    }
    let wanted = WantedEffect {
        scene: &req.effect_scene,
        duration: 5,
        photos: photos.len(),
    };
    Ok(catalogue::check_effect(wanted, Surface::KlingLegacy)?)
}

/// Sound for a video: exactly one of Kling's video id and a URL, prompts within 200 characters.
pub fn check_video_to_audio(req: &VideoToAudioRequest) -> Result<(), KlingError> {
    let max = crate::domain::validation::MAX_SOUND_PROMPT_CHARS;
    check_text(
        "sound_effect_prompt",
        req.sound_effect_prompt.as_deref(),
        max,
    )?;
    check_text("bgm_prompt", req.bgm_prompt.as_deref(), max)?;
    match (&req.video_id, &req.video_url) {
        (Some(id), None) if !id.is_empty() => Ok(()),
        (None, Some(url)) if url.starts_with("https://") || url.starts_with("http://") => Ok(()),
        _ => Err(KlingError::InvalidInput(
            "exactly one of video_id and an http(s) video_url is required".into(),
        )),
    }
}

/// Motion control: a model that runs it, both URLs, a known orientation and mode.
pub fn check_motion_control(req: &MotionControlRequest) -> Result<(), KlingError> {
    check_text("prompt", req.prompt.as_deref(), MAX_PROMPT_CHARS)?;
    let url = |u: &str| u.starts_with("https://") || u.starts_with("http://");
    let known = catalogue::MOTION_MODELS.contains(&req.model_name.as_str())
        && url(&req.image_url)
        && url(&req.video_url)
        && ["image", "video"].contains(&req.character_orientation.as_str())
        && ["std", "pro"].contains(&req.mode.as_str());
    match known {
        true => Ok(()),
        false => Err(KlingError::InvalidInput(format!(
            "motion control takes model_name {:?}, http(s) image_url and video_url, character_orientation image|video and mode std|pro",
            catalogue::MOTION_MODELS
        ))),
    }
}

/// An avatar: the photo and the audio by URL, a known mode.
pub fn check_avatar(req: &AvatarRequest) -> Result<(), KlingError> {
    check_text("prompt", req.prompt.as_deref(), MAX_PROMPT_CHARS)?;
    let url = |u: &str| u.starts_with("https://") || u.starts_with("http://");
    match url(&req.image) && url(&req.sound_file) && ["std", "pro"].contains(&req.mode.as_str()) {
        true => Ok(()),
        false => Err(KlingError::InvalidInput(
            "avatar takes http(s) image and sound_file URLs and mode std|pro".into(),
        )),
    }
}

/// Exactly one of Kling's video id and an http(s) URL, the audio by URL, 2-60 s of it
/// (`docs/providers.md` §Job kinds: lip-sync).
pub fn check_lip_sync(job: &super::lip_sync::LipSyncJob) -> Result<(), KlingError> {
    let url = |u: &str| u.starts_with("https://") || u.starts_with("http://");
    let video = match (&job.video.video_id, &job.video.video_url) {
        (Some(id), None) => !id.is_empty(),
        (None, Some(u)) => url(u),
        _ => false,
    };
    if !video || !url(&job.sound_file) || !(2_000..=60_000).contains(&job.audio_ms) {
        return Err(KlingError::InvalidInput(
            "lip-sync takes a video (Kling's id or a URL) and 2-60 s of audio by URL".into(),
        ));
    }
    Ok(())
}

pub fn check_image2video(req: &Image2VideoRequest) -> Result<&'static Model, KlingError> {
    check_text("prompt", req.prompt.as_deref(), MAX_PROMPT_CHARS)?;
    check_text(
        "negative_prompt",
        req.negative_prompt.as_deref(),
        MAX_PROMPT_CHARS,
    )?;
    for (field, image) in [("image", &req.image), ("image_tail", &req.image_tail)] {
        if let Some(image) = image {
            check_image(field, image)?;
        }
    }
    if req.image.is_none() && req.image_tail.is_none() {
        return Err(KlingError::InvalidInput(
            "image-to-video needs image or image_tail".into(),
        ));
    }
    if let Some(camera) = &req.camera_control {
        check_camera(camera)?;
    }
    let wanted = Wanted {
        kind: crate::domain::task::VideoType::ImageToVideo,
        model: &req.model_name,
        text_to_video: false,
        mode: &req.mode,
        duration: parse_duration(&req.duration)?,
        start_frame: req.image.is_some(),
        end_frame: req.image_tail.is_some(),
        audio: req.extras.sound.as_deref() == Some("on"),
        shots: shots_of(req.extras.multi_prompt.as_deref())?,
        elements: req.extras.element_list.as_ref().map_or(0, Vec::len),
        camera_control: req.camera_control.is_some(),
        cfg_scale: req.cfg_scale.is_some(),
        motion_brush: req.static_mask.is_some() || req.dynamic_masks.is_some(),
        // `/v1` bodies have no resolution: 4K is refused before a body is built.
        four_k: false,
    };
    check(&wanted)
}
