//! Erasures in the table: the record at `USER#<id>` / `ERASURE`, and the deletes.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{DynamoTaskStore, Item, backend, from_item, s, task_pk, to_item, user_pk, written};
use crate::domain::timestamp::Timestamp;
use crate::ports::{Erasure, Erasures, StoreError};

const ERASURE_SK: &str = "ERASURE";

fn text(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

impl DynamoTaskStore {
    /// Every item of one partition, as its keys and attributes.
    async fn partition(&self, pk: &str) -> Result<Vec<Item>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .into_paginator()
            .items()
            .send();
        let mut items = Vec::new();
        while let Some(item) = pages.next().await {
            items.push(item.map_err(backend)?);
        }
        Ok(items)
    }

    async fn delete(&self, pk: &str, sk: &str) -> Result<(), StoreError> {
        let del = self.client.delete_item().table_name(&self.table);
        del.key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

impl Erasures for DynamoTaskStore {
    async fn begin_erasure(&self, user_id: &str, erasure: &Erasure) -> Result<Erasure, StoreError> {
        let mut item = to_item(erasure)?;
        item.insert("pk".into(), s(user_pk(user_id)));
        item.insert("sk".into(), s(ERASURE_SK));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        written(result, |e| e.is_conditional_check_failed_exception())?;
        // Ours, or the one recorded before (a repeated request, or a lost reply).
        self.erasure(user_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("the erasure record vanished".into()))
    }

    async fn erasure(&self, user_id: &str) -> Result<Option<Erasure>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s(ERASURE_SK))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        out.item.map(from_item).transpose()
    }

    async fn finish_erasure(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let at =
            serde_dynamo::to_attribute_value(at).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s(ERASURE_SK))
            .update_expression("SET #s = :s, finished_at = :at")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s("erased"))
            .expression_attribute_values(":at", at)
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn erase_task(&self, task_id: &str) -> Result<(), StoreError> {
        let pk = task_pk(task_id);
        for item in self.partition(&pk).await? {
            self.delete(&pk, &text(&item, "sk")).await?;
        }
        Ok(())
    }

    async fn erase_account(&self, user_id: &str, ledger_id: &str) -> Result<(), StoreError> {
        let pk = user_pk(user_id);
        for mut item in self.partition(&pk).await? {
            let sk = text(&item, "sk");
            if sk == ERASURE_SK {
                continue;
            }
            if sk.starts_with("LEDGER#") {
                // Put before delete: a crash in between leaves a copy, never a loss.
                item.insert(
                    "pk".into(),
                    AttributeValue::S(format!("ERASED#{ledger_id}")),
                );
                let put = self.client.put_item().table_name(&self.table);
                put.set_item(Some(item)).send().await.map_err(backend)?;
            } else if let Some(device) = sk.strip_prefix("DEVICE#") {
                self.release_device(device, user_id).await?;
            }
            self.delete(&pk, &sk).await?;
        }
        Ok(())
    }
}
