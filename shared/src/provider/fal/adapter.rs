//! Kling's models on fal behind the provider port: our model names and presets map to fal
//! model ids (`fal-ai/kling-video/v3/pro/text-to-video`), requests to fal inputs, fal's queue
//! states and failures to provider jobs and errors.

use std::time::Duration;

use serde_json::{Value, json};

use super::client::{FalClient, FalError, Handle, StatusAnswer};
use super::config::FalConfig;
use super::kinds;
use super::lost;
use crate::domain::catalogue::{self, Refusal, Surface};
use crate::domain::task::{Mode, Quality, VideoType};
use crate::provider::presets::{self, Preset};
use crate::provider::{
    CallbackError, CallbackHint, CancelOutcome, Feature, GenerationRequest, JobLookup, JobStatus,
    ModelChoice, ProviderError, ProviderJob, ProviderRef, VideoProvider,
};
use crate::runtime::deadline::Deadline;

pub const NAME: &str = "fal";

pub struct FalProvider {
    client: FalClient,
    presets: [Preset; 3],
    /// How long a submit may take to reach fal (our request timeout).
    send_time: Duration,
    /// After this long every request fal took from a submit has ended (its send, its start
    /// timeout and the longest run): a lost submit is then looked for in fal's listing.
    lost_after: Duration,
}

impl FalProvider {
    pub fn new(cfg: &FalConfig) -> Result<Self, FalError> {
        Ok(Self {
            client: FalClient::new(cfg)?,
            presets: cfg.presets.clone(),
            send_time: cfg.request_timeout,
            lost_after: cfg.request_timeout + cfg.start_timeout + cfg.run_bound,
        })
    }
}

fn unsupported(feature: Feature, reason: String) -> ProviderError {
    ProviderError::Unsupported { feature, reason }
}

/// The fal model id for a model, tier and kind.
pub fn fal_model_id(r: &GenerationRequest) -> Result<String, ProviderError> {
    if kinds::maps(r.kind) {
        return Ok(kinds::model_id(r));
    }
    let caps = catalogue::model(&r.model.model)
        .ok_or_else(|| unsupported(Feature::Model, format!("unknown model {}", r.model.model)))?;
    let family = caps
        .name_on(Surface::Fal)
        .ok_or_else(|| unsupported(Feature::Model, "not offered on fal".into()))?;
    let tier = match r.model.mode {
        Mode::Std => "standard",
        Mode::Pro => "pro",
    };
    if family == "v2.5-turbo" && tier == "standard" {
        let msg = "fal offers kling-v2-5-turbo in pro only".to_string();
        return Err(unsupported(Feature::Combination, msg));
    }
    let task = match r.kind {
        VideoType::TextToVideo => "text-to-video",
        VideoType::ImageToVideo => "image-to-video",
        other => {
            let msg = format!("fal offers no {}", other.as_str());
            return Err(unsupported(Feature::Kind, msg));
        }
    };
    Ok(format!("fal-ai/kling-video/{family}/{tier}/{task}"))
}

/// Every fal model id we send to: `fal_model_id` over every kind, catalogue model and tier
/// (what fal's request listing, and so its bill, is asked by).
pub fn endpoints() -> Vec<String> {
    let mut ids = std::collections::BTreeSet::new();
    for kind in VideoType::ALL {
        for model in catalogue::MODELS {
            let Some(name) = model.kling_legacy.or(model.kling_standard) else {
                continue;
            };
            for mode in [Mode::Std, Mode::Pro] {
                let choice = ModelChoice {
                    model: name.into(),
                    mode,
                };
                if let Ok(id) = fal_model_id(&GenerationRequest::of_shape(kind, choice)) {
                    ids.insert(id);
                }
            }
        }
    }
    ids.into_iter().collect()
}

/// The model input fal takes: durations as strings, frames as URLs, sound as a flag.
pub fn input(r: &GenerationRequest, audio_offered: bool) -> Value {
    if kinds::maps(r.kind) {
        return kinds::input(r);
    }
    let mut v = json!({"duration": r.duration_seconds.to_string()});
    let mut set = |k: &str, value: Value| v[k] = value;
    if let Some(p) = &r.prompt {
        set("prompt", json!(p));
    }
    if let Some(n) = &r.negative_prompt {
        set("negative_prompt", json!(n));
    }
    if r.kind == VideoType::TextToVideo {
        set(
            "aspect_ratio",
            json!(r.aspect_ratio.map_or("16:9", |a| a.as_str())),
        );
    }
    if let Some(url) = &r.image {
        set("start_image_url", json!(url));
    }
    if let Some(url) = &r.image_tail {
        set("end_image_url", json!(url));
    }
    if audio_offered {
        set("generate_audio", json!(r.audio));
    }
    if !r.shots.is_empty() {
        let shots: Vec<Value> = r
            .shots
            .iter()
            .map(|s| json!({"prompt": s.prompt, "duration": s.duration_seconds.to_string()}))
            .collect();
        set("multi_prompt", json!(shots));
    }
    v
}

/// The capability map for fal: the fal model id and whether the model takes sound.
fn check(r: &GenerationRequest) -> Result<(String, bool), ProviderError> {
    if kinds::maps(r.kind) {
        kinds::check(r)?;
        return Ok((kinds::model_id(r), false));
    }
    let wanted = r.wanted();
    let caps = catalogue::check(&wanted, Surface::Fal).map_err(|e| match e {
        Refusal::Unsupported(feature, reason) => unsupported(feature, reason),
        Refusal::Invalid(reason) => ProviderError::NotCreated { reason },
    })?;
    if !r.elements.is_empty() {
        let msg = "element ids are Kling's own; fal does not take them".to_string();
        return Err(unsupported(Feature::Elements, msg));
    }
    Ok((fal_model_id(r)?, !caps.audio.is_empty()))
}

/// What a failed fal call means for the caller. A submit fal may have queued (a 5xx, a timeout,
/// a lost answer) cannot be looked up by our id on fal: it stays unknown, never a failure.
impl FalProvider {
    /// The account's bill by job for `day` (its successful requests), over every endpoint we
    /// send to.
    pub async fn bill(
        &self,
        day: crate::domain::bill::Day,
        deadline: Deadline,
    ) -> Result<Vec<crate::domain::bill::BillRow>, ProviderError> {
        let billed = self.client.bill(&endpoints(), day, deadline).await;
        billed.map_err(|e| provider_error(&e, true))
    }
}

fn provider_error(e: &FalError, lookup: bool) -> ProviderError {
    let reason = e.to_string();
    match e {
        FalError::Http {
            status: 401 | 403, ..
        } => ProviderError::Auth { reason },
        FalError::Http { status: 404, .. } if lookup => ProviderError::NotFound,
        FalError::Http { status: 429, .. } => ProviderError::Busy {
            reason,
            retry_after: Duration::from_secs(5),
        },
        FalError::Http {
            status: 400..=499,
            error_type: Some(t),
            ..
        } if t.contains("content") => ProviderError::ContentRefused { reason },
        FalError::Http {
            status: 400..=499, ..
        } => ProviderError::NotCreated { reason },
        _ => ProviderError::OutcomeUnknown { reason },
    }
}

fn queued(reference: &ProviderRef, handle: &Handle, status: JobStatus) -> ProviderJob {
    ProviderJob {
        reference: reference.clone(),
        handle: Some(handle.encode()),
        status,
        video_url: None,
        video_id: None,
        video_duration_seconds: None,
        billed_units: None,
        request_id: None,
        failure: None,
    }
}

impl FalProvider {
    /// The URLs fal returned for the job (or its documented pattern for an old task). Without
    /// a reference there is nothing to ask: fal has no lookup by our id, so a submit whose
    /// answer was lost stays unknown, never a failure.
    fn handle_of(&self, job: &JobLookup<'_>) -> Result<Handle, ProviderError> {
        let Some(reference) = job.reference else {
            let reason = "fal cannot look a request up by our id".to_string();
            return Err(ProviderError::OutcomeUnknown { reason });
        };
        Ok(match job.handle.and_then(Handle::decode) {
            Some(h) => h,
            None => Handle::derived(
                &self.client.queue_url,
                "fal-ai/kling-video",
                reference.as_str(),
            ),
        })
    }

    /// A submit with no answer: unknown until every request fal could have taken from it has
    /// ended; then fal's listing of finished requests says whether fal got it. Absent, it is
    /// `NotFound` (the dispatcher sends it again); anything else stays unknown (fal's webhook,
    /// or the hard timeout, settles it).
    async fn find_lost(
        &self,
        job: &JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        let unknown = |reason: String| ProviderError::OutcomeUnknown { reason };
        let (Some(request), Some(at)) = (job.request, job.submitted_at) else {
            return Err(unknown("fal cannot look a request up by our id".into()));
        };
        let now = crate::domain::timestamp::Timestamp::now();
        if now < at + self.lost_after {
            let secs = self.lost_after.as_secs();
            return Err(unknown(format!(
                "fal's webhook, or its listing once {secs} s have passed, settles it"
            )));
        }
        let (model_id, audio) = check(request)?;
        let since = (at - lost::SKEW).datetime();
        let listing = self
            .client
            .finished_requests(&model_id, since, deadline)
            .await
            .map_err(|e| match provider_error(&e, false) {
                auth @ ProviderError::Auth { .. } => auth,
                _ => unknown(format!("fal's request listing: {e}")),
            })?;
        match lost::find_lost_submit(
            &input(request, audio),
            at.datetime(),
            self.send_time,
            &listing,
        ) {
            lost::Found::Absent => Err(ProviderError::NotFound),
            lost::Found::Held(ids) => Err(unknown(format!(
                "fal finished {} request(s) like this submit ({}); its webhook settles it",
                ids.len(),
                ids.join(", ")
            ))),
            lost::Found::CannotTell(why) => Err(unknown(why.to_string())),
        }
    }

    /// `CANCELLATION_REQUESTED` is a request, not an outcome: the job is dropped (and nothing
    /// billed) only when fal's status says it was canceled; otherwise it goes on and its own
    /// outcome decides (a later cancellation shows as a failure, refunded then).
    async fn cancel_confirmed(
        &self,
        handle: &Handle,
        deadline: Deadline,
    ) -> Result<CancelOutcome, ProviderError> {
        let answer = self
            .client
            .status(handle, deadline)
            .await
            .map_err(|e| provider_error(&e, true))?;
        Ok(match answer.status.as_str() {
            "CANCELED" => CancelOutcome::Canceled,
            _ => CancelOutcome::AlreadyStarted,
        })
    }

    /// A finished request: its video, or why it failed (fal's `error_type` first).
    async fn finished(
        &self,
        reference: &ProviderRef,
        h: &Handle,
        answer: &StatusAnswer,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        let mut job = queued(reference, h, JobStatus::Failed);
        if answer.status == "CANCELED" || answer.error.is_some() {
            let kind = answer.error_type.as_deref().unwrap_or("canceled");
            job.failure = Some(format!(
                "{kind}: {}",
                answer.error.as_deref().unwrap_or("canceled at fal")
            ));
            return Ok(job);
        }
        match self.client.result(h, deadline).await {
            Ok(out) => {
                let url = out["video"]["url"].as_str().map(str::to_string);
                job.status = if url.is_some() {
                    JobStatus::Succeeded
                } else {
                    JobStatus::Failed
                };
                job.failure = url.is_none().then(|| "fal returned no video".to_string());
                job.video_url = url;
                Ok(job)
            }
            Err(FalError::Http {
                status: 400..=499,
                detail,
                error_type,
            }) => {
                job.failure = Some(format!(
                    "{}: {detail}",
                    error_type.unwrap_or_else(|| "error".into())
                ));
                Ok(job)
            }
            Err(e) => Err(provider_error(&e, true)),
        }
    }
}

impl VideoProvider for FalProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn choose_model(&self, quality: Quality, model_override: Option<&str>) -> ModelChoice {
        presets::choose(&self.presets, quality, model_override)
    }

    fn check(&self, request: &GenerationRequest) -> Result<(), ProviderError> {
        check(request).map(|_| ())
    }

    async fn submit(
        &self,
        request: &GenerationRequest,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        let (model_id, audio) = check(request)?;
        let body = input(request, audio);
        let hook = request.callback_url.as_deref();
        let sent = self.client.submit(&model_id, &body, hook, deadline).await;
        let s = sent.map_err(|e| {
            tracing::warn!(error = %e, "fal submit failed");
            provider_error(&e, false)
        })?;
        let handle = Handle::pinned(&self.client.queue_url, &model_id, &s);
        Ok(queued(
            &ProviderRef(s.request_id),
            &handle,
            JobStatus::Queued,
        ))
    }

    /// fal drops a request still in its queue (`CANCELLATION_REQUESTED`); once a worker has it,
    /// `ALREADY_COMPLETED` and it goes on.
    async fn cancel(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<CancelOutcome, ProviderError> {
        let handle = self.handle_of(&job)?;
        match self.client.cancel(&handle, deadline).await {
            Ok(a) if a["status"] == "CANCELLATION_REQUESTED" => {
                self.cancel_confirmed(&handle, deadline).await
            }
            Ok(_) => Ok(CancelOutcome::AlreadyStarted),
            Err(FalError::Http {
                status: 400 | 409,
                detail,
                ..
            }) if detail.contains("ALREADY_COMPLETED") => Ok(CancelOutcome::AlreadyStarted),
            Err(e) => Err(provider_error(&e, true)),
        }
    }

    async fn lookup(
        &self,
        job: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        let Some(reference) = job.reference else {
            return self.find_lost(&job, deadline).await;
        };
        let handle = self.handle_of(&job)?;
        let answer = self
            .client
            .status(&handle, deadline)
            .await
            .map_err(|e| provider_error(&e, true))?;
        match answer.status.as_str() {
            "IN_QUEUE" => Ok(queued(reference, &handle, JobStatus::Queued)),
            "IN_PROGRESS" => Ok(queued(reference, &handle, JobStatus::Running)),
            "COMPLETED" | "CANCELED" => self.finished(reference, &handle, &answer, deadline).await,
            _ => Ok(queued(reference, &handle, JobStatus::Unknown)),
        }
    }
}

/// fal's webhook body: `{request_id, status: OK|ERROR, payload, error?}`. A hint only.
pub fn parse_callback(bytes: &[u8]) -> Result<CallbackHint, CallbackError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| CallbackError::Malformed(format!("callback body is not JSON: {e}")))?;
    let reference = v["request_id"].as_str().filter(|r| !r.is_empty());
    let reference = reference.ok_or_else(|| CallbackError::Malformed("no request_id".into()))?;
    let (status, failure) = match v["status"].as_str() {
        Some("OK") => (JobStatus::Succeeded, None),
        Some("ERROR") => (JobStatus::Failed, v["error"].as_str().map(str::to_string)),
        _ => {
            return Err(CallbackError::Malformed(
                "status must be OK or ERROR".into(),
            ));
        }
    };
    Ok(CallbackHint {
        reference: ProviderRef(reference.to_string()),
        task_id: None,
        status,
        failure,
    })
}
