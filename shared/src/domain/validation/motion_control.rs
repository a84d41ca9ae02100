//! The `motion_control` body: a character photo (`image`, with `rights_confirmed`), the
//! reference video whose motion it takes (`source`: an upload, or one of the caller's videos),
//! whose orientation to keep (`orientation`: `video`, the default, or `image`), an optional
//! `prompt`, and `quality`. The reference's length is read from the file at admission.

use super::source::source;
use super::{
    CreateVideoBody, VideoSpec, image_ref, invalid, only_fields, present, quality,
    rights_confirmed, text,
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
    let takes = [
        "image",
        "source",
        "orientation",
        "prompt",
        "quality",
        "rights_confirmed",
    ];
    only_fields(body, VideoType::MotionControl, &takes)?;
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
        prompt: text(&body.prompt, "prompt", "invalid_prompt", "prompt_too_long")?,
        quality: quality(body)?,
        image: Some(image),
        source: Some(source),
        orientation: Some(orientation),
        ..VideoSpec::bare(VideoType::MotionControl)
    })
}
