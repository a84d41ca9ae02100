//! The one way a task fails: the `FAILED` transition, whose write also refunds the charge and
//! frees the capacity slot in the same transaction (the store's rule), logged and counted once.

use crate::domain::state::{TaskEvent, TaskPatch};
use crate::domain::task::{Task, TaskError, failure_message};
use crate::ports::{Applied, StoreError, Tasks};
use crate::runtime::metrics::{self, Unit};

/// Why a task failed: the code the app sees (with its fixed sentence), and the detail for
/// operators (logs and `provider_facts.failure_detail`, never shown to apps).
#[derive(Debug, Clone, PartialEq)]
pub struct Failure<'a> {
    pub code: &'a str,
    pub message: String,
    pub retryable: bool,
}

/// Fail `task` with `failure` (plus whatever else `patch` records) and refund it. A task that
/// already ended is left as it is (`moved: false`), and nothing is counted twice.
pub async fn fail_and_refund<S: Tasks>(
    store: &S,
    function: &'static str,
    task: &Task,
    failure: Failure<'_>,
    mut patch: TaskPatch,
) -> Result<Applied, StoreError> {
    let Failure {
        code,
        message,
        retryable,
    } = failure;
    tracing::warn!(function, code, message, "task failed; refunding");
    patch.error = Some(TaskError {
        code: code.to_string(),
        message: failure_message(code).to_string(),
        retryable,
    });
    patch.facts.failure_detail = Some(message);
    let applied = store.apply(&task.id, TaskEvent::Failed, patch).await?;
    if applied.moved {
        metrics::emit(
            &[("Function", function), ("Reason", code)],
            &[("TasksFailed", 1.0, Unit::Count)],
        );
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn every_failure_code_has_its_own_sentence_and_says_nothing_was_charged() {
        let codes = [
            "timeout",
            "queue_timeout",
            "provider_failed",
            "provider_error",
            "content_policy_violation",
            "video_unusable",
        ];
        let generic = failure_message("internal_error");
        let mut seen = std::collections::HashSet::new();
        for code in codes {
            let sentence = failure_message(code);
            assert_ne!(sentence, generic, "{code} has its own sentence");
            assert!(seen.insert(sentence), "{code} repeats another's");
            assert!(sentence.contains("not charged"), "{code}");
        }
        assert!(generic.contains("not charged"));
    }
}
