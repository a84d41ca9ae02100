//! The `omni_edit` body: the video to change (`source`: one of the caller's, or an upload), what
//! to change (`prompt`, required), an optional reference photo (`image`, named `@image_1` in the
//! prompt; the video is `@video_1`), `quality` and `resolution` (`4k`). Editing footage that may show real people
//! needs `rights_confirmed`. The video's length decides the task's (read at admission).

use super::source::source;
use super::{
    CreateVideoBody, VideoSpec, image_ref, invalid, only_fields, quality, rights_confirmed, text,
};
use crate::domain::error::ApiError;
use crate::domain::task::VideoType;

pub(super) fn validate_omni_edit(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let takes = [
        "source",
        "prompt",
        "image",
        "quality",
        "resolution",
        "rights_confirmed",
    ];
    only_fields(body, VideoType::OmniEdit, &takes)?;
    let source = source(body, VideoType::OmniEdit)?;
    let prompt = text(&body.prompt, "prompt", "invalid_prompt", "prompt_too_long")?;
    let prompt = prompt.ok_or_else(|| {
        invalid(
            "prompt_required",
            "prompt",
            "omni_edit needs prompt: what to change in the video",
        )
    })?;
    let image = image_ref(&body.image, "image")?;
    rights_confirmed(body)?;
    Ok(VideoSpec {
        prompt: Some(prompt),
        quality: quality(body)?,
        image,
        source: Some(source),
        four_k: super::four_k(body)?,
        ..VideoSpec::bare(VideoType::OmniEdit)
    })
}
