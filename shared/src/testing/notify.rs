//! In-memory notification sinks, and the table items beside tasks: devices, notice marks, the
//! delivery log, published templates, variation groups and the result cache.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::MemoryStore;
use crate::domain::notice::{Platform, StatusEvent};
use crate::domain::task::UserId;
use crate::ports::{
    Delivery, DeliveryLog, Device, Devices, EventBus, NoticeMarks, PushEndpoints, PushOutcome,
    QueueError, SinkError, StoreError, WebhookJob, WebhookOutbox,
};

impl Devices for MemoryStore {
    async fn put_device(&self, device: &Device) -> Result<(), StoreError> {
        let key = (device.user_id.clone(), device.id.clone());
        let mut t = self.write()?;
        t.devices.insert(key, device.clone());
        t.device_owners
            .insert(device.id.clone(), device.user_id.clone());
        Ok(())
    }

    async fn owner_of(&self, device_id: &str) -> Result<Option<UserId>, StoreError> {
        Ok(self.read()?.device_owners.get(device_id).cloned())
    }

    async fn devices_of(&self, user_id: &str) -> Result<Vec<Device>, StoreError> {
        let t = self.read()?;
        Ok(t.devices
            .values()
            .filter(|d| d.user_id == user_id)
            .cloned()
            .collect())
    }

    async fn remove_device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Option<Device>, StoreError> {
        let key = (user_id.into(), device_id.to_string());
        let mut t = self.write()?;
        if t.device_owners
            .get(device_id)
            .is_some_and(|o| *o == user_id)
        {
            t.device_owners.remove(device_id);
        }
        Ok(t.devices.remove(&key))
    }
}

impl NoticeMarks for MemoryStore {
    async fn was_sent(&self, event_id: &str, sink: &str) -> Result<bool, StoreError> {
        let key = (event_id.to_string(), sink.to_string());
        Ok(self.read()?.notice_marks.contains(&key))
    }

    async fn mark_sent(&self, event_id: &str, sink: &str) -> Result<(), StoreError> {
        let key = (event_id.to_string(), sink.to_string());
        self.write()?.notice_marks.insert(key);
        Ok(())
    }
}

impl DeliveryLog for MemoryStore {
    async fn log_delivery(&self, entry: &Delivery) -> Result<(), StoreError> {
        self.write()?.deliveries.push(entry.clone());
        Ok(())
    }

    async fn deliveries_of(&self, task_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let t = self.read()?;
        Ok(t.deliveries
            .iter()
            .filter(|d| d.task_id == task_id)
            .cloned()
            .collect())
    }
}

/// Events put on the bus; `fail` makes the next publishes fail.
#[derive(Default, Clone)]
pub struct MemoryBus {
    pub events: Arc<Mutex<Vec<StatusEvent>>>,
    pub fail: Arc<std::sync::atomic::AtomicBool>,
}

impl EventBus for MemoryBus {
    async fn publish(&self, event: &StatusEvent) -> Result<(), SinkError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(SinkError("injected bus failure".into()));
        }
        let mut events = self
            .events
            .lock()
            .map_err(|_| SinkError("poisoned".into()))?;
        events.push(event.clone());
        Ok(())
    }
}

/// Push endpoints in memory: endpoint = `{platform}/{token}`; `disabled` endpoints answer as
/// SNS does for an uninstalled app.
#[derive(Default, Clone)]
pub struct MemoryPush {
    pub sent: Arc<Mutex<Vec<(String, String)>>>,
    pub disabled: Arc<Mutex<HashSet<String>>>,
    pub deleted: Arc<Mutex<Vec<String>>>,
}

fn sink_poisoned<T>(_: T) -> SinkError {
    SinkError("poisoned".into())
}

impl PushEndpoints for MemoryPush {
    async fn create_endpoint(
        &self,
        platform: Platform,
        token: &str,
        _user_id: &str,
    ) -> Result<String, SinkError> {
        Ok(format!("{}/{token}", platform.sns_key()))
    }

    async fn delete_endpoint(&self, endpoint: &str) -> Result<(), SinkError> {
        self.deleted
            .lock()
            .map_err(sink_poisoned)?
            .push(endpoint.into());
        Ok(())
    }

    async fn push(&self, endpoint: &str, message: &str) -> Result<PushOutcome, SinkError> {
        if self
            .disabled
            .lock()
            .map_err(sink_poisoned)?
            .contains(endpoint)
        {
            return Ok(PushOutcome::EndpointDisabled);
        }
        let mut sent = self.sent.lock().map_err(sink_poisoned)?;
        sent.push((endpoint.into(), message.into()));
        Ok(PushOutcome::Sent)
    }
}

/// The delivery queue in memory: (job, delay) in order, and the dead letters.
#[derive(Default, Clone)]
pub struct MemoryOutbox {
    pub queued: Arc<Mutex<Vec<(WebhookJob, Duration)>>>,
    pub dead: Arc<Mutex<Vec<WebhookJob>>>,
}

impl WebhookOutbox for MemoryOutbox {
    async fn enqueue(&self, job: &WebhookJob, delay: Duration) -> Result<(), QueueError> {
        let mut q = self
            .queued
            .lock()
            .map_err(|_| QueueError("poisoned".into()))?;
        q.push((job.clone(), delay));
        Ok(())
    }

    async fn dead_letter(&self, job: &WebhookJob) -> Result<(), QueueError> {
        let mut d = self
            .dead
            .lock()
            .map_err(|_| QueueError("poisoned".into()))?;
        d.push(job.clone());
        Ok(())
    }
}

impl crate::ports::TemplateStore for MemoryStore {
    async fn published_templates(
        &self,
    ) -> Result<Vec<crate::domain::templates::VideoTemplate>, StoreError> {
        Ok(self.read()?.templates.clone())
    }

    async fn publish_template(
        &self,
        template: &crate::domain::templates::VideoTemplate,
    ) -> Result<bool, StoreError> {
        let mut t = self.write()?;
        let taken = t
            .templates
            .iter()
            .any(|p| p.id == template.id && p.version == template.version);
        if !taken {
            t.templates.push(template.clone());
        }
        Ok(!taken)
    }
}

impl crate::ports::Groups for MemoryStore {
    async fn put_group(
        &self,
        user_id: &str,
        group_id: &str,
        task_ids: &[crate::domain::task::TaskId],
    ) -> Result<(), StoreError> {
        let key = (UserId::from(user_id), group_id.to_string());
        self.write()?.groups.insert(key, task_ids.to_vec());
        Ok(())
    }

    async fn group(
        &self,
        user_id: &str,
        group_id: &str,
    ) -> Result<Option<Vec<crate::domain::task::TaskId>>, StoreError> {
        let key = (UserId::from(user_id), group_id.to_string());
        Ok(self.read()?.groups.get(&key).cloned())
    }
}

impl crate::ports::ResultCache for MemoryStore {
    async fn cached(
        &self,
        user_id: &str,
        key: &str,
        now_secs: i64,
    ) -> Result<Option<crate::domain::task::TaskId>, StoreError> {
        let t = self.read()?;
        let entry = t.cache.get(&(UserId::from(user_id), key.to_string()));
        Ok(entry
            .filter(|(_, at)| *at > now_secs)
            .map(|(id, _)| id.clone()))
    }

    async fn remember(
        &self,
        user_id: &str,
        key: &str,
        task_id: &crate::domain::task::TaskId,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let entry = (task_id.clone(), expires_at);
        let key = (UserId::from(user_id), key.to_string());
        self.write()?.cache.insert(key, entry);
        Ok(())
    }

    async fn record_cached(
        &self,
        task: &crate::domain::task::Task,
        idempotency: &crate::ports::IdempotencyRecord,
    ) -> Result<crate::ports::CreateOutcome, StoreError> {
        let mut t = self.write()?;
        let key = (idempotency.user_id.clone(), idempotency.key.clone());
        if let Some(existing) = t.idempotency.get(&key) {
            return Ok(crate::ports::CreateOutcome::KeyExists(existing.clone()));
        }
        t.idempotency.insert(key, idempotency.clone());
        t.tasks.insert(task.id.clone(), task.clone());
        Ok(crate::ports::CreateOutcome::Created)
    }
}
