//! The kinds fal sells beyond text/image-to-video, each mapped to its fal model id and input
//! (`docs/providers.md` §fal): motion control (`fal-ai/kling-video/{v3|v2.6}/{tier}/motion-control`),
//! Kling O3's edit (`…/o3/{tier}/video-to-video/edit`), the avatar (`…/ai-avatar/v2/{tier}`),
//! lip-sync (`…/lipsync/audio-to-video`) and video-to-audio (`…/video-to-audio`). fal takes
//! every input by URL, so a source is always our stored copy (fal names no video of its own).

use serde_json::{Value, json};

use crate::domain::catalogue::{self, Refusal, Surface};
use crate::domain::task::{Mode, VideoType};
use crate::provider::{Feature, GenerationRequest, ProviderError};

/// fal's prompt limit on these models.
const MAX_PROMPT_CHARS: usize = 2500;

fn tier(mode: Mode) -> &'static str {
    match mode {
        Mode::Std => "standard",
        Mode::Pro => "pro",
    }
}

/// The preset's model where it runs motion control (kling-v3 → fal's `v3`), else Kling's
/// default for it (kling-v2-6 → `v2.6`), as on Kling's own API.
fn motion_family(r: &GenerationRequest) -> &'static str {
    let asked = r.model.model.as_str();
    let name = catalogue::MOTION_MODELS
        .iter()
        .find(|m| {
            **m == asked || catalogue::model(m).is_some_and(|c| c.kling_standard == Some(asked))
        })
        .unwrap_or(&catalogue::MOTION_MODELS[0]);
    catalogue::model(name).and_then(|m| m.fal).unwrap_or("v2.6")
}

/// Whether this module maps the kind (the others are the model kinds, or not on fal).
pub fn maps(kind: VideoType) -> bool {
    !kind.is_model_kind() && kind != VideoType::Effect
}

/// The fal model id for the kind (the tier where fal sells two).
pub fn model_id(r: &GenerationRequest) -> String {
    let tier = tier(r.model.mode);
    match r.kind {
        VideoType::OmniEdit => format!("fal-ai/kling-video/o3/{tier}/video-to-video/edit"),
        VideoType::Avatar => format!("fal-ai/kling-video/ai-avatar/v2/{tier}"),
        VideoType::LipSync => "fal-ai/kling-video/lipsync/audio-to-video".into(),
        VideoType::VideoToAudio => "fal-ai/kling-video/video-to-audio".into(),
        _ => format!(
            "fal-ai/kling-video/{}/{tier}/motion-control",
            motion_family(r)
        ),
    }
}

/// Our prompt's names for the inputs (`@video_1`, `@image_1`) in fal's spelling (`@Video1`,
/// `@Image1`).
pub fn fal_prompt(prompt: &str) -> String {
    prompt
        .replace("@video_1", "@Video1")
        .replace("@image_1", "@Image1")
}

fn source_url(r: &GenerationRequest) -> Option<&str> {
    r.source.as_ref().and_then(|s| s.url.as_deref())
}

/// The input fal takes: motion control the photo, the reference and whose orientation to keep
/// (the sound left to fal's default, as on Kling); the edit the video, the prompt, a reference
/// photo and the video's own sound kept; the avatar the photo and the audio; lip-sync the video
/// and the audio; video-to-audio the video and both prompts, empty when not asked (fal's
/// defaults are sample prompts, not silence).
pub fn input(r: &GenerationRequest) -> Value {
    let video = source_url(r).unwrap_or_default();
    let audio = r.voice.as_ref().map_or("", |v| v.url.as_str());
    let photo = r.image.as_deref().unwrap_or_default();
    let mut v = match r.kind {
        VideoType::OmniEdit => json!({"video_url": video, "keep_audio": true}),
        VideoType::Avatar => json!({"image_url": photo, "audio_url": audio}),
        VideoType::LipSync => return json!({"video_url": video, "audio_url": audio}),
        VideoType::VideoToAudio => {
            return json!({"video_url": video,
                "sound_effect_prompt": r.prompt.as_deref().unwrap_or_default(),
                "background_music_prompt": r.music_prompt.as_deref().unwrap_or_default()});
        }
        _ => json!({
            "image_url": photo,
            "video_url": video,
            "character_orientation": r.orientation.map_or("video", |o| o.as_str()),
        }),
    };
    if let Some(p) = r.prompt.as_deref().filter(|p| !p.is_empty()) {
        v["prompt"] = json!(fal_prompt(p));
    }
    if let (VideoType::OmniEdit, Some(photo)) = (r.kind, &r.image) {
        v["image_urls"] = json!([photo]);
    }
    v
}

fn invalid(reason: &str) -> ProviderError {
    ProviderError::NotCreated {
        reason: reason.to_string(),
    }
}

/// The catalogue's rule on fal (the source's length included) and what fal needs to be sent.
pub fn check(r: &GenerationRequest) -> Result<(), ProviderError> {
    r.check_four_k(Surface::Fal)
        .and_then(|()| {
            catalogue::check_on_video(r.kind, r.input_seconds(), r.orientation, Surface::Fal)
        })
        .map_err(|e| match e {
            Refusal::Unsupported(feature, reason) => ProviderError::Unsupported { feature, reason },
            Refusal::Invalid(reason) => ProviderError::NotCreated { reason },
        })?;
    if !r.elements.is_empty() {
        return Err(ProviderError::Unsupported {
            feature: Feature::Elements,
            reason: "element ids are Kling's own; fal does not take them".into(),
        });
    }
    let needs_video = r.kind != VideoType::Avatar;
    if needs_video && source_url(r).is_none() {
        return Err(invalid("fal takes the input video by URL only"));
    }
    let prompt = r.prompt.as_deref().unwrap_or_default();
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(invalid("a prompt is too long"));
    }
    let needs_photo = matches!(r.kind, VideoType::MotionControl | VideoType::Avatar);
    let needs_audio = matches!(r.kind, VideoType::Avatar | VideoType::LipSync);
    if r.kind == VideoType::OmniEdit && prompt.trim().is_empty() {
        return Err(invalid("an edit needs a prompt"));
    }
    if needs_photo && r.image.is_none() {
        return Err(invalid("this kind needs a photo"));
    }
    if needs_audio && r.voice.is_none() {
        return Err(invalid("this kind needs an audio track"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::generation::{AudioInput, Orientation, SourceVideo};
    use crate::domain::task::Quality;
    use crate::provider::ModelChoice;

    fn on_video(kind: VideoType, model: &str, mode: Mode, seconds: f64) -> GenerationRequest {
        GenerationRequest {
            kind,
            prompt: Some("swap the sky for @image_1 in @video_1".into()),
            model: ModelChoice {
                model: model.into(),
                mode,
            },
            image: Some("https://cdn.test/photo.png".into()),
            orientation: Some(Orientation::Image),
            source: Some(SourceVideo {
                task_id: None,
                made_by: "kling".into(),
                provider_video_id: Some("kling-id".into()),
                url: Some("https://cdn.test/clip.mp4".into()),
                duration_seconds: seconds,
            }),
            task_id: "t-1".into(),
            negative_prompt: None,
            duration_seconds: seconds.ceil() as u32,
            aspect_ratio: None,
            quality: Quality::Standard,
            cfg_scale: None,
            image_tail: None,
            camera: None,
            audio: false,
            shots: vec![],
            seed: None,
            elements: vec![],
            scene: None,
            music_prompt: None,
            voice: None,
            four_k: false,
            callback_url: None,
            provider: "fal".into(),
            callbacks: Default::default(),
            account: String::new(),
        }
    }

    #[test]
    fn model_ids_follow_the_preset_and_its_mode() {
        use VideoType::*;
        let cases = [
            (
                MotionControl,
                "kling-v3",
                Mode::Pro,
                "fal-ai/kling-video/v3/pro/motion-control",
            ),
            (
                MotionControl,
                "kling-3.0",
                Mode::Std,
                "fal-ai/kling-video/v3/standard/motion-control",
            ),
            (
                MotionControl,
                "kling-v2-6",
                Mode::Std,
                "fal-ai/kling-video/v2.6/standard/motion-control",
            ),
            (
                MotionControl,
                "kling-v2-5-turbo",
                Mode::Pro,
                "fal-ai/kling-video/v2.6/pro/motion-control",
            ),
            (
                OmniEdit,
                "kling-v2-5-turbo",
                Mode::Std,
                "fal-ai/kling-video/o3/standard/video-to-video/edit",
            ),
            (
                OmniEdit,
                "kling-v3",
                Mode::Pro,
                "fal-ai/kling-video/o3/pro/video-to-video/edit",
            ),
            (
                Avatar,
                "kling-v3",
                Mode::Std,
                "fal-ai/kling-video/ai-avatar/v2/standard",
            ),
            (
                Avatar,
                "kling-v3",
                Mode::Pro,
                "fal-ai/kling-video/ai-avatar/v2/pro",
            ),
            (
                LipSync,
                "kling-v3",
                Mode::Pro,
                "fal-ai/kling-video/lipsync/audio-to-video",
            ),
            (
                VideoToAudio,
                "kling-v3",
                Mode::Pro,
                "fal-ai/kling-video/video-to-audio",
            ),
        ];
        for (kind, model, mode, want) in cases {
            assert_eq!(
                model_id(&on_video(kind, model, mode, 5.0)),
                want,
                "{kind:?} {model}"
            );
        }
    }

    #[test]
    fn prompts_name_the_inputs_as_fal_does() {
        let cases = [
            (
                "make @video_1 snowy like @image_1",
                "make @Video1 snowy like @Image1",
            ),
            ("no names here", "no names here"),
            ("@video_1@video_1", "@Video1@Video1"),
        ];
        for (ours, theirs) in cases {
            assert_eq!(fal_prompt(ours), theirs);
        }
    }

    #[test]
    fn inputs_carry_the_urls_fal_fetches() {
        let motion = input(&on_video(
            VideoType::MotionControl,
            "kling-v3",
            Mode::Std,
            7.0,
        ));
        assert_eq!(
            motion,
            json!({"image_url": "https://cdn.test/photo.png", "video_url": "https://cdn.test/clip.mp4",
                "character_orientation": "image", "prompt": "swap the sky for @Image1 in @Video1"})
        );
        let edit = input(&on_video(VideoType::OmniEdit, "kling-v3", Mode::Std, 7.0));
        assert_eq!(
            edit,
            json!({"video_url": "https://cdn.test/clip.mp4", "keep_audio": true,
                "prompt": "swap the sky for @Image1 in @Video1", "image_urls": ["https://cdn.test/photo.png"]})
        );
    }

    #[test]
    fn audio_kinds_send_the_upload_and_sound_prompts_are_never_fals_samples() {
        let with_voice = |kind| GenerationRequest {
            voice: Some(AudioInput {
                url: "https://cdn.test/voice.mp3".into(),
                duration_seconds: 4.2,
            }),
            ..on_video(kind, "kling-v3", Mode::Std, 6.0)
        };
        let avatar = input(&with_voice(VideoType::Avatar));
        assert_eq!(
            (&avatar["image_url"], &avatar["audio_url"]),
            (
                &json!("https://cdn.test/photo.png"),
                &json!("https://cdn.test/voice.mp3")
            )
        );
        assert_eq!(
            input(&with_voice(VideoType::LipSync)),
            json!({"video_url": "https://cdn.test/clip.mp4", "audio_url": "https://cdn.test/voice.mp3"})
        );
        let silent = GenerationRequest {
            prompt: None,
            ..on_video(VideoType::VideoToAudio, "kling-v3", Mode::Std, 6.0)
        };
        assert_eq!(
            input(&silent),
            json!({"video_url": "https://cdn.test/clip.mp4", "sound_effect_prompt": "",
                "background_music_prompt": ""})
        );
        assert!(check(&with_voice(VideoType::Avatar)).is_ok());
        let no_voice = on_video(VideoType::LipSync, "kling-v3", Mode::Std, 6.0);
        assert!(matches!(
            check(&no_voice),
            Err(ProviderError::NotCreated { .. })
        ));
        let mut long = with_voice(VideoType::LipSync);
        if let Some(s) = long.source.as_mut() {
            s.duration_seconds = 10.4;
        }
        assert!(
            matches!(
                check(&long),
                Err(ProviderError::Unsupported {
                    feature: Feature::Duration,
                    ..
                })
            ),
            "fal's lip-sync takes 2-10 s videos"
        );
    }

    #[test]
    fn checks_refuse_what_fal_would_not_take() {
        let ok = |kind| on_video(kind, "kling-v3", Mode::Std, 5.0);
        let refused = |r: GenerationRequest| match check(&r) {
            Err(ProviderError::Unsupported { feature, .. }) => Some(format!("{feature:?}")),
            Err(ProviderError::NotCreated { .. }) => Some("invalid".into()),
            Err(other) => panic!("{other:?}"),
            Ok(()) => None,
        };
        let no_prompt = GenerationRequest {
            prompt: None,
            ..ok(VideoType::OmniEdit)
        };
        let no_photo = GenerationRequest {
            image: None,
            ..ok(VideoType::MotionControl)
        };
        let elements = GenerationRequest {
            elements: vec!["el-1".into()],
            ..ok(VideoType::MotionControl)
        };
        let mut no_url = ok(VideoType::OmniEdit);
        if let Some(s) = no_url.source.as_mut() {
            s.url = None;
        }
        let cases = [
            (ok(VideoType::OmniEdit), None),
            (ok(VideoType::MotionControl), None),
            (
                on_video(VideoType::OmniEdit, "kling-v3", Mode::Std, 10.2),
                Some("Duration"),
            ),
            (
                on_video(VideoType::MotionControl, "kling-v3", Mode::Std, 10.5),
                Some("Duration"),
            ),
            (no_prompt, Some("invalid")),
            (no_photo, Some("invalid")),
            (elements, Some("Elements")),
            (no_url, Some("invalid")),
        ];
        for (r, want) in cases {
            assert_eq!(refused(r.clone()).as_deref(), want, "{r:?}");
        }
    }
}
