//! Requests on fal's queue: IN_QUEUE → IN_PROGRESS → COMPLETED (with a video or an error) on a
//! clock, canceled while still queued; their webhooks; the counters tests read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{FalConfig, MAIN_ACCOUNT};
use crate::video::{self, Aspect, Resolution};

/// Faults a test can set while the emulator runs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FalFaults {
    /// The next N submits answer 500 (nothing queued).
    pub fail_next_submits: u32,
    /// The next N submits queue their request, then answer 502 (an answer lost after fal
    /// queued it: the caller cannot know the request id).
    pub lose_next_submit_answers: u32,
    pub drop_webhooks: bool,
    pub webhook_delay_ms: u64,
    /// Each webhook is delivered this many extra times (as fal's retries would).
    pub repeat_webhooks: u32,
    /// Which signing key signs webhooks (a rotation moves it).
    pub active_key: usize,
    /// How many keys the JWKS publishes (`None`: all), to publish a new key mid-run.
    pub published_keys: Option<usize>,
    /// Cancels answer `CANCELLATION_REQUESTED` but the request runs on (a worker took it at
    /// that moment): a request is not an outcome.
    pub ignore_cancels: bool,
    /// The next N status or result calls answer 503.
    pub fail_next_reads: u32,
    /// Seed for the chances below.
    pub seed: u64,
    /// Chance (0..1) that a submit answers 429, queuing nothing (fal's rate limit).
    pub submit_busy_rate: f64,
    /// Chance (0..1) that a status or result call answers 503 (nothing changes).
    pub read_error_rate: f64,
    /// Chance (0..1) that a request ends `ERROR` (a failed generation, billed nothing).
    pub error_rate: f64,
    /// Chance (0..1) that one webhook delivery is lost on the way (fal then tries again, as
    /// it does for any failed delivery).
    pub webhook_drop_rate: f64,
    /// Pause before fal delivers a lost or failed webhook again.
    pub webhook_retry_ms: u64,
    /// The request listing shows no inputs (an account that keeps no payloads).
    pub list_without_payloads: bool,
}

/// fal delivers a webhook up to 10 times (`docs/providers.md` §fal).
const WEBHOOK_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    InQueue,
    InProgress,
    Completed,
    Canceled,
}

#[derive(Debug, Clone)]
pub struct FalRequest {
    pub id: String,
    /// The account whose key sent it (`MAIN_ACCOUNT` or one of `FalConfig::accounts`).
    pub account: String,
    pub model_id: String,
    pub app_id: String,
    pub input: Value,
    pub status: Status,
    /// `Some((error_type, message))` for a failed generation (`[fal:error=<type>]`).
    pub error: Option<(String, String)>,
    /// `[fal:bill-failed]`: its listing says it succeeded whatever it ended with (a billing
    /// mistake injected for the bill reconciliation to find).
    pub billed_anyway: bool,
    pub webhook: Option<String>,
    pub duration: u32,
    pub pro: bool,
    /// When it reached `COMPLETED` or `CANCELED` (Unix milliseconds).
    pub completed_at_ms: Option<i64>,
    /// When fal received it and when a worker took it (Unix milliseconds).
    pub sent_at_ms: i64,
    pub started_at_ms: Option<i64>,
    /// `X-Fal-Request-Timeout`: not started by then, it ends with a `request_timeout` error.
    pub start_timeout: Option<Duration>,
}

/// A submit fal accepted: what the queue keeps of it.
#[derive(Debug, Clone)]
pub struct NewRequest {
    pub account: String,
    pub model_id: String,
    pub app_id: String,
    pub input: Value,
    pub webhook: Option<String>,
    pub pro: bool,
    pub start_timeout: Option<Duration>,
    /// Seconds of video it makes (its `duration`, or its input video's length).
    pub duration: u32,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct FalCounters {
    pub submit: u64,
    pub status: u64,
    pub result: u64,
    pub cancel: u64,
    pub webhooks_sent: u64,
    /// The most requests queued or running at once (high-water mark).
    pub max_unfinished: u64,
    /// The same, per account.
    pub max_unfinished_by_account: BTreeMap<String, u64>,
    /// The most requests running at once per account (bounded by its workers).
    pub max_running_by_account: BTreeMap<String, u64>,
}

struct Inner {
    requests: HashMap<String, FalRequest>,
    order: Vec<String>,
    counters: FalCounters,
    faults: FalFaults,
    rng: StdRng,
}

pub struct FalState {
    pub config: FalConfig,
    pub base_url: String,
    http: reqwest::Client,
    inner: Mutex<Inner>,
    /// Each limited account's workers: a request runs while it holds one.
    workers: HashMap<String, Arc<tokio::sync::Semaphore>>,
}

fn error_marker(input: &Value) -> Option<(String, String)> {
    let prompt = input
        .get("prompt")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let start = prompt.find("[fal:error=")? + "[fal:error=".len();
    let end = prompt[start..].find(']')? + start;
    let kind = prompt[start..end].to_string();
    Some((kind.clone(), format!("generation failed: {kind}")))
}

impl FalState {
    pub fn new(config: FalConfig, base_url: String) -> Self {
        let limits = std::iter::once((MAIN_ACCOUNT.to_string(), config.workers))
            .chain(config.accounts.iter().map(|a| (a.name.clone(), a.workers)));
        let workers = limits
            .filter_map(|(name, n)| Some((name, Arc::new(tokio::sync::Semaphore::new(n?)))))
            .collect();
        Self {
            workers,
            inner: Mutex::new(Inner {
                requests: HashMap::new(),
                order: Vec::new(),
                counters: FalCounters::default(),
                rng: StdRng::seed_from_u64(config.faults.seed),
                faults: config.faults.clone(),
            }),
            config,
            base_url,
            http: crate::http_client(),
        }
    }

    /// The account an `Authorization: Key …` value belongs to.
    pub fn account_of(&self, authorization: &str) -> Option<String> {
        let key = authorization.strip_prefix("Key ")?;
        if key == self.config.key {
            return Some(MAIN_ACCOUNT.to_string());
        }
        let account = self.config.accounts.iter().find(|a| a.key == key)?;
        Some(account.name.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn counters(&self) -> FalCounters {
        self.lock().counters.clone()
    }

    pub fn faults(&self) -> FalFaults {
        self.lock().faults.clone()
    }

    pub fn set_faults(&self, faults: FalFaults) {
        let mut inner = self.lock();
        inner.rng = StdRng::seed_from_u64(faults.seed);
        inner.faults = faults;
    }

    /// Whether this status or result call fails (503): the next-N fault, else the chance.
    pub fn read_fails(&self) -> bool {
        {
            let mut inner = self.lock();
            if inner.faults.fail_next_reads > 0 {
                inner.faults.fail_next_reads -= 1;
                return true;
            }
        }
        self.roll(|f| f.read_error_rate)
    }

    /// One draw against the chance `rate` picks from the faults.
    pub fn roll(&self, rate: impl Fn(&FalFaults) -> f64) -> bool {
        let mut inner = self.lock();
        let p = rate(&inner.faults).clamp(0.0, 1.0);
        p > 0.0 && inner.rng.random_bool(p)
    }

    /// Every request, oldest first.
    pub fn all(&self) -> Vec<FalRequest> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|id| inner.requests.get(id))
            .cloned()
            .collect()
    }

    pub fn get(&self, id: &str) -> Option<FalRequest> {
        self.lock().requests.get(id).cloned()
    }

    /// Count a call; `submit` also says whether it must fail (an injected 5xx).
    pub fn count(&self, what: &str) -> bool {
        let mut inner = self.lock();
        let c = &mut inner.counters;
        match what {
            "submit" => c.submit += 1,
            "status" => c.status += 1,
            "result" => c.result += 1,
            _ => c.cancel += 1,
        }
        if what == "submit" && inner.faults.fail_next_submits > 0 {
            inner.faults.fail_next_submits -= 1;
            return true;
        }
        false
    }

    /// Whether this submit's answer is lost after queuing (the fault, counted down).
    pub fn lose_submit_answer(&self) -> bool {
        let mut inner = self.lock();
        let lose = inner.faults.lose_next_submit_answers > 0;
        inner.faults.lose_next_submit_answers =
            inner.faults.lose_next_submit_answers.saturating_sub(1);
        lose
    }

    /// The bytes behind a URL an input names (a reference or a video to edit), at most `max`.
    pub async fn fetch(&self, url: &str, max: usize) -> Result<Vec<u8>, String> {
        crate::tasks::fetch(&self.http, url, max).await
    }

    /// Queue a request and start its life.
    pub fn submit(self: &Arc<Self>, new: NewRequest) -> FalRequest {
        let NewRequest {
            account,
            model_id,
            app_id,
            input,
            webhook,
            pro,
            start_timeout,
            duration,
        } = new;
        let failed = self.roll(|f| f.error_rate).then(|| {
            let kind = "generation_error".to_string();
            (kind.clone(), format!("generation failed: {kind}"))
        });
        let request = FalRequest {
            id: uuid::Uuid::new_v4().to_string(),
            account,
            model_id,
            app_id,
            error: error_marker(&input).or(failed),
            billed_anyway: input
                .get("prompt")
                .and_then(Value::as_str)
                .is_some_and(|p| p.contains("[fal:bill-failed]")),
            input,
            status: Status::InQueue,
            webhook,
            duration,
            pro,
            completed_at_ms: None,
            sent_at_ms: crate::tasks::now_ms(),
            started_at_ms: None,
            start_timeout,
        };
        {
            let mut inner = self.lock();
            inner.order.push(request.id.clone());
            inner.requests.insert(request.id.clone(), request.clone());
            let unfinished =
                |r: &&FalRequest| matches!(r.status, Status::InQueue | Status::InProgress);
            let all = inner.requests.values().filter(unfinished).count() as u64;
            let own = inner
                .requests
                .values()
                .filter(unfinished)
                .filter(|r| r.account == request.account)
                .count() as u64;
            let c = &mut inner.counters;
            c.max_unfinished = c.max_unfinished.max(all);
            let max = c
                .max_unfinished_by_account
                .entry(request.account.clone())
                .or_default();
            *max = (*max).max(own);
        }
        let state = self.clone();
        let id = request.id.clone();
        tokio::spawn(async move { state.run(id).await });
        request
    }

    /// Requests of the same account queued before this one and still waiting (0: next to
    /// start).
    pub fn queue_position(&self, id: &str) -> usize {
        let inner = self.lock();
        let account = inner.requests.get(id).map(|r| r.account.clone());
        inner
            .order
            .iter()
            .take_while(|other| *other != id)
            .filter_map(|other| inner.requests.get(other))
            .filter(|r| r.status == Status::InQueue && Some(&r.account) == account.as_ref())
            .count()
    }

    /// Cancel while queued: `CANCELLATION_REQUESTED`, else why not.
    pub fn cancel(&self, id: &str) -> Result<(), &'static str> {
        let mut inner = self.lock();
        let ignore = inner.faults.ignore_cancels;
        let request = inner.requests.get_mut(id).ok_or("NOT_FOUND")?;
        match request.status {
            Status::InQueue if ignore => Ok(()),
            Status::InQueue => {
                request.status = Status::Canceled;
                request.completed_at_ms = Some(crate::tasks::now_ms());
                Ok(())
            }
            _ => Err("ALREADY_COMPLETED"),
        }
    }

    fn advance(&self, id: &str, from: Status, to: Status) -> Option<FalRequest> {
        let mut inner = self.lock();
        let request = inner.requests.get_mut(id).filter(|r| r.status == from)?;
        request.status = to;
        match to {
            Status::Completed => request.completed_at_ms = Some(crate::tasks::now_ms()),
            Status::InProgress => request.started_at_ms = Some(crate::tasks::now_ms()),
            _ => {}
        }
        let request = request.clone();
        if to == Status::InProgress {
            let running = inner
                .requests
                .values()
                .filter(|r| r.status == Status::InProgress && r.account == request.account)
                .count() as u64;
            let max = inner
                .counters
                .max_running_by_account
                .entry(request.account.clone())
                .or_default();
            *max = (*max).max(running);
        }
        Some(request)
    }

    /// Not started within its start timeout: fal ends it with an error (nothing billed).
    fn time_out(&self, id: &str) -> Option<FalRequest> {
        let mut inner = self.lock();
        let request = inner
            .requests
            .get_mut(id)
            .filter(|r| r.status == Status::InQueue)?;
        request.status = Status::Completed;
        request.completed_at_ms = Some(crate::tasks::now_ms());
        let msg = "the request did not start within its start timeout".to_string();
        request.error = Some(("request_timeout".into(), msg));
        Some(request.clone())
    }

    /// A request waits its turn (`queue_time` per request queued before it, or with an
    /// account's workers at least `queue_time` and then a free worker, first come first
    /// served), runs `run_time` holding its worker, and completes; one not started within
    /// its start timeout ends with an error.
    async fn run(self: Arc<Self>, id: String) {
        let Some(request) = self.get(&id) else {
            return;
        };
        let workers = self.workers.get(&request.account).cloned();
        let ahead = if workers.is_some() {
            0
        } else {
            self.queue_position(&id) as u32
        };
        let turn = async {
            tokio::time::sleep(self.config.queue_time * (ahead + 1)).await;
            match workers {
                Some(w) => w.acquire_owned().await.ok().map(Some),
                None => Some(None),
            }
        };
        let started = match request.start_timeout {
            Some(limit) => tokio::time::timeout(limit, turn).await,
            None => Ok(turn.await),
        };
        let worker = match started {
            Ok(Some(worker)) => worker,
            Ok(None) => return,
            Err(_) => {
                if let Some(done) = self.time_out(&id)
                    && let Some(url) = done.webhook.clone()
                {
                    self.deliver(url, &done).await;
                }
                return;
            }
        };
        if self
            .advance(&id, Status::InQueue, Status::InProgress)
            .is_none()
        {
            return;
        }
        tokio::time::sleep(self.config.run_time).await;
        let done = self.advance(&id, Status::InProgress, Status::Completed);
        drop(worker);
        if let Some(done) = done
            && let Some(url) = done.webhook.clone()
        {
            self.deliver(url, &done).await;
        }
    }

    /// The account's requests of these endpoints that ended in `[since_ms, until_ms)`, in the
    /// order they ended (fal's `GET /v1/models/requests/by-endpoint`).
    pub fn ended(
        &self,
        account: &str,
        endpoints: &[&str],
        (since_ms, until_ms): (i64, i64),
    ) -> Vec<FalRequest> {
        let mut ended: Vec<FalRequest> = self
            .all()
            .into_iter()
            .filter(|r| r.account == account && endpoints.contains(&r.model_id.as_str()))
            .filter(|r| {
                r.completed_at_ms
                    .is_some_and(|t| (since_ms..until_ms).contains(&t))
            })
            .collect();
        ended.sort_by_key(|r| r.completed_at_ms);
        ended
    }

    /// The model's output, as the result endpoint and the webhook payload show it.
    pub fn output(&self, r: &FalRequest) -> Value {
        json!({"video": {"url": format!("{}/files/{}/output.mp4", self.base_url, r.id),
            "content_type": "video/mp4", "file_name": "output.mp4",
            "file_size": self.video(r).map_or(0, |v| v.len())}})
    }

    pub fn video(&self, r: &FalRequest) -> Result<Vec<u8>, video::VideoError> {
        let resolution = if r.pro {
            Resolution::P1080
        } else {
            Resolution::P720
        };
        video::render(Aspect::Landscape, resolution, r.duration)
    }

    async fn deliver(&self, url: String, r: &FalRequest) {
        let faults = self.faults();
        if faults.drop_webhooks {
            return;
        }
        tokio::time::sleep(Duration::from_millis(faults.webhook_delay_ms)).await;
        let body = match &r.error {
            None => json!({"request_id": r.id, "gateway_request_id": r.id, "status": "OK", "payload": self.output(r)}),
            Some((kind, msg)) => json!({"request_id": r.id, "gateway_request_id": r.id, "status": "ERROR",
                "error": msg, "payload": {"detail": [{"msg": msg, "type": kind}]}}),
        }
        .to_string();
        for _ in 0..=faults.repeat_webhooks {
            self.deliver_until_taken(&url, r, &body).await;
        }
    }

    /// One delivery as fal makes it: a delivery lost on the way (`webhook_drop_rate`) or
    /// answered with a 5xx is tried again after `webhook_retry_ms`, up to 10 attempts.
    async fn deliver_until_taken(&self, url: &str, r: &FalRequest, body: &str) {
        for _ in 0..WEBHOOK_ATTEMPTS {
            let faults = self.faults();
            if !self.roll(|f| f.webhook_drop_rate) && self.post_webhook(url, r, body).await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(faults.webhook_retry_ms)).await;
        }
    }

    /// Sign and send; true when the receiver took it (anything but a 5xx or no answer).
    async fn post_webhook(&self, url: &str, r: &FalRequest, body: &str) -> bool {
        let faults = self.faults();
        let seeds = &self.config.signing_seeds;
        let seed = seeds[faults.active_key.min(seeds.len().saturating_sub(1))];
        let ts = (crate::tasks::now_ms() / 1000).to_string();
        let signature = super::sign(
            &seed,
            &r.id,
            &self.config.user_id,
            ts.parse().unwrap_or(0),
            body.as_bytes(),
        );
        self.lock().counters.webhooks_sent += 1;
        let sent = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-fal-webhook-request-id", &r.id)
            .header("x-fal-webhook-user-id", &self.config.user_id)
            .header("x-fal-webhook-timestamp", ts)
            .header("x-fal-webhook-signature", signature)
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(resp) => !resp.status().is_server_error(),
            Err(e) => {
                tracing::warn!(%url, error = %e, "fal webhook not delivered");
                false
            }
        }
    }
}
