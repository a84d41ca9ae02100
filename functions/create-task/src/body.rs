//! The create body, read once at the edge: the Idempotency-Key, the request's hash, and the
//! parsed request every step reads.

use lambda_http::Request;
use sha2::{Digest, Sha256};

use shared::domain::validation::{CreateVideoBody, VideoSpec, validate};
use shared::edge::envelope::ApiError;
use shared::edge::request::{self, header};

use crate::*;

pub(crate) fn idempotency_key(req: &Request) -> Result<String, ApiError> {
    let key = header(req, "idempotency-key").ok_or_else(|| {
        ApiError::new(
            400,
            "idempotency_key_required",
            "the Idempotency-Key header is required",
        )
    })?;
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(ApiError::new(
            400,
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(key.to_string())
}

/// Hash of the body as parsed, so formatting and key order do not make two requests differ.
pub(crate) fn request_hash(body: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// A valid request: the body as sent, what it asks for, and the template that made its prompt.
pub(crate) struct Parsed {
    pub(crate) raw: serde_json::Value,
    pub(crate) spec: VideoSpec,
    pub(crate) template: Option<(
        shared::domain::templates::VideoTemplate,
        shared::domain::task::TemplateUse,
    )>,
    /// How many tasks to make (`variations`).
    pub(crate) variations: u32,
    /// Ask the provider even when the cache has the result.
    pub(crate) fresh: bool,
}

pub(crate) async fn parse<A: Ports>(app: &A, req: &Request) -> Result<Parsed, ApiError> {
    let raw: serde_json::Value = request::json_body(req)?;
    let variations = group::parse_variations(&raw)?;
    let fresh = cache::parse_fresh(&raw)?;
    let composed = templates::compose_prompt(app.store(), app.templates(), &raw).await?;
    let mut body = composed.body;
    if let Some(map) = body.as_object_mut() {
        map.remove("variations");
        map.remove("fresh");
    }
    let body: CreateVideoBody = serde_json::from_value(body)
        .map_err(|e| ApiError::malformed(format!("invalid request body: {e}")))?;
    let spec = validate(&body)?;
    Ok(Parsed {
        raw,
        spec,
        template: composed.template,
        variations,
        fresh,
    })
}

/// A template holds for its plans, qualities and durations only.
pub(crate) fn check_template(parsed: &Parsed, plan: &str) -> Result<(), ApiError> {
    let Some((t, _)) = &parsed.template else {
        return Ok(());
    };
    templates::check_plan(t, plan)?;
    shared::domain::templates::check_settings(t, parsed.spec.quality, parsed.spec.duration)
}
