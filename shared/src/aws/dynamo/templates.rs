//! Published template versions (runtime edits beside `infra/templates.json`), variation groups
//! and result-cache entries.

use super::{DynamoTaskStore, backend, s};
use crate::ports::StoreError;

/// Every published version under one partition: one query lists them all.
const TEMPLATES_PK: &str = "TEMPLATES";

impl crate::ports::TemplateStore for DynamoTaskStore {
    async fn published_templates(
        &self,
    ) -> Result<Vec<crate::domain::templates::VideoTemplate>, StoreError> {
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
        template: &crate::domain::templates::VideoTemplate,
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

fn group_sk(group_id: &str) -> String {
    format!("GROUP#{group_id}")
}

impl crate::ports::Groups for DynamoTaskStore {
    async fn put_group(
        &self,
        user_id: &str,
        group_id: &str,
        task_ids: &[crate::domain::task::TaskId],
    ) -> Result<(), StoreError> {
        let ids = task_ids.iter().map(|id| s(id.as_str())).collect();
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(super::user_pk(user_id)))
            .item("sk", s(group_sk(group_id)))
            .item("task_ids", aws_sdk_dynamodb::types::AttributeValue::L(ids))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn group(
        &self,
        user_id: &str,
        group_id: &str,
    ) -> Result<Option<Vec<crate::domain::task::TaskId>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(super::user_pk(user_id)))
            .key("sk", s(group_sk(group_id)))
            .send()
            .await
            .map_err(backend)?;
        let ids = out
            .item
            .as_ref()
            .and_then(|i| i.get("task_ids"))
            .and_then(|v| v.as_l().ok());
        Ok(ids.map(|l| {
            l.iter()
                .filter_map(|v| v.as_s().ok())
                .map(|id| crate::domain::task::TaskId::from(id.as_str()))
                .collect()
        }))
    }
}

fn cache_sk(key: &str) -> String {
    format!("CACHE#{key}")
}

impl crate::ports::ResultCache for DynamoTaskStore {
    async fn cached(
        &self,
        user_id: &str,
        key: &str,
        now_secs: i64,
    ) -> Result<Option<crate::domain::task::TaskId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(super::user_pk(user_id)))
            .key("sk", s(cache_sk(key)))
            .send()
            .await
            .map_err(backend)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        // TTL deletion lags: an expired entry is no entry.
        if super::read_i64(&item, "expires_at").is_none_or(|at| at <= now_secs) {
            return Ok(None);
        }
        let id = item.get("task_id").and_then(|v| v.as_s().ok());
        Ok(id.map(|id| crate::domain::task::TaskId::from(id.as_str())))
    }

    async fn remember(
        &self,
        user_id: &str,
        key: &str,
        task_id: &crate::domain::task::TaskId,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(super::user_pk(user_id)))
            .item("sk", s(cache_sk(key)))
            .item("task_id", s(task_id.as_str()))
            .item("expires_at", super::n(expires_at))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn record_cached(
        &self,
        task: &crate::domain::task::Task,
        idempotency: &crate::ports::IdempotencyRecord,
    ) -> Result<crate::ports::CreateOutcome, StoreError> {
        let now = crate::domain::timestamp::unix_seconds(crate::domain::timestamp::now());
        let idem = super::to_item(&super::IdempotencyItem {
            pk: super::user_pk(&idempotency.user_id),
            sk: format!("IDEMPOTENCY#{}", idempotency.key),
            expires_at: now + super::IDEMPOTENCY_TTL_SECS,
            record: idempotency.clone(),
        })?;
        let new = Some("attribute_not_exists(pk)");
        let task_item = super::to_item(&super::TaskItem::new(task.clone(), 1))?;
        let result = self
            .client
            .transact_write_items()
            .client_request_token(task.id.to_string())
            .transact_items(super::put(&self.table, task_item, new)?)
            .transact_items(super::put(&self.table, idem, new)?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(crate::ports::CreateOutcome::Created),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_transaction_canceled_exception()) =>
            {
                let existing = self
                    .get_idempotency(&idempotency.user_id, &idempotency.key)
                    .await?;
                existing
                    .map(crate::ports::CreateOutcome::KeyExists)
                    .ok_or_else(|| StoreError::Contention(task.id.to_string()))
            }
            Err(e) => Err(backend(e)),
        }
    }
}
