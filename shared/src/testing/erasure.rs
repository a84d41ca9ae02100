//! Erasures in memory, with the table's rules: the record stays, the ledger moves.

use std::time::Duration;

use super::{MemoryQueue, MemoryStore};
use crate::domain::task::UserId;
use crate::domain::timestamp::Timestamp;
use crate::ports::{
    Erasure, ErasureQueue, ErasureStatus, Erasures, LedgerEntry, QueueError, StoreError,
};

impl MemoryStore {
    /// The ledger rows an erasure kept under `ledger_id`.
    pub fn erased_ledger(&self, ledger_id: &str) -> Vec<LedgerEntry> {
        self.read()
            .map(|t| {
                t.erased_ledger
                    .iter()
                    .filter(|(id, _)| id == ledger_id)
                    .map(|(_, e)| e.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Erasures for MemoryStore {
    async fn begin_erasure(&self, user_id: &str, erasure: &Erasure) -> Result<Erasure, StoreError> {
        let mut t = self.write()?;
        let stored = t
            .erasures
            .entry(UserId::from(user_id))
            .or_insert_with(|| erasure.clone());
        Ok(stored.clone())
    }

    async fn erasure(&self, user_id: &str) -> Result<Option<Erasure>, StoreError> {
        Ok(self.read()?.erasures.get(&UserId::from(user_id)).cloned())
    }

    async fn finish_erasure(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut t = self.write()?;
        if let Some(e) = t.erasures.get_mut(&UserId::from(user_id)) {
            e.status = ErasureStatus::Erased;
            e.finished_at = Some(at);
        }
        Ok(())
    }

    async fn erase_task(&self, task_id: &str) -> Result<(), StoreError> {
        let mut t = self.write()?;
        t.tasks.retain(|id, _| id.as_str() != task_id);
        t.deliveries.retain(|d| d.task_id.as_str() != task_id);
        Ok(())
    }

    async fn erase_account(&self, user_id: &str, ledger_id: &str) -> Result<(), StoreError> {
        let mut t = self.write()?;
        let user = UserId::from(user_id);
        t.accounts.remove(&user);
        t.usage.retain(|(u, _), _| *u != user);
        t.idempotency.retain(|(u, _), _| *u != user);
        t.groups.retain(|(u, _), _| *u != user);
        t.cache.retain(|(u, _), _| *u != user);
        t.devices.retain(|(u, _), _| *u != user);
        t.device_owners.retain(|_, owner| *owner != user);
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut t.ledger)
            .into_iter()
            .partition(|(u, _)| *u == user);
        t.ledger = others;
        t.erased_ledger
            .extend(mine.into_iter().map(|(_, e)| (ledger_id.to_string(), e)));
        Ok(())
    }
}

impl ErasureQueue for MemoryQueue {
    async fn enqueue_erasure(&self, user_id: &str, delay: Duration) -> Result<(), QueueError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError("injected queue failure".into()));
        }
        if let Ok(mut e) = self.erasures.lock() {
            e.push((user_id.to_string(), delay));
        }
        Ok(())
    }
}
