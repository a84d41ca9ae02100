//! What the notification sinks received, read back from moto: EventBridge events through a
//! rule into a queue, and SNS pushes from moto's record of each platform endpoint.

use std::collections::{BTreeMap, BTreeSet};

use devstack::stack::Stack;
use serde_json::{Value, json};

/// Register a device for the token's user through the API; its id.
pub async fn register_device(stack: &Stack, token: &str, platform: &str, device: &str) -> String {
    let resp = shared::runtime::net::client()
        .unwrap()
        .post(format!("{}/v1/devices", stack.api_url))
        .bearer_auth(token)
        .json(&json!({"platform": platform, "token": device}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let body: Value = resp.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// A queue that receives every event the stack puts on its bus (a rule, as an app's backend
/// would set one up).
pub async fn event_sink(stack: &Stack) -> String {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let queue = sqs
        .create_queue()
        .queue_name("video-events-sink")
        .send()
        .await
        .unwrap();
    let url = queue.queue_url.unwrap();
    let arn = "arn:aws:sqs:us-east-1:123456789012:video-events-sink";
    let events = aws_sdk_eventbridge::Client::new(&stack.sdk);
    let bus = stack.resource("VideoEventBus").unwrap();
    events
        .put_rule()
        .name("all-video-events")
        .event_bus_name(bus)
        .event_pattern(json!({"source": ["kling-lambda"]}).to_string())
        .send()
        .await
        .unwrap();
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("sink")
        .arn(arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule("all-video-events")
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .unwrap();
    url
}

/// Every event the sink queue holds (read and deleted).
pub async fn drain_events(stack: &Stack, queue_url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut events = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return events;
        }
        for m in messages {
            events.push(serde_json::from_str(m.body().unwrap()).unwrap());
            let handle = m.receipt_handle().unwrap();
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
    }
}

/// The final pushes moto's SNS accepted, per endpoint ARN: each message's event id (Android
/// progress messages, data only, are left out).
pub async fn pushes(stack: &Stack) -> BTreeMap<String, Vec<String>> {
    let data: Value = shared::runtime::net::client()
        .unwrap()
        .get(format!(
            "{}/moto-api/data.json?service=sns",
            stack.moto_endpoint
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for endpoint in data["sns"]["PlatformEndpoint"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let arn = endpoint["arn"].as_str().unwrap().to_string();
        let ids: Vec<String> = endpoint["messages"]
            .as_object()
            .map(|m| {
                m.values()
                    .filter_map(|v| v.as_str().and_then(push_event_id))
                    .collect()
            })
            .unwrap_or_default();
        out.insert(arn, ids);
    }
    out
}

/// The event id a final push carries, in whichever platform's shape it was sent; `None` for
/// an Android progress message.
fn push_event_id(message: &str) -> Option<String> {
    let outer: Value = serde_json::from_str(message).unwrap();
    if let Some(inner) = outer["GCM"].as_str()
        && inner.contains("\"fcmV1Message\"")
    {
        return None;
    }
    for (key, at) in [
        ("APNS", "/video"),
        ("APNS_SANDBOX", "/video"),
        ("GCM", "/data"),
    ] {
        if let Some(inner) = outer[key].as_str() {
            let inner: Value = serde_json::from_str(inner).unwrap();
            let id = inner.pointer(at).unwrap()["event_id"].as_str().unwrap();
            return Some(id.to_string());
        }
    }
    panic!("a push with no platform payload: {message}")
}

/// Distinct event ids (repeats, which consumers drop by id, removed).
pub fn distinct(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

/// The SNS endpoint behind a device (what devices stored).
pub async fn endpoint_of(stack: &Stack, user: &str, device: &str) -> Option<String> {
    use shared::ports::Devices;
    let store = super::store(stack);
    let devices = store.devices_of(user).await.unwrap();
    devices
        .into_iter()
        .find(|d| d.id == device)
        .map(|d| d.endpoint)
}

/// Turn an endpoint off as APNs/FCM feedback would (the app was uninstalled).
pub async fn disable_endpoint(stack: &Stack, arn: &str) {
    aws_sdk_sns::Client::new(&stack.sdk)
        .set_endpoint_attributes()
        .endpoint_arn(arn)
        .attributes("Enabled", "false")
        .send()
        .await
        .unwrap();
}
