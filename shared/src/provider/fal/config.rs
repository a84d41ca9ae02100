use std::time::Duration;

use crate::domain::catalogue::Surface;
use crate::provider::presets::{Preset, presets};
use crate::runtime::config::{ConfigError, Source};

pub const DEFAULT_QUEUE_URL: &str = "https://queue.fal.run";
/// fal's documented key set; some clients use `rest.fal.ai`, so it is configuration.
pub const DEFAULT_JWKS_URL: &str = "https://rest.alpha.fal.ai/.well-known/jwks.json";

#[derive(Clone)]
pub struct FalConfig {
    pub queue_url: String,
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
        Ok(Self {
            queue_url: queue_url.trim_end_matches('/').to_string(),
            key: src.required("FAL_KEY")?,
            request_timeout: Duration::from_millis(src.parsed("FAL_REQUEST_TIMEOUT_MS", 20_000)?),
            jwks_url: src
                .optional("FAL_JWKS_URL")
                .unwrap_or_else(|| DEFAULT_JWKS_URL.to_string()),
            presets: presets(src, Surface::Fal)?,
        })
    }
}
