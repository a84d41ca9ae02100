//! Secrets read once per cold start. In AWS the functions get secret ids, not values:
//! `KLING_SECRET_ID` names a secret holding `{"access_key", "secret_key"}` (the legacy API's
//! AK/SK) or `{"api_key"}` (the standard API's key), `WEBHOOK_SECRET_ID`
//! one holding the callback-token key. Locally (no ids) the values come from the environment.

use std::collections::HashMap;

use crate::runtime::config::{ConfigError, Source};

/// Which variables a secret id stands for (what `with_secrets` fills in).
pub const FROM_SECRETS: [(&str, &[&str]); 9] = [
    (
        "KLING_SECRET_ID",
        &["KLING_ACCESS_KEY", "KLING_SECRET_KEY", "KLING_API_KEY"],
    ),
    ("WEBHOOK_SECRET_ID", &["WEBHOOK_SECRET"]),
    // Signs the status-stream links (`STREAM_URL?token=`).
    ("STREAM_SECRET_ID", &["STREAM_SECRET"]),
    // The APNs auth key for Live Activity pushes: {"key_id", "team_id", "private_key": PEM}.
    (
        "APNS_SECRET_ID",
        &["APNS_KEY_ID", "APNS_TEAM_ID", "APNS_PRIVATE_KEY"],
    ),
    // Kling's callback signing secrets (`whsec_…`, comma-separated; two while rotating).
    ("WEBHOOK_SIGNING_SECRET_ID", &["WEBHOOK_SIGNING_SECRETS"]),
    ("FAL_SECRET_ID", &["FAL_KEY"]),
    // The app-backend webhook's signing secrets (`whsec_…`, newest first, comma-separated).
    ("APP_WEBHOOK_SECRET_ID", &["APP_WEBHOOK_SECRETS"]),
    // The CloudFront key group's private key (PEM).
    ("CDN_PRIVATE_KEY_SECRET_ID", &["CDN_PRIVATE_KEY"]),
    // The C2PA signer: {"certificate_chain": PEM (leaf first), "private_key": PEM}.
    (
        "C2PA_SECRET_ID",
        &["C2PA_CERTIFICATE_CHAIN", "C2PA_SIGNING_KEY"],
    ),
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

/// The variables a secret's value stands for, by the id variable that named it.
pub fn parse_secret(name: &'static str, raw: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let pairs = |fields: &[(&str, Option<String>)]| -> Vec<(String, String)> {
        fields
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
            .collect()
    };
    match name {
        "KLING_SECRET_ID" => {
            let keys = serde_json::from_str::<KlingKeys>(raw)
                .ok()
                .filter(|k| {
                    k.api_key.is_some() || (k.access_key.is_some() && k.secret_key.is_some())
                })
                .ok_or_else(|| {
                    failed(
                        name,
                        "expected {\"access_key\": ..., \"secret_key\": ...} or {\"api_key\": ...}",
                    )
                })?;
            Ok(pairs(&[
                ("KLING_ACCESS_KEY", keys.access_key),
                ("KLING_SECRET_KEY", keys.secret_key),
                ("KLING_API_KEY", keys.api_key),
            ]))
        }
        "FAL_SECRET_ID" => {
            let key = serde_json::from_str::<serde_json::Value>(raw)
                .ok()
                .and_then(|v| v["key"].as_str().map(str::to_string));
            let key = key.ok_or_else(|| failed(name, "expected {\"key\": ...}"))?;
            Ok(vec![("FAL_KEY".to_string(), key)])
        }
        "C2PA_SECRET_ID" => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Signer {
                certificate_chain: String,
                private_key: String,
            }
            let signer = serde_json::from_str::<Signer>(raw).map_err(|_| {
                failed(
                    name,
                    "expected {\"certificate_chain\": PEM, \"private_key\": PEM}",
                )
            })?;
            Ok(vec![
                ("C2PA_CERTIFICATE_CHAIN".into(), signer.certificate_chain),
                ("C2PA_SIGNING_KEY".into(), signer.private_key),
            ])
        }
        "APNS_SECRET_ID" => {
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Key {
                key_id: String,
                team_id: String,
                private_key: String,
            }
            let key = serde_json::from_str::<Key>(raw).map_err(|_| {
                failed(
                    name,
                    "expected {\"key_id\": ..., \"team_id\": ..., \"private_key\": PEM}",
                )
            })?;
            Ok(vec![
                ("APNS_KEY_ID".into(), key.key_id),
                ("APNS_TEAM_ID".into(), key.team_id),
                ("APNS_PRIVATE_KEY".into(), key.private_key),
            ])
        }
        // The others hold one plain value.
        _ => {
            let var = FROM_SECRETS
                .iter()
                .find(|(id, _)| *id == name)
                .and_then(|(_, vars)| vars.first())
                .ok_or_else(|| failed(name, "not a known secret id"))?;
            Ok(vec![(var.to_string(), raw.to_string())])
        }
    }
}

async fn read_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &'static str,
    id: Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    match id {
        Some(id) => parse_secret(name, &secret_string(client, &id, name).await?),
        None => Ok(Vec::new()),
    }
}

/// Fetch the secrets the environment names (only those), once, concurrently.
pub async fn with_secrets<S: Source>(
    sdk: &aws_config::SdkConfig,
    base: S,
) -> Result<WithSecrets<S>, ConfigError> {
    // Only the providers in use have their secrets read (another may not exist).
    let providers = base.optional("PROVIDER").unwrap_or_else(|| "kling".into());
    let uses = |name: &str| providers.split(',').any(|p| p.trim() == name);
    let wanted: Vec<(&'static str, String)> = FROM_SECRETS
        .iter()
        .filter(|(name, _)| match *name {
            "KLING_SECRET_ID" => uses("kling"),
            "FAL_SECRET_ID" => uses("fal"),
            _ => true,
        })
        .filter_map(|(name, _)| Some((*name, base.optional(name)?)))
        .collect();
    let mut secrets = HashMap::new();
    if !wanted.is_empty() {
        let client = aws_sdk_secretsmanager::Client::new(sdk);
        let id = |name: &str| {
            wanted
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, id)| id.clone())
        };
        let reads = FROM_SECRETS
            .map(|(name, _)| (name, id(name)))
            .map(|(name, id)| read_secret(&client, name, id));
        for read in futures_util::future::join_all(reads).await {
            secrets.extend(read?);
        }
    }
    secrets.extend(account_secrets(sdk, &base).await?);
    Ok(WithSecrets { base, secrets })
}

/// The credentials of the pool's accounts that name a secret (`PROVIDER_ACCOUNTS`), under the
/// variables those accounts read. A pool that does not parse is left to the provider settings
/// to report.
async fn account_secrets<S: Source>(
    sdk: &aws_config::SdkConfig,
    base: &S,
) -> Result<Vec<(String, String)>, ConfigError> {
    let Ok(order) = crate::provider::composite::order(base) else {
        return Ok(Vec::new());
    };
    let raw = base.optional("PROVIDER_ACCOUNTS");
    let Ok(pool) = crate::domain::pool::Pool::parse(raw.as_deref(), &order, 0) else {
        return Ok(Vec::new());
    };
    // Building a client costs 0.2 ms of the cold start (create-task: 248 → 20 µs for this
    // step without one); most pools name no secret.
    if pool.accounts().iter().all(|a| a.secret_id.is_none()) {
        return Ok(Vec::new());
    }
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let mut out = Vec::new();
    for account in pool.accounts() {
        let Some(id) = &account.secret_id else {
            continue;
        };
        let shape = match account.provider.as_str() {
            "fal" => "FAL_SECRET_ID",
            _ => "KLING_SECRET_ID",
        };
        let raw = secret_string(&client, id, "PROVIDER_ACCOUNTS").await?;
        for (var, value) in parse_secret(shape, &raw)? {
            out.push((
                crate::provider::composite::credential_var(account, &var),
                value,
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shapes() {
        let names = |r: Result<Vec<(String, String)>, ConfigError>| {
            r.map(|v| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>())
        };
        let cases: [(&'static str, &str, Option<Vec<&str>>); 10] = [
            (
                "C2PA_SECRET_ID",
                r#"{"certificate_chain":"-----BEGIN CERTIFICATE-----","private_key":"k"}"#,
                Some(vec!["C2PA_CERTIFICATE_CHAIN", "C2PA_SIGNING_KEY"]),
            ),
            ("C2PA_SECRET_ID", r#"{"certificate_chain":"c"}"#, None),
            (
                "WEBHOOK_SIGNING_SECRET_ID",
                "whsec_a,whsec_b",
                Some(vec!["WEBHOOK_SIGNING_SECRETS"]),
            ),
            (
                "KLING_SECRET_ID",
                r#"{"access_key":"a","secret_key":"s"}"#,
                Some(vec!["KLING_ACCESS_KEY", "KLING_SECRET_KEY"]),
            ),
            (
                "KLING_SECRET_ID",
                r#"{"api_key":"k"}"#,
                Some(vec!["KLING_API_KEY"]),
            ),
            ("KLING_SECRET_ID", r#"{"access_key":"a"}"#, None),
            (
                "KLING_SECRET_ID",
                r#"{"access_key":"a","secret_key":"s","extra":1}"#,
                None,
            ),
            ("FAL_SECRET_ID", r#"{"key":"f"}"#, Some(vec!["FAL_KEY"])),
            ("FAL_SECRET_ID", "plain", None),
            (
                "WEBHOOK_SECRET_ID",
                "raw-value",
                Some(vec!["WEBHOOK_SECRET"]),
            ),
        ];
        for (name, raw, want) in cases {
            let got = names(parse_secret(name, raw)).ok();
            let want = want.map(|w| w.into_iter().map(String::from).collect::<Vec<_>>());
            assert_eq!(got, want, "{name} {raw}");
        }
    }
}
