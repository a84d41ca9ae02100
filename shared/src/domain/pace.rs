//! How long a model takes to make a video, learned from recent tasks, and when a task still
//! with its provider is worth asking about without waiting for an app's poll: a lost callback
//! must not hold a capacity slot for long after the provider finished.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::domain::task::{Task, TaskStatus};
use crate::domain::timestamp::Timestamp;

/// Lower bounds (seconds) of the bins generation times are counted in: fine under a minute,
/// coarse beyond.
pub const BINS: [u64; 20] = [
    0, 2, 4, 6, 8, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 450, 600, 900, 1800,
];

/// Fewer recent samples than this and the fallback stands.
pub const MIN_SAMPLES: u64 = 3;

/// The share of recent tasks already done when asking starts. Early, so a finished task whose
/// callback was lost frees its slot soon; the recheck window bounds the lookups of the rest.
pub const ASK_FROM_QUANTILE: f64 = 0.2;

/// The bin a generation time falls in (its lower bound, in seconds).
pub fn bin(took: Duration) -> u64 {
    let secs = took.as_secs();
    BINS.iter().rev().copied().find(|b| secs >= *b).unwrap_or(0)
}

/// Recent generation times of one model, counted per bin (lower bound → count).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram(pub BTreeMap<u64, u64>);

impl Histogram {
    pub fn add(&mut self, other: &Histogram) {
        for (b, n) in &other.0 {
            *self.0.entry(*b).or_default() += n;
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// The lower bound of the bin holding the `q` quantile; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.total();
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        self.0.iter().find_map(|(b, n)| {
            seen += n;
            (seen >= rank).then_some(*b)
        })
    }
}

/// When asking about a task starts, and how often after that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Never ask sooner than this after the submit, whatever was learned.
    pub floor: Duration,
    /// Until enough is learned about a model.
    pub fallback: Duration,
    /// A task asked about is not asked again for this long.
    pub recheck: Duration,
}

impl Pace {
    /// `SLOT_CHECK_FLOOR_SECONDS` (30), `SLOT_CHECK_FALLBACK_SECONDS` (60),
    /// `SLOT_RECHECK_SECONDS` (15).
    pub fn from_source(
        src: &impl crate::runtime::config::Source,
    ) -> Result<Self, crate::runtime::config::ConfigError> {
        let secs = |name, default| src.parsed(name, default).map(Duration::from_secs);
        Ok(Self {
            floor: secs("SLOT_CHECK_FLOOR_SECONDS", 30)?,
            fallback: secs("SLOT_CHECK_FALLBACK_SECONDS", 60)?,
            recheck: secs("SLOT_RECHECK_SECONDS", 15)?,
        })
    }

    /// How long after its submit a task of a model with these recent times is asked about.
    pub fn ask_after(&self, times: &Histogram) -> Duration {
        let learned = (times.total() >= MIN_SAMPLES)
            .then(|| times.quantile(ASK_FROM_QUANTILE))
            .flatten()
            .map(Duration::from_secs);
        learned.unwrap_or(self.fallback).max(self.floor)
    }
}

/// Whether a slot holder is due for a lookup: the provider has it (queued or running) and it
/// is past `ask_after` since its submit. A submit still unanswered belongs to the dispatcher's
/// own recovery; how often a due task is asked is the lookup claim's window.
pub fn due(task: &Task, ask_after: Duration, now: Timestamp) -> bool {
    if !matches!(task.status, TaskStatus::Queued | TaskStatus::Running) {
        return false;
    }
    let since = task
        .submitted_at
        .or(task.submit_attempted_at)
        .unwrap_or(task.created_at);
    now - since >= ask_after
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(pairs: &[(u64, u64)]) -> Histogram {
        Histogram(pairs.iter().copied().collect())
    }

    #[test]
    fn generation_times_fall_in_their_bins() {
        let cases = [
            (0, 0),
            (1, 0),
            (7, 6),
            (8, 8),
            (59, 45),
            (61, 60),
            (4000, 1800),
        ];
        for (secs, want) in cases {
            assert_eq!(bin(Duration::from_secs(secs)), want, "{secs}");
        }
    }

    #[test]
    fn asking_starts_at_the_fifth_of_recent_tasks_never_below_the_floor() {
        let pace = Pace {
            floor: Duration::from_secs(5),
            fallback: Duration::from_secs(300),
            recheck: Duration::from_secs(15),
        };
        let cases = [
            (hist(&[]), 300),
            (hist(&[(60, 2)]), 300),
            (hist(&[(60, 3)]), 60),
            (hist(&[(30, 1), (60, 4), (120, 5)]), 60),
            (hist(&[(30, 2), (60, 4), (120, 4)]), 30),
            (hist(&[(0, 10)]), 5),
            (hist(&[(8, 9), (900, 1)]), 8),
        ];
        for (times, want) in cases {
            assert_eq!(
                pace.ask_after(&times),
                Duration::from_secs(want),
                "{times:?}"
            );
        }
    }

    #[test]
    fn recent_hours_add_up() {
        let mut a = hist(&[(8, 1), (10, 2)]);
        a.add(&hist(&[(10, 1), (60, 1)]));
        assert_eq!(a, hist(&[(8, 1), (10, 3), (60, 1)]));
        assert_eq!(a.total(), 5);
    }

    #[test]
    fn only_tasks_the_provider_holds_are_due_once_past_their_time() {
        let now = Timestamp::now();
        let after = Duration::from_secs(60);
        let task = |status, submitted_secs_ago: Option<i64>| {
            let mut t = crate::domain::task::fixture::task(status);
            t.submitted_at = submitted_secs_ago.map(|s| now - time::Duration::seconds(s));
            t.submit_attempted_at = t.submitted_at;
            t
        };
        use TaskStatus as S;
        let cases = [
            (S::Running, Some(61), true),
            (S::Queued, Some(60), true),
            (S::Running, Some(59), false),
            (S::Created, Some(600), false),
            (S::Finalizing, Some(600), false),
            (S::Succeeded, Some(600), false),
        ];
        for (status, ago, want) in cases {
            assert_eq!(
                due(&task(status, ago), after, now),
                want,
                "{status:?} {ago:?}"
            );
        }
    }
}
