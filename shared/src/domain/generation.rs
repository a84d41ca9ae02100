//! What is to be generated and what a provider holds, in our own terms: the request kept on a
//! waiting task (so dispatch submits exactly what was priced), the provider's reference to a job
//! and the job as a provider reports it.

use serde::{Deserialize, Serialize};

/// What kind of video a task makes (the API's `type`). Which provider surfaces offer each kind
/// is catalogue data (`catalogue::KINDS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoType {
    #[default]
    TextToVideo,
    ImageToVideo,
    /// One photo animated into one of the provider's effect scenes.
    Effect,
    /// Sound (effects, music) made for one of the caller's earlier videos.
    VideoToAudio,
    /// A character photo moved as the person in a reference video moves.
    MotionControl,
    /// One photo speaking an audio track (a talking head), as long as the audio.
    Avatar,
    /// One of the caller's videos changed as a prompt says (Kling 3.0 Omni's base video), as
    /// long as the video.
    OmniEdit,
    /// One of the caller's videos with its face's lips moved to an uploaded audio, as long as
    /// the video.
    LipSync,
}

impl VideoType {
    pub const ALL: [VideoType; 8] = [
        VideoType::TextToVideo,
        VideoType::ImageToVideo,
        VideoType::Effect,
        VideoType::VideoToAudio,
        VideoType::MotionControl,
        VideoType::Avatar,
        VideoType::OmniEdit,
        VideoType::LipSync,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VideoType::TextToVideo => "text_to_video",
            VideoType::ImageToVideo => "image_to_video",
            VideoType::Effect => "effect",
            VideoType::VideoToAudio => "video_to_audio",
            VideoType::MotionControl => "motion_control",
            VideoType::Avatar => "avatar",
            VideoType::OmniEdit => "omni_edit",
            VideoType::LipSync => "lip_sync",
        }
    }

    /// Made by a model from the catalogue's model list (prompt or frames → clip); the other
    /// kinds are products of their own.
    pub fn is_model_kind(self) -> bool {
        matches!(self, VideoType::TextToVideo | VideoType::ImageToVideo)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AspectRatio {
    #[serde(rename = "16:9")]
    Landscape,
    #[serde(rename = "9:16")]
    Portrait,
    #[serde(rename = "1:1")]
    Square,
}

impl AspectRatio {
    pub fn as_str(self) -> &'static str {
        match self {
            AspectRatio::Landscape => "16:9",
            AspectRatio::Portrait => "9:16",
            AspectRatio::Square => "1:1",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Draft,
    Standard,
    Pro,
}

/// The provider's price tier a task runs at (Kling's `std`/`pro`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Std,
    Pro,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Std => "std",
            Mode::Pro => "pro",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider's own reference for a job (Kling: its task id). Opaque to everyone else.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProviderRef(pub String);

impl ProviderRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProviderRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A camera move, in the shape the API accepts (`camera_control`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraKind {
    Simple,
    DownBack,
    ForwardUp,
    RightTurnForward,
    LeftTurnForward,
}

/// Axis amounts for a `Simple` move, each in [-10, 10].
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraAxes {
    #[serde(default)]
    pub horizontal: f32,
    #[serde(default)]
    pub vertical: f32,
    #[serde(default)]
    pub pan: f32,
    #[serde(default)]
    pub tilt: f32,
    #[serde(default)]
    pub roll: f32,
    #[serde(default)]
    pub zoom: f32,
}

impl CameraAxes {
    pub fn values(&self) -> [f32; 6] {
        [
            self.horizontal,
            self.vertical,
            self.pan,
            self.tilt,
            self.roll,
            self.zoom,
        ]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CameraMotion {
    pub kind: CameraKind,
    pub axes: Option<CameraAxes>,
}

/// One shot of a multi-shot video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shot {
    pub prompt: String,
    pub duration_seconds: u32,
}

/// The model a quality tier (or an allowed override) resolves to, and its price tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelChoice {
    pub model: String,
    pub mode: Mode,
}

/// What the app asked for, after validation, preset resolution and image resolution.
/// Kept on the task while it waits, so the dispatcher submits exactly what was priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    /// Our task id; providers keep it as their external id, so a lost answer can be looked up.
    pub task_id: String,
    pub kind: VideoType,
    pub prompt: Option<String>,
    pub negative_prompt: Option<String>,
    pub duration_seconds: u32,
    pub aspect_ratio: Option<AspectRatio>,
    pub quality: Quality,
    pub model: ModelChoice,
    pub cfg_scale: Option<f32>,
    /// URLs the provider can fetch.
    pub image: Option<String>,
    pub image_tail: Option<String>,
    pub camera: Option<CameraMotion>,
    pub audio: bool,
    pub shots: Vec<Shot>,
    pub seed: Option<u64>,
    /// Reference elements (characters, objects) by the provider's element id.
    pub elements: Vec<String>,
    /// The effect scene, for an `Effect` (the provider's scene name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    /// The earlier video a kind works on (`VideoToAudio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceVideo>,
    /// Music to add, for `VideoToAudio` (`prompt` is the sound effects).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub music_prompt: Option<String>,
    /// The audio an `Avatar` speaks, or a `LipSync` video's lips follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<AudioInput>,
    /// Whose orientation a `MotionControl` video keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orientation: Option<Orientation>,
    /// 4K output instead of the mode's 720p/1080p, where the model and surface offer it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub four_k: bool,
    pub callback_url: Option<String>,
    /// The provider chosen for the task (empty: the deployment's first), recorded before any
    /// submit; its `callback_url` is the one minted for it.
    #[serde(default)]
    pub provider: String,
    /// The callback URL minted for each configured provider, for a failover before submit.
    #[serde(default)]
    pub callbacks: std::collections::BTreeMap<String, String>,
    /// The provider account it is submitted on (empty: the provider's `main`), recorded with
    /// the submit claim; its lookups and cancels go to the same account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub account: String,
}

impl GenerationRequest {
    /// A five-second request of this kind and model with nothing else in it: what a provider
    /// routes by (its endpoint, its model name), for listing them and for tests.
    pub fn of_shape(kind: VideoType, model: ModelChoice) -> Self {
        Self {
            task_id: String::new(),
            kind,
            prompt: None,
            negative_prompt: None,
            duration_seconds: 5,
            aspect_ratio: None,
            quality: Quality::Standard,
            model,
            cfg_scale: None,
            image: None,
            image_tail: None,
            camera: None,
            audio: false,
            shots: Vec::new(),
            seed: None,
            elements: Vec::new(),
            scene: None,
            source: None,
            music_prompt: None,
            voice: None,
            orientation: None,
            four_k: false,
            callback_url: None,
            provider: String::new(),
            callbacks: Default::default(),
            account: String::new(),
        }
    }
}

/// Whose orientation a motion-control video keeps: the photo's (reference up to 10 s) or the
/// reference video's (up to 30 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    Image,
    Video,
}

impl Orientation {
    pub fn as_str(self) -> &'static str {
        match self {
            Orientation::Image => "image",
            Orientation::Video => "video",
        }
    }
}

/// An input audio track as a provider takes it: a URL of the uploaded file and its length, read
/// from the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioInput {
    pub url: String,
    pub duration_seconds: f64,
}

/// An input video as a provider takes it: by the provider's own id while it keeps the video,
/// else by a URL of our stored copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceVideo {
    /// Our task that made it (none for an uploaded video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The provider that made it (its id means nothing to another).
    pub made_by: String,
    /// The provider's id for it, while the provider that made it keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_video_id: Option<String>,
    /// A URL of our stored copy, when the provider cannot name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Its length, read from the stored file.
    pub duration_seconds: f64,
}

/// A job's state, normalised over providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// A status this adapter does not know; never acted on.
    Unknown,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Unknown => "unknown",
        }
    }
}

/// A job as the provider reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderJob {
    pub reference: ProviderRef,
    /// What else the provider returned to reach this job later (fal: its status, result and
    /// cancel URLs), opaque to everyone but the adapter; kept on the task.
    pub handle: Option<String>,
    pub status: JobStatus,
    pub video_url: Option<String>,
    /// The provider's id for the video, for later jobs that name it (Kling's `videos[].id`).
    pub video_id: Option<String>,
    pub video_duration_seconds: Option<f64>,
    /// Units the provider billed, as it reports them.
    pub billed_units: Option<String>,
    /// The provider's id for the request that answered (for its support).
    pub request_id: Option<String>,
    /// Why it failed, as the provider said it.
    pub failure: Option<String>,
}
