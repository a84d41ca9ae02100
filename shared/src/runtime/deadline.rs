//! How long a call may still take: the Lambda invocation's remaining time.

use std::time::{Duration, Instant};

/// Shortest time worth starting another attempt with.
pub(crate) const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// The latest moment a call may still be in flight (the Lambda's remaining time).
#[derive(Debug, Clone, Copy, Default)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    pub fn none() -> Self {
        Deadline(None)
    }

    pub fn at(instant: Instant) -> Self {
        Deadline(Some(instant))
    }

    pub fn after(d: Duration) -> Self {
        Deadline(Some(Instant::now() + d))
    }

    pub(crate) fn remaining(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether waiting `delay` still leaves time for another attempt.
    pub(crate) fn allows(&self, delay: Duration, attempt_budget: Duration) -> bool {
        self.remaining().is_none_or(|r| r > delay + attempt_budget)
    }
}

/// A deadline from a Unix-epoch millisecond timestamp (a Lambda context's `deadline`), keeping
/// a second in hand to record the outcome. A deadline already (nearly) past when a handler
/// starts is not a real one (some local emulators send such values): calls then run on their
/// own timeouts.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> Deadline {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms))
        .saturating_sub(Duration::from_secs(1));
    if left < MIN_ATTEMPT {
        tracing::warn!(
            deadline_ms,
            now_ms,
            "the invocation deadline is already past; ignoring it"
        );
        return Deadline::none();
    }
    Deadline::after(left)
}
