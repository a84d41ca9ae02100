//! The `effect` body: one photo and a scene. The scene's spelling is checked here; whether a
//! provider offers it is the catalogue's rule (`catalogue::check_effect`), at admission.

use super::{
    CreateVideoBody, VideoSpec, duration, image_ref, invalid, present, quality, rights_confirmed,
};
use crate::domain::error::ApiError;
use crate::domain::task::{Quality, VideoType};

const MAX_SCENE_LEN: usize = 64;

/// A field the kind does not take: a clear refusal rather than a silent drop.
pub(super) fn not_for_kind(field: &str, kind: VideoType) -> ApiError {
    invalid(
        "field_not_for_kind",
        field,
        format!("{field} does not apply to {}", kind.as_str()),
    )
}

fn scene(body: &CreateVideoBody) -> Result<String, ApiError> {
    let Some(v) = present(&body.scene) else {
        return Err(invalid(
            "scene_required",
            "scene",
            "an effect needs scene (one of the effect scenes, e.g. \"pet_lion_pro\")",
        ));
    };
    let ok = |s: &&str| {
        !s.is_empty()
            && s.len() <= MAX_SCENE_LEN
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    v.as_str().filter(ok).map(str::to_string).ok_or_else(|| {
        invalid(
            "invalid_scene",
            "scene",
            format!("scene must be 1 to {MAX_SCENE_LEN} characters of a-z, 0-9 and _"),
        )
    })
}

/// Effects take a scene, one photo (with `rights_confirmed`), and optionally `duration` and
/// `quality`; the fields of the model kinds are refused.
pub(super) fn validate_effect(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let foreign = [
        ("prompt", &body.prompt),
        ("negative_prompt", &body.negative_prompt),
        ("aspect_ratio", &body.aspect_ratio),
        ("model", &body.model),
        ("cfg_scale", &body.cfg_scale),
        ("image_tail", &body.image_tail),
        ("camera_control", &body.camera_control),
        ("audio", &body.audio),
        ("shots", &body.shots),
        ("seed", &body.seed),
        ("element_ids", &body.element_ids),
        ("source", &body.source),
        ("music_prompt", &body.music_prompt),
        ("orientation", &body.orientation),
    ];
    if let Some((field, _)) = foreign.iter().find(|(_, v)| present(v).is_some()) {
        return Err(not_for_kind(field, VideoType::Effect));
    }
    let scene = scene(body)?;
    let image = image_ref(&body.image, "image")?.ok_or_else(|| {
        invalid(
            "image_required",
            "image",
            "an effect needs image (the photo)",
        )
    })?;
    rights_confirmed(body)?;
    let quality: Quality = quality(body)?;
    Ok(VideoSpec {
        video_type: VideoType::Effect,
        prompt: None,
        negative_prompt: String::new(),
        duration: duration(body, &[])?,
        aspect_ratio: None,
        quality,
        model_override: None,
        cfg_scale: None,
        image: Some(image),
        image_tail: None,
        camera_control: None,
        audio: false,
        shots: Vec::new(),
        seed: None,
        element_ids: Vec::new(),
        scene: Some(scene),
        music_prompt: None,
        source: None,
        orientation: None,
    })
}
