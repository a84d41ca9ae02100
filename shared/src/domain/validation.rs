//! Validation of the mobile-facing create body (`POST /v1/videos`, also `/estimate`).
//!
//! Fields are read leniently (any JSON type) so that a wrong value gets a 422 that names the
//! field and what is allowed, while unknown fields and malformed JSON stay a 400.

use serde::Deserialize;
use serde_json::Value;

use crate::domain::error::ApiError;
use crate::domain::generation::{
    CameraAxes, CameraKind, CameraMotion, GenerationRequest, ModelChoice, Orientation, Shot,
};
use crate::domain::task::{AspectRatio, Quality, VideoType};

pub const MAX_PROMPT_CHARS: usize = 2500;
/// The durations any current model makes; each model allows its own subset (the capability map).
pub const DURATIONS: std::ops::RangeInclusive<u32> = 3..=15;
pub const MAX_SHOTS: usize = 6;
pub const MAX_SHOT_PROMPT_CHARS: usize = 512;
pub const MAX_ELEMENTS: usize = 3;
const MAX_ELEMENT_ID_LEN: usize = 64;
pub const MAX_UPLOAD_ID_LEN: usize = 64;
pub const MAX_IMAGE_URL_LEN: usize = 2048;
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
    pub audio: Option<Value>,
    pub shots: Option<Value>,
    pub seed: Option<Value>,
    pub element_ids: Option<Value>,
    pub scene: Option<Value>,
    pub source: Option<Value>,
    pub music_prompt: Option<Value>,
    pub orientation: Option<Value>,
    pub voice: Option<Value>,
    pub images: Option<Value>,
    pub resolution: Option<Value>,
}

impl CreateVideoBody {
    /// Every field but `type`, by its name.
    fn fields(&self) -> [(&'static str, &Option<Value>); 22] {
        [
            ("prompt", &self.prompt),
            ("negative_prompt", &self.negative_prompt),
            ("duration", &self.duration),
            ("aspect_ratio", &self.aspect_ratio),
            ("quality", &self.quality),
            ("model", &self.model),
            ("cfg_scale", &self.cfg_scale),
            ("image", &self.image),
            ("image_tail", &self.image_tail),
            ("camera_control", &self.camera_control),
            ("rights_confirmed", &self.rights_confirmed),
            ("audio", &self.audio),
            ("shots", &self.shots),
            ("seed", &self.seed),
            ("element_ids", &self.element_ids),
            ("scene", &self.scene),
            ("source", &self.source),
            ("music_prompt", &self.music_prompt),
            ("orientation", &self.orientation),
            ("voice", &self.voice),
            ("images", &self.images),
            ("resolution", &self.resolution),
        ]
    }
}

/// A field given that `kind` does not take is refused by name rather than silently dropped.
fn only_fields(body: &CreateVideoBody, kind: VideoType, takes: &[&str]) -> Result<(), ApiError> {
    let foreign = body
        .fields()
        .into_iter()
        .find(|(name, v)| present(v).is_some() && !takes.contains(name));
    match foreign {
        Some((field, _)) => Err(invalid(
            "field_not_for_kind",
            field,
            format!("{field} does not apply to {}", kind.as_str()),
        )),
        None => Ok(()),
    }
}

/// The fields only the kinds that are not model kinds take.
const PRODUCT_FIELDS: [&str; 6] = [
    "scene",
    "source",
    "music_prompt",
    "orientation",
    "voice",
    "images",
];

impl VideoSpec {
    /// A spec of `kind` asking for nothing else, for the kinds to fill in.
    fn bare(video_type: VideoType) -> Self {
        Self {
            video_type,
            prompt: None,
            negative_prompt: String::new(),
            duration: 0,
            aspect_ratio: None,
            quality: Quality::Standard,
            model_override: None,
            cfg_scale: None,
            image: None,
            image_tail: None,
            camera_control: None,
            audio: false,
            shots: Vec::new(),
            seed: None,
            element_ids: Vec::new(),
            scene: None,
            music_prompt: None,
            source: None,
            orientation: None,
            voice: None,
            four_k: false,
        }
    }
}

/// Where an input image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An object the app uploaded through `POST /v1/uploads`.
    Upload(String),
    /// A public https URL.
    Url(String),
}

/// A create request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoSpec {
    pub video_type: VideoType,
    pub prompt: Option<String>,
    pub negative_prompt: String,
    pub duration: u32,
    /// Text-to-video only; image-to-video follows the image.
    pub aspect_ratio: Option<AspectRatio>,
    pub quality: Quality,
    pub model_override: Option<String>,
    pub cfg_scale: Option<f32>,
    pub image: Option<ImageRef>,
    pub image_tail: Option<ImageRef>,
    pub camera_control: Option<CameraMotion>,
    /// Native sound, where the model has it.
    pub audio: bool,
    /// Multi-shot: each shot's prompt and length, summing to `duration`.
    pub shots: Vec<Shot>,
    /// Kept and echoed for reproducibility.
    pub seed: Option<u64>,
    /// Character references by the provider's element id.
    pub element_ids: Vec<String>,
    /// The effect scene (`effect` only).
    pub scene: Option<String>,
    /// The music to add (`video_to_audio` only; `prompt` is its sound effects).
    pub music_prompt: Option<String>,
    /// The video a kind works on (`video_to_audio`, `motion_control`).
    pub source: Option<SourceRef>,
    /// Whose orientation a `motion_control` video keeps.
    pub orientation: Option<Orientation>,
    /// The upload id of the audio an `avatar` speaks (or a `lip_sync` video's lips follow).
    pub voice: Option<String>,
    /// `resolution: "4k"`: 4K output, where the model offers it.
    pub four_k: bool,
}

/// Where an input video comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// One of the caller's own finished tasks.
    Video(String),
    /// A video the app uploaded through `POST /v1/uploads`.
    Upload(String),
}

impl VideoSpec {
    /// Every text the provider will see, for moderation.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.prompt
            .as_deref()
            .into_iter()
            .chain(self.shots.iter().map(|s| s.prompt.as_str()))
            .chain(self.music_prompt.as_deref())
    }
}

fn invalid(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(422, code, message).with_field(field)
}

fn present(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| !v.is_null())
}

fn text(
    v: &Option<Value>,
    field: &str,
    invalid_code: &'static str,
    long_code: &'static str,
) -> Result<Option<String>, ApiError> {
    let Some(v) = present(v) else { return Ok(None) };
    let text = v
        .as_str()
        .ok_or_else(|| invalid(invalid_code, field, format!("{field} must be a string")))?;
    let chars = text.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(invalid(
            long_code,
            field,
            format!("{field} must be at most {MAX_PROMPT_CHARS} characters (got {chars})"),
        ));
    }
    let trimmed = text.trim();
    Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
}

fn image_ref(v: &Option<Value>, field: &str) -> Result<Option<ImageRef>, ApiError> {
    let Some(v) = present(v) else { return Ok(None) };
    let shape = || {
        invalid(
            "invalid_image",
            field,
            format!("{field} must be {{\"upload_id\": \"...\"}} or {{\"url\": \"https://...\"}}"),
        )
    };
    let obj = v.as_object().filter(|o| o.len() == 1).ok_or_else(shape)?;
    if let Some(id) = obj.get("upload_id") {
        let id = id.as_str().ok_or_else(shape)?;
        let ok = !id.is_empty()
            && id.len() <= MAX_UPLOAD_ID_LEN
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(invalid(
                "invalid_upload_id",
                field,
                format!("{field}.upload_id is not an upload id"),
            ));
        }
        return Ok(Some(ImageRef::Upload(id.to_string())));
    }
    if let Some(url) = obj.get("url") {
        let url = url.as_str().ok_or_else(shape)?;
        if url.len() > MAX_IMAGE_URL_LEN || url::Url::parse(url).is_err() {
            return Err(invalid(
                "invalid_image_url",
                field,
                format!("{field}.url is not a valid URL"),
            ));
        }
        return Ok(Some(ImageRef::Url(url.to_string())));
    }
    Err(shape())
}

fn camera(v: &Option<Value>) -> Result<Option<CameraMotion>, ApiError> {
    let Some(v) = present(v) else { return Ok(None) };
    let bad = |msg: &str| invalid("invalid_camera_control", "camera_control", msg.to_string());
    let obj = v
        .as_object()
        .ok_or_else(|| bad("camera_control must be an object with type and config"))?;
    if obj.keys().any(|k| k != "type" && k != "config") {
        return Err(bad("camera_control takes only type and config"));
    }
    let camera_type = match obj.get("type").and_then(Value::as_str) {
        Some("simple") => CameraKind::Simple,
        Some("down_back") => CameraKind::DownBack,
        Some("forward_up") => CameraKind::ForwardUp,
        Some("right_turn_forward") => CameraKind::RightTurnForward,
        Some("left_turn_forward") => CameraKind::LeftTurnForward,
        _ => {
            return Err(bad(
                "camera_control.type must be simple, down_back, forward_up, right_turn_forward or left_turn_forward",
            ));
        }
    };
    let config = match obj.get("config").filter(|c| !c.is_null()) {
        None => None,
        Some(c) => {
            let cfg: CameraAxes = serde_json::from_value(c.clone())
                .map_err(|_| bad("camera_control.config takes numbers horizontal, vertical, pan, tilt, roll, zoom"))?;
            let values = cfg.values();
            if values.iter().any(|v| !(-10.0..=10.0).contains(v)) {
                return Err(bad("camera_control.config values must be within [-10, 10]"));
            }
            Some(cfg)
        }
    };
    match (camera_type, &config) {
        (CameraKind::Simple, None) => {
            return Err(bad("camera_control.config is required for type simple"));
        }
        (CameraKind::Simple, Some(c)) if c.values().iter().filter(|v| **v != 0.0).count() != 1 => {
            return Err(bad(
                "camera_control.config must have exactly one non-zero value",
            ));
        }
        (t, Some(c)) if t != CameraKind::Simple && c.values().iter().any(|v| *v != 0.0) => {
            return Err(bad(
                "camera_control.config must be empty unless type is simple",
            ));
        }
        _ => {}
    }
    Ok(Some(CameraMotion {
        kind: camera_type,
        axes: config,
    }))
}

fn video_type(body: &CreateVideoBody) -> Result<VideoType, ApiError> {
    match present(&body.video_type).map(|v| v.as_str()) {
        None => Err(invalid(
            "type_required",
            "type",
            format!("type is required: {}", KIND_NAMES.join(", ")),
        )),
        Some(Some("text_to_video")) => Ok(VideoType::TextToVideo),
        Some(Some("image_to_video")) => Ok(VideoType::ImageToVideo),
        Some(Some("effect")) => Ok(VideoType::Effect),
        Some(Some("video_to_audio")) => Ok(VideoType::VideoToAudio),
        Some(Some("motion_control")) => Ok(VideoType::MotionControl),
        Some(Some("avatar")) => Ok(VideoType::Avatar),
        Some(Some("omni_edit")) => Ok(VideoType::OmniEdit),
        Some(Some("lip_sync")) => Ok(VideoType::LipSync),
        Some(_) => Err(invalid(
            "invalid_type",
            "type",
            format!("type must be one of {}", KIND_NAMES.join(", ")),
        )),
    }
}

/// The prompt (required for text) and the negative prompt (our default when absent).
fn prompts(
    body: &CreateVideoBody,
    t2v: bool,
    shots: bool,
) -> Result<(Option<String>, String), ApiError> {
    let prompt = text(&body.prompt, "prompt", "invalid_prompt", "prompt_too_long")?;
    if t2v && prompt.is_none() && !shots {
        return Err(invalid(
            "prompt_required",
            "prompt",
            "prompt (or shots) is required for text_to_video",
        ));
    }
    let negative_prompt = text(
        &body.negative_prompt,
        "negative_prompt",
        "invalid_negative_prompt",
        "negative_prompt_too_long",
    )?
    .unwrap_or_else(|| DEFAULT_NEGATIVE_PROMPT.to_string());
    Ok((prompt, negative_prompt))
}

/// The length: as asked (3–15 s; the model narrows it), else the shots' total, else 5 s.
fn duration(body: &CreateVideoBody, shots: &[Shot]) -> Result<u32, ApiError> {
    let Some(v) = present(&body.duration) else {
        let total: u32 = shots.iter().map(|s| s.duration_seconds).sum();
        return Ok(if shots.is_empty() { 5 } else { total });
    };
    let d = v
        .as_u64()
        .and_then(|d| u32::try_from(d).ok())
        .filter(|d| DURATIONS.contains(d))
        .ok_or_else(|| {
            invalid(
                "invalid_duration",
                "duration",
                "duration must be a whole number of seconds from 3 to 15 (each model allows its own)",
            )
        })?;
    let total: u32 = shots.iter().map(|s| s.duration_seconds).sum();
    if !shots.is_empty() && total != d {
        return Err(invalid(
            "shots_duration_mismatch",
            "shots",
            format!("the shots last {total} s but duration is {d} s; they must be equal"),
        ));
    }
    Ok(d)
}

/// `shots: [{prompt, duration}]`, 1 to 6 of them, each at least a second.
fn shots(body: &CreateVideoBody) -> Result<Vec<Shot>, ApiError> {
    let Some(v) = present(&body.shots) else {
        return Ok(Vec::new());
    };
    let bad = || {
        invalid(
            "invalid_shots",
            "shots",
            format!(
                "shots must be a list of {{\"prompt\": text of at most {MAX_SHOT_PROMPT_CHARS} characters, \"duration\": seconds ≥ 1}}"
            ),
        )
    };
    let list = v.as_array().filter(|l| !l.is_empty()).ok_or_else(bad)?;
    if list.len() > MAX_SHOTS {
        let msg = format!("at most {MAX_SHOTS} shots (got {})", list.len());
        return Err(invalid("too_many_shots", "shots", msg));
    }
    list.iter()
        .map(|shot| {
            let obj = shot.as_object().filter(|o| o.len() == 2).ok_or_else(bad)?;
            let prompt = obj.get("prompt").and_then(Value::as_str).map(str::trim);
            let prompt = prompt
                .filter(|p| !p.is_empty() && p.chars().count() <= MAX_SHOT_PROMPT_CHARS)
                .ok_or_else(bad)?;
            let duration = obj.get("duration").and_then(Value::as_u64);
            let duration = duration
                .and_then(|d| u32::try_from(d).ok())
                .filter(|d| (1..=*DURATIONS.end()).contains(d))
                .ok_or_else(bad)?;
            Ok(Shot {
                prompt: prompt.to_string(),
                duration_seconds: duration,
            })
        })
        .collect()
}

fn audio(body: &CreateVideoBody) -> Result<bool, ApiError> {
    match present(&body.audio) {
        None => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| invalid("invalid_audio", "audio", "audio must be true or false")),
    }
}

/// `resolution`: absent or null for the mode's own (720p std, 1080p pro), or `"4k"`.
pub(crate) fn four_k(body: &CreateVideoBody) -> Result<bool, ApiError> {
    match present(&body.resolution) {
        None => Ok(false),
        Some(v) if v == "4k" => Ok(true),
        Some(_) => Err(invalid(
            "invalid_resolution",
            "resolution",
            "resolution must be \"4k\" (or absent for the quality's own)",
        )),
    }
}

fn seed(body: &CreateVideoBody) -> Result<Option<u64>, ApiError> {
    let Some(v) = present(&body.seed) else {
        return Ok(None);
    };
    v.as_u64()
        .filter(|s| *s <= u64::from(u32::MAX))
        .map(Some)
        .ok_or_else(|| {
            invalid(
                "invalid_seed",
                "seed",
                "seed must be a whole number from 0 to 4294967295",
            )
        })
}

fn element_ids(body: &CreateVideoBody) -> Result<Vec<String>, ApiError> {
    let Some(v) = present(&body.element_ids) else {
        return Ok(Vec::new());
    };
    let bad = || {
        invalid(
            "invalid_element_ids",
            "element_ids",
            "element_ids must be a list of the provider's element ids",
        )
    };
    let list = v.as_array().ok_or_else(bad)?;
    if list.len() > MAX_ELEMENTS {
        let msg = format!("at most {MAX_ELEMENTS} elements (got {})", list.len());
        return Err(invalid("too_many_elements", "element_ids", msg));
    }
    list.iter()
        .map(|id| {
            id.as_str()
                .filter(|id| {
                    !id.is_empty()
                        && id.len() <= MAX_ELEMENT_ID_LEN
                        && id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                })
                .map(str::to_string)
                .ok_or_else(bad)
        })
        .collect()
}

fn aspect_ratio(body: &CreateVideoBody, t2v: bool) -> Result<Option<AspectRatio>, ApiError> {
    match (present(&body.aspect_ratio), t2v) {
        (None, true) => Ok(Some(AspectRatio::Landscape)),
        (None, false) => Ok(None),
        (Some(_), false) => Err(invalid(
            "aspect_ratio_not_supported",
            "aspect_ratio",
            "aspect_ratio applies to text_to_video only; image_to_video follows the image",
        )),
        (Some(v), true) => match v.as_str() {
            Some("16:9") => Ok(Some(AspectRatio::Landscape)),
            Some("9:16") => Ok(Some(AspectRatio::Portrait)),
            Some("1:1") => Ok(Some(AspectRatio::Square)),
            _ => Err(invalid(
                "invalid_aspect_ratio",
                "aspect_ratio",
                "aspect_ratio must be 16:9, 9:16 or 1:1",
            )),
        },
    }
}

fn quality(body: &CreateVideoBody) -> Result<Quality, ApiError> {
    match present(&body.quality).map(|v| v.as_str()) {
        None => Ok(Quality::Standard),
        Some(Some("draft")) => Ok(Quality::Draft),
        Some(Some("standard")) => Ok(Quality::Standard),
        Some(Some("pro")) => Ok(Quality::Pro),
        Some(_) => Err(invalid(
            "invalid_quality",
            "quality",
            "quality must be draft, standard or pro",
        )),
    }
}

fn model_override(body: &CreateVideoBody) -> Result<Option<String>, ApiError> {
    let Some(v) = present(&body.model) else {
        return Ok(None);
    };
    let m = v.as_str().filter(|m| !m.is_empty()).ok_or_else(|| {
        invalid(
            "invalid_model",
            "model",
            "model must be a model name such as kling-v2-6",
        )
    })?;
    if crate::domain::catalogue::model(m).is_none() {
        return Err(invalid(
            "unknown_model",
            "model",
            format!("model {m} is not one of Kling's current video models"),
        ));
    }
    Ok(Some(m.to_string()))
}

fn cfg_scale(body: &CreateVideoBody) -> Result<Option<f32>, ApiError> {
    let Some(v) = present(&body.cfg_scale) else {
        return Ok(None);
    };
    let x = v
        .as_f64()
        .filter(|x| (0.0..=1.0).contains(x))
        .ok_or_else(|| {
            invalid(
                "invalid_cfg_scale",
                "cfg_scale",
                "cfg_scale must be a number from 0 to 1",
            )
        })?;
    Ok(Some(x as f32))
}

/// The `type` values the API takes.
pub const KIND_NAMES: [&str; 8] = [
    "text_to_video",
    "image_to_video",
    "effect",
    "video_to_audio",
    "motion_control",
    "avatar",
    "omni_edit",
    "lip_sync",
];

/// Start and end frames: only for image-to-video, which needs at least one, with the
/// caller's confirmation that they hold the rights to them.
fn images(
    body: &CreateVideoBody,
    t2v: bool,
) -> Result<(Option<ImageRef>, Option<ImageRef>), ApiError> {
    let image = image_ref(&body.image, "image")?;
    let image_tail = image_ref(&body.image_tail, "image_tail")?;
    if t2v {
        for (field, value) in [("image", &image), ("image_tail", &image_tail)] {
            if value.is_some() {
                return Err(invalid(
                    "image_not_supported",
                    field,
                    format!("{field} applies to image_to_video only"),
                ));
            }
        }
    } else if image.is_none() && image_tail.is_none() {
        return Err(invalid(
            "image_required",
            "image",
            "image_to_video needs image (start frame) or image_tail (end frame)",
        ));
    }
    if image.is_some() || image_tail.is_some() {
        rights_confirmed(body)?;
    }
    Ok((image, image_tail))
}

/// A person's image or voice is used only with `rights_confirmed: true`.
fn rights_confirmed(body: &CreateVideoBody) -> Result<(), ApiError> {
    let confirmed = match present(&body.rights_confirmed) {
        None => false,
        Some(v) => v.as_bool().ok_or_else(|| {
            invalid(
                "invalid_rights_confirmed",
                "rights_confirmed",
                "rights_confirmed must be true or false",
            )
        })?,
    };
    if !confirmed {
        return Err(invalid(
            "consent_required",
            "rights_confirmed",
            "confirm you have the rights to the images with rights_confirmed: true",
        ));
    }
    Ok(())
}

/// The one rule for a create body: each field in turn, the first problem wins.
pub fn validate(body: &CreateVideoBody) -> Result<VideoSpec, ApiError> {
    let video_type = video_type(body)?;
    match video_type {
        VideoType::Effect => return effect::validate_effect(body),
        VideoType::VideoToAudio => return video_to_audio::validate_video_to_audio(body),
        VideoType::MotionControl => return motion_control::validate_motion_control(body),
        VideoType::Avatar => return avatar::validate_avatar(body),
        VideoType::OmniEdit => return omni_edit::validate_omni_edit(body),
        VideoType::LipSync => return lip_sync::validate_lip_sync(body),
        VideoType::TextToVideo | VideoType::ImageToVideo => {}
    }
    let model_fields: Vec<&str> = body
        .fields()
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !PRODUCT_FIELDS.contains(name))
        .collect();
    only_fields(body, video_type, &model_fields)?;
    let t2v = video_type == VideoType::TextToVideo;
    let shots = shots(body)?;
    let (prompt, negative_prompt) = prompts(body, t2v, !shots.is_empty())?;
    let duration = duration(body, &shots)?;
    let aspect_ratio = aspect_ratio(body, t2v)?;
    let quality = quality(body)?;
    let model_override = model_override(body)?;
    let cfg_scale = cfg_scale(body)?;
    let (image, image_tail) = images(body, t2v)?;
    Ok(VideoSpec {
        video_type,
        prompt,
        negative_prompt,
        duration,
        aspect_ratio,
        quality,
        model_override,
        cfg_scale,
        image,
        image_tail,
        camera_control: camera(&body.camera_control)?,
        audio: audio(body)?,
        shots,
        seed: seed(body)?,
        element_ids: element_ids(body)?,
        scene: None,
        music_prompt: None,
        source: None,
        orientation: None,
        voice: None,
        four_k: four_k(body)?,
    })
}

impl GenerationRequest {
    /// The request for a validated spec and its model, before images and callbacks are
    /// resolved (no image, no callback URL, provider not yet chosen).
    pub fn for_spec(spec: &VideoSpec, model: ModelChoice, task_id: &str) -> Self {
        Self {
            task_id: task_id.to_string(),
            kind: spec.video_type,
            prompt: spec.prompt.clone(),
            negative_prompt: (!spec.negative_prompt.is_empty())
                .then(|| spec.negative_prompt.clone()),
            duration_seconds: spec.duration,
            aspect_ratio: spec.aspect_ratio,
            quality: spec.quality,
            model,
            cfg_scale: spec.cfg_scale,
            image: None,
            image_tail: None,
            camera: spec.camera_control,
            audio: spec.audio,
            shots: spec.shots.clone(),
            seed: spec.seed,
            elements: spec.element_ids.clone(),
            callback_url: None,
            provider: String::new(),
            scene: spec.scene.clone(),
            // Resolved from the source task at admission.
            source: None,
            music_prompt: spec.music_prompt.clone(),
            orientation: spec.orientation,
            // Resolved from the upload at admission.
            voice: None,
            four_k: spec.four_k,
            callbacks: Default::default(),
            account: String::new(),
        }
    }
}

mod avatar;
mod effect;
mod lip_sync;
mod motion_control;
mod omni_edit;
mod source;
mod video_to_audio;
pub use video_to_audio::MAX_SOUND_PROMPT_CHARS;
#[cfg(test)]
mod tests;
