//! `POST /v1/videos/effects` checked as Kling checks it: a scene, and its input — one photo
//! (`input.image`) for the one-photo scenes, exactly two (`input.images`) for the two-photo
//! ones. Kling's page lists 219 scenes; any well-formed name is taken as one of them except the
//! retired ones, and the two-photo ones are known by name. The video is a 5-second clip, and its
//! query answer has no `duration` (as Kling's effects answer).

use serde_json::Value;

use crate::bodies::{image, opt_str};
use crate::routes::{Fail, fail, invalid};
use crate::tasks::{NewTask, Surface};
use crate::video::{Aspect, Resolution};

/// Scenes made from two photos (Kling's effects page, late 2026).
const TWO_PHOTO: &[&str] = &[
    "pet_skateboard",
    "daily_ootd",
    "toss_run",
    "switch_to_silk",
    "studio_look",
    "french_elegance",
    "finger_swipe",
    "smooth_transition",
    "kiss_pro",
    "snow_night_kiss",
    "eternal_kiss",
    "cheers_2026",
    "fight_pro",
    "hug_pro",
    "heart_gesture_pro",
];

/// Scenes Kling took away (kiss/hug/fight on 2026-01-30, `magic_match_tree` on 2026-07-03).
const RETIRED: &[&str] = &["kiss", "hug", "fight", "magic_match_tree"];

/// How long an effect video lasts here.
pub const EFFECT_SECONDS: u32 = 5;

fn scene(body: &Value) -> Result<String, Fail> {
    let scene =
        opt_str(body, "effect_scene")?.ok_or_else(|| invalid("effect_scene is required"))?;
    let well_formed = !scene.is_empty()
        && scene
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(invalid(format!("effect_scene {scene} is invalid")));
    }
    if RETIRED.contains(&scene) {
        return Err(fail(
            400,
            1201,
            format!("effect_scene {scene} is no longer available"),
        ));
    }
    Ok(scene.to_string())
}

fn photos(input: &Value, two: bool) -> Result<(), Fail> {
    if two {
        let images = input
            .get("images")
            .and_then(Value::as_array)
            .filter(|a| a.len() == 2)
            .ok_or_else(|| invalid("input.images must hold exactly 2 images"))?;
        for i in images {
            let wrapped = serde_json::json!({ "image": i });
            image(&wrapped, "image")?.ok_or_else(|| invalid("input.images[] is empty"))?;
        }
        return Ok(());
    }
    image(input, "image")?.ok_or_else(|| invalid("input.image is required"))?;
    Ok(())
}

pub(crate) fn validate_effects(body: &Value) -> Result<NewTask, Fail> {
    let scene = scene(body)?;
    let input = body
        .get("input")
        .filter(|i| i.is_object())
        .ok_or_else(|| invalid("input is required"))?;
    photos(input, TWO_PHOTO.contains(&scene.as_str()))?;
    if let Some(url) = opt_str(body, "callback_url")?
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(invalid("callback_url must be an http(s) URL"));
    }
    Ok(NewTask {
        kind: "effects",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt: scene,
        resolution: Resolution::P720,
        sound: false,
        mode: "std".into(),
        request: body.clone(),
        surface: Surface::Legacy,
        model: "effects".into(),
        duration: EFFECT_SECONDS,
        aspect: Aspect::Portrait,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
        parent: None,
    })
}
