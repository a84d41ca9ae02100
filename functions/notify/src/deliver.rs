//! App-webhook deliveries, signed per Standard Webhooks: the same `webhook-id` on every
//! attempt, a fresh `webhook-timestamp`, one `v1,` signature per active secret. Failures are
//! retried with exponential backoff for the policy's window, then dead-lettered.

use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;

use shared::domain::notice::{NextAttempt, next_attempt};
use shared::domain::timestamp::Timestamp;
use shared::ports::{Delivery, DeliveryOutcome, QueueError, StoreError, WebhookJob, WebhookOutbox};
use shared::runtime::outbound::check_outbound_url;

use crate::{App, AppWebhook, Store};

/// How long one delivery attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no signing secret given")]
    NoSecret,
    #[error("a signing secret is not valid base64 (`whsec_…`)")]
    BadSecret(#[source] standardwebhooks::WebhookError),
    #[error("the payload cannot be signed")]
    Payload(#[source] standardwebhooks::WebhookError),
}

/// Signs with every active secret, so receivers can rotate: add the new secret, then drop the
/// old one.
#[derive(Clone)]
pub struct Signer {
    keys: std::sync::Arc<Vec<standardwebhooks::Webhook>>,
}

impl Signer {
    /// Secrets separated by commas or spaces, newest first.
    pub fn from_list(secrets: &str) -> Result<Self, SignError> {
        let keys = secrets
            .split([',', ' '])
            .filter(|s| !s.trim().is_empty())
            .map(|s| standardwebhooks::Webhook::new(s.trim()).map_err(SignError::BadSecret))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(SignError::NoSecret);
        }
        Ok(Self {
            keys: std::sync::Arc::new(keys),
        })
    }

    /// The `webhook-signature` header value.
    pub fn sign(&self, id: &str, timestamp: i64, payload: &str) -> Result<String, SignError> {
        let signatures = self
            .keys
            .iter()
            .map(|k| k.sign(id, timestamp, payload.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(SignError::Payload)?;
        Ok(signatures.join(" "))
    }
}

#[derive(Debug, thiserror::Error)]
enum DeliveryFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

pub(crate) async fn on_messages<S, B, P, O, L>(
    app: &App<S, B, P, O, L>,
    event: Value,
) -> Vec<String>
where
    S: Store,
    O: WebhookOutbox,
{
    let event: SqsEvent = match serde_json::from_value(event) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "queue event is not readable; skipped");
            return Vec::new();
        }
    };
    let mut failed = Vec::new();
    for m in event.records {
        let job = m.body.as_deref().map(serde_json::from_str::<WebhookJob>);
        let Some(Ok(job)) = job else {
            tracing::error!(message_id = ?m.message_id, "delivery message is not readable; dropped");
            continue;
        };
        let span = tracing::info_span!("deliver", task_id = %job.task_id, event_id = %job.event_id);
        let _enter = span.enter();
        if let Err(e) = deliver(app, job).await {
            tracing::warn!(error = %e, "delivery not settled; the queue will redeliver it");
            failed.push(m.message_id.unwrap_or_default());
        }
    }
    failed
}

async fn deliver<S, B, P, O, L>(
    app: &App<S, B, P, O, L>,
    job: WebhookJob,
) -> Result<(), DeliveryFailure>
where
    S: Store,
    O: WebhookOutbox,
{
    let now = Timestamp::now();
    if let Some(wait) = job.not_before.and_then(|t| remaining(now, t)) {
        app.outbox.enqueue(&job, wait).await?;
        return Ok(());
    }
    let Some(target) = &app.webhook else {
        tracing::warn!("no app webhook configured any more; delivery dropped");
        return Ok(());
    };
    let attempt = job.failures + 1;
    let (outcome, status_code, detail) = attempt_once(app, target, &job).await;
    let mut entry = Delivery {
        task_id: job.task_id.clone(),
        event_id: job.event_id.clone(),
        attempt,
        at: now,
        outcome,
        status_code,
        detail,
    };
    if outcome == DeliveryOutcome::Delivered {
        app.store.log_delivery(&entry).await?;
        return Ok(());
    }
    let first = job.first_attempt_at.unwrap_or(now);
    let next = match outcome {
        DeliveryOutcome::Refused => NextAttempt::DeadLetter,
        _ => next_attempt(app.retry, attempt, first, now),
    };
    match next {
        NextAttempt::After(wait) => {
            let retry = WebhookJob {
                failures: attempt,
                first_attempt_at: Some(first),
                not_before: Some(Timestamp::from(now.datetime() + wait)),
                ..job
            };
            app.outbox.enqueue(&retry, wait).await?;
        }
        NextAttempt::DeadLetter => {
            app.outbox.dead_letter(&job).await?;
            if entry.outcome == DeliveryOutcome::Failed {
                entry.outcome = DeliveryOutcome::DeadLettered;
            }
        }
    }
    app.store.log_delivery(&entry).await?;
    Ok(())
}

fn remaining(now: Timestamp, not_before: Timestamp) -> Option<Duration> {
    let left = not_before.datetime() - now.datetime();
    Duration::try_from(left).ok().filter(|d| !d.is_zero())
}

/// One POST: the outcome, the receiver's status code, and why it failed.
async fn attempt_once<S, B, P, O, L>(
    app: &App<S, B, P, O, L>,
    target: &AppWebhook,
    job: &WebhookJob,
) -> (DeliveryOutcome, Option<u16>, Option<String>) {
    let url = match check_outbound_url(&target.url, target.allow_loopback).await {
        Ok(url) => url,
        Err(refusal) => {
            tracing::error!(%refusal, "app webhook endpoint refused");
            return (DeliveryOutcome::Refused, None, Some(refusal.to_string()));
        }
    };
    let timestamp = shared::domain::timestamp::unix_seconds(shared::domain::timestamp::now());
    let signature = match target.signer.sign(&job.event_id, timestamp, &job.payload) {
        Ok(s) => s,
        Err(e) => return (DeliveryOutcome::Refused, None, Some(e.to_string())),
    };
    let sent = app
        .http
        .post(url)
        .timeout(ATTEMPT_TIMEOUT)
        .header("content-type", "application/json")
        .header(standardwebhooks::HEADER_WEBHOOK_ID, &job.event_id)
        .header(standardwebhooks::HEADER_WEBHOOK_TIMESTAMP, timestamp)
        .header(standardwebhooks::HEADER_WEBHOOK_SIGNATURE, signature)
        .body(job.payload.clone())
        .send()
        .await;
    match sent {
        Ok(r) if r.status().is_success() => {
            (DeliveryOutcome::Delivered, Some(r.status().as_u16()), None)
        }
        Ok(r) => (DeliveryOutcome::Failed, Some(r.status().as_u16()), None),
        Err(e) => (DeliveryOutcome::Failed, None, Some(e.to_string())),
    }
}
