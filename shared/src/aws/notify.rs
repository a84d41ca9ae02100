//! The notification sinks: EventBridge, SNS mobile push, and the app-webhook queue.

use std::time::Duration;

use crate::domain::notice::{EVENT_SOURCE, Platform, StatusEvent, detail_type, event_detail};
use crate::ports::{
    EventBus, PushEndpoints, PushOutcome, QueueError, SinkError, WebhookJob, WebhookOutbox,
};

fn sink_error<E, R>(e: aws_sdk_dynamodb::error::SdkError<E, R>) -> SinkError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    SinkError(super::sdk_error(e))
}

fn message(text: impl Into<String>) -> SinkError {
    SinkError(text.into().into())
}

pub struct EventBridgeBus {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgeBus {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, bus: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_eventbridge::Client::new(sdk),
            bus: bus.into(),
        }
    }
}

impl EventBus for EventBridgeBus {
    async fn publish(&self, event: &StatusEvent) -> Result<(), SinkError> {
        let Some(kind) = detail_type(event.status) else {
            return Ok(());
        };
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(EVENT_SOURCE)
            .detail_type(kind)
            .detail(event_detail(event).to_string())
            .build();
        let out = self
            .client
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(sink_error)?;
        if out.failed_entry_count > 0 {
            let why = out.entries().first().and_then(|e| e.error_message());
            return Err(message(format!(
                "event bus refused the event: {}",
                why.unwrap_or("no reason given")
            )));
        }
        Ok(())
    }
}

/// SNS platform applications, one per platform the operator configured.
#[derive(Debug, Clone, Default)]
pub struct PlatformApps {
    pub apns: Option<String>,
    pub apns_sandbox: Option<String>,
    pub fcm: Option<String>,
}

impl PlatformApps {
    pub fn from_source(src: &impl crate::runtime::config::Source) -> Self {
        Self {
            apns: src.optional("APNS_PLATFORM_APPLICATION_ARN"),
            apns_sandbox: src.optional("APNS_SANDBOX_PLATFORM_APPLICATION_ARN"),
            fcm: src.optional("FCM_PLATFORM_APPLICATION_ARN"),
        }
    }

    pub fn arn(&self, platform: Platform) -> Option<&str> {
        match platform {
            Platform::Apns => self.apns.as_deref(),
            Platform::ApnsSandbox => self.apns_sandbox.as_deref(),
            Platform::Fcm => self.fcm.as_deref(),
        }
    }
}

pub struct SnsPush {
    client: aws_sdk_sns::Client,
    apps: PlatformApps,
}

impl SnsPush {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, apps: PlatformApps) -> Self {
        Self {
            client: aws_sdk_sns::Client::new(sdk),
            apps,
        }
    }
}

impl PushEndpoints for SnsPush {
    async fn create_endpoint(
        &self,
        platform: Platform,
        token: &str,
        user_id: &str,
    ) -> Result<String, SinkError> {
        let app = self
            .apps
            .arn(platform)
            .ok_or_else(|| message(format!("no platform application for {platform:?}")))?;
        let created = self
            .client
            .create_platform_endpoint()
            .platform_application_arn(app)
            .token(token)
            .custom_user_data(user_id)
            .send()
            .await;
        match created {
            Ok(out) => out
                .endpoint_arn
                .ok_or_else(|| message("SNS answered without an endpoint ARN")),
            // The token has an endpoint already (another user signed in on the device, or it
            // was disabled): take it over and turn it back on.
            Err(e) => match e
                .as_service_error()
                .and_then(|se| existing_endpoint(se.meta().message()))
            {
                Some(arn) => {
                    self.client
                        .set_endpoint_attributes()
                        .endpoint_arn(&arn)
                        .attributes("CustomUserData", user_id)
                        .attributes("Enabled", "true")
                        .send()
                        .await
                        .map_err(sink_error)?;
                    Ok(arn)
                }
                None => Err(sink_error(e)),
            },
        }
    }

    async fn delete_endpoint(&self, endpoint: &str) -> Result<(), SinkError> {
        let sent = self.client.delete_endpoint().endpoint_arn(endpoint);
        sent.send().await.map_err(sink_error)?;
        Ok(())
    }

    async fn push(&self, endpoint: &str, body: &str) -> Result<PushOutcome, SinkError> {
        let sent = self
            .client
            .publish()
            .target_arn(endpoint)
            .message_structure("json")
            .message(body)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(PushOutcome::Sent),
            Err(e) => {
                let gone = e.as_service_error().is_some_and(|se| {
                    se.is_endpoint_disabled_exception() || se.is_not_found_exception()
                });
                if gone {
                    Ok(PushOutcome::EndpointDisabled)
                } else {
                    Err(sink_error(e))
                }
            }
        }
    }
}

/// SNS names the endpoint a token already has in its refusal: "... Endpoint {arn} already exists
/// with the same Token, but different attributes."
pub fn existing_endpoint(message: Option<&str>) -> Option<String> {
    let rest = message?.split("Endpoint ").nth(1)?;
    let arn = rest.split(' ').next()?;
    (arn.starts_with("arn:") && rest.contains("already exists")).then(|| arn.to_string())
}

/// The app-webhook delivery queue and its dead-letter queue.
pub struct SqsWebhookOutbox {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    dead_letter_url: String,
}

impl SqsWebhookOutbox {
    pub fn from_sdk(
        sdk: &aws_config::SdkConfig,
        queue_url: impl Into<String>,
        dead_letter_url: impl Into<String>,
    ) -> Self {
        Self {
            client: aws_sdk_sqs::Client::new(sdk),
            queue_url: queue_url.into(),
            dead_letter_url: dead_letter_url.into(),
        }
    }

    async fn send(&self, url: &str, job: &WebhookJob, delay: Duration) -> Result<(), QueueError> {
        let body = serde_json::to_string(job).map_err(|e| QueueError(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(url)
            .message_body(body)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError(super::sdk_error(e)))?;
        Ok(())
    }
}

impl WebhookOutbox for SqsWebhookOutbox {
    async fn enqueue(&self, job: &WebhookJob, delay: Duration) -> Result<(), QueueError> {
        self.send(&self.queue_url, job, delay).await
    }

    async fn dead_letter(&self, job: &WebhookJob) -> Result<(), QueueError> {
        self.send(&self.dead_letter_url, job, Duration::ZERO).await
    }
}

#[cfg(test)]
mod tests {
    use super::existing_endpoint;

    #[test]
    fn the_endpoint_a_token_already_has_is_read_from_the_refusal() {
        let arn = "arn:aws:sns:us-east-1:123456789012:endpoint/GCM/app/3f1c";
        let taken = format!(
            "Invalid parameter: Token Reason: Endpoint {arn} already exists with the same Token, but different attributes."
        );
        let cases = [
            (Some(taken.as_str()), Some(arn)),
            (Some("Invalid parameter: PlatformApplicationArn"), None),
            (Some("Endpoint is disabled"), None),
            (None, None),
        ];
        for (message, want) in cases {
            assert_eq!(existing_endpoint(message).as_deref(), want, "{message:?}");
        }
    }
}
