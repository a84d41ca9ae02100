//! Function settings the developer changes locally, layered over the template's: the local
//! settings file (`devstack.env`, or `--settings FILE`), then the caller's environment. Only
//! the stack's own wiring (emulator endpoints, resource names, local credentials) is not theirs
//! to change: the stack would stop working.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::DevError;

/// Wired by the stack itself; an override would point functions away from their emulators.
pub const STACK_OWNED: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "S3_FORCE_PATH_STYLE",
    "TABLE_NAME",
    "VIDEO_BUCKET",
    "FINALIZE_QUEUE_URL",
    "DISPATCH_QUEUE_URL",
    "ERASURE_QUEUE_URL",
    "KLING_BASE_URL",
    "WEBHOOK_BASE_URL",
    "KLING_SECRET_ID",
    "WEBHOOK_SECRET_ID",
    "LOCAL_AUTH_SECRET",
    "KLING_ACCESS_KEY",
    "KLING_SECRET_KEY",
    "FAL_QUEUE_URL",
    "FAL_API_URL",
    "FAL_SECRET_ID",
    "FAL_JWKS_URL",
    "FAL_USER_ID",
    "FAL_KEY",
    "EVENT_BUS_NAME",
    "APP_WEBHOOK_QUEUE_URL",
    "APP_WEBHOOK_DEAD_LETTER_URL",
    "APP_WEBHOOK_SECRET_ID",
    "APNS_PLATFORM_APPLICATION_ARN",
    "APNS_SANDBOX_PLATFORM_APPLICATION_ARN",
    "FCM_PLATFORM_APPLICATION_ARN",
    "CDN_PRIVATE_KEY_SECRET_ID",
    "MCP_API_BASE_URL",
    "MCP_AUTHORIZATION_SERVER",
    "WEBHOOK_SIGNING_SECRET_ID",
    // The local test CA's signer (`env::local_c2pa`).
    "C2PA_SECRET_ID",
    "C2PA_CERTIFICATE_CHAIN",
    "C2PA_SIGNING_KEY",
    // The status streams' function URL and its secret's id.
    "STREAM_URL",
    "STREAM_SECRET_ID",
    // The APNs emulator and the stack's throwaway key.
    "APNS_URL",
    "APNS_SANDBOX_URL",
    "APNS_SECRET_ID",
    "APNS_TOPIC",
    "APNS_TEAM_ID",
    "APNS_KEY_ID",
    "APNS_PRIVATE_KEY",
];

/// Every other variable the functions read; the caller's environment may set any of these
/// (a test keeps this list equal to what the functions' settings loaders read).
pub const USER_SETTINGS: &[&str] = &[
    "AUTH_MODE",
    "ERASURE_RECHECK_SECONDS",
    "BREAKER_OPEN_SECONDS",
    "BREAKER_THRESHOLD",
    "DOWNLOAD_ALLOWED_HOSTS",
    "FAL_REQUEST_TIMEOUT_MS",
    "FAL_START_TIMEOUT_SECONDS",
    "FAL_RUN_BOUND_SECONDS",
    "DOWNLOAD_ALLOW_HTTP",
    "IMAGE_URL_ALLOW_LOOPBACK",
    "KLING_API_KEY",
    "KLING_API_STYLE",
    "KLING_AUTH",
    "KLING_CONCURRENCY_BACKOFF_MS",
    "KLING_CONNECT_TIMEOUT_MS",
    "KLING_MAX_RETRIES",
    "KLING_PRESET_DRAFT",
    "KLING_PRESET_STANDARD",
    "KLING_PRESET_PRO",
    "KLING_REQUEST_TIMEOUT_MS",
    "KLING_RETRY_BASE_MS",
    "KLING_RETRY_CAP_MS",
    "MAX_VIDEO_BYTES",
    "MODERATION_POLICY_JSON",
    "PLANS_JSON",
    "POLL_STALE_SECONDS",
    "PRESIGN_TTL_SECONDS",
    "PROVIDER",
    "PROVIDER_MAX_CONCURRENCY",
    "PROVIDER_ACCOUNTS",
    "ACCOUNT_PROBE_SECONDS",
    "RECONCILE_STALE_SECONDS",
    "RUST_LOG",
    "SLOT_CHECK_FALLBACK_SECONDS",
    "SLOT_CHECK_FLOOR_SECONDS",
    "SLOT_RECHECK_SECONDS",
    "TASK_HARD_TIMEOUT_SECONDS",
    "UPLOAD_URL_TTL_SECONDS",
    "WEBHOOK_SECRET",
    "WEBHOOK_SIGNING_SECRETS",
    "APP_WEBHOOK_URL",
    "APP_WEBHOOK_SECRETS",
    "APP_WEBHOOK_FIRST_RETRY_SECONDS",
    "APP_WEBHOOK_MAX_RETRY_SECONDS",
    "APP_WEBHOOK_RETRY_WINDOW_SECONDS",
    "WEBHOOK_URL_ALLOW_LOOPBACK",
    "PUSH_TITLE",
    "PUSH_TEXT_SUCCEEDED",
    "PUSH_TEXT_FAILED",
    "PUSH_TEXT_CANCELED",
    "CDN_DOMAIN",
    "CDN_KEY_PAIR_ID",
    "CDN_PRIVATE_KEY",
    "TEMPLATES_JSON",
    "C2PA_LABEL",
    "STREAM_SECRET",
    "STREAMS_PER_USER",
    "STREAM_POLL_MILLIS",
    "STREAM_KEEPALIVE_SECONDS",
    "STREAM_MAX_SECONDS",
    "PROGRESS_UPDATE_SECONDS",
    "LIVE_ACTIVITY_STALE_SECONDS",
    "LIVE_ACTIVITY_DISMISS_SECONDS",
];

/// The settings file read when `--settings` is not given (if it exists).
pub const DEFAULT_FILE: &str = "devstack.env";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Environment,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Override {
    pub name: String,
    pub value: String,
    pub origin: Origin,
}

/// `KEY=VALUE` lines; blank lines and `#` comments are skipped.
pub fn parse_file(text: &str, path: &Path) -> Result<Vec<(String, String)>, DevError> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| {
            DevError::Process(format!("{}:{}: expected NAME=value", path.display(), n + 1))
        })?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// The overrides in force: the file's, then the environment's (which win).
pub fn collect(
    environment: impl IntoIterator<Item = (String, String)>,
    file: Option<(&Path, &str)>,
) -> Result<Vec<Override>, DevError> {
    let mut chosen: BTreeMap<String, Override> = BTreeMap::new();
    if let Some((path, text)) = file {
        for (name, value) in parse_file(text, path)? {
            if STACK_OWNED.contains(&name.as_str()) {
                return Err(DevError::Process(format!(
                    "{}: {name} is wired by the local stack and cannot be set",
                    path.display()
                )));
            }
            let origin = Origin::File(path.to_path_buf());
            chosen.insert(
                name.clone(),
                Override {
                    name,
                    value,
                    origin,
                },
            );
        }
    }
    for (name, value) in environment {
        if USER_SETTINGS.contains(&name.as_str()) {
            let origin = Origin::Environment;
            chosen.insert(
                name.clone(),
                Override {
                    name,
                    value,
                    origin,
                },
            );
        }
    }
    Ok(chosen.into_values().collect())
}

/// One line per override, secrets masked.
pub fn describe(overrides: &[Override]) -> Vec<String> {
    overrides
        .iter()
        .map(|o| {
            let secret = ["SECRET", "KEY", "TOKEN"]
                .iter()
                .any(|s| o.name.contains(s));
            let value = if secret { "****" } else { o.value.as_str() };
            let from = match &o.origin {
                Origin::Environment => "the environment".to_string(),
                Origin::File(p) => p.display().to_string(),
            };
            format!("{}={value} (from {from})", o.name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layering_table() {
        let path = Path::new("devstack.env");
        let file = "# local\nPLANS_JSON={\"x\": 1}\nPOLL_STALE_SECONDS = 5\n\n";
        let got = collect(
            env(&[
                ("POLL_STALE_SECONDS", "9"),
                ("IMAGE_URL_ALLOW_LOOPBACK", "false"),
                ("HOME", "/root"),
                ("AWS_REGION", "eu-west-1"),
            ]),
            Some((path, file)),
        )
        .unwrap();
        let names: Vec<(&str, &str)> = got
            .iter()
            .map(|o| (o.name.as_str(), o.value.as_str()))
            .collect();
        // The environment wins over the file; unrelated and stack-owned variables are ignored.
        assert_eq!(
            names,
            [
                ("IMAGE_URL_ALLOW_LOOPBACK", "false"),
                ("PLANS_JSON", "{\"x\": 1}"),
                ("POLL_STALE_SECONDS", "9"),
            ]
        );
        assert_eq!(got[2].origin, Origin::Environment);
        assert_eq!(got[1].origin, Origin::File(path.to_path_buf()));
    }

    #[test]
    fn refusals_and_masking() {
        let path = Path::new("x.env");
        assert!(collect(Vec::new(), Some((path, "AWS_REGION=eu-west-1"))).is_err());
        assert!(collect(Vec::new(), Some((path, "no equals sign"))).is_err());
        let lines = describe(&collect(env(&[("WEBHOOK_SECRET", "hunter2")]), None).unwrap());
        assert_eq!(lines, ["WEBHOOK_SECRET=**** (from the environment)"]);
    }
}
