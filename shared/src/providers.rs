//! The provider adapters a deployment can use, built from configuration. Functions wire what
//! this module builds and never name a provider's own types; a new provider surface adds an
//! adapter and its settings here.

use crate::config::{ConfigError, Source};
use crate::kling::{KlingCallbacks, KlingConfig, KlingProvider};
use crate::provider::ProviderError;

/// The provider this deployment submits to.
pub type ConfiguredProvider = KlingProvider;

/// Reads the callbacks of every provider this deployment knows.
pub type ConfiguredCallbacks = KlingCallbacks;

/// Everything the provider adapters read from the environment at cold start.
pub struct ProviderSettings {
    pub kling: KlingConfig,
}

impl ProviderSettings {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            kling: KlingConfig::from_source(src)?,
        })
    }

    pub fn provider(&self) -> Result<ConfiguredProvider, ProviderError> {
        KlingProvider::new(&self.kling).map_err(|e| ProviderError::Auth {
            reason: e.to_string(),
        })
    }
}

pub fn callbacks() -> ConfiguredCallbacks {
    KlingCallbacks
}
