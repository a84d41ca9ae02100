//! A provider that exists only in tests, and its callbacks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::task::{Mode, Quality};
use crate::provider::{
    CallbackError, CallbackHint, CallbackReader, Deadline, GenerationRequest, JobLookup, JobStatus,
    ModelChoice, ProviderError, ProviderJob, ProviderRef, VideoProvider,
};

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
    /// Each account's bill (`set_bill`); an account with none has no bill by job.
    bills: Arc<Mutex<HashMap<String, FakeBill>>>,
}

/// One account's bill as the fake answers it.
type FakeBill = Result<Vec<crate::domain::bill::BillRow>, ProviderError>;

impl FakeProvider {
    /// What `account`'s bill says (for any day), or that it cannot be read.
    pub fn set_bill(&self, account: &str, bill: FakeBill) {
        if let Ok(mut bills) = self.bills.lock() {
            bills.insert(account.into(), bill);
        }
    }
}

impl crate::provider::Bills for FakeProvider {
    async fn bill(
        &self,
        _provider: &str,
        account: &str,
        _day: crate::domain::bill::Day,
        _deadline: crate::provider::Deadline,
    ) -> Result<Option<Vec<crate::domain::bill::BillRow>>, ProviderError> {
        let bills = self
            .bills
            .lock()
            .map_err(|_| ProviderError::OutcomeUnknown {
                reason: "poisoned".into(),
            })?;
        bills.get(account).cloned().transpose()
    }
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
            video_id: None,
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
                    video_id: None,
                    video_duration_seconds: None,
                    billed_units: None,
                    request_id: None,
                    failure: None,
                },
            );
        }
    }
}
