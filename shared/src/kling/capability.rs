//! Kling's capability map (kling-api.md §3) as data, and the checks that refuse a combination
//! Kling does not support before any request is sent (and before any money is spent).

use super::error::KlingError;
use super::wire::{CameraControl, CameraType, Image2VideoRequest, ImageInput, Text2VideoRequest};

/// (mode, durations in seconds) pairs; mode `*` for models that take no mode parameter.
type Modes = &'static [(&'static str, &'static [u32])];

const FIVE_TEN: &[u32] = &[5, 10];
const FIVE: &[u32] = &[5];
const THREE_TO_FIFTEEN: &[u32] = &[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const NONE: Modes = &[];

pub struct ModelCaps {
    pub model: &'static str,
    pub text_to_video: Modes,
    pub text_camera_control: Modes,
    pub image_to_video: Modes,
    pub start_end_frame: Modes,
    pub end_frame_only: Modes,
    pub motion_brush: Modes,
    /// Image-to-video camera control (type `simple` only).
    pub image_camera_control: Modes,
    /// "kling-v2.x models do not support" cfg_scale.
    pub cfg_scale: bool,
}

pub const MODELS: &[ModelCaps] = &[
    ModelCaps {
        model: "kling-v1",
        text_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        text_camera_control: &[("std", FIVE)],
        image_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        start_end_frame: &[("std", FIVE), ("pro", FIVE)],
        end_frame_only: NONE,
        motion_brush: &[("std", FIVE), ("pro", FIVE)],
        image_camera_control: NONE,
        cfg_scale: true,
    },
    ModelCaps {
        model: "kling-v1-5",
        text_to_video: NONE,
        text_camera_control: NONE,
        image_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        start_end_frame: &[("pro", FIVE_TEN)],
        end_frame_only: &[("pro", FIVE_TEN)],
        motion_brush: &[("pro", FIVE)],
        image_camera_control: &[("pro", FIVE)],
        cfg_scale: true,
    },
    ModelCaps {
        model: "kling-v1-6",
        text_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        text_camera_control: NONE,
        image_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        start_end_frame: &[("pro", FIVE_TEN)],
        end_frame_only: &[("pro", FIVE_TEN)],
        motion_brush: NONE,
        image_camera_control: NONE,
        cfg_scale: true,
    },
    ModelCaps {
        model: "kling-v2-master",
        text_to_video: &[("*", FIVE_TEN)],
        text_camera_control: NONE,
        image_to_video: &[("*", FIVE_TEN)],
        start_end_frame: NONE,
        end_frame_only: NONE,
        motion_brush: NONE,
        image_camera_control: NONE,
        cfg_scale: false,
    },
    ModelCaps {
        model: "kling-v2-1",
        text_to_video: NONE,
        text_camera_control: NONE,
        image_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        start_end_frame: &[("pro", FIVE_TEN)],
        end_frame_only: NONE,
        motion_brush: NONE,
        image_camera_control: NONE,
        cfg_scale: false,
    },
    ModelCaps {
        model: "kling-v2-1-master",
        text_to_video: &[("*", FIVE_TEN)],
        text_camera_control: NONE,
        image_to_video: &[("*", FIVE_TEN)],
        start_end_frame: NONE,
        end_frame_only: NONE,
        motion_brush: NONE,
        image_camera_control: NONE,
        cfg_scale: false,
    },
    ModelCaps {
        model: "kling-v2-5-turbo",
        text_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        text_camera_control: NONE,
        image_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        start_end_frame: &[("pro", FIVE_TEN)],
        end_frame_only: NONE,
        motion_brush: NONE,
        image_camera_control: NONE,
        cfg_scale: false,
    },
    ModelCaps {
        model: "kling-v2-6",
        text_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        text_camera_control: NONE,
        image_to_video: &[("std", FIVE_TEN), ("pro", FIVE_TEN)],
        start_end_frame: &[("pro", FIVE_TEN)],
        end_frame_only: NONE,
        motion_brush: NONE,
        image_camera_control: NONE,
        cfg_scale: false,
    },
    ModelCaps {
        model: "kling-v3",
        text_to_video: &[("std", THREE_TO_FIFTEEN), ("pro", THREE_TO_FIFTEEN)],
        text_camera_control: NONE,
        image_to_video: &[("std", THREE_TO_FIFTEEN), ("pro", THREE_TO_FIFTEEN)],
        start_end_frame: &[("std", THREE_TO_FIFTEEN), ("pro", THREE_TO_FIFTEEN)],
        end_frame_only: NONE,
        motion_brush: NONE,
        image_camera_control: NONE,
        cfg_scale: false,
    },
];

pub fn model(name: &str) -> Option<&'static ModelCaps> {
    MODELS.iter().find(|m| m.model == name)
}

fn supports(modes: Modes, mode: &str, duration: u32) -> bool {
    modes
        .iter()
        .any(|(m, durations)| (*m == "*" || *m == mode) && durations.contains(&duration))
}

fn unsupported(feature: &str, model: &str, mode: &str, duration: u32) -> KlingError {
    KlingError::Unsupported(format!(
        "{feature} is not available on {model} {mode} {duration}s"
    ))
}

fn parse_duration(raw: &str) -> Result<u32, KlingError> {
    raw.parse().map_err(|_| {
        KlingError::InvalidInput(format!("duration '{raw}' is not a whole number of seconds"))
    })
}

const MAX_PROMPT_CHARS: usize = 2500;

fn check_text(field: &str, text: Option<&str>) -> Result<(), KlingError> {
    match text.map(|t| t.chars().count()) {
        Some(n) if n > MAX_PROMPT_CHARS => Err(KlingError::InvalidInput(format!(
            "{field} must be at most {MAX_PROMPT_CHARS} characters (got {n})"
        ))),
        _ => Ok(()),
    }
}

fn check_common(model: &ModelCaps, mode: &str, cfg_scale: Option<f32>) -> Result<(), KlingError> {
    if !matches!(mode, "std" | "pro") {
        return Err(KlingError::InvalidInput(format!(
            "mode '{mode}' must be std or pro"
        )));
    }
    if let Some(cfg) = cfg_scale {
        if !model.cfg_scale {
            return Err(KlingError::Unsupported(format!(
                "cfg_scale is not supported by {}",
                model.model
            )));
        }
        if !(0.0..=1.0).contains(&cfg) {
            return Err(KlingError::InvalidInput(format!(
                "cfg_scale {cfg} is outside [0, 1]"
            )));
        }
    }
    Ok(())
}

fn check_camera(camera: &super::wire::CameraControl) -> Result<(), KlingError> {
    match (camera.camera_type, &camera.config) {
        (CameraType::Simple, None) => Err(KlingError::InvalidInput(
            "camera_control of type simple needs a config".into(),
        )),
        (CameraType::Simple, Some(config)) => {
            let values = config.values();
            if values.iter().any(|v| !(-10.0..=10.0).contains(v)) {
                return Err(KlingError::InvalidInput(
                    "camera_control values must be within [-10, 10]".into(),
                ));
            }
            if values.iter().filter(|v| **v != 0.0).count() != 1 {
                return Err(KlingError::InvalidInput(
                    "camera_control config must have exactly one non-zero value".into(),
                ));
            }
            Ok(())
        }
        (_, Some(c)) if c.values().iter().any(|v| *v != 0.0) => Err(KlingError::InvalidInput(
            "camera_control config must be empty unless the type is simple".into(),
        )),
        _ => Ok(()),
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

pub fn check_text2video(req: &Text2VideoRequest) -> Result<(), KlingError> {
    let caps = model(&req.model_name)
        .ok_or_else(|| KlingError::Unsupported(format!("unknown model {}", req.model_name)))?;
    let duration = parse_duration(&req.duration)?;
    check_common(caps, &req.mode, req.cfg_scale)?;
    if req.prompt.trim().is_empty() {
        return Err(KlingError::InvalidInput(
            "prompt is required for text-to-video".into(),
        ));
    }
    check_text("prompt", Some(&req.prompt))?;
    check_text("negative_prompt", req.negative_prompt.as_deref())?;
    if !matches!(req.aspect_ratio.as_str(), "16:9" | "9:16" | "1:1") {
        return Err(KlingError::InvalidInput(format!(
            "aspect_ratio '{}' must be 16:9, 9:16 or 1:1",
            req.aspect_ratio
        )));
    }
    if caps.text_to_video.is_empty() {
        return Err(KlingError::Unsupported(format!(
            "{} has no text-to-video",
            caps.model
        )));
    }
    if !supports(caps.text_to_video, &req.mode, duration) {
        return Err(unsupported(
            "text-to-video",
            caps.model,
            &req.mode,
            duration,
        ));
    }
    if let Some(camera) = &req.camera_control {
        check_camera(camera)?;
        if !supports(caps.text_camera_control, &req.mode, duration) {
            return Err(unsupported(
                "text-to-video camera control",
                caps.model,
                &req.mode,
                duration,
            ));
        }
    }
    Ok(())
}

pub const MAX_DYNAMIC_MASKS: usize = 6;
pub const TRAJECTORY_POINTS: std::ops::RangeInclusive<usize> = 2..=77;

pub fn check_image2video(req: &Image2VideoRequest) -> Result<(), KlingError> {
    let caps = model(&req.model_name)
        .ok_or_else(|| KlingError::Unsupported(format!("unknown model {}", req.model_name)))?;
    let duration = parse_duration(&req.duration)?;
    let mode = req.mode.as_str();
    check_common(caps, mode, req.cfg_scale)?;
    check_text("prompt", req.prompt.as_deref())?;
    check_text("negative_prompt", req.negative_prompt.as_deref())?;
    for (field, image) in [
        ("image", &req.image),
        ("image_tail", &req.image_tail),
        ("static_mask", &req.static_mask),
    ] {
        if let Some(image) = image {
            check_image(field, image)?;
        }
    }
    let start_end = req.image.is_some() && req.image_tail.is_some();
    let brush =
        req.static_mask.is_some() || req.dynamic_masks.as_ref().is_some_and(|m| !m.is_empty());
    let features = [start_end, brush, req.camera_control.is_some()];
    if features.iter().filter(|f| **f).count() > 1 {
        return Err(KlingError::Unsupported(
            "start+end frame, motion brush and camera control cannot be combined".into(),
        ));
    }
    if req.image.is_none() && req.image_tail.is_none() {
        return Err(KlingError::InvalidInput(
            "image-to-video needs image or image_tail".into(),
        ));
    }
    if !supports(caps.image_to_video, mode, duration) {
        return Err(unsupported("image-to-video", caps.model, mode, duration));
    }
    if start_end && !supports(caps.start_end_frame, mode, duration) {
        return Err(unsupported("start+end frame", caps.model, mode, duration));
    }
    if req.image.is_none() && !supports(caps.end_frame_only, mode, duration) {
        return Err(unsupported("end frame only", caps.model, mode, duration));
    }
    if brush {
        check_motion_brush(caps, req, mode, duration)?;
    }
    match &req.camera_control {
        Some(cam) => check_image_camera(caps, cam, mode, duration),
        None => Ok(()),
    }
}

fn check_motion_brush(
    caps: &ModelCaps,
    req: &Image2VideoRequest,
    mode: &str,
    duration: u32,
) -> Result<(), KlingError> {
    if !supports(caps.motion_brush, mode, duration) {
        return Err(unsupported("motion brush", caps.model, mode, duration));
    }
    let masks = req.dynamic_masks.as_deref().unwrap_or_default();
    if masks.len() > MAX_DYNAMIC_MASKS {
        return Err(KlingError::InvalidInput(format!(
            "at most {MAX_DYNAMIC_MASKS} dynamic_masks"
        )));
    }
    for m in masks {
        check_image("dynamic_masks.mask", &m.mask)?;
        if !TRAJECTORY_POINTS.contains(&m.trajectories.len()) {
            return Err(KlingError::InvalidInput(
                "each dynamic mask needs 2 to 77 trajectory points".into(),
            ));
        }
    }
    Ok(())
}

fn check_image_camera(
    caps: &ModelCaps,
    cam: &CameraControl,
    mode: &str,
    duration: u32,
) -> Result<(), KlingError> {
    check_camera(cam)?;
    if cam.camera_type != CameraType::Simple || !supports(caps.image_camera_control, mode, duration)
    {
        return Err(unsupported(
            "image-to-video camera control",
            caps.model,
            mode,
            duration,
        ));
    }
    Ok(())
}
