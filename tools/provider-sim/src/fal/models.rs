//! fal's Kling model ids and the inputs each takes (`docs/providers.md` §fal), as the emulator checks
//! them: a wrong input is a 422 with a `detail` list naming the field, as fal answers.

use serde_json::{Value, json};

/// What a model id makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    TextToVideo,
    ImageToVideo,
    /// A photo moved as a reference video moves (`{v3|v2.6}/{tier}/motion-control`).
    MotionControl,
    /// Kling O3's edit of a video (`o3/{tier}/video-to-video/edit`).
    Edit,
    /// A photo speaking an audio track (`ai-avatar/v2/{tier}`).
    Avatar,
    /// A video's face speaking an audio track (`lipsync/audio-to-video`).
    LipSync,
    /// A video given sound (`video-to-audio`).
    VideoToAudio,
}

impl Task {
    /// The kinds whose length is an input's (a video's, the avatar's audio), read from the file.
    pub fn measured(self) -> bool {
        !matches!(self, Task::TextToVideo | Task::ImageToVideo)
    }

    /// The input whose length the output takes.
    pub fn measured_field(self) -> &'static str {
        match self {
            Task::Avatar => "audio_url",
            _ => "video_url",
        }
    }
}

/// What one model id accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub task: Task,
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
        ["o3", tier, "video-to-video", "edit"] => ("o3", tier, "edit"),
        ["ai-avatar", "v2", tier] => ("ai-avatar", tier, "avatar"),
        ["lipsync", "audio-to-video"] => ("lipsync", "standard", "lipsync"),
        ["video-to-audio"] => ("v2a", "standard", "video-to-audio"),
        [family, tier, task] => (family, tier, task),
        _ => return None,
    };
    let task = match task {
        "text-to-video" => Task::TextToVideo,
        "image-to-video" => Task::ImageToVideo,
        "motion-control" if matches!(family, "v3" | "v2.6") => Task::MotionControl,
        "edit" => Task::Edit,
        "avatar" => Task::Avatar,
        "lipsync" => Task::LipSync,
        "video-to-audio" => Task::VideoToAudio,
        _ => return None,
    };
    let image_to_video = task == Task::ImageToVideo;
    let pro = match tier {
        "standard" => false,
        "pro" => true,
        _ => return None,
    };
    let base = Model {
        task,
        image_to_video,
        durations: LONG,
        audio: true,
        end_frame: image_to_video,
        multi_prompt: true,
        elements: image_to_video,
        pro,
    };
    if task.measured() {
        return Some(base);
    }
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

fn url_field(input: &Value, field: &str, out: &mut Vec<Value>) {
    match string_field(input, field) {
        Ok(Some(u)) if u.starts_with("http://") || u.starts_with("https://") => {}
        Ok(Some(_)) => out.push(problem(field, "must be an http(s) URL")),
        Ok(None) => out.push(problem(field, "field required")),
        Err(p) => out.push(p),
    }
}

fn short_text(input: &Value, field: &str, max: usize, out: &mut Vec<Value>) -> Option<String> {
    let text = string_field(input, field).unwrap_or_else(|p| {
        out.push(p);
        None
    });
    if text.as_deref().is_some_and(|t| t.chars().count() > max) {
        out.push(problem(field, &format!("at most {max} characters")));
    }
    text
}

/// Problems with the input of a kind made from a video or an audio track (the length is checked
/// once the file is fetched: [`allowed_seconds`]).
fn measured_problems(m: &Model, input: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    let prompt = short_text(input, "prompt", 2500, &mut out);
    match m.task {
        Task::Edit => {
            url_field(input, "video_url", &mut out);
            if prompt.as_deref().is_none_or(|p| p.trim().is_empty()) {
                out.push(problem("prompt", "field required"));
            }
            let images = input.get("image_urls").filter(|v| !v.is_null());
            let ok = images.is_none_or(|v| {
                v.as_array()
                    .is_some_and(|a| a.len() <= 4 && a.iter().all(Value::is_string))
            });
            if !ok {
                out.push(problem("image_urls", "at most 4 image URLs"));
            }
            if input.get("keep_audio").is_some_and(|v| !v.is_boolean()) {
                out.push(problem("keep_audio", "must be a boolean"));
            }
        }
        Task::MotionControl => {
            url_field(input, "video_url", &mut out);
            url_field(input, "image_url", &mut out);
            match string_field(input, "character_orientation") {
                Ok(None) => {}
                Ok(Some(o)) if o == "image" || o == "video" => {}
                _ => out.push(problem("character_orientation", "must be image or video")),
            }
        }
        Task::Avatar => {
            url_field(input, "image_url", &mut out);
            url_field(input, "audio_url", &mut out);
        }
        Task::LipSync => {
            url_field(input, "video_url", &mut out);
            url_field(input, "audio_url", &mut out);
        }
        _ => {
            url_field(input, "video_url", &mut out);
            short_text(input, "sound_effect_prompt", 200, &mut out);
            short_text(input, "background_music_prompt", 200, &mut out);
        }
    }
    out
}

/// The lengths (seconds) the measured input may have: an edit 3-10.05 s, a motion reference
/// 3-30 s (3-10 s keeping the photo's orientation, fal's default), an avatar's audio 2-300 s,
/// a lip-sync video 2-10 s, a video given sound 3-20 s.
pub fn allowed_seconds(m: &Model, input: &Value, seconds: f64) -> Result<(), String> {
    let (min, max) = match m.task {
        Task::Edit => (3.0, 10.05),
        Task::MotionControl if input["character_orientation"] == "video" => (3.0, 30.0),
        Task::MotionControl => (3.0, 10.0),
        Task::Avatar => (2.0, 300.0),
        Task::LipSync => (2.0, 10.0),
        _ => (3.0, 20.0),
    };
    if (min..=max).contains(&seconds) {
        return Ok(());
    }
    let field = m.task.measured_field();
    Err(format!(
        "{field} must last {min} to {max} s, not {seconds:.2} s"
    ))
}

/// Every problem with an input for `m` (empty: accepted). Unknown fields are ignored.
pub fn problems(m: &Model, input: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if !input.is_object() {
        return vec![problem("body", "must be a JSON object")];
    }
    if m.task.measured() {
        return measured_problems(m, input);
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
        let edit = model("fal-ai/kling-video/o3/pro/video-to-video/edit").unwrap();
        assert_eq!(edit.task, Task::Edit);
        let mc = model("fal-ai/kling-video/v2.6/standard/motion-control").unwrap();
        assert_eq!(mc.task, Task::MotionControl);
        assert!(model("fal-ai/kling-video/v2.5-turbo/pro/motion-control").is_none());
        let url = "https://cdn.test/a.mp4";
        assert!(problems(&edit, &json!({"prompt": "snow", "video_url": url})).is_empty());
        let fields = |m, v| {
            problems(m, &v)
                .iter()
                .map(|p| p["loc"][1].as_str().unwrap_or_default().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(fields(&edit, json!({"video_url": url})), ["prompt"]);
        assert_eq!(
            fields(
                &mc,
                json!({"video_url": url, "character_orientation": "side"})
            ),
            ["image_url", "character_orientation"]
        );
        assert!(allowed_seconds(&edit, &json!({}), 10.0).is_ok());
        assert!(allowed_seconds(&edit, &json!({}), 11.0).is_err());
        let video = json!({"character_orientation": "video"});
        assert!(allowed_seconds(&mc, &video, 30.0).is_ok());
        assert!(allowed_seconds(&mc, &json!({}), 12.0).is_err());
        let tasks = [
            ("fal-ai/kling-video/ai-avatar/v2/pro", Task::Avatar),
            ("fal-ai/kling-video/lipsync/audio-to-video", Task::LipSync),
            ("fal-ai/kling-video/video-to-audio", Task::VideoToAudio),
        ];
        for (id, task) in tasks {
            assert_eq!(model(id).map(|m| m.task), Some(task), "{id}");
        }
        let lip = model("fal-ai/kling-video/lipsync/audio-to-video").unwrap();
        assert_eq!(fields(&lip, json!({"video_url": url})), ["audio_url"]);
        assert!(allowed_seconds(&lip, &json!({}), 10.5).is_err());
        let v2a = model("fal-ai/kling-video/video-to-audio").unwrap();
        let long = "x".repeat(201);
        assert_eq!(
            fields(&v2a, json!({"video_url": url, "sound_effect_prompt": long})),
            ["sound_effect_prompt"]
        );
        let i2v = model("fal-ai/kling-video/v3/standard/image-to-video").unwrap();
        assert_eq!(
            problems(&i2v, &json!({"prompt": "p"}))[0]["loc"][1],
            "start_image_url"
        );
    }
}
