//! The `avatar` body: one photo (`image`, with `rights_confirmed`: a person's image and voice),
//! the audio it speaks (`voice`: an uploaded MP3/WAV/M4A/AAC, 2-300 s, read from the file at
//! admission), an optional `prompt` (actions, emotions, camera) and `quality`.

use super::source::voice;
use super::{
    CreateVideoBody, VideoSpec, image_ref, invalid, only_fields, quality, rights_confirmed, text,
};
use crate::domain::error::ApiError;
use crate::domain::task::VideoType;

pub(super) fn validate_avatar(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let takes = ["image", "voice", "prompt", "quality", "rights_confirmed"];
    only_fields(body, VideoType::Avatar, &takes)?;
    let image = image_ref(&body.image, "image")?.ok_or_else(|| {
        invalid(
            "image_required",
            "image",
            "an avatar needs image (the face)",
        )
    })?;
    let voice = voice(body, VideoType::Avatar)?;
    rights_confirmed(body)?;
    Ok(VideoSpec {
        prompt: text(&body.prompt, "prompt", "invalid_prompt", "prompt_too_long")?,
        quality: quality(body)?,
        image: Some(image),
        voice: Some(voice),
        ..VideoSpec::bare(VideoType::Avatar)
    })
}
