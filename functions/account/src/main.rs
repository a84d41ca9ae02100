use account::{App, Settings, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::aws::{DynamoTaskStore, S3VideoStore, SnsPush, SqsQueue, s3_client_for, sdk_config};
use shared::runtime::config::ProcessEnv;

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&ProcessEnv)?;
    let app: &'static App<_, _, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        videos: S3VideoStore::new(s3_client_for(&sdk, s.s3_path_style), s.bucket.bucket),
        push: SnsPush::from_sdk(&sdk, s.push_apps),
        queue: SqsQueue::from_sdk(&sdk, s.erasure_queue_url),
        recheck: s.recheck,
    }));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<_>| async move {
        Ok::<_, Error>(handle(app, event.payload).await)
    }))
    .await
}
