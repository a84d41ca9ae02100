//! webhook-receiver: `POST /webhooks/{provider}/{task_id}/{token}`.
//!
//! Callbacks are hints (Kling's legacy ones are unsigned). The path token proves the URL came
//! from us for this provider and task; the body, read by the provider's callback reader, must
//! name the same task; each (provider, provider's job, status) is handled once; the transition
//! goes through the state machine; a success only queues finalize, which asks the provider
//! itself. Nothing slow happens here: no download and no provider call.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::domain::state::{CallbackUse, TaskEvent, TaskPatch, callback_use, event_for};
use shared::domain::task::TaskStatus;
use shared::edge::envelope::{ApiError, answer, json_response};
use shared::edge::request;
use shared::edge::webhook_token;
use shared::ports::{
    FinalizeMessage, FinalizeQueue, FinalizeReason, GenerationTimes, Tasks, WebhookClaim,
    WebhookDedup,
};
use shared::provider::{CallbackError, CallbackHint, CallbackReader};

/// What webhook-receiver needs of the table: task records, callback deduplication, and the
/// models' generation times (a success callback is their most timely sample).
pub trait Store: Tasks + WebhookDedup + GenerationTimes {}
impl<T: Tasks + WebhookDedup + GenerationTimes> Store for T {}

pub struct App<S, Q, C> {
    pub store: S,
    pub queue: Q,
    /// Reads each provider's callback bodies.
    pub callbacks: C,
    pub secret: Vec<u8>,
    /// Standard Webhooks secrets (Kling's 2026 signing); empty when not enabled. Several
    /// are accepted at once, for rotation.
    pub signers: Vec<standardwebhooks::Webhook>,
    /// fal's webhook keys (its JWKS); fal callbacks are refused without them.
    pub fal_keys: Option<shared::provider::fal::webhook::FalKeys>,
    /// Our fal account's user id: a webhook fal signed for another account is refused (fal's
    /// keys sign every account's webhooks). `None`: not checked.
    pub fal_user_id: Option<String>,
}

/// Everything webhook-receiver reads from its environment at cold start.
pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub queue: shared::runtime::config::QueueConfig,
    pub secret: Vec<u8>,
    pub signers: Vec<standardwebhooks::Webhook>,
    /// `FAL_JWKS_URL`: where fal publishes its webhook keys.
    pub fal_jwks_url: Option<String>,
    /// `FAL_USER_ID`: our fal account, as fal's webhook signatures name it.
    pub fal_user_id: Option<String>,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            queue: shared::runtime::config::QueueConfig::from_source(src)?,
            secret: shared::runtime::config::WebhookConfig::secret_from_source(src)?,
            signers: signers_from_source(src)?,
            fal_jwks_url: src.optional("FAL_JWKS_URL"),
            fal_user_id: src.optional("FAL_USER_ID").filter(|u| !u.is_empty()),
        })
    }
}

/// `WEBHOOK_SIGNING_SECRETS`: comma-separated `whsec_...` secrets, optional.
pub fn signers_from_source(
    src: &impl shared::runtime::config::Source,
) -> Result<Vec<standardwebhooks::Webhook>, shared::runtime::config::ConfigError> {
    src.optional("WEBHOOK_SIGNING_SECRETS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|secret| {
            standardwebhooks::Webhook::new(secret).map_err(|e| {
                shared::runtime::config::ConfigError::Invalid {
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

pub async fn handle<S: Store, Q: FinalizeQueue, C: CallbackReader>(
    app: &App<S, Q, C>,
    req: Request,
) -> Response<Body> {
    answer("webhook-receiver", &req, route(app, &req)).await
}

async fn route<S: Store, Q: FinalizeQueue, C: CallbackReader>(
    app: &App<S, Q, C>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().as_str();
    match (method, request::segments(req).as_slice()) {
        ("POST", ["webhooks", provider, task_id, token]) => {
            callback(app, req, provider, task_id, token).await
        }
        _ => Err(ApiError::route_not_found(method, req.uri().path())),
    }
}

/// A callback body as its provider's reader understands it.
pub fn parse_callback(
    reader: &impl CallbackReader,
    provider: &str,
    bytes: &[u8],
) -> Result<CallbackHint, ApiError> {
    reader.read(provider, bytes).map_err(|e| match e {
        CallbackError::UnknownProvider(p) => {
            ApiError::route_not_found("POST", &format!("/webhooks/{p}"))
        }
        CallbackError::Malformed(m) => ApiError::malformed(m),
    })
}

/// One callback: authenticate it, bind it to its task, handle each (job, status) once, apply
/// it through the state machine, and queue finalize on success.
async fn callback<S: Store, Q: FinalizeQueue, C: CallbackReader>(
    app: &App<S, Q, C>,
    req: &Request,
    provider: &str,
    task_id: &str,
    token: &str,
) -> Result<Response<Body>, ApiError> {
    let hint = authenticate(app, req, provider, task_id, token).await?;
    let task = bound_task(app, provider, task_id, &hint).await?;
    let Some(event) = event_for(hint.status) else {
        return Ok(json_response(
            200,
            &json!({"ok": true, "ignored": "unknown status"}),
        ));
    };
    let signed = signed_by_provider(app, provider);
    let adopt = match callback_use(task.provider_ref.is_some(), signed) {
        CallbackUse::Apply => None,
        CallbackUse::AdoptAndApply => Some(hint.reference.clone()),
        CallbackUse::AskProvider => return early_hint(app, task_id, &hint).await,
    };
    let claim = WebhookClaim {
        provider: task.provider.clone(),
        task_id: task.id.clone(),
        reference: hint.reference.clone(),
        status: hint.status.as_str(),
    };
    if !app.store.claim_webhook(&claim).await? {
        tracing::info!(provider_ref = %hint.reference, status = claim.status, "duplicate callback");
        return Ok(json_response(200, &json!({"ok": true, "duplicate": true})));
    }
    // Whatever fails from here on releases the claim, so a redelivery can do the work.
    let done = apply_hint(app, task_id, event, &hint, adopt).await;
    if done.is_err() {
        let _ = app.store.release_webhook(&claim).await;
    }
    done.map(|()| json_response(200, &json!({"ok": true})))
}

/// Whether this provider's callbacks were verified by the provider's own key: fal's always
/// (Ed25519, its JWKS), Kling's when signing is on (a per-account secret). Only such a
/// callback may name the provider's job for a task we have no reference for.
fn signed_by_provider<S, Q, C>(app: &App<S, Q, C>, provider: &str) -> bool {
    provider == shared::provider::fal::NAME || !app.signers.is_empty()
}

/// A callback for a task whose provider reference we do not know yet (dispatch's create is
/// still out, or its answer was lost), and which nothing proves came from the provider: it
/// moves nothing. Finalize asks the provider by our id, which records the reference and the
/// status (and stores the video if it is done); dispatch's own lookup settles the rest.
async fn early_hint<S, Q: FinalizeQueue, C>(
    app: &App<S, Q, C>,
    task_id: &str,
    hint: &CallbackHint,
) -> Result<Response<Body>, ApiError> {
    tracing::info!(
        provider_ref = %hint.reference,
        status = hint.status.as_str(),
        "callback before the provider's reference is known; asking the provider"
    );
    queue_finalize(app, task_id, FinalizeReason::Hint).await?;
    Ok(json_response(
        200,
        &json!({"ok": true, "deferred": "the provider is asked first"}),
    ))
}

/// The URL token (this provider, this task), the signature when signing is on, and the body
/// as the provider's reader understands it.
async fn authenticate<S, Q, C: CallbackReader>(
    app: &App<S, Q, C>,
    req: &Request,
    provider: &str,
    task_id: &str,
    token: &str,
) -> Result<CallbackHint, ApiError> {
    if !webhook_token::verify(&app.secret, provider, task_id, token) {
        tracing::warn!("callback with an invalid token refused");
        return Err(ApiError::new(
            401,
            "invalid_webhook_token",
            "the callback token is not valid",
        ));
    }
    tracing::Span::current().record("task_id", task_id);
    let raw = request::body_bytes(req, request::MAX_BODY_BYTES)?;
    provider_signature(app, provider, req.headers(), raw)
        .await
        .inspect_err(|_| tracing::warn!("callback with a bad signature refused"))?;
    parse_callback(&app.callbacks, provider, raw)
}

/// fal signs every webhook (Ed25519, its JWKS); the others are checked by the Standard
/// Webhooks secrets when signing is on.
async fn provider_signature<S, Q, C>(
    app: &App<S, Q, C>,
    provider: &str,
    headers: &http::HeaderMap,
    raw: &[u8],
) -> Result<(), ApiError> {
    if provider != shared::provider::fal::NAME {
        return verify_signature(&app.signers, headers, raw);
    }
    let now = shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now());
    let checked = match &app.fal_keys {
        Some(keys) => keys.check(headers, raw, now).await,
        None => Err(shared::provider::fal::webhook::Rejected::Keys(
            "FAL_JWKS_URL is not set".into(),
        )),
    };
    let ours = |h: &http::HeaderMap| {
        let signed_for = h.get("x-fal-webhook-user-id").and_then(|v| v.to_str().ok());
        app.fal_user_id
            .as_deref()
            .is_none_or(|u| signed_for == Some(u))
    };
    let checked = checked.and_then(|()| match ours(headers) {
        true => Ok(()),
        false => Err(shared::provider::fal::webhook::Rejected::OtherAccount),
    });
    checked.map_err(|e| {
        tracing::warn!(error = %e, "fal webhook signature refused");
        ApiError::new(
            401,
            "invalid_webhook_signature",
            "the callback signature is missing, stale or wrong",
        )
    })
}

/// The task the URL names, provided the body describes it: our id (when echoed), the same
/// provider, and the job we know (when we know one).
async fn bound_task<S: Store, Q, C>(
    app: &App<S, Q, C>,
    provider: &str,
    task_id: &str,
    hint: &CallbackHint,
) -> Result<shared::domain::task::Task, ApiError> {
    let task = app
        .store
        .get_task(task_id)
        .await?
        .ok_or_else(|| ApiError::not_found("task"))?;
    let names_us = hint.task_id.as_deref().is_none_or(|ext| task.id == ext);
    let same_provider = task.provider == provider;
    let same_job = task
        .provider_ref
        .as_ref()
        .is_none_or(|r| *r == hint.reference);
    if !names_us || !same_provider || !same_job {
        tracing::warn!(provider_ref = %hint.reference, "callback names another task; refused");
        return Err(ApiError::new(
            422,
            "callback_task_mismatch",
            "the callback body does not describe this task",
        ));
    }
    Ok(task)
}

/// A hint moves the task only where no money moves and nothing ends: queued, running, done
/// (finalize then asks the provider before storing). A reported failure is never applied on
/// the hint: finalize asks the provider first. The provider's reference is taken from a
/// callback body only when the provider's own signature vouches for it (`adopt`); otherwise
/// only from our own authenticated answers.
async fn apply_hint<S: Store, Q: FinalizeQueue, C>(
    app: &App<S, Q, C>,
    task_id: &str,
    event: TaskEvent,
    hint: &CallbackHint,
    adopt: Option<shared::provider::ProviderRef>,
) -> Result<(), ApiError> {
    let reason = if event == TaskEvent::Failed {
        tracing::info!(failure = ?hint.failure, "failure reported; the provider will confirm it");
        // Finalize confirms by the provider's reference: without it, a submit whose answer
        // was lost could never be confirmed (fal has no lookup by our id).
        if adopt.is_some() {
            let patch = TaskPatch {
                provider_ref: adopt,
                ..Default::default()
            };
            app.store
                .apply(task_id, TaskEvent::ProviderQueued, patch)
                .await?;
        }
        FinalizeReason::FailureReported
    } else {
        let patch = TaskPatch {
            provider_ref: adopt,
            ..Default::default()
        };
        let applied = app.store.apply(task_id, event, patch).await?;
        tracing::info!(
            status = applied.task.status.as_str(),
            moved = applied.moved,
            "callback applied"
        );
        if event != TaskEvent::ProviderSucceeded || applied.task.status != TaskStatus::Finalizing {
            return Ok(());
        }
        if applied.moved {
            learn_generation_time(&app.store, &applied.task).await;
        }
        FinalizeReason::Done
    };
    queue_finalize(app, task_id, reason).await
}

/// The time from submit to this success callback, counted for the task's model: dispatch
/// starts asking about its slot holders from it. A lost count only delays that a little.
async fn learn_generation_time<S: Store>(store: &S, task: &shared::domain::task::Task) {
    let now = shared::domain::timestamp::Timestamp::now();
    let Some(since) = task.submitted_at.or(task.submit_attempted_at) else {
        return;
    };
    let took = (now - since).unsigned_abs();
    if let Err(e) = store
        .record_generation(&task.provider, &task.model, took, now)
        .await
    {
        tracing::warn!(error = %e, "could not count the generation time");
    }
}

/// Ask finalize to look (a callback is never acted on without the provider's word); a queue
/// that is down is 503, so the provider (or the poller) tries again.
async fn queue_finalize<S, Q: FinalizeQueue, C>(
    app: &App<S, Q, C>,
    task_id: &str,
    reason: FinalizeReason,
) -> Result<(), ApiError> {
    let message = FinalizeMessage {
        task_id: task_id.into(),
        reason,
    };
    app.queue.enqueue(&message).await.map_err(|e| {
        tracing::error!(error = %e, "could not queue finalize");
        ApiError::new(503, "queue_unavailable", "try again later").retryable(Some(5))
    })?;
    tracing::info!(?reason, "finalize queued");
    Ok(())
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
        let good = provider_sim::signing::signature(secret, "msg_1", now, body).unwrap();
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
        let stale = provider_sim::signing::signature(secret, "msg_1", now - 400, body).unwrap();
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
}
