//! A circuit breaker per provider: consecutive submits whose outcome was unknown (5000/5002,
//! 5xx, timeouts) open it for a while; a success resets the count; once the quiet period is
//! over new tasks go to the provider again. One pure rule for the state, one for the choice.

use std::time::Duration;

/// What the table keeps per provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BreakerState {
    pub failures: u32,
    /// Unix seconds; new tasks avoid the provider until then.
    pub open_until: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the breaker.
    pub threshold: u32,
    pub open_for: Duration,
}

impl BreakerPolicy {
    pub fn from_source(
        src: &impl crate::runtime::config::Source,
    ) -> Result<Self, crate::runtime::config::ConfigError> {
        Ok(Self {
            threshold: src.parsed("BREAKER_THRESHOLD", 3)?,
            open_for: Duration::from_secs(src.parsed("BREAKER_OPEN_SECONDS", 60)?),
        })
    }
}

pub fn is_open(state: BreakerState, now: i64) -> bool {
    state.open_until.is_some_and(|until| until > now)
}

/// The state after a submit: a success closes it; a failure counts, and opens it at the
/// threshold (again, if it was half-open after a quiet period).
pub fn after(state: BreakerState, ok: bool, policy: BreakerPolicy, now: i64) -> BreakerState {
    if ok {
        return BreakerState::default();
    }
    let failures = state.failures.saturating_add(1);
    let opens = failures >= policy.threshold && !is_open(state, now);
    BreakerState {
        failures,
        open_until: match opens {
            true => Some(now + policy.open_for.as_secs() as i64),
            false => state.open_until,
        },
    }
}

/// The provider for a new task: the first (in failover order) that supports the request and
/// whose breaker is closed; when every one that supports it is open, the first of those.
pub fn choose<'a>(
    names: &[&'a str],
    open: impl Fn(&str) -> bool,
    supports: impl Fn(&str) -> bool,
) -> Option<&'a str> {
    let able: Vec<&'a str> = names.iter().copied().filter(|n| supports(n)).collect();
    able.iter()
        .copied()
        .find(|n| !open(n))
        .or(able.first().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_at_the_threshold_closes_on_success_and_after_the_quiet_period() {
        let p = BreakerPolicy {
            threshold: 3,
            open_for: Duration::from_secs(60),
        };
        let mut s = BreakerState::default();
        for t in 0..2 {
            s = after(s, false, p, t);
            assert!(!is_open(s, t));
        }
        s = after(s, false, p, 10);
        assert_eq!(s.open_until, Some(70));
        assert!(is_open(s, 69) && !is_open(s, 70), "quiet period over");
        assert_eq!(
            after(s, false, p, 20).open_until,
            Some(70),
            "not extended while open"
        );
        assert_eq!(
            after(s, false, p, 80).open_until,
            Some(140),
            "half-open failure reopens"
        );
        assert_eq!(after(s, true, p, 80), BreakerState::default());
    }

    #[test]
    fn choice_table() {
        let names = ["kling", "fal"];
        let none = |_: &str| false;
        let all = |_: &str| true;
        let kling_open = |n: &str| n == "kling";
        let no_fal = |n: &str| n != "fal";
        assert_eq!(choose(&names, none, all), Some("kling"));
        assert_eq!(choose(&names, kling_open, all), Some("fal"));
        assert_eq!(
            choose(&names, kling_open, no_fal),
            Some("kling"),
            "only kling can"
        );
        assert_eq!(
            choose(&names, all, all),
            Some("kling"),
            "all open: the first"
        );
        assert_eq!(choose(&names, none, |_| false), None);
    }
}
