//! Kling's authentication (`docs/providers.md` §Auth): an HS256 JWT signed with the SecretKey whose `iss`
//! is the AccessKey; 1001 missing header, 1002 bad signature, format or issuer, 1003 before
//! `nbf`, 1004 at or after `exp`; all HTTP 401. Optionally a static API key (gateway mode).

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    exp: i64,
    nbf: i64,
}

/// A Kling business code and message for an authentication failure.
pub type AuthFailure = (i64, &'static str);

pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub api_key: Option<&'a str>,
}

/// Check the Authorization header at `now` (Unix seconds, the simulator's clock).
pub fn check(header: Option<&str>, creds: &Credentials<'_>, now: i64) -> Result<(), AuthFailure> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Err((1001, "Authorization is empty"));
    };
    let Some(token) = header.strip_prefix("Bearer ") else {
        return Err((1002, "Authorization is invalid"));
    };
    if creds.api_key.is_some_and(|k| k == token) {
        return Ok(());
    }
    // Time is checked below against the simulator's own clock.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(creds.secret_key.as_bytes()),
        &validation,
    )
    .map_err(|_| (1002, "Authorization is invalid"))?
    .claims;
    if claims.iss != creds.access_key {
        return Err((1002, "Authorization is invalid"));
    }
    if now < claims.nbf {
        return Err((1003, "Authorization is not yet valid"));
    }
    if now >= claims.exp {
        return Err((1004, "Authorization has expired"));
    }
    Ok(())
}

/// The 2026 standard API: `Bearer <API key>` only (`docs/providers.md` §Standard API).
pub fn check_api_key(header: Option<&str>, api_key: Option<&str>) -> Result<(), AuthFailure> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Err((1001, "Authorization is empty"));
    };
    match (header.strip_prefix("Bearer "), api_key) {
        (Some(token), Some(key)) if token == key => Ok(()),
        _ => Err((1002, "Authorization is invalid")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn token(iss: &str, key: &str, nbf: i64, exp: i64) -> String {
        let claims = serde_json::json!({"iss": iss, "nbf": nbf, "exp": exp});
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    }

    #[test]
    fn codes_for_every_failure() {
        let creds = Credentials {
            access_key: "AK",
            secret_key: "SK",
            api_key: Some("static-key"),
        };
        let now = 1_000_000;
        let good = token("AK", "SK", now - 5, now + 1800);
        let cases: Vec<(Option<String>, Result<(), i64>)> = vec![
            (None, Err(1001)),
            (Some(String::new()), Err(1001)),
            (Some(format!("Token {good}")), Err(1002)),
            (
                Some(format!(
                    "Bearer {}",
                    token("AK", "wrong", now - 5, now + 1800)
                )),
                Err(1002),
            ),
            (
                Some(format!("Bearer {}", token("SK", "SK", now - 5, now + 1800))),
                Err(1002),
            ),
            (Some("Bearer garbage".into()), Err(1002)),
            (
                Some(format!(
                    "Bearer {}",
                    token("AK", "SK", now + 10, now + 1800)
                )),
                Err(1003),
            ),
            (
                Some(format!("Bearer {}", token("AK", "SK", now - 1900, now))),
                Err(1004),
            ),
            (Some(format!("Bearer {good}")), Ok(())),
            (Some("Bearer static-key".into()), Ok(())),
        ];
        for (header, want) in cases {
            assert_eq!(
                check(header.as_deref(), &creds, now).map_err(|(c, _)| c),
                want,
                "{header:?}"
            );
        }
    }
}
