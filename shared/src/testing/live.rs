//! Live progress in memory: the event log, stream places, Live Activities and push turns.

use std::time::Duration;

use super::MemoryStore;
use crate::domain::live::{LiveEvent, may_push};
use crate::domain::timestamp::Timestamp;
use crate::ports::{LiveActivities, LiveActivity, StoreError, StreamSlots, TaskEvents};

impl TaskEvents for MemoryStore {
    async fn record_event(&self, task_id: &str, event: &LiveEvent) -> Result<(), StoreError> {
        let key = (task_id.to_string(), event.id);
        self.write()?
            .live_events
            .entry(key)
            .or_insert(event.clone());
        Ok(())
    }

    async fn events_after(&self, task_id: &str, after: u32) -> Result<Vec<LiveEvent>, StoreError> {
        let t = self.read()?;
        let from = (task_id.to_string(), after.saturating_add(1));
        let to = (task_id.to_string(), u32::MAX);
        Ok(t.live_events
            .range(from..=to)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

impl StreamSlots for MemoryStore {
    async fn claim_stream(
        &self,
        user_id: &str,
        task_id: &str,
        cap: u32,
        holder: &str,
        until: Timestamp,
    ) -> Result<Option<u32>, StoreError> {
        let now = Timestamp::now();
        let mut t = self.write()?;
        for slot in 0..cap {
            let key = (user_id.to_string(), slot);
            let free = t
                .stream_slots
                .get(&key)
                .is_none_or(|(_, task, u)| *u <= now || task == task_id);
            if free {
                let place = (holder.to_string(), task_id.to_string(), until);
                t.stream_slots.insert(key, place);
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn release_stream(
        &self,
        user_id: &str,
        slot: u32,
        holder: &str,
    ) -> Result<(), StoreError> {
        let mut t = self.write()?;
        let key = (user_id.to_string(), slot);
        if t.stream_slots
            .get(&key)
            .is_some_and(|(h, _, _)| h == holder)
        {
            t.stream_slots.remove(&key);
        }
        Ok(())
    }
}

impl MemoryStore {
    /// Status streams open now.
    pub fn open_streams(&self) -> usize {
        let now = Timestamp::now();
        self.read()
            .map(|t| t.stream_slots.values().filter(|(_, _, u)| *u > now).count())
            .unwrap_or_default()
    }
}

impl LiveActivities for MemoryStore {
    async fn put_live_activity(&self, activity: &LiveActivity) -> Result<(), StoreError> {
        let key = (activity.task_id.to_string(), activity.id());
        self.write()?.live_activities.insert(key, activity.clone());
        Ok(())
    }

    async fn live_activities_of(&self, task_id: &str) -> Result<Vec<LiveActivity>, StoreError> {
        let t = self.read()?;
        Ok(t.live_activities
            .iter()
            .filter(|((task, _), _)| task == task_id)
            .map(|(_, a)| a.clone())
            .collect())
    }

    async fn remove_live_activity(
        &self,
        task_id: &str,
        activity_id: &str,
    ) -> Result<(), StoreError> {
        let key = (task_id.to_string(), activity_id.to_string());
        self.write()?.live_activities.remove(&key);
        Ok(())
    }

    async fn take_push_turn(
        &self,
        task_id: &str,
        now: Timestamp,
        min: Duration,
    ) -> Result<bool, StoreError> {
        let mut t = self.write()?;
        let last = t.push_turns.get(task_id).copied();
        let taken = may_push(false, last, now, min);
        if taken {
            t.push_turns.insert(task_id.to_string(), now);
        }
        Ok(taken)
    }
}

/// Live Activity pushes in memory: what was sent (token, priority, payload), and tokens APNs
/// would answer 410 for.
#[derive(Default, Clone)]
pub struct MemoryLivePush {
    pub sent: std::sync::Arc<std::sync::Mutex<Vec<(String, u8, serde_json::Value)>>>,
    pub revoked: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl crate::ports::LiveActivityPush for MemoryLivePush {
    async fn push(
        &self,
        activity: &LiveActivity,
        priority: u8,
        payload: &serde_json::Value,
    ) -> Result<crate::ports::PushOutcome, crate::ports::SinkError> {
        let poisoned = || crate::ports::SinkError("memory push lock poisoned".into());
        let revoked = self.revoked.lock().map_err(|_| poisoned())?;
        if revoked.contains(&activity.token) {
            return Ok(crate::ports::PushOutcome::EndpointDisabled);
        }
        let sent = (activity.token.clone(), priority, payload.clone());
        self.sent.lock().map_err(|_| poisoned())?.push(sent);
        Ok(crate::ports::PushOutcome::Sent)
    }
}
