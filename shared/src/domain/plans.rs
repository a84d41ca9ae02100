//! Plans and prices from configuration (`infra/plans.json`, embedded at build time, or the
//! `PLANS_JSON` environment variable), read once per cold start, and the pure rule that says
//! whether a plan allows a request now.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::pricing::PriceTable;
use crate::domain::task::{CostUnits, Quality};
use crate::runtime::config::{ConfigError, Source};

pub const DEFAULT_PLANS_JSON: &str = include_str!("../../../infra/plans.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Queue lane: lower goes first when the provider is saturated.
    #[serde(default = "default_priority")]
    pub priority: u8,
    /// How long a task may wait for the provider's capacity before it fails (refunded).
    #[serde(default = "default_max_queue_seconds")]
    pub max_queue_seconds: u32,
    pub qualities: Vec<Quality>,
    pub model_overrides: Vec<String>,
    pub max_duration_seconds: u32,
    /// Whether videos with native sound are part of the plan.
    #[serde(default)]
    pub audio: bool,
    /// Whether 4K videos are part of the plan.
    #[serde(default)]
    pub four_k: bool,
    /// The provider element ids (characters made for this plan's users by the operator) a
    /// request may name; any other is refused: an id is the provider account's, not a user's.
    #[serde(default)]
    pub element_ids: Vec<String>,
    pub max_concurrent_tasks: u32,
    /// The most `variations` one request may ask for.
    #[serde(default = "one")]
    pub max_variations: u32,
    pub daily_cost_units: f64,
    pub suspend_after_violations: u32,
    pub violation_window_seconds: u32,
    pub suspension_seconds: u32,
}

fn one() -> u32 {
    1
}

fn default_priority() -> u8 {
    1
}

fn default_max_queue_seconds() -> u32 {
    1800
}

impl Plan {
    pub fn daily_budget(&self) -> CostUnits {
        CostUnits((self.daily_cost_units * 100.0).round().max(0.0) as u64)
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct Pricing {
    tier_multipliers: BTreeMap<String, f64>,
    feature_multipliers: BTreeMap<String, f64>,
    /// Units per video for the kinds priced per generation (`effect`).
    #[serde(default)]
    per_generation: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct PlansFile {
    default_plan: String,
    pricing: Pricing,
    plans: BTreeMap<String, Plan>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plans {
    pub default_plan: String,
    pub plans: BTreeMap<String, Plan>,
    pub prices: PriceTable,
}

fn hundredths(map: &BTreeMap<String, f64>, key: &str) -> Result<u64, ConfigError> {
    let v = map.get(key).ok_or_else(|| ConfigError::Invalid {
        name: "PLANS_JSON",
        reason: format!("pricing has no multiplier '{key}'"),
    })?;
    if !v.is_finite() || *v <= 0.0 {
        return Err(ConfigError::Invalid {
            name: "PLANS_JSON",
            reason: format!("multiplier '{key}' must be positive"),
        });
    }
    Ok((v * 100.0).round() as u64)
}

/// A per-generation price in units (as the API shows them), kept in hundredths.
fn per_generation(map: &BTreeMap<String, f64>, kind: &str) -> Result<u64, ConfigError> {
    match map.get(kind) {
        None => Ok(PriceTable::default().effect_per_generation),
        Some(units) if units.is_finite() && *units > 0.0 => Ok((units * 100.0).round() as u64),
        Some(_) => Err(ConfigError::Invalid {
            name: "PLANS_JSON",
            reason: format!("per_generation price '{kind}' must be positive"),
        }),
    }
}

/// A plan whose limits contradict each other would refuse a request it advertises: every
/// variation is a task in flight, so no plan may offer more variations than tasks in flight.
pub fn inconsistency(name: &str, plan: &Plan) -> Option<String> {
    if plan.max_concurrent_tasks == 0 {
        return Some(format!("plan '{name}' allows no task in flight"));
    }
    (plan.max_variations > plan.max_concurrent_tasks).then(|| {
        format!(
            "plan '{name}' offers {} variations but only {} tasks in flight",
            plan.max_variations, plan.max_concurrent_tasks
        )
    })
}

impl Plans {
    pub fn parse(json: &str) -> Result<Self, ConfigError> {
        let file: PlansFile = serde_json::from_str(json).map_err(|e| ConfigError::Invalid {
            name: "PLANS_JSON",
            reason: e.to_string(),
        })?;
        if let Some(reason) = file.plans.iter().find_map(|(n, p)| inconsistency(n, p)) {
            return Err(ConfigError::Invalid {
                name: "PLANS_JSON",
                reason,
            });
        }
        if !file.plans.contains_key(&file.default_plan) {
            return Err(ConfigError::Invalid {
                name: "PLANS_JSON",
                reason: format!("default_plan '{}' is not a plan", file.default_plan),
            });
        }
        let prices = PriceTable {
            std_tier: hundredths(&file.pricing.tier_multipliers, "std")?,
            pro_tier: hundredths(&file.pricing.tier_multipliers, "pro")?,
            four_k_tier: match file.pricing.tier_multipliers.contains_key("4k") {
                true => hundredths(&file.pricing.tier_multipliers, "4k")?,
                false => PriceTable::default().four_k_tier,
            },
            no_feature: hundredths(&file.pricing.feature_multipliers, "none")?,
            camera_control: hundredths(&file.pricing.feature_multipliers, "camera_control")?,
            audio: match file.pricing.feature_multipliers.contains_key("audio") {
                true => hundredths(&file.pricing.feature_multipliers, "audio")?,
                false => 100,
            },
            effect_per_generation: per_generation(&file.pricing.per_generation, "effect")?,
        };
        Ok(Self {
            default_plan: file.default_plan,
            plans: file.plans,
            prices,
        })
    }

    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        Self::parse(
            &src.optional("PLANS_JSON")
                .unwrap_or_else(|| DEFAULT_PLANS_JSON.to_string()),
        )
    }

    /// One source of truth, read on every request: the plan an operator set on the account
    /// (`plan_override`), else the one the token's `plan:*` Cognito group names (so
    /// a Cognito group change takes effect with the next token), else the default. Nothing
    /// pins the plan a user had at their first create.
    pub fn resolve<'a>(
        &'a self,
        account_plan: Option<&str>,
        token_hint: Option<&str>,
    ) -> (&'a str, &'a Plan) {
        for name in [account_plan, token_hint, Some(self.default_plan.as_str())]
            .into_iter()
            .flatten()
        {
            if let Some((key, plan)) = self.plans.get_key_value(name) {
                return (key.as_str(), plan);
            }
        }
        let (key, plan) = self
            .plans
            .iter()
            .next()
            .unwrap_or_else(|| unreachable!("parse guarantees the default plan exists"));
        (key.as_str(), plan)
    }
}

/// What the plan needs to know about a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestFacts<'a> {
    pub quality: Quality,
    pub model_override: Option<&'a str>,
    pub duration_seconds: u32,
    pub audio: bool,
    pub four_k: bool,
    pub element_ids: &'a [String],
    pub cost: CostUnits,
}

/// The account as it stands now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub in_flight: u32,
    pub used_today: CostUnits,
    pub suspended_until: Option<i64>,
}

/// Why a plan refuses a request: a stable code, the HTTP status, and a sentence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refusal {
    pub code: &'static str,
    #[serde(skip)]
    pub status: u16,
    pub message: String,
}

fn refusal(code: &'static str, status: u16, message: String) -> Refusal {
    Refusal {
        code,
        status,
        message,
    }
}

/// Every reason the plan refuses this request now; empty means allowed. Permanent reasons come
/// before the ones that pass with time (suspension, concurrency, budget).
pub fn refusals(
    plan_name: &str,
    plan: &Plan,
    req: &RequestFacts<'_>,
    usage: &Usage,
    now: i64,
) -> Vec<Refusal> {
    let mut out = permanent_refusals(plan_name, plan, req);
    out.extend(passing_refusals(plan_name, plan, req, usage, now));
    out
}

/// What the plan never allows: a quality, a model override, a duration.
fn permanent_refusals(plan_name: &str, plan: &Plan, req: &RequestFacts<'_>) -> Vec<Refusal> {
    let mut out = Vec::new();
    if !plan.qualities.contains(&req.quality) {
        let message = format!(
            "the {plan_name} plan does not include {:?} quality",
            req.quality
        );
        out.push(refusal("quality_not_in_plan", 403, message.to_lowercase()));
    }
    if let Some(model) = req.model_override
        && !plan.model_overrides.iter().any(|m| m == model)
    {
        out.push(refusal(
            "model_not_in_plan",
            403,
            format!("the {plan_name} plan does not allow choosing model {model}"),
        ));
    }
    if req.duration_seconds > plan.max_duration_seconds {
        let max = plan.max_duration_seconds;
        out.push(refusal(
            "duration_not_in_plan",
            403,
            format!("the {plan_name} plan allows videos up to {max} seconds"),
        ));
    }
    if req.audio && !plan.audio {
        let message = format!("the {plan_name} plan does not include videos with sound");
        out.push(refusal("audio_not_in_plan", 403, message));
    }
    if let Some(id) = req
        .element_ids
        .iter()
        .find(|id| !plan.element_ids.contains(id))
    {
        let message = format!("the {plan_name} plan does not include element {id}");
        out.push(refusal("element_not_in_plan", 403, message));
    }
    if req.four_k && !plan.four_k {
        let message = format!("the {plan_name} plan does not include 4K videos");
        out.push(refusal("resolution_not_in_plan", 403, message));
    }
    out
}

/// What passes with time: a suspension, the tasks in progress, today's budget.
fn passing_refusals(
    plan_name: &str,
    plan: &Plan,
    req: &RequestFacts<'_>,
    usage: &Usage,
    now: i64,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    if let Some(until) = usage.suspended_until.filter(|u| *u > now) {
        let until = crate::domain::timestamp::rfc3339_secs(until);
        out.push(refusal(
            "account_suspended",
            403,
            format!("the account is suspended until {until}"),
        ));
    }
    if usage.in_flight >= plan.max_concurrent_tasks {
        let max = plan.max_concurrent_tasks;
        out.push(refusal(
            "concurrency_limit",
            429,
            format!("the {plan_name} plan allows {max} video(s) in progress at a time"),
        ));
    }
    let budget = plan.daily_budget();
    if usage.used_today.0 + req.cost.0 > budget.0 {
        let left = budget.0.saturating_sub(usage.used_today.0) as f64 / 100.0;
        out.push(refusal(
            "daily_budget_exceeded",
            429,
            format!(
                "this video costs {:.2} units and {left:.2} of today's {:.2} remain",
                req.cost.as_f64(),
                budget.as_f64()
            ),
        ));
    }
    out
}

/// Which limit refused a charge the store could not write: a suspension first, then the
/// concurrent tasks, then the budget. When none holds any more (a slot or budget freed up in
/// the meantime) the contention is reported as busy.
pub fn charge_refusal(
    usage: &Usage,
    max_concurrent: u32,
    daily_budget: CostUnits,
    cost: CostUnits,
    now: i64,
) -> ChargeRefusal {
    if usage.suspended_until.is_some_and(|u| u > now) {
        ChargeRefusal::Suspended
    } else if usage.in_flight >= max_concurrent {
        ChargeRefusal::Concurrency
    } else if usage.used_today.0 + cost.0 > daily_budget.0 {
        ChargeRefusal::Budget
    } else {
        ChargeRefusal::Concurrency
    }
}

/// Until when an account is suspended after this violation: `violations` are the times of the
/// recorded ones (this one included); only those inside the window count.
pub fn suspension(violations: &[i64], now: i64, policy: ViolationPolicy) -> Option<i64> {
    let recent = violations
        .iter()
        .filter(|t| **t > now - policy.window_secs)
        .count();
    (recent as u64 >= u64::from(policy.threshold)).then_some(now + policy.suspension_secs)
}

/// The UTC day a refund counts against: the day the task was charged (its creation), so a
/// refund after midnight gives back the budget of the day that paid.
pub fn refund_day(created_at: crate::domain::timestamp::Timestamp) -> String {
    crate::domain::timestamp::utc_day(created_at.datetime())
}

/// Why a charge was refused: no free slot, no budget left today, or a suspended account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeRefusal {
    Concurrency,
    Budget,
    Suspended,
}

/// Moderation policy for repeated violations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ViolationPolicy {
    pub threshold: u32,
    pub window_secs: i64,
    pub suspension_secs: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans() -> Plans {
        Plans::parse(DEFAULT_PLANS_JSON).unwrap()
    }

    #[test]
    fn the_shipped_file_parses() {
        let p = plans();
        assert_eq!(p.prices, PriceTable::default());
        assert_eq!(p.resolve(None, None).0, "free");
        assert_eq!(p.resolve(None, Some("pro")).0, "pro");
        assert_eq!(
            p.resolve(Some("free"), Some("pro")).0,
            "free",
            "the account record wins"
        );
        assert_eq!(p.resolve(Some("gold"), None).0, "free");
        assert!(Plans::parse(r#"{"default_plan":"x","pricing":{"tier_multipliers":{},"feature_multipliers":{}},"plans":{}}"#).is_err());
    }

    #[test]
    fn a_plan_never_offers_more_variations_than_tasks_in_flight() {
        let base = plans().plans["pro"].clone();
        let with = |variations, concurrent| Plan {
            max_variations: variations,
            max_concurrent_tasks: concurrent,
            ..base.clone()
        };
        let cases = [
            (1, 1, true),
            (3, 3, true),
            (3, 5, true),
            (4, 3, false),
            (1, 0, false),
        ];
        for (variations, concurrent, ok) in cases {
            let got = inconsistency("p", &with(variations, concurrent));
            assert_eq!(got.is_none(), ok, "{variations} {concurrent}: {got:?}");
        }
        let mut file: serde_json::Value = serde_json::from_str(DEFAULT_PLANS_JSON).unwrap();
        file["plans"]["pro"]["max_variations"] = 4.into();
        let refused = Plans::parse(&file.to_string()).err().map(|e| e.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|r| r.contains("4 variations but only 3")),
            "{refused:?}"
        );
    }

    #[test]
    fn refusal_table() {
        let p = plans();
        let free = &p.plans["free"];
        let someone_elses = ["el-of-another-account".to_string()];
        let std5 = RequestFacts {
            quality: Quality::Standard,
            model_override: None,
            duration_seconds: 5,
            audio: false,
            four_k: false,
            element_ids: &[],
            cost: CostUnits(500),
        };
        let codes = |req: &RequestFacts<'_>, usage: &Usage| -> Vec<&'static str> {
            refusals("free", free, req, usage, 1_000)
                .iter()
                .map(|r| r.code)
                .collect()
        };
        let idle = Usage::default();
        let cases: Vec<(RequestFacts<'_>, Usage, Vec<&str>)> = vec![
            (std5.clone(), idle.clone(), vec![]),
            (
                RequestFacts {
                    quality: Quality::Pro,
                    ..std5.clone()
                },
                idle.clone(),
                vec!["quality_not_in_plan"],
            ),
            (
                RequestFacts {
                    model_override: Some("kling-v3"),
                    ..std5.clone()
                },
                idle.clone(),
                vec!["model_not_in_plan"],
            ),
            (
                RequestFacts {
                    four_k: true,
                    ..std5.clone()
                },
                idle.clone(),
                vec!["resolution_not_in_plan"],
            ),
            (
                RequestFacts {
                    element_ids: &someone_elses,
                    ..std5.clone()
                },
                idle.clone(),
                vec!["element_not_in_plan"],
            ),
            (
                RequestFacts {
                    duration_seconds: 10,
                    cost: CostUnits(1000),
                    ..std5.clone()
                },
                idle.clone(),
                vec!["duration_not_in_plan"],
            ),
            (
                RequestFacts {
                    audio: true,
                    ..std5.clone()
                },
                idle.clone(),
                vec!["audio_not_in_plan"],
            ),
            (
                std5.clone(),
                Usage {
                    in_flight: 1,
                    ..idle.clone()
                },
                vec!["concurrency_limit"],
            ),
            (
                std5.clone(),
                Usage {
                    used_today: CostUnits(1600),
                    ..idle.clone()
                },
                vec!["daily_budget_exceeded"],
            ),
            (
                std5.clone(),
                Usage {
                    used_today: CostUnits(1500),
                    ..idle.clone()
                },
                vec![],
            ),
            (
                std5.clone(),
                Usage {
                    suspended_until: Some(2_000),
                    ..idle.clone()
                },
                vec!["account_suspended"],
            ),
            (
                std5.clone(),
                Usage {
                    suspended_until: Some(999),
                    ..idle.clone()
                },
                vec![],
            ),
        ];
        for (req, usage, want) in cases {
            assert_eq!(codes(&req, &usage), want, "{req:?} {usage:?}");
        }
    }

    #[test]
    fn charge_refusal_table() {
        use ChargeRefusal::*;
        let usage = |in_flight, used, suspended_until| Usage {
            in_flight,
            used_today: CostUnits(used),
            suspended_until,
        };
        let cases = [
            (usage(0, 0, Some(200)), Suspended),
            (usage(2, 0, Some(50)), Concurrency),
            (usage(2, 0, None), Concurrency),
            (usage(0, 1600, None), Budget),
            (usage(1, 1500, None), Concurrency),
        ];
        for (u, want) in cases {
            let got = charge_refusal(&u, 2, CostUnits(2000), CostUnits(500), 100);
            assert_eq!(got, want, "{u:?}");
        }
    }

    #[test]
    fn suspension_table() {
        let policy = ViolationPolicy {
            threshold: 3,
            window_secs: 100,
            suspension_secs: 60,
        };
        let cases: [(&[i64], Option<i64>); 5] = [
            (&[1000], None),
            (&[990, 1000], None),
            (&[980, 990, 1000], Some(1060)),
            (&[900, 990, 1000], None),
            (&[100, 200, 980, 990, 995, 1000], Some(1060)),
        ];
        for (violations, want) in cases {
            assert_eq!(suspension(violations, 1000, policy), want, "{violations:?}");
        }
    }

    #[test]
    fn refund_day_table() {
        // The day that paid, whenever the refund happens; offsets count in UTC.
        let cases = [
            ("2026-03-01T23:59:59.000Z", "2026-03-01"),
            ("2026-03-02T00:00:01.000Z", "2026-03-02"),
            ("2026-03-02T00:30:00+01:00", "2026-03-01"),
        ];
        for (created, want) in cases {
            let created_at = crate::domain::timestamp::Timestamp::parse(created).unwrap();
            assert_eq!(refund_day(created_at), want, "{created}");
        }
    }
}
