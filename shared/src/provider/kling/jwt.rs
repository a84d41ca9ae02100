//! Kling's AK/SK JWT (`docs/providers.md` §Auth): HS256, `iss` = AccessKey, `exp` = now + 1800,
//! `nbf` = now − 5, signed with the SecretKey. Tokens are cached and re-minted well before
//! expiry. A 1003 (not yet valid) means Kling's clock is behind ours: from then on `nbf` goes
//! back 300 s, since a token minted on the same clock would be refused again (`docs/providers.md` §Auth).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

pub const TOKEN_TTL_SECS: u64 = 1800;
const NBF_SKEW_SECS: u64 = 5;
/// `nbf` once Kling said a token was not yet valid.
pub const NBF_SKEW_AFTER_1003_SECS: u64 = 300;
/// Re-mint when less than this much validity is left, so a token never expires in flight.
const REMINT_MARGIN_SECS: u64 = 300;

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    exp: u64,
    nbf: u64,
}

pub struct JwtMinter {
    access_key: String,
    key: EncodingKey,
    cached: Mutex<Option<(String, u64)>>,
    nbf_skew: AtomicU64,
}

impl JwtMinter {
    pub fn new(access_key: &str, secret_key: &str) -> Self {
        Self {
            access_key: access_key.to_string(),
            key: EncodingKey::from_secret(secret_key.as_bytes()),
            cached: Mutex::new(None),
            nbf_skew: AtomicU64::new(NBF_SKEW_SECS),
        }
    }

    /// A valid token at `now` (Unix seconds), from the cache when it has enough life left.
    pub fn token_at(&self, now: u64) -> Result<String, jsonwebtoken::errors::Error> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((token, exp)) = cached.as_ref()
            && *exp > now + REMINT_MARGIN_SECS
        {
            return Ok(token.clone());
        }
        let exp = now + TOKEN_TTL_SECS;
        let claims = Claims {
            iss: &self.access_key,
            exp,
            nbf: now.saturating_sub(self.nbf_skew.load(Ordering::Relaxed)),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_string());
        let token = jsonwebtoken::encode(&header, &claims, &self.key)?;
        *cached = Some((token.clone(), exp));
        Ok(token)
    }

    /// Drop the cached token (after Kling answered 1004).
    pub fn invalidate(&self) {
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Kling's clock is behind ours (it answered 1003): mint with `nbf` further back.
    pub fn clock_skewed(&self) {
        self.nbf_skew
            .store(NBF_SKEW_AFTER_1003_SECS, Ordering::Relaxed);
        self.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    #[derive(serde::Deserialize)]
    struct Decoded {
        iss: String,
        exp: u64,
        nbf: u64,
    }

    #[test]
    fn claims_and_caching() {
        let m = JwtMinter::new("AK", "SK-secret");
        let t0 = 1_700_000_000;
        let token = m.token_at(t0).unwrap();
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.set_required_spec_claims(&["exp", "nbf", "iss"]);
        let d =
            jsonwebtoken::decode::<Decoded>(&token, &DecodingKey::from_secret(b"SK-secret"), &v)
                .unwrap();
        assert_eq!(
            (d.claims.iss.as_str(), d.claims.exp, d.claims.nbf),
            ("AK", t0 + 1800, t0 - 5)
        );
        assert_eq!(d.header.typ.as_deref(), Some("JWT"));

        assert_eq!(
            m.token_at(t0 + 1000).unwrap(),
            token,
            "reused while far from expiry"
        );
        assert_ne!(
            m.token_at(t0 + 1600).unwrap(),
            token,
            "re-minted near expiry"
        );
        let current = m.token_at(t0 + 1601).unwrap();
        m.invalidate();
        assert_ne!(m.token_at(t0 + 1602).unwrap(), current);

        m.clock_skewed();
        let skewed = m.token_at(t0 + 1603).unwrap();
        let d =
            jsonwebtoken::decode::<Decoded>(&skewed, &DecodingKey::from_secret(b"SK-secret"), &v)
                .unwrap();
        assert_eq!(
            d.claims.nbf,
            t0 + 1603 - 300,
            "nbf further back after a 1003"
        );
    }
}
