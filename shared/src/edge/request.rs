//! Helpers for API Gateway HTTP API (payload 2.0) requests handled through `lambda_http`.

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use std::collections::HashMap;

use crate::domain::error::ApiError;

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

/// `https://{domain}` of the API this request came in on (API Gateway's request context).
pub fn api_base(req: &Request) -> Option<String> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => {
            ctx.domain_name.as_ref().map(|d| format!("https://{d}"))
        }
        _ => None,
    }
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Adds headers to a built response; a value that is not a valid header is skipped.
pub fn add_headers(
    resp: &mut lambda_http::Response<lambda_http::Body>,
    headers: impl IntoIterator<Item = (&'static str, String)>,
) {
    for (name, value) in headers {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            resp.headers_mut().insert(name, v);
        }
    }
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
pub fn lambda_deadline(req: &Request) -> crate::runtime::deadline::Deadline {
    match req.lambda_context_ref() {
        Some(ctx) if ctx.deadline > 0 => {
            crate::runtime::deadline::deadline_from_epoch_ms(ctx.deadline)
        }
        _ => crate::runtime::deadline::Deadline::none(),
    }
}

/// Compact JSON with every object's keys sorted, whatever order the map keeps: serde_json's
/// `preserve_order` feature (which a dependency may switch on for the whole build) would
/// otherwise make the text follow the order the client sent.
pub fn canonical_json(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), canonical_json(v)))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical_json).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// A strong entity tag for a response body.
pub fn etag(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", &hex::encode(Sha256::digest(body))[..32])
}

/// Whether `If-None-Match` names this tag (weak comparison, as RFC 9110 asks for GET).
pub fn if_none_match_hits(if_none_match: Option<&str>, etag: &str) -> bool {
    let Some(list) = if_none_match else {
        return false;
    };
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ours = opaque(etag);
    list.split(',')
        .any(|t| t.trim() == "*" || opaque(t) == ours)
}

#[cfg(test)]
mod etag_tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let cases = [
            (
                r#"{"b":1,"a":{"d":[{"y":1,"x":2}],"c":"é\""}}"#,
                r#"{"a":{"c":"é\"","d":[{"x":2,"y":1}]},"b":1}"#,
            ),
            ("[3,1]", "[3,1]"),
            ("null", "null"),
        ];
        for (input, want) in cases {
            let value: serde_json::Value = serde_json::from_str(input).unwrap();
            assert_eq!(canonical_json(&value), want, "{input}");
        }
    }

    #[test]
    fn if_none_match_table() {
        let tag = etag(b"{}");
        let weak = format!("W/{tag}");
        let listed = format!("\"other\", {tag}");
        let cases: [(Option<&str>, bool); 7] = [
            (None, false),
            (Some(""), false),
            (Some("\"other\""), false),
            (Some(tag.as_str()), true),
            (Some(weak.as_str()), true),
            (Some(listed.as_str()), true),
            (Some("*"), true),
        ];
        for (header, want) in cases {
            assert_eq!(if_none_match_hits(header, &tag), want, "{header:?}");
        }
        assert_ne!(etag(b"{}"), etag(b"{ }"));
    }
}
