//! fal's webhook signatures (`docs/providers.md` §fal): Ed25519 over
//! `request_id\nuser_id\ntimestamp\nhex(sha256(body))`, hex in `X-Fal-Webhook-Signature`,
//! checked against every key of fal's JWKS. The timestamp must be within ±300 s. Keys are
//! cached for at most 24 h and fetched again when no cached key verifies (a rotation), at most
//! once a minute.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

pub const TOLERANCE_SECS: i64 = 300;
const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
const MIN_REFETCH: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("fal signature headers missing")]
    Missing,
    #[error("fal webhook timestamp outside ±300 s")]
    Stale,
    #[error("no fal key verifies the signature")]
    BadSignature,
    #[error("fal's keys could not be read: {0}")]
    Keys(String),
    #[error("fal signed this webhook for another account")]
    OtherAccount,
}

/// The four headers fal signs with.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub request_id: &'a str,
    pub user_id: &'a str,
    pub timestamp: &'a str,
    pub signature: &'a str,
}

impl<'a> Signed<'a> {
    pub fn from_headers(h: &'a http::HeaderMap) -> Result<Self, Rejected> {
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .ok_or(Rejected::Missing)
        };
        Ok(Self {
            request_id: get("x-fal-webhook-request-id")?,
            user_id: get("x-fal-webhook-user-id")?,
            timestamp: get("x-fal-webhook-timestamp")?,
            signature: get("x-fal-webhook-signature")?,
        })
    }
}

/// The Ed25519 keys of a JWKS document (`kty: OKP`, `crv: Ed25519`); other keys are skipped.
pub fn parse_jwks(raw: &[u8]) -> Result<Vec<VerifyingKey>, Rejected> {
    let doc: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| Rejected::Keys(e.to_string()))?;
    let keys = doc["keys"]
        .as_array()
        .ok_or_else(|| Rejected::Keys("no keys".into()))?;
    Ok(keys
        .iter()
        .filter(|k| k["kty"] == "OKP" && k["crv"] == "Ed25519")
        .filter_map(|k| URL_SAFE_NO_PAD.decode(k["x"].as_str()?).ok())
        .filter_map(|x| VerifyingKey::from_bytes(&x.try_into().ok()?).ok())
        .collect())
}

/// Whether one of `keys` signed `body` as `signed` says, at `now` (Unix seconds).
pub fn verify(
    keys: &[VerifyingKey],
    signed: &Signed<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), Rejected> {
    let ts: i64 = signed.timestamp.parse().map_err(|_| Rejected::Stale)?;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(Rejected::Stale);
    }
    let raw = hex::decode(signed.signature).map_err(|_| Rejected::BadSignature)?;
    let signature = Signature::from_slice(&raw).map_err(|_| Rejected::BadSignature)?;
    let message = format!(
        "{}\n{}\n{}\n{}",
        signed.request_id,
        signed.user_id,
        signed.timestamp,
        hex::encode(Sha256::digest(body))
    );
    match keys
        .iter()
        .any(|k| k.verify_strict(message.as_bytes(), &signature).is_ok())
    {
        true => Ok(()),
        false => Err(Rejected::BadSignature),
    }
}

/// fal's keys: fetched from a URL and cached, or fixed (tests).
pub struct FalKeys {
    url: Option<String>,
    /// Built on the first fetch, not at cold start (most webhooks verify from the cache).
    http: std::sync::OnceLock<reqwest::Client>,
    cached: Mutex<Option<(Vec<VerifyingKey>, Instant)>>,
    min_refetch: Duration,
}

impl FalKeys {
    pub fn from_url(url: &str) -> Self {
        Self {
            url: Some(url.to_string()),
            http: std::sync::OnceLock::new(),
            cached: Mutex::new(None),
            min_refetch: MIN_REFETCH,
        }
    }

    /// How soon an unverifiable webhook may fetch the keys again (a minute by default, so
    /// forged webhooks cannot make us hammer fal).
    pub fn with_min_refetch(mut self, every: Duration) -> Self {
        self.min_refetch = every;
        self
    }

    pub fn fixed(keys: Vec<VerifyingKey>) -> Self {
        Self {
            url: None,
            http: std::sync::OnceLock::new(),
            cached: Mutex::new(Some((keys, Instant::now()))),
            min_refetch: MIN_REFETCH,
        }
    }

    fn cache(&self) -> Option<(Vec<VerifyingKey>, Instant)> {
        self.cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    async fn fetch(&self, url: &str) -> Result<Vec<VerifyingKey>, Rejected> {
        let http = match self.http.get() {
            Some(http) => http,
            None => {
                // The keys come from the configured URL only: a redirect could hand us
                // anyone's keys.
                let built = crate::runtime::net::builder()
                    .map_err(|e| Rejected::Keys(e.to_string()))?
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| Rejected::Keys(e.to_string()))?;
                self.http.get_or_init(|| built)
            }
        };
        let resp = http.get(url).timeout(Duration::from_secs(5)).send().await;
        let body = resp
            .and_then(|r| r.error_for_status())
            .map_err(|e| Rejected::Keys(e.to_string()))?;
        let keys = parse_jwks(
            &body
                .bytes()
                .await
                .map_err(|e| Rejected::Keys(e.to_string()))?,
        )?;
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// Check a webhook: cached keys first, fetched again when none verifies (or too old).
    pub async fn check(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(), Rejected> {
        let signed = Signed::from_headers(headers)?;
        let cached = self.cache();
        let fresh = cached.as_ref().filter(|(_, at)| at.elapsed() < MAX_AGE);
        let first = match fresh {
            Some((keys, _)) => verify(keys, &signed, body, now),
            None => Err(Rejected::BadSignature),
        };
        let refetch_allowed = cached
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= self.min_refetch || fresh.is_none());
        match (first, &self.url) {
            (Err(Rejected::BadSignature), Some(url)) if refetch_allowed => {
                verify(&self.fetch(url).await?, &signed, body, now)
            }
            (outcome, _) => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn signed_by(key: &SigningKey, ts: i64, body: &[u8]) -> String {
        let msg = format!("req-1\nuser-1\n{ts}\n{}", hex::encode(Sha256::digest(body)));
        hex::encode(key.sign(msg.as_bytes()).to_bytes())
    }

    #[test]
    fn signatures_table() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let body = br#"{"request_id":"req-1","status":"OK"}"#;
        let now = 1_800_000_000;
        let good = signed_by(&key, now, body);
        let keys = [other.verifying_key(), key.verifying_key()];
        let at = |ts: i64, sig: &str, body: &[u8], keys: &[VerifyingKey]| {
            let ts = ts.to_string();
            let s = Signed {
                request_id: "req-1",
                user_id: "user-1",
                timestamp: &ts,
                signature: sig,
            };
            verify(keys, &s, body, now)
        };
        assert_eq!(at(now, &good, body, &keys), Ok(()), "any key of the set");
        assert_eq!(
            at(now, &good, b"{}", &keys),
            Err(Rejected::BadSignature),
            "another body"
        );
        assert_eq!(
            at(now, &good, body, &keys[..1]),
            Err(Rejected::BadSignature),
            "wrong key"
        );
        let old = signed_by(&key, now - 301, body);
        assert_eq!(at(now - 301, &old, body, &keys), Err(Rejected::Stale));
        assert_eq!(at(now, "zz", body, &keys), Err(Rejected::BadSignature));
        let jwks = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes())}, {"kty": "RSA", "n": "x"}]});
        assert_eq!(
            parse_jwks(jwks.to_string().as_bytes()),
            Ok(vec![key.verifying_key()])
        );
    }
}
