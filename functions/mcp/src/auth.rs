//! The MCP authorization flow (MCP authorization spec, RFC 9728, RFC 6750): a request without a
//! valid bearer token is answered 401 with `WWW-Authenticate: Bearer resource_metadata="…"`, and
//! the protected resource metadata names the authorization server (the Cognito user pool), so
//! an agent host can find where to sign in. A token is checked by the API itself (`GET /v1/me`
//! with the caller's header): the same authorizer every tool call meets, and no JWT code here.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use serde_json::{Value, json};

use crate::{ApiCall, Backend, to_request};

/// Where the metadata is served: the well-known path, and the same with the resource's path
/// (clients try that one first).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

pub type HttpResponse = http::Response<BoxBody<Bytes, Infallible>>;

pub fn is_metadata(path: &str) -> bool {
    path.strip_prefix(METADATA_PATH)
        .is_some_and(|rest| rest.is_empty() || rest == "/mcp")
}

/// The request id API Gateway gave the request (empty when there is none).
pub fn request_id(parts: &http::request::Parts) -> String {
    match parts
        .extensions
        .get::<lambda_http::request::RequestContext>()
    {
        Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => {
            ctx.request_id.clone().unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// The API's public origin: the configured one, else the domain API Gateway saw, else the Host.
pub fn origin(parts: &http::request::Parts, configured: Option<&str>) -> String {
    if let Some(base) = configured {
        return base.to_string();
    }
    let context = parts
        .extensions
        .get::<lambda_http::request::RequestContext>();
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) = context
        && let Some(domain) = &ctx.domain_name
    {
        return format!("https://{domain}");
    }
    let host = parts.headers.get(http::header::HOST);
    let host = host.and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("https://{host}")
}

/// The protected resource metadata (RFC 9728 §2) of the MCP endpoint.
pub fn metadata(origin: &str, authorization_server: Option<&str>) -> Value {
    json!({
        "resource": format!("{origin}/mcp"),
        "authorization_servers": [authorization_server.unwrap_or(origin)],
        "bearer_methods_supported": ["header"],
        "resource_name": "kling-lambda video generation",
    })
}

/// What the caller's credentials are worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No bearer token at all.
    Missing,
    /// A token the API's authorizer refuses.
    Invalid,
}

/// Asks the API whether the caller's token is good. Any answer but 401 lets the request on:
/// the tool calls meet the same check, and an API that is down is the tools' error to report.
pub async fn verdict<B: Backend>(backend: &B, parts: &http::request::Parts) -> Verdict {
    let bearer = parts
        .headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if !bearer.is_some_and(|h| h.starts_with("Bearer ") && h.len() > "Bearer ".len()) {
        return Verdict::Missing;
    }
    let me = ApiCall {
        method: http::Method::GET,
        path: "/v1/me".into(),
        body: None,
        key: None,
    };
    let Ok(req) = to_request(me, Some(parts)) else {
        return Verdict::Allowed;
    };
    match backend.call(req).await.status() {
        http::StatusCode::UNAUTHORIZED => Verdict::Invalid,
        _ => Verdict::Allowed,
    }
}

pub fn json_response(status: u16, body: &Value) -> HttpResponse {
    let body = Full::new(Bytes::from(body.to_string())).boxed();
    let mut resp = http::Response::new(body);
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or_default();
    resp.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// 401 with the challenge that points at the metadata (`error="invalid_token"` when a token was
/// sent and refused, none when there was no token, per RFC 6750 §3.1).
pub fn challenge(origin: &str, verdict: Verdict, request_id: &str) -> HttpResponse {
    let mut value = format!("Bearer resource_metadata=\"{origin}{METADATA_PATH}/mcp\"");
    if verdict == Verdict::Invalid {
        value.push_str(", error=\"invalid_token\"");
    }
    let err = shared::edge::envelope::ApiError::unauthenticated(
        "sign in: this MCP server takes a bearer token from the authorization server its metadata names",
    );
    let body: Value = serde_json::from_str(&shared::edge::envelope::error_json(&err, request_id))
        .unwrap_or_else(|_| json!({"error": {"code": "unauthenticated"}}));
    let mut resp = json_response(401, &body);
    if let Ok(v) = http::HeaderValue::from_str(&value) {
        resp.headers_mut().insert(WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_paths_and_challenges() {
        let cases = [
            ("/.well-known/oauth-protected-resource", true),
            ("/.well-known/oauth-protected-resource/mcp", true),
            ("/.well-known/oauth-protected-resource/other", false),
            ("/mcp", false),
        ];
        for (path, want) in cases {
            assert_eq!(is_metadata(path), want, "{path}");
        }
        let missing = challenge("https://api.test", Verdict::Missing, "r-1");
        assert_eq!(
            missing.headers()[WWW_AUTHENTICATE],
            "Bearer resource_metadata=\"https://api.test/.well-known/oauth-protected-resource/mcp\""
        );
        let invalid = challenge("https://api.test", Verdict::Invalid, "r-1");
        assert!(
            invalid.headers()[WWW_AUTHENTICATE]
                .to_str()
                .is_ok_and(|v| v.ends_with(", error=\"invalid_token\""))
        );
        let doc = metadata("https://api.test", Some("https://issuer.test/pool"));
        assert_eq!(doc["resource"], "https://api.test/mcp");
        assert_eq!(doc["authorization_servers"][0], "https://issuer.test/pool");
    }
}
