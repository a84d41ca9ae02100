//! Devices at their cap through the whole stack: a flood of registrations leaves the cap's
//! devices and endpoints, and one terminal event reaches all of them without holding back
//! another user's notification.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::notifications::{endpoint_of, pushes, register_device};
use common::{Api, start, t2v};
use devstack::stack::Stack;

const REGISTERED: usize = 40;

/// Endpoint ARNs of a user's devices as the store holds them.
async fn endpoints(stack: &Stack, user: &str) -> BTreeSet<String> {
    use shared::ports::Devices;
    let devices = common::store(stack).devices_of(user).await.unwrap();
    let mut out = BTreeSet::new();
    for d in devices {
        out.insert(endpoint_of(stack, user, &d.id).await.unwrap());
    }
    out
}

/// Waits until every endpoint has had a push; how long that took.
async fn pushed(stack: &Stack, wanted: &BTreeSet<String>, since: Instant) -> Duration {
    loop {
        let seen = pushes(stack).await;
        if wanted
            .iter()
            .all(|e| seen.get(e).is_some_and(|ids| !ids.is_empty()))
        {
            return since.elapsed();
        }
        assert!(since.elapsed() < Duration::from_secs(60), "pushes missing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_at_the_device_cap_is_notified_on_every_device_and_others_are_not_held_back() {
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let (crowd, other) = (stack.token("crowd").unwrap(), stack.token("other").unwrap());
    for n in 0..REGISTERED {
        register_device(&stack, &crowd, "fcm", &format!("crowd:APA91b-token-{n:05}")).await;
    }
    register_device(&stack, &other, "apns", &"c3".repeat(32)).await;
    let crowd_endpoints = endpoints(&stack, "crowd").await;
    assert_eq!(crowd_endpoints.len(), devices::MAX_DEVICES_PER_USER);
    // The replaced devices' endpoints are gone from SNS: only the cap's and the other's remain.
    // (moto's record lists every endpoint ever made; SNS itself answers for the live ones.)
    let made = pushes(&stack).await;
    assert_eq!(made.len(), REGISTERED + 1);
    let sns = aws_sdk_sns::Client::new(&stack.sdk);
    let mut alive = BTreeSet::new();
    for arn in made.keys() {
        let attrs = sns.get_endpoint_attributes().endpoint_arn(arn).send().await;
        if attrs.is_ok() {
            alive.insert(arn.clone());
        }
    }
    assert_eq!(alive.len(), devices::MAX_DEVICES_PER_USER + 1, "{alive:?}");
    assert!(crowd_endpoints.is_subset(&alive));

    let (a, b) = (
        api.create(&crowd, "crowd-1", &t2v("a lighthouse at dawn"))
            .await,
        api.create(&other, "other-1", &t2v("a kite over dunes"))
            .await,
    );
    let (a, b) = (a.2["id"].as_str().unwrap(), b.2["id"].as_str().unwrap());
    api.wait_terminal(&crowd, a).await;
    api.wait_terminal(&other, b).await;
    let ended = Instant::now();
    let crowd_took = pushed(&stack, &crowd_endpoints, ended).await;
    let other_took = pushed(&stack, &endpoints(&stack, "other").await, ended).await;
    println!(
        "devices: {REGISTERED} registered, {} kept; all pushed {crowd_took:?} after both tasks \
         ended, the other user's one {other_took:?} (moto's latency included)",
        crowd_endpoints.len()
    );
}
