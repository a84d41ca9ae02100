//! The provider adapters a deployment can use, built from configuration. Functions wire what
//! this module builds and never name a provider's own types; a new provider surface adds an
//! adapter and its settings here.
//!
//! `PROVIDER` picks the provider tasks are submitted to: `kling` (default; Kling's own API,
//! legacy or standard by `KLING_API_STYLE`) or `fal` (Kling's models on fal.ai's queue).

use crate::config::{ConfigError, Source};
use crate::deadline::Deadline;
use crate::fal::{FalConfig, FalProvider};
use crate::kling::{KlingConfig, KlingProvider};
use crate::provider::{
    CallbackError, CallbackHint, CallbackReader, CancelOutcome, GenerationRequest, JobLookup,
    ModelChoice, ProviderError, ProviderJob, VideoProvider,
};
use crate::task::Quality;

/// The provider this deployment submits to.
pub enum ConfiguredProvider {
    Kling(Box<KlingProvider>),
    Fal(Box<FalProvider>),
}

/// Everything the provider adapters read from the environment at cold start.
pub struct ProviderSettings {
    pub kling: Option<KlingConfig>,
    pub fal: Option<FalConfig>,
}

impl ProviderSettings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        match src.optional("PROVIDER").as_deref().unwrap_or("kling") {
            "kling" => Ok(Self {
                kling: Some(KlingConfig::from_source(src)?),
                fal: None,
            }),
            "fal" => Ok(Self {
                kling: None,
                fal: Some(FalConfig::from_source(src)?),
            }),
            other => Err(ConfigError::Invalid {
                name: "PROVIDER",
                reason: format!("'{other}' is not one of kling, fal"),
            }),
        }
    }

    pub fn provider(&self) -> Result<ConfiguredProvider, ProviderError> {
        let auth = |reason: String| ProviderError::Auth { reason };
        match (&self.kling, &self.fal) {
            (Some(k), _) => KlingProvider::new(k)
                .map(|p| ConfiguredProvider::Kling(Box::new(p)))
                .map_err(|e| auth(e.to_string())),
            (None, Some(f)) => FalProvider::new(f)
                .map(|p| ConfiguredProvider::Fal(Box::new(p)))
                .map_err(|e| auth(e.to_string())),
            (None, None) => Err(auth("no provider configured".into())),
        }
    }
}

/// Reads the callbacks of every provider this code knows, by the provider in the URL.
pub struct ConfiguredCallbacks;

impl CallbackReader for ConfiguredCallbacks {
    fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError> {
        match provider {
            crate::kling::adapter::NAME => crate::kling::adapter::parse_callback(body),
            crate::fal::NAME => crate::fal::parse_callback(body),
            other => Err(CallbackError::UnknownProvider(other.to_string())),
        }
    }
}

pub fn callbacks() -> ConfiguredCallbacks {
    ConfiguredCallbacks
}

macro_rules! each {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            ConfiguredProvider::Kling($p) => $e,
            ConfiguredProvider::Fal($p) => $e,
        }
    };
}

impl VideoProvider for ConfiguredProvider {
    fn name(&self) -> &'static str {
        each!(self, p => p.name())
    }

    fn choose_model(&self, quality: Quality, model_override: Option<&str>) -> ModelChoice {
        each!(self, p => p.choose_model(quality, model_override))
    }

    fn check(&self, request: &GenerationRequest) -> Result<(), ProviderError> {
        each!(self, p => p.check(request))
    }

    fn expected_units(&self, request: &GenerationRequest) -> Option<f64> {
        each!(self, p => p.expected_units(request))
    }

    async fn submit(
        &self,
        request: &GenerationRequest,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        each!(self, p => p.submit(request, deadline).await)
    }

    async fn lookup(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        each!(self, p => p.lookup(job, deadline).await)
    }

    async fn cancel(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<CancelOutcome, ProviderError> {
        each!(self, p => p.cancel(job, deadline).await)
    }

    async fn lookup_many(
        &self,
        jobs: &[JobLookup<'_>],
        deadline: Deadline,
    ) -> Vec<Result<ProviderJob, ProviderError>> {
        each!(self, p => p.lookup_many(jobs, deadline).await)
    }
}
