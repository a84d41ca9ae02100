//! webhook-receiver: `POST /webhooks/kling/{task_id}/{token}`.
//!
//! Kling's callbacks are unsigned hints. The path token proves the URL came from us; the body
//! must name the same task; each (provider task, status) is handled once; the transition goes
//! through the state machine; a success only queues finalize, which re-reads Kling itself.
//! Nothing slow happens here: no download and no provider call.

use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tracing::Instrument;

use shared::envelope::{ApiError, error_response, json_response};
use shared::http_util;
use shared::kling::{KlingTask, ProviderStatus};
use shared::ports::{FinalizeMessage, FinalizeQueue, StoreError, TaskStore};
use shared::state::{TaskEvent, TaskPatch, event_for};
use shared::task::{TaskError, TaskStatus};
use shared::webhook_token;

pub struct App<S, Q> {
    pub store: S,
    pub queue: Q,
    pub secret: Vec<u8>,
    /// Standard Webhooks secrets (Kling's 2026 signing); empty when not enabled. Several
    /// are accepted at once, for rotation.
    pub signers: Vec<standardwebhooks::Webhook>,
}

/// Everything webhook-receiver reads from its environment at cold start.
pub struct Settings {
    pub table: shared::config::TableConfig,
    pub queue: shared::config::QueueConfig,
    pub secret: Vec<u8>,
    pub signers: Vec<standardwebhooks::Webhook>,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::config::Source,
    ) -> Result<Self, shared::config::ConfigError> {
        Ok(Self {
            table: shared::config::TableConfig::from_source(src)?,
            queue: shared::config::QueueConfig::from_source(src)?,
            secret: shared::config::WebhookConfig::secret_from_source(src)?,
            signers: signers_from_source(src)?,
        })
    }
}

/// `WEBHOOK_SIGNING_SECRETS`: comma-separated `whsec_...` secrets, optional.
pub fn signers_from_source(
    src: &impl shared::config::Source,
) -> Result<Vec<standardwebhooks::Webhook>, shared::config::ConfigError> {
    src.optional("WEBHOOK_SIGNING_SECRETS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|secret| {
            standardwebhooks::Webhook::new(secret).map_err(|e| {
                shared::config::ConfigError::Invalid {
                    name: "WEBHOOK_SIGNING_SECRETS",
                    reason: e.to_string(),
                }
            })
        })
        .collect()
}

/// When signing is on, the body must carry a valid, current signature from one of the secrets.
pub fn verify_signature(
    signers: &[standardwebhooks::Webhook],
    headers: &http::HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    if signers.is_empty() || signers.iter().any(|s| s.verify(body, headers).is_ok()) {
        return Ok(());
    }
    Err(ApiError::new(
        401,
        "invalid_webhook_signature",
        "the callback signature is missing, stale or wrong",
    ))
}

pub async fn handle<S: TaskStore, Q: FinalizeQueue>(
    app: &App<S, Q>,
    req: Request,
) -> Response<Body> {
    let request_id = http_util::request_id(&req);
    let span =
        tracing::info_span!("webhook-receiver", %request_id, task_id = tracing::field::Empty);
    match route(app, &req).instrument(span).await {
        Ok(resp) => resp,
        Err(err) => error_response(&err, &request_id),
    }
}

async fn route<S: TaskStore, Q: FinalizeQueue>(
    app: &App<S, Q>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().as_str();
    match (method, http_util::segments(req).as_slice()) {
        ("POST", ["webhooks", "kling", task_id, token]) => callback(app, req, task_id, token).await,
        _ => Err(ApiError::route_not_found(method, req.uri().path())),
    }
}

/// The task object from a callback body: the bare object Kling documents, or the
/// `{code, message, data}` envelope some copies of the docs show.
pub fn parse_callback(bytes: &[u8]) -> Result<KlingTask, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::malformed(format!("callback body is not JSON: {e}")))?;
    let task = match value.get("data") {
        Some(data) if data.get("task_id").is_some() => data.clone(),
        _ => value,
    };
    serde_json::from_value(task)
        .map_err(|e| ApiError::malformed(format!("callback body is not a Kling task: {e}")))
}

fn store_error(e: StoreError) -> ApiError {
    tracing::error!(error = %e, "store failure");
    ApiError::internal()
}

async fn callback<S: TaskStore, Q: FinalizeQueue>(
    app: &App<S, Q>,
    req: &Request,
    task_id: &str,
    token: &str,
) -> Result<Response<Body>, ApiError> {
    if !webhook_token::verify(&app.secret, task_id, token) {
        tracing::warn!("callback with an invalid token refused");
        return Err(ApiError::new(
            401,
            "invalid_webhook_token",
            "the callback token is not valid",
        ));
    }
    tracing::Span::current().record("task_id", task_id);
    let raw = http_util::body_bytes(req, http_util::MAX_BODY_BYTES)?;
    verify_signature(&app.signers, req.headers(), raw)
        .inspect_err(|_| tracing::warn!("callback with a bad signature refused"))?;
    let body = parse_callback(raw)?;
    let task = app
        .store
        .get_task(task_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found("task"))?;

    let names_us = body.external_task_id().is_none_or(|ext| ext == task.id);
    let same_provider_task = task
        .provider_task_id
        .as_deref()
        .is_none_or(|id| id == body.task_id);
    if !names_us || !same_provider_task {
        tracing::warn!(provider_task_id = %body.task_id, "callback names another task; refused");
        return Err(ApiError::new(
            422,
            "callback_task_mismatch",
            "the callback body does not describe this task",
        ));
    }

    let Some(event) = event_for(body.task_status) else {
        return Ok(json_response(
            200,
            &json!({"ok": true, "ignored": "unknown status"}),
        ));
    };
    let status = body.task_status.as_str();
    if !app
        .store
        .claim_webhook(&body.task_id, status)
        .await
        .map_err(store_error)?
    {
        tracing::info!(provider_task_id = %body.task_id, status, "duplicate callback");
        return Ok(json_response(200, &json!({"ok": true, "duplicate": true})));
    }

    let patch = TaskPatch {
        provider_task_id: Some(body.task_id.clone()),
        error: (body.task_status == ProviderStatus::Failed).then(|| TaskError {
            code: "provider_failed".into(),
            message: body
                .task_status_msg
                .clone()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the video provider could not generate this video".into()),
            retryable: false,
        }),
        video: None,
    };
    let applied = match app.store.apply(task_id, event, patch).await {
        Ok(applied) => applied,
        Err(e) => {
            // Let a redelivery try again.
            let _ = app.store.release_webhook(&body.task_id, status).await;
            return Err(store_error(e));
        }
    };
    tracing::info!(
        status = applied.task.status.as_str(),
        moved = applied.moved,
        "callback applied"
    );
    if applied.moved && applied.task.status == TaskStatus::Failed {
        shared::metrics::emit(
            &[
                ("Function", "webhook-receiver"),
                ("Reason", "provider_failed"),
            ],
            &[("TasksFailed", 1.0, shared::metrics::Unit::Count)],
        );
    }

    if event == TaskEvent::ProviderSucceeded && applied.task.status == TaskStatus::Finalizing {
        let message = FinalizeMessage {
            task_id: task_id.to_string(),
        };
        if let Err(e) = app.queue.enqueue(&message).await {
            tracing::error!(error = %e, "could not queue finalize");
            let _ = app.store.release_webhook(&body.task_id, status).await;
            return Err(
                ApiError::new(503, "queue_unavailable", "try again later").retryable(Some(5))
            );
        }
        tracing::info!("finalize queued");
    }
    Ok(json_response(200, &json!({"ok": true})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_when_signing_is_on() {
        let secret = "whsec_dGVzdHNlY3JldHRlc3RzZWNyZXR0ZXN0c2VjcmV0MTI=";
        let old = standardwebhooks::Webhook::new("whsec_b2xkLXNlY3JldC1vbGQtc2VjcmV0LTEyMzQ1Ng==")
            .unwrap();
        let current = standardwebhooks::Webhook::new(secret).unwrap();
        let body = br#"{"task_id":"1","task_status":"succeed"}"#;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let headers = |id: &str, ts: i64, sig: &str| {
            let mut h = http::HeaderMap::new();
            h.insert("webhook-id", id.parse().unwrap());
            h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
            h.insert("webhook-signature", sig.parse().unwrap());
            h
        };
        let good = kling_sim::signing::signature(secret, "msg_1", now, body).unwrap();
        let both = [old, current];
        assert!(
            verify_signature(&both, &headers("msg_1", now, &good), body).is_ok(),
            "rotation: any secret"
        );
        let several = format!("v1,AAAA {good}");
        assert!(
            verify_signature(&both, &headers("msg_1", now, &several), body).is_ok(),
            "any signature"
        );
        let stale = kling_sim::signing::signature(secret, "msg_1", now - 400, body).unwrap();
        let refused = [
            headers("msg_1", now, "v1,AAAA"),
            headers("msg_2", now, &good),
            headers("msg_1", now - 400, &stale),
            http::HeaderMap::new(),
        ];
        for h in refused {
            assert_eq!(
                verify_signature(&both, &h, body).unwrap_err().code,
                "invalid_webhook_signature"
            );
        }
        assert!(
            verify_signature(&both, &headers("msg_1", now, &good), b"{}").is_err(),
            "body changed"
        );
        assert!(
            verify_signature(&[], &http::HeaderMap::new(), body).is_ok(),
            "signing off"
        );
    }

    #[test]
    fn parses_bare_and_wrapped_bodies() {
        let bare =
            br#"{"task_id":"9","task_status":"processing","task_info":{"external_task_id":"t"}}"#;
        let wrapped =
            br#"{"code":0,"message":"SUCCEED","data":{"task_id":"9","task_status":"processing"}}"#;
        assert_eq!(parse_callback(bare).unwrap().task_id, "9");
        assert_eq!(
            parse_callback(wrapped).unwrap().task_status,
            ProviderStatus::Processing
        );
        for bad in [&b"nope"[..], b"{}", b"[]", br#"{"task_id":9}"#] {
            assert_eq!(parse_callback(bad).unwrap_err().status, 400);
        }
    }
}
