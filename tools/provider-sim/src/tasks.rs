//! Task records, their lifecycle on a clock (submitted → processing → succeed | failed), the
//! callbacks they send, the videos they serve, and the counters tests read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::SimConfig;
use crate::faults::{CallKind, Faults, TaskFaults, task_faults};
use crate::video::{self, Aspect, Resolution};

/// Which API made a task: its answers and callbacks take that surface's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Surface {
    Legacy,
    Standard,
}

#[derive(Debug, Clone)]
pub struct SimTask {
    pub task_id: String,
    /// The account that made it (`main`, or one of `SimConfig::accounts`).
    pub account: String,
    pub surface: Surface,
    /// The create body exactly as received, for tests to read.
    pub request: Value,
    pub mode: String,
    pub sound: bool,
    pub kind: &'static str,
    pub external_task_id: Option<String>,
    pub status: &'static str,
    pub status_msg: String,
    pub model: String,
    pub duration: u32,
    pub aspect: Aspect,
    pub resolution: Resolution,
    pub callback_url: Option<String>,
    pub parent: Option<Value>,
    pub faults: TaskFaults,
    pub video_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl SimTask {
    pub fn video_id(&self) -> String {
        format!("v{}", self.task_id)
    }

    /// The task object exactly as Kling shows it (query `data`, callback body).
    pub fn to_json(&self, base_url: &str) -> Value {
        let mut info = serde_json::Map::new();
        if let Some(ext) = &self.external_task_id {
            info.insert("external_task_id".into(), json!(ext));
        }
        if let Some(parent) = &self.parent {
            info.insert("parent_video".into(), parent.clone());
        }
        let result = if self.status == "succeed" {
            let mut video = json!({
                "id": self.video_id(),
                "url": self.video_url(base_url),
                "duration": self.duration.to_string(),
            });
            // Kling's effects answer names no duration.
            if self.kind == "effects"
                && let Some(v) = video.as_object_mut()
            {
                v.remove("duration");
            }
            json!({"videos": [video]})
        } else {
            json!({})
        };
        json!({
            "task_id": self.task_id,
            "task_status": self.status,
            "task_status_msg": self.status_msg,
            "task_info": info,
            "task_result": result,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "final_unit_deduction": self.billed_units(),
        })
    }

    /// What Kling bills: the price list for a finished video, nothing for a failed one.
    pub fn billed_units(&self) -> String {
        match self.status {
            "succeed" => {
                crate::capability::units(&self.model, &self.mode, self.sound, self.duration)
            }
            _ => "0".into(),
        }
    }

    /// The video's URL (with the expiry the faults set).
    pub fn video_url(&self, base_url: &str) -> String {
        let exp = self
            .video_expires_at
            .map(|e| format!("?exp={e}"))
            .unwrap_or_default();
        format!("{base_url}/videos/{}/output.mp4{exp}", self.task_id)
    }

    /// A task as the 2026 standard API shows it (`GET /tasks` items and its callbacks).
    pub fn to_standard_json(&self, base_url: &str) -> Value {
        let status = match self.status {
            "succeed" => "succeeded",
            other => other,
        };
        let outputs = match status {
            "succeeded" => json!([{"type": "video", "id": self.video_id(),
                "url": self.video_url(base_url), "watermark_url": "",
                "duration": self.duration.to_string()}]),
            _ => json!([]),
        };
        let billing = match status {
            "succeeded" | "failed" => {
                json!([{"charge_type": "unit", "amount": self.billed_units(), "package_type": "video"}])
            }
            _ => json!([]),
        };
        json!({
            "id": self.task_id,
            "status": status,
            "message": self.status_msg,
            "create_time": self.created_at,
            "update_time": self.updated_at,
            "external_id": self.external_task_id.clone().unwrap_or_default(),
            "outputs": outputs,
            "billing": billing,
        })
    }

    /// The shape this task's own surface uses.
    pub fn to_surface_json(&self, base_url: &str) -> Value {
        match self.surface {
            Surface::Legacy => self.to_json(base_url),
            Surface::Standard => self.to_standard_json(base_url),
        }
    }
}

/// What a create needs to know about the request.
pub struct NewTask {
    pub surface: Surface,
    pub request: Value,
    pub mode: String,
    pub sound: bool,
    pub kind: &'static str,
    pub external_task_id: Option<String>,
    pub prompt: String,
    pub model: String,
    pub duration: u32,
    pub aspect: Aspect,
    pub resolution: Resolution,
    pub callback_url: Option<String>,
    /// The video a video-to-audio task works on (`task_info.parent_video`).
    pub parent: Option<Value>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Counters {
    pub create: u64,
    pub query: u64,
    pub list: u64,
    pub download: u64,
    pub callbacks_sent: u64,
    pub callbacks_dropped: u64,
    /// Creates refused with 1303 (the account's concurrency was full).
    pub refused_1303: u64,
    /// The most unfinished tasks the account ever held at once (high-water mark).
    pub max_unfinished: u64,
    /// The same, per account.
    pub max_unfinished_by_account: std::collections::BTreeMap<String, u64>,
    /// Creates refused because the account could not take work (arrears, pack exhausted).
    pub refused_account: u64,
}

/// The account the simulator's own keys belong to.
pub const MAIN_ACCOUNT: &str = "main";

struct Inner {
    tasks: HashMap<String, SimTask>,
    by_external: HashMap<String, String>,
    order: Vec<String>,
    next_id: u64,
    counters: Counters,
    faults: Faults,
    rng: StdRng,
    videos: HashMap<(Aspect, Resolution, u32), Arc<Vec<u8>>>,
    downloads: HashMap<String, u32>,
    /// Lip-sync sessions from `identify-face`: the video's `parent_video` and its length.
    sessions: HashMap<String, (Value, f64)>,
    /// Accounts that answer every create with this code (1101 arrears, 1102 pack exhausted).
    refusing: HashMap<String, i64>,
}

pub struct SimState {
    pub config: SimConfig,
    pub base_url: String,
    http: reqwest::Client,
    inner: Mutex<Inner>,
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[derive(Debug, PartialEq)]
pub enum CreateError {
    DuplicateExternalId,
    ConcurrencyLimit,
}

/// An injected error: business code.
pub type Injected = i64;

impl SimState {
    pub fn new(config: SimConfig, base_url: String) -> Self {
        let faults = config.faults.clone();
        Self {
            base_url,
            http: crate::http_client(),
            inner: Mutex::new(Inner {
                tasks: HashMap::new(),
                by_external: HashMap::new(),
                order: Vec::new(),
                next_id: 860_000_000_000_000_000,
                counters: Counters::default(),
                rng: StdRng::seed_from_u64(faults.seed),
                faults,
                videos: HashMap::new(),
                downloads: HashMap::new(),
                sessions: HashMap::new(),
                refusing: HashMap::new(),
            }),
            config,
        }
    }

    /// A face-identification session for a video (`parent_video`, length in seconds).
    pub fn open_session(&self, parent: Value, seconds: f64) -> String {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = format!("s{}", inner.next_id);
        inner.sessions.insert(id.clone(), (parent, seconds));
        id
    }

    pub fn session(&self, id: &str) -> Option<(Value, f64)> {
        self.lock().sessions.get(id).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replace the run's faults (and reseed).
    pub fn set_faults(&self, faults: Faults) {
        let mut inner = self.lock();
        inner.rng = StdRng::seed_from_u64(faults.seed);
        inner.faults = faults;
    }

    pub fn faults(&self) -> Faults {
        self.lock().faults.clone()
    }

    pub fn counters(&self) -> Counters {
        self.lock().counters.clone()
    }

    /// The simulator's clock in Unix seconds (the machine's, moved by `clock_offset_secs`).
    pub fn now_secs(&self) -> i64 {
        now_ms() / 1000 + self.lock().faults.clock_offset_secs
    }

    /// Count a call and decide whether it fails by injection; also returns the added latency.
    pub fn on_call(&self, kind: CallKind) -> (Option<Injected>, Duration) {
        let mut inner = self.lock();
        match kind {
            CallKind::Create => inner.counters.create += 1,
            CallKind::Query => inner.counters.query += 1,
            CallKind::List => inner.counters.list += 1,
            CallKind::Any => {}
        }
        let latency = Duration::from_millis(inner.faults.latency_ms);
        if let Some(pos) = inner
            .faults
            .next_errors
            .iter()
            .position(|e| e.times > 0 && (e.on == CallKind::Any || e.on == kind))
        {
            let entry = &mut inner.faults.next_errors[pos];
            entry.times -= 1;
            let code = entry.code;
            if entry.times == 0 {
                inner.faults.next_errors.remove(pos);
            }
            return (Some(code), latency);
        }
        let rate = inner.faults.error_rate;
        if rate > 0.0 && inner.rng.random_bool(rate.clamp(0.0, 1.0)) {
            let codes = if inner.faults.error_codes.is_empty() {
                vec![5000]
            } else {
                inner.faults.error_codes.clone()
            };
            let code = codes[inner.rng.random_range(0..codes.len())];
            return (Some(code), latency);
        }
        (None, latency)
    }

    /// How long this create must hang after making its task (a client-side timeout).
    pub fn take_create_hang(&self) -> Option<Duration> {
        let mut inner = self.lock();
        if inner.faults.hang_next_creates > 0 {
            inner.faults.hang_next_creates -= 1;
            return Some(Duration::from_millis(inner.faults.hang_ms));
        }
        None
    }

    /// Whether this create, its task made, answers 5000 anyway (a failure after storing).
    pub fn take_fail_after_storing(&self) -> bool {
        let mut inner = self.lock();
        if inner.faults.fail_after_storing_next_creates > 0 {
            inner.faults.fail_after_storing_next_creates -= 1;
            return true;
        }
        false
    }

    /// Make `account` refuse every create with `code` (arrears: 1101), or take work again.
    pub fn set_account_refusal(&self, account: &str, code: Option<i64>) {
        let mut inner = self.lock();
        match code {
            Some(code) => inner.refusing.insert(account.to_string(), code),
            None => inner.refusing.remove(account),
        };
    }

    /// The code an account's creates are refused with now, counted.
    pub fn account_refusal(&self, account: &str) -> Option<i64> {
        let mut inner = self.lock();
        let code = inner.refusing.get(account).copied();
        if code.is_some() {
            inner.counters.refused_account += 1;
        }
        code
    }

    fn concurrency_limit(&self, inner: &Inner, account: &str) -> Option<usize> {
        match self.config.accounts.iter().find(|a| a.name == account) {
            Some(a) => a.concurrency_limit,
            None => inner.faults.concurrency_limit,
        }
    }

    pub fn create(self: &Arc<Self>, new: NewTask, account: &str) -> Result<SimTask, CreateError> {
        let task = {
            let mut inner = self.lock();
            if let Some(ext) = &new.external_task_id
                && inner.by_external.contains_key(ext)
            {
                return Err(CreateError::DuplicateExternalId);
            }
            let active = inner
                .tasks
                .values()
                .filter(|t| t.account == account && matches!(t.status, "submitted" | "processing"))
                .count();
            if self
                .concurrency_limit(&inner, account)
                .is_some_and(|limit| active >= limit)
            {
                inner.counters.refused_1303 += 1;
                return Err(CreateError::ConcurrencyLimit);
            }
            let max = &mut inner.counters.max_unfinished;
            *max = (*max).max(active as u64 + 1);
            let by = &mut inner.counters.max_unfinished_by_account;
            let max = by.entry(account.to_string()).or_default();
            *max = (*max).max(active as u64 + 1);
            let mut faults = task_faults(&new.prompt);
            let fail_rate = inner.faults.fail_rate;
            if faults.fail.is_none()
                && fail_rate > 0.0
                && inner.rng.random_bool(fail_rate.clamp(0.0, 1.0))
            {
                let msg = inner.faults.fail_message.clone();
                faults.fail = Some(if msg.is_empty() {
                    "Something went wrong".into()
                } else {
                    msg
                });
            }

            inner.next_id += 1;
            let now = now_ms();
            let task = SimTask {
                task_id: inner.next_id.to_string(),
                account: account.to_string(),
                surface: new.surface,
                request: new.request,
                mode: new.mode,
                sound: new.sound,
                kind: new.kind,
                external_task_id: new.external_task_id.clone(),
                status: "submitted",
                status_msg: String::new(),
                model: new.model,
                duration: new.duration,
                aspect: new.aspect,
                resolution: new.resolution,
                callback_url: new.callback_url,
                parent: new.parent,
                faults,
                video_expires_at: None,
                created_at: now,
                updated_at: now,
            };
            if let Some(ext) = new.external_task_id {
                inner.by_external.insert(ext, task.task_id.clone());
            }
            inner.order.push(task.task_id.clone());
            inner.tasks.insert(task.task_id.clone(), task.clone());
            task
        };
        let state = self.clone();
        let id = task.task_id.clone();
        tokio::spawn(async move { state.run_lifecycle(id).await });
        Ok(task)
    }

    /// Find by task_id or external_task_id.
    pub fn find(&self, kind: &str, id: &str) -> Option<SimTask> {
        let inner = self.lock();
        let task_id = inner.by_external.get(id).map(String::as_str).unwrap_or(id);
        inner.tasks.get(task_id).filter(|t| t.kind == kind).cloned()
    }

    /// A file a request names by URL (video-to-audio), at most `max` bytes.
    pub async fn fetch(&self, url: &str, max: usize) -> Result<Vec<u8>, String> {
        fetch(&self.http, url, max).await
    }

    /// `find`, as `account` sees it: another account's task does not exist.
    pub fn find_for(&self, account: &str, kind: &str, id: &str) -> Option<SimTask> {
        self.find(kind, id).filter(|t| t.account == account)
    }

    pub fn get(&self, task_id: &str) -> Option<SimTask> {
        self.lock().tasks.get(task_id).cloned()
    }

    pub fn page(&self, kind: &str, page_num: usize, page_size: usize) -> Vec<SimTask> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.tasks.get(id))
            .filter(|t| t.kind == kind)
            .skip((page_num - 1) * page_size)
            .take(page_size)
            .cloned()
            .collect()
    }

    /// Every task, oldest first.
    pub fn all(&self) -> Vec<SimTask> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|id| inner.tasks.get(id))
            .cloned()
            .collect()
    }

    /// Tasks by our ids or Kling's (standard `GET /tasks`): the ones that exist, in order.
    pub fn find_many(&self, ids: &[&str], external: bool) -> Vec<SimTask> {
        let inner = self.lock();
        ids.iter()
            .filter_map(|id| match external {
                true => inner.by_external.get(*id),
                false => inner.tasks.get(*id).map(|t| &t.task_id),
            })
            .filter_map(|id| inner.tasks.get(id))
            .cloned()
            .collect()
    }

    pub fn task_count(&self) -> usize {
        self.lock().tasks.len()
    }

    pub fn count_for_external(&self, external_task_id: &str) -> usize {
        self.lock()
            .tasks
            .values()
            .filter(|t| t.external_task_id.as_deref() == Some(external_task_id))
            .count()
    }

    /// The bytes served for a task's video (rendered once per shape and length).
    pub fn video_bytes(&self, task: &SimTask) -> Result<Arc<Vec<u8>>, video::VideoError> {
        let key = (task.aspect, task.resolution, task.duration);
        if let Some(bytes) = self.lock().videos.get(&key) {
            return Ok(bytes.clone());
        }
        let bytes = Arc::new(video::render(task.aspect, task.resolution, task.duration)?);
        self.lock().videos.insert(key, bytes.clone());
        Ok(bytes)
    }

    /// SHA-256 of what a finished task's URL serves.
    pub fn served_sha256(&self, task_id: &str) -> Option<String> {
        let task = self.get(task_id)?;
        let bytes = self.video_bytes(&task).ok()?;
        Some(hex::encode(Sha256::digest(bytes.as_slice())))
    }

    /// Count a download of a task's video and decide whether this one is cut short: the
    /// first download of a `[sim:truncate-download]` task, or a share of all downloads.
    pub fn start_download(&self, task: &SimTask) -> bool {
        let mut inner = self.lock();
        inner.counters.download += 1;
        let first = *inner
            .downloads
            .entry(task.task_id.clone())
            .and_modify(|n| *n += 1)
            .or_insert(1)
            == 1;
        let rate = inner.faults.truncate_download_rate;
        (task.faults.truncate_download && first)
            || (rate > 0.0 && inner.rng.random_bool(rate.clamp(0.0, 1.0)))
    }

    fn set_status(&self, id: &str, status: &'static str, msg: &str) -> Option<SimTask> {
        let mut inner = self.lock();
        let ttl = inner.faults.url_ttl_ms;
        let task = inner.tasks.get_mut(id)?;
        task.status = status;
        task.status_msg = msg.to_string();
        task.updated_at = now_ms();
        if status == "succeed" {
            task.video_expires_at = match (task.faults.expire_url, ttl) {
                (true, _) => Some(task.updated_at),
                (false, Some(ttl)) => Some(task.updated_at + ttl as i64),
                (false, None) => None,
            };
        }
        Some(task.clone())
    }

    /// Decide what happens to one callback: (send it, send it twice, hold it back).
    fn callback_plan(&self, task: &SimTask) -> (bool, bool, bool, Duration) {
        let mut inner = self.lock();
        let f = inner.faults.clone();
        let mut roll = |rate: f64| rate > 0.0 && inner.rng.random_bool(rate.clamp(0.0, 1.0));
        let drop = task.faults.drop_callbacks || roll(f.callback_drop_rate);
        let duplicate = task.faults.duplicate_callbacks || roll(f.callback_duplicate_rate);
        let reorder = task.faults.reorder_callbacks || roll(f.callback_reorder_rate);
        if drop {
            inner.counters.callbacks_dropped += 1;
        }
        (
            !drop,
            duplicate,
            reorder,
            Duration::from_millis(f.callback_delay_ms),
        )
    }

    fn send_callback(self: &Arc<Self>, url: String, body: Value, copies: u32, delay: Duration) {
        let state = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let raw = body.to_string();
            // One id per event: a duplicate delivery is the same message, as on a retry.
            let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
            for _ in 0..copies {
                state.lock().counters.callbacks_sent += 1;
                let mut req = state
                    .http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(raw.clone());
                if let Some(secret) = &state.config.webhook_secret {
                    let ts = state.now_secs();
                    match crate::signing::signature(secret, &id, ts, raw.as_bytes()) {
                        Ok(sig) => {
                            req = req
                                .header("webhook-id", &id)
                                .header("webhook-timestamp", ts.to_string())
                                .header("webhook-signature", sig);
                        }
                        Err(e) => tracing::error!(error = %e, "callback not signed"),
                    }
                }
                match req.send().await {
                    Ok(resp) => {
                        tracing::debug!(%url, status = resp.status().as_u16(), "callback delivered")
                    }
                    Err(e) => tracing::warn!(%url, error = %e, "callback failed"),
                }
            }
        });
    }

    async fn run_lifecycle(self: Arc<Self>, id: String) {
        let Some(first) = self.get(&id) else { return };
        let (queue, run) = (self.config.queue_time, self.config.run_time);
        let terminal = match &first.faults.fail {
            Some(msg) => ("failed", msg.clone()),
            None => ("succeed", String::new()),
        };
        let mut held: Option<Value> = None;
        let steps: [(Duration, &'static str, String); 3] = [
            (Duration::ZERO, "submitted", String::new()),
            (queue, "processing", String::new()),
            (run, terminal.0, terminal.1),
        ];
        for (wait, status, msg) in steps {
            tokio::time::sleep(wait).await;
            let task = if status == "submitted" {
                first.clone()
            } else {
                match self.set_status(&id, status, &msg) {
                    Some(t) => t,
                    None => return,
                }
            };
            let Some(url) = task.callback_url.clone() else {
                continue;
            };
            let (send, duplicate, reorder, delay) = self.callback_plan(&task);
            let body = task.to_surface_json(&self.base_url);
            if !send {
                continue;
            }
            let copies = if duplicate { 2 } else { 1 };
            if reorder && status != terminal.0 && held.is_none() {
                held = Some(body);
                continue;
            }
            self.send_callback(url.clone(), body, copies, delay);
            if let Some(late) = held.take() {
                // Sent after the newer status, so it arrives out of order.
                self.send_callback(url, late, 1, delay + Duration::from_millis(20));
            }
        }
    }
}

/// The bytes behind a URL an input names (a reference, a video to edit, an audio track), at
/// most `max`: both emulators fetch inputs this way.
pub async fn fetch(http: &reqwest::Client, url: &str, max: usize) -> Result<Vec<u8>, String> {
    let answer = http
        .get(url)
        .timeout(std::time::Duration::from_secs(20))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !answer.status().is_success() {
        return Err(format!("HTTP {}", answer.status()));
    }
    let bytes = answer.bytes().await.map_err(|e| e.to_string())?;
    if bytes.len() > max {
        return Err(format!("larger than {max} bytes"));
    }
    Ok(bytes.to_vec())
}
