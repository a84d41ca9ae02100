use finalize::{App, Settings, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::aws::{DynamoTaskStore, S3VideoStore, s3_client_for, sdk_config};
use shared::runtime::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    if s.labels.is_none() {
        tracing::warn!("C2PA_LABEL=off: videos are stored without their C2PA manifest");
    }
    let app: &'static App<_, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        provider: s.providers.provider()?,
        videos: S3VideoStore::new(s3_client_for(&sdk, s.s3_path_style), s.bucket.bucket),
        http: s.policy.client()?,
        policy: s.policy,
        labels: s.labels,
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
