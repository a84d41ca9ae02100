use events::{App, Settings, handle};
use lambda_http::{Error, service_fn};
use shared::aws::{DynamoTaskStore, sdk_config};
use shared::runtime::config::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    let app: &'static App<_> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        secret: s.secret,
        limits: s.limits,
    }));
    lambda_http::run_with_streaming_response(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
