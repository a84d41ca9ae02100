//! APNs with token-based authentication, for Live Activity pushes (SNS mobile push does not
//! carry the `liveactivity` push type). Requests go over our one HTTP stack (reqwest, rustls)
//! in HTTP/2, as APNs requires; the provider token is an ES256 JWT (`kid` the key id, `iss` the
//! team id, `iat`), signed with the `.p8` key from Secrets Manager and reused for 40 minutes
//! (APNs refuses one older than an hour, and one refreshed more often than every 20 minutes).
//! Facts and sources: docs/providers.md §Apple push.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use shared::ports::{Cause, LiveActivity, LiveActivityPush, PushOutcome, SinkError};
use shared::runtime::config::{ConfigError, Source};

const TOKEN_REUSE: Duration = Duration::from_secs(40 * 60);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The app's APNs key and where to send (`APNS_*`); none where Live Activities are off.
#[derive(Clone)]
pub struct ApnsConfig {
    pub key_id: String,
    pub team_id: String,
    /// The `.p8` key (PKCS#8 PEM, P-256).
    pub private_key: String,
    /// The app's bundle id; Live Activity pushes go to `{topic}.push-type.liveactivity`.
    pub topic: String,
    pub production_url: String,
    pub sandbox_url: String,
}

impl std::fmt::Debug for ApnsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsConfig")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("private_key", &"<redacted>")
            .field("topic", &self.topic)
            .finish()
    }
}

impl ApnsConfig {
    /// `None` without `APNS_TOPIC`: no Live Activities.
    pub fn from_source(src: &impl Source) -> Result<Option<Self>, ConfigError> {
        let Some(topic) = src.optional("APNS_TOPIC").filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        Ok(Some(Self {
            key_id: src.required("APNS_KEY_ID")?,
            team_id: src.required("APNS_TEAM_ID")?,
            private_key: src.required("APNS_PRIVATE_KEY")?,
            topic,
            production_url: src
                .optional("APNS_URL")
                .unwrap_or_else(|| "https://api.push.apple.com".into()),
            sandbox_url: src
                .optional("APNS_SANDBOX_URL")
                .unwrap_or_else(|| "https://api.sandbox.push.apple.com".into()),
        }))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApnsError {
    #[error("the APNs key is not a PKCS#8 PEM key (the .p8 file): {0}")]
    Key(String),
    #[error("APNs client set-up failed")]
    Client(#[source] Cause),
}

pub struct Apns {
    http: reqwest::Client,
    config: ApnsConfig,
    key: EncodingKey,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(serde::Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

impl Apns {
    pub fn new(config: ApnsConfig) -> Result<Self, ApnsError> {
        let der = PrivatePkcs8KeyDer::from_pem_slice(config.private_key.as_bytes())
            .map_err(|e| ApnsError::Key(e.to_string()))?;
        let key = EncodingKey::from_ec_der(der.secret_pkcs8_der());
        let mut tls = shared::runtime::net::tls().map_err(|e| ApnsError::Client(e.into()))?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .http2_prior_knowledge()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ApnsError::Client(e.into()))?;
        Ok(Self {
            http,
            config,
            key,
            token: Mutex::new(None),
        })
    }

    /// The provider token, made again after `TOKEN_REUSE` (or when APNs says it expired).
    fn provider_token(&self, fresh: bool) -> Result<String, SinkError> {
        let mut cached = self
            .token
            .lock()
            .map_err(|_| SinkError("APNs token lock poisoned".into()))?;
        if let Some((token, made)) = cached.as_ref()
            && !fresh
            && made.elapsed() < TOKEN_REUSE
        {
            return Ok(token.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.config.key_id.clone());
        let claims = Claims {
            iss: &self.config.team_id,
            iat: shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now()),
        };
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| SinkError(Box::new(e)))?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    async fn send(
        &self,
        activity: &LiveActivity,
        priority: u8,
        payload: &serde_json::Value,
        fresh: bool,
    ) -> Result<(u16, String), SinkError> {
        let base = if activity.sandbox {
            &self.config.sandbox_url
        } else {
            &self.config.production_url
        };
        let url = format!("{}/3/device/{}", base.trim_end_matches('/'), activity.token);
        let resp = self
            .http
            .post(url)
            .bearer_auth(self.provider_token(fresh)?)
            .header("apns-push-type", "liveactivity")
            .header(
                "apns-topic",
                format!("{}.push-type.liveactivity", self.config.topic),
            )
            .header("apns-priority", priority.to_string())
            .json(payload)
            .send()
            .await
            .map_err(|e| SinkError(Box::new(e)))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.unwrap_or_default();
        Ok((status, reason(&body)))
    }
}

/// APNs' `reason` from an error body (`{"reason": "Unregistered", ...}`).
fn reason(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["reason"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// What an APNs answer means for the token: sent, gone (410, or a token APNs does not know),
/// an expired provider token (make a new one and try again), or a failure to retry later.
#[derive(Debug, PartialEq)]
enum Verdict {
    Sent,
    Gone,
    Reauthenticate,
    Retry,
}

fn verdict(status: u16, reason: &str) -> Verdict {
    match (status, reason) {
        (200, _) => Verdict::Sent,
        (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Verdict::Gone,
        (403, "ExpiredProviderToken") => Verdict::Reauthenticate,
        _ => Verdict::Retry,
    }
}

impl LiveActivityPush for Apns {
    async fn push(
        &self,
        activity: &LiveActivity,
        priority: u8,
        payload: &serde_json::Value,
    ) -> Result<PushOutcome, SinkError> {
        let mut answer = self.send(activity, priority, payload, false).await?;
        if verdict(answer.0, &answer.1) == Verdict::Reauthenticate {
            answer = self.send(activity, priority, payload, true).await?;
        }
        match verdict(answer.0, &answer.1) {
            Verdict::Sent => Ok(PushOutcome::Sent),
            Verdict::Gone => Ok(PushOutcome::EndpointDisabled),
            _ => Err(SinkError(
                format!("APNs answered {} {}", answer.0, answer.1).into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_answers_table() {
        let cases = [
            (200, "", Verdict::Sent),
            (410, "Unregistered", Verdict::Gone),
            (400, "BadDeviceToken", Verdict::Gone),
            (400, "DeviceTokenNotForTopic", Verdict::Gone),
            (403, "ExpiredProviderToken", Verdict::Reauthenticate),
            (403, "InvalidProviderToken", Verdict::Retry),
            (400, "BadTopic", Verdict::Retry),
            (429, "TooManyRequests", Verdict::Retry),
            (503, "ServiceUnavailable", Verdict::Retry),
        ];
        for (status, why, want) in cases {
            assert_eq!(verdict(status, why), want, "{status} {why}");
        }
    }
}
