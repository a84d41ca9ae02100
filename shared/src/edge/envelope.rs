//! The HTTP error envelope every endpoint answers with, and JSON responses.

use std::future::Future;

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tracing::Instrument;

pub use crate::domain::error::{ApiError, CODES};
use crate::ports::StoreError;

/// Every HTTP function's frame around its routes: one span per request (with the request id,
/// and a `task_id` the handler fills in once it knows it), and the error envelope for a refusal.
pub async fn answer(
    function: &'static str,
    req: &Request,
    route: impl Future<Output = Result<Response<Body>, ApiError>>,
) -> Response<Body> {
    let request_id = super::request::request_id(req);
    let span =
        tracing::info_span!("request", function, %request_id, task_id = tracing::field::Empty);
    match route.instrument(span).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err, &request_id),
    }
}

/// A store failure as the app sees it: a cursor it sent that is not valid, or an internal error
/// (logged here, never shown).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => ApiError::new(
                400,
                "invalid_cursor",
                "cursor is not valid for this listing",
            )
            .with_field("cursor"),
            e => {
                tracing::error!(error = %e, "store failure");
                ApiError::internal()
            }
        }
    }
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    retryable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a serde_json::Value>,
}

/// The JSON body of an error, for callers that are not HTTP handlers (tests, the devstack).
/// `internal_error` for the app; what failed, and why, in the logs only.
pub fn logged_internal(what: &str, e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "{what}");
    ApiError::internal()
}

pub fn error_json(err: &ApiError, request_id: &str) -> String {
    let env = Envelope {
        error: ErrorBody {
            code: err.code,
            message: &err.message,
            field: err.field.as_deref(),
            retryable: err.retryable,
            details: err.details.as_deref(),
        },
        request_id,
    };
    serde_json::to_string(&env).unwrap_or_else(|_| String::from("{}"))
}

pub fn error_response(err: &ApiError, request_id: &str) -> Response<Body> {
    let mut builder = Response::builder()
        .status(err.status)
        .header("content-type", "application/json");
    if let Some(secs) = err.retry_after_secs {
        builder = builder.header("retry-after", secs.to_string());
    }
    for (name, value) in &err.headers {
        builder = builder.header(*name, value);
    }
    builder
        .body(Body::Text(error_json(err, request_id)))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

pub fn json_response<T: Serialize>(status: u16, body: &T) -> Response<Body> {
    match serde_json::to_string(body) {
        Ok(text) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Body::Text(text))
            .unwrap_or_else(|_| Response::new(Body::Empty)),
        Err(_) => error_response(&ApiError::internal(), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape() {
        let err = ApiError::new(
            422,
            "prompt_too_long",
            "prompt must be at most 2500 characters (got 2731)",
        )
        .with_field("prompt");
        let v: serde_json::Value = serde_json::from_str(&error_json(&err, "req-1")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": {"code": "prompt_too_long",
                "message": "prompt must be at most 2500 characters (got 2731)",
                "field": "prompt", "retryable": false}, "request_id": "req-1"})
        );
    }

    #[test]
    fn retry_after_header() {
        let err = ApiError::new(409, "task_in_progress", "wait").retryable(Some(30));
        let resp = error_response(&err, "r");
        assert_eq!(resp.status(), 409);
        assert_eq!(resp.headers()["retry-after"], "30");
    }
}
