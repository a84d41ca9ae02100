use std::time::Duration;

use crate::config::{ConfigError, Source};
use crate::task::Quality;

/// Model and mode behind a quality preset; configuration, never code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub model: String,
    pub mode: String,
}

impl Preset {
    fn parse(name: &'static str, raw: &str) -> Result<Self, ConfigError> {
        let (model, mode) = raw.split_once(':').ok_or_else(|| ConfigError::Invalid {
            name,
            reason: format!("'{raw}' must be MODEL:MODE, e.g. kling-v2-5-turbo:std"),
        })?;
        if model.is_empty() || !matches!(mode, "std" | "pro") {
            return Err(ConfigError::Invalid {
                name,
                reason: format!("'{raw}' must be MODEL:MODE with MODE std or pro"),
            });
        }
        Ok(Self {
            model: model.to_string(),
            mode: mode.to_string(),
        })
    }
}

#[derive(Clone)]
pub struct KlingConfig {
    pub base_url: String,
    pub access_key: String,
    pub secret_key: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub draft: Preset,
    pub standard: Preset,
    pub pro: Preset,
}

impl std::fmt::Debug for KlingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KlingConfig")
            .field("base_url", &self.base_url)
            .field("access_key", &"<redacted>")
            .field("secret_key", &"<redacted>")
            .field("draft", &self.draft)
            .field("standard", &self.standard)
            .field("pro", &self.pro)
            .finish()
    }
}

pub const DEFAULT_BASE_URL: &str = "https://api-singapore.klingai.com";

impl KlingConfig {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let preset = |name: &'static str, default: &str| -> Result<Preset, ConfigError> {
            Preset::parse(
                name,
                &src.optional(name).unwrap_or_else(|| default.to_string()),
            )
        };
        let base_url = src
            .optional("KLING_BASE_URL")
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        url::Url::parse(&base_url).map_err(|e| ConfigError::Invalid {
            name: "KLING_BASE_URL",
            reason: e.to_string(),
        })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            access_key: src.required("KLING_ACCESS_KEY")?,
            secret_key: src.required("KLING_SECRET_KEY")?,
            connect_timeout: Duration::from_millis(src.parsed("KLING_CONNECT_TIMEOUT_MS", 3_000)?),
            request_timeout: Duration::from_millis(src.parsed("KLING_REQUEST_TIMEOUT_MS", 20_000)?),
            draft: preset("KLING_PRESET_DRAFT", "kling-v1-6:std")?,
            standard: preset("KLING_PRESET_STANDARD", "kling-v2-5-turbo:std")?,
            pro: preset("KLING_PRESET_PRO", "kling-v2-5-turbo:pro")?,
        })
    }

    pub fn preset(&self, quality: Quality) -> &Preset {
        match quality {
            Quality::Draft => &self.draft,
            Quality::Standard => &self.standard,
            Quality::Pro => &self.pro,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn presets_from_config() {
        let env = HashMap::from([
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
            ("KLING_PRESET_PRO", "kling-v3:pro"),
        ]);
        let cfg = KlingConfig::from_source(&env).unwrap();
        assert_eq!(cfg.preset(Quality::Pro).model, "kling-v3");
        assert_eq!(cfg.preset(Quality::Standard).mode, "std");
        assert_eq!(cfg.base_url, DEFAULT_BASE_URL);

        let bad = HashMap::from([
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
            ("KLING_PRESET_DRAFT", "kling-v1:standard"),
        ]);
        assert!(matches!(
            KlingConfig::from_source(&bad),
            Err(ConfigError::Invalid {
                name: "KLING_PRESET_DRAFT",
                ..
            })
        ));
        let missing = HashMap::from([("KLING_ACCESS_KEY", "ak")]);
        assert_eq!(
            KlingConfig::from_source(&missing).unwrap_err(),
            ConfigError::Missing("KLING_SECRET_KEY")
        );
    }
}
