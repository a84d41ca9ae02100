//! create-task: the gate in front of a paid provider.
//!
//! `POST /v1/videos`: validate, moderate, check the plan, resolve images, check the provider's
//! capability map, price, then record the task — waiting, with the exact request the
//! dispatcher will submit — together with the account's debit, in-flight slot, idempotency
//! record and ledger entry in one transaction, wake the dispatcher and answer at once. The
//! provider's own capacity never refuses anyone: tasks wait in line for it. `POST /v1/videos/estimate` prices a
//! body without creating anything. `POST /v1/uploads` hands out presigned PUTs for images.

mod admit;
mod body;
mod cache;
mod create;
mod estimate;
mod group;
mod replay;
mod requests;
mod sources;
mod templates;
mod upgrade;
mod uploads;

use lambda_http::{Body, Request, Response};

use shared::domain::moderation::Policy;
use shared::domain::plans::Plans;
use shared::edge::auth::{AuthMode, identify};
use shared::edge::envelope::{ApiError, answer};
use shared::edge::request::{self, header};
use shared::ports::{
    Accounts, Admission, Breakers, DispatchNudge, Groups, Idempotency, ResultCache, Tasks,
    TemplateStore, UploadStore,
};
use shared::provider::VideoProvider;
use shared::runtime::config::WebhookConfig;

use admit::*;
use body::*;
use create::*;
use estimate::*;
use replay::*;
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

/// What every step of create-task runs on, with the bounds stated once: the table, the provider,
/// the upload bucket, the dispatcher's nudge, and the settings read at cold start. `App` is the
/// one implementation; each step takes `&impl Ports` (or `A: Ports`).
pub trait Ports: Sync {
    type Store: Store;
    type Provider: VideoProvider;
    type Uploads: UploadStore;
    type Nudge: DispatchNudge;
    fn store(&self) -> &Self::Store;
    fn provider(&self) -> &Self::Provider;
    fn uploads(&self) -> &Self::Uploads;
    fn dispatch(&self) -> &Self::Nudge;
    fn auth(&self) -> &AuthMode;
    fn webhook(&self) -> &WebhookConfig;
    fn plans(&self) -> &Plans;
    fn moderation(&self) -> &Policy;
    fn upload_policy(&self) -> &UploadPolicy;
    fn templates(&self) -> &[shared::domain::templates::VideoTemplate];
}

impl<S: Store, P: VideoProvider, U: UploadStore, D: DispatchNudge> Ports for App<S, P, U, D> {
    type Store = S;
    type Provider = P;
    type Uploads = U;
    type Nudge = D;
    fn store(&self) -> &S {
        &self.store
    }
    fn provider(&self) -> &P {
        &self.provider
    }
    fn uploads(&self) -> &U {
        &self.uploads
    }
    fn dispatch(&self) -> &D {
        &self.dispatch
    }
    fn auth(&self) -> &AuthMode {
        &self.auth
    }
    fn webhook(&self) -> &WebhookConfig {
        &self.webhook
    }
    fn plans(&self) -> &Plans {
        &self.plans
    }
    fn moderation(&self) -> &Policy {
        &self.moderation
    }
    fn upload_policy(&self) -> &UploadPolicy {
        &self.upload_policy
    }
    fn templates(&self) -> &[shared::domain::templates::VideoTemplate] {
        &self.templates
    }
}

/// The function's one entry: every route of create-task, answered with the envelope.
pub async fn handle(app: &impl Ports, req: Request) -> Response<Body> {
    answer("create-task", &req, route(app, &req)).await
}

async fn route<A: Ports>(app: &A, req: &Request) -> Result<Response<Body>, ApiError> {
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
        app.auth(),
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
