use lambda_http::{Error, service_fn};
use shared::aws::{DynamoTaskStore, S3VideoStore, SqsQueue, s3_client_for, sdk_config};
use shared::runtime::config::ProcessEnv;
use status_query::{App, Settings, handle};

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    let app: &'static App<_, _, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        videos: S3VideoStore::new(s3_client_for(&sdk, s.s3_path_style), s.bucket.bucket)
            .with_cdn(s.cdn),
        provider: s.providers.provider()?,
        queue: status_query::erasure::Queues {
            finalize: SqsQueue::from_sdk(&sdk, s.queue.finalize_queue_url),
            erasure: SqsQueue::from_sdk(&sdk, s.erasure_queue_url),
        },
        poll: s.poll,
        auth: s.auth,
        presign_ttl: s.bucket.presign_ttl,
        capacity: s.capacity,
        plans: s.plans,
        stream: s.stream,
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
