//! `POST /v1/videos`: one task recorded and charged in one transaction, waiting for dispatch.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use shared::domain::task::{Task, TaskStatus};
use shared::domain::timestamp;
use shared::domain::validation::VideoSpec;
use shared::edge::auth::Identity;
use shared::edge::envelope::{ApiError, json_response};
use shared::edge::request::{self};
use shared::edge::view::task_view;
use shared::edge::webhook_token::callback_url;
use shared::ports::{AccountView, Charge, CreateOutcome, IdempotencyRecord};
use shared::ports::{Accounts, Admission, Breakers, DispatchNudge};
use shared::provider::{GenerationRequest, VideoProvider};
use shared::runtime::metrics::{self, Unit};

use crate::*;

/// `POST /v1/videos`: named steps, each of which may answer instead.
pub(crate) async fn create<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let key = idempotency_key(req)?;
    let parsed = parse(app, req, identity).await?;
    if parsed.request.variations > 1 {
        return group::create_group(app, req, identity, &parsed, &key, parsed.request.variations)
            .await;
    }
    let (raw, spec) = (&parsed.request.raw, &parsed.spec);
    let hash = request_hash(raw);
    let now = timestamp::now();
    // One read for the key's record, the account and today's usage; then one transaction and
    // one nudge: three round trips per create.
    let (account, existing) = app
        .store()
        .admission(&identity.user_id, &timestamp::utc_day(now), &key)
        .await?;
    if let Some(existing) = existing {
        return replay(app, &existing, &hash).await;
    }
    let p = priced(app, identity, &account, spec);
    check_template(&parsed, p.plan_name)?;
    // The same key with the same body is one request, however often it is sent.
    let request = request_hash(&json!([key, hash]));
    admit(app, identity, &p, spec, &account, now, &request).await?;
    match cache::answer(app, &parsed, &identity.user_id, (&key, &hash)).await? {
        Some(Ok(task)) => {
            return Ok(json_response(
                202,
                &task_view(&task, None, timestamp::now()),
            ));
        }
        Some(Err(existing)) => return replay(app, &existing, &hash).await,
        None => {}
    }
    let new = NewTask {
        spec,
        template: parsed.template.as_ref().map(|(_, used)| used),
        group: None,
        upgraded_from: None,
        source: parsed.source.as_ref(),
        voice: parsed.voice.as_ref(),
        key: &key,
        hash: &hash,
    };
    let task = match record_task(app, req, identity, &p, &account, now, &new).await? {
        Recorded::New(task) => *task,
        Recorded::KeyExists(existing) => return replay(app, &existing, &hash).await,
    };
    cache::remember(app, &parsed, &task).await;
    // A lost nudge only delays the task until the dispatcher's schedule runs.
    if let Err(e) = app.dispatch().nudge(std::time::Duration::ZERO).await {
        tracing::warn!(error = %e, "could not wake the dispatcher; its schedule will");
    }
    let mut resp = json_response(202, &task_view(&task, None, timestamp::now()));
    let limits = rate_headers(p.plan, &account, Some(task.cost_units), now);
    request::add_headers(&mut resp, limits);
    Ok(resp)
}

/// One task to record: what it asks for and under which key.
pub(crate) struct NewTask<'a> {
    pub spec: &'a VideoSpec,
    pub template: Option<&'a shared::domain::task::TemplateUse>,
    pub group: Option<&'a str>,
    pub upgraded_from: Option<&'a shared::domain::task::TaskId>,
    /// The caller's earlier video the task works on.
    pub source: Option<&'a crate::sources::Source>,
    /// The audio an avatar speaks.
    pub voice: Option<&'a crate::sources::Source>,
    pub key: &'a str,
    pub hash: &'a str,
}

pub(crate) enum Recorded {
    New(Box<Task>),
    /// A concurrent first request with this key won.
    KeyExists(IdempotencyRecord),
}

/// Prepare, record and charge one task (one transaction).
pub(crate) async fn record_task<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
    p: &Priced<'_>,
    account: &AccountView,
    now: time::OffsetDateTime,
    new: &NewTask<'_>,
) -> Result<Recorded, ApiError> {
    let task_id = uuid::Uuid::now_v7().to_string();
    tracing::Span::current().record("task_id", task_id.as_str());
    let generation = prepare(app, req, identity, new, p, &task_id).await?;
    let mut task = new_task(identity, new.spec, p, generation, now);
    task.source_task = new
        .source
        .and_then(|s| s.task.as_ref())
        .map(|t| t.id.clone());
    task.template = new.template.cloned();
    task.group_id = new.group.map(str::to_string);
    task.upgraded_from = new.upgraded_from.cloned();
    let record = IdempotencyRecord {
        user_id: identity.user_id.clone(),
        key: new.key.to_string(),
        request_hash: new.hash.to_string(),
        task_id: task.id.clone(),
        created_at: task.created_at.to_string(),
    };
    Ok(match charge(app, &task, &record, p, account, now).await? {
        Some(existing) => Recorded::KeyExists(existing),
        None => Recorded::New(Box::new(task)),
    })
}

/// Images resolved, the callback URL minted, and the provider's capability map asked: the
/// request the provider will get, before any money moves.
pub(crate) async fn prepare<A: Ports>(
    app: &A,
    req: &Request,
    identity: &Identity,
    new: &NewTask<'_>,
    p: &Priced<'_>,
    task_id: &str,
) -> Result<GenerationRequest, ApiError> {
    let spec = new.spec;
    let images = requests::resolve_images(app, &identity.user_id, spec).await?;
    let base = webhook_base(app, req)?;
    let mut generation = generation_request(spec, &p.model, &images, None, task_id);
    for name in app.provider().names() {
        let url = callback_url(&base, &app.webhook().secret, name, task_id);
        generation.callbacks.insert(name.to_string(), url);
    }
    if let Some(source) = new.source {
        crate::sources::attach_source(app, source, &mut generation).await?;
    }
    if let Some(voice) = new.voice {
        crate::sources::attach_voice(app, voice, &mut generation).await?;
    }
    let chosen = choose_provider(app, &generation).await?;
    generation.callback_url = generation.callbacks.get(chosen).cloned();
    generation.provider = chosen.to_string();
    if let Some(source) = new.source {
        crate::sources::name_for_provider(source, &mut generation);
    }
    Ok(generation)
}

/// The provider for a new task, chosen once: the first in failover order that supports the
/// request and whose breaker is closed (a single provider: that one, no breaker read).
pub(crate) async fn choose_provider<A: Ports>(
    app: &A,
    generation: &GenerationRequest,
) -> Result<&'static str, ApiError> {
    let names = app.provider().names();
    let check = |name: &str| {
        let mut on = generation.clone();
        on.provider = name.to_string();
        app.provider().check(&on)
    };
    let mut open = Vec::new();
    if names.len() > 1 {
        let now = timestamp::unix_seconds(timestamp::now());
        for name in &names {
            let state = app.store().breaker(name).await?;
            if shared::domain::breaker::is_open(state, now) {
                open.push(*name);
            }
        }
    }
    let chosen =
        shared::domain::breaker::choose(&names, |n| open.contains(&n), |n| check(n).is_ok());
    match chosen {
        Some(name) => Ok(name),
        None => Err(check(names.first().copied().unwrap_or_default())
            .err()
            .map_or_else(ApiError::internal, |e| {
                capability_error(&e, generation.kind)
            })),
    }
}

pub(crate) fn new_task(
    identity: &Identity,
    spec: &VideoSpec,
    p: &Priced<'_>,
    request: GenerationRequest,
    now: time::OffsetDateTime,
) -> Task {
    let created_at = shared::domain::timestamp::Timestamp::from(now);
    let max_wait = time::Duration::seconds(i64::from(p.plan.max_queue_seconds));
    Task {
        id: request.task_id.as_str().into(),
        user_id: identity.user_id.clone(),
        status: TaskStatus::Created,
        video_type: spec.video_type,
        prompt: spec.prompt.clone(),
        negative_prompt: Some(spec.negative_prompt.clone()),
        duration: spec.duration,
        aspect_ratio: spec.aspect_ratio,
        quality: spec.quality,
        model: p.model.model.clone(),
        mode: p.model.mode,
        cost_units: p.breakdown.cost,
        provider: request.provider.clone(),
        provider_ref: None,
        provider_handle: None,
        created_at,
        updated_at: created_at,
        submitted_at: None,
        completed_at: None,
        error: None,
        video: None,
        checked_at: None,
        deleted_at: None,
        priority: p.plan.priority,
        queue_deadline: Some(shared::domain::timestamp::Timestamp::from(now + max_wait)),
        request: Some(request),
        submit_attempted_at: None,
        retry_at: None,
        plan: Some(p.plan_name.to_string()),
        provider_facts: Default::default(),
        template: None,
        group_id: None,
        cached_from: None,
        upgraded_from: None,
        source_task: None,
    }
}

/// Record and charge in one transaction. `Some` is the key's record when it turned out to be
/// used already (a concurrent first request won).
pub(crate) async fn charge<A: Ports>(
    app: &A,
    task: &Task,
    record: &IdempotencyRecord,
    p: &Priced<'_>,
    account: &AccountView,
    now: time::OffsetDateTime,
) -> Result<Option<IdempotencyRecord>, ApiError> {
    let charge = Charge {
        max_concurrent: p.plan.max_concurrent_tasks,
        daily_budget: p.plan.daily_budget(),
        day: timestamp::utc_day(now),
        now_secs: timestamp::unix_seconds(now),
    };
    let outcome = app.store().create_task(task, record, &charge).await;
    match outcome? {
        CreateOutcome::Created => {}
        CreateOutcome::KeyExists(existing) => return Ok(Some(existing)),
        CreateOutcome::Refused(why) => {
            let limits = rate_headers(p.plan, account, None, now);
            return Err(charge_refused(why, p.plan, now).with_headers(limits));
        }
    }
    tracing::info!(model = %task.model, mode = %task.mode, duration = task.duration, cost = task.cost_units.as_f64(), "task recorded and charged");
    metrics::emit(
        &[("Function", "create-task"), ("Plan", p.plan_name)],
        &[
            ("CostUnits", task.cost_units.as_f64(), Unit::None),
            ("TasksCreated", 1.0, Unit::Count),
        ],
    );
    Ok(None)
}

/// Where the provider calls back: the configured base, or the API domain this request came in on.
pub(crate) fn webhook_base<A: Ports>(app: &A, req: &Request) -> Result<String, ApiError> {
    if let Some(base) = &app.webhook().base_url {
        return Ok(base.clone());
    }
    request::api_base(req).ok_or_else(|| {
        tracing::error!("no WEBHOOK_BASE_URL and no domain name on the request");
        ApiError::internal()
    })
}
