//! The `motion_control` body: a character photo (`image`, with `rights_confirmed`), the
//! reference video whose motion it takes (`source`: an upload, or one of the caller's videos),
//! whose orientation to keep (`orientation`: `video`, the default, or `image`), an optional
//! `prompt`, and `quality`. The reference's length is read from the file at admission.

use super::effect::not_for_kind;
use super::source::source;
use super::{
    CreateVideoBody, VideoSpec, image_ref, invalid, present, quality, rights_confirmed, text,
};
use crate::domain::error::ApiError;
use crate::domain::generation::Orientation;
use crate::domain::task::VideoType;

fn orientation(body: &CreateVideoBody) -> Result<Orientation, ApiError> {
    match present(&body.orientation).map(|v| v.as_str()) {
        None | Some(Some("video")) => Ok(Orientation::Video),
        Some(Some("image")) => Ok(Orientation::Image),
        Some(_) => Err(invalid(
            "invalid_orientation",
            "orientation",
            "orientation must be video (the reference's) or image (the photo's)",
        )),
    }
}

pub(super) fn validate_motion_control(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let foreign = [
        ("negative_prompt", &body.negative_prompt),
        ("duration", &body.duration),
        ("aspect_ratio", &body.aspect_ratio),
        ("model", &body.model),
        ("cfg_scale", &body.cfg_scale),
        ("image_tail", &body.image_tail),
        ("camera_control", &body.camera_control),
        ("audio", &body.audio),
        ("shots", &body.shots),
        ("seed", &body.seed),
        ("element_ids", &body.element_ids),
        ("scene", &body.scene),
        ("music_prompt", &body.music_prompt),
    ];
    if let Some((field, _)) = foreign.iter().find(|(_, v)| present(v).is_some()) {
        return Err(not_for_kind(field, VideoType::MotionControl));
    }
    let image = image_ref(&body.image, "image")?.ok_or_else(|| {
        invalid(
            "image_required",
            "image",
            "motion control needs image (the character)",
        )
    })?;
    let source = source(body, VideoType::MotionControl)?;
    let orientation = orientation(body)?;
    rights_confirmed(body)?;
    Ok(VideoSpec {
        video_type: VideoType::MotionControl,
        prompt: text(&body.prompt, "prompt", "invalid_prompt", "prompt_too_long")?,
        negative_prompt: String::new(),
        duration: 0,
        aspect_ratio: None,
        quality: quality(body)?,
        model_override: None,
        cfg_scale: None,
        image: Some(image),
        image_tail: None,
        camera_control: None,
        audio: false,
        shots: Vec::new(),
        seed: None,
        element_ids: Vec::new(),
        scene: None,
        music_prompt: None,
        source: Some(source),
        orientation: Some(orientation),
    })
}
