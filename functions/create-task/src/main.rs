use create_task::{App, Settings, handle};
use lambda_http::{Error, service_fn};
use shared::aws::{DynamoTaskStore, S3VideoStore, SqsQueue, s3_client_for, sdk_config};
use shared::runtime::config::ProcessEnv;

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    let app: &'static App<_, _, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        provider: s.providers.provider()?,
        uploads: S3VideoStore::new(s3_client_for(&sdk, s.s3_path_style), s.bucket.bucket),
        dispatch: SqsQueue::from_sdk(&sdk, s.dispatch.dispatch_queue_url),
        auth: s.auth,
        webhook: s.webhook,
        plans: s.plans,
        moderation: s.moderation,
        upload_policy: s.upload_policy,
        templates: s.templates,
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
