//! The `avatar` body: one photo (`image`, with `rights_confirmed`: a person's image and voice),
//! the audio it speaks (`voice`: an uploaded MP3/WAV/M4A/AAC, 2-300 s, read from the file at
//! admission), an optional `prompt` (actions, emotions, camera) and `quality`.

use serde_json::Value;

use super::{
    CreateVideoBody, MAX_UPLOAD_ID_LEN, VideoSpec, image_ref, invalid, only_fields, present,
    quality, rights_confirmed, text,
};
use crate::domain::error::ApiError;
use crate::domain::task::VideoType;

fn voice(body: &CreateVideoBody) -> Result<String, ApiError> {
    let Some(v) = present(&body.voice) else {
        return Err(invalid(
            "voice_required",
            "voice",
            "an avatar needs voice: {\"upload_id\": \"<an uploaded MP3, WAV, M4A or AAC>\"}",
        ));
    };
    let id = match v {
        Value::Object(map) if map.len() == 1 => map.get("upload_id").and_then(Value::as_str),
        _ => None,
    };
    let ok = |s: &&str| {
        !s.is_empty()
            && s.len() <= MAX_UPLOAD_ID_LEN
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    id.filter(ok).map(str::to_string).ok_or_else(|| {
        invalid(
            "invalid_voice",
            "voice",
            "voice must be {\"upload_id\": \"<id>\"}, an audio upload",
        )
    })
}

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
    let voice = voice(body)?;
    rights_confirmed(body)?;
    Ok(VideoSpec {
        prompt: text(&body.prompt, "prompt", "invalid_prompt", "prompt_too_long")?,
        quality: quality(body)?,
        image: Some(image),
        voice: Some(voice),
        ..VideoSpec::bare(VideoType::Avatar)
    })
}
