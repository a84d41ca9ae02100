//! The task state machine: the one pure function that decides every transition.
//!
//! `CREATED → QUEUED → RUNNING → FINALIZING → SUCCEEDED`, `FAILED` from any non-terminal
//! state, and `CANCELED` from `CREATED` while no provider holds the task, or from `QUEUED`
//! once the provider itself dropped the job from its queue. Events may arrive late, twice or out of order (callbacks, polling, SQS redelivery),
//! so an event that would move a task backwards or repeat a step is `Stay`, never an error;
//! only an event that cannot be true yet (a stored video before the provider succeeded) is
//! refused.

use crate::domain::generation::JobStatus;
use crate::domain::task::TaskStatus;

/// What happened to a task, from whichever source observed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskEvent {
    /// Kling accepted the task (`submitted`).
    ProviderQueued,
    /// Kling is generating (`processing`).
    ProviderRunning,
    /// Kling finished (`succeed`); the video still has to be copied into S3.
    ProviderSucceeded,
    /// The video is stored in our bucket.
    Stored,
    /// The task failed (provider failure, rejection, timeout, unusable output).
    Failed,
    /// Its owner canceled it; only possible before any provider holds it.
    Canceled,
    /// The provider dropped the job from its queue at its owner's request (fal): nothing
    /// will be made or billed. Only before the job started.
    ProviderCanceled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Move to this state.
    Move(TaskStatus),
    /// Already there or past it: nothing to change.
    Stay,
    /// The event contradicts the task's state.
    Invalid,
}

/// Rank along the happy path; used to ignore events that would go backwards.
fn rank(status: TaskStatus) -> u8 {
    match status {
        TaskStatus::Created => 0,
        TaskStatus::Queued => 1,
        TaskStatus::Running => 2,
        TaskStatus::Finalizing => 3,
        TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled => 4,
    }
}

pub fn transition(from: TaskStatus, event: TaskEvent) -> Outcome {
    if from.is_terminal() {
        return Outcome::Stay;
    }
    let target = match event {
        TaskEvent::ProviderQueued => TaskStatus::Queued,
        TaskEvent::ProviderRunning => TaskStatus::Running,
        TaskEvent::ProviderSucceeded => TaskStatus::Finalizing,
        TaskEvent::Failed => return Outcome::Move(TaskStatus::Failed),
        TaskEvent::Canceled if from == TaskStatus::Created => {
            return Outcome::Move(TaskStatus::Canceled);
        }
        TaskEvent::Canceled => return Outcome::Invalid,
        TaskEvent::ProviderCanceled if rank(from) <= rank(TaskStatus::Queued) => {
            return Outcome::Move(TaskStatus::Canceled);
        }
        TaskEvent::ProviderCanceled => return Outcome::Invalid,
        TaskEvent::Stored if from == TaskStatus::Finalizing => {
            return Outcome::Move(TaskStatus::Succeeded);
        }
        TaskEvent::Stored => return Outcome::Invalid,
    };
    if rank(target) > rank(from) {
        Outcome::Move(target)
    } else {
        Outcome::Stay
    }
}

/// What a callback may do to its task. The lifecycle's rule: **a task whose submit may have
/// reached a provider is resolved only by that provider's answer** — a lookup, a verified
/// callback that names the job, or the hard timeout (its lookup first). A callback is a hint;
/// it moves a task only when the job it names is known to be the task's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackUse {
    /// The task's recorded job: apply the hint (a reported failure is still confirmed first).
    Apply,
    /// No job recorded yet, but the provider's own signature vouches for the one named: record
    /// it, then apply.
    AdoptAndApply,
    /// No job recorded and nothing proves the callback came from the provider: move nothing,
    /// ask the provider by our id.
    AskProvider,
}

pub fn callback_use(reference_recorded: bool, signed_by_provider: bool) -> CallbackUse {
    match (reference_recorded, signed_by_provider) {
        (true, _) => CallbackUse::Apply,
        (false, true) => CallbackUse::AdoptAndApply,
        (false, false) => CallbackUse::AskProvider,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::*;
    use TaskEvent as E;
    use TaskStatus as S;

    #[test]
    fn a_callback_moves_a_task_only_for_the_job_known_to_be_its_own() {
        let cases = [
            (true, false, CallbackUse::Apply),
            (true, true, CallbackUse::Apply),
            (false, true, CallbackUse::AdoptAndApply),
            (false, false, CallbackUse::AskProvider),
        ];
        for (recorded, signed, want) in cases {
            assert_eq!(callback_use(recorded, signed), want, "{recorded} {signed}");
        }
    }

    /// Every state × event pair, written out so a change to the machine shows up here.
    #[test]
    fn every_state_and_event() {
        let table = [
            (S::Created, E::ProviderQueued, Move(S::Queued)),
            (S::Created, E::ProviderRunning, Move(S::Running)),
            (S::Created, E::ProviderSucceeded, Move(S::Finalizing)),
            (S::Created, E::Stored, Invalid),
            (S::Created, E::Failed, Move(S::Failed)),
            (S::Created, E::Canceled, Move(S::Canceled)),
            (S::Created, E::ProviderCanceled, Move(S::Canceled)),
            (S::Queued, E::ProviderQueued, Stay),
            (S::Queued, E::ProviderRunning, Move(S::Running)),
            (S::Queued, E::ProviderSucceeded, Move(S::Finalizing)),
            (S::Queued, E::Stored, Invalid),
            (S::Queued, E::Failed, Move(S::Failed)),
            (S::Queued, E::Canceled, Invalid),
            (S::Queued, E::ProviderCanceled, Move(S::Canceled)),
            (S::Running, E::ProviderQueued, Stay),
            (S::Running, E::ProviderRunning, Stay),
            (S::Running, E::ProviderSucceeded, Move(S::Finalizing)),
            (S::Running, E::Stored, Invalid),
            (S::Running, E::Failed, Move(S::Failed)),
            (S::Running, E::Canceled, Invalid),
            (S::Running, E::ProviderCanceled, Invalid),
            (S::Finalizing, E::ProviderQueued, Stay),
            (S::Finalizing, E::ProviderRunning, Stay),
            (S::Finalizing, E::ProviderSucceeded, Stay),
            (S::Finalizing, E::Stored, Move(S::Succeeded)),
            (S::Finalizing, E::Failed, Move(S::Failed)),
            (S::Finalizing, E::Canceled, Invalid),
            (S::Finalizing, E::ProviderCanceled, Invalid),
            (S::Succeeded, E::ProviderQueued, Stay),
            (S::Succeeded, E::ProviderRunning, Stay),
            (S::Succeeded, E::ProviderSucceeded, Stay),
            (S::Succeeded, E::Stored, Stay),
            (S::Succeeded, E::Failed, Stay),
            (S::Succeeded, E::Canceled, Stay),
            (S::Succeeded, E::ProviderCanceled, Stay),
            (S::Failed, E::ProviderQueued, Stay),
            (S::Failed, E::ProviderRunning, Stay),
            (S::Failed, E::ProviderSucceeded, Stay),
            (S::Failed, E::Stored, Stay),
            (S::Failed, E::Failed, Stay),
            (S::Failed, E::Canceled, Stay),
            (S::Failed, E::ProviderCanceled, Stay),
            (S::Canceled, E::ProviderQueued, Stay),
            (S::Canceled, E::ProviderRunning, Stay),
            (S::Canceled, E::ProviderSucceeded, Stay),
            (S::Canceled, E::Stored, Stay),
            (S::Canceled, E::Failed, Stay),
            (S::Canceled, E::Canceled, Stay),
            (S::Canceled, E::ProviderCanceled, Stay),
        ];
        assert_eq!(table.len(), 7 * 7, "every pair is listed");
        for (from, event, want) in table {
            assert_eq!(transition(from, event), want, "{from:?} + {event:?}");
        }
    }

    #[test]
    fn never_moves_backwards() {
        let events = [
            E::ProviderQueued,
            E::ProviderRunning,
            E::ProviderSucceeded,
            E::Stored,
            E::Failed,
            E::Canceled,
            E::ProviderCanceled,
        ];
        for from in S::ALL {
            for event in events {
                if let Move(to) = transition(from, event) {
                    assert!(rank(to) > rank(from), "{from:?} -> {to:?}");
                }
            }
        }
    }
}

/// What a provider's job status means for our task (`unknown` means nothing).
pub fn event_for(status: JobStatus) -> Option<TaskEvent> {
    match status {
        JobStatus::Queued => Some(TaskEvent::ProviderQueued),
        JobStatus::Running => Some(TaskEvent::ProviderRunning),
        JobStatus::Succeeded => Some(TaskEvent::ProviderSucceeded),
        JobStatus::Failed => Some(TaskEvent::Failed),
        JobStatus::Unknown => None,
    }
}

/// Facts that travel with an event; each is written only when it applies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskPatch {
    /// The provider's reference, recorded the first time any source learns it.
    pub provider_ref: Option<crate::domain::generation::ProviderRef>,
    /// The provider's handle, recorded with the reference (never from a callback).
    pub provider_handle: Option<String>,
    /// Why the task failed; kept only on a move to FAILED.
    pub error: Option<crate::domain::task::TaskError>,
    /// The stored copy; kept only on a move to SUCCEEDED.
    pub video: Option<crate::domain::task::StoredVideo>,
    /// Billing and request ids the provider reported, merged into what is known.
    pub facts: crate::domain::task::ProviderFacts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("event {event:?} cannot apply to a task in state {status:?}")]
pub struct InvalidTransition {
    pub status: TaskStatus,
    pub event: TaskEvent,
}

/// The task after `event`, or `None` when nothing about it changes.
pub fn apply_event(
    task: &crate::domain::task::Task,
    event: TaskEvent,
    patch: &TaskPatch,
    now: crate::domain::timestamp::Timestamp,
) -> Result<Option<crate::domain::task::Task>, InvalidTransition> {
    // Once a submit went out, the provider may hold the task: it can no longer be canceled.
    if event == TaskEvent::Canceled && task.submit_attempted_at.is_some() {
        return Err(InvalidTransition {
            status: task.status,
            event,
        });
    }
    let mut next = task.clone();
    match transition(task.status, event) {
        Outcome::Invalid => {
            return Err(InvalidTransition {
                status: task.status,
                event,
            });
        }
        Outcome::Stay => {}
        Outcome::Move(to) => {
            next.status = to;
            if to != TaskStatus::Failed {
                // The provider has the task from its first sign of life on.
                next.submitted_at.get_or_insert(now);
            }
            if to.is_terminal() {
                next.completed_at = Some(now);
            }
            if to.refunds() {
                next.error = patch.error.clone();
            }
            if to == TaskStatus::Succeeded {
                next.video = patch.video.clone();
            }
        }
    }
    if next.provider_ref.is_none() {
        next.provider_ref = patch.provider_ref.clone();
    }
    if next.provider_handle.is_none() {
        next.provider_handle = patch.provider_handle.clone();
    }
    // A lookup's request id alone is no reason to write: polls that change nothing stay
    // reads. It is recorded with whatever else the answer changed (a move, the bill).
    let moved_on = next != *task;
    next.provider_facts.merge(&patch.facts);
    let billed = next.provider_facts.billed_units != task.provider_facts.billed_units;
    let created = next.provider_facts.create_request_id != task.provider_facts.create_request_id;
    if !(moved_on || billed || created) {
        return Ok(None);
    }
    next.updated_at = now;
    Ok(Some(next))
}

/// The task once a dispatcher claims the right to submit it to `provider`: still waiting, still
/// that provider's (a copy read before a failover names the old one), and its last submit
/// attempt is the one the claimer saw (`None`: never sent). Exactly one claimer wins, and it
/// submits what the claimed item says, never its own copy.
pub fn claim_submit(
    task: &crate::domain::task::Task,
    provider: &str,
    account: &str,
    seen_attempt: Option<crate::domain::timestamp::Timestamp>,
    now: crate::domain::timestamp::Timestamp,
) -> Option<crate::domain::task::Task> {
    let still_ours = task.status == TaskStatus::Created && task.provider == provider;
    if !still_ours || task.submit_attempted_at != seen_attempt {
        return None;
    }
    let mut next = task.clone();
    next.submit_attempted_at = Some(now);
    next.retry_at = None;
    next.updated_at = now;
    if let Some(request) = next.request.as_mut() {
        request.account = account.to_string();
    }
    Some(next)
}

/// The task handed to the next provider in failover order: still waiting, its last submit the
/// one the caller saw (none, or one that provider provably does not hold), so it was never
/// submitted anywhere else; it joins `to`'s line with the callback URL minted for `to`.
pub fn reassign(
    task: &crate::domain::task::Task,
    seen_attempt: Option<crate::domain::timestamp::Timestamp>,
    to: &str,
    now: crate::domain::timestamp::Timestamp,
) -> Option<crate::domain::task::Task> {
    let waiting = task.status == TaskStatus::Created && task.provider_ref.is_none();
    if !waiting || task.submit_attempted_at != seen_attempt || task.provider == to {
        return None;
    }
    let mut next = task.clone();
    let request = next.request.as_mut()?;
    request.callback_url = Some(request.callbacks.get(to)?.clone());
    request.provider = to.to_string();
    // Its account was the old provider's; the new one's is chosen at its submit.
    request.account = String::new();
    next.provider = to.to_string();
    next.submit_attempted_at = None;
    next.retry_at = None;
    next.updated_at = now;
    Some(next)
}

/// The task put back in line: nothing was created, so no submit is pending; not before
/// `retry_at` (the provider was busy).
pub fn defer(
    task: &crate::domain::task::Task,
    retry_at: crate::domain::timestamp::Timestamp,
) -> Option<crate::domain::task::Task> {
    if task.status != TaskStatus::Created {
        return None;
    }
    let mut next = task.clone();
    next.submit_attempted_at = None;
    next.retry_at = Some(retry_at);
    Some(next)
}

/// The task once the app deleted its stored video; `None` when it already had (idempotent).
pub fn mark_deleted(
    task: &crate::domain::task::Task,
    now: crate::domain::timestamp::Timestamp,
) -> Option<crate::domain::task::Task> {
    if task.deleted_at.is_some() {
        return None;
    }
    let mut next = task.clone();
    next.deleted_at = Some(now);
    next.video = None;
    next.updated_at = now;
    Some(next)
}

/// The poster joins the stored video it was made from: only while the task is SUCCEEDED
/// with that video (not deleted or replaced since), and once. `updated_at` is kept: the
/// task did not change, its picture did.
pub fn add_poster(
    task: &crate::domain::task::Task,
    video_key: &str,
    poster: &crate::domain::task::Poster,
) -> Option<crate::domain::task::Task> {
    let video = task.video.as_ref()?;
    if task.status != TaskStatus::Succeeded || video.key != video_key || video.poster.is_some() {
        return None;
    }
    let mut next = task.clone();
    if let Some(v) = next.video.as_mut() {
        v.poster = Some(poster.clone());
    }
    Some(next)
}

#[cfg(test)]
mod apply_tests {
    use super::*;
    use crate::domain::task::fixture::task;
    use crate::domain::task::*;

    /// A poll that changes nothing but the lookup's request id writes nothing; the request id
    /// is kept with a move or a bill.
    #[test]
    fn a_request_id_alone_is_not_a_write() {
        let queued = task(TaskStatus::Queued);
        let now = crate::domain::timestamp::Timestamp::now();
        let facts = |units: Option<&str>| TaskPatch {
            facts: ProviderFacts {
                billed_units: units.map(str::to_string),
                create_request_id: None,
                last_request_id: Some("req-9".into()),
                video_id: None,
                failure_detail: None,
            },
            ..Default::default()
        };
        let same = apply_event(&queued, TaskEvent::ProviderQueued, &facts(None), now);
        assert_eq!(same, Ok(None));
        let moved = apply_event(&queued, TaskEvent::ProviderRunning, &facts(None), now);
        let moved = moved.unwrap().unwrap();
        assert_eq!(
            moved.provider_facts.last_request_id.as_deref(),
            Some("req-9")
        );
        let billed = apply_event(&queued, TaskEvent::ProviderQueued, &facts(Some("4")), now);
        assert_eq!(
            billed
                .unwrap()
                .unwrap()
                .provider_facts
                .billed_units
                .as_deref(),
            Some("4")
        );
    }

    /// One claimer per submit, and only for the provider the stored item names: a copy read
    /// before a failover (or before an earlier submit) claims nothing.
    #[test]
    fn a_submit_is_claimed_once_by_the_tasks_own_provider() {
        let now = ts(NOW_TEXT);
        let earlier = ts("2026-01-01T00:00:30.000Z");
        let sent = |mut t: Task| {
            t.submit_attempted_at = Some(earlier);
            t
        };
        let cases = [
            (task(TaskStatus::Created), "kling", None, true),
            (task(TaskStatus::Created), "fal", None, false),
            (sent(task(TaskStatus::Created)), "kling", None, false),
            (
                sent(task(TaskStatus::Created)),
                "kling",
                Some(earlier),
                true,
            ),
            (task(TaskStatus::Queued), "kling", None, false),
        ];
        for (t, provider, seen, wins) in cases {
            let claimed = claim_submit(&t, provider, "main", seen, now);
            assert_eq!(
                claimed.is_some(),
                wins,
                "{:?} {provider} {seen:?}",
                t.status
            );
            if let Some(c) = claimed {
                assert_eq!(c.submit_attempted_at, Some(now));
            }
        }
    }

    fn ts(s: &str) -> crate::domain::timestamp::Timestamp {
        crate::domain::timestamp::Timestamp::parse(s).unwrap()
    }

    const NOW_TEXT: &str = "2026-01-01T00:01:00.000Z";
    #[allow(non_snake_case)]
    fn NOW() -> crate::domain::timestamp::Timestamp {
        ts(NOW_TEXT)
    }

    #[test]
    fn duplicate_event_changes_nothing() {
        let t = task(TaskStatus::Running);
        assert_eq!(
            apply_event(&t, TaskEvent::ProviderRunning, &TaskPatch::default(), NOW()),
            Ok(None)
        );
    }

    #[test]
    fn late_event_still_records_the_provider_id() {
        let t = task(TaskStatus::Running);
        let patch = TaskPatch {
            provider_ref: Some(crate::domain::generation::ProviderRef("k1".into())),
            ..Default::default()
        };
        let next = apply_event(&t, TaskEvent::ProviderQueued, &patch, NOW())
            .unwrap()
            .unwrap();
        assert_eq!(
            (next.status, next.provider_ref.as_ref().map(|r| r.as_str())),
            (TaskStatus::Running, Some("k1"))
        );
        let again = apply_event(&next, TaskEvent::ProviderQueued, &patch, NOW()).unwrap();
        assert_eq!(again, None, "an id already recorded is never overwritten");
    }

    #[test]
    fn failure_keeps_its_reason_and_completes() {
        let err = TaskError {
            code: "provider_failed".into(),
            message: "Image pixel is invalid".into(),
            retryable: false,
        };
        let patch = TaskPatch {
            error: Some(err.clone()),
            ..Default::default()
        };
        let next = apply_event(&task(TaskStatus::Queued), TaskEvent::Failed, &patch, NOW())
            .unwrap()
            .unwrap();
        assert_eq!(next.status, TaskStatus::Failed);
        assert_eq!(next.error, Some(err));
        assert_eq!(next.completed_at, Some(NOW()));
        assert_eq!(next.updated_at, NOW());
    }

    #[test]
    fn stored_before_provider_success_is_refused() {
        let res = apply_event(
            &task(TaskStatus::Running),
            TaskEvent::Stored,
            &TaskPatch::default(),
            NOW(),
        );
        assert!(res.is_err());
    }

    #[test]
    fn a_poster_joins_only_the_succeeded_video_it_was_made_from() {
        let poster = crate::domain::task::Poster {
            key: "videos/u/t.jpg".into(),
            width: 1280,
            height: 720,
            bytes: 9,
        };
        let stored = |key: &str, poster: Option<crate::domain::task::Poster>| {
            Some(crate::domain::task::StoredVideo {
                key: key.into(),
                bytes: 1,
                sha256: "x".into(),
                content_type: "video/mp4".into(),
                duration_seconds: None,
                width: Some(1280),
                height: Some(720),
                poster,
            })
        };
        let cases = [
            (TaskStatus::Succeeded, stored("videos/u/t.mp4", None), true),
            (
                TaskStatus::Succeeded,
                stored("videos/u/other.mp4", None),
                false,
            ),
            (
                TaskStatus::Succeeded,
                stored("videos/u/t.mp4", Some(poster.clone())),
                false,
            ),
            (TaskStatus::Succeeded, None, false),
            (
                TaskStatus::Finalizing,
                stored("videos/u/t.mp4", None),
                false,
            ),
            (TaskStatus::Failed, stored("videos/u/t.mp4", None), false),
        ];
        for (status, video, added) in cases {
            let mut t = task(status);
            t.video = video;
            let next = add_poster(&t, "videos/u/t.mp4", &poster);
            assert_eq!(next.is_some(), added, "{status:?} {:?}", t.video);
            if let Some(next) = next {
                assert_eq!(next.video.and_then(|v| v.poster), Some(poster.clone()));
                assert_eq!(next.updated_at, t.updated_at);
            }
        }
    }

    #[test]
    fn deleting_clears_the_video_once() {
        let mut t = task(TaskStatus::Succeeded);
        t.video = Some(crate::domain::task::StoredVideo {
            key: "k".into(),
            bytes: 1,
            sha256: "x".into(),
            content_type: "video/mp4".into(),
            duration_seconds: None,
            width: None,
            height: None,
            poster: None,
        });
        let next = mark_deleted(&t, NOW()).unwrap();
        assert_eq!((next.deleted_at, next.updated_at), (Some(NOW()), NOW()));
        assert_eq!(next.video, None);
        assert_eq!(next.status, TaskStatus::Succeeded);
        assert_eq!(mark_deleted(&next, ts("2026-01-02T00:00:00.000Z")), None);
    }
}
