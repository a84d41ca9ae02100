//! The provider port in our own terms. Handlers speak of a generation request, a provider job
//! and an error that says what to do next; each provider surface (Kling's `/v1` API, Kling's
//! standard API, fal.ai's queue) is one adapter that maps these to its wire types.

pub mod composite;
pub mod fal;
pub mod kling;
pub mod presets;

use std::future::Future;

pub use crate::domain::catalogue::Feature;
pub use crate::domain::generation::{
    CameraAxes, CameraKind, CameraMotion, GenerationRequest, JobStatus, ModelChoice, ProviderJob,
    ProviderRef, Shot, SourceVideo,
};
use crate::domain::task::{Quality, VideoType};
pub use crate::runtime::deadline::{Deadline, deadline_from_epoch_ms};

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
    /// Nothing was created: the account cannot take work (in arrears, its resource pack
    /// exhausted, suspended) until someone tops it up; another account may.
    #[error("the provider account cannot take work: {reason}")]
    AccountUnusable { reason: String },
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
            ProviderError::AccountUnusable { .. } => "account_unusable",
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
    /// What was submitted, and when the submit was claimed: a provider with no lookup by our
    /// id (fal) looks for a submit whose answer was lost by these.
    pub request: Option<&'a GenerationRequest>,
    pub submitted_at: Option<crate::domain::timestamp::Timestamp>,
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

/// A provider account's bill (`docs/providers.md` §Bills).
pub trait Bills: Send + Sync {
    /// The deductions for jobs `account` of `provider` created on `day`; `None` when that
    /// provider gives no bill by job.
    fn bill(
        &self,
        provider: &str,
        account: &str,
        day: crate::domain::bill::Day,
        deadline: Deadline,
    ) -> impl Future<Output = Result<Option<Vec<crate::domain::bill::BillRow>>, ProviderError>> + Send;
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
