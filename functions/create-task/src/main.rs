use create_task::{App, UploadPolicy, handle};
use lambda_http::{Error, service_fn};
use shared::auth::AuthMode;
use shared::aws::{DynamoTaskStore, S3VideoStore, s3_client, sdk_config};
use shared::config::{BucketConfig, ProcessEnv, TableConfig, WebhookConfig};
use shared::kling::{KlingClient, KlingConfig};
use shared::moderation::Policy;
use shared::plans::Plans;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = sdk_config().await;
    let env = shared::aws::with_secrets(&sdk, ProcessEnv).await?;
    let kling = KlingConfig::from_source(&env)?;
    let app: &'static App<_, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, TableConfig::from_source(&env)?.table_name),
        provider: KlingClient::new(&kling)?,
        uploads: S3VideoStore::new(
            s3_client(&sdk, &env),
            BucketConfig::from_source(&env)?.bucket,
        ),
        auth: AuthMode::from_source(&env)?,
        webhook: WebhookConfig::from_source(&env)?,
        kling,
        plans: Plans::from_source(&env)?,
        moderation: Policy::from_source(&env)?,
        upload_policy: UploadPolicy::from_source(&env)?,
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
