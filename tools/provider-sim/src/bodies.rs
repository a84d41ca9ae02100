//! The legacy create bodies (text2video, image2video) checked as Kling checks them: fields,
//! images, camera control, the v2.6/v3 extras (sound, multi-shot, elements), and the capability
//! map for the model.

use serde_json::Value;

use crate::capability::{RETIRED, known_model, supports, takes_cfg_scale};
use crate::routes::{Fail, fail, invalid};
use crate::tasks::{NewTask, Surface};
use crate::video::{Aspect, Resolution};

pub(crate) fn opt_str<'a>(body: &'a Value, field: &str) -> Result<Option<&'a str>, Fail> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(format!("{field} must be a string"))),
    }
}

pub(crate) fn text(body: &Value, field: &str) -> Result<Option<String>, Fail> {
    match opt_str(body, field)? {
        Some(s) if s.chars().count() > 2500 => {
            Err(invalid(format!("{field} must be at most 2500 characters")))
        }
        other => Ok(other.map(str::to_string)),
    }
}

pub(crate) fn image(body: &Value, field: &str) -> Result<Option<String>, Fail> {
    match opt_str(body, field)? {
        Some(s) if s.starts_with("data:") => Err(invalid(format!(
            "{field}: base64 must not include a data: prefix"
        ))),
        Some("") => Err(invalid(format!("{field} is empty"))),
        other => Ok(other.map(str::to_string)),
    }
}

/// The fields both kinds share, checked against the capability map.
struct Common {
    model: String,
    mode: String,
    duration: u32,
}

fn common(body: &Value) -> Result<Common, Fail> {
    let model = opt_str(body, "model_name")?
        .unwrap_or("kling-v1")
        .to_string();
    if RETIRED.contains(&model.as_str()) {
        return Err(invalid(format!(
            "model_name {model} is no longer available"
        )));
    }
    if !known_model(&model) {
        return Err(fail(
            404,
            1203,
            format!("model_name {model} does not exist"),
        ));
    }
    let mode = opt_str(body, "mode")?.unwrap_or("std").to_string();
    if !matches!(mode.as_str(), "std" | "pro") {
        return Err(invalid("mode must be std or pro"));
    }
    let duration = match opt_str(body, "duration")? {
        None => 5,
        Some(d) => d
            .parse::<u32>()
            .map_err(|_| invalid("duration must be a string such as \"5\""))?,
    };
    match body.get("cfg_scale") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => {
                if !takes_cfg_scale(&model) {
                    return Err(invalid(format!("cfg_scale is not supported by {model}")));
                }
            }
            _ => return Err(invalid("cfg_scale must be a number in [0, 1]")),
        },
    }
    text(body, "negative_prompt")?;
    if let Some(url) = opt_str(body, "callback_url")?
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(invalid("callback_url must be an http(s) URL"));
    }
    opt_str(body, "external_task_id")?;
    Ok(Common {
        model,
        mode,
        duration,
    })
}

fn require(model: &str, feature: &str, label: &str, c: &Common) -> Result<(), Fail> {
    if supports(model, feature, &c.mode, c.duration) {
        Ok(())
    } else {
        Err(invalid(format!(
            "{label} is not supported by {model} {} {}s",
            c.mode, c.duration
        )))
    }
}

fn camera(body: &Value) -> Result<Option<&str>, Fail> {
    let Some(cam) = body.get("camera_control").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let ty = cam.get("type").and_then(Value::as_str).unwrap_or("");
    let config = cam.get("config").filter(|v| !v.is_null());
    match (ty, config) {
        ("simple", Some(cfg)) => {
            let keys = ["horizontal", "vertical", "pan", "tilt", "roll", "zoom"];
            let values: Vec<f64> = keys
                .iter()
                .map(|k| cfg.get(*k).and_then(Value::as_f64).unwrap_or(0.0))
                .collect();
            if values.iter().any(|v| !(-10.0..=10.0).contains(v))
                || values.iter().filter(|v| **v != 0.0).count() != 1
            {
                return Err(invalid(
                    "camera_control.config needs exactly one non-zero value in [-10, 10]",
                ));
            }
        }
        ("simple", None) => {
            return Err(invalid("camera_control.config is required for type simple"));
        }
        ("down_back" | "forward_up" | "right_turn_forward" | "left_turn_forward", None) => {}
        ("down_back" | "forward_up" | "right_turn_forward" | "left_turn_forward", Some(_)) => {
            return Err(invalid(
                "camera_control.config must be empty unless type is simple",
            ));
        }
        _ => return Err(invalid("camera_control.type is not valid")),
    }
    Ok(Some(if ty == "simple" { "simple" } else { "preset" }))
}

fn resolution(mode: &str) -> Resolution {
    match mode {
        "std" => Resolution::P720,
        _ => Resolution::P1080,
    }
}

/// Sound, multi-shot and elements (v2.6/v3 fields of both kinds, `docs/providers.md` §Extras);
/// whether the video has sound.
fn extras(body: &Value, c: &Common) -> Result<bool, Fail> {
    let sound = match opt_str(body, "sound")? {
        None | Some("off") => false,
        Some("on") => true,
        Some(_) => return Err(invalid("sound must be on or off")),
    };
    if sound {
        require(&c.model, "sound", "sound", c)?;
    }
    if body.get("multi_shot").and_then(Value::as_bool) == Some(true) {
        require(&c.model, "multi-shot", "multi_shot", c)?;
        let shots = body.get("multi_prompt").and_then(Value::as_array);
        let durations = shots.map(|s| s.iter().map(shot_duration).collect::<Vec<_>>());
        let durations = durations
            .unwrap_or_default()
            .into_iter()
            .collect::<Option<Vec<u32>>>();
        let ok = durations.as_ref().is_some_and(|d| {
            (1..=6).contains(&d.len()) && !d.contains(&0) && d.iter().sum::<u32>() == c.duration
        });
        if !ok || opt_str(body, "shot_type")? != Some("customize") {
            return Err(invalid(
                "multi_prompt needs 1 to 6 shots of at least 1 s summing to duration, with shot_type customize",
            ));
        }
    }
    if let Some(elements) = body.get("element_list").filter(|v| !v.is_null()) {
        require(&c.model, "elements", "element_list", c)?;
        let ids = elements.as_array().map(|e| {
            e.iter().all(|x| {
                x.get("element_id")
                    .is_some_and(|id| id.is_string() || id.is_u64())
            }) && e.len() <= 3
        });
        if ids != Some(true) {
            return Err(invalid("element_list takes at most 3 {element_id}"));
        }
    }
    Ok(sound)
}

/// A shot's duration, written as a string or a number; at most 512 characters of prompt.
fn shot_duration(shot: &Value) -> Option<u32> {
    let prompt = shot.get("prompt").and_then(Value::as_str)?;
    if prompt.chars().count() > 512 {
        return None;
    }
    match shot.get("duration")? {
        Value::String(s) => s.parse().ok(),
        v => v.as_u64().and_then(|d| u32::try_from(d).ok()),
    }
}

pub(crate) fn validate_text2video(body: &Value) -> Result<NewTask, Fail> {
    let c = common(body)?;
    let multi_shot = body.get("multi_shot").and_then(Value::as_bool) == Some(true);
    let prompt = text(body, "prompt")?
        .filter(|p| multi_shot || !p.trim().is_empty())
        .ok_or_else(|| invalid("prompt is required"))?;
    let aspect = match opt_str(body, "aspect_ratio")? {
        None => Aspect::Landscape,
        Some(a) => {
            Aspect::parse(a).ok_or_else(|| invalid("aspect_ratio must be 16:9, 9:16 or 1:1"))?
        }
    };
    require(&c.model, "t2v", "text2video", &c)?;
    if camera(body)?.is_some() {
        require(&c.model, "t2v-camera", "camera_control", &c)?;
    }
    let sound = extras(body, &c)?;
    Ok(NewTask {
        kind: "text2video",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt,
        resolution: resolution(&c.mode),
        sound,
        mode: c.mode,
        request: body.clone(),
        surface: Surface::Legacy,
        model: c.model,
        duration: c.duration,
        aspect,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
        parent: None,
    })
}

pub(crate) fn validate_image2video(body: &Value) -> Result<NewTask, Fail> {
    let c = common(body)?;
    if body.get("aspect_ratio").is_some_and(|v| !v.is_null()) {
        // Not a field of image2video: Kling ignores unknown fields.
        tracing::debug!("aspect_ratio ignored for image2video");
    }
    let prompt = text(body, "prompt")?.unwrap_or_default();
    let start = image(body, "image")?;
    let tail = image(body, "image_tail")?;
    let static_mask = image(body, "static_mask")?;
    let masks = match body.get("dynamic_masks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(m)) => m.clone(),
        Some(_) => return Err(invalid("dynamic_masks must be an array")),
    };
    if start.is_none() && tail.is_none() {
        return Err(invalid("image or image_tail is required"));
    }
    let start_end = start.is_some() && tail.is_some();
    let brush = static_mask.is_some() || !masks.is_empty();
    let cam = camera(body)?;
    if [start_end, brush, cam.is_some()]
        .iter()
        .filter(|x| **x)
        .count()
        > 1
    {
        return Err(invalid(
            "image+image_tail, dynamic_masks/static_mask and camera_control cannot be used together",
        ));
    }
    require(&c.model, "i2v", "image2video", &c)?;
    if start_end {
        require(&c.model, "start-end", "image_tail with image", &c)?;
    }
    if start.is_none() {
        require(&c.model, "end-only", "image_tail without image", &c)?;
    }
    if brush {
        require(&c.model, "brush", "motion brush", &c)?;
        if masks.len() > 6 {
            return Err(invalid("dynamic_masks allows at most 6 groups"));
        }
        for m in &masks {
            image(m, "mask")?.ok_or_else(|| invalid("dynamic_masks[].mask is required"))?;
            let points = m
                .get("trajectories")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if !(2..=77).contains(&points) {
                return Err(invalid("dynamic_masks[].trajectories needs 2 to 77 points"));
            }
        }
    }
    if let Some(kind) = cam
        && (kind != "simple" || !supports(&c.model, "i2v-camera", &c.mode, c.duration))
    {
        return Err(invalid(format!(
            "camera_control is not supported by {} {} {}s",
            c.model, c.mode, c.duration
        )));
    }
    let sound = extras(body, &c)?;
    Ok(NewTask {
        kind: "image2video",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt,
        resolution: resolution(&c.mode),
        sound,
        mode: c.mode,
        request: body.clone(),
        surface: Surface::Legacy,
        model: c.model,
        duration: c.duration,
        aspect: Aspect::Landscape,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
        parent: None,
    })
}
