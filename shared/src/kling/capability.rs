//! Kling's video models as Kling publishes them in late 2026 (kling-api.md §0-A; the capability
//! map of 2026-05-19 and the unit price list), as data, and the one rule that refuses a
//! combination before any request is sent (and before any money is spent). Retired models
//! (1.x, v2-master, v2-1) are absent: asking for one is asking for an unknown model.

use super::error::KlingError;
use super::wire::{CameraType, Image2VideoRequest, ImageInput, Text2VideoRequest};
use crate::provider::Feature;

/// Which of Kling's two API surfaces a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/v1/videos/...`, `model_name` in the body, AK/SK JWT.
    Legacy,
    /// The 2026 standard: `POST /{product}/{model}`, `GET /tasks`, API key.
    Standard,
}

const FIVE_TEN: &[u32] = &[5, 10];
const THREE_TO_FIFTEEN: &[u32] = &[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const BOTH: &[&str] = &["std", "pro"];
const PRO: &[&str] = &["pro"];
const NO_MODE: &[&str] = &[];

pub const MAX_SHOTS: usize = 6;
pub const MAX_SHOT_PROMPT_CHARS: usize = 512;
pub const MAX_ELEMENTS: usize = 3;
const MAX_PROMPT_CHARS: usize = 2500;

/// One model, with the names each surface knows it by. `std` is 720p and `pro` 1080p.
#[derive(Debug)]
pub struct ModelCaps {
    pub legacy_name: Option<&'static str>,
    pub standard_name: Option<&'static str>,
    pub durations: &'static [u32],
    pub text_to_video: bool,
    pub image_to_video: bool,
    /// Modes in which a first and a last frame can be given together.
    pub start_end_frame: &'static [&'static str],
    /// Modes with native sound.
    pub audio: &'static [&'static str],
    /// 2.6 makes first/last-frame videos silent only.
    pub audio_with_end_frame: bool,
    pub multi_shot: bool,
    /// Character reference by element id.
    pub elements: bool,
    /// Units Kling bills per second, in hundredths: (std silent, pro silent, std sound, pro sound).
    pub unit_hundredths_per_second: [u64; 4],
}

pub const MODELS: &[ModelCaps] = &[
    ModelCaps {
        legacy_name: Some("kling-v2-5-turbo"),
        standard_name: Some("kling-2.5-turbo"),
        durations: FIVE_TEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: PRO,
        audio: NO_MODE,
        audio_with_end_frame: false,
        multi_shot: false,
        elements: false,
        unit_hundredths_per_second: [30, 50, 0, 0],
    },
    ModelCaps {
        legacy_name: Some("kling-v2-6"),
        standard_name: Some("kling-2.6"),
        durations: FIVE_TEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: PRO,
        audio: PRO,
        audio_with_end_frame: false,
        multi_shot: false,
        elements: false,
        unit_hundredths_per_second: [30, 50, 0, 100],
    },
    ModelCaps {
        legacy_name: Some("kling-v3"),
        standard_name: Some("kling-3.0"),
        durations: THREE_TO_FIFTEEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: BOTH,
        audio: BOTH,
        audio_with_end_frame: true,
        multi_shot: true,
        elements: true,
        unit_hundredths_per_second: [60, 80, 90, 120],
    },
    // API-key only: the standard surface is the only way to it.
    ModelCaps {
        legacy_name: None,
        standard_name: Some("kling-3.0-turbo"),
        durations: THREE_TO_FIFTEEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: NO_MODE,
        audio: BOTH,
        audio_with_end_frame: false,
        multi_shot: true,
        elements: false,
        unit_hundredths_per_second: [80, 100, 80, 100],
    },
];

/// A model by either of its names.
pub fn model(name: &str) -> Option<&'static ModelCaps> {
    MODELS
        .iter()
        .find(|m| m.legacy_name == Some(name) || m.standard_name == Some(name))
}

impl ModelCaps {
    pub fn name_on(&self, surface: Surface) -> Option<&'static str> {
        match surface {
            Surface::Legacy => self.legacy_name,
            Surface::Standard => self.standard_name,
        }
    }

    fn label(&self) -> &'static str {
        self.legacy_name.or(self.standard_name).unwrap_or("model")
    }

    /// What Kling should bill for a video, in hundredths of a unit.
    pub fn expected_unit_hundredths(&self, mode: &str, duration: u32, audio: bool) -> u64 {
        let i = usize::from(mode == "pro") + 2 * usize::from(audio);
        self.unit_hundredths_per_second[i] * u64::from(duration)
    }
}

/// What a request asks of a model, whatever the surface's wire shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wanted<'a> {
    pub model: &'a str,
    pub text_to_video: bool,
    pub mode: &'a str,
    pub duration: u32,
    pub start_frame: bool,
    pub end_frame: bool,
    pub audio: bool,
    /// Each shot's duration, in order (empty: a single shot).
    pub shots: Vec<u32>,
    pub elements: usize,
    pub camera_control: bool,
    pub cfg_scale: bool,
    pub motion_brush: bool,
}

impl<'a> Wanted<'a> {
    /// What a generation request asks of its model.
    pub fn of(r: &'a crate::provider::GenerationRequest) -> Self {
        Wanted {
            model: &r.model.model,
            text_to_video: r.kind == crate::task::VideoType::TextToVideo,
            mode: r.model.mode.as_str(),
            duration: r.duration_seconds,
            start_frame: r.image.is_some(),
            end_frame: r.image_tail.is_some(),
            audio: r.audio,
            shots: r.shots.iter().map(|s| s.duration_seconds).collect(),
            elements: r.elements.len(),
            camera_control: r.camera.is_some(),
            cfg_scale: r.cfg_scale.is_some(),
            motion_brush: false,
        }
    }
}

fn refuse(feature: Feature, reason: String) -> KlingError {
    KlingError::Unsupported(feature, reason)
}

/// The one rule: whether `surface` can make what `w` asks, naming what it cannot.
pub fn check(w: &Wanted<'_>, surface: Surface) -> Result<&'static ModelCaps, KlingError> {
    let caps = model(w.model)
        .ok_or_else(|| refuse(Feature::Model, format!("unknown model {}", w.model)))?;
    let name = caps.label();
    if caps.name_on(surface).is_none() {
        let msg = format!("{name} is not offered on Kling's {surface:?} API");
        return Err(refuse(Feature::Model, msg));
    }
    if !matches!(w.mode, "std" | "pro") {
        let msg = format!("mode '{}' must be std or pro", w.mode);
        return Err(KlingError::InvalidInput(msg));
    }
    check_frames(caps, w)?;
    if !caps.durations.contains(&w.duration) {
        let msg = format!(
            "{name} makes videos of {:?} seconds, not {}",
            caps.durations, w.duration
        );
        return Err(refuse(Feature::Duration, msg));
    }
    check_extras(caps, w)?;
    check_shots(caps, w)?;
    let retired = [
        (w.camera_control, Feature::CameraControl, "camera control"),
        (w.cfg_scale, Feature::CfgScale, "cfg_scale"),
        (w.motion_brush, Feature::Combination, "motion brush"),
    ];
    match retired.iter().find(|(asked, ..)| *asked) {
        Some((_, feature, what)) => {
            Err(refuse(*feature, format!("{what} is not offered by {name}")))
        }
        None => Ok(caps),
    }
}

fn check_frames(caps: &ModelCaps, w: &Wanted<'_>) -> Result<(), KlingError> {
    let name = caps.label();
    let offered = if w.text_to_video {
        caps.text_to_video
    } else {
        caps.image_to_video
    };
    let kind = if w.text_to_video {
        "text-to-video"
    } else {
        "image-to-video"
    };
    if !offered {
        return Err(refuse(
            Feature::Combination,
            format!("{name} has no {kind}"),
        ));
    }
    if w.end_frame && !w.start_frame {
        return Err(refuse(
            Feature::Combination,
            format!("{name} needs a start frame with an end frame"),
        ));
    }
    if w.end_frame && !caps.start_end_frame.contains(&w.mode) {
        let msg = format!("start+end frame is not available on {name} {}", w.mode);
        return Err(refuse(Feature::Combination, msg));
    }
    Ok(())
}

fn check_extras(caps: &ModelCaps, w: &Wanted<'_>) -> Result<(), KlingError> {
    let name = caps.label();
    if w.audio && !caps.audio.contains(&w.mode) {
        let msg = format!("{name} {} makes silent videos only", w.mode);
        return Err(refuse(Feature::Audio, msg));
    }
    if w.audio && w.end_frame && !caps.audio_with_end_frame {
        let msg = format!("{name} makes start+end frame videos silent only");
        return Err(refuse(Feature::Audio, msg));
    }
    if w.elements > 0 && !caps.elements {
        return Err(refuse(
            Feature::Elements,
            format!("{name} takes no elements"),
        ));
    }
    if w.elements > MAX_ELEMENTS {
        let msg = format!("at most {MAX_ELEMENTS} elements");
        return Err(refuse(Feature::Elements, msg));
    }
    Ok(())
}

fn check_shots(caps: &ModelCaps, w: &Wanted<'_>) -> Result<(), KlingError> {
    if w.shots.is_empty() {
        return Ok(());
    }
    let name = caps.label();
    if !caps.multi_shot {
        return Err(refuse(
            Feature::MultiShot,
            format!("{name} makes single-shot videos only"),
        ));
    }
    let sum: u32 = w.shots.iter().sum();
    if w.shots.len() > MAX_SHOTS || w.shots.contains(&0) || sum != w.duration {
        let msg = format!(
            "1 to {MAX_SHOTS} shots of at least 1 s each, summing to the duration ({} s); got {} summing to {sum} s",
            w.duration,
            w.shots.len()
        );
        return Err(refuse(Feature::MultiShot, msg));
    }
    Ok(())
}

fn parse_duration(raw: &str) -> Result<u32, KlingError> {
    raw.parse().map_err(|_| {
        KlingError::InvalidInput(format!("duration '{raw}' is not a whole number of seconds"))
    })
}

fn check_text(field: &str, text: Option<&str>, max: usize) -> Result<(), KlingError> {
    match text.map(|t| t.chars().count()) {
        Some(n) if n > max => Err(KlingError::InvalidInput(format!(
            "{field} must be at most {max} characters (got {n})"
        ))),
        _ => Ok(()),
    }
}

fn check_camera(camera: &super::wire::CameraControl) -> Result<(), KlingError> {
    let values = camera.config.map(|c| c.values()).unwrap_or_default();
    let nonzero = values.iter().filter(|v| **v != 0.0).count();
    if values.iter().any(|v| !(-10.0..=10.0).contains(v)) {
        return Err(KlingError::InvalidInput(
            "camera_control values must be within [-10, 10]".into(),
        ));
    }
    match (camera.camera_type, nonzero) {
        (CameraType::Simple, 1) | (CameraType::DownBack, 0) => Ok(()),
        (CameraType::ForwardUp | CameraType::RightTurnForward | CameraType::LeftTurnForward, 0) => {
            Ok(())
        }
        (CameraType::Simple, _) => Err(KlingError::InvalidInput(
            "camera_control config must have exactly one non-zero value".into(),
        )),
        _ => Err(KlingError::InvalidInput(
            "camera_control config must be empty unless the type is simple".into(),
        )),
    }
}

fn check_image(field: &str, image: &ImageInput) -> Result<(), KlingError> {
    match image {
        ImageInput::Url(url) if !(url.starts_with("https://") || url.starts_with("http://")) => {
            Err(KlingError::InvalidInput(format!(
                "{field} URL must be http(s)"
            )))
        }
        ImageInput::Base64(b) if b.starts_with("data:") => Err(KlingError::InvalidInput(format!(
            "{field} base64 must not carry a data: prefix"
        ))),
        ImageInput::Base64(b) if b.is_empty() => {
            Err(KlingError::InvalidInput(format!("{field} is empty")))
        }
        _ => Ok(()),
    }
}

fn shots_of(multi_prompt: Option<&[super::wire::ShotPrompt]>) -> Result<Vec<u32>, KlingError> {
    let mut out = Vec::new();
    for shot in multi_prompt.unwrap_or_default() {
        check_text(
            "multi_prompt.prompt",
            Some(&shot.prompt),
            MAX_SHOT_PROMPT_CHARS,
        )?;
        out.push(parse_duration(&shot.duration)?);
    }
    Ok(out)
}

pub fn check_text2video(req: &Text2VideoRequest) -> Result<&'static ModelCaps, KlingError> {
    if req.prompt.trim().is_empty() && req.extras.multi_prompt.is_none() {
        return Err(KlingError::InvalidInput(
            "prompt is required for text-to-video".into(),
        ));
    }
    check_text("prompt", Some(&req.prompt), MAX_PROMPT_CHARS)?;
    check_text(
        "negative_prompt",
        req.negative_prompt.as_deref(),
        MAX_PROMPT_CHARS,
    )?;
    if !matches!(req.aspect_ratio.as_str(), "16:9" | "9:16" | "1:1") {
        return Err(KlingError::InvalidInput(format!(
            "aspect_ratio '{}' must be 16:9, 9:16 or 1:1",
            req.aspect_ratio
        )));
    }
    if let Some(camera) = &req.camera_control {
        check_camera(camera)?;
    }
    let wanted = Wanted {
        model: &req.model_name,
        text_to_video: true,
        mode: &req.mode,
        duration: parse_duration(&req.duration)?,
        audio: req.extras.sound.as_deref() == Some("on"),
        shots: shots_of(req.extras.multi_prompt.as_deref())?,
        elements: req.extras.element_list.as_ref().map_or(0, Vec::len),
        camera_control: req.camera_control.is_some(),
        cfg_scale: req.cfg_scale.is_some(),
        ..Default::default()
    };
    check(&wanted, Surface::Legacy)
}

pub fn check_image2video(req: &Image2VideoRequest) -> Result<&'static ModelCaps, KlingError> {
    check_text("prompt", req.prompt.as_deref(), MAX_PROMPT_CHARS)?;
    check_text(
        "negative_prompt",
        req.negative_prompt.as_deref(),
        MAX_PROMPT_CHARS,
    )?;
    for (field, image) in [("image", &req.image), ("image_tail", &req.image_tail)] {
        if let Some(image) = image {
            check_image(field, image)?;
        }
    }
    if req.image.is_none() && req.image_tail.is_none() {
        return Err(KlingError::InvalidInput(
            "image-to-video needs image or image_tail".into(),
        ));
    }
    if let Some(camera) = &req.camera_control {
        check_camera(camera)?;
    }
    let wanted = Wanted {
        model: &req.model_name,
        text_to_video: false,
        mode: &req.mode,
        duration: parse_duration(&req.duration)?,
        start_frame: req.image.is_some(),
        end_frame: req.image_tail.is_some(),
        audio: req.extras.sound.as_deref() == Some("on"),
        shots: shots_of(req.extras.multi_prompt.as_deref())?,
        elements: req.extras.element_list.as_ref().map_or(0, Vec::len),
        camera_control: req.camera_control.is_some(),
        cfg_scale: req.cfg_scale.is_some(),
        motion_brush: req.static_mask.is_some() || req.dynamic_masks.is_some(),
    };
    check(&wanted, Surface::Legacy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(model: &'static str, mode: &'static str, duration: u32) -> Wanted<'static> {
        Wanted {
            model,
            text_to_video: true,
            mode,
            duration,
            ..Default::default()
        }
    }

    #[test]
    fn the_map_refuses_what_kling_does_not_offer_and_names_it() {
        let audio = |mut x: Wanted<'static>| {
            x.audio = true;
            x
        };
        let shots = |mut x: Wanted<'static>, s: &[u32]| {
            x.shots = s.to_vec();
            x
        };
        let frames = |mut x: Wanted<'static>| {
            x.text_to_video = false;
            x.start_frame = true;
            x.end_frame = true;
            x
        };
        let elements = |mut x: Wanted<'static>, n| {
            x.elements = n;
            x
        };
        use Feature::*;
        let cases: Vec<(Wanted<'static>, Surface, Option<Feature>)> = vec![
            (w("kling-v2-5-turbo", "std", 5), Surface::Legacy, None),
            (w("kling-v1-6", "std", 5), Surface::Legacy, Some(Model)),
            (w("kling-v2-1", "pro", 5), Surface::Legacy, Some(Model)),
            (w("kling-3.0-turbo", "std", 5), Surface::Legacy, Some(Model)),
            (w("kling-3.0-turbo", "std", 7), Surface::Standard, None),
            (w("kling-3.0", "pro", 15), Surface::Standard, None),
            (w("kling-v2-6", "std", 12), Surface::Legacy, Some(Duration)),
            (w("kling-v3", "std", 12), Surface::Legacy, None),
            (w("kling-v3", "std", 16), Surface::Legacy, Some(Duration)),
            (
                audio(w("kling-v2-5-turbo", "pro", 5)),
                Surface::Legacy,
                Some(Audio),
            ),
            (
                audio(w("kling-v2-6", "std", 5)),
                Surface::Legacy,
                Some(Audio),
            ),
            (audio(w("kling-v2-6", "pro", 5)), Surface::Legacy, None),
            (
                audio(frames(w("kling-v2-6", "pro", 5))),
                Surface::Legacy,
                Some(Audio),
            ),
            (
                audio(frames(w("kling-v3", "std", 8))),
                Surface::Legacy,
                None,
            ),
            (
                frames(w("kling-v2-5-turbo", "std", 5)),
                Surface::Legacy,
                Some(Combination),
            ),
            (
                frames(w("kling-3.0-turbo", "pro", 5)),
                Surface::Standard,
                Some(Combination),
            ),
            (
                shots(w("kling-v3", "pro", 10), &[4, 6]),
                Surface::Legacy,
                None,
            ),
            (
                shots(w("kling-v3", "pro", 10), &[4, 5]),
                Surface::Legacy,
                Some(MultiShot),
            ),
            (
                shots(w("kling-v3", "pro", 7), &[1; 7]),
                Surface::Legacy,
                Some(MultiShot),
            ),
            (
                shots(w("kling-v3", "pro", 5), &[5, 0]),
                Surface::Legacy,
                Some(MultiShot),
            ),
            (
                shots(w("kling-v2-6", "pro", 10), &[5, 5]),
                Surface::Legacy,
                Some(MultiShot),
            ),
            (elements(w("kling-v3", "std", 5), 3), Surface::Legacy, None),
            (
                elements(w("kling-v3", "std", 5), 4),
                Surface::Legacy,
                Some(Elements),
            ),
            (
                elements(w("kling-3.0-turbo", "std", 5), 1),
                Surface::Standard,
                Some(Elements),
            ),
        ];
        for (wanted, surface, want) in cases {
            let got = match check(&wanted, surface) {
                Ok(_) => None,
                Err(KlingError::Unsupported(f, _)) => Some(f),
                Err(e) => panic!("{wanted:?}: {e}"),
            };
            assert_eq!(got, want, "{wanted:?} on {surface:?}");
        }
        let mut camera = w("kling-v3", "std", 5);
        camera.camera_control = true;
        assert!(matches!(
            check(&camera, Surface::Legacy),
            Err(KlingError::Unsupported(CameraControl, _))
        ));
        assert!(matches!(
            check(&w("kling-v3", "ultra", 5), Surface::Legacy),
            Err(KlingError::InvalidInput(_))
        ));
    }

    #[test]
    fn expected_units_follow_the_price_list() {
        let v3 = model("kling-v3").map(|m| m.expected_unit_hundredths("pro", 10, true));
        assert_eq!(v3, Some(1200));
        let turbo = model("kling-v2-5-turbo").map(|m| m.expected_unit_hundredths("std", 5, false));
        assert_eq!(turbo, Some(150));
        assert_eq!(
            model("kling-3.0").map(|m| m.legacy_name),
            Some(Some("kling-v3"))
        );
    }
}
