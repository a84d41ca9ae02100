//! The one way a task fails: the `FAILED` transition, whose write also refunds the charge and
//! frees the capacity slot in the same transaction (the store's rule), logged and counted once.

use crate::domain::state::{TaskEvent, TaskPatch};
use crate::domain::task::{Task, TaskError};
use crate::ports::{Applied, StoreError, Tasks};
use crate::runtime::metrics::{self, Unit};

/// Why a task failed, as the app will see it.
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
        message,
        retryable,
    });
    let applied = store.apply(&task.id, TaskEvent::Failed, patch).await?;
    if applied.moved {
        metrics::emit(
            &[("Function", function), ("Reason", code)],
            &[("TasksFailed", 1.0, Unit::Count)],
        );
    }
    Ok(applied)
}
