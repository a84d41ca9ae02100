//! The table in memory: accounts, tasks, idempotency, dispatch state, the reconcile index and
//! callback deduplication, with the AWS store's rules; and `seed_task`, which records a task as
//! create-task would.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use crate::domain::plans::{Usage, charge_refusal, refund_day, suspension};
use crate::domain::state::{TaskEvent, TaskPatch, apply_event};
use crate::domain::task::{CostUnits, Task, TaskId, TaskStatus, UserId};
use crate::domain::timestamp::{self, Timestamp};
use crate::ports::{
    AccountView, Accounts, Applied, Charge, CreateOutcome, Idempotency, IdempotencyRecord,
    LedgerEntry, LedgerKind, ReconcileIndex, StoreError, TaskPage, Tasks, ViolationPolicy,
    WebhookClaim, WebhookDedup,
};
use crate::provider::ProviderRef;

#[derive(Default)]
pub(super) struct Account {
    plan: Option<String>,
    in_flight: u32,
    suspended_until: Option<i64>,
    violations: Vec<i64>,
    violation_requests: std::collections::HashSet<String>,
}

#[derive(Default)]
pub(super) struct Tables {
    pub(super) tasks: BTreeMap<TaskId, Task>,
    pub(super) accounts: HashMap<UserId, Account>,
    pub(super) usage: HashMap<(UserId, String), u64>,
    pub(super) idempotency: HashMap<(UserId, String), IdempotencyRecord>,
    pub(super) ledger: Vec<(UserId, LedgerEntry)>,
    pub(super) webhooks: HashSet<String>,
    pub(super) slots: HashMap<String, std::collections::BTreeSet<TaskId>>,
    pub(super) breakers: HashMap<String, crate::domain::breaker::BreakerState>,
    pub(super) devices: BTreeMap<(UserId, String), crate::ports::Device>,
    pub(super) device_owners: HashMap<String, UserId>,
    pub(super) notice_marks: HashSet<(String, String)>,
    pub(super) deliveries: Vec<crate::ports::Delivery>,
    pub(super) templates: Vec<crate::domain::templates::VideoTemplate>,
    pub(super) groups: HashMap<(UserId, String), Vec<TaskId>>,
    pub(super) cache: HashMap<(UserId, String), (TaskId, i64)>,
    pub(super) generations: HashMap<(String, String), crate::domain::pace::Histogram>,
    pub(super) wake_at: Option<Timestamp>,
    /// Copies the waiting line serves instead of the table (an eventually consistent index
    /// that has not caught up).
    pub(super) stale_line: Option<Vec<Task>>,
    pub(super) erasures: HashMap<UserId, crate::ports::Erasure>,
    /// Ledger rows of erased accounts, by the erasure's ledger id.
    pub(super) erased_ledger: Vec<(String, LedgerEntry)>,
    pub(super) live_events: BTreeMap<(String, u32), crate::domain::live::LiveEvent>,
    /// Open status streams by (user, slot): the holder, its task and until when.
    pub(super) stream_slots: HashMap<(String, u32), (String, String, Timestamp)>,
    pub(super) live_activities: BTreeMap<(String, String), crate::ports::LiveActivity>,
    pub(super) push_turns: HashMap<String, Timestamp>,
}

/// The table, in memory; clones share it. `fail_writes` makes every write answer a backend
/// error.
#[derive(Default, Clone)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
    pub fail_writes: Arc<std::sync::atomic::AtomicBool>,
    /// Reads the DynamoDB store answers with a `Query` (index reads: lists, the waiting line,
    /// the reconcile index), counted so a test can show a path makes none.
    pub queries: Arc<std::sync::atomic::AtomicU32>,
    /// Reads of the slot holders' tasks (one `BatchGetItem` each in DynamoDB).
    pub holder_reads: Arc<std::sync::atomic::AtomicU32>,
    /// Wake-up claims tried (one conditional `UpdateItem` each).
    pub wake_claims: Arc<std::sync::atomic::AtomicU32>,
}

impl MemoryStore {
    /// From now on the waiting line serves these copies, whatever the table says (`None`:
    /// the table again), as an index that lags behind its table does.
    pub fn serve_stale_line(&self, copies: Option<Vec<Task>>) {
        if let Ok(mut t) = self.tables.lock() {
            t.stale_line = copies;
        }
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("memory store lock poisoned".into())
}

impl MemoryStore {
    pub(super) fn write(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Backend("injected write failure".into()));
        }
        self.tables.lock().map_err(poisoned)
    }

    pub(super) fn read(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        self.tables.lock().map_err(poisoned)
    }

    /// Put a task as it is (test set-up).
    pub fn insert_task(&self, task: Task) {
        if let Ok(mut t) = self.tables.lock() {
            t.tasks.insert(task.id.clone(), task);
        }
    }

    /// Set an account's stored plan (as an operator would).
    pub fn set_plan(&self, user_id: &str, plan: &str) {
        if let Ok(mut t) = self.tables.lock() {
            t.accounts.entry(user_id.into()).or_default().plan = Some(plan.into());
        }
    }

    pub fn ledger_sum(&self, user_id: &str) -> (u64, u64) {
        let Ok(t) = self.tables.lock() else {
            return (0, 0);
        };
        t.ledger
            .iter()
            .filter(|(u, _)| u == user_id)
            .fold((0, 0), |(d, r), (_, e)| match e.kind {
                LedgerKind::Debit => (d + e.units.0, r),
                LedgerKind::Refund => (d, r + e.units.0),
            })
    }
}

fn view(t: &Tables, user_id: &str, day: &str) -> AccountView {
    let a = t.accounts.get(user_id);
    AccountView {
        plan: a.and_then(|a| a.plan.clone()),
        in_flight: a.map_or(0, |a| a.in_flight),
        used_today: CostUnits(*t.usage.get(&(user_id.into(), day.into())).unwrap_or(&0)),
        suspended_until: a.and_then(|a| a.suspended_until),
        violations: a.map(|a| a.violations.clone()).unwrap_or_default(),
    }
}

impl Accounts for MemoryStore {
    async fn create_task(
        &self,
        task: &Task,
        idem: &IdempotencyRecord,
        charge: &Charge,
    ) -> Result<CreateOutcome, StoreError> {
        let mut t = self.write()?;
        let key = (idem.user_id.clone(), idem.key.clone());
        if let Some(existing) = t.idempotency.get(&key) {
            return Ok(CreateOutcome::KeyExists(existing.clone()));
        }
        let v = view(&t, &task.user_id, &charge.day);
        let usage = Usage {
            in_flight: v.in_flight,
            used_today: v.used_today,
            suspended_until: v.suspended_until,
        };
        let fits = usage.suspended_until.is_none_or(|u| u <= charge.now_secs)
            && usage.in_flight < charge.max_concurrent
            && usage.used_today.0 + task.cost_units.0 <= charge.daily_budget.0;
        if !fits {
            let why = charge_refusal(
                &usage,
                charge.max_concurrent,
                charge.daily_budget,
                task.cost_units,
                charge.now_secs,
            );
            return Ok(CreateOutcome::Refused(why));
        }
        let account = t.accounts.entry(task.user_id.clone()).or_default();
        account.in_flight += 1;
        *t.usage
            .entry((task.user_id.clone(), charge.day.clone()))
            .or_default() += task.cost_units.0;
        t.idempotency.insert(key, idem.clone());
        t.tasks.insert(task.id.clone(), task.clone());
        let debit = LedgerEntry::debit(task, &charge.day);
        t.ledger.push((task.user_id.clone(), debit));
        Ok(CreateOutcome::Created)
    }

    async fn account(&self, user_id: &str, day: &str) -> Result<AccountView, StoreError> {
        Ok(view(&*self.read()?, user_id, day))
    }

    async fn record_violation(
        &self,
        user_id: &str,
        request: &str,
        now_secs: i64,
        policy: ViolationPolicy,
    ) -> Result<Option<i64>, StoreError> {
        let mut t = self.write()?;
        let account = t.accounts.entry(user_id.into()).or_default();
        if !account.violation_requests.insert(request.to_string()) {
            return Ok(account.suspended_until.filter(|u| *u > now_secs));
        }
        account.violations.push(now_secs);
        let until = suspension(&account.violations, now_secs, policy);
        if let Some(until) = until {
            account.suspended_until = Some(until);
            account.violations.clear();
            account.violation_requests.clear();
        }
        Ok(until)
    }

    async fn ledger(&self, user_id: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        let t = self.read()?;
        Ok(t.ledger
            .iter()
            .filter(|(u, _)| u == user_id)
            .map(|(_, e)| e.clone())
            .collect())
    }
}

fn finish(t: &mut Tables, before: &Task, after: &Task) {
    if let Some(holders) = t.slots.get_mut(&before.slot_key()) {
        holders.remove(before.id.as_str());
    }
    if let Some(a) = t.accounts.get_mut(&before.user_id) {
        a.in_flight = a.in_flight.saturating_sub(1);
    }
    if !after.status.refunds() || before.cost_units.0 == 0 {
        return;
    }
    let day = refund_day(before.created_at);
    if let Some(used) = t.usage.get_mut(&(before.user_id.clone(), day.clone())) {
        *used = used.saturating_sub(before.cost_units.0);
    }
    let refund = LedgerEntry::refund(before, after);
    t.ledger.push((before.user_id.clone(), refund));
}

impl Tasks for MemoryStore {
    async fn get_task(&self, task_id: &str) -> Result<Option<Task>, StoreError> {
        // DynamoDB refuses empty key parts and partition keys over 2048 bytes.
        if task_id.is_empty() || task_id.len() + "TASK#".len() > 2048 {
            return Err(StoreError::Backend(
                "ValidationException: key too long".into(),
            ));
        }
        Ok(self.read()?.tasks.get(task_id).cloned())
    }

    async fn apply(
        &self,
        task_id: &str,
        event: TaskEvent,
        patch: TaskPatch,
    ) -> Result<Applied, StoreError> {
        let mut t = self.write()?;
        let current = t
            .tasks
            .get(task_id)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchTask(task_id.into()))?;
        let Some(next) = apply_event(&current, event, &patch, Timestamp::now())? else {
            return Ok(Applied {
                task: current,
                moved: false,
            });
        };
        let moved = next.status != current.status;
        if moved && next.status.is_terminal() {
            finish(&mut t, &current, &next);
        }
        t.tasks.insert(task_id.into(), next.clone());
        Ok(Applied { task: next, moved })
    }

    async fn list_tasks(
        &self,
        user_id: &str,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<TaskPage, StoreError> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let after = match cursor {
            None => None,
            Some(c) => Some(
                c.strip_prefix(&format!("{user_id}|"))
                    .ok_or(StoreError::InvalidCursor)?
                    .to_string(),
            ),
        };
        let t = self.read()?;
        let mut mine: Vec<&Task> = t.tasks.values().filter(|x| x.user_id == user_id).collect();
        mine.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
        let sort_key = |x: &Task| format!("{}#{}", x.created_at, x.id);
        let start = after.map_or(0, |a| {
            mine.iter()
                .position(|x| sort_key(x) < a)
                .unwrap_or(mine.len())
        });
        let tasks: Vec<Task> = mine
            .iter()
            .skip(start)
            .take(limit as usize)
            .map(|x| (*x).clone())
            .collect();
        let more = start + tasks.len() < mine.len();
        let next_cursor = tasks
            .last()
            .filter(|_| more)
            .map(|x| format!("{user_id}|{}", sort_key(x)));
        Ok(TaskPage { tasks, next_cursor })
    }

    async fn claim_submit(
        &self,
        task_id: &str,
        provider: &str,
        account: &str,
        seen_attempt: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<Option<Task>, StoreError> {
        let mut t = self.write()?;
        let Some(task) = t.tasks.get_mut(task_id) else {
            return Ok(None);
        };
        let claimed =
            crate::domain::state::claim_submit(task, provider, account, seen_attempt, now);
        if let Some(next) = &claimed {
            *task = next.clone();
        }
        Ok(claimed)
    }

    async fn reassign(
        &self,
        task_id: &str,
        seen_attempt: Option<Timestamp>,
        to: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut t = self.write()?;
        let Some(task) = t.tasks.get_mut(task_id) else {
            return Ok(false);
        };
        let moved = crate::domain::state::reassign(task, seen_attempt, to, now);
        Ok(moved.map(|next| *task = next).is_some())
    }

    async fn defer(&self, task_id: &str, retry_at: Timestamp) -> Result<(), StoreError> {
        let mut t = self.write()?;
        if let Some(task) = t.tasks.get_mut(task_id)
            && let Some(next) = crate::domain::state::defer(task, retry_at)
        {
            *task = next;
        }
        Ok(())
    }

    async fn mark_deleted(
        &self,
        task_id: &str,
        now: Timestamp,
    ) -> Result<Option<Task>, StoreError> {
        let mut t = self.write()?;
        let Some(task) = t.tasks.get_mut(task_id) else {
            return Ok(None);
        };
        if let Some(next) = crate::domain::state::mark_deleted(task, now) {
            *task = next;
        }
        Ok(Some(task.clone()))
    }
}

impl crate::ports::Admission for MemoryStore {}

impl crate::ports::Breakers for MemoryStore {
    async fn breaker(
        &self,
        provider: &str,
    ) -> Result<crate::domain::breaker::BreakerState, StoreError> {
        Ok(self
            .read()?
            .breakers
            .get(provider)
            .copied()
            .unwrap_or_default())
    }

    async fn record_submit(
        &self,
        provider: &str,
        ok: bool,
        policy: crate::domain::breaker::BreakerPolicy,
        now: i64,
    ) -> Result<crate::domain::breaker::BreakerState, StoreError> {
        let mut t = self.write()?;
        let state = t.breakers.entry(provider.into()).or_default();
        *state = crate::domain::breaker::after(*state, ok, policy, now);
        Ok(*state)
    }
}

impl crate::ports::Capacity for MemoryStore {
    async fn take_slot(&self, provider: &str, task_id: &str, cap: u32) -> Result<bool, StoreError> {
        let mut t = self.write()?;
        let holders = t.slots.entry(provider.into()).or_default();
        if holders.contains(task_id) {
            return Ok(true);
        }
        if holders.len() as u32 >= cap {
            return Ok(false);
        }
        Ok(holders.insert(task_id.into()))
    }

    async fn release_slot(&self, provider: &str, task_id: &str) -> Result<(), StoreError> {
        if let Some(holders) = self.write()?.slots.get_mut(provider) {
            holders.remove(task_id);
        }
        Ok(())
    }

    async fn slot_holders(&self, provider: &str) -> Result<Vec<TaskId>, StoreError> {
        let t = self.read()?;
        Ok(t.slots
            .get(provider)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default())
    }
}

/// The single reads, one after another (the memory store has no round trips to save).
impl crate::ports::LineStates for MemoryStore {
    async fn line_state(
        &self,
        breakers: &[String],
        slots: &[String],
    ) -> Result<crate::ports::LineState, StoreError> {
        use crate::ports::{Breakers, Capacity};
        let mut state = crate::ports::LineState::default();
        for key in breakers {
            state.breakers.insert(key.clone(), self.breaker(key).await?);
        }
        for key in slots {
            state
                .holders
                .insert(key.clone(), self.slot_holders(key).await?);
        }
        state.wake_at = self.read()?.wake_at;
        Ok(state)
    }

    async fn tasks_named(&self, ids: &[TaskId]) -> Result<Vec<Task>, StoreError> {
        self.holder_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = self.read()?;
        Ok(ids
            .iter()
            .filter_map(|id| t.tasks.get(id).cloned())
            .collect())
    }
}

impl crate::ports::WakeClaims for MemoryStore {
    async fn claim_wake(&self, at: Timestamp, now: Timestamp) -> Result<bool, StoreError> {
        self.wake_claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut t = self.write()?;
        if t.wake_at.is_some_and(|w| w > now) {
            return Ok(false);
        }
        t.wake_at = Some(at);
        Ok(true)
    }
}

/// Every generation counts as recent: in-process tests are short.
impl crate::ports::GenerationTimes for MemoryStore {
    async fn record_generation(
        &self,
        provider: &str,
        model: &str,
        took: std::time::Duration,
        _at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut t = self.write()?;
        let times = t.generations.entry((provider.into(), model.into()));
        *times
            .or_default()
            .0
            .entry(crate::domain::pace::bin(took))
            .or_default() += 1;
        Ok(())
    }

    async fn recent_generations(
        &self,
        provider: &str,
        model: &str,
        _now: Timestamp,
    ) -> Result<crate::domain::pace::Histogram, StoreError> {
        let t = self.read()?;
        let key = (provider.to_string(), model.to_string());
        Ok(t.generations.get(&key).cloned().unwrap_or_default())
    }
}

impl crate::ports::WaitingLine for MemoryStore {
    async fn waiting(&self, provider: &str, limit: u32) -> Result<Vec<Task>, StoreError> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = self.read()?;
        let source: Vec<&Task> = match &t.stale_line {
            Some(copies) => copies.iter().collect(),
            None => t.tasks.values().collect(),
        };
        let mut waiting: Vec<Task> = source
            .into_iter()
            .filter(|x| x.status == TaskStatus::Created && x.provider == provider)
            .cloned()
            .collect();
        waiting.sort_by_key(crate::ports::waiting_key);
        waiting.truncate(limit as usize);
        Ok(waiting)
    }

    async fn waiting_ahead(&self, task: &Task) -> Result<u32, StoreError> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = crate::ports::waiting_key(task);
        let t = self.read()?;
        Ok(t.tasks
            .values()
            .filter(|x| x.status == TaskStatus::Created && x.provider == task.provider)
            .filter(|x| crate::ports::waiting_key(x) < key)
            .count() as u32)
    }
}

impl Idempotency for MemoryStore {
    async fn idempotency(
        &self,
        user_id: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let t = self.read()?;
        Ok(t.idempotency.get(&(user_id.into(), key.into())).cloned())
    }
}

impl crate::ports::BillIndex for MemoryStore {
    async fn billed_tasks(
        &self,
        slot_key: &str,
        day: crate::domain::bill::Day,
    ) -> Result<Vec<crate::domain::bill::BilledTask>, StoreError> {
        let t = self.read()?;
        Ok(t.tasks
            .values()
            .filter(|x| x.slot_key() == slot_key && x.bill_day() == day)
            .filter_map(|x| {
                Some(crate::domain::bill::BilledTask {
                    reference: x.provider_ref.as_ref()?.to_string(),
                    task_id: x.id.clone(),
                    status: x.status,
                    cost_units: x.cost_units,
                })
            })
            .collect())
    }
}

impl crate::ports::PosterRecords for MemoryStore {
    async fn record_poster(
        &self,
        task_id: &str,
        video_key: &str,
        poster: &crate::domain::task::Poster,
    ) -> Result<bool, StoreError> {
        let mut t = self.write()?;
        let Some(task) = t.tasks.get_mut(task_id) else {
            return Ok(false);
        };
        match crate::domain::state::add_poster(task, video_key, poster) {
            Some(next) => {
                *task = next;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl ReconcileIndex for MemoryStore {
    async fn stale_tasks(&self, cutoff: Timestamp, limit: u32) -> Result<Vec<Task>, StoreError> {
        self.queries
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = self.read()?;
        let mut stale: Vec<Task> = t
            .tasks
            .values()
            .filter(|x| x.reconciled() && x.last_seen() < cutoff)
            .cloned()
            .collect();
        stale.sort_by_key(Task::last_seen);
        stale.truncate(limit as usize);
        Ok(stale)
    }

    async fn claim_check(
        &self,
        task_id: &str,
        cutoff: Timestamp,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut t = self.write()?;
        let Some(task) = t.tasks.get_mut(task_id) else {
            return Ok(false);
        };
        let unseen = !task.status.is_terminal() && task.last_seen() < cutoff;
        if unseen {
            task.checked_at = Some(now);
        }
        Ok(unseen)
    }
}

impl WebhookDedup for MemoryStore {
    async fn claim_webhook(&self, claim: &WebhookClaim) -> Result<bool, StoreError> {
        Ok(self.write()?.webhooks.insert(claim.key()))
    }

    async fn release_webhook(&self, claim: &WebhookClaim) -> Result<(), StoreError> {
        self.write()?.webhooks.remove(&claim.key());
        Ok(())
    }
}

/// Record a task as create-task would (charged, slot taken), optionally already submitted.
pub async fn seed_task(store: &MemoryStore, task: &Task, submitted_as: Option<&str>) {
    let record = IdempotencyRecord {
        user_id: task.user_id.clone(),
        key: format!("seed-{}", task.id),
        request_hash: String::new(),
        task_id: task.id.clone(),
        created_at: task.created_at.to_string(),
    };
    let charge = Charge {
        max_concurrent: 1000,
        daily_budget: CostUnits(u64::MAX / 2),
        day: timestamp::utc_day(timestamp::now()),
        now_secs: timestamp::unix_seconds(timestamp::now()),
    };
    let created = store.create_task(task, &record, &charge).await;
    assert!(matches!(created, Ok(CreateOutcome::Created)), "{created:?}");
    if let Some(reference) = submitted_as {
        let patch = TaskPatch {
            provider_ref: Some(ProviderRef(reference.into())),
            ..Default::default()
        };
        let applied = store
            .apply(&task.id, TaskEvent::ProviderQueued, patch)
            .await;
        assert!(applied.is_ok(), "{applied:?}");
    }
}
