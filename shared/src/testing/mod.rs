//! In-memory implementations of every port, for in-process handler tests (feature `test-util`).
//! They keep the same rules as the AWS adapters (one atomic charge, state-machine moves, a
//! terminal move frees the slot and a failure refunds), so a handler test exercises the real
//! logic with nothing running.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::domain::plans::{Usage, charge_refusal, refund_day, suspension};
use crate::domain::state::{TaskEvent, TaskPatch, apply_event};
use crate::domain::task::{CostUnits, Mode, Quality, Task, TaskId, TaskStatus, UserId};
use crate::domain::timestamp::{self, Timestamp};
use crate::ports::{
    AccountView, Accounts, Applied, BlobError, Charge, CreateOutcome, FinalizeMessage,
    FinalizeQueue, Idempotency, IdempotencyRecord, LedgerEntry, LedgerKind, MultipartUpload,
    QueueError, ReconcileIndex, StoreError, TaskPage, Tasks, UploadStore, VideoMetadata,
    VideoStore, ViolationPolicy, WebhookClaim, WebhookDedup,
};
use crate::provider::{
    CallbackError, CallbackHint, CallbackReader, Deadline, GenerationRequest, JobLookup, JobStatus,
    ModelChoice, ProviderError, ProviderJob, ProviderRef, VideoProvider,
};

mod notify;
pub use notify::{MemoryBus, MemoryOutbox, MemoryPush};

#[derive(Default)]
struct Account {
    plan: Option<String>,
    in_flight: u32,
    suspended_until: Option<i64>,
    violations: Vec<i64>,
    violation_requests: std::collections::HashSet<String>,
}

#[derive(Default)]
struct Tables {
    tasks: BTreeMap<TaskId, Task>,
    accounts: HashMap<UserId, Account>,
    usage: HashMap<(UserId, String), u64>,
    idempotency: HashMap<(UserId, String), IdempotencyRecord>,
    ledger: Vec<(UserId, LedgerEntry)>,
    webhooks: HashSet<String>,
    slots: HashMap<String, std::collections::BTreeSet<TaskId>>,
    breakers: HashMap<String, crate::domain::breaker::BreakerState>,
    devices: BTreeMap<(UserId, String), crate::ports::Device>,
    device_owners: HashMap<String, UserId>,
    notice_marks: HashSet<(String, String)>,
    deliveries: Vec<crate::ports::Delivery>,
    templates: Vec<crate::domain::templates::VideoTemplate>,
    groups: HashMap<(UserId, String), Vec<TaskId>>,
    cache: HashMap<(UserId, String), (TaskId, i64)>,
}

/// The table, in memory; clones share it. `fail_writes` makes every write answer a backend
/// error.
#[derive(Default, Clone)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
    pub fail_writes: Arc<std::sync::atomic::AtomicBool>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("memory store lock poisoned".into())
}

impl MemoryStore {
    fn write(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Backend("injected write failure".into()));
        }
        self.tables.lock().map_err(poisoned)
    }

    fn read(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
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
    if let Some(holders) = t.slots.get_mut(&before.provider) {
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
        seen_attempt: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let mut t = self.write()?;
        let Some(task) = t.tasks.get_mut(task_id) else {
            return Ok(false);
        };
        let claimed = crate::domain::state::claim_submit(task, seen_attempt, now);
        Ok(claimed.map(|next| *task = next).is_some())
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

impl crate::ports::WaitingLine for MemoryStore {
    async fn waiting(&self, provider: &str, limit: u32) -> Result<Vec<Task>, StoreError> {
        let t = self.read()?;
        let mut waiting: Vec<Task> = t
            .tasks
            .values()
            .filter(|x| x.status == TaskStatus::Created && x.provider == provider)
            .cloned()
            .collect();
        waiting.sort_by_key(crate::ports::waiting_key);
        waiting.truncate(limit as usize);
        Ok(waiting)
    }

    async fn waiting_ahead(&self, task: &Task) -> Result<u32, StoreError> {
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

impl ReconcileIndex for MemoryStore {
    async fn stale_tasks(&self, cutoff: Timestamp, limit: u32) -> Result<Vec<Task>, StoreError> {
        let t = self.read()?;
        let mut stale: Vec<Task> = t
            .tasks
            .values()
            .filter(|x| !x.status.is_terminal() && x.last_seen() < cutoff)
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

/// The finalize queue, in memory; clones share it.
#[derive(Default, Clone)]
pub struct MemoryQueue {
    pub messages: Arc<Mutex<Vec<FinalizeMessage>>>,
    /// Dispatcher wake-ups, with their delays.
    pub nudges: Arc<Mutex<Vec<Duration>>>,
    pub fail: Arc<std::sync::atomic::AtomicBool>,
}

impl MemoryQueue {
    pub fn drain(&self) -> Vec<FinalizeMessage> {
        self.messages
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }
}

impl crate::ports::DispatchNudge for MemoryQueue {
    async fn nudge(&self, delay: Duration) -> Result<(), QueueError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError("injected queue failure".into()));
        }
        if let Ok(mut n) = self.nudges.lock() {
            n.push(delay);
        }
        Ok(())
    }
}

impl FinalizeQueue for MemoryQueue {
    async fn enqueue(&self, message: &FinalizeMessage) -> Result<(), QueueError> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(QueueError("injected queue failure".into()));
        }
        let mut m = self
            .messages
            .lock()
            .map_err(|_| QueueError("poisoned".into()))?;
        m.push(message.clone());
        Ok(())
    }
}

/// The bucket, in memory (clones share it): objects with metadata, multipart uploads, and presigned links of
/// the form `memory://{key}?signed={unix}&ttl={secs}`.
#[derive(Default, Clone)]
pub struct MemoryBlobs {
    objects: Arc<Mutex<HashMap<String, (Bytes, VideoMetadata)>>>,
    /// Uploads in progress by upload id.
    parts: Arc<Mutex<HashMap<String, Pending>>>,
    /// The part sizes each completed upload was made of, by key.
    completed: Arc<Mutex<HashMap<String, Vec<usize>>>>,
}

/// S3 refuses to complete an upload with a part under 5 MiB that is not the last one.
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// An upload in progress: its parts by number and the metadata its object will carry.
type Pending = (BTreeMap<i32, Bytes>, VideoMetadata);

fn blob_err<T>(_: T) -> BlobError {
    BlobError("memory bucket lock poisoned".into())
}

impl MemoryBlobs {
    pub fn put(&self, key: &str, body: impl Into<Bytes>) {
        self.put_with(key, body, VideoMetadata::default());
    }

    pub fn put_with(&self, key: &str, body: impl Into<Bytes>, metadata: VideoMetadata) {
        if let Ok(mut o) = self.objects.lock() {
            o.insert(key.into(), (body.into(), metadata));
        }
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub fn uploads_in_progress(&self) -> usize {
        self.parts.lock().map_or(0, |p| p.len())
    }

    /// The sizes of the parts the last completed upload of `key` was made of.
    pub fn part_sizes(&self, key: &str) -> Vec<usize> {
        self.completed
            .lock()
            .ok()
            .and_then(|c| c.get(key).cloned())
            .unwrap_or_default()
    }

    pub fn object(&self, key: &str) -> Option<(Bytes, VideoMetadata)> {
        self.objects.lock().ok()?.get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .objects
            .lock()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }
}

fn link(key: &str, signed_at: SystemTime, ttl: Duration) -> String {
    let at = signed_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("memory://{key}?signed={at}&ttl={}", ttl.as_secs())
}

impl VideoStore for MemoryBlobs {
    async fn begin(
        &self,
        key: &str,
        _content_type: &str,
        metadata: &VideoMetadata,
    ) -> Result<MultipartUpload, BlobError> {
        let upload_id = uuid::Uuid::new_v4().to_string();
        self.parts
            .lock()
            .map_err(blob_err)?
            .insert(upload_id.clone(), (BTreeMap::new(), metadata.clone()));
        Ok(MultipartUpload {
            key: key.into(),
            upload_id,
            parts: Vec::new(),
        })
    }

    async fn upload_part(
        &self,
        upload: &MultipartUpload,
        number: i32,
        body: Bytes,
    ) -> Result<(i32, String), BlobError> {
        let mut parts = self.parts.lock().map_err(blob_err)?;
        let (list, _) = parts
            .get_mut(&upload.upload_id)
            .ok_or_else(|| BlobError("no such upload".into()))?;
        list.insert(number, body);
        Ok((number, format!("etag-{number}")))
    }

    async fn complete(&self, upload: &MultipartUpload) -> Result<(), BlobError> {
        let (parts, metadata) = self
            .parts
            .lock()
            .map_err(blob_err)?
            .remove(&upload.upload_id)
            .ok_or_else(|| BlobError("no such upload".into()))?;
        let listed: Vec<i32> = upload.parts.iter().map(|(n, _)| *n).collect();
        if listed != parts.keys().copied().collect::<Vec<_>>() {
            return Err(BlobError(
                "the completion lists other parts than were uploaded".into(),
            ));
        }
        let sizes: Vec<usize> = parts.values().map(Bytes::len).collect();
        if sizes.iter().rev().skip(1).any(|s| *s < MIN_PART_BYTES) {
            return Err(BlobError(
                "EntityTooSmall: a part other than the last is under 5 MiB".into(),
            ));
        }
        if let Ok(mut c) = self.completed.lock() {
            c.insert(upload.key.clone(), sizes);
        }
        self.put_with(
            &upload.key,
            parts.into_values().collect::<Vec<_>>().concat(),
            metadata,
        );
        Ok(())
    }

    async fn abort(&self, upload: &MultipartUpload) -> Result<(), BlobError> {
        self.parts
            .lock()
            .map_err(blob_err)?
            .remove(&upload.upload_id);
        Ok(())
    }

    async fn head(&self, key: &str) -> Result<Option<VideoMetadata>, BlobError> {
        Ok(self.object(key).map(|(_, m)| m))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.objects.lock().map_err(blob_err)?.remove(key);
        Ok(())
    }

    async fn presign_get(
        &self,
        key: &str,
        signed_at: SystemTime,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        Ok(link(key, signed_at, ttl))
    }
}

impl UploadStore for MemoryBlobs {
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        content_length: u64,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        Ok(format!(
            "memory://{key}?put&type={content_type}&length={content_length}&ttl={}",
            ttl.as_secs()
        ))
    }

    async fn fetch(&self, key: &str, max_bytes: u64) -> Result<Option<Bytes>, BlobError> {
        Ok(self
            .object(key)
            .map(|(b, _)| b.slice(..b.len().min(max_bytes as usize + 1))))
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        Ok(link(key, SystemTime::now(), ttl))
    }
}

/// A provider that exists only in tests, with its own callback shape: adding it touched no
/// handler. Jobs are scripted with `set`; errors are queued with `fail_next_submit` and
/// `fail_next_lookup`.
#[derive(Default, Clone)]
pub struct FakeProvider {
    jobs: Arc<Mutex<HashMap<String, ProviderJob>>>,
    submit_errors: Arc<Mutex<Vec<ProviderError>>>,
    lookup_errors: Arc<Mutex<Vec<ProviderError>>>,
    pub submitted: Arc<Mutex<Vec<GenerationRequest>>>,
    /// When set, the fake drops a queued job on cancel (as fal does); else it cannot cancel.
    pub cancelable: Arc<std::sync::atomic::AtomicBool>,
}

pub const FAKE: &str = "fake";

impl FakeProvider {
    /// Move the job of our task `task_id` to `status` (with a video URL or a failure).
    pub fn set(
        &self,
        task_id: &str,
        status: JobStatus,
        video_url: Option<&str>,
        failure: Option<&str>,
    ) {
        if let Ok(mut jobs) = self.jobs.lock()
            && let Some(job) = jobs.get_mut(task_id)
        {
            job.status = status;
            job.video_url = video_url.map(str::to_string);
            job.failure = failure.map(str::to_string);
            // The fake bills a unit per second of a delivered video, nothing for a failure.
            job.billed_units = match status {
                JobStatus::Succeeded => Some("5".into()),
                JobStatus::Failed => Some("0".into()),
                _ => None,
            };
        }
    }

    pub fn job(&self, task_id: &str) -> Option<ProviderJob> {
        self.jobs.lock().ok()?.get(task_id).cloned()
    }

    pub fn fail_next_submit(&self, e: ProviderError) {
        if let Ok(mut q) = self.submit_errors.lock() {
            q.push(e);
        }
    }

    pub fn fail_next_lookup(&self, e: ProviderError) {
        if let Ok(mut q) = self.lookup_errors.lock() {
            q.push(e);
        }
    }

    pub fn submit_count(&self) -> usize {
        self.submitted.lock().map_or(0, |s| s.len())
    }
}

fn pop(q: &Mutex<Vec<ProviderError>>) -> Option<ProviderError> {
    q.lock()
        .ok()
        .and_then(|mut q| (!q.is_empty()).then(|| q.remove(0)))
}

impl VideoProvider for FakeProvider {
    fn name(&self) -> &'static str {
        FAKE
    }

    fn choose_model(&self, quality: Quality, model_override: Option<&str>) -> ModelChoice {
        ModelChoice {
            model: model_override.unwrap_or("fake-model-1").to_string(),
            mode: if quality == Quality::Pro {
                Mode::Pro
            } else {
                Mode::Std
            },
        }
    }

    /// Camera moves are refused on 10-second videos (the fake's capability rule), and a
    /// prompt with `[fake:invalid]` is a value it would reject.
    fn check(&self, request: &GenerationRequest) -> Result<(), ProviderError> {
        if request.camera.is_some() && request.duration_seconds == 10 {
            return Err(ProviderError::Unsupported {
                feature: crate::provider::Feature::CameraControl,
                reason: "camera moves are for 5-second videos only".into(),
            });
        }
        if request
            .prompt
            .as_deref()
            .is_some_and(|p| p.contains("[fake:invalid]"))
        {
            return Err(ProviderError::NotCreated {
                reason: "the fake rejects this prompt".into(),
            });
        }
        Ok(())
    }

    async fn submit(
        &self,
        request: &GenerationRequest,
        _deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        if let Some(e) = pop(&self.submit_errors) {
            return Err(e);
        }
        let mut jobs = self.jobs.lock().map_err(|_| ProviderError::NotFound)?;
        let job = ProviderJob {
            reference: ProviderRef(format!("job-{}", jobs.len() + 1)),
            handle: None,
            status: JobStatus::Queued,
            video_url: None,
            video_duration_seconds: None,
            billed_units: None,
            request_id: Some(format!("fake-create-{}", jobs.len() + 1)),
            failure: None,
        };
        jobs.insert(request.task_id.clone(), job.clone());
        if let Ok(mut s) = self.submitted.lock() {
            s.push(request.clone());
        }
        Ok(job)
    }

    async fn cancel(
        &self,
        lookup: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<crate::provider::CancelOutcome, ProviderError> {
        use crate::provider::CancelOutcome;
        if !self.cancelable.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(CancelOutcome::NotOffered);
        }
        let job = self.lookup(lookup, deadline).await?;
        if job.status != JobStatus::Queued {
            return Ok(CancelOutcome::AlreadyStarted);
        }
        if let Ok(mut jobs) = self.jobs.lock()
            && let Some(j) = jobs.values_mut().find(|j| j.reference == job.reference)
        {
            j.status = JobStatus::Failed;
            j.failure = Some("canceled".into());
        }
        Ok(CancelOutcome::Canceled)
    }

    async fn lookup(
        &self,
        lookup: JobLookup<'_>,
        _deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        if let Some(e) = pop(&self.lookup_errors) {
            return Err(e);
        }
        let jobs = self.jobs.lock().map_err(|_| ProviderError::NotFound)?;
        let by_ref = lookup
            .reference
            .and_then(|r| jobs.values().find(|j| j.reference == *r));
        let mut job = by_ref
            .or_else(|| jobs.get(lookup.task_id))
            .cloned()
            .ok_or(ProviderError::NotFound)?;
        job.request_id = Some("fake-lookup".into());
        Ok(job)
    }
}

/// The fake provider's callbacks: `{"job": "job-1", "state": "working|done|broken", "ours": "<task>"}`.
pub struct FakeCallbacks;

impl CallbackReader for FakeCallbacks {
    fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError> {
        if provider != FAKE {
            return Err(CallbackError::UnknownProvider(provider.into()));
        }
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| CallbackError::Malformed(format!("not JSON: {e}")))?;
        let field = |name: &str| v.get(name).and_then(|x| x.as_str());
        let job = field("job").ok_or_else(|| CallbackError::Malformed("no job".into()))?;
        let status = match field("state") {
            Some("working") => JobStatus::Running,
            Some("done") => JobStatus::Succeeded,
            Some("broken") => JobStatus::Failed,
            _ => JobStatus::Unknown,
        };
        Ok(CallbackHint {
            reference: ProviderRef(job.into()),
            task_id: field("ours").map(str::to_string),
            status,
            failure: (status == JobStatus::Failed).then(|| "the fake broke".to_string()),
        })
    }
}

/// An API Gateway (payload 2.0) request as the functions receive it, for `user` (authorizer
/// claims; `None` sends no identity) with an optional plan group.
pub struct HttpEvent {
    pub method: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub user: Option<String>,
    pub plan: Option<String>,
}

impl HttpEvent {
    pub fn new(method: &'static str, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
            user: Some("alice".into()),
            plan: None,
        }
    }

    pub fn user(mut self, user: Option<&str>) -> Self {
        self.user = user.map(str::to_string);
        self
    }

    pub fn plan(mut self, plan: &str) -> Self {
        self.plan = Some(plan.into());
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.into(), value.into()));
        self
    }

    pub fn json(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body.to_string());
        self
    }

    pub fn raw_body(mut self, body: impl Into<String>) -> Self {
        self.body = Some(body.into());
        self
    }

    pub fn event(&self) -> serde_json::Value {
        use serde_json::json;
        let headers: serde_json::Map<String, serde_json::Value> = self
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
            .chain([("host".to_string(), json!("api.example.com"))])
            .collect();
        let raw_query = self
            .query
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut context = json!({
            "accountId": "123456789012", "apiId": "test", "domainName": "api.example.com",
            "http": {"method": self.method, "path": self.path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.10", "userAgent": "test"},
            "requestId": "test-request", "routeKey": "$default", "stage": "$default",
            "time": "25/Nov/2026:02:00:00 +0000", "timeEpoch": 1795658400000i64,
        });
        if let Some(user) = &self.user {
            let mut claims = json!({"sub": user});
            if let Some(plan) = &self.plan {
                claims["cognito:groups"] = json!(format!("[plan:{plan}]"));
            }
            context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
        }
        let mut event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": self.path,
            "rawQueryString": raw_query, "headers": headers, "requestContext": context,
            "isBase64Encoded": false,
        });
        if !self.query.is_empty() {
            let q: serde_json::Map<String, serde_json::Value> = self
                .query
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            event["queryStringParameters"] = serde_json::Value::Object(q);
        }
        if let Some(body) = &self.body {
            event["body"] = json!(body);
        }
        event
    }

    pub fn request(&self) -> lambda_http::Request {
        request_from(&self.event().to_string())
    }
}

/// A request from a payload 2.0 event document (a sample in `events/`).
pub fn request_from(event: &str) -> lambda_http::Request {
    match lambda_http::request::from_str(event) {
        Ok(req) => req,
        Err(e) => panic!("not an API Gateway event: {e}"),
    }
}

/// Status, headers and JSON body of a handler's response.
pub fn response_parts(
    resp: lambda_http::Response<lambda_http::Body>,
) -> (u16, http::HeaderMap, serde_json::Value) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = match resp.body() {
        lambda_http::Body::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        lambda_http::Body::Binary(b) => {
            serde_json::from_slice(b).unwrap_or(serde_json::Value::Null)
        }
        _ => serde_json::Value::Null,
    };
    (status, headers, body)
}

/// A five-second standard text-to-video task in `CREATED`, as create-task records it.
pub fn task_fixture(id: &str, user_id: &str, provider: &str) -> Task {
    let now = Timestamp::now();
    Task {
        id: id.into(),
        user_id: user_id.into(),
        status: TaskStatus::Created,
        video_type: crate::domain::task::VideoType::TextToVideo,
        prompt: Some("a red fox in snow".into()),
        negative_prompt: None,
        duration: 5,
        aspect_ratio: Some(crate::domain::task::AspectRatio::Landscape),
        quality: Quality::Standard,
        model: "fake-model-1".into(),
        mode: Mode::Std,
        cost_units: CostUnits(500),
        provider: provider.into(),
        provider_ref: None,
        provider_handle: None,
        created_at: now,
        updated_at: now,
        submitted_at: None,
        completed_at: None,
        error: None,
        video: None,
        checked_at: None,
        deleted_at: None,
        priority: 1,
        queue_deadline: None,
        request: None,
        submit_attempted_at: None,
        retry_at: None,
        plan: Some("free".into()),
        provider_facts: Default::default(),
        template: None,
        group_id: None,
        cached_from: None,
        upgraded_from: None,
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

impl FakeProvider {
    /// Register a job the provider holds for our task (as if submitted earlier).
    pub fn hold(&self, task_id: &str, reference: &str, status: JobStatus) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(
                task_id.into(),
                ProviderJob {
                    reference: ProviderRef(reference.into()),
                    handle: None,
                    status,
                    video_url: None,
                    video_duration_seconds: None,
                    billed_units: None,
                    request_id: None,
                    failure: None,
                },
            );
        }
    }
}
