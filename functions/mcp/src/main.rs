use lambda_http::{Body, Error, Request, Response};
use mcp::{Backend, Tools, service};
use shared::aws::{DynamoTaskStore, S3VideoStore, SqsQueue, s3_client_for, sdk_config};
use shared::config::ProcessEnv;
use shared::providers::ConfiguredProvider;

type CreateApp = create_task::App<DynamoTaskStore, ConfiguredProvider, S3VideoStore, SqsQueue>;
type StatusApp = status_query::App<DynamoTaskStore, S3VideoStore, ConfiguredProvider, SqsQueue>;

/// The create-task and status-query handlers, each with its own clients (as in their Lambdas).
struct Functions {
    create: CreateApp,
    status: StatusApp,
}

impl Backend for Functions {
    async fn call(&self, req: Request) -> Response<Body> {
        if req.method() == http::Method::GET && req.uri().path().starts_with("/v1/videos/") {
            status_query::handle(&self.status, req).await
        } else {
            create_task::handle(&self.create, req).await
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = sdk_config().await?;
    let env = shared::aws::with_secrets(&sdk, ProcessEnv).await?;
    let c = create_task::Settings::from_source(&env)?;
    let s = status_query::Settings::from_source(&env)?;
    let create = CreateApp {
        store: DynamoTaskStore::from_sdk(&sdk, c.table.table_name),
        provider: c.providers.provider()?,
        uploads: S3VideoStore::new(s3_client_for(&sdk, c.s3_path_style), c.bucket.bucket),
        dispatch: SqsQueue::from_sdk(&sdk, c.dispatch.dispatch_queue_url),
        auth: c.auth,
        webhook: c.webhook,
        plans: c.plans,
        moderation: c.moderation,
        upload_policy: c.upload_policy,
        templates: c.templates,
    };
    let status = StatusApp {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        videos: S3VideoStore::new(s3_client_for(&sdk, s.s3_path_style), s.bucket.bucket)
            .with_cdn(s.cdn),
        provider: s.providers.provider()?,
        queue: SqsQueue::from_sdk(&sdk, s.queue.finalize_queue_url),
        poll: s.poll,
        auth: s.auth,
        presign_ttl: s.bucket.presign_ttl,
        capacity: s.capacity,
        plans: s.plans,
    };
    let tools = Tools::new(Functions { create, status })?;
    lambda_http::run(service(tools)).await
}
