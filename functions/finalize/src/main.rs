use finalize::{App, DownloadPolicy, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::aws::{DynamoTaskStore, S3VideoStore, s3_client, sdk_config};
use shared::config::{BucketConfig, ProcessEnv, TableConfig};
use shared::kling::{KlingClient, KlingConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = sdk_config().await;
    let env = shared::aws::with_secrets(&sdk, ProcessEnv).await?;
    let policy = DownloadPolicy::from_source(&env)?;
    let app: &'static App<_, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, TableConfig::from_source(&env)?.table_name),
        provider: KlingClient::new(&KlingConfig::from_source(&env)?)?,
        videos: S3VideoStore::new(
            s3_client(&sdk, &env),
            BucketConfig::from_source(&env)?.bucket,
        ),
        http: policy.client()?,
        policy,
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
