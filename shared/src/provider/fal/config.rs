use std::time::Duration;

use crate::domain::catalogue::Surface;
use crate::provider::presets::{Preset, presets};
use crate::runtime::config::{ConfigError, Source};

pub const DEFAULT_QUEUE_URL: &str = "https://queue.fal.run";
/// fal's Platform APIs (request listings), `docs/providers.md` §fal.
pub const DEFAULT_API_URL: &str = "https://api.fal.ai";
/// fal's documented key set; some clients use `rest.fal.ai`, so it is configuration.
pub const DEFAULT_JWKS_URL: &str = "https://rest.alpha.fal.ai/.well-known/jwks.json";

#[derive(Clone)]
pub struct FalConfig {
    pub queue_url: String,
    /// fal's Platform APIs origin (`FAL_API_URL`): where a submit whose answer was lost is
    /// looked for among the requests fal finished.
    pub api_url: String,
    /// Sent with each submit (`X-Fal-Request-Timeout`): a request fal has not started by
    /// then ends with an error, so every request fal took has ended by `start_timeout +
    /// run_bound` and shows in its listing.
    pub start_timeout: Duration,
    /// How long a started Kling generation on fal runs at most (`FAL_RUN_BOUND_SECONDS`).
    pub run_bound: Duration,
    /// `Authorization: Key <key>`.
    pub key: String,
    pub request_timeout: Duration,
    /// Where fal's webhook signing keys are published (`FAL_JWKS_URL`).
    pub jwks_url: String,
    /// The same quality presets as Kling's (fal serves Kling's models).
    pub presets: [Preset; 3],
}

impl std::fmt::Debug for FalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FalConfig")
            .field("queue_url", &self.queue_url)
            .field("api_url", &self.api_url)
            .field("key", &"<redacted>")
            .field("presets", &self.presets)
            .finish()
    }
}

impl FalConfig {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let queue_url = src
            .optional("FAL_QUEUE_URL")
            .unwrap_or_else(|| DEFAULT_QUEUE_URL.to_string());
        url::Url::parse(&queue_url).map_err(|e| ConfigError::Invalid {
            name: "FAL_QUEUE_URL",
            reason: e.to_string(),
        })?;
        let api_url = src
            .optional("FAL_API_URL")
            .unwrap_or_else(|| DEFAULT_API_URL.to_string());
        url::Url::parse(&api_url).map_err(|e| ConfigError::Invalid {
            name: "FAL_API_URL",
            reason: e.to_string(),
        })?;
        Ok(Self {
            queue_url: queue_url.trim_end_matches('/').to_string(),
            api_url: api_url.trim_end_matches('/').to_string(),
            start_timeout: Duration::from_secs(src.parsed("FAL_START_TIMEOUT_SECONDS", 900)?),
            run_bound: Duration::from_secs(src.parsed("FAL_RUN_BOUND_SECONDS", 3600)?),
            key: src.required("FAL_KEY")?,
            request_timeout: Duration::from_millis(src.parsed("FAL_REQUEST_TIMEOUT_MS", 20_000)?),
            jwks_url: src
                .optional("FAL_JWKS_URL")
                .unwrap_or_else(|| DEFAULT_JWKS_URL.to_string()),
            presets: presets(src, Surface::Fal)?,
        })
    }
}
