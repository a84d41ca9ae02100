//! Published template versions (runtime edits beside `infra/templates.json`).

use super::{DynamoTaskStore, backend, s};
use crate::ports::StoreError;

/// Every published version under one partition: one query lists them all.
const TEMPLATES_PK: &str = "TEMPLATES";

impl crate::ports::TemplateStore for DynamoTaskStore {
    async fn published_templates(
        &self,
    ) -> Result<Vec<crate::templates::VideoTemplate>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(TEMPLATES_PK))
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            let item = item.map_err(backend)?;
            let body = item.get("template").and_then(|v| v.as_s().ok());
            let body =
                body.ok_or_else(|| StoreError::Corrupt("template item without a body".into()))?;
            let template = serde_json::from_str(body)
                .map_err(|e| StoreError::Corrupt(format!("template item: {e}")))?;
            out.push(template);
        }
        Ok(out)
    }

    async fn publish_template(
        &self,
        template: &crate::templates::VideoTemplate,
    ) -> Result<bool, StoreError> {
        let body = serde_json::to_string(template)
            .map_err(|e| StoreError::Corrupt(format!("template: {e}")))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(TEMPLATES_PK))
            .item("sk", s(format!("{}#{:06}", template.id, template.version)))
            .item("template", s(body))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        super::written(result, |se| se.is_conditional_check_failed_exception())
    }
}
