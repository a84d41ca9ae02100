//! Admission: the plan's price and limits for a valid request, the content policy, and the
//! answers for a refused charge or a capability the provider does not offer.

use serde_json::json;

use shared::domain::plans::{Plan, RequestFacts, Usage, refusals};
use shared::domain::pricing::{self, Breakdown, price};
use shared::domain::task::{Mode, VideoType};
use shared::domain::timestamp;
use shared::domain::validation::VideoSpec;
use shared::edge::auth::Identity;
use shared::edge::envelope::ApiError;
use shared::edge::ratelimit;
use shared::ports::Accounts;
use shared::ports::{AccountView, ChargeRefusal, ViolationPolicy};
use shared::provider::{Feature, ModelChoice, ProviderError, VideoProvider};

use crate::*;

/// Everything the plan and the provider decide about a valid request, before any money moves.
#[derive(Clone)]
pub(crate) struct Priced<'a> {
    pub(crate) plan_name: &'a str,
    pub(crate) plan: &'a Plan,
    pub(crate) model: ModelChoice,
    pub(crate) breakdown: Breakdown,
    /// How many tasks the request makes (its variations), each priced `breakdown.cost`.
    pub(crate) count: u32,
}

pub(crate) fn priced<'a, A: Ports>(
    app: &'a A,
    identity: &Identity,
    account: &AccountView,
    spec: &VideoSpec,
) -> Priced<'a> {
    let (plan_name, plan) = app
        .plans()
        .resolve(account.plan.as_deref(), identity.plan_hint.as_deref());
    let model = app
        .provider()
        .choose_model(spec.quality, spec.model_override.as_deref());
    let breakdown = price(
        &app.plans().prices,
        pricing::Priced {
            kind: spec.video_type,
            duration_seconds: spec.duration,
            pro: model.mode == Mode::Pro,
            four_k: spec.four_k,
            camera_control: spec.camera_control.is_some(),
            audio: spec.audio,
        },
    );
    Priced {
        plan_name,
        plan,
        model,
        breakdown,
        count: 1,
    }
}

pub(crate) fn facts<'a>(spec: &'a VideoSpec, p: &Priced<'_>) -> RequestFacts<'a> {
    RequestFacts {
        quality: spec.quality,
        model_override: spec.model_override.as_deref(),
        duration_seconds: spec.duration,
        audio: spec.audio,
        four_k: spec.four_k,
        element_ids: &spec.element_ids,
        cost: p.breakdown.cost,
    }
}

pub(crate) fn usage(account: &AccountView) -> Usage {
    Usage {
        in_flight: account.in_flight,
        used_today: account.used_today,
        suspended_until: account.suspended_until,
    }
}

/// What the plan refuses for good comes first (suspension before moderation, so a suspended
/// user is told so); then the content policy.
pub(crate) async fn admit<A: Ports>(
    app: &A,
    identity: &Identity,
    p: &Priced<'_>,
    spec: &VideoSpec,
    account: &AccountView,
    now: time::OffsetDateTime,
    request: &str,
) -> Result<(), ApiError> {
    let count = p.count;
    let now_secs = timestamp::unix_seconds(now);
    // Each variation counts: all of them must fit, or none is made.
    let mut facts = facts(spec, p);
    facts.cost = shared::domain::task::CostUnits(facts.cost.0 * u64::from(count));
    let mut usage = usage(account);
    usage.in_flight += count.saturating_sub(1);
    let refused = refusals(p.plan_name, p.plan, &facts, &usage, now_secs);
    if let Some(r) = refused.iter().find(|r| r.status == 403) {
        return Err(ApiError::new(403, r.code, r.message.clone()));
    }
    moderate(app, identity, p.plan, spec, request).await?;
    // One task's limits are checked by its own charge; variations, all at once, here.
    match refused.iter().find(|r| r.status == 429) {
        Some(r) if count > 1 => {
            let why = match r.code {
                "concurrency_limit" => ChargeRefusal::Concurrency,
                _ => ChargeRefusal::Budget,
            };
            Err(charge_refused(why, p.plan, now))
        }
        _ => Ok(()),
    }
}

/// Prompts through the content policy; a block counts against the account.
pub(crate) async fn moderate<A: Ports>(
    app: &A,
    identity: &Identity,
    plan: &Plan,
    spec: &VideoSpec,
    request: &str,
) -> Result<(), ApiError> {
    // Only the prompt says what the video shows. The negative prompt lists what to keep out
    // ("blurry, nudity, gore"): naming a thing there is asking for safety, so it is neither
    // refused nor counted. It goes to the provider as its own field, never into the prompt,
    // and the prompt is judged on its own, so nothing in it can exempt a word of the prompt.
    // Each shot's prompt is a prompt too.
    let Some((field, block)) = spec
        .texts()
        .enumerate()
        .find_map(|(i, t)| app.moderation().check(t).map(|b| (i, b)))
        .map(|(i, b)| {
            (
                if i == 0 && spec.prompt.is_some() {
                    "prompt"
                } else {
                    "shots"
                },
                b,
            )
        })
    else {
        return Ok(());
    };
    let policy = ViolationPolicy {
        threshold: plan.suspend_after_violations,
        window_secs: i64::from(plan.violation_window_seconds),
        suspension_secs: i64::from(plan.suspension_seconds),
    };
    let now = timestamp::unix_seconds(timestamp::now());
    let suspended = app
        .store()
        .record_violation(&identity.user_id, request, now, policy)
        .await?;
    tracing::warn!(category = %block.category, ?suspended, "content policy violation");
    let mut details = json!({"category": block.category});
    if let Some(until) = suspended {
        details["suspended_until"] = json!(timestamp::rfc3339_secs(until));
    }
    Err(ApiError::new(
        422,
        "content_policy_violation",
        format!(
            "the prompt breaks the content policy ({})",
            block.category.replace('_', " ")
        ),
    )
    .with_field(field)
    .with_details(details))
}

/// The plan's limits and what is left of them, counting this task when it was charged.
pub(crate) fn rate_headers(
    plan: &Plan,
    account: &AccountView,
    charged: Option<shared::domain::task::CostUnits>,
    now: time::OffsetDateTime,
) -> [(&'static str, String); 2] {
    let used = ratelimit::Used {
        in_flight: account.in_flight + u32::from(charged.is_some()),
        cost_today: shared::domain::task::CostUnits(
            account.used_today.0 + charged.map_or(0, |c| c.0),
        ),
        secs_to_midnight: secs_to_midnight(now),
    };
    ratelimit::headers(plan, used)
}

pub(crate) fn charge_refused(
    why: ChargeRefusal,
    plan: &Plan,
    now: time::OffsetDateTime,
) -> ApiError {
    match why {
        ChargeRefusal::Concurrency => ApiError::new(
            429,
            "concurrency_limit",
            format!(
                "your plan allows {} video(s) in progress at a time; try again when one finishes",
                plan.max_concurrent_tasks
            ),
        )
        .retryable(Some(30)),
        ChargeRefusal::Budget => ApiError::new(
            429,
            "daily_budget_exceeded",
            format!(
                "today's budget of {:.2} units is used up",
                plan.daily_budget().as_f64()
            ),
        )
        .retryable(Some(secs_to_midnight(now))),
        ChargeRefusal::Suspended => {
            ApiError::new(403, "account_suspended", "the account is suspended")
        }
    }
}

/// Seconds until the next UTC midnight, when daily budgets reset.
pub(crate) fn secs_to_midnight(now: time::OffsetDateTime) -> u64 {
    let secs =
        i64::from(now.hour()) * 3600 + i64::from(now.minute()) * 60 + i64::from(now.second());
    (86_400 - secs).max(1) as u64
}

/// A capability refusal, named by what the provider does not offer. A length refused for a kind
/// made from an input is the input's (a source video's, an avatar's audio).
pub(crate) fn capability_error(e: &ProviderError, kind: VideoType) -> ApiError {
    let ProviderError::Unsupported { feature, reason } = e else {
        return ApiError::new(422, "invalid_request", e.to_string());
    };
    let (code, field) = match feature {
        Feature::Kind => ("kind_not_available", "type"),
        Feature::Scene => ("scene_not_available", "scene"),
        Feature::Model => ("model_not_available", "model"),
        Feature::Combination => ("unsupported_combination", "type"),
        Feature::Duration => match kind {
            VideoType::Avatar => ("audio_duration", "voice"),
            k if k.is_model_kind() || k == VideoType::Effect => {
                ("duration_not_supported", "duration")
            }
            _ => ("source_duration", "source"),
        },
        Feature::Audio => ("audio_not_supported", "audio"),
        Feature::MultiShot => ("multi_shot_not_supported", "shots"),
        Feature::Elements => ("elements_not_supported", "element_ids"),
        Feature::CameraControl => ("camera_control_not_supported", "camera_control"),
        Feature::CfgScale => ("cfg_scale_not_supported", "cfg_scale"),
        Feature::Resolution => ("resolution_not_supported", "resolution"),
    };
    ApiError::new(422, code, reason.clone()).with_field(field)
}
