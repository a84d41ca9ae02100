//! Secrets read once per cold start. In AWS the functions get secret ids, not values:
//! `KLING_SECRET_ID` names a secret holding `{"access_key", "secret_key"}` (the legacy API's
//! AK/SK) or `{"api_key"}` (the standard API's key), `WEBHOOK_SECRET_ID`
//! one holding the callback-token key. Locally (no ids) the values come from the environment.

use std::collections::HashMap;

use crate::config::{ConfigError, Source};

/// Which variables a secret id stands for (what `with_secrets` fills in).
pub const FROM_SECRETS: [(&str, &[&str]); 3] = [
    (
        "KLING_SECRET_ID",
        &["KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_API_KEY"],
    ),
    ("WEBHOOK_SECRET_ID", &["WEBHOOK_SECRET"]),
    ("FAL_SECRET_ID", &["FAL_KEY"]),
];

/// The process environment with secret values layered on top.
pub struct WithSecrets<S> {
    base: S,
    secrets: HashMap<String, String>,
}

impl<S: Source> Source for WithSecrets<S> {
    fn get(&self, name: &str) -> Option<String> {
        self.secrets
            .get(name)
            .cloned()
            .or_else(|| self.base.get(name))
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KlingKeys {
    access_key: Option<String>,
    secret_key: Option<String>,
    api_key: Option<String>,
}

fn failed(name: &'static str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.to_string(),
    }
}

async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    name: &'static str,
) -> Result<String, ConfigError> {
    client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| failed(name, aws_sdk_secretsmanager::error::DisplayErrorContext(e)))?
        .secret_string
        .ok_or_else(|| failed(name, "the secret has no string value"))
}

/// Fetch the secrets the environment names (only those), once.
pub async fn with_secrets<S: Source>(
    sdk: &aws_config::SdkConfig,
    base: S,
) -> Result<WithSecrets<S>, ConfigError> {
    let mut secrets = HashMap::new();
    // Only the providers in use have their secrets read (another may not exist).
    let providers = base.optional("PROVIDER").unwrap_or_else(|| "kling".into());
    let uses = |name: &str| providers.split(',').any(|p| p.trim() == name);
    let kling = base.optional("KLING_SECRET_ID").filter(|_| uses("kling"));
    let fal = base.optional("FAL_SECRET_ID").filter(|_| uses("fal"));
    let webhook = base.optional("WEBHOOK_SECRET_ID");
    if kling.is_some() || webhook.is_some() || fal.is_some() {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        if let Some(id) = kling {
            let raw = secret_string(&client, &id, "KLING_SECRET_ID").await?;
            let keys = serde_json::from_str::<KlingKeys>(&raw)
                .ok()
                .filter(|k| {
                    k.api_key.is_some() || (k.access_key.is_some() && k.secret_key.is_some())
                })
                .ok_or_else(|| {
                    failed(
                        "KLING_SECRET_ID",
                        "expected {\"access_key\": ..., \"secret_key\": ...} or {\"api_key\": ...}",
                    )
                })?;
            let fields = [
                ("KLING_ACCESS_KEY", keys.access_key),
                ("KLING_SECRET_KEY", keys.secret_key),
                ("KLING_API_KEY", keys.api_key),
            ];
            for (name, value) in fields {
                if let Some(value) = value {
                    secrets.insert(name.to_string(), value);
                }
            }
        }
        if let Some(id) = fal {
            let raw = secret_string(&client, &id, "FAL_SECRET_ID").await?;
            let key = serde_json::from_str::<serde_json::Value>(&raw)
                .ok()
                .and_then(|v| v["key"].as_str().map(str::to_string))
                .ok_or_else(|| failed("FAL_SECRET_ID", "expected {\"key\": ...}"))?;
            secrets.insert("FAL_KEY".to_string(), key);
        }
        if let Some(id) = webhook {
            let value = secret_string(&client, &id, "WEBHOOK_SECRET_ID").await?;
            secrets.insert("WEBHOOK_SECRET".to_string(), value);
        }
    }
    Ok(WithSecrets { base, secrets })
}
