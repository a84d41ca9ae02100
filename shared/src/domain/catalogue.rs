//! The models we generate with, as data: which surfaces offer each one and under what name, its
//! durations, modes and features, and what its provider bills per second (`docs/providers.md`
//! §Models: Kling's capability map of 2026-05-19 and its unit price list; fal serves the same
//! models). Validation, pricing and every adapter read it; an adapter only maps a model to its
//! wire shapes. One rule, [`check`], refuses a combination before any request is sent (and
//! before any money is spent). Retired models (1.x, v2-master, v2-1) are absent: asking for one
//! is asking for an unknown model.

use crate::domain::generation::{GenerationRequest, Orientation, VideoType};

mod effects;
pub use effects::{DUAL_IMAGE_SCENES, SINGLE_IMAGE_SCENES};

/// What a capability refusal is about, so the API can name it with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The kind of job (no configured surface offers it).
    Kind,
    /// The effect scene.
    Scene,
    /// The model itself (unknown, retired, or not on this surface).
    Model,
    /// The combination of kind, mode and frames.
    Combination,
    Duration,
    Audio,
    MultiShot,
    Elements,
    CameraControl,
    CfgScale,
    /// 4K output.
    Resolution,
}

/// Where a model can be asked for: an API surface of a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Kling's `/v1/videos/...` API (`model_name` in the body).
    KlingLegacy,
    /// Kling's 2026 standard API (`POST /{product}/{model}`).
    KlingStandard,
    /// fal.ai's queue, serving Kling's models (`fal-ai/kling-video/{family}/...`).
    Fal,
}

impl Surface {
    pub fn label(self) -> &'static str {
        match self {
            Surface::KlingLegacy => "Kling's Legacy API",
            Surface::KlingStandard => "Kling's Standard API",
            Surface::Fal => "fal",
        }
    }
}

const FIVE_TEN: &[u32] = &[5, 10];
const THREE_TO_FIFTEEN: &[u32] = &[3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const BOTH: &[&str] = &["std", "pro"];
const PRO: &[&str] = &["pro"];
const NO_MODE: &[&str] = &[];

pub const MAX_SHOTS: usize = 6;
/// Kling bills 4K at 3.0 units a second, with or without sound, Omni edits included
/// (`docs/providers.md` §Models).
pub const FOUR_K_UNIT_HUNDREDTHS: u64 = 300;
pub const MAX_SHOT_PROMPT_CHARS: usize = 512;
pub const MAX_ELEMENTS: usize = 3;

/// One model, with the name each surface knows it by (`None`: not offered there). `std` is 720p
/// and `pro` 1080p.
#[derive(Debug)]
pub struct Model {
    pub kling_legacy: Option<&'static str>,
    pub kling_standard: Option<&'static str>,
    /// The model family in fal's ids.
    pub fal: Option<&'static str>,
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
    /// Surfaces on which the model makes 4K video (Kling's standard API for Kling 3.0).
    pub four_k: &'static [Surface],
    /// Units the provider bills per second, in hundredths: (std silent, pro silent, std sound,
    /// pro sound).
    pub unit_hundredths_per_second: [u64; 4],
}

pub const MODELS: &[Model] = &[
    Model {
        kling_legacy: Some("kling-v2-5-turbo"),
        kling_standard: Some("kling-2.5-turbo"),
        fal: Some("v2.5-turbo"),
        durations: FIVE_TEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: PRO,
        audio: NO_MODE,
        audio_with_end_frame: false,
        multi_shot: false,
        elements: false,
        four_k: &[],
        unit_hundredths_per_second: [30, 50, 0, 0],
    },
    Model {
        kling_legacy: Some("kling-v2-6"),
        kling_standard: Some("kling-2.6"),
        fal: Some("v2.6"),
        durations: FIVE_TEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: PRO,
        audio: PRO,
        audio_with_end_frame: false,
        multi_shot: false,
        elements: false,
        four_k: &[],
        unit_hundredths_per_second: [30, 50, 0, 100],
    },
    Model {
        kling_legacy: Some("kling-v3"),
        kling_standard: Some("kling-3.0"),
        fal: Some("v3"),
        durations: THREE_TO_FIFTEEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: BOTH,
        audio: BOTH,
        audio_with_end_frame: true,
        multi_shot: true,
        elements: true,
        four_k: &[Surface::KlingStandard],
        unit_hundredths_per_second: [60, 80, 90, 120],
    },
    // API-key only on Kling: its standard surface is the only way to it there.
    Model {
        kling_legacy: None,
        kling_standard: Some("kling-3.0-turbo"),
        fal: Some("v3/turbo"),
        durations: THREE_TO_FIFTEEN,
        text_to_video: true,
        image_to_video: true,
        start_end_frame: NO_MODE,
        audio: BOTH,
        audio_with_end_frame: false,
        multi_shot: true,
        elements: false,
        four_k: &[],
        unit_hundredths_per_second: [80, 100, 80, 100],
    },
];

/// A model by any of its Kling names (the names tasks and presets use).
pub fn model(name: &str) -> Option<&'static Model> {
    MODELS
        .iter()
        .find(|m| m.kling_legacy == Some(name) || m.kling_standard == Some(name))
}

impl Model {
    pub fn name_on(&self, surface: Surface) -> Option<&'static str> {
        match surface {
            Surface::KlingLegacy => self.kling_legacy,
            Surface::KlingStandard => self.kling_standard,
            Surface::Fal => self.fal,
        }
    }

    fn label(&self) -> &'static str {
        self.kling_legacy.or(self.kling_standard).unwrap_or("model")
    }

    /// What the provider should bill for a 720p/1080p video, in hundredths of a unit (4K has
    /// one rate: [`FOUR_K_UNIT_HUNDREDTHS`]).
    pub fn expected_unit_hundredths(&self, mode: &str, duration: u32, audio: bool) -> u64 {
        let i = usize::from(mode == "pro") + 2 * usize::from(audio);
        self.unit_hundredths_per_second[i] * u64::from(duration)
    }
}

/// Why the catalogue refuses a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The model (or surface) does not offer what is asked.
    #[error("not supported: {1}")]
    Unsupported(Feature, String),
    /// What is asked is not a valid request at all.
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// What a request asks of a model, whatever the surface's wire shape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Wanted<'a> {
    pub kind: VideoType,
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
    pub four_k: bool,
}

fn refuse(feature: Feature, reason: String) -> Refusal {
    Refusal::Unsupported(feature, reason)
}

/// The one rule for the model kinds: whether `surface` can make what `w` asks, naming what it
/// cannot. The other kinds are products, not models: [`check_kind`].
pub fn check(w: &Wanted<'_>, surface: Surface) -> Result<&'static Model, Refusal> {
    if !w.kind.is_model_kind() {
        let msg = format!("{} is not made by a model", w.kind.as_str());
        return Err(refuse(Feature::Kind, msg));
    }
    let caps = model(w.model)
        .ok_or_else(|| refuse(Feature::Model, format!("unknown model {}", w.model)))?;
    let name = caps.label();
    if caps.name_on(surface).is_none() {
        let msg = format!("{name} is not offered on {}", surface.label());
        return Err(refuse(Feature::Model, msg));
    }
    if !matches!(w.mode, "std" | "pro") {
        let msg = format!("mode '{}' must be std or pro", w.mode);
        return Err(Refusal::Invalid(msg));
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
    if w.four_k && !caps.four_k.contains(&surface) {
        let msg = format!("4K is not offered by {name} on {}", surface.label());
        return Err(refuse(Feature::Resolution, msg));
    }
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

fn check_frames(caps: &Model, w: &Wanted<'_>) -> Result<(), Refusal> {
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

fn check_extras(caps: &Model, w: &Wanted<'_>) -> Result<(), Refusal> {
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

fn check_shots(caps: &Model, w: &Wanted<'_>) -> Result<(), Refusal> {
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

/// How a kind is priced: by the seconds of video it makes (times the kind's multiplier from
/// the price table) or per generation (a configured price).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriceBasis {
    PerSecond,
    PerGeneration,
}

/// A kind of job and where it is offered: the surfaces, the lengths it makes and its limits.
#[derive(Debug)]
pub struct KindOffer {
    pub kind: VideoType,
    /// Surfaces that offer it (the model kinds: every surface, the models decide).
    pub surfaces: &'static [Surface],
    /// Lengths it makes in whole seconds (empty for the model kinds: the model's own list
    /// decides); for a kind made from an input video or audio, the lengths of input it takes
    /// (rounded up).
    pub durations: std::ops::RangeInclusive<u32>,
    pub price: PriceBasis,
    /// Whether std/pro changes the price (the kinds with a mode).
    pub tiered: bool,
    /// The kind's own price multiplier in hundredths (the brief's: motion control ×1.3).
    pub multiplier: u64,
}

const ALL_SURFACES: &[Surface] = &[Surface::KlingLegacy, Surface::KlingStandard, Surface::Fal];

/// Every kind (`docs/providers.md` §Job kinds). Effects are Kling's `/v1/videos/effects` only:
/// the standard API has no effects product and fal sells none of the 2026 scenes.
/// No length of its own (the model kinds: the model's list decides).
#[allow(clippy::reversed_empty_ranges)]
const NONE: std::ops::RangeInclusive<u32> = 1..=0;

pub const KINDS: &[KindOffer] = &[
    KindOffer {
        kind: VideoType::TextToVideo,
        surfaces: ALL_SURFACES,
        durations: NONE,
        price: PriceBasis::PerSecond,
        tiered: true,
        multiplier: 100,
    },
    KindOffer {
        kind: VideoType::ImageToVideo,
        surfaces: ALL_SURFACES,
        durations: NONE,
        price: PriceBasis::PerSecond,
        tiered: true,
        multiplier: 100,
    },
    // Kling's effects answer with no duration; its scenes make 5-second clips.
    KindOffer {
        kind: VideoType::Effect,
        surfaces: &[Surface::KlingLegacy],
        durations: 5..=5,
        price: PriceBasis::PerGeneration,
        tiered: false,
        multiplier: 100,
    },
    // Kling's `/v1/audio/video-to-audio` and fal's `video-to-audio`: a 3-20 s video (by
    // Kling's id, or a URL) in, the same video with sound out; priced per second of the video.
    KindOffer {
        kind: VideoType::VideoToAudio,
        surfaces: &[Surface::KlingLegacy, Surface::Fal],
        durations: 3..=20,
        price: PriceBasis::PerSecond,
        tiered: false,
        multiplier: 100,
    },
    // Kling's `/v1/videos/motion-control` (kling-v2-6, kling-v3), the standard API's
    // `/motion-control/{kling-2.6|kling-3.0}` and fal's `{v2.6|v3}/{tier}/motion-control`: a
    // photo moved by a 3-30 s reference video (3-10 s when the photo's orientation is kept); as
    // long as the reference.
    KindOffer {
        kind: VideoType::MotionControl,
        surfaces: ALL_SURFACES,
        durations: 3..=30,
        price: PriceBasis::PerSecond,
        tiered: true,
        multiplier: 130,
    },
    // Kling's `/v1/videos/avatar/image2video` and fal's `ai-avatar/v2/{tier}`: one photo
    // speaking 2-300 s of audio; as long as the audio, priced per second of it.
    KindOffer {
        kind: VideoType::Avatar,
        surfaces: &[Surface::KlingLegacy, Surface::Fal],
        durations: 2..=300,
        price: PriceBasis::PerSecond,
        tiered: true,
        multiplier: 150,
    },
    // Kling 3.0 Omni's base video on the standard API (`/omni-video/kling-3.0-omni`) and fal's
    // "Kling O3" edit (`o3/{tier}/video-to-video/edit`, 3-10 s there: [`input_lengths`]): a
    // 3-15 s video changed as the prompt says, as long as the video; billed per second at the
    // "with video input" rate (`docs/providers.md` §Job kinds).
    KindOffer {
        kind: VideoType::OmniEdit,
        surfaces: &[Surface::KlingStandard, Surface::Fal],
        durations: 3..=15,
        price: PriceBasis::PerSecond,
        tiered: true,
        multiplier: 100,
    },
    // Kling's `/v1/videos/advanced-lip-sync` (after `identify-face`; fal's
    // `lipsync/audio-to-video` takes 2-10 s videos): a 2-60 s video's face
    // speaking 2-60 s of audio; as long as the video, priced per second of it.
    KindOffer {
        kind: VideoType::LipSync,
        surfaces: &[Surface::KlingLegacy, Surface::Fal],
        durations: 2..=60,
        price: PriceBasis::PerSecond,
        tiered: false,
        multiplier: 100,
    },
];

/// Kling bills a lip-sync per started 5 seconds of video, 0.5 units each (in hundredths).
pub const LIP_SYNC_UNIT_HUNDREDTHS_PER_5S: u64 = 50;

/// The kinds, not made by a model of the table, that come in 4K, and where: Kling 3.0 Omni's
/// edit on the standard API (`settings.resolution: 4k`; motion control has no 4K).
const FOUR_K_KINDS: &[(VideoType, Surface)] = &[(VideoType::OmniEdit, Surface::KlingStandard)];

/// The model that edits videos (Kling's standard name).
pub const OMNI_MODEL: &str = "kling-3.0-omni";

/// Kling's units per second for an Omni edit (a video input, no native sound), std (720p) and
/// pro (1080p), in hundredths.
pub const OMNI_EDIT_UNIT_HUNDREDTHS: [u64; 2] = [90, 120];

/// Motion control keeping the photo's orientation takes references up to 10 s.
pub const MAX_IMAGE_ORIENTED_SECONDS: u32 = 10;

/// The models Kling's motion control runs (`docs/providers.md` §Job kinds); the first is its
/// default.
pub const MOTION_MODELS: &[&str] = &["kling-v2-6", "kling-v3"];

/// How long a provider keeps a finished video that later jobs can name by its id: Kling 30
/// days (`docs/providers.md` §Job kinds); fal names none.
pub fn keeps_videos(provider: &str) -> Option<std::time::Duration> {
    (provider == "kling").then_some(std::time::Duration::from_secs(30 * 24 * 3600))
}

/// Input lengths one surface takes for a kind, where narrower than the kind's own: fal's O3
/// edit takes 3-10 s videos, its lip-sync 2-10 s (`docs/providers.md` §fal).
const SURFACE_LENGTHS: &[(VideoType, Surface, std::ops::RangeInclusive<u32>)] = &[
    (VideoType::OmniEdit, Surface::Fal, 3..=10),
    (VideoType::LipSync, Surface::Fal, 2..=10),
];

/// The lengths of input (whole seconds, rounded up) `surface` takes for a kind.
pub fn input_lengths(kind_asked: VideoType, surface: Surface) -> std::ops::RangeInclusive<u32> {
    SURFACE_LENGTHS
        .iter()
        .find(|(k, s, _)| *k == kind_asked && *s == surface)
        .map_or_else(|| kind(kind_asked).durations.clone(), |(.., r)| r.clone())
}

/// The rule for a job on an earlier video: the surface offers the kind, and the video's length
/// is one it (and that surface) takes.
pub fn check_on_video(
    kind_asked: VideoType,
    seconds: u32,
    orientation: Option<Orientation>,
    surface: Surface,
) -> Result<(), Refusal> {
    check_offered(kind_asked, surface)?;
    check_input_length(kind_asked, seconds, orientation)?;
    let takes = input_lengths(kind_asked, surface);
    if !takes.contains(&seconds) {
        let (lo, hi) = (takes.start(), takes.end());
        let msg = format!(
            "{} on {} takes {lo} to {hi}-second inputs, not {seconds}",
            kind_asked.as_str(),
            surface.label()
        );
        return Err(refuse(Feature::Duration, msg));
    }
    Ok(())
}

/// Whether `surface` offers the kind at all.
pub fn check_offered(kind_asked: VideoType, surface: Surface) -> Result<(), Refusal> {
    if kind(kind_asked).surfaces.contains(&surface) {
        return Ok(());
    }
    let msg = format!(
        "{} is not offered on {}",
        kind_asked.as_str(),
        surface.label()
    );
    Err(refuse(Feature::Kind, msg))
}

/// The length rule alone, whatever the surface: the kind's own range of input lengths, and at
/// most 10 s when a motion-control video keeps the photo's orientation.
pub fn check_input_length(
    kind_asked: VideoType,
    seconds: u32,
    orientation: Option<Orientation>,
) -> Result<(), Refusal> {
    let offer = kind(kind_asked);
    if orientation == Some(Orientation::Image) && seconds > MAX_IMAGE_ORIENTED_SECONDS {
        let msg = format!(
            "keeping the photo's orientation takes videos up to {MAX_IMAGE_ORIENTED_SECONDS} s, not {seconds}"
        );
        return Err(refuse(Feature::Duration, msg));
    }
    if !offer.durations.contains(&seconds) {
        let (lo, hi) = (offer.durations.start(), offer.durations.end());
        let msg = format!(
            "{} takes {lo} to {hi}-second inputs, not {seconds}",
            kind_asked.as_str()
        );
        return Err(refuse(Feature::Duration, msg));
    }
    Ok(())
}

/// The catalogue entry for a kind.
pub fn kind(kind: VideoType) -> &'static KindOffer {
    let i = match kind {
        VideoType::TextToVideo => 0,
        VideoType::ImageToVideo => 1,
        VideoType::Effect => 2,
        VideoType::VideoToAudio => 3,
        VideoType::MotionControl => 4,
        VideoType::Avatar => 5,
        VideoType::OmniEdit => 6,
        VideoType::LipSync => 7,
    };
    &KINDS[i]
}

/// How many photos an effect scene takes (1 or 2); `None` for a scene that is not current.
pub fn effect_photos(scene: &str) -> Option<usize> {
    match scene {
        s if DUAL_IMAGE_SCENES.contains(&s) => Some(2),
        s if SINGLE_IMAGE_SCENES.contains(&s) => Some(1),
        _ => None,
    }
}

/// What an effect asks for, whatever the surface's wire shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WantedEffect<'a> {
    pub scene: &'a str,
    pub duration: u32,
    /// How many photos the request gives (two-photo scenes take a left and a right one).
    pub photos: usize,
}

/// The rule for an effect: the surface offers effects, the scene is a current scene given the
/// number of photos it takes, and the length is one the scenes make.
pub fn check_effect(w: WantedEffect<'_>, surface: Surface) -> Result<(), Refusal> {
    let offer = kind(VideoType::Effect);
    if !offer.surfaces.contains(&surface) {
        let msg = format!("effects are not offered on {}", surface.label());
        return Err(refuse(Feature::Kind, msg));
    }
    let Some(takes) = effect_photos(w.scene) else {
        return Err(refuse(Feature::Scene, format!("unknown scene {}", w.scene)));
    };
    if w.photos != takes {
        let msg = format!("{} takes {takes} photo(s), not {}", w.scene, w.photos);
        return Err(refuse(Feature::Scene, msg));
    }
    if !offer.durations.contains(&w.duration) {
        let msg = format!(
            "effects make {}-second videos, not {}",
            offer.durations.start(),
            w.duration
        );
        return Err(refuse(Feature::Duration, msg));
    }
    Ok(())
}

// Here rather than beside the request: the catalogue reads requests, requests don't read it.
impl GenerationRequest {
    /// The length of the input a kind is made from (the voice's for an avatar, else the
    /// source video's), in whole seconds rounded up; 0 without one.
    /// The 4K rule: a request without 4K passes; with it, a model kind's model must make 4K on
    /// `surface`, and another kind must be one the catalogue makes in 4K there.
    pub fn check_four_k(&self, surface: Surface) -> Result<(), Refusal> {
        let offered = match self.kind.is_model_kind() {
            true => model(&self.model.model).is_some_and(|m| m.four_k.contains(&surface)),
            false => FOUR_K_KINDS.contains(&(self.kind, surface)),
        };
        if !self.four_k || offered {
            return Ok(());
        }
        let msg = format!(
            "4K is not offered for {} on {}",
            self.kind.as_str(),
            surface.label()
        );
        Err(refuse(Feature::Resolution, msg))
    }

    pub fn input_seconds(&self) -> u32 {
        let seconds = match self.kind {
            VideoType::Avatar => self.voice.as_ref().map(|v| v.duration_seconds),
            _ => self.source.as_ref().map(|s| s.duration_seconds),
        };
        seconds.map_or(0, |s| s.ceil() as u32)
    }

    /// What this request asks of its model, for the catalogue's rule.
    pub fn wanted(&self) -> Wanted<'_> {
        Wanted {
            kind: self.kind,
            model: &self.model.model,
            text_to_video: self.kind == VideoType::TextToVideo,
            mode: self.model.mode.as_str(),
            duration: self.duration_seconds,
            start_frame: self.image.is_some(),
            end_frame: self.image_tail.is_some(),
            audio: self.audio,
            shots: self.shots.iter().map(|s| s.duration_seconds).collect(),
            elements: self.elements.len(),
            camera_control: self.camera.is_some(),
            cfg_scale: self.cfg_scale.is_some(),
            motion_brush: false,
            four_k: self.four_k,
        }
    }
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
            (w("kling-v2-5-turbo", "std", 5), Surface::KlingLegacy, None),
            (w("kling-v1-6", "std", 5), Surface::KlingLegacy, Some(Model)),
            (w("kling-v2-1", "pro", 5), Surface::KlingLegacy, Some(Model)),
            (
                w("kling-3.0-turbo", "std", 5),
                Surface::KlingLegacy,
                Some(Model),
            ),
            (w("kling-3.0-turbo", "std", 7), Surface::KlingStandard, None),
            (w("kling-3.0", "pro", 15), Surface::KlingStandard, None),
            (
                w("kling-v2-6", "std", 12),
                Surface::KlingLegacy,
                Some(Duration),
            ),
            (w("kling-v3", "std", 12), Surface::KlingLegacy, None),
            (
                w("kling-v3", "std", 16),
                Surface::KlingLegacy,
                Some(Duration),
            ),
            (
                audio(w("kling-v2-5-turbo", "pro", 5)),
                Surface::KlingLegacy,
                Some(Audio),
            ),
            (
                audio(w("kling-v2-6", "std", 5)),
                Surface::KlingLegacy,
                Some(Audio),
            ),
            (audio(w("kling-v2-6", "pro", 5)), Surface::KlingLegacy, None),
            (
                audio(frames(w("kling-v2-6", "pro", 5))),
                Surface::KlingLegacy,
                Some(Audio),
            ),
            (
                audio(frames(w("kling-v3", "std", 8))),
                Surface::KlingLegacy,
                None,
            ),
            (
                frames(w("kling-v2-5-turbo", "std", 5)),
                Surface::KlingLegacy,
                Some(Combination),
            ),
            (
                frames(w("kling-3.0-turbo", "pro", 5)),
                Surface::KlingStandard,
                Some(Combination),
            ),
            (
                shots(w("kling-v3", "pro", 10), &[4, 6]),
                Surface::KlingLegacy,
                None,
            ),
            (
                shots(w("kling-v3", "pro", 10), &[4, 5]),
                Surface::KlingLegacy,
                Some(MultiShot),
            ),
            (
                shots(w("kling-v3", "pro", 7), &[1; 7]),
                Surface::KlingLegacy,
                Some(MultiShot),
            ),
            (
                shots(w("kling-v3", "pro", 5), &[5, 0]),
                Surface::KlingLegacy,
                Some(MultiShot),
            ),
            (
                shots(w("kling-v2-6", "pro", 10), &[5, 5]),
                Surface::KlingLegacy,
                Some(MultiShot),
            ),
            (
                elements(w("kling-v3", "std", 5), 3),
                Surface::KlingLegacy,
                None,
            ),
            (
                elements(w("kling-v3", "std", 5), 4),
                Surface::KlingLegacy,
                Some(Elements),
            ),
            (
                elements(w("kling-3.0-turbo", "std", 5), 1),
                Surface::KlingStandard,
                Some(Elements),
            ),
        ];
        for (wanted, surface, want) in cases {
            let got = match check(&wanted, surface) {
                Ok(_) => None,
                Err(Refusal::Unsupported(f, _)) => Some(f),
                Err(e) => panic!("{wanted:?}: {e}"),
            };
            assert_eq!(got, want, "{wanted:?} on {surface:?}");
        }
        let mut camera = w("kling-v3", "std", 5);
        camera.camera_control = true;
        assert!(matches!(
            check(&camera, Surface::KlingLegacy),
            Err(Refusal::Unsupported(CameraControl, _))
        ));
        assert!(matches!(
            check(&w("kling-v3", "ultra", 5), Surface::KlingLegacy),
            Err(Refusal::Invalid(_))
        ));
    }

    #[test]
    fn every_kind_is_in_the_catalogue() {
        for k in VideoType::ALL {
            assert_eq!(kind(k).kind, k);
        }
        assert_eq!(KINDS.len(), 8);
    }

    #[test]
    fn sound_for_a_video_takes_3_to_20_seconds_on_klings_legacy_api_and_fal() {
        use Feature::*;
        let v2a = VideoType::VideoToAudio;
        let cases = [
            (5, Surface::KlingLegacy, None),
            (3, Surface::KlingLegacy, None),
            (20, Surface::KlingLegacy, None),
            (2, Surface::KlingLegacy, Some(Duration)),
            (21, Surface::KlingLegacy, Some(Duration)),
            (5, Surface::KlingStandard, Some(Kind)),
            (20, Surface::Fal, None),
            (21, Surface::Fal, Some(Duration)),
        ];
        for (secs, surface, want) in cases {
            let got = check_on_video(v2a, secs, None, surface)
                .err()
                .map(|e| match e {
                    Refusal::Unsupported(f, _) => f,
                    Refusal::Invalid(m) => panic!("{m}"),
                });
            assert_eq!(got, want, "{secs} s on {surface:?}");
        }
        assert!(keeps_videos("kling").is_some() && keeps_videos("fal").is_none());
    }

    #[test]
    fn an_omni_edit_takes_3_to_15_second_videos_on_klings_standard_api_and_3_to_10_on_fal() {
        use Feature::*;
        let cases = [
            (3, Surface::KlingStandard, None),
            (15, Surface::KlingStandard, None),
            (2, Surface::KlingStandard, Some(Duration)),
            (16, Surface::KlingStandard, Some(Duration)),
            (5, Surface::KlingLegacy, Some(Kind)),
            (3, Surface::Fal, None),
            (10, Surface::Fal, None),
            (11, Surface::Fal, Some(Duration)),
            (2, Surface::Fal, Some(Duration)),
        ];
        for (secs, surface, want) in cases {
            let got = check_on_video(VideoType::OmniEdit, secs, None, surface)
                .err()
                .map(|e| match e {
                    Refusal::Unsupported(f, _) => f,
                    Refusal::Invalid(m) => panic!("{m}"),
                });
            assert_eq!(got, want, "{secs} s on {surface:?}");
        }
    }

    #[test]
    fn motion_control_takes_3_to_30_second_references_and_10_keeping_the_photos_orientation_everywhere()
     {
        use Feature::*;
        let (image, video) = (Some(Orientation::Image), Some(Orientation::Video));
        let cases = [
            (10, image, Surface::KlingLegacy, None),
            (11, image, Surface::KlingLegacy, Some(Duration)),
            (30, video, Surface::KlingLegacy, None),
            (31, video, Surface::KlingLegacy, Some(Duration)),
            (2, video, Surface::KlingLegacy, Some(Duration)),
            (30, video, Surface::Fal, None),
            (11, image, Surface::Fal, Some(Duration)),
            (31, video, Surface::KlingStandard, Some(Duration)),
        ];
        let lip_sync = |secs, surface| check_on_video(VideoType::LipSync, secs, None, surface);
        assert!(
            lip_sync(2, Surface::KlingLegacy).is_ok() && lip_sync(60, Surface::KlingLegacy).is_ok()
        );
        assert!(
            lip_sync(1, Surface::KlingLegacy).is_err()
                && lip_sync(61, Surface::KlingLegacy).is_err()
        );
        assert!(
            lip_sync(5, Surface::KlingStandard).is_err(),
            "not on the standard API"
        );
        assert!(
            lip_sync(10, Surface::Fal).is_ok() && lip_sync(11, Surface::Fal).is_err(),
            "fal's lip-sync takes 2-10 s videos"
        );
        let avatar = |secs| check_on_video(VideoType::Avatar, secs, None, Surface::KlingLegacy);
        assert!(avatar(2).is_ok() && avatar(300).is_ok());
        assert!(
            avatar(1).is_err() && avatar(301).is_err(),
            "2 to 300 s of audio"
        );
        for (secs, orientation, surface, want) in cases {
            let got = check_on_video(VideoType::MotionControl, secs, orientation, surface)
                .err()
                .map(|e| match e {
                    Refusal::Unsupported(f, _) => f,
                    Refusal::Invalid(m) => panic!("{m}"),
                });
            assert_eq!(got, want, "{secs} s {orientation:?} on {surface:?}");
        }
    }

    #[test]
    fn effects_are_offered_where_the_catalogue_says_and_only_their_scenes() {
        let e = |scene, duration| WantedEffect {
            scene,
            duration,
            photos: 1 + usize::from(DUAL_IMAGE_SCENES.contains(&scene)),
        };
        let with = |scene, photos| WantedEffect {
            scene,
            duration: 5,
            photos,
        };
        use Feature::*;
        let cases = [
            (e("pet_lion_pro", 5), Surface::KlingLegacy, None),
            (e("hug_pro", 5), Surface::KlingLegacy, None),
            (with("hug_pro", 1), Surface::KlingLegacy, Some(Scene)),
            (with("pet_lion_pro", 2), Surface::KlingLegacy, Some(Scene)),
            (e("3d_cartoon_2", 5), Surface::KlingLegacy, None),
            (e("pet_lion_pro", 5), Surface::KlingStandard, Some(Kind)),
            (e("pet_lion_pro", 5), Surface::Fal, Some(Kind)),
            (e("magic_match_tree", 5), Surface::KlingLegacy, Some(Scene)),
            (e("bloombloom", 5), Surface::KlingLegacy, Some(Scene)),
            (e("pet_lion_pro", 10), Surface::KlingLegacy, Some(Duration)),
        ];
        for (wanted, surface, want) in cases {
            let got = match check_effect(wanted, surface) {
                Ok(()) => None,
                Err(Refusal::Unsupported(f, _)) => Some(f),
                Err(other) => panic!("{wanted:?}: {other}"),
            };
            assert_eq!(got, want, "{wanted:?} on {surface:?}");
        }
        let effect = Wanted {
            kind: VideoType::Effect,
            ..w("kling-v3", "std", 5)
        };
        assert!(matches!(
            check(&effect, Surface::KlingLegacy),
            Err(Refusal::Unsupported(Kind, _))
        ));
        assert_eq!(SINGLE_IMAGE_SCENES.len(), 203);
        assert_eq!(DUAL_IMAGE_SCENES.len(), 15);
    }

    #[test]
    fn four_k_is_kling_3_on_the_standard_api_only() {
        let cases = [
            ("kling-v3", Surface::KlingStandard, None),
            ("kling-v3", Surface::KlingLegacy, Some(Feature::Resolution)),
            ("kling-v3", Surface::Fal, Some(Feature::Resolution)),
            (
                "kling-3.0-turbo",
                Surface::KlingStandard,
                Some(Feature::Resolution),
            ),
            (
                "kling-v2-6",
                Surface::KlingStandard,
                Some(Feature::Resolution),
            ),
            (
                "kling-v2-5-turbo",
                Surface::KlingStandard,
                Some(Feature::Resolution),
            ),
        ];
        for (model, surface, want) in cases {
            let wanted = Wanted {
                four_k: true,
                ..w(model, "pro", 5)
            };
            let got = match check(&wanted, surface) {
                Ok(_) => None,
                Err(Refusal::Unsupported(f, _)) => Some(f),
                Err(other) => panic!("{model}: {other}"),
            };
            assert_eq!(got, want, "{model} on {surface:?}");
        }
    }

    #[test]
    fn expected_units_follow_the_price_list() {
        let v3 = model("kling-v3").map(|m| m.expected_unit_hundredths("pro", 10, true));
        assert_eq!(v3, Some(1200));
        let turbo = model("kling-v2-5-turbo").map(|m| m.expected_unit_hundredths("std", 5, false));
        assert_eq!(turbo, Some(150));
        assert_eq!(
            model("kling-3.0").map(|m| m.kling_legacy),
            Some(Some("kling-v3"))
        );
    }
}
