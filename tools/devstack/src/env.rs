//! Each function's local environment: what the template gives it, with template references
//! resolved to the local resources and deploy-time values (parameters, secrets) replaced by
//! local dummies. A variable with no local value is an error, so the template and the local
//! stack cannot drift apart silently.

use std::collections::BTreeMap;

use serde_yaml::Value;

use crate::DevError;
use crate::resources::LocalResources;
use crate::template::FunctionDef;

/// Obvious local dummies; never real credentials.
pub const LOCAL_AUTH_SECRET: &str = "local-dev-auth-secret-not-for-production";
pub const LOCAL_WEBHOOK_SECRET: &str = "local-dev-webhook-secret-not-for-production";
pub const LOCAL_KLING_ACCESS_KEY: &str = "local-access-key";
pub const LOCAL_KLING_SECRET_KEY: &str = "local-secret-key";
/// fal-sim's key (`PROVIDER=fal`).
pub const LOCAL_FAL_KEY: &str = "local-fal-key";
/// provider-sim's key for the standard API (`KLING_API_STYLE=standard`).
pub const LOCAL_KLING_API_KEY: &str = "local-kling-api-key";
/// The local app's bundle id, and the team and key ids of its (throwaway) APNs key.
pub const LOCAL_APNS_TOPIC: &str = "local.kling-lambda.app";
pub const LOCAL_APNS_TEAM_ID: &str = "LOCALTEAM1";
pub const LOCAL_APNS_KEY_ID: &str = "LOCALKEY01";
/// Signs the local status-stream links.
pub const LOCAL_STREAM_SECRET: &str = "local-dev-stream-secret-not-for-production";

pub struct LocalEndpoints {
    pub moto: String,
    pub kling: String,
    pub fal: String,
    pub api: String,
    /// The status streams' function URL.
    pub stream: String,
    /// The APNs emulator (production, sandbox).
    pub apns: (String, String),
}

/// This stack's throwaway APNs auth key (P-256), made once per process: the PKCS#8 PEM notify
/// signs its provider tokens with, and the public point the APNs emulator checks them with.
pub fn local_apns_key() -> Option<&'static (String, Vec<u8>)> {
    static KEY: std::sync::OnceLock<Option<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).ok()?;
        Some((pair.serialize_pem(), pair.public_key_raw().to_vec()))
    })
    .as_ref()
}

/// Values that replace deploy-time parameters and secrets, by variable name.
pub fn local_overrides(endpoints: &LocalEndpoints) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("AUTH_MODE", "local".to_string()),
        ("KLING_BASE_URL", endpoints.kling.clone()),
        // The template's defaults; `KLING_API_STYLE=standard` or `PROVIDER=fal` in the
        // environment switch them.
        ("KLING_API_STYLE", "legacy".to_string()),
        ("PROVIDER", "kling".to_string()),
        ("FAL_QUEUE_URL", endpoints.fal.clone()),
        // fal-sim serves fal's Platform API listing on the same origin.
        ("FAL_API_URL", endpoints.fal.clone()),
        ("FAL_SECRET_ID", String::new()),
        (
            "FAL_JWKS_URL",
            format!("{}/.well-known/jwks.json", endpoints.fal),
        ),
        // fal-sim's account, as its webhook signatures name it.
        ("FAL_USER_ID", "local-fal-user".to_string()),
        // Secrets come from the environment locally, not from Secrets Manager.
        ("KLING_SECRET_ID", String::new()),
        ("WEBHOOK_SECRET_ID", String::new()),
        ("STREAM_SECRET_ID", String::new()),
        // Live Activities on, against the APNs emulator; the key comes from the environment.
        ("APNS_TOPIC", LOCAL_APNS_TOPIC.to_string()),
        ("APNS_SECRET_ID", String::new()),
        ("STREAM_URL", endpoints.stream.clone()),
        ("WEBHOOK_BASE_URL", endpoints.api.clone()),
        // Read from the environment locally (WEBHOOK_SIGNING_SECRETS), not from Secrets Manager.
        ("WEBHOOK_SIGNING_SECRET_ID", String::new()),
        ("DOWNLOAD_ALLOWED_HOSTS", "127.0.0.1".to_string()),
        ("PROVIDER_MAX_CONCURRENCY", "5".to_string()),
        ("RUST_LOG", "info".to_string()),
        // Read from the environment locally (APP_WEBHOOK_SECRETS), not from Secrets Manager.
        ("APP_WEBHOOK_SECRET_ID", String::new()),
        // No CloudFront locally: videos are S3 presigned URLs (a developer may set CDN_*).
        ("CDN_DOMAIN", String::new()),
        ("CDN_KEY_PAIR_ID", String::new()),
        ("CDN_PRIVATE_KEY_SECRET_ID", String::new()),
        // The local API (the gateway), where the MCP tools send their calls.
        ("MCP_API_BASE_URL", endpoints.api.clone()),
        // No OAuth server locally: the stack mints its own tokens (`devstack token`), so the
        // MCP metadata names the local API itself.
        ("MCP_AUTHORIZATION_SERVER", endpoints.api.clone()),
        // Every stored video is labelled locally, signed by the stack's own test CA.
        ("C2PA_LABEL", "on".to_string()),
        ("C2PA_SECRET_ID", String::new()),
        // One account per provider unless the caller's environment lists more.
        ("PROVIDER_ACCOUNTS", String::new()),
    ])
}

/// Another local Kling account: provider-sim's side (its own keys and `concurrency` limit)
/// and the variables the functions read its keys from (`provider::composite`). Its pool
/// entry is the caller's (`PROVIDER_ACCOUNTS`).
pub fn local_kling_account(
    name: &str,
    concurrency: usize,
) -> (provider_sim::SimAccount, Vec<(String, String)>) {
    let account = provider_sim::SimAccount {
        name: name.to_string(),
        access_key: format!("local-{name}-access-key"),
        secret_key: format!("local-{name}-secret-key"),
        api_key: Some(format!("local-{name}-api-key")),
        concurrency_limit: Some(concurrency),
    };
    let var = |v: &str| credential_var("kling", name, v);
    let env = vec![
        (var("KLING_ACCESS_KEY"), account.access_key.clone()),
        (var("KLING_SECRET_KEY"), account.secret_key.clone()),
        (
            var("KLING_API_KEY"),
            account.api_key.clone().unwrap_or_default(),
        ),
    ];
    (account, env)
}

/// This stack's throwaway C2PA signer: a test CA made once per process (its anchor is what a
/// local reader must trust; see `Stack::c2pa_trust_anchor`).
pub fn local_c2pa() -> Option<&'static finalize::local_ca::LocalCa> {
    static CA: std::sync::OnceLock<Option<finalize::local_ca::LocalCa>> =
        std::sync::OnceLock::new();
    CA.get_or_init(|| finalize::local_ca::make().ok()).as_ref()
}

/// Local-only settings the template never carries (emulator endpoints and dev switches).
pub fn local_extras(endpoints: &LocalEndpoints) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("AWS_ENDPOINT_URL", endpoints.moto.clone()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("S3_FORCE_PATH_STYLE", "true".to_string()),
        ("LOCAL_AUTH_SECRET", LOCAL_AUTH_SECRET.to_string()),
        ("DOWNLOAD_ALLOW_HTTP", "true".to_string()),
        ("IMAGE_URL_ALLOW_LOOPBACK", "true".to_string()),
        ("KLING_ACCESS_KEY", LOCAL_KLING_ACCESS_KEY.to_string()),
        ("KLING_SECRET_KEY", LOCAL_KLING_SECRET_KEY.to_string()),
        ("KLING_API_KEY", LOCAL_KLING_API_KEY.to_string()),
        ("FAL_KEY", LOCAL_FAL_KEY.to_string()),
        ("WEBHOOK_SECRET", LOCAL_WEBHOOK_SECRET.to_string()),
        ("STREAM_SECRET", LOCAL_STREAM_SECRET.to_string()),
        ("APNS_URL", endpoints.apns.0.clone()),
        ("APNS_SANDBOX_URL", endpoints.apns.1.clone()),
        ("APNS_TEAM_ID", LOCAL_APNS_TEAM_ID.to_string()),
        ("APNS_KEY_ID", LOCAL_APNS_KEY_ID.to_string()),
        (
            "APNS_PRIVATE_KEY",
            local_apns_key().map(|k| k.0.clone()).unwrap_or_default(),
        ),
        (
            "C2PA_CERTIFICATE_CHAIN",
            local_c2pa().map(|ca| ca.chain.clone()).unwrap_or_default(),
        ),
        (
            "C2PA_SIGNING_KEY",
            local_c2pa().map(|ca| ca.key.clone()).unwrap_or_default(),
        ),
    ])
}

pub fn function_env(
    def: &FunctionDef,
    resources: &LocalResources,
    endpoints: &LocalEndpoints,
) -> Result<Vec<(String, String)>, DevError> {
    let overrides = local_overrides(endpoints);
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &def.env {
        let made = resources.settings.get(name.as_str());
        let resolved = match (overrides.get(name.as_str()).or(made), value) {
            (Some(local), _) => local.clone(),
            (None, Value::String(s)) => s.clone(),
            (None, Value::Number(n)) => n.to_string(),
            (None, other) => resources.resolve(other).ok_or_else(|| {
                DevError::Template(format!(
                    "{}: environment variable {name} has no local value; add it to devstack's local overrides",
                    def.name
                ))
            })?,
        };
        env.insert(name.clone(), resolved);
    }
    for (k, v) in local_extras(endpoints) {
        env.insert(k.to_string(), v);
    }
    Ok(env.into_iter().collect())
}

/// Another local fal account: fal-sim's side (its own key, `workers` requests running at
/// once, as fal limits an account's concurrency) and the variable the functions read its key
/// from. Its pool entry is the caller's.
pub fn local_fal_account(
    name: &str,
    workers: usize,
) -> (provider_sim::fal::FalAccount, Vec<(String, String)>) {
    let account = provider_sim::fal::FalAccount {
        name: name.to_string(),
        key: format!("local-fal-{name}-key"),
        workers: Some(workers),
    };
    let key = account.key.clone();
    (account, vec![(credential_var("fal", name, "FAL_KEY"), key)])
}

/// The variable the functions read an account's credential from (`provider::composite`).
fn credential_var(provider: &str, name: &str, var: &str) -> String {
    let pooled = shared::domain::pool::Account {
        provider: provider.into(),
        name: name.to_string(),
        capacity: 0,
        weight: 1,
        models: Vec::new(),
        secret_id: None,
    };
    shared::provider::composite::credential_var(&pooled, var)
}

/// The local accounts besides each provider's `main`.
#[derive(Debug, Default)]
pub struct LocalPool {
    pub kling: Vec<provider_sim::SimAccount>,
    pub fal: Vec<provider_sim::fal::FalAccount>,
    /// Their keys' variables and `PROVIDER_ACCOUNTS`.
    pub env: Vec<(String, String)>,
}

/// `kling` Kling and `fal` fal accounts locally (`make dev KLING_ACCOUNTS=2 FAL_ACCOUNTS=2`):
/// `main` and `acct2`… of each, every one with `capacity` slots here and at its emulator; the
/// variables that configure the pool.
pub fn local_pool(kling: usize, fal: usize, capacity: usize) -> LocalPool {
    let mut pool = LocalPool::default();
    let mut entries = Vec::new();
    let names = |n: usize| (2..=n).map(|i| format!("acct{i}"));
    let entry = |provider: &str, name: &str| serde_json::json!({"provider": provider, "name": name, "capacity": capacity});
    for name in names(kling) {
        let (account, vars) = local_kling_account(&name, capacity);
        entries.push(entry("kling", &name));
        pool.kling.push(account);
        pool.env.extend(vars);
    }
    for name in names(fal) {
        let (account, vars) = local_fal_account(&name, capacity);
        entries.push(entry("fal", &name));
        pool.fal.push(account);
        pool.env.extend(vars);
    }
    if !entries.is_empty() {
        pool.env.push((
            "PROVIDER_ACCOUNTS".into(),
            serde_json::Value::from(entries).to_string(),
        ));
    }
    pool
}
