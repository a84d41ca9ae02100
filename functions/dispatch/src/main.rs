use dispatch::{App, Settings, handle_until};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::aws::{DynamoTaskStore, SqsQueue, sdk_config};
use shared::runtime::config::ProcessEnv;

// One event at a time: a single-threaded runtime starts no worker threads at cold start.
#[tokio::main(flavor = "current_thread")]
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
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, Error>(handle_until(app, until(event.context.deadline)).await)
        },
    ))
    .await
}

/// The invocation's deadline (Unix ms, from the Runtime API) as an instant; none when unset.
fn until(deadline_ms: u64) -> Option<std::time::Instant> {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let left = std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms));
    (deadline_ms > 0).then(|| std::time::Instant::now() + left)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_deadline_is_an_instant_or_none_when_unset() {
        assert_eq!(super::until(0), None);
        let past = super::until(1).unwrap();
        assert!(past <= std::time::Instant::now());
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        let left = super::until(now_ms + 30_000).unwrap() - std::time::Instant::now();
        assert!(
            left > std::time::Duration::from_secs(29) && left <= std::time::Duration::from_secs(30)
        );
    }
}
