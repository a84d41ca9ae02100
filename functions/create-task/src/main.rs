use create_task::{App, handle};
use lambda_http::{Error, service_fn};
use shared::auth::AuthMode;
use shared::aws::{DynamoTaskStore, sdk_config};
use shared::config::{ProcessEnv, TableConfig, WebhookConfig};
use shared::kling::{KlingClient, KlingConfig};
use shared::pricing::PriceTable;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init();
    let env = ProcessEnv;
    let sdk = sdk_config().await;
    let kling = KlingConfig::from_source(&env)?;
    let app: &'static App<_, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, TableConfig::from_source(&env)?.table_name),
        provider: KlingClient::new(&kling)?,
        auth: AuthMode::from_source(&env)?,
        webhook: WebhookConfig::from_source(&env)?,
        kling,
        prices: PriceTable::default(),
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
