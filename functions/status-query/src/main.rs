use lambda_http::{Error, service_fn};
use shared::auth::AuthMode;
use shared::aws::{DynamoTaskStore, S3VideoStore, SqsFinalizeQueue, s3_client, sdk_config};
use shared::config::{BucketConfig, ProcessEnv, QueueConfig, TableConfig};
use shared::kling::{KlingClient, KlingConfig};
use shared::plans::Plans;
use shared::sync::SyncPolicy;
use status_query::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = sdk_config().await;
    let env = shared::aws::with_secrets(&sdk, ProcessEnv).await?;
    let bucket = BucketConfig::from_source(&env)?;
    let app: &'static App<_, _, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, TableConfig::from_source(&env)?.table_name),
        videos: S3VideoStore::new(s3_client(&sdk, &env), bucket.bucket),
        provider: KlingClient::new(&KlingConfig::from_source(&env)?)?,
        queue: SqsFinalizeQueue::from_sdk(&sdk, QueueConfig::from_source(&env)?.finalize_queue_url),
        poll: SyncPolicy::from_source(&env, "POLL_STALE_SECONDS", 30)?,
        auth: AuthMode::from_source(&env)?,
        presign_ttl: bucket.presign_ttl,
        plans: Plans::from_source(&env)?,
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
