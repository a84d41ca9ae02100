use lambda_runtime::{Error, LambdaEvent, service_fn};
use notify::{App, Settings, handle};
use shared::aws::{DynamoTaskStore, EventBridgeBus, SnsPush, SqsWebhookOutbox, sdk_config};
use shared::runtime::config::ProcessEnv;

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::runtime::telemetry::init();
    let sdk = sdk_config().await?;
    let s = Settings::from_source(&shared::aws::with_secrets(&sdk, ProcessEnv).await?)?;
    let live = s.apns.map(notify::apns::Apns::new).transpose()?;
    let app: &'static App<_, _, _, _, _> = Box::leak(Box::new(App {
        store: DynamoTaskStore::from_sdk(&sdk, s.table.table_name),
        bus: EventBridgeBus::from_sdk(&sdk, s.event_bus),
        push: SnsPush::from_sdk(&sdk, s.push_apps),
        outbox: SqsWebhookOutbox::from_sdk(&sdk, s.webhook_queue_url, s.webhook_dead_letter_url),
        push_text: s.push_text,
        webhook: s.webhook,
        retry: s.retry,
        live,
        live_policy: s.live_policy,
        http: shared::runtime::net::builder()?
            .redirect(reqwest::redirect::Policy::none())
            .build()?,
    }));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(handle(app, event.payload).await)
        },
    ))
    .await
}
