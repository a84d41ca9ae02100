//! The provider adapters a deployment can use, built from configuration. Functions wire what
//! this module builds and never name a provider's own types; a new provider surface adds an
//! adapter and its settings here.
//!
//! `PROVIDER` picks the provider tasks are submitted to: `kling` (default; Kling's own API,
//! legacy or standard by `KLING_API_STYLE`) or `fal` (Kling's models on fal.ai's queue);
//! `PROVIDER=kling,fal` configures several in failover order.

use crate::domain::task::Quality;
use crate::provider::fal::{FalConfig, FalProvider};
use crate::provider::kling::{KlingConfig, KlingProvider};
use crate::provider::{
    CallbackError, CallbackHint, CallbackReader, CancelOutcome, GenerationRequest, JobLookup,
    ModelChoice, ProviderError, ProviderJob, VideoProvider,
};
use crate::runtime::config::{ConfigError, Source};
use crate::runtime::deadline::Deadline;

/// One provider adapter.
pub enum Member {
    Kling(Box<KlingProvider>),
    Fal(Box<FalProvider>),
}

/// The providers this deployment submits to, in failover order (most deployments: one). Each
/// task names its provider (chosen once, before any submit); calls about it go there.
pub struct ConfiguredProvider {
    members: Vec<Member>,
}

/// Everything the provider adapters read from the environment at cold start.
pub struct ProviderSettings {
    /// `PROVIDER`: one provider, or several in failover order (`kling,fal`); default `kling`.
    pub order: Vec<String>,
    pub kling: Option<KlingConfig>,
    pub fal: Option<FalConfig>,
}

impl ProviderSettings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let raw = src.optional("PROVIDER").unwrap_or_else(|| "kling".into());
        let order: Vec<String> = raw
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(other) = order
            .iter()
            .find(|p| !matches!(p.as_str(), "kling" | "fal"))
        {
            return Err(ConfigError::Invalid {
                name: "PROVIDER",
                reason: format!("'{other}' is not one of kling, fal"),
            });
        }
        let uses = |name: &str| order.iter().any(|p| p == name);
        Ok(Self {
            kling: uses("kling")
                .then(|| KlingConfig::from_source(src))
                .transpose()?,
            fal: uses("fal")
                .then(|| FalConfig::from_source(src))
                .transpose()?,
            order,
        })
    }

    pub fn provider(&self) -> Result<ConfiguredProvider, ProviderError> {
        let auth = |reason: String| ProviderError::Auth { reason };
        let mut members = Vec::new();
        for name in &self.order {
            let member = match (name.as_str(), &self.kling, &self.fal) {
                ("kling", Some(k), _) => KlingProvider::new(k)
                    .map(|p| Member::Kling(Box::new(p)))
                    .map_err(|e| auth(e.to_string()))?,
                ("fal", _, Some(f)) => FalProvider::new(f)
                    .map(|p| Member::Fal(Box::new(p)))
                    .map_err(|e| auth(e.to_string()))?,
                _ => return Err(auth(format!("{name} is not configured"))),
            };
            members.push(member);
        }
        if members.is_empty() {
            return Err(auth("no provider configured".into()));
        }
        Ok(ConfiguredProvider { members })
    }
}

/// Reads the callbacks of every provider this code knows, by the provider in the URL.
pub struct ConfiguredCallbacks;

impl CallbackReader for ConfiguredCallbacks {
    fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError> {
        match provider {
            crate::provider::kling::adapter::NAME => {
                crate::provider::kling::adapter::parse_callback(body)
            }
            crate::provider::fal::NAME => crate::provider::fal::parse_callback(body),
            other => Err(CallbackError::UnknownProvider(other.to_string())),
        }
    }
}

pub fn callbacks() -> ConfiguredCallbacks {
    ConfiguredCallbacks
}

macro_rules! each {
    ($member:expr, $p:ident => $e:expr) => {
        match $member {
            Member::Kling($p) => $e,
            Member::Fal($p) => $e,
        }
    };
}

impl Member {
    fn name(&self) -> &'static str {
        each!(self, p => p.name())
    }
}

impl ConfiguredProvider {
    /// The member called `name` (empty or unknown: the first, as tasks made before failover).
    fn member(&self, name: &str) -> &Member {
        let found = self.members.iter().find(|m| m.name() == name);
        found.unwrap_or_else(|| &self.members[0])
    }
}

impl VideoProvider for ConfiguredProvider {
    fn name(&self) -> &'static str {
        self.members[0].name()
    }

    fn names(&self) -> Vec<&'static str> {
        self.members.iter().map(Member::name).collect()
    }

    fn choose_model(&self, quality: Quality, model_override: Option<&str>) -> ModelChoice {
        each!(&self.members[0], p => p.choose_model(quality, model_override))
    }

    fn check(&self, request: &GenerationRequest) -> Result<(), ProviderError> {
        each!(self.member(&request.provider), p => p.check(request))
    }

    fn expected_units(&self, request: &GenerationRequest) -> Option<f64> {
        each!(self.member(&request.provider), p => p.expected_units(request))
    }

    async fn submit(
        &self,
        request: &GenerationRequest,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        each!(self.member(&request.provider), p => p.submit(request, deadline).await)
    }

    async fn lookup(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        each!(self.member(job.provider), p => p.lookup(job, deadline).await)
    }

    async fn cancel(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<CancelOutcome, ProviderError> {
        each!(self.member(job.provider), p => p.cancel(job, deadline).await)
    }

    /// Each member asked about its own jobs, in one batch per member.
    async fn lookup_many(
        &self,
        jobs: &[JobLookup<'_>],
        deadline: Deadline,
    ) -> Vec<Result<ProviderJob, ProviderError>> {
        let mut out: Vec<Result<ProviderJob, ProviderError>> =
            jobs.iter().map(|_| Err(ProviderError::NotFound)).collect();
        for member in &self.members {
            let mine: Vec<usize> = (0..jobs.len())
                .filter(|i| std::ptr::eq(self.member(jobs[*i].provider), member))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let batch: Vec<JobLookup<'_>> = mine.iter().map(|i| jobs[*i]).collect();
            let answers = each!(member, p => p.lookup_many(&batch, deadline).await);
            for (i, answer) in mine.into_iter().zip(answers) {
                out[i] = answer;
            }
        }
        out
    }
}
