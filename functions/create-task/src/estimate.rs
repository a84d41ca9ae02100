//! `POST /v1/videos/estimate`: the price and what the plan and provider would say, with nothing
//! created or charged.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::domain::plans::refusals;
use shared::domain::timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response};
use shared::ports::Accounts;

use crate::*;

pub(crate) async fn estimate<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let parsed = parse(app, req, identity).await?;
    let spec = &parsed.spec;
    let now = timestamp::now();
    let account = app
        .store()
        .account(&identity.user_id, &timestamp::utc_day(now))
        .await?;
    let p = priced(app, identity, &account, spec);
    check_template(&parsed, p.plan_name)?;
    let mut reasons: Vec<serde_json::Value> = refusals(
        p.plan_name,
        p.plan,
        &facts(spec, &p),
        &usage(&account),
        timestamp::unix_seconds(now),
    )
    .into_iter()
    .map(|r| json!({"code": r.code, "message": r.message}))
    .collect();
    let mut shape = generation_request(
        spec,
        &p.model,
        &ResolvedImages::placeholders(spec),
        None,
        "",
    );
    shape.source = parsed.source.as_ref().map(crate::sources::stand_in);
    shape.voice = parsed.voice.as_ref().map(crate::sources::voice_stand_in);
    // The same choice create makes: the first provider that offers what is asked.
    if let Err(err) = crate::create::choose_provider(app, &shape).await {
        reasons.push(json!({"code": err.code, "message": err.message}));
    }
    let b = p.breakdown;
    Ok(json_response(
        200,
        &json!({
            "cost_units": b.cost,
            "breakdown": {
                "duration_seconds": b.duration_seconds,
                "tier_multiplier": b.tier_multiplier as f64 / 100.0,
                "feature_multiplier": b.feature_multiplier as f64 / 100.0,
            },
            "plan": p.plan_name,
            "model": p.model.model,
            "mode": p.model.mode,
            "allowed": reasons.is_empty(),
            "reasons": reasons,
        }),
    ))
}
