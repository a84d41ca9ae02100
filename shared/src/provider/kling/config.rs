use std::time::Duration;

use crate::domain::catalogue;
use crate::domain::task::Quality;
use crate::provider::presets::{Preset, presets};
use crate::runtime::config::{ConfigError, Source};

/// Which of Kling's two API surfaces a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/v1/videos/...`, `model_name` in the body, AK/SK JWT.
    Legacy,
    /// The 2026 standard: `POST /{product}/{model}`, `GET /tasks`, API key.
    Standard,
}

impl Surface {
    /// The same surface as the catalogue names it.
    pub fn catalogue(self) -> catalogue::Surface {
        match self {
            Surface::Legacy => catalogue::Surface::KlingLegacy,
            Surface::Standard => catalogue::Surface::KlingStandard,
        }
    }
}

/// How requests authenticate: Kling's AK/SK JWT, or a Kling-compatible gateway's static key.
#[derive(Clone)]
pub enum KlingAuth {
    Jwt {
        access_key: String,
        secret_key: String,
    },
    ApiKey(String),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub base: Duration,
    pub cap: Duration,
    /// Kling asks for at least a second before retrying a 1303.
    pub concurrency_floor: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(8),
            concurrency_floor: Duration::from_secs(1),
        }
    }
}

#[derive(Clone)]
pub struct KlingConfig {
    /// Which of Kling's API surfaces to speak (`KLING_API_STYLE`).
    pub surface: Surface,
    pub base_url: String,
    pub auth: KlingAuth,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    pub draft: Preset,
    pub standard: Preset,
    pub pro: Preset,
}

impl std::fmt::Debug for KlingConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KlingConfig")
            .field("surface", &self.surface)
            .field("base_url", &self.base_url)
            .field("auth", &"<redacted>")
            .field("retry", &self.retry)
            .field("draft", &self.draft)
            .field("standard", &self.standard)
            .field("pro", &self.pro)
            .finish()
    }
}

pub const DEFAULT_BASE_URL: &str = "https://api-singapore.klingai.com";

fn surface(src: &impl Source) -> Result<Surface, ConfigError> {
    match src.optional("KLING_API_STYLE").as_deref() {
        None | Some("legacy") => Ok(Surface::Legacy),
        Some("standard") => Ok(Surface::Standard),
        Some(other) => Err(ConfigError::Invalid {
            name: "KLING_API_STYLE",
            reason: format!("'{other}' is not one of legacy, standard"),
        }),
    }
}

/// The credentials: the legacy API's AK/SK JWT (or a gateway's key); the standard API takes
/// only an API key.
fn auth(src: &impl Source, surface: Surface) -> Result<KlingAuth, ConfigError> {
    let default_auth = match surface {
        Surface::Legacy => "jwt",
        Surface::Standard => "api_key",
    };
    let auth = match src
        .optional("KLING_AUTH")
        .as_deref()
        .unwrap_or(default_auth)
    {
        "jwt" => KlingAuth::Jwt {
            access_key: src.required("KLING_ACCESS_KEY")?,
            secret_key: src.required("KLING_SECRET_KEY")?,
        },
        "api_key" => KlingAuth::ApiKey(src.required("KLING_API_KEY")?),
        other => {
            return Err(ConfigError::Invalid {
                name: "KLING_AUTH",
                reason: format!("'{other}' is not one of jwt, api_key"),
            });
        }
    };
    if surface == Surface::Standard && !matches!(auth, KlingAuth::ApiKey(_)) {
        return Err(ConfigError::Invalid {
            name: "KLING_AUTH",
            reason: "the standard API takes only an API key (KLING_API_KEY)".into(),
        });
    }
    Ok(auth)
}

impl KlingConfig {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let surface = surface(src)?;
        let [draft, standard, pro] = presets(src, surface.catalogue())?;
        let base_url = src
            .optional("KLING_BASE_URL")
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        url::Url::parse(&base_url).map_err(|e| ConfigError::Invalid {
            name: "KLING_BASE_URL",
            reason: e.to_string(),
        })?;
        let auth = auth(src, surface)?;
        let defaults = RetryPolicy::default();
        Ok(Self {
            surface,
            base_url: base_url.trim_end_matches('/').to_string(),
            auth,
            connect_timeout: Duration::from_millis(src.parsed("KLING_CONNECT_TIMEOUT_MS", 3_000)?),
            request_timeout: Duration::from_millis(src.parsed("KLING_REQUEST_TIMEOUT_MS", 20_000)?),
            retry: RetryPolicy {
                max_retries: src.parsed("KLING_MAX_RETRIES", defaults.max_retries)?,
                base: Duration::from_millis(src.parsed("KLING_RETRY_BASE_MS", 500)?),
                cap: Duration::from_millis(src.parsed("KLING_RETRY_CAP_MS", 8_000)?),
                concurrency_floor: Duration::from_millis(
                    src.parsed("KLING_CONCURRENCY_BACKOFF_MS", 1_000)?,
                ),
            },
            draft,
            standard,
            pro,
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
    fn presets_and_auth_from_config() {
        let env = HashMap::from([
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
            ("KLING_PRESET_PRO", "kling-v3:pro"),
        ]);
        let cfg = KlingConfig::from_source(&env).unwrap();
        assert_eq!(cfg.preset(Quality::Pro).model, "kling-v3");
        assert_eq!(cfg.preset(Quality::Standard).mode, "std");
        assert_eq!(cfg.base_url, DEFAULT_BASE_URL);
        assert!(matches!(cfg.auth, KlingAuth::Jwt { .. }));

        let gateway = HashMap::from([
            ("KLING_AUTH", "api_key"),
            ("KLING_API_KEY", "gw-key"),
            ("KLING_BASE_URL", "https://gateway.example.com/kling"),
        ]);
        let cfg = KlingConfig::from_source(&gateway).unwrap();
        assert!(matches!(cfg.auth, KlingAuth::ApiKey(ref k) if k == "gw-key"));

        let bad = HashMap::from([
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
            ("KLING_PRESET_DRAFT", "kling-v2-6:standard"),
        ]);
        assert!(matches!(
            KlingConfig::from_source(&bad),
            Err(ConfigError::Invalid {
                name: "KLING_PRESET_DRAFT",
                ..
            })
        ));
        let retired = HashMap::from([
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
            ("KLING_PRESET_DRAFT", "kling-v1-6:std"),
        ]);
        assert!(matches!(
            KlingConfig::from_source(&retired),
            Err(ConfigError::Invalid {
                name: "KLING_PRESET_DRAFT",
                ..
            })
        ));
        let standard = HashMap::from([
            ("KLING_API_STYLE", "standard"),
            ("KLING_API_KEY", "key"),
            ("KLING_PRESET_PRO", "kling-3.0-turbo:pro"),
        ]);
        let cfg = KlingConfig::from_source(&standard).unwrap();
        assert_eq!(
            (cfg.surface, cfg.pro.model.as_str()),
            (Surface::Standard, "kling-3.0-turbo")
        );
        let turbo_on_legacy = HashMap::from([
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
            ("KLING_PRESET_PRO", "kling-3.0-turbo:pro"),
        ]);
        assert!(KlingConfig::from_source(&turbo_on_legacy).is_err());
        let jwt_on_standard = HashMap::from([
            ("KLING_API_STYLE", "standard"),
            ("KLING_AUTH", "jwt"),
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
        ]);
        assert!(KlingConfig::from_source(&jwt_on_standard).is_err());
        let defaults = KlingConfig::from_source(&HashMap::from([
            ("KLING_ACCESS_KEY", "ak"),
            ("KLING_SECRET_KEY", "sk"),
        ]))
        .unwrap();
        for q in [Quality::Draft, Quality::Standard, Quality::Pro] {
            let m = &defaults.preset(q).model;
            let live = catalogue::model(m).and_then(|c| c.kling_legacy);
            assert_eq!(
                live,
                Some(m.as_str()),
                "default {q:?} preset names a live /v1 model"
            );
        }
        let missing = HashMap::from([("KLING_ACCESS_KEY", "ak")]);
        assert_eq!(
            KlingConfig::from_source(&missing).unwrap_err(),
            ConfigError::Missing("KLING_SECRET_KEY")
        );
    }
}
