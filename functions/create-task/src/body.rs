//! The create body, read once at the edge into one typed request that every step reads: the
//! video's fields, how the prompt is given, and the request-level options. Nothing after
//! [`CreateRequest::read`] looks at the JSON again.

use lambda_http::Request;
use serde_json::Value;
use sha2::{Digest, Sha256};

use shared::domain::templates::{PromptParts, TemplateRequest, parse_parts, parse_request};
use shared::domain::validation::{CreateVideoBody, VideoSpec, validate};
use shared::edge::envelope::ApiError;
use shared::edge::request::{self, header};

use crate::group::MAX_VARIATIONS;
use crate::*;

/// How the request says what the video shows: one way only.
pub(crate) enum PromptFrom {
    /// `prompt` itself (or none, where the kind allows).
    Text,
    /// `prompt_parts`, composed by the one frame.
    Parts(PromptParts),
    /// `template`: a published version filled with the caller's fields.
    Template(TemplateRequest),
}

/// `POST /v1/videos` (and estimate) as sent.
pub(crate) struct CreateRequest {
    /// The body as sent: its hash makes a resend the same request.
    pub(crate) raw: Value,
    /// The video's own fields; `prompt` is filled in from parts or a template.
    pub(crate) video: CreateVideoBody,
    pub(crate) prompt_from: PromptFrom,
    /// How many tasks to make (`variations`; absent or null is 1).
    pub(crate) variations: u32,
    /// Ask the provider even when the cache has the result (absent or null is false).
    pub(crate) fresh: bool,
}

/// The body's fields that are about the request, not the video.
const REQUEST_FIELDS: [&str; 4] = ["variations", "fresh", "prompt_parts", "template"];

fn given<'a>(raw: &'a Value, name: &str) -> Option<&'a Value> {
    raw.get(name).filter(|v| !v.is_null())
}

impl CreateRequest {
    pub(crate) fn read(raw: Value) -> Result<Self, ApiError> {
        let variations = variations(&raw)?;
        let fresh = fresh(&raw)?;
        let prompt_from = prompt_from(&raw)?;
        let mut video = raw.clone();
        if let Some(map) = video.as_object_mut() {
            for name in REQUEST_FIELDS {
                map.remove(name);
            }
        }
        let video: CreateVideoBody = serde_json::from_value(video)
            .map_err(|e| ApiError::malformed(format!("invalid request body: {e}")))?;
        Ok(Self {
            raw,
            video,
            prompt_from,
            variations,
            fresh,
        })
    }
}

fn variations(raw: &Value) -> Result<u32, ApiError> {
    let Some(v) = given(raw, "variations") else {
        return Ok(1);
    };
    v.as_u64()
        .filter(|n| (1..=MAX_VARIATIONS).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| {
            ApiError::new(
                422,
                "invalid_variations",
                format!("variations must be 1 to {MAX_VARIATIONS}"),
            )
            .with_field("variations")
        })
}

fn fresh(raw: &Value) -> Result<bool, ApiError> {
    match given(raw, "fresh") {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(
            ApiError::new(422, "invalid_request", "fresh must be true or false")
                .with_field("fresh"),
        ),
    }
}

fn prompt_from(raw: &Value) -> Result<PromptFrom, ApiError> {
    let ways: Vec<&str> = ["prompt", "prompt_parts", "template"]
        .into_iter()
        .filter(|w| given(raw, w).is_some())
        .collect();
    if let [_, second, ..] = ways.as_slice() {
        return Err(ApiError::new(
            422,
            "conflicting_prompt",
            "give one of prompt, prompt_parts and template",
        )
        .with_field(*second));
    }
    if let Some(parts) = given(raw, "prompt_parts") {
        return Ok(PromptFrom::Parts(parse_parts(parts)?));
    }
    match given(raw, "template") {
        Some(t) => Ok(PromptFrom::Template(parse_request(t)?)),
        None => Ok(PromptFrom::Text),
    }
}

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
pub(crate) fn request_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(
        shared::edge::request::canonical_json(body).as_bytes(),
    ))
}

/// A valid request: as sent, what it asks for, and the template version that made its prompt.
pub(crate) struct Parsed {
    pub(crate) request: CreateRequest,
    pub(crate) spec: VideoSpec,
    pub(crate) template: Option<(
        shared::domain::templates::VideoTemplate,
        shared::domain::task::TemplateUse,
    )>,
    /// The caller's earlier video the request works on (`source`).
    pub(crate) source: Option<crate::sources::Source>,
    /// The audio the request speaks (`voice`).
    pub(crate) voice: Option<crate::sources::Source>,
}

/// Read the body, compose its prompt, validate what it asks for and read its source video.
pub(crate) async fn parse<A: Ports>(
    app: &A,
    req: &Request,
    identity: &shared::edge::auth::Identity,
) -> Result<Parsed, ApiError> {
    let mut request = CreateRequest::read(request::json_body(req)?)?;
    let template = templates::compose_prompt(app.store(), app.templates(), &mut request).await?;
    let mut spec = validate(&request.video)?;
    let source = crate::sources::read_source(app, &identity.user_id, &mut spec).await?;
    let voice = crate::sources::read_voice(app, &identity.user_id, &mut spec).await?;
    Ok(Parsed {
        request,
        spec,
        template,
        source,
        voice,
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
