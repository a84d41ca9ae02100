use lambda_runtime::{Error, LambdaEvent, service_fn};
use reconcile::{App, Settings, handle_payload};
use shared::aws::{DynamoTaskStore, SqsQueue, sdk_config};
use shared::runtime::config::ProcessEnv;

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    let app: &'static App<_, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        provider: s.providers.provider()?,
        queue: SqsQueue::from_sdk(&sdk, s.queue.finalize_queue_url),
        policy: s.policy,
        pool: s.providers.pool.clone(),
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        handle_payload(app, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
