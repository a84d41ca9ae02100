use lambda_http::{Error, service_fn};
use shared::aws::{DynamoTaskStore, SqsQueue, sdk_config};
use shared::runtime::config::ProcessEnv;
use webhook_receiver::{App, Settings, handle};

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    let app: &'static App<_, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        queue: SqsQueue::from_sdk(&sdk, s.queue.finalize_queue_url),
        callbacks: shared::provider::composite::callbacks(),
        secret: s.secret,
        signers: s.signers,
        fal_keys: s
            .fal_jwks_url
            .as_deref()
            .map(shared::provider::fal::webhook::FalKeys::from_url),
        fal_user_id: s.fal_user_id,
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
