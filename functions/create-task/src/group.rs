//! `variations: n`: n tasks under one `Idempotency-Key`, each its own task with its own seed,
//! charge and refund, answered as a group. Variation `i` is recorded under the key `{key}#i`,
//! so a retry replays the ones made and makes the ones missing; plan limits count every
//! variation and are checked before the first is charged.

use lambda_http::{Body, Request, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use shared::domain::task::{Task, TaskId};
use shared::domain::timestamp;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response};
use shared::edge::view::task_view;
use shared::ports::{Accounts, DispatchNudge, Groups, Idempotency, Tasks};

use crate::{NewTask, Parsed, Ports, Recorded, admit, priced, record_task};

/// The most variations any plan may offer.
pub const MAX_VARIATIONS: u64 = 8;

/// A group's id: the same for the same caller and key, so retries find it.
pub fn group_id(user_id: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{user_id}\n{key}").as_bytes());
    format!("grp_{}", &hex::encode(digest)[..24])
}

/// Variation `i`'s seed: the request's seed (or one from the group) plus `i`, so each differs.
pub fn seed_for(seed: Option<u64>, group_id: &str, i: u32) -> u64 {
    let base = seed.unwrap_or_else(|| {
        let digest = Sha256::digest(group_id.as_bytes());
        u64::from(u32::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3],
        ]))
    });
    (base + u64::from(i)) % (1 << 32)
}

fn sub_key(key: &str, i: u32) -> String {
    format!("{key}#{}", i + 1)
}

async fn existing<A: Ports>(
    app: &A,
    identity: &Identity,
    key: &str,
    hash: &str,
) -> Result<Option<Task>, ApiError> {
    let record = app.store().idempotency(&identity.user_id, key).await;
    match record? {
        Some(record) => crate::replayed_task(app, &record, hash).await.map(Some),
        None => Ok(None),
    }
}

/// Before the first variation is made: the plan's variations, the template, and every
/// variation against the plan's limits (a retry that finds some made — `resuming` — skips the
/// limits: those were checked when the first was charged).
async fn admit_group<A: Ports>(
    app: &A,
    identity: &Identity,
    parsed: &Parsed,
    (p, account, now): Pricing<'_, '_>,
    (key, hash, n, resuming): (&str, &str, u32, bool),
) -> Result<(), ApiError> {
    if n > p.plan.max_variations {
        return Err(ApiError::new(
            422,
            "too_many_variations",
            format!(
                "the {} plan allows at most {} variations",
                p.plan_name, p.plan.max_variations
            ),
        )
        .with_field("variations"));
    }
    crate::check_template(parsed, p.plan_name)?;
    if resuming {
        return Ok(());
    }
    let all = crate::Priced {
        count: n,
        ..p.clone()
    };
    let request = crate::request_hash(&json!([key, hash]));
    admit(app, identity, &all, &parsed.spec, account, now, &request).await
}

pub async fn create_group<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
    parsed: &Parsed,
    key: &str,
    n: u32,
) -> Result<Response<Body>, ApiError> {
    let now = timestamp::now();
    let hash = crate::request_hash(&parsed.request.raw);
    let day = timestamp::utc_day(now);
    let account = app.store().account(&identity.user_id, &day).await?;
    let p = priced(app, identity, &account, &parsed.spec);
    let gid = group_id(&identity.user_id, key);
    // Variations are recorded in order: without the first, none was made.
    let first = existing(app, identity, &sub_key(key, 0), &hash).await?;
    let resuming = first.is_some();
    let pricing = (&p, &account, now);
    admit_group(app, identity, parsed, pricing, (key, &hash, n, resuming)).await?;
    let mut tasks: Vec<Task> = first.into_iter().collect();
    for i in tasks.len() as u32..n {
        let this = (gid.as_str(), key, hash.as_str(), i);
        tasks.push(variation(app, req, identity, parsed, pricing, this, resuming).await?);
    }
    let ids: Vec<TaskId> = tasks.iter().map(|t| t.id.clone()).collect();
    app.store().put_group(&identity.user_id, &gid, &ids).await?;
    if let Err(e) = app.dispatch().nudge(std::time::Duration::ZERO).await {
        tracing::warn!(error = %e, "could not wake the dispatcher; its schedule will");
    }
    let at = timestamp::now();
    let items: Vec<_> = tasks.iter().map(|t| task_view(t, None, at)).collect();
    Ok(json_response(
        202,
        &json!({ "group_id": gid, "items": items }),
    ))
}

type Pricing<'p, 'a> = (
    &'p crate::Priced<'a>,
    &'p shared::ports::AccountView,
    time::OffsetDateTime,
);

/// Variation `i`: the one made already under its key, or a new one.
async fn variation<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
    parsed: &Parsed,
    (p, account, now): Pricing<'_, '_>,
    (gid, key, hash, i): (&str, &str, &str, u32),
    resuming: bool,
) -> Result<Task, ApiError> {
    let key = sub_key(key, i);
    if resuming && let Some(task) = existing(app, identity, &key, hash).await? {
        return Ok(task);
    }
    let mut spec = parsed.spec.clone();
    spec.seed = Some(seed_for(parsed.spec.seed, gid, i));
    let new = NewTask {
        spec: &spec,
        template: parsed.template.as_ref().map(|(_, used)| used),
        group: Some(gid),
        upgraded_from: None,
        source: parsed.source.as_ref(),
        voice: parsed.voice.as_ref(),
        key: &key,
        hash,
    };
    match record_task(app, req, identity, p, account, now, &new).await? {
        Recorded::New(task) => Ok(*task),
        Recorded::KeyExists(record) => app
            .store()
            .get_task(&record.task_id)
            .await?
            .ok_or_else(ApiError::internal),
    }
}
