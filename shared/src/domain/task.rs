//! The task schema: what a video generation request is, as stored and as shown to apps.

use serde::{Deserialize, Serialize};

pub use crate::domain::generation::{AspectRatio, Mode, Quality, VideoType};
use crate::domain::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    Created,
    Queued,
    Running,
    Finalizing,
    Succeeded,
    Failed,
    /// Canceled by its owner before any provider held it (refunded in full).
    Canceled,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 7] = [
        TaskStatus::Created,
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Finalizing,
        TaskStatus::Succeeded,
        TaskStatus::Failed,
        TaskStatus::Canceled,
    ];

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled
        )
    }

    /// Whether reaching this state gives the task's cost back.
    pub fn refunds(self) -> bool {
        matches!(self, TaskStatus::Failed | TaskStatus::Canceled)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Created => "CREATED",
            TaskStatus::Queued => "QUEUED",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Finalizing => "FINALIZING",
            TaskStatus::Succeeded => "SUCCEEDED",
            TaskStatus::Failed => "FAILED",
            TaskStatus::Canceled => "CANCELED",
        }
    }

    /// The label an app shows for this state.
    pub fn label(self) -> &'static str {
        match self {
            TaskStatus::Created => "Waiting",
            TaskStatus::Queued => "Queued",
            TaskStatus::Running => "Generating…",
            TaskStatus::Finalizing => "Finalizing…",
            TaskStatus::Succeeded => "Ready",
            TaskStatus::Failed => "Failed",
            TaskStatus::Canceled => "Canceled",
        }
    }
}

/// A string identifier with its own type, so a task id is never passed where a user id is
/// expected. Stored and shown as the bare string.
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

id_type!(
    /// Our id of a task (a UUIDv7); providers keep it as their external id.
    TaskId
);

impl TaskId {
    /// Whether a string from outside (a path, a callback URL) can be one of our ids at all:
    /// anything else is "not found" without asking the store, whose keys refuse empty or
    /// over-long parts.
    pub fn well_formed(s: &str) -> bool {
        (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }
}
id_type!(
    /// The caller, as the identity provider names them (`sub`).
    UserId
);

/// Which provider holds tasks written before tasks named theirs.
pub const LEGACY_PROVIDER: &str = "kling";

fn legacy_provider() -> String {
    LEGACY_PROVIDER.to_string()
}

/// Cost in hundredths of a unit, so sums and refunds are exact; shown as a decimal number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct CostUnits(pub u64);

impl CostUnits {
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

impl Serialize for CostUnits {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.as_f64())
    }
}

impl<'de> Deserialize<'de> for CostUnits {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || v < 0.0 {
            return Err(serde::de::Error::custom(
                "cost units must be a non-negative number",
            ));
        }
        Ok(CostUnits((v * 100.0).round() as u64))
    }
}

/// What the provider told us about billing and its requests, for an operator reconciling our
/// ledger with the provider's bill or quoting a request to its support. Never shown to apps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderFacts {
    /// Units the provider billed, as it wrote them (Kling: `final_unit_deduction`, `billing[]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_units: Option<String>,
    /// The provider's request id of the create that made the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_request_id: Option<String>,
    /// Why the task failed, in the words of whoever failed it (a provider's raw text, with its
    /// request ids or account state): for operators; the app sees a fixed sentence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_detail: Option<String>,
    /// The provider's request id of the last lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_id: Option<String>,
    /// The provider's id for the finished video, which later jobs can name while the provider
    /// keeps it (`catalogue::PROVIDER_KEEPS_VIDEOS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
}

impl ProviderFacts {
    pub fn is_empty(&self) -> bool {
        *self == ProviderFacts::default()
    }

    /// What a lookup answered (its bill, its request id). Only a finished job's deduction is
    /// its bill: Kling reports 0 units while a task runs.
    pub fn from_lookup(job: &crate::domain::generation::ProviderJob) -> Self {
        use crate::domain::generation::JobStatus;
        let finished = matches!(job.status, JobStatus::Succeeded | JobStatus::Failed);
        Self {
            billed_units: job.billed_units.clone().filter(|_| finished),
            create_request_id: None,
            last_request_id: job.request_id.clone(),
            failure_detail: None,
            video_id: job
                .video_id
                .clone()
                .filter(|_| job.status == JobStatus::Succeeded),
        }
    }

    /// Newer facts over these; the create's request id is kept once known.
    pub fn merge(&mut self, newer: &ProviderFacts) {
        if self.create_request_id.is_none() {
            self.create_request_id = newer.create_request_id.clone();
        }
        if newer.last_request_id.is_some() {
            self.last_request_id = newer.last_request_id.clone();
        }
        if newer.billed_units.is_some() {
            self.billed_units = newer.billed_units.clone();
        }
        if newer.video_id.is_some() {
            self.video_id = newer.video_id.clone();
        }
        if newer.failure_detail.is_some() {
            self.failure_detail = newer.failure_detail.clone();
        }
    }
}

/// The sentence an app (and its user) sees for a failure code: fixed, so no provider's own text
/// (request ids, "account in arrears", "resource pack exhausted") ever reaches an end user. Every
/// failure is refunded, so each says so.
pub fn failure_message(code: &str) -> &'static str {
    match code {
        "timeout" => "The video was not ready in time. You were not charged; please try again.",
        "queue_timeout" => {
            "The video could not start in time because the service was busy. You were not charged; please try again."
        }
        "provider_failed" => {
            "The video could not be made. You were not charged; try again or change the request."
        }
        "provider_error" => "The video service could not take this request. You were not charged.",
        "content_policy_violation" => {
            "The video service's content policy does not allow this request. You were not charged."
        }
        "video_unusable" => {
            "The finished video could not be stored. You were not charged; please try again."
        }
        _ => "Something went wrong while making the video. You were not charged; please try again.",
    }
}

/// Why a task failed, as shown to the app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    pub code: String,
    pub message: String,
    pub retryable: bool,
}

/// The copy of the video in our bucket, with facts read from the file itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredVideo {
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
    pub content_type: String,
    #[serde(default)]
    pub duration_seconds: Option<f64>,
    #[serde(default)]
    pub width: Option<u32>,
    #[serde(default)]
    pub height: Option<u32>,
    /// A still of the video for feeds, added by the poster job after the task succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<Poster>,
}

/// A JPEG still of a stored video, beside it in the bucket, of the video's own size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Poster {
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
}

/// The poster's key: beside the video (`videos/{user}/{task}.jpg`), so whatever reaches or
/// removes a user's videos (the CDN's path, an erasure) reaches it too.
pub fn poster_key(video_key: &str) -> String {
    let stem = video_key.strip_suffix(".mp4").unwrap_or(video_key);
    format!("{stem}.jpg")
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub user_id: UserId,
    pub status: TaskStatus,
    #[serde(rename = "type")]
    pub video_type: VideoType,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub negative_prompt: Option<String>,
    pub duration: u32,
    #[serde(default)]
    pub aspect_ratio: Option<AspectRatio>,
    pub quality: Quality,
    pub model: String,
    pub mode: Mode,
    pub cost_units: CostUnits,
    /// The provider the task was (or will be) submitted to, chosen once.
    #[serde(default = "legacy_provider")]
    pub provider: String,
    /// The provider's reference, taken from its answers; earlier items call it
    /// `provider_task_id`.
    #[serde(default, alias = "provider_task_id")]
    pub provider_ref: Option<crate::domain::generation::ProviderRef>,
    /// The provider's handle for the job (its URLs), from its own answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_handle: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default)]
    pub submitted_at: Option<Timestamp>,
    #[serde(default)]
    pub completed_at: Option<Timestamp>,
    #[serde(default)]
    pub error: Option<TaskError>,
    #[serde(default)]
    pub video: Option<StoredVideo>,
    /// When the provider was last asked about this task (polling, reconcile).
    #[serde(default)]
    pub checked_at: Option<Timestamp>,
    /// When the app deleted the stored video.
    #[serde(default)]
    pub deleted_at: Option<Timestamp>,
    /// Queue lane (the plan's): lower is submitted first.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// Past this, a task still waiting for capacity fails with `queue_timeout` (refunded).
    #[serde(default)]
    pub queue_deadline: Option<Timestamp>,
    /// What the dispatcher submits, kept while the task waits.
    #[serde(default)]
    pub request: Option<crate::domain::generation::GenerationRequest>,
    /// When a submit was last sent whose answer was lost: the provider may hold the task, so it
    /// is looked up by our id before any second submit.
    #[serde(default)]
    pub submit_attempted_at: Option<Timestamp>,
    /// Not submitted before this (the provider was busy).
    #[serde(default)]
    pub retry_at: Option<Timestamp>,
    /// The plan that priced the task (for billing metrics per plan).
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "ProviderFacts::is_empty")]
    pub provider_facts: ProviderFacts,
    /// The template version the prompt was made from (the prompt itself is `prompt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateUse>,
    /// The variations group this task was made in (`variations: n`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Answered from the result cache: the task whose stored video this one shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_from: Option<TaskId>,
    /// The draft this task re-runs at a higher quality (`POST /v1/videos/{id}/upgrade`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgraded_from: Option<TaskId>,
    /// The caller's earlier video this task works on (`video_to_audio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_task: Option<TaskId>,
}

/// Which published template version made a task's prompt, and with what fields: enough to
/// make the same prompt again, byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateUse {
    pub id: String,
    pub version: u32,
    pub fields: std::collections::BTreeMap<String, String>,
}

fn default_priority() -> u8 {
    1
}

impl Task {
    /// The later of the last change and the last provider check: how fresh our view is.
    /// Still in line for its first submit: the dispatcher's alone (it submits it, or fails it
    /// past the plan's wait); polling and reconcile leave it be.
    pub fn waiting(&self) -> bool {
        self.status == TaskStatus::Created && self.submit_attempted_at.is_none()
    }

    /// The account its submit was claimed on (empty: none yet, or the provider's `main`).
    pub fn account(&self) -> &str {
        self.request.as_ref().map_or("", |r| r.account.as_str())
    }

    /// The UTC day its provider took it (its submit; its creation for tasks made before submits
    /// were stamped): the day the provider's bill lists it under.
    pub fn bill_day(&self) -> crate::domain::timestamp::Day {
        crate::domain::timestamp::Day::of(self.submitted_at.unwrap_or(self.created_at).datetime())
    }

    /// The capacity item its slot is in (`domain::pool`).
    pub fn slot_key(&self) -> String {
        crate::domain::pool::slot_key(&self.provider, self.account())
    }

    /// It counts against its provider account's concurrency: from its submit until the
    /// provider has finished with it (`docs/providers.md` §Concurrency). Storing the video
    /// (`FINALIZING`) takes no provider capacity.
    pub fn holds_slot(&self) -> bool {
        match self.status {
            TaskStatus::Created => self.submit_attempted_at.is_some(),
            TaskStatus::Queued | TaskStatus::Running => true,
            _ => false,
        }
    }

    /// Reconcile looks after it: unfinished, and not waiting in line. (Waiting tasks kept out
    /// of reconcile's index, so a long line never hides a task whose callback was lost.)
    pub fn reconciled(&self) -> bool {
        !self.status.is_terminal() && !self.waiting()
    }

    pub fn last_seen(&self) -> Timestamp {
        self.checked_at
            .map_or(self.updated_at, |c| c.max(self.updated_at))
    }
}

/// Key of the stored video: one object per task, under its owner.
pub fn video_key(user_id: &str, task_id: &str) -> String {
    format!("videos/{user_id}/{task_id}.mp4")
}

/// Progress estimate (0–100) for an app's progress bar. Kling reports no percentage, so a
/// running task advances with elapsed time against a typical generation time.
pub fn progress(status: TaskStatus, running_for_secs: u64, typical_secs: u64) -> u8 {
    match status {
        TaskStatus::Created => 0,
        TaskStatus::Queued => 5,
        TaskStatus::Running => {
            let typical = typical_secs.max(1);
            let share = running_for_secs.min(typical) * 80 / typical;
            (10 + share).min(90) as u8
        }
        TaskStatus::Finalizing => 95,
        TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled => 100,
    }
}

/// A task for the domain rules' tables.
#[cfg(test)]
pub(crate) mod fixture {
    use super::*;
    use crate::domain::generation::{AspectRatio, Mode, Quality, VideoType};

    fn ts(s: &str) -> crate::domain::timestamp::Timestamp {
        crate::domain::timestamp::Timestamp::parse(s).unwrap()
    }

    /// A task for rule tables.
    pub(crate) fn task(status: TaskStatus) -> Task {
        Task {
            id: "t".into(),
            user_id: "u".into(),
            status,
            video_type: VideoType::TextToVideo,
            prompt: Some("p".into()),
            negative_prompt: None,
            duration: 5,
            aspect_ratio: Some(AspectRatio::Landscape),
            quality: Quality::Standard,
            model: "m".into(),
            mode: Mode::Std,
            cost_units: CostUnits(500),
            provider: "kling".into(),
            provider_ref: None,
            provider_handle: None,
            created_at: ts("2026-01-01T00:00:00.000Z"),
            updated_at: ts("2026-01-01T00:00:00.000Z"),
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
            plan: None,
            provider_facts: Default::default(),
            template: None,
            group_id: None,
            cached_from: None,
            upgraded_from: None,
            source_task: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_table() {
        let cases = [
            (TaskStatus::Created, 0, 0),
            (TaskStatus::Queued, 0, 5),
            (TaskStatus::Running, 0, 10),
            (TaskStatus::Running, 150, 50),
            (TaskStatus::Running, 300, 90),
            (TaskStatus::Running, 9_000, 90),
            (TaskStatus::Finalizing, 0, 95),
            (TaskStatus::Succeeded, 0, 100),
            (TaskStatus::Failed, 0, 100),
            (TaskStatus::Canceled, 0, 100),
        ];
        for (status, secs, want) in cases {
            assert_eq!(
                progress(status, secs, 300),
                want,
                "{status:?} after {secs}s"
            );
        }
    }

    #[test]
    fn a_slot_is_held_from_the_submit_until_the_provider_is_done() {
        use TaskStatus as S;
        let sent = Some(crate::domain::timestamp::Timestamp::now());
        let cases = [
            (S::Created, None, false),
            (S::Created, sent, true),
            (S::Queued, sent, true),
            (S::Running, sent, true),
            (S::Finalizing, sent, false),
            (S::Succeeded, sent, false),
            (S::Failed, sent, false),
            (S::Canceled, None, false),
        ];
        for (status, attempted, holds) in cases {
            let mut t = fixture::task(status);
            t.submit_attempted_at = attempted;
            assert_eq!(t.holds_slot(), holds, "{status:?} {attempted:?}");
        }
    }

    #[test]
    fn cost_units_round_trip_exactly() {
        let c: CostUnits = serde_json::from_str("20.8").unwrap();
        assert_eq!(c, CostUnits(2080));
        assert_eq!(serde_json::to_string(&c).unwrap(), "20.8");
        assert!(serde_json::from_str::<CostUnits>("-1").is_err());
    }

    #[test]
    fn labels_are_the_documented_ones() {
        let labels: Vec<_> = TaskStatus::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(
            labels,
            [
                "Waiting",
                "Queued",
                "Generating…",
                "Finalizing…",
                "Ready",
                "Failed",
                "Canceled"
            ]
        );
    }
}
