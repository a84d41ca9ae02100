//! The `effect` body: one photo and a scene. The scene's spelling is checked here; whether a
//! provider offers it is the catalogue's rule (`catalogue::check_effect`), at admission.

use super::{
    CreateVideoBody, ImageRef, VideoSpec, duration, image_ref, invalid, only_fields, present,
    quality, rights_confirmed,
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

/// The photos: `image` for a one-photo scene, or `images` (left, right) for a two-photo one.
/// Which the scene takes is the catalogue's rule, at admission.
fn photos(body: &CreateVideoBody) -> Result<(ImageRef, Option<ImageRef>), ApiError> {
    let Some(images) = present(&body.images) else {
        let image = image_ref(&body.image, "image")?.ok_or_else(|| {
            invalid(
                "image_required",
                "image",
                "an effect needs image (the photo), or images (two) for a two-photo scene",
            )
        })?;
        return Ok((image, None));
    };
    let two = match (images.as_array(), present(&body.image)) {
        (Some(list), None) if list.len() == 2 => list,
        _ => {
            return Err(invalid(
                "invalid_image",
                "images",
                "images must be two photos (left, right), given instead of image",
            ));
        }
    };
    let one = |i: usize| -> Result<ImageRef, ApiError> {
        let v = Some(two[i].clone());
        image_ref(&v, "images")?
            .ok_or_else(|| invalid("invalid_image", "images", "a photo is empty"))
    };
    Ok((one(0)?, Some(one(1)?)))
}

/// Effects take a scene, its photos (with `rights_confirmed`), and optionally `duration` and
/// `quality`; the fields of the model kinds are refused. A two-photo scene's photos travel as
/// the first and last images (left, right).
pub(super) fn validate_effect(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let takes = [
        "scene",
        "image",
        "images",
        "rights_confirmed",
        "quality",
        "duration",
    ];
    only_fields(body, VideoType::Effect, &takes)?;
    let scene = scene(body)?;
    let (image, right) = photos(body)?;
    rights_confirmed(body)?;
    let quality: Quality = quality(body)?;
    Ok(VideoSpec {
        quality,
        duration: duration(body, &[])?,
        image: Some(image),
        image_tail: right,
        scene: Some(scene),
        ..VideoSpec::bare(VideoType::Effect)
    })
}
