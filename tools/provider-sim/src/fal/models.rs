//! fal's Kling model ids and the inputs each takes (`docs/providers.md` §fal), as the emulator checks
//! them: a wrong input is a 422 with a `detail` list naming the field, as fal answers.

use serde_json::{Value, json};

/// What one model id accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub image_to_video: bool,
    pub durations: &'static [&'static str],
    pub audio: bool,
    pub end_frame: bool,
    pub multi_prompt: bool,
    pub elements: bool,
    /// 720p (standard) or 1080p (pro).
    pub pro: bool,
}

const LONG: &[&str] = &[
    "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15",
];
const SHORT: &[&str] = &["5", "10"];

/// The model behind an id such as `fal-ai/kling-video/v3/pro/text-to-video`.
pub fn model(id: &str) -> Option<Model> {
    let rest = id.strip_prefix("fal-ai/kling-video/")?;
    let (family, tier, task) = match rest.split('/').collect::<Vec<_>>()[..] {
        ["v3", "turbo", tier, task] => ("v3-turbo", tier, task),
        [family, tier, task] => (family, tier, task),
        _ => return None,
    };
    let image_to_video = match task {
        "text-to-video" => false,
        "image-to-video" => true,
        _ => return None,
    };
    let pro = match tier {
        "standard" => false,
        "pro" => true,
        _ => return None,
    };
    let base = Model {
        image_to_video,
        durations: LONG,
        audio: true,
        end_frame: image_to_video,
        multi_prompt: true,
        elements: image_to_video,
        pro,
    };
    match family {
        "v3" => Some(base),
        "v3-turbo" => Some(Model {
            end_frame: false,
            elements: false,
            ..base
        }),
        "v2.6" => Some(Model {
            durations: SHORT,
            multi_prompt: false,
            elements: false,
            end_frame: false,
            ..base
        }),
        "v2.5-turbo" if pro => Some(Model {
            durations: SHORT,
            audio: false,
            multi_prompt: false,
            elements: false,
            ..base
        }),
        _ => None,
    }
}

fn problem(field: &str, msg: &str) -> Value {
    json!({"loc": ["body", field], "msg": msg, "type": "value_error"})
}

fn string_field(input: &Value, field: &str) -> Result<Option<String>, Value> {
    match input.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(problem(field, "must be a string")),
    }
}

/// Every problem with an input for `m` (empty: accepted). Unknown fields are ignored.
pub fn problems(m: &Model, input: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if !input.is_object() {
        return vec![problem("body", "must be a JSON object")];
    }
    let prompt = string_field(input, "prompt").unwrap_or_else(|p| {
        out.push(p);
        None
    });
    let shots = input.get("multi_prompt").filter(|v| !v.is_null());
    if shots.is_some() && !m.multi_prompt {
        out.push(problem("multi_prompt", "not supported by this model"));
    }
    if prompt.as_deref().is_none_or(|p| p.trim().is_empty()) && shots.is_none() && !m.image_to_video
    {
        out.push(problem("prompt", "field required"));
    }
    if prompt.as_deref().is_some_and(|p| p.chars().count() > 2500) {
        out.push(problem("prompt", "at most 2500 characters"));
    }
    match string_field(input, "duration") {
        Ok(Some(d)) if !m.durations.contains(&d.as_str()) => {
            out.push(problem(
                "duration",
                &format!("must be one of {:?}", m.durations),
            ));
        }
        Err(p) => out.push(p),
        _ => {}
    }
    for (field, offered) in [
        ("generate_audio", m.audio),
        ("end_image_url", m.end_frame),
        ("elements", m.elements),
    ] {
        let asked = input
            .get(field)
            .is_some_and(|v| !v.is_null() && *v != json!(false));
        if asked && !offered {
            out.push(problem(field, "not supported by this model"));
        }
    }
    let start = string_field(input, "start_image_url").unwrap_or(None);
    if m.image_to_video && start.is_none() {
        out.push(problem("start_image_url", "field required"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_inputs() {
        assert!(model("fal-ai/kling-video/v3/pro/text-to-video").is_some());
        assert!(model("fal-ai/kling-video/v3/turbo/standard/image-to-video").is_some());
        assert!(model("fal-ai/kling-video/v2.5-turbo/standard/text-to-video").is_none());
        assert!(model("fal-ai/kling-video/v1.6/pro/text-to-video").is_none());
        let v26 = model("fal-ai/kling-video/v2.6/pro/text-to-video").unwrap();
        assert!(problems(&v26, &json!({"prompt": "p", "duration": "5"})).is_empty());
        assert_eq!(
            problems(&v26, &json!({"prompt": "p", "duration": "12"})).len(),
            1
        );
        let i2v = model("fal-ai/kling-video/v3/standard/image-to-video").unwrap();
        assert_eq!(
            problems(&i2v, &json!({"prompt": "p"}))[0]["loc"][1],
            "start_image_url"
        );
    }
}
