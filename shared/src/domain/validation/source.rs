//! `source`, the video a kind works on: `{"video_id": "<one of your tasks>"}` or
//! `{"upload_id": "<a video you uploaded>"}`; `voice`, the audio one speaks:
//! `{"upload_id": "<an audio you uploaded>"}`. Whose they are, and how long, is checked at
//! admission.

use serde_json::Value;

use super::{MAX_UPLOAD_ID_LEN, SourceRef, invalid, present};
use crate::domain::error::ApiError;
use crate::domain::task::VideoType;

fn well_formed(s: &&str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_UPLOAD_ID_LEN
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(super) fn source(
    body: &crate::domain::validation::CreateVideoBody,
    kind: VideoType,
) -> Result<SourceRef, ApiError> {
    let Some(v) = present(&body.source) else {
        return Err(invalid(
            "source_required",
            "source",
            format!(
                "{} needs source: {{\"video_id\": \"<one of your videos>\"}} or {{\"upload_id\": \"<an uploaded video>\"}}",
                kind.as_str()
            ),
        ));
    };
    let named = match v {
        Value::Object(map) if map.len() == 1 => map.iter().next(),
        _ => None,
    };
    let id = |v: &Value| v.as_str().filter(well_formed).map(str::to_string);
    match named {
        Some((k, v)) if k == "video_id" => id(v).map(SourceRef::Video),
        Some((k, v)) if k == "upload_id" => id(v).map(SourceRef::Upload),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(
            "invalid_source",
            "source",
            "source must be {\"video_id\": \"<id>\"} or {\"upload_id\": \"<id>\"}",
        )
    })
}

/// `voice: {"upload_id": "<id>"}`, an audio upload (`avatar`, `lip_sync`).
pub(super) fn voice(
    body: &crate::domain::validation::CreateVideoBody,
    kind: VideoType,
) -> Result<String, ApiError> {
    let Some(v) = present(&body.voice) else {
        return Err(invalid(
            "voice_required",
            "voice",
            format!(
                "{} needs voice: {{\"upload_id\": \"<an uploaded MP3, WAV, M4A or AAC>\"}}",
                kind.as_str()
            ),
        ));
    };
    let id = match v {
        Value::Object(map) if map.len() == 1 => map.get("upload_id").and_then(Value::as_str),
        _ => None,
    };
    id.filter(well_formed).map(str::to_string).ok_or_else(|| {
        invalid(
            "invalid_voice",
            "voice",
            "voice must be {\"upload_id\": \"<id>\"}, an audio upload",
        )
    })
}
