use lambda_runtime::{Error, LambdaEvent, service_fn};
use poster::{App, Settings, handle};
use shared::aws::{DynamoTaskStore, S3VideoStore, s3_client_for, sdk_config};
use shared::runtime::config::ProcessEnv;

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&ProcessEnv)?;
    let app: &'static App<_, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        blobs: S3VideoStore::new(s3_client_for(&sdk, s.s3_path_style), s.bucket),
        max_video_bytes: s.max_video_bytes,
    }));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(handle(app, event.payload).await)
        },
    ))
    .await
}
