//! Validation of the mobile-facing create body (`POST /v1/videos`).
//!
//! Fields are read leniently (any JSON type) so that a wrong value gets a 422 that names the
//! field and what is allowed, while unknown fields and malformed JSON stay a 400.

use serde::Deserialize;
use serde_json::Value;

use crate::envelope::ApiError;
use crate::task::{AspectRatio, Quality, VideoType};

pub const MAX_PROMPT_CHARS: usize = 2500;
pub const ALLOWED_DURATIONS: [u32; 2] = [5, 10];
/// Brand-safe default applied when the app sends no negative prompt.
pub const DEFAULT_NEGATIVE_PROMPT: &str =
    "blurry, distorted, low quality, watermark, text, nudity, gore";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateVideoBody {
    #[serde(rename = "type")]
    pub video_type: Option<Value>,
    pub prompt: Option<Value>,
    pub negative_prompt: Option<Value>,
    pub duration: Option<Value>,
    pub aspect_ratio: Option<Value>,
    pub quality: Option<Value>,
    pub model: Option<Value>,
    pub cfg_scale: Option<Value>,
    pub image: Option<Value>,
    pub image_tail: Option<Value>,
    pub camera_control: Option<Value>,
    pub rights_confirmed: Option<Value>,
}

/// A create request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSpec {
    pub video_type: VideoType,
    pub prompt: String,
    pub negative_prompt: String,
    pub duration: u32,
    pub aspect_ratio: AspectRatio,
    pub quality: Quality,
}

fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(422, code, message).with_field(field)
}

fn string_field<'a>(v: &'a Value, field: &str, code: &'static str) -> Result<&'a str, ApiError> {
    v.as_str()
        .ok_or_else(|| invalid(code, field, format!("{field} must be a string")))
}

fn prompt_text(
    v: Option<&Value>,
    field: &str,
    code: &'static str,
) -> Result<Option<String>, ApiError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let text = string_field(v, field, "invalid_type")?;
    let chars = text.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(invalid(
            code,
            field,
            format!("{field} must be at most {MAX_PROMPT_CHARS} characters (got {chars})"),
        ));
    }
    let trimmed = text.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

pub fn validate(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let video_type = match body.video_type.as_ref().map(|v| v.as_str()) {
        None => {
            return Err(invalid(
                "type_required",
                "type",
                "type is required: text_to_video or image_to_video",
            ));
        }
        Some(Some("text_to_video")) => VideoType::TextToVideo,
        Some(Some("image_to_video")) => {
            return Err(invalid(
                "type_not_supported",
                "type",
                "image_to_video is not available yet; use text_to_video",
            ));
        }
        Some(_) => {
            return Err(invalid(
                "invalid_type",
                "type",
                "type must be text_to_video or image_to_video",
            ));
        }
    };

    let prompt =
        prompt_text(body.prompt.as_ref(), "prompt", "prompt_too_long")?.ok_or_else(|| {
            invalid(
                "prompt_required",
                "prompt",
                "prompt is required for text_to_video",
            )
        })?;
    let negative_prompt = prompt_text(
        body.negative_prompt.as_ref(),
        "negative_prompt",
        "negative_prompt_too_long",
    )?
    .unwrap_or_else(|| DEFAULT_NEGATIVE_PROMPT.to_string());

    let duration = match &body.duration {
        None | Some(Value::Null) => 5,
        Some(v) => v
            .as_u64()
            .and_then(|d| u32::try_from(d).ok())
            .filter(|d| ALLOWED_DURATIONS.contains(d))
            .ok_or_else(|| {
                invalid(
                    "invalid_duration",
                    "duration",
                    "duration must be 5 or 10 (seconds, a number)",
                )
            })?,
    };

    let aspect_ratio = match &body.aspect_ratio {
        None | Some(Value::Null) => AspectRatio::Landscape,
        Some(v) => match string_field(v, "aspect_ratio", "invalid_aspect_ratio")? {
            "16:9" => AspectRatio::Landscape,
            "9:16" => AspectRatio::Portrait,
            "1:1" => AspectRatio::Square,
            _ => {
                return Err(invalid(
                    "invalid_aspect_ratio",
                    "aspect_ratio",
                    "aspect_ratio must be 16:9, 9:16 or 1:1",
                ));
            }
        },
    };

    let quality = match &body.quality {
        None | Some(Value::Null) => Quality::Standard,
        Some(v) => match string_field(v, "quality", "invalid_quality")? {
            "draft" => Quality::Draft,
            "standard" => Quality::Standard,
            "pro" => Quality::Pro,
            _ => {
                return Err(invalid(
                    "invalid_quality",
                    "quality",
                    "quality must be draft, standard or pro",
                ));
            }
        },
    };

    for (field, value) in [
        ("model", &body.model),
        ("cfg_scale", &body.cfg_scale),
        ("image", &body.image),
        ("image_tail", &body.image_tail),
        ("camera_control", &body.camera_control),
    ] {
        if value.as_ref().is_some_and(|v| !v.is_null()) {
            return Err(invalid(
                "field_not_supported",
                field,
                format!("{field} is not accepted for this request yet"),
            ));
        }
    }

    Ok(VideoSpec {
        video_type,
        prompt,
        negative_prompt,
        duration,
        aspect_ratio,
        quality,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> CreateVideoBody {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn accepts_a_minimal_text_to_video() {
        let spec = validate(&body(
            json!({"type": "text_to_video", "prompt": "a red fox in snow"}),
        ))
        .unwrap();
        assert_eq!(spec.duration, 5);
        assert_eq!(spec.aspect_ratio, AspectRatio::Landscape);
        assert_eq!(spec.quality, Quality::Standard);
        assert_eq!(spec.negative_prompt, DEFAULT_NEGATIVE_PROMPT);
    }

    #[test]
    fn each_rule_has_its_code() {
        let long = "x".repeat(2501);
        let cases = [
            (json!({"prompt": "p"}), "type_required", "type"),
            (
                json!({"type": "movie", "prompt": "p"}),
                "invalid_type",
                "type",
            ),
            (json!({"type": 3, "prompt": "p"}), "invalid_type", "type"),
            (
                json!({"type": "text_to_video"}),
                "prompt_required",
                "prompt",
            ),
            (
                json!({"type": "text_to_video", "prompt": "   "}),
                "prompt_required",
                "prompt",
            ),
            (
                json!({"type": "text_to_video", "prompt": long}),
                "prompt_too_long",
                "prompt",
            ),
            (
                json!({"type": "text_to_video", "prompt": "p", "negative_prompt": long}),
                "negative_prompt_too_long",
                "negative_prompt",
            ),
            (
                json!({"type": "text_to_video", "prompt": "p", "duration": 7}),
                "invalid_duration",
                "duration",
            ),
            (
                json!({"type": "text_to_video", "prompt": "p", "duration": "5"}),
                "invalid_duration",
                "duration",
            ),
            (
                json!({"type": "text_to_video", "prompt": "p", "aspect_ratio": "4:3"}),
                "invalid_aspect_ratio",
                "aspect_ratio",
            ),
            (
                json!({"type": "text_to_video", "prompt": "p", "quality": "ultra"}),
                "invalid_quality",
                "quality",
            ),
            (
                json!({"type": "text_to_video", "prompt": "p", "model": "kling-v1"}),
                "field_not_supported",
                "model",
            ),
        ];
        for (input, code, field) in cases {
            let err = validate(&body(input.clone())).unwrap_err();
            assert_eq!(
                (err.status, err.code, err.field.as_deref()),
                (422, code, Some(field)),
                "{input}"
            );
        }
    }

    #[test]
    fn prompt_length_counts_characters_not_bytes() {
        let prompt = "é".repeat(2500);
        assert!(validate(&body(json!({"type": "text_to_video", "prompt": prompt}))).is_ok());
    }

    #[test]
    fn unknown_fields_are_refused_by_the_parser() {
        assert!(
            serde_json::from_value::<CreateVideoBody>(
                json!({"type": "text_to_video", "promt": "x"})
            )
            .is_err()
        );
    }
}
