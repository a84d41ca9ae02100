//! create-task: the gate in front of a paid provider.
//!
//! `POST /v1/videos`: validate, moderate, check the plan, resolve images, check the provider's
//! capability map, price, then record the task — waiting, with the exact request the
//! dispatcher will submit — together with the account's debit, in-flight slot, idempotency
//! record and ledger entry in one transaction, wake the dispatcher and answer at once. The
//! provider's own capacity never refuses anyone: tasks wait in line for it. `POST /v1/videos/estimate` prices a
//! body without creating anything. `POST /v1/uploads` hands out presigned PUTs for images.

mod cache;
mod group;
mod requests;
mod templates;
mod upgrade;
mod uploads;

use lambda_http::{Body, Request, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

use shared::domain::moderation::Policy;
use shared::domain::plans::{Plan, Plans, RequestFacts, Usage, refusals};
use shared::domain::pricing::{self, Breakdown, price};
use shared::domain::task::{Mode, Task, TaskStatus};
use shared::domain::timestamp;
use shared::domain::validation::{CreateVideoBody, VideoSpec, validate};
use shared::edge::auth::{AuthMode, Identity, identify};
use shared::edge::envelope::{ApiError, answer, json_response};
use shared::edge::ratelimit;
use shared::edge::request::{self, header};
use shared::edge::view::task_view;
use shared::edge::webhook_token::callback_url;
use shared::ports::{
    AccountView, Accounts, Admission, Breakers, Charge, ChargeRefusal, CreateOutcome,
    DispatchNudge, Groups, Idempotency, IdempotencyRecord, ResultCache, Tasks, TemplateStore,
    UploadStore, ViolationPolicy,
};
use shared::provider::{Feature, GenerationRequest, ModelChoice, ProviderError, VideoProvider};
use shared::runtime::config::WebhookConfig;
use shared::runtime::metrics::{self, Unit};

pub use requests::{ResolvedImages, generation_request};
pub use uploads::UploadPolicy;

/// What create-task needs of the table: tasks, accounts and their money, idempotency records.
pub trait Store:
    Tasks + Accounts + Idempotency + Admission + Breakers + TemplateStore + Groups + ResultCache
{
}
impl<T> Store for T where
    T: Tasks + Accounts + Idempotency + Admission + Breakers + TemplateStore + Groups + ResultCache
{
}

pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Everything create-task reads from its environment at cold start.
pub struct Settings {
    pub table: shared::runtime::config::TableConfig,
    pub bucket: shared::runtime::config::BucketConfig,
    pub providers: shared::provider::composite::ProviderSettings,
    pub auth: AuthMode,
    pub webhook: WebhookConfig,
    pub plans: Plans,
    pub moderation: Policy,
    pub upload_policy: UploadPolicy,
    pub dispatch: shared::runtime::config::DispatchQueueConfig,
    pub s3_path_style: bool,
    pub templates: Vec<shared::domain::templates::VideoTemplate>,
}

impl Settings {
    pub fn from_source(
        src: &impl shared::runtime::config::Source,
    ) -> Result<Self, shared::runtime::config::ConfigError> {
        Ok(Self {
            table: shared::runtime::config::TableConfig::from_source(src)?,
            bucket: shared::runtime::config::BucketConfig::from_source(src)?,
            providers: shared::provider::composite::ProviderSettings::from_source(src)?,
            auth: AuthMode::from_source(src)?,
            webhook: WebhookConfig::from_source(src)?,
            plans: Plans::from_source(src)?,
            moderation: Policy::from_source(src)?,
            upload_policy: UploadPolicy::from_source(src)?,
            dispatch: shared::runtime::config::DispatchQueueConfig::from_source(src)?,
            s3_path_style: shared::aws::path_style(src),
            templates: shared::domain::templates::from_source(src)?,
        })
    }
}

pub struct App<S, P, U, D> {
    pub store: S,
    pub provider: P,
    pub uploads: U,
    /// Wakes the dispatcher when a task starts waiting.
    pub dispatch: D,
    pub auth: AuthMode,
    pub webhook: WebhookConfig,
    pub plans: Plans,
    pub moderation: Policy,
    pub upload_policy: UploadPolicy,
    /// The shipped template versions (`infra/templates.json`); the table holds later ones.
    pub templates: Vec<shared::domain::templates::VideoTemplate>,
}

pub async fn handle<S: Store, P: VideoProvider, U: UploadStore, D: DispatchNudge>(
    app: &App<S, P, U, D>,
    req: Request,
) -> Response<Body> {
    answer("create-task", &req, route(app, &req)).await
}

async fn route<S: Store, P: VideoProvider, U: UploadStore, D: DispatchNudge>(
    app: &App<S, P, U, D>,
    req: &Request,
) -> Result<Response<Body>, ApiError> {
    let method = req.method().as_str();
    let segments = request::segments(req);
    let known = matches!(
        (method, segments.as_slice()),
        ("POST", ["v1", "videos"])
            | ("POST", ["v1", "videos", "estimate"])
            | ("POST", ["v1", "uploads"])
            | ("GET", ["v1", "templates"])
            | ("POST", ["v1", "videos", _, "upgrade"])
    );
    if !known {
        return Err(ApiError::route_not_found(method, req.uri().path()));
    }
    let identity = identify(
        &app.auth,
        request::authorizer_claims(req),
        header(req, "authorization"),
    )?;
    match segments.as_slice() {
        ["v1", "videos"] => create(app, req, &identity).await,
        ["v1", "videos", "estimate"] => estimate(app, req, &identity).await,
        ["v1", "templates"] => templates::list(app, &identity).await,
        ["v1", "videos", id, "upgrade"] => upgrade::upgrade(app, req, &identity, id).await,
        _ => uploads::create_upload(app, req, &identity).await,
    }
}

pub(crate) fn idempotency_key(req: &Request) -> Result<String, ApiError> {
    let key = header(req, "idempotency-key").ok_or_else(|| {
        ApiError::new(
            400,
            "idempotency_key_required",
            "the Idempotency-Key header is required",
        )
    })?;
    let valid = !key.is_empty()
        && key.len() <= MAX_IDEMPOTENCY_KEY_LEN
        && key.chars().all(|c| c.is_ascii_graphic());
    if !valid {
        return Err(ApiError::new(
            400,
            "invalid_idempotency_key",
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(key.to_string())
}

/// Hash of the body as parsed, so formatting and key order do not make two requests differ.
pub(crate) fn request_hash(body: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// A valid request: the body as sent, what it asks for, and the template that made its prompt.
pub(crate) struct Parsed {
    raw: serde_json::Value,
    spec: VideoSpec,
    template: Option<(
        shared::domain::templates::VideoTemplate,
        shared::domain::task::TemplateUse,
    )>,
    /// How many tasks to make (`variations`).
    variations: u32,
    /// Ask the provider even when the cache has the result.
    fresh: bool,
}

async fn parse<S: Store, P, U, D>(
    app: &App<S, P, U, D>,
    req: &Request,
) -> Result<Parsed, ApiError> {
    let raw: serde_json::Value = request::json_body(req)?;
    let variations = group::parse_variations(&raw)?;
    let fresh = cache::parse_fresh(&raw)?;
    let composed = templates::compose_prompt(&app.store, &app.templates, &raw).await?;
    let mut body = composed.body;
    if let Some(map) = body.as_object_mut() {
        map.remove("variations");
        map.remove("fresh");
    }
    let body: CreateVideoBody = serde_json::from_value(body)
        .map_err(|e| ApiError::malformed(format!("invalid request body: {e}")))?;
    let spec = validate(&body)?;
    Ok(Parsed {
        raw,
        spec,
        template: composed.template,
        variations,
        fresh,
    })
}

/// A template holds for its plans, qualities and durations only.
pub(crate) fn check_template(parsed: &Parsed, plan: &str) -> Result<(), ApiError> {
    let Some((t, _)) = &parsed.template else {
        return Ok(());
    };
    templates::check_plan(t, plan)?;
    shared::domain::templates::check_settings(t, parsed.spec.quality, parsed.spec.duration)
}

/// Seconds until the next UTC midnight, when daily budgets reset.
fn secs_to_midnight(now: time::OffsetDateTime) -> u64 {
    let secs =
        i64::from(now.hour()) * 3600 + i64::from(now.minute()) * 60 + i64::from(now.second());
    (86_400 - secs).max(1) as u64
}

/// Everything the plan and the provider decide about a valid request, before any money moves.
#[derive(Clone)]
pub(crate) struct Priced<'a> {
    plan_name: &'a str,
    plan: &'a Plan,
    model: ModelChoice,
    breakdown: Breakdown,
    /// How many tasks the request makes (its variations), each priced `breakdown.cost`.
    count: u32,
}

pub(crate) fn priced<'a, S, P: VideoProvider, U, D>(
    app: &'a App<S, P, U, D>,
    identity: &Identity,
    account: &AccountView,
    spec: &VideoSpec,
) -> Priced<'a> {
    let (plan_name, plan) = app
        .plans
        .resolve(account.plan.as_deref(), identity.plan_hint.as_deref());
    let model = app
        .provider
        .choose_model(spec.quality, spec.model_override.as_deref());
    let breakdown = price(
        &app.plans.prices,
        pricing::Priced {
            duration_seconds: spec.duration,
            pro: model.mode == Mode::Pro,
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

fn facts<'a>(spec: &'a VideoSpec, p: &Priced<'_>) -> RequestFacts<'a> {
    RequestFacts {
        quality: spec.quality,
        model_override: spec.model_override.as_deref(),
        duration_seconds: spec.duration,
        audio: spec.audio,
        cost: p.breakdown.cost,
    }
}

fn usage(account: &AccountView) -> Usage {
    Usage {
        in_flight: account.in_flight,
        used_today: account.used_today,
        suspended_until: account.suspended_until,
    }
}

/// Prompts through the content policy; a block counts against the account.
async fn moderate<S: Store, P, U, D>(
    app: &App<S, P, U, D>,
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
        .find_map(|(i, t)| app.moderation.check(t).map(|b| (i, b)))
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
        .store
        .record_violation(&identity.user_id, request, now, policy)
        .await
        .map_err(ApiError::from)?;
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

/// `POST /v1/videos`: named steps, each of which may answer instead.
async fn create<S: Store, P: VideoProvider, U: UploadStore, D: DispatchNudge>(
    app: &App<S, P, U, D>,
    req: &Request,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let key = idempotency_key(req)?;
    let parsed = parse(app, req).await?;
    if parsed.variations > 1 {
        return group::create_group(app, req, identity, &parsed, &key, parsed.variations).await;
    }
    let (raw, spec) = (&parsed.raw, &parsed.spec);
    let hash = request_hash(raw);
    let now = timestamp::now();
    // One read for the key's record, the account and today's usage; then one transaction and
    // one nudge: three round trips per create.
    let (account, existing) = app
        .store
        .admission(&identity.user_id, &timestamp::utc_day(now), &key)
        .await
        .map_err(ApiError::from)?;
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
        key: &key,
        hash: &hash,
    };
    let task = match record_task(app, req, identity, &p, &account, now, &new).await? {
        Recorded::New(task) => *task,
        Recorded::KeyExists(existing) => return replay(app, &existing, &hash).await,
    };
    cache::remember(app, &parsed, &task).await;
    // A lost nudge only delays the task until the dispatcher's schedule runs.
    if let Err(e) = app.dispatch.nudge(std::time::Duration::ZERO).await {
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
    pub key: &'a str,
    pub hash: &'a str,
}

pub(crate) enum Recorded {
    New(Box<Task>),
    /// A concurrent first request with this key won.
    KeyExists(IdempotencyRecord),
}

/// Prepare, record and charge one task (one transaction).
pub(crate) async fn record_task<S: Store, P: VideoProvider, U: UploadStore, D>(
    app: &App<S, P, U, D>,
    req: &Request,
    identity: &Identity,
    p: &Priced<'_>,
    account: &AccountView,
    now: time::OffsetDateTime,
    new: &NewTask<'_>,
) -> Result<Recorded, ApiError> {
    let task_id = uuid::Uuid::now_v7().to_string();
    tracing::Span::current().record("task_id", task_id.as_str());
    let generation = prepare(app, req, identity, new.spec, p, &task_id).await?;
    let mut task = new_task(identity, new.spec, p, generation, now);
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

/// What the plan refuses for good comes first (suspension before moderation, so a suspended
/// user is told so); then the content policy.
pub(crate) async fn admit<S: Store, P, U, D>(
    app: &App<S, P, U, D>,
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

/// Images resolved, the callback URL minted, and the provider's capability map asked: the
/// request the provider will get, before any money moves.
async fn prepare<S: Store, P: VideoProvider, U: UploadStore, D>(
    app: &App<S, P, U, D>,
    req: &Request,
    identity: &Identity,
    spec: &VideoSpec,
    p: &Priced<'_>,
    task_id: &str,
) -> Result<GenerationRequest, ApiError> {
    let images = requests::resolve_images(app, &identity.user_id, spec).await?;
    let base = webhook_base(app, req)?;
    let mut generation = generation_request(spec, &p.model, &images, None, task_id);
    for name in app.provider.names() {
        let url = callback_url(&base, &app.webhook.secret, name, task_id);
        generation.callbacks.insert(name.to_string(), url);
    }
    let chosen = choose_provider(app, &generation).await?;
    generation.callback_url = generation.callbacks.get(chosen).cloned();
    generation.provider = chosen.to_string();
    Ok(generation)
}

/// The provider for a new task, chosen once: the first in failover order that supports the
/// request and whose breaker is closed (a single provider: that one, no breaker read).
async fn choose_provider<S: Store, P: VideoProvider, U, D>(
    app: &App<S, P, U, D>,
    generation: &GenerationRequest,
) -> Result<&'static str, ApiError> {
    let names = app.provider.names();
    let check = |name: &str| {
        let mut on = generation.clone();
        on.provider = name.to_string();
        app.provider.check(&on)
    };
    let mut open = Vec::new();
    if names.len() > 1 {
        let now = timestamp::unix_seconds(timestamp::now());
        for name in &names {
            let state = app.store.breaker(name).await.map_err(ApiError::from)?;
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
            .map_or_else(ApiError::internal, |e| capability_error(&e))),
    }
}

fn new_task(
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
    }
}

/// Record and charge in one transaction. `Some` is the key's record when it turned out to be
/// used already (a concurrent first request won).
async fn charge<S: Store, P, U, D>(
    app: &App<S, P, U, D>,
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
    let outcome = app.store.create_task(task, record, &charge).await;
    match outcome.map_err(ApiError::from)? {
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

/// The plan's limits and what is left of them, counting this task when it was charged.
fn rate_headers(
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

fn charge_refused(why: ChargeRefusal, plan: &Plan, now: time::OffsetDateTime) -> ApiError {
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

/// A capability refusal, named by what the provider does not offer.
fn capability_error(e: &ProviderError) -> ApiError {
    let ProviderError::Unsupported { feature, reason } = e else {
        return ApiError::new(422, "invalid_request", e.to_string());
    };
    let (code, field) = match feature {
        Feature::Model => ("model_not_available", "model"),
        Feature::Combination => ("unsupported_combination", "type"),
        Feature::Duration => ("duration_not_supported", "duration"),
        Feature::Audio => ("audio_not_supported", "audio"),
        Feature::MultiShot => ("multi_shot_not_supported", "shots"),
        Feature::Elements => ("elements_not_supported", "element_ids"),
        Feature::CameraControl => ("camera_control_not_supported", "camera_control"),
        Feature::CfgScale => ("cfg_scale_not_supported", "cfg_scale"),
    };
    ApiError::new(422, code, reason.clone()).with_field(field)
}

async fn estimate<S: Store, P: VideoProvider, U, D>(
    app: &App<S, P, U, D>,
    req: &Request,
    identity: &Identity,
) -> Result<Response<Body>, ApiError> {
    let parsed = parse(app, req).await?;
    let spec = &parsed.spec;
    let now = timestamp::now();
    let account = app
        .store
        .account(&identity.user_id, &timestamp::utc_day(now))
        .await
        .map_err(ApiError::from)?;
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
    let shape = generation_request(
        spec,
        &p.model,
        &ResolvedImages::placeholders(spec),
        None,
        "",
    );
    if let Err(e) = app.provider.check(&shape) {
        let err = capability_error(&e);
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

/// Same key again: the same body answers with the key's task as it is now; another body is
/// refused.
/// The task a used key recorded, when this request is the one it was used with.
pub(crate) async fn replayed_task<S: Store, P, U, D>(
    app: &App<S, P, U, D>,
    existing: &IdempotencyRecord,
    hash: &str,
) -> Result<Task, ApiError> {
    if existing.request_hash != hash {
        return Err(ApiError::new(
            422,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different request body",
        )
        .with_field("Idempotency-Key"));
    }
    app.store
        .get_task(&existing.task_id)
        .await
        .map_err(ApiError::from)?
        .ok_or_else(ApiError::internal)
}

pub(crate) async fn replay<S: Store, P, U, D>(
    app: &App<S, P, U, D>,
    existing: &IdempotencyRecord,
    hash: &str,
) -> Result<Response<Body>, ApiError> {
    let task = replayed_task(app, existing, hash).await?;
    // The record is written in the task's own transaction: once it exists, the first request
    // is done and its task (waiting or further along) is the answer.
    tracing::info!(task_id = %task.id, "idempotent replay");
    Ok(json_response(
        202,
        &task_view(&task, None, timestamp::now()),
    ))
}

/// Where the provider calls back: the configured base, or the API domain this request came in on.
fn webhook_base<S, P, U, D>(app: &App<S, P, U, D>, req: &Request) -> Result<String, ApiError> {
    if let Some(base) = &app.webhook.base_url {
        return Ok(base.clone());
    }
    request::api_base(req).ok_or_else(|| {
        tracing::error!("no WEBHOOK_BASE_URL and no domain name on the request");
        ApiError::internal()
    })
}
