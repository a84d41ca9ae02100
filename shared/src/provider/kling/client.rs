//! The Kling HTTP client: auth (AK/SK JWT or a gateway's static key), capability checks before
//! any request, retries of transient failures only (exponential backoff with full jitter, at
//! most `max_retries`, never past the caller's deadline), and recovery of a timed-out create by
//! looking the task up by `external_task_id` instead of submitting it twice.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::config::{KlingAuth, KlingConfig, RetryPolicy};
use super::error::{ErrorKind, KlingError};
use super::jwt::JwtMinter;
use super::lip_sync;
use super::wire::{
    AvatarRequest, EffectsRequest, Envelope, Image2VideoRequest, KlingTask, MotionControlRequest,
    Text2VideoRequest, VideoToAudioRequest,
};
use super::wire_check;
use crate::runtime::deadline::MIN_ATTEMPT;
pub use crate::runtime::deadline::{Deadline, deadline_from_epoch_ms};

/// Which id a query uses; Kling's query path accepts either.
#[derive(Debug, Clone, Copy)]
pub enum TaskRef<'a> {
    Provider(&'a str),
    External(&'a str),
}

impl TaskRef<'_> {
    fn id(&self) -> &str {
        match self {
            TaskRef::Provider(id) | TaskRef::External(id) => id,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoKind {
    Text2Video,
    Image2Video,
    Effects,
    VideoToAudio,
    MotionControl,
    Avatar,
    LipSync,
}

impl VideoKind {
    /// The product's path; its tasks are created there and queried below it.
    fn path(self) -> &'static [&'static str] {
        match self {
            VideoKind::Text2Video => &["v1", "videos", "text2video"],
            VideoKind::Image2Video => &["v1", "videos", "image2video"],
            VideoKind::Effects => &["v1", "videos", "effects"],
            VideoKind::VideoToAudio => &["v1", "audio", "video-to-audio"],
            VideoKind::MotionControl => &["v1", "videos", "motion-control"],
            VideoKind::Avatar => &["v1", "videos", "avatar", "image2video"],
            VideoKind::LipSync => &["v1", "videos", "advanced-lip-sync"],
        }
    }
}

/// Unix seconds, injectable so tests can move time.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

pub fn system_clock() -> Clock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    })
}

enum Auth {
    Jwt(JwtMinter),
    ApiKey(String),
}

pub struct KlingClient {
    http: reqwest::Client,
    base_url: url::Url,
    auth: Auth,
    retry: RetryPolicy,
    request_timeout: Duration,
    clock: Clock,
}

impl KlingClient {
    pub fn new(cfg: &KlingConfig) -> Result<Self, KlingError> {
        Self::with_clock(cfg, system_clock())
    }

    pub fn with_clock(cfg: &KlingConfig, clock: Clock) -> Result<Self, KlingError> {
        let http = crate::runtime::net::builder()
            .map_err(|e| KlingError::Transport(e.to_string()))?
            .connect_timeout(cfg.connect_timeout)
            .build()
            .map_err(|e| KlingError::Transport(e.to_string()))?;
        let base_url =
            url::Url::parse(&cfg.base_url).map_err(|e| KlingError::Transport(e.to_string()))?;
        let auth = match &cfg.auth {
            KlingAuth::Jwt {
                access_key,
                secret_key,
            } => Auth::Jwt(JwtMinter::new(access_key, secret_key)),
            KlingAuth::ApiKey(key) => Auth::ApiKey(key.clone()),
        };
        Ok(Self {
            http,
            base_url,
            auth,
            retry: cfg.retry,
            request_timeout: cfg.request_timeout,
            clock,
        })
    }

    pub async fn create_text2video(
        &self,
        req: &Text2VideoRequest,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        wire_check::check_text2video(req)?;
        self.create(
            VideoKind::Text2Video,
            req,
            req.external_task_id.as_deref(),
            deadline,
        )
        .await
    }

    pub async fn create_image2video(
        &self,
        req: &Image2VideoRequest,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        wire_check::check_image2video(req)?;
        self.create(
            VideoKind::Image2Video,
            req,
            req.external_task_id.as_deref(),
            deadline,
        )
        .await
    }

    pub async fn create_effects(
        &self,
        req: &EffectsRequest,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        wire_check::check_effects(req)?;
        self.create(
            VideoKind::Effects,
            req,
            req.external_task_id.as_deref(),
            deadline,
        )
        .await
    }

    pub async fn create_video_to_audio(
        &self,
        req: &VideoToAudioRequest,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        wire_check::check_video_to_audio(req)?;
        self.create(
            VideoKind::VideoToAudio,
            req,
            req.external_task_id.as_deref(),
            deadline,
        )
        .await
    }

    pub async fn create_motion_control(
        &self,
        req: &MotionControlRequest,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        wire_check::check_motion_control(req)?;
        self.create(
            VideoKind::MotionControl,
            req,
            req.external_task_id.as_deref(),
            deadline,
        )
        .await
    }

    pub async fn create_avatar(
        &self,
        req: &AvatarRequest,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        wire_check::check_avatar(req)?;
        self.create(
            VideoKind::Avatar,
            req,
            req.external_task_id.as_deref(),
            deadline,
        )
        .await
    }

    pub async fn query(
        &self,
        kind: VideoKind,
        task: TaskRef<'_>,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        let mut segments = kind.path().to_vec();
        segments.push(task.id());
        self.with_retries(deadline, || {
            self.call::<(), _>(reqwest::Method::GET, &segments, &[], None, deadline)
        })
        .await
    }

    /// One page of tasks (`pageNum` 1..=1000, `pageSize` 1..=500), newest first.
    pub async fn list(
        &self,
        kind: VideoKind,
        page_num: u32,
        page_size: u32,
        deadline: Deadline,
    ) -> Result<Vec<KlingTask>, KlingError> {
        if !(1..=1000).contains(&page_num) || !(1..=500).contains(&page_size) {
            return Err(KlingError::InvalidInput(
                "pageNum must be in 1..=1000 and pageSize in 1..=500".into(),
            ));
        }
        let segments = kind.path();
        let query = [
            ("pageNum", page_num.to_string()),
            ("pageSize", page_size.to_string()),
        ];
        self.with_retries(deadline, || {
            self.call::<(), _>(reqwest::Method::GET, segments, &query, None, deadline)
        })
        .await
    }

    pub(crate) async fn create<B: Serialize>(
        &self,
        kind: VideoKind,
        body: &B,
        external_task_id: Option<&str>,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        let segments = kind.path();
        let lookup =
            external_task_id.map(|ext| move || self.query(kind, TaskRef::External(ext), deadline));
        self.create_at(segments, body, lookup, deadline).await
    }

    /// POST a create, retrying what is transient. After an answer that may have created the
    /// task (a timeout, 5000, a lost connection) the task is looked up by our id before any
    /// second POST, which a stored external id would refuse (and which could pay twice
    /// without one); from then on the call ends only in the task or an unknown outcome. A
    /// create refused as invalid is looked up too: the external id may be ours already (an
    /// earlier run's create whose answer was lost).
    pub(crate) async fn create_at<B, T, L, LF>(
        &self,
        segments: &[&str],
        body: &B,
        lookup: Option<L>,
        deadline: Deadline,
    ) -> Result<T, KlingError>
    where
        B: Serialize,
        T: DeserializeOwned + WithRequestId,
        L: Fn() -> LF,
        LF: Future<Output = Result<T, KlingError>>,
    {
        let mut attempt = 0;
        let mut outcome_unknown = false;
        loop {
            let result = match (outcome_unknown, &lookup) {
                (true, Some(lookup)) => match lookup().await {
                    Ok(found) => return Ok(found),
                    Err(e) if e.is_task_not_found() => self.post(segments, body, deadline).await,
                    Err(e) => Err(e),
                },
                _ => self.post(segments, body, deadline).await,
            };
            let err = match result {
                Ok(created) => return Ok(created),
                Err(e) if e.is_invalid_parameters() => {
                    return self.duplicate_or(e, lookup.as_ref(), outcome_unknown).await;
                }
                Err(e) if !e.is_retryable() && !e.may_have_created() => {
                    return Err(e.settled(outcome_unknown));
                }
                Err(e) => e,
            };
            outcome_unknown |= err.may_have_created();
            attempt += 1;
            if !self.wait_before_retry(attempt, &err, deadline).await {
                return Err(err.settled(outcome_unknown));
            }
        }
    }

    /// A create refused as invalid: ours already if the lookup by our id finds it; a real
    /// refusal if it does not (and nothing earlier may have made it); unknown otherwise.
    async fn duplicate_or<T, L, LF>(
        &self,
        refused: KlingError,
        lookup: Option<&L>,
        outcome_unknown: bool,
    ) -> Result<T, KlingError>
    where
        L: Fn() -> LF,
        LF: Future<Output = Result<T, KlingError>>,
    {
        let Some(lookup) = lookup else {
            return Err(refused.settled(outcome_unknown));
        };
        match lookup().await {
            Ok(found) => {
                tracing::info!(error = %refused, "create refused as a duplicate; the task is ours");
                Ok(found)
            }
            Err(e) if e.is_task_not_found() => Err(refused.settled(outcome_unknown)),
            Err(e) => Err(e.settled(true)),
        }
    }

    async fn post<B: Serialize, T: DeserializeOwned + WithRequestId>(
        &self,
        segments: &[&str],
        body: &B,
        deadline: Deadline,
    ) -> Result<T, KlingError> {
        self.call(reqwest::Method::POST, segments, &[], Some(body), deadline)
            .await
    }

    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        deadline: Deadline,
        mut op: F,
    ) -> Result<T, KlingError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, KlingError>>,
    {
        let mut attempt = 0;
        loop {
            let err = match op().await {
                Ok(v) => return Ok(v),
                Err(e) if !e.is_retryable() => return Err(e),
                Err(e) => e,
            };
            attempt += 1;
            if !self.wait_before_retry(attempt, &err, deadline).await {
                return Err(err);
            }
        }
    }

    /// Sleep before retry number `attempt`; false when retries or time have run out.
    async fn wait_before_retry(&self, attempt: u32, err: &KlingError, deadline: Deadline) -> bool {
        if attempt > self.retry.max_retries {
            return false;
        }
        let delay = backoff(
            &self.retry,
            attempt,
            err.kind(),
            rand::rng().random::<f64>(),
        );
        if !deadline.allows(delay, MIN_ATTEMPT) {
            return false;
        }
        tracing::info!(attempt, delay_ms = delay.as_millis() as u64, error = %err, "retrying Kling call");
        tokio::time::sleep(delay).await;
        true
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Result<url::Url, KlingError> {
        let mut url = self.base_url.clone();
        url.path_segments_mut()
            .map_err(|_| KlingError::Transport("KLING_BASE_URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// One call, re-minting the token once when Kling says it is not yet or no longer valid.
    pub(crate) async fn call<B: Serialize, T: DeserializeOwned + WithRequestId>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        deadline: Deadline,
    ) -> Result<T, KlingError> {
        match self
            .call_once(method.clone(), segments, query, body, deadline)
            .await
        {
            Err(e) if e.is_token_timing() => {
                if let Auth::Jwt(minter) = &self.auth {
                    if e.kind() == Some(ErrorKind::TokenNotYetValid) {
                        minter.clock_skewed();
                    } else {
                        minter.invalidate();
                    }
                }
                self.call_once(method, segments, query, body, deadline)
                    .await
            }
            other => other,
        }
    }

    async fn call_once<B: Serialize, T: DeserializeOwned + WithRequestId>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&B>,
        deadline: Deadline,
    ) -> Result<T, KlingError> {
        let token = match &self.auth {
            Auth::Jwt(minter) => minter
                .token_at((self.clock)())
                .map_err(|e| KlingError::Signing(e.to_string()))?,
            Auth::ApiKey(key) => key.clone(),
        };
        let timeout = deadline
            .remaining()
            .map_or(self.request_timeout, |r| r.min(self.request_timeout));
        if timeout.is_zero() {
            return Err(KlingError::Timeout);
        }
        let mut req = self
            .http
            .request(method, self.url(segments, query)?)
            .timeout(timeout)
            .bearer_auth(token)
            .header("content-type", "application/json");
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(transport_error)?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(transport_error)?;
        decode(status, &bytes)
    }
}

/// An answer that can keep Kling's `request_id` (for support tickets).
pub trait WithRequestId {
    fn set_request_id(&mut self, _id: Option<String>) {}
}

impl WithRequestId for KlingTask {
    fn set_request_id(&mut self, id: Option<String>) {
        self.request_id = id;
    }
}

impl<T> WithRequestId for Vec<T> {}

/// Full-jitter exponential backoff: uniform in [0, min(cap, base × 2^(attempt−1))], and at
/// least the concurrency floor after a 1303 (Kling asks for ≥ 1 s there).
pub fn backoff(
    policy: &RetryPolicy,
    attempt: u32,
    kind: Option<ErrorKind>,
    unit_random: f64,
) -> Duration {
    let exp = policy
        .base
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(policy.cap);
    let delay = exp.mul_f64(unit_random.clamp(0.0, 1.0));
    if kind == Some(ErrorKind::ConcurrencyLimited) {
        delay.max(policy.concurrency_floor)
    } else {
        delay
    }
}

fn transport_error(e: reqwest::Error) -> KlingError {
    if e.is_timeout() {
        KlingError::Timeout
    } else {
        KlingError::Transport(e.to_string())
    }
}

fn decode<T: DeserializeOwned + WithRequestId>(status: u16, bytes: &[u8]) -> Result<T, KlingError> {
    let envelope: Envelope<T> = match serde_json::from_slice(bytes) {
        Ok(env) => env,
        // A proxy's HTML error page: transient when the server side failed.
        Err(_) if status >= 500 => {
            return Err(KlingError::Transport(format!(
                "HTTP {status} without a Kling body"
            )));
        }
        Err(e) => return Err(KlingError::Decode(format!("HTTP {status}: {e}"))),
    };
    if envelope.code != 0 || !(200..300).contains(&status) {
        return Err(KlingError::api(status, envelope.code, envelope.message)
            .with_request_id(envelope.request_id));
    }
    let mut data = envelope
        .data
        .ok_or_else(|| KlingError::Decode("success without data".into()))?;
    data.set_request_id(envelope.request_id);
    Ok(data)
}

impl KlingClient {
    /// Identify the faces, then create the task. A failed identification created nothing
    /// (`KlingError::BeforeCreate`); the create is looked up by our id after a lost answer,
    /// as every create is.
    pub async fn create_lip_sync(
        &self,
        job: &lip_sync::LipSyncJob,
        deadline: Deadline,
    ) -> Result<KlingTask, KlingError> {
        let segments = ["v1", "videos", "identify-face"];
        let faces: lip_sync::Faces = self
            .with_retries(deadline, || {
                self.call(
                    reqwest::Method::POST,
                    &segments,
                    &[],
                    Some(&job.video),
                    deadline,
                )
            })
            .await
            .map_err(|e| KlingError::BeforeCreate(Box::new(e)))?;
        let request = job.request(&faces)?;
        let external = request.external_task_id.clone();
        self.create(VideoKind::LipSync, &request, external.as_deref(), deadline)
            .await
    }
}

impl WithRequestId for lip_sync::Faces {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_table() {
        let ok = br#"{"code":0,"message":"SUCCEED","request_id":"r","data":{"task_id":"1","task_status":"submitted"}}"#;
        assert_eq!(decode::<KlingTask>(200, ok).unwrap().task_id, "1");

        let limited =
            br#"{"code":1303,"message":"parallel task over resource pack limit","request_id":"r"}"#;
        let err = decode::<KlingTask>(429, limited).unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::ConcurrencyLimited));
        assert!(err.is_retryable());

        let arrears = br#"{"code":1101,"message":"account in arrears","request_id":"r"}"#;
        assert!(
            !decode::<KlingTask>(429, arrears)
                .unwrap_err()
                .is_retryable()
        );

        assert!(
            decode::<KlingTask>(502, b"<html>bad gateway</html>")
                .unwrap_err()
                .is_retryable()
        );
        assert!(
            !decode::<KlingTask>(200, b"not json")
                .unwrap_err()
                .is_retryable()
        );
        assert!(matches!(
            decode::<KlingTask>(200, br#"{"code":0,"message":"SUCCEED"}"#),
            Err(KlingError::Decode(_))
        ));
    }

    #[test]
    fn backoff_is_bounded_jittered_and_floored_for_concurrency() {
        let p = RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(4),
            concurrency_floor: Duration::from_secs(1),
        };
        let cases = [
            (1, None, 1.0, 500),
            (2, None, 1.0, 1000),
            (3, None, 1.0, 2000),
            (6, None, 1.0, 4000),
            (3, None, 0.5, 1000),
            (1, None, 0.0, 0),
            (1, Some(ErrorKind::ConcurrencyLimited), 0.0, 1000),
            (3, Some(ErrorKind::ConcurrencyLimited), 1.0, 2000),
        ];
        for (attempt, kind, r, want_ms) in cases {
            assert_eq!(
                backoff(&p, attempt, kind, r),
                Duration::from_millis(want_ms),
                "{attempt} {kind:?} {r}"
            );
        }
    }

    #[test]
    fn a_past_invocation_deadline_is_ignored() {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(
            deadline_from_epoch_ms(now_ms.saturating_sub(5_000))
                .remaining()
                .is_none()
        );
        let real = deadline_from_epoch_ms(now_ms + 29_000).remaining().unwrap();
        assert!(
            real > Duration::from_secs(26) && real <= Duration::from_secs(28),
            "{real:?}"
        );
    }

    #[test]
    fn deadline_stops_retries() {
        assert!(Deadline::none().allows(Duration::from_secs(100), MIN_ATTEMPT));
        assert!(
            !Deadline::after(Duration::from_millis(100))
                .allows(Duration::from_millis(50), MIN_ATTEMPT)
        );
        assert!(
            Deadline::after(Duration::from_secs(10)).allows(Duration::from_secs(1), MIN_ATTEMPT)
        );
    }
}
