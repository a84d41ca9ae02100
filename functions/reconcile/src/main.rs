use lambda_runtime::{Error, LambdaEvent, service_fn};
use reconcile::{App, handle};
use shared::aws::{DynamoTaskStore, SqsFinalizeQueue, sdk_config};
use shared::config::{ProcessEnv, QueueConfig, TableConfig};
use shared::kling::{KlingClient, KlingConfig};
use shared::sync::SyncPolicy;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = sdk_config().await;
    let env = shared::aws::with_secrets(&sdk, ProcessEnv).await?;
    let app: &'static App<_, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, TableConfig::from_source(&env)?.table_name),
        provider: KlingClient::new(&KlingConfig::from_source(&env)?)?,
        queue: SqsFinalizeQueue::from_sdk(&sdk, QueueConfig::from_source(&env)?.finalize_queue_url),
        policy: SyncPolicy::from_source(&env, "RECONCILE_STALE_SECONDS", 600)?,
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
