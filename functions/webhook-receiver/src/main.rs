use lambda_http::{Error, service_fn};
use shared::aws::{DynamoTaskStore, SqsFinalizeQueue, sdk_config};
use shared::config::{ProcessEnv, QueueConfig, TableConfig, WebhookConfig};
use webhook_receiver::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let sdk = sdk_config().await;
    let env = shared::aws::with_secrets(&sdk, ProcessEnv).await?;
    let app: &'static App<_, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, TableConfig::from_source(&env)?.table_name),
        queue: SqsFinalizeQueue::from_sdk(&sdk, QueueConfig::from_source(&env)?.finalize_queue_url),
        secret: WebhookConfig::secret_from_source(&env)?,
        signers: webhook_receiver::signers_from_source(&env)?,
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
