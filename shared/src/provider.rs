//! The provider port in our own terms. Handlers speak of a generation request, a provider job
//! and an error that says what to do next; each provider surface (Kling's `/v1` API today) is
//! one adapter that maps these to its wire types.

use std::future::Future;

use serde::{Deserialize, Serialize};

pub use crate::deadline::{Deadline, deadline_from_epoch_ms};
use crate::task::{AspectRatio, Mode, Quality, VideoType};

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
    pub callback_url: Option<String>,
    /// The provider chosen for the task (empty: the deployment's first), recorded before any
    /// submit; its `callback_url` is the one minted for it.
    #[serde(default)]
    pub provider: String,
    /// The callback URL minted for each configured provider, for a failover before submit.
    #[serde(default)]
    pub callbacks: std::collections::BTreeMap<String, String>,
}

impl GenerationRequest {
    /// The request for a validated spec and its model, before images and callbacks are
    /// resolved (no image, no callback URL, provider not yet chosen).
    pub fn for_spec(
        spec: &crate::validation::VideoSpec,
        model: ModelChoice,
        task_id: &str,
    ) -> Self {
        Self {
            task_id: task_id.to_string(),
            kind: spec.video_type,
            prompt: spec.prompt.clone(),
            negative_prompt: Some(spec.negative_prompt.clone()),
            duration_seconds: spec.duration,
            aspect_ratio: spec.aspect_ratio,
            quality: spec.quality,
            model,
            cfg_scale: spec.cfg_scale,
            image: None,
            image_tail: None,
            camera: spec.camera_control,
            audio: spec.audio,
            shots: spec.shots.clone(),
            seed: spec.seed,
            elements: spec.element_ids.clone(),
            callback_url: None,
            provider: String::new(),
            callbacks: Default::default(),
        }
    }
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
    pub video_duration_seconds: Option<f64>,
    /// Units the provider billed, as it reports them.
    pub billed_units: Option<String>,
    /// The provider's id for the request that answered (for its support).
    pub request_id: Option<String>,
    /// Why it failed, as the provider said it.
    pub failure: Option<String>,
}

/// What a capability refusal is about, so the API can name it with its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
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
}

/// What a failed provider call means for the caller.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// Nothing was created and trying again will not help.
    #[error("refused by the provider: {reason}")]
    NotCreated { reason: String },
    /// Nothing was created; try again after the delay (busy, rate-limited).
    #[error("the provider is busy: {reason}")]
    Busy {
        reason: String,
        retry_after: std::time::Duration,
    },
    /// The provider refused the content.
    #[error("the provider refused the content: {reason}")]
    ContentRefused { reason: String },
    /// The job may exist (a timeout, a lost answer): look it up; never refund on this.
    #[error("outcome unknown: {reason}")]
    OutcomeUnknown { reason: String },
    /// The provider does not know this job.
    #[error("the provider does not know this job")]
    NotFound,
    /// Our credentials or configuration are wrong.
    #[error("provider authentication or configuration: {reason}")]
    Auth { reason: String },
    /// Refused before any request: the provider does not support this combination.
    #[error("not supported by the provider: {reason}")]
    Unsupported { feature: Feature, reason: String },
}

impl ProviderError {
    /// Worth trying again later (the provider may accept, or the job may turn up).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ProviderError::Busy { .. } | ProviderError::OutcomeUnknown { .. }
        )
    }

    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ProviderError::NotCreated { .. } => "not_created",
            ProviderError::Busy { .. } => "busy",
            ProviderError::ContentRefused { .. } => "content_refused",
            ProviderError::OutcomeUnknown { .. } => "outcome_unknown",
            ProviderError::NotFound => "not_found",
            ProviderError::Auth { .. } => "auth",
            ProviderError::Unsupported { .. } => "unsupported",
        }
    }
}

/// What a provider said to a cancel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job is dropped: nothing will be made or billed.
    Canceled,
    /// Too late: the job is running or done, and goes on.
    AlreadyStarted,
    /// The provider has no way to cancel.
    NotOffered,
}

/// Which job to look up: the provider's reference once we have it, else our task id.
#[derive(Debug, Clone, Copy)]
pub struct JobLookup<'a> {
    /// The provider that holds the job (empty: the deployment's first).
    pub provider: &'a str,
    pub kind: VideoType,
    pub reference: Option<&'a ProviderRef>,
    /// The job's handle, when the provider gave one.
    pub handle: Option<&'a str>,
    pub task_id: &'a str,
}

pub trait VideoProvider: Send + Sync {
    /// The name in callback URLs and on tasks (e.g. `kling`).
    fn name(&self) -> &'static str;

    /// The model and price tier for a quality (or an override the plan allowed).
    fn choose_model(&self, quality: Quality, model_override: Option<&str>) -> ModelChoice;

    /// Every provider behind this one, in failover order.
    fn names(&self) -> Vec<&'static str> {
        vec![self.name()]
    }

    /// The provider's capability map, before any money moves (no I/O).
    fn check(&self, request: &GenerationRequest) -> Result<(), ProviderError>;

    /// What the provider should bill for this request, in its own units (its price list).
    fn expected_units(&self, _request: &GenerationRequest) -> Option<f64> {
        None
    }

    fn submit(
        &self,
        request: &GenerationRequest,
        deadline: Deadline,
    ) -> impl Future<Output = Result<ProviderJob, ProviderError>> + Send;

    fn lookup(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> impl Future<Output = Result<ProviderJob, ProviderError>> + Send;

    /// Ask the provider to drop a job it has not started.
    fn cancel(
        &self,
        _job: JobLookup<'_>,
        _deadline: Deadline,
    ) -> impl Future<Output = Result<CancelOutcome, ProviderError>> + Send {
        async { Ok(CancelOutcome::NotOffered) }
    }

    /// Several jobs, answered in order (reconcile's sweep). One lookup each unless the
    /// provider can ask about many at once.
    fn lookup_many(
        &self,
        jobs: &[JobLookup<'_>],
        deadline: Deadline,
    ) -> impl Future<Output = Vec<Result<ProviderJob, ProviderError>>> + Send {
        async move {
            let mut out = Vec::with_capacity(jobs.len());
            for job in jobs {
                out.push(self.lookup(*job, deadline).await);
            }
            out
        }
    }
}

/// What a callback claims. A hint only: it never decides money on its own.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackHint {
    pub reference: ProviderRef,
    /// Our task id, when the provider echoes it.
    pub task_id: Option<String>,
    pub status: JobStatus,
    pub failure: Option<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallbackError {
    #[error("no provider named {0}")]
    UnknownProvider(String),
    #[error("{0}")]
    Malformed(String),
}

/// Reads a provider's callback bodies (pure: no I/O).
pub trait CallbackReader: Send + Sync {
    fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError>;
}
