use dispatch::{App, Settings, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::aws::{DynamoTaskStore, SqsQueue, sdk_config};
use shared::runtime::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    let app: &'static App<_, _, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        provider: s.providers.provider()?,
        nudge: SqsQueue::from_sdk(&sdk, s.queue.dispatch_queue_url),
        queue: SqsQueue::from_sdk(&sdk, s.finalize.finalize_queue_url),
        pool: s.providers.pool.clone(),
        breaker: s.breaker,
        account_probe: s.account_probe,
        pace: s.pace,
        paces: Default::default(),
        holders_read: Default::default(),
        hard_timeout: s.hard_timeout,
    }));
    lambda_runtime::run(service_fn(
        move |_event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(handle(app).await)
        },
    ))
    .await
}
