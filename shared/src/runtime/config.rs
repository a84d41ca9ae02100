//! Configuration read from the environment once per cold start.
//!
//! Every loader takes a lookup function rather than reading `std::env` directly, so tests can
//! feed a map and a missing value names itself in the error.

use std::collections::HashMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("missing required environment variable {0}")]
    Missing(&'static str),
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// A source of configuration values (the process environment, or a map in tests).
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;

    fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        match self.get(name) {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::Missing(name)),
        }
    }

    fn optional(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty())
    }

    fn parsed<T: std::str::FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid {
                    name,
                    reason: e.to_string(),
                }),
        }
    }
}

/// The real process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

impl Source for HashMap<&str, &str> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).map(|v| v.to_string())
    }
}

/// Where the single DynamoDB table lives.
#[derive(Debug, Clone)]
pub struct TableConfig {
    pub table_name: String,
}

impl TableConfig {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: src.required("TABLE_NAME")?,
        })
    }
}

/// The private bucket that holds finished videos.
#[derive(Debug, Clone)]
pub struct BucketConfig {
    pub bucket: String,
    /// Lifetime of presigned GET URLs handed to apps (capped at one hour).
    pub presign_ttl: Duration,
}

pub const MAX_PRESIGN_TTL_SECS: u64 = 3600;

impl BucketConfig {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let ttl: u64 = src.parsed("PRESIGN_TTL_SECONDS", 900)?;
        if ttl == 0 || ttl > MAX_PRESIGN_TTL_SECS {
            return Err(ConfigError::Invalid {
                name: "PRESIGN_TTL_SECONDS",
                reason: format!("must be between 1 and {MAX_PRESIGN_TTL_SECS}"),
            });
        }
        Ok(Self {
            bucket: src.required("VIDEO_BUCKET")?,
            presign_ttl: Duration::from_secs(ttl),
        })
    }
}

/// The SQS queue that feeds the finalize function.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub finalize_queue_url: String,
}

impl QueueConfig {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            finalize_queue_url: src.required("FINALIZE_QUEUE_URL")?,
        })
    }
}

/// Where the dispatcher is woken.
#[derive(Debug, Clone)]
pub struct DispatchQueueConfig {
    pub dispatch_queue_url: String,
}

impl DispatchQueueConfig {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            dispatch_queue_url: src.required("DISPATCH_QUEUE_URL")?,
        })
    }
}

/// The secret that signs per-task callback tokens and the public base URL of the webhook route.
#[derive(Clone)]
pub struct WebhookConfig {
    /// Empty means: the API's own domain, taken from each request.
    pub base_url: Option<String>,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("base_url", &self.base_url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Shortest webhook secret accepted: a short key would make callback tokens guessable.
pub const MIN_SECRET_LEN: usize = 16;

impl WebhookConfig {
    /// Only the secret: what the receiver needs to check tokens.
    pub fn secret_from_source(src: &impl Source) -> Result<Vec<u8>, ConfigError> {
        let secret = src.required("WEBHOOK_SECRET")?;
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::Invalid {
                name: "WEBHOOK_SECRET",
                reason: format!("must be at least {MIN_SECRET_LEN} characters"),
            });
        }
        Ok(secret.into_bytes())
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let base_url = src.optional("WEBHOOK_BASE_URL");
        if let Some(url) = &base_url {
            url::Url::parse(url).map_err(|e| ConfigError::Invalid {
                name: "WEBHOOK_BASE_URL",
                reason: e.to_string(),
            })?;
        }
        Ok(Self {
            base_url: base_url.map(|u| u.trim_end_matches('/').to_string()),
            secret: Self::secret_from_source(src)?,
        })
    }
}

/// The status stream: where its function answers (`STREAM_URL`, a Lambda function URL) and the
/// key of the tokens in its links (`STREAM_SECRET`).
#[derive(Clone)]
pub struct StreamConfig {
    pub url: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for StreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConfig")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl StreamConfig {
    /// `None` where no stream is deployed (no `STREAM_URL`).
    pub fn from_source(src: &impl Source) -> Result<Option<Self>, ConfigError> {
        let Some(url) = src.optional("STREAM_URL").filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        url::Url::parse(&url).map_err(|e| ConfigError::Invalid {
            name: "STREAM_URL",
            reason: e.to_string(),
        })?;
        Ok(Some(Self {
            url,
            secret: Self::secret_from_source(src)?,
        }))
    }

    pub fn secret_from_source(src: &impl Source) -> Result<Vec<u8>, ConfigError> {
        let secret = src.required("STREAM_SECRET")?;
        if secret.len() < MIN_SECRET_LEN {
            return Err(ConfigError::Invalid {
                name: "STREAM_SECRET",
                reason: format!("must be at least {MIN_SECRET_LEN} characters"),
            });
        }
        Ok(secret.into_bytes())
    }
}
