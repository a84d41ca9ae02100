//! Helpers for API Gateway HTTP API (payload 2.0) requests handled through `lambda_http`.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use std::collections::HashMap;

use crate::envelope::ApiError;

/// Largest request body any endpoint reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

pub fn request_id(req: &Request) -> String {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
        _ => None,
    }
    .unwrap_or_else(|| {
        req.lambda_context_ref()
            .map(|c| c.request_id.clone())
            .unwrap_or_default()
    })
}

/// JWT claims placed by the API Gateway authorizer, if any.
pub fn authorizer_claims(req: &Request) -> Option<&HashMap<String, String>> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims),
        _ => None,
    }
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Path segments without empty ones: `/v1/videos/abc` → `["v1", "videos", "abc"]`.
pub fn segments(req: &Request) -> Vec<&str> {
    req.uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// The body as bytes, refusing anything over `limit`.
pub fn body_bytes(req: &Request, limit: usize) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = match req.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    };
    if bytes.len() > limit {
        return Err(ApiError::too_large(limit));
    }
    Ok(bytes)
}

/// Parse a JSON body; malformed JSON and unknown fields are a 400 that says where.
pub fn json_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let bytes = body_bytes(req, MAX_BODY_BYTES)?;
    if bytes.is_empty() {
        return Err(ApiError::malformed("request body must be a JSON object"));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::malformed(format!("invalid JSON body: {e}")))
}

/// The time this invocation has left, less a margin to answer in, as a Kling call deadline.
pub fn lambda_deadline(req: &Request) -> crate::kling::Deadline {
    match req.lambda_context_ref() {
        Some(ctx) if ctx.deadline > 0 => crate::kling::deadline_from_epoch_ms(ctx.deadline),
        _ => crate::kling::Deadline::none(),
    }
}
