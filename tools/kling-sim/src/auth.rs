//! Kling's JWT check (kling-api.md §1): 1001 missing header, 1002 bad signature, format or
//! issuer, 1003 before `nbf`, 1004 at or after `exp`; all HTTP 401.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Claims {
    #[allow(dead_code)]
    iss: String,
}

/// A Kling business code and message for an authentication failure.
pub type AuthFailure = (i64, &'static str);

pub fn check(header: Option<&str>, access_key: &str, secret_key: &str) -> Result<(), AuthFailure> {
    let Some(header) = header.filter(|h| !h.is_empty()) else {
        return Err((1001, "Authorization is empty"));
    };
    let Some(token) = header.strip_prefix("Bearer ") else {
        return Err((1002, "Authorization is invalid"));
    };
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.validate_nbf = true;
    validation.set_issuer(&[access_key]);
    validation.set_required_spec_claims(&["iss", "exp", "nbf"]);
    match jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret_key.as_bytes()),
        &validation,
    ) {
        Ok(_) => Ok(()),
        Err(e) => match e.kind() {
            ErrorKind::ImmatureSignature => Err((1003, "Token not yet valid")),
            ErrorKind::ExpiredSignature => Err((1004, "Token expired")),
            _ => Err((1002, "Authorization is invalid")),
        },
    }
}
