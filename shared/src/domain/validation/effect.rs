//! The `effect` body: one photo and a scene. The scene's spelling is checked here; whether a
//! provider offers it is the catalogue's rule (`catalogue::check_effect`), at admission.

use super::{
    CreateVideoBody, VideoSpec, duration, image_ref, invalid, only_fields, present, quality,
    rights_confirmed,
};
use crate::domain::error::ApiError;
use crate::domain::task::{Quality, VideoType};

const MAX_SCENE_LEN: usize = 64;

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
    let takes = ["scene", "image", "rights_confirmed", "quality", "duration"];
    only_fields(body, VideoType::Effect, &takes)?;
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
        quality,
        duration: duration(body, &[])?,
        image: Some(image),
        scene: Some(scene),
        ..VideoSpec::bare(VideoType::Effect)
    })
}
