use crate::ports::{FinalizeMessage, FinalizeQueue, QueueError};

/// A queue we send to: the finalize queue, the dispatch queue (nudges) or the erasure queue.
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn from_sdk(sdk: &aws_config::SdkConfig, queue_url: impl Into<String>) -> Self {
        Self::new(aws_sdk_sqs::Client::new(sdk), queue_url)
    }

    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl FinalizeQueue for SqsQueue {
    async fn enqueue(&self, message: &FinalizeMessage) -> Result<(), QueueError> {
        let body = serde_json::to_string(message).map_err(|e| QueueError(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| QueueError(super::sdk_error(e)))?;
        Ok(())
    }
}

impl crate::ports::DispatchNudge for SqsQueue {
    /// Any message wakes the dispatcher; the body only says why.
    async fn nudge(&self, delay: std::time::Duration) -> Result<(), QueueError> {
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(r#"{"nudge":true}"#)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError(super::sdk_error(e)))?;
        Ok(())
    }
}

impl crate::ports::ErasureQueue for SqsQueue {
    async fn enqueue_erasure(
        &self,
        user_id: &str,
        delay: std::time::Duration,
    ) -> Result<(), QueueError> {
        let message = crate::ports::ErasureMessage {
            user_id: user_id.to_string(),
        };
        let body = serde_json::to_string(&message).map_err(|e| QueueError(Box::new(e)))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(delay.as_secs().min(900) as i32)
            .send()
            .await
            .map_err(|e| QueueError(super::sdk_error(e)))?;
        Ok(())
    }
}
