//! Our generation requests in the standard API's shape, and its tasks as provider jobs.

use super::error::KlingError;
use super::standard::{
    Content, CreateRequest, Options, Product, Settings, StandardTask, Status, Watermark,
};
use crate::domain::catalogue::{self, MAX_SHOT_PROMPT_CHARS, Surface};
use crate::domain::task::VideoType;
use crate::provider::{GenerationRequest, JobStatus, ProviderJob, ProviderRef};

const MAX_PROMPT_CHARS: usize = 2500;

/// Motion control on the standard API: `kling-3.0` when the preset's model is kling-v3, else
/// `kling-2.6` (Kling's default); the reference's length and orientation by the catalogue.
fn check_motion(r: &GenerationRequest) -> Result<&'static str, KlingError> {
    catalogue::check_on_video(
        r.kind,
        r.input_seconds(),
        r.orientation,
        Surface::KlingStandard,
    )?;
    let has = |u: &Option<String>| u.as_deref().is_some_and(|u| !u.is_empty());
    if !has(&r.image) || !r.source.as_ref().is_some_and(|s| has(&s.url)) {
        return Err(KlingError::InvalidInput(
            "motion control needs a photo and a reference video URL".into(),
        ));
    }
    Ok(match r.model.model.as_str() {
        "kling-v3" => "kling-3.0",
        _ => "kling-2.6",
    })
}

/// An Omni edit: the video's length by the catalogue, a prompt and the video's URL (Kling's
/// base video takes URLs only); always `kling-3.0-omni`.
fn check_omni_edit(r: &GenerationRequest) -> Result<&'static str, KlingError> {
    catalogue::check_on_video(r.kind, r.input_seconds(), None, Surface::KlingStandard)?;
    let has = |u: Option<&str>| u.is_some_and(|u| !u.is_empty());
    if !has(r.prompt.as_deref()) || !has(r.source.as_ref().and_then(|s| s.url.as_deref())) {
        return Err(KlingError::InvalidInput(
            "an Omni edit needs a prompt and the video's URL".into(),
        ));
    }
    if r.prompt
        .as_deref()
        .is_some_and(|p| p.chars().count() > MAX_PROMPT_CHARS)
    {
        return Err(KlingError::InvalidInput("a prompt is too long".into()));
    }
    Ok(catalogue::OMNI_MODEL)
}

/// The capability map for the standard surface, and the lengths it takes.
pub fn check(r: &GenerationRequest) -> Result<&'static str, KlingError> {
    r.check_four_k(Surface::KlingStandard)?;
    match r.kind {
        VideoType::MotionControl => return check_motion(r),
        VideoType::OmniEdit => return check_omni_edit(r),
        _ => {}
    }
    let caps = catalogue::check(&r.wanted(), Surface::KlingStandard)?;
    let long = |t: &str, max| t.chars().count() > max;
    if r.prompt
        .as_deref()
        .is_some_and(|p| long(p, MAX_PROMPT_CHARS))
        || r.shots
            .iter()
            .any(|s| long(&s.prompt, MAX_SHOT_PROMPT_CHARS))
    {
        return Err(KlingError::InvalidInput("a prompt is too long".into()));
    }
    if r.kind == VideoType::ImageToVideo && r.image.is_none() {
        return Err(KlingError::InvalidInput(
            "image-to-video needs a first frame".into(),
        ));
    }
    caps.kling_standard
        .ok_or_else(|| KlingError::InvalidInput("no standard name".into()))
}

/// Multi-shot is written in the prompt: `shot 1, 4, words; shot 2, 6, words;`.
fn prompt_text(r: &GenerationRequest) -> String {
    if r.shots.is_empty() {
        return r.prompt.clone().unwrap_or_default();
    }
    (1..)
        .zip(&r.shots)
        .map(|(n, s)| {
            let words = s.prompt.replace(';', ",");
            format!("shot {n}, {}, {words};", s.duration_seconds)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The path and body for a request (checked first). The standard API has no negative prompt
/// field: it is left out.
pub fn create_request(
    r: &GenerationRequest,
) -> Result<(Product, &'static str, CreateRequest), KlingError> {
    let model = check(r)?;
    let prompt = prompt_text(r);
    let text = r.kind == VideoType::TextToVideo;
    let options = Options {
        callback_url: r.callback_url.clone(),
        external_task_id: (!r.task_id.is_empty()).then(|| r.task_id.clone()),
        watermark_info: Watermark { enabled: false },
    };
    match r.kind {
        VideoType::MotionControl => {
            let body = motion_body(r, prompt, options);
            return Ok((Product::MotionControl, model, body));
        }
        VideoType::OmniEdit => {
            let body = omni_edit_body(r, prompt, options);
            return Ok((Product::OmniVideo, model, body));
        }
        _ => {}
    }
    let settings = Settings {
        resolution: resolution(r).into(),
        aspect_ratio: text.then(|| r.aspect_ratio.map_or("16:9", |a| a.as_str()).to_string()),
        duration: Some(r.duration_seconds),
        audio: Some(if r.audio { "native" } else { "off" }.into()),
        multi_shot: (!r.shots.is_empty()).then_some(true),
        character_orientation: None,
    };
    let body = match text {
        true => CreateRequest {
            prompt: Some(prompt),
            contents: None,
            settings,
            options,
        },
        false => CreateRequest {
            prompt: None,
            contents: Some(contents(r, prompt)),
            settings,
            options,
        },
    };
    let product = if text {
        Product::TextToVideo
    } else {
        Product::ImageToVideo
    };
    Ok((product, model, body))
}

/// `contents[]` (prompt, photo, reference video) and `settings.character_orientation`; the
/// length is the reference's, so none is asked.
fn motion_body(r: &GenerationRequest, prompt: String, options: Options) -> CreateRequest {
    let mut contents = Vec::new();
    if !prompt.is_empty() {
        contents.push(Content::Prompt { text: prompt });
    }
    contents.push(Content::Image {
        url: r.image.clone().unwrap_or_default(),
    });
    contents.push(Content::Video { url: source_url(r) });
    CreateRequest {
        prompt: None,
        contents: Some(contents),
        settings: Settings {
            resolution: resolution(r).into(),
            aspect_ratio: None,
            duration: None,
            audio: None,
            multi_shot: None,
            character_orientation: Some(r.orientation.map_or("video", |o| o.as_str()).into()),
        },
        options,
    }
}

/// `contents[]` (prompt, the video to edit, a reference photo) with the source's sound kept;
/// no length, ratio or shots: an edit is the video's own.
fn omni_edit_body(r: &GenerationRequest, prompt: String, options: Options) -> CreateRequest {
    let mut contents = vec![
        Content::Prompt { text: prompt },
        Content::BaseVideo {
            url: source_url(r),
            id: "video_1".into(),
        },
    ];
    if let Some(url) = &r.image {
        contents.push(Content::ReferImage {
            url: url.clone(),
            id: "image_1".into(),
        });
    }
    CreateRequest {
        prompt: None,
        contents: Some(contents),
        settings: Settings {
            resolution: resolution(r).into(),
            aspect_ratio: None,
            duration: None,
            audio: Some("original".into()),
            multi_shot: Some(false),
            character_orientation: None,
        },
        options,
    }
}

/// The input video's URL (the standard API takes videos by URL only).
fn source_url(r: &GenerationRequest) -> String {
    r.source
        .as_ref()
        .and_then(|s| s.url.clone())
        .unwrap_or_default()
}

fn resolution(r: &GenerationRequest) -> &'static str {
    match (r.four_k, r.model.mode.as_str()) {
        (true, _) => "4k",
        (false, "pro") => "1080p",
        (false, _) => "720p",
    }
}

fn contents(r: &GenerationRequest, prompt: String) -> Vec<Content> {
    let mut out = Vec::new();
    if !prompt.is_empty() {
        out.push(Content::Prompt { text: prompt });
    }
    if let Some(url) = &r.image {
        out.push(Content::FirstFrame { url: url.clone() });
    }
    if let Some(url) = &r.image_tail {
        out.push(Content::LastFrame { url: url.clone() });
    }
    out.extend(r.elements.iter().map(|id| Content::Element {
        element_id: id.clone(),
    }));
    out
}

pub fn job_status(status: Status) -> JobStatus {
    match status {
        Status::Submitted => JobStatus::Queued,
        Status::Processing => JobStatus::Running,
        Status::Succeeded => JobStatus::Succeeded,
        Status::Failed => JobStatus::Failed,
        Status::Unknown => JobStatus::Unknown,
    }
}

pub fn job(t: &StandardTask) -> ProviderJob {
    let video = t.video();
    ProviderJob {
        reference: ProviderRef(t.id.clone()),
        handle: None,
        status: job_status(t.status),
        video_url: video.and_then(|v| v.url.clone()),
        video_id: video.and_then(|v| v.id.clone()),
        video_duration_seconds: video
            .and_then(|v| v.duration.as_deref())
            .and_then(|d| d.parse().ok()),
        billed_units: t.billed_units(),
        request_id: t.request_id.clone(),
        failure: t.message.clone().filter(|m| !m.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::task::{Mode, Quality};
    use crate::provider::{ModelChoice, Shot};

    fn request() -> GenerationRequest {
        GenerationRequest {
            task_id: "t1".into(),
            kind: VideoType::TextToVideo,
            prompt: None,
            negative_prompt: Some("blurry".into()),
            duration_seconds: 10,
            aspect_ratio: None,
            quality: Quality::Pro,
            model: ModelChoice {
                model: "kling-v3".into(),
                mode: Mode::Pro,
            },
            cfg_scale: None,
            image: None,
            image_tail: None,
            camera: None,
            audio: true,
            shots: vec![
                Shot {
                    prompt: "a door; opens".into(),
                    duration_seconds: 4,
                },
                Shot {
                    prompt: "a cat".into(),
                    duration_seconds: 6,
                },
            ],
            seed: Some(7),
            elements: vec![],
            callback_url: None,
            provider: String::new(),
            scene: None,
            source: None,
            music_prompt: None,
            orientation: None,
            voice: None,
            four_k: false,
            callbacks: Default::default(),
            account: String::new(),
        }
    }

    #[test]
    fn legacy_names_map_to_the_path_and_shots_to_the_prompt() {
        let (product, model, body) = create_request(&request()).unwrap();
        assert_eq!((product, model), (Product::TextToVideo, "kling-3.0"));
        assert_eq!(
            body.prompt.as_deref(),
            Some("shot 1, 4, a door, opens; shot 2, 6, a cat;")
        );
        assert_eq!(
            (
                body.settings.audio.as_deref().unwrap_or_default(),
                body.settings.resolution.as_str()
            ),
            ("native", "1080p")
        );
        let mut silent_v26 = request();
        silent_v26.model.model = "kling-v2-6".into();
        silent_v26.shots.clear();
        silent_v26.duration_seconds = 12;
        assert!(matches!(
            create_request(&silent_v26),
            Err(KlingError::Unsupported(
                crate::provider::Feature::Duration,
                _
            ))
        ));
    }
}
