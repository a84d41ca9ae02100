//! Devices, notice marks and the delivery log, in the same table.

use super::{DynamoTaskStore, backend, from_item, s, task_pk, to_item, user_pk, written};
use crate::domain::task::UserId;
use crate::domain::timestamp;
use crate::ports::{Delivery, DeliveryLog, Device, Devices, NoticeMarks, StoreError};

/// Marks outlive any stream retry (24 h) by far.
const NOTICE_MARK_TTL_SECS: i64 = 7 * 24 * 3600;
/// The delivery log is for operators looking into the last weeks.
const DELIVERY_LOG_TTL_SECS: i64 = 30 * 24 * 3600;

fn device_sk(id: &str) -> String {
    format!("DEVICE#{id}")
}

fn expires(secs: i64) -> aws_sdk_dynamodb::types::AttributeValue {
    super::n(timestamp::unix_seconds(timestamp::now()) + secs)
}

impl Devices for DynamoTaskStore {
    async fn put_device(&self, device: &Device) -> Result<(), StoreError> {
        let mut item = to_item(device)?;
        item.insert("pk".into(), s(user_pk(&device.user_id)));
        item.insert("sk".into(), s(device_sk(&device.id)));
        let put = self.client.put_item().table_name(&self.table);
        put.set_item(Some(item)).send().await.map_err(backend)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("DEVICE#{}", device.id)))
            .item("sk", s("OWNER"))
            .item("user_id", s(device.user_id.as_str()))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn owner_of(&self, device_id: &str) -> Result<Option<UserId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("DEVICE#{device_id}")))
            .key("sk", s("OWNER"))
            .send()
            .await
            .map_err(backend)?;
        let user = out.item.as_ref().and_then(|i| i.get("user_id"));
        Ok(user
            .and_then(|v| v.as_s().ok())
            .map(|u| UserId::from(u.as_str())))
    }

    async fn devices_of(&self, user_id: &str) -> Result<Vec<Device>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .expression_attribute_values(":pk", s(user_pk(user_id)))
            .expression_attribute_values(":sk", s("DEVICE#"))
            .into_paginator()
            .items()
            .send();
        let mut devices = Vec::new();
        while let Some(item) = pages.next().await {
            devices.push(from_item(item.map_err(backend)?)?);
        }
        Ok(devices)
    }

    async fn remove_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Option<Device>, StoreError> {
        // The ownership record first: it names the user, and once the device item is gone
        // nothing leads an erasure to it.
        self.release_device(device_id, user_id).await?;
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s(device_sk(device_id)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(backend)?;
        out.attributes.map(from_item).transpose()
    }
}

impl NoticeMarks for DynamoTaskStore {
    async fn was_sent(&self, event_id: &str, sink: &str) -> Result<bool, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("NOTICE#{event_id}")))
            .key("sk", s(sink))
            .consistent_read(true)
            .send()
            .await
            .map_err(backend)?;
        Ok(out.item.is_some())
    }

    async fn mark_sent(&self, event_id: &str, sink: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("NOTICE#{event_id}")))
            .item("sk", s(sink))
            .item("expires_at", expires(NOTICE_MARK_TTL_SECS))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

impl DeliveryLog for DynamoTaskStore {
    async fn log_delivery(&self, entry: &Delivery) -> Result<(), StoreError> {
        let mut item = to_item(entry)?;
        item.insert("pk".into(), s(task_pk(&entry.task_id)));
        let sk = format!(
            "DELIVERY#{}#{}#{:03}",
            entry.event_id, entry.at, entry.attempt
        );
        item.insert("sk".into(), s(sk));
        item.insert("expires_at".into(), expires(DELIVERY_LOG_TTL_SECS));
        let put = self.client.put_item().table_name(&self.table);
        put.set_item(Some(item)).send().await.map_err(backend)?;
        Ok(())
    }

    async fn deliveries_of(&self, task_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :sk)")
            .expression_attribute_values(":pk", s(task_pk(task_id)))
            .expression_attribute_values(":sk", s("DELIVERY#"))
            .into_paginator()
            .items()
            .send();
        let mut log = Vec::new();
        while let Some(item) = pages.next().await {
            log.push(from_item(item.map_err(backend)?)?);
        }
        log.sort_by(|a: &Delivery, b| a.at.cmp(&b.at).then(a.attempt.cmp(&b.attempt)));
        Ok(log)
    }
}

impl DynamoTaskStore {
    /// The device's ownership record, when this user holds it.
    pub(super) async fn release_device(
        &self,
        device_id: &str,
        user_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("DEVICE#{device_id}")))
            .key("sk", s("OWNER"))
            .condition_expression("user_id = :u")
            .expression_attribute_values(":u", s(user_id))
            .send()
            .await;
        written(result, |e| e.is_conditional_check_failed_exception()).map(|_| ())
    }
}
