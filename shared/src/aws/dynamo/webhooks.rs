//! Callback deduplication.

use super::*;

impl WebhookDedup for DynamoTaskStore {
    async fn claim_webhook(&self, claim: &WebhookClaim) -> Result<bool, StoreError> {
        let expires = timestamp::unix_seconds(timestamp::now()) + WEBHOOK_DEDUP_TTL_SECS;
        // The SDK resends this very request when a reply is lost: a claim that is ours is won.
        let mine = uuid::Uuid::new_v4().to_string();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(claim.key()))
            .item("sk", s("DEDUP"))
            .item("expires_at", AttributeValue::N(expires.to_string()))
            .item("claim", s(mine.clone()))
            .condition_expression("attribute_not_exists(pk) OR #claim = :claim")
            .expression_attribute_names("#claim", "claim")
            .expression_attribute_values(":claim", s(mine))
            .send()
            .await;
        written(result, |se| se.is_conditional_check_failed_exception())
    }

    async fn release_webhook(&self, claim: &WebhookClaim) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(claim.key()))
            .key("sk", s("DEDUP"))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}
