use devices::{App, Settings, handle};
use lambda_http::{Error, service_fn};
use shared::aws::{DynamoTaskStore, SnsPush, sdk_config};
use shared::runtime::config::ProcessEnv;

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&ProcessEnv)?;
    let app: &'static App<_, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        push: SnsPush::from_sdk(&sdk, s.push_apps.clone()),
        apps: s.push_apps,
        auth: s.auth,
        live_activities: s.live_activities,
    }));
    lambda_http::run(service_fn(move |req| async move {
        Ok::<_, Error>(handle(app, req).await)
    }))
    .await
}
