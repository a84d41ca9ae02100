//! Who is calling: the `sub` claim from the API Gateway JWT authorizer in AWS, or, only when
//! `AUTH_MODE=local`, an HS256 bearer token signed with a local secret (the devstack mints them).

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::edge::envelope::ApiError;
use crate::runtime::config::{ConfigError, MIN_SECRET_LEN, Source};

/// Issuer of local development tokens.
pub const LOCAL_ISSUER: &str = "kling-lambda-local";

#[derive(Clone)]
pub enum AuthMode {
    /// Trust only claims that API Gateway's JWT authorizer verified.
    Authorizer,
    /// Verify HS256 bearer tokens with this secret (local stack only).
    Local { secret: Vec<u8> },
}

impl std::fmt::Debug for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthMode::Authorizer => f.write_str("Authorizer"),
            AuthMode::Local { .. } => f.write_str("Local { secret: <redacted> }"),
        }
    }
}

impl AuthMode {
    /// `AUTH_MODE` is `authorizer` (default) or `local`; local requires `LOCAL_AUTH_SECRET`,
    /// so no configuration ever accepts unsigned identity.
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        match src.optional("AUTH_MODE").as_deref().unwrap_or("authorizer") {
            "authorizer" => Ok(AuthMode::Authorizer),
            "local" => {
                let secret = src.required("LOCAL_AUTH_SECRET")?;
                if secret.len() < MIN_SECRET_LEN {
                    return Err(ConfigError::Invalid {
                        name: "LOCAL_AUTH_SECRET",
                        reason: format!("must be at least {MIN_SECRET_LEN} characters"),
                    });
                }
                Ok(AuthMode::Local {
                    secret: secret.into_bytes(),
                })
            }
            other => Err(ConfigError::Invalid {
                name: "AUTH_MODE",
                reason: format!("'{other}' is not one of authorizer, local"),
            }),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: crate::domain::task::UserId,
    /// Plan named by the token's `plan:*` Cognito group, if any (never a user-writable claim).
    pub plan_hint: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct LocalClaims {
    sub: String,
    iss: String,
    exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    plan: Option<String>,
}

/// Largest user id accepted: it becomes part of keys and S3 paths.
const MAX_USER_ID_LEN: usize = 128;

fn valid_user_id(sub: &str) -> bool {
    !sub.is_empty()
        && sub.len() <= MAX_USER_ID_LEN
        && sub
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

pub fn identify(
    mode: &AuthMode,
    authorizer_claims: Option<&HashMap<String, String>>,
    authorization_header: Option<&str>,
) -> Result<Identity, ApiError> {
    let (sub, plan_hint) = match (mode, authorizer_claims) {
        // Claims that reached the function were put there by API Gateway (or, locally, by a
        // sample event): trusted in both modes, since no client can set them.
        (_, Some(claims)) => claims_identity(claims)?,
        (AuthMode::Authorizer, None) => {
            return Err(ApiError::unauthenticated(
                "no verified identity on the request",
            ));
        }
        (AuthMode::Local { secret }, None) => local_identity(secret, authorization_header)?,
    };
    if !valid_user_id(&sub) {
        return Err(ApiError::unauthenticated(
            "the token's subject is not a valid user id",
        ));
    }
    Ok(Identity {
        user_id: sub.into(),
        plan_hint,
    })
}

fn claims_identity(claims: &HashMap<String, String>) -> Result<(String, Option<String>), ApiError> {
    let sub = claims
        .get("sub")
        .cloned()
        .ok_or_else(|| ApiError::unauthenticated("the token has no sub claim"))?;
    // Only an administrator puts a user in a group; a custom attribute such as `custom:plan` is
    // writable by the user unless every app client excludes it, so it is never read.
    let plan = claims.get("cognito:groups").and_then(|groups| {
        groups
            .trim_matches(|c| c == '[' || c == ']')
            .split([',', ' '])
            .find_map(|g| g.strip_prefix("plan:").map(str::to_string))
    });
    Ok((sub, plan))
}

fn local_identity(
    secret: &[u8],
    header: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let header = header.ok_or_else(|| ApiError::unauthenticated("missing Authorization header"))?;
    let token = header
        .strip_prefix("Bearer ")
        .ok_or_else(|| ApiError::unauthenticated("Authorization must be 'Bearer <token>'"))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[LOCAL_ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let data =
        jsonwebtoken::decode::<LocalClaims>(token, &DecodingKey::from_secret(secret), &validation)
            .map_err(|e| ApiError::unauthenticated(format!("invalid bearer token: {e}")))?;
    Ok((data.claims.sub, data.claims.plan))
}

#[derive(Debug, thiserror::Error)]
#[error("could not sign a local token: {0}")]
pub struct MintError(#[from] jsonwebtoken::errors::Error);

/// Mint a local development token (devstack, tests).
pub fn mint_local_token(
    secret: &[u8],
    user_id: &str,
    plan: Option<&str>,
    ttl_secs: u64,
) -> Result<String, MintError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let claims = LocalClaims {
        sub: user_id.to_string(),
        iss: LOCAL_ISSUER.to_string(),
        exp: now + ttl_secs,
        plan: plan.map(str::to_string),
    };
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"local-test-secret-0123456789";

    fn local() -> AuthMode {
        AuthMode::Local {
            secret: SECRET.to_vec(),
        }
    }

    #[test]
    fn authorizer_mode_reads_sub_and_plan() {
        let claims = HashMap::from([
            ("sub".to_string(), "user-1".to_string()),
            (
                "cognito:groups".to_string(),
                "[plan:pro admins]".to_string(),
            ),
        ]);
        let id = identify(&AuthMode::Authorizer, Some(&claims), None).unwrap();
        assert_eq!(id.user_id, "user-1");
        assert_eq!(id.plan_hint.as_deref(), Some("pro"));
    }

    /// A user can write their own custom attributes: `custom:plan` names no plan, whatever it
    /// says; only a `plan:*` group (set by an administrator) does.
    #[test]
    fn a_user_written_plan_claim_is_ignored() {
        let cases = [
            (vec![("custom:plan", "pro")], None),
            (
                vec![("custom:plan", "pro"), ("cognito:groups", "[plan:free]")],
                Some("free"),
            ),
            (vec![("cognito:groups", "[admins, plan:pro]")], Some("pro")),
            (vec![("cognito:groups", "[pro]")], None),
        ];
        for (extra, want) in cases {
            let mut claims = HashMap::from([("sub".to_string(), "user-1".to_string())]);
            claims.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            let id = identify(&AuthMode::Authorizer, Some(&claims), None).unwrap();
            assert_eq!(id.plan_hint.as_deref(), want, "{extra:?}");
        }
    }

    #[test]
    fn authorizer_mode_ignores_bearer_tokens() {
        let token = mint_local_token(SECRET, "u", None, 60).unwrap();
        let err = identify(
            &AuthMode::Authorizer,
            None,
            Some(&format!("Bearer {token}")),
        )
        .unwrap_err();
        assert_eq!(err.status, 401);
    }

    #[test]
    fn local_tokens() {
        let good = mint_local_token(SECRET, "alice", Some("free"), 60).unwrap();
        let id = identify(&local(), None, Some(&format!("Bearer {good}"))).unwrap();
        assert_eq!(
            (id.user_id.as_str(), id.plan_hint.as_deref()),
            ("alice", Some("free"))
        );

        let forged = mint_local_token(b"another-secret-0123456789", "alice", None, 60).unwrap();
        let bad_path = mint_local_token(SECRET, "../etc", None, 60).unwrap();
        let rejected = [
            None,
            Some("Basic abc".to_string()),
            Some(format!("Bearer {forged}")),
            Some(format!("Bearer {bad_path}")),
            Some("Bearer not.a.jwt".to_string()),
        ];
        for header in rejected {
            let err = identify(&local(), None, header.as_deref()).unwrap_err();
            assert_eq!(
                (err.status, err.code),
                (401, "unauthenticated"),
                "{header:?}"
            );
        }
    }

    #[test]
    fn mode_from_config() {
        let default: HashMap<&str, &str> = HashMap::new();
        assert!(matches!(
            AuthMode::from_source(&default),
            Ok(AuthMode::Authorizer)
        ));
        let no_secret = HashMap::from([("AUTH_MODE", "local")]);
        assert_eq!(
            AuthMode::from_source(&no_secret).unwrap_err(),
            ConfigError::Missing("LOCAL_AUTH_SECRET")
        );
        let unknown = HashMap::from([("AUTH_MODE", "none")]);
        assert!(AuthMode::from_source(&unknown).is_err());
    }
}
