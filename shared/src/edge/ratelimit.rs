//! `RateLimit-Policy` and `RateLimit` headers (IETF httpapi draft, structured-field lists) that
//! tell an app its plan's two limits before it hits them: tasks in progress at once, and the
//! daily budget of cost units (whole units; it resets at UTC midnight).

use crate::domain::plans::Plan;
use crate::domain::task::CostUnits;

/// What the account has used, as the create request saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Used {
    pub in_flight: u32,
    pub cost_today: CostUnits,
    pub secs_to_midnight: u64,
}

pub const POLICY_HEADER: &str = "ratelimit-policy";
pub const STATE_HEADER: &str = "ratelimit";

/// The two headers' values, for this plan and usage.
pub fn headers(plan: &Plan, used: Used) -> [(&'static str, String); 2] {
    let budget_units = plan.daily_budget().0 / 100;
    let remaining_units = plan.daily_budget().0.saturating_sub(used.cost_today.0) / 100;
    let policy = format!(
        "\"concurrency\";q={};qu=\"concurrent-requests\", \"daily\";q={budget_units};w=86400;qu=\"cost-units\"",
        plan.max_concurrent_tasks
    );
    let state = format!(
        "\"concurrency\";r={}, \"daily\";r={remaining_units};t={}",
        plan.max_concurrent_tasks.saturating_sub(used.in_flight),
        used.secs_to_midnight
    );
    [(POLICY_HEADER, policy), (STATE_HEADER, state)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(concurrent: u32, daily: f64) -> Plan {
        Plan {
            priority: 1,
            max_queue_seconds: 1800,
            qualities: vec![],
            model_overrides: vec![],
            max_duration_seconds: 10,
            audio: false,
            four_k: false,
            element_ids: vec![],
            max_concurrent_tasks: concurrent,
            max_variations: 1,
            daily_cost_units: daily,
            suspend_after_violations: 3,
            violation_window_seconds: 3600,
            suspension_seconds: 3600,
        }
    }

    #[test]
    fn header_table() {
        let cases = [
            (
                plan(2, 100.0),
                Used {
                    in_flight: 0,
                    cost_today: CostUnits(0),
                    secs_to_midnight: 60,
                },
                "\"concurrency\";r=2, \"daily\";r=100;t=60",
            ),
            (
                plan(2, 100.0),
                Used {
                    in_flight: 1,
                    cost_today: CostUnits(1650),
                    secs_to_midnight: 5,
                },
                "\"concurrency\";r=1, \"daily\";r=83;t=5",
            ),
            // Over the limits (a downgrade, or a concurrent create): never negative.
            (
                plan(1, 10.0),
                Used {
                    in_flight: 3,
                    cost_today: CostUnits(5000),
                    secs_to_midnight: 1,
                },
                "\"concurrency\";r=0, \"daily\";r=0;t=1",
            ),
        ];
        for (plan, used, want) in cases {
            let [(pn, policy), (sn, state)] = headers(&plan, used);
            assert_eq!((pn, sn), (POLICY_HEADER, STATE_HEADER));
            assert_eq!(state, want, "{used:?}");
            assert!(policy.starts_with(&format!(
                "\"concurrency\";q={};qu=\"concurrent-requests\"",
                plan.max_concurrent_tasks
            )));
            assert!(policy.contains(&format!(
                "\"daily\";q={};w=86400",
                plan.daily_cost_units as u64
            )));
        }
    }
}
