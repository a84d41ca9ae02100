//! The local IAM check: every AWS call a function makes is held against that function's role in
//! the template, so a permission the template forgot fails here, not first in AWS.

mod common;

use common::notifications::{endpoint_of, register_device};
use common::start;
use devstack::stack::Stack;

const TOKEN: &str = "iam-takeover:APA91b-shared-phone-token-0001";

/// User A registers a phone; user B signs in on it and registers the same push token.
async fn take_over(stack: &Stack) -> (u16, Option<String>) {
    let (a, b) = (
        stack.token("phone-a").unwrap(),
        stack.token("phone-b").unwrap(),
    );
    let first = register_device(stack, &a, "fcm", TOKEN).await;
    let endpoint = endpoint_of(stack, "phone-a", &first).await;
    let resp = shared::runtime::net::client()
        .unwrap()
        .post(format!("{}/v1/devices", stack.api_url))
        .bearer_auth(&b)
        .json(&serde_json::json!({"platform": "fcm", "token": TOKEN}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), endpoint)
}

async fn user_data(stack: &Stack, endpoint: &str) -> Option<String> {
    let attrs = aws_sdk_sns::Client::new(&stack.sdk)
        .get_endpoint_attributes()
        .endpoint_arn(endpoint)
        .send()
        .await
        .unwrap();
    attrs.attributes?.get("CustomUserData").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_taken_over_by_a_second_user_pushes_to_them() {
    let stack = start(|_| {}).await;
    let (status, endpoint) = take_over(&stack).await;
    assert_eq!(status, 201);
    let endpoint = endpoint.expect("A's device has an endpoint");
    assert_eq!(
        user_data(&stack, &endpoint).await.as_deref(),
        Some("phone-b")
    );
    let iam = stack.iam.as_ref().expect("the IAM check is on in tests");
    assert!(iam.denials().is_empty(), "{:?}", iam.denials());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_set_endpoint_attributes_fails_the_takeover_naming_the_action() {
    let template =
        std::fs::read_to_string(common::workspace_root().join("infra/template.yaml")).unwrap();
    let line = "                  - sns:SetEndpointAttributes\n";
    assert!(template.contains(line), "the devices role grants it today");
    let without = template.replacen(line, "", 1);
    let stack = start(|o| o.template_text = Some(without)).await;
    let (status, endpoint) = take_over(&stack).await;
    // As in AWS: the call is denied and the registration fails; the endpoint is not B's.
    assert_eq!(status, 500);
    let endpoint = endpoint.unwrap();
    assert_ne!(
        user_data(&stack, &endpoint).await.as_deref(),
        Some("phone-b")
    );
    let iam = stack.iam.as_ref().unwrap();
    let denials = iam.take_denials();
    assert_eq!(denials.len(), 1, "{denials:?}");
    let text = denials[0].to_string();
    assert!(
        text.starts_with("devices may not sns:SetEndpointAttributes on arn:aws:sns:us-east-1:123456789012:endpoint/GCM/local-fcm/"),
        "{text}"
    );
}
