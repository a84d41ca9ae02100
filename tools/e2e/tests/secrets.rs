//! Secrets are read from Secrets Manager (moto here) once at cold start, when ids are given.

mod common;

use std::collections::HashMap;

use common::{bin_dir, workspace_root};
use devstack::stack::{Stack, StackOptions};
use shared::runtime::config::Source;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_ids_become_values() {
    let stack = Stack::start(StackOptions::for_tests(&workspace_root(), &bin_dir()))
        .await
        .unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    sm.create_secret()
        .name("kling-lambda/kling")
        .secret_string(r#"{"access_key": "AK-from-secrets", "secret_key": "SK-from-secrets"}"#)
        .send()
        .await
        .unwrap();
    let webhook = sm
        .create_secret()
        .name("webhook")
        .secret_string("webhook-key-from-secrets-manager")
        .send()
        .await
        .unwrap();

    let signing = sm
        .create_secret()
        .name("kling-lambda/webhook-signing")
        .secret_string(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        )
        .send()
        .await
        .unwrap();

    let env: HashMap<String, String> = HashMap::from([
        ("KLING_SECRET_ID".into(), "kling-lambda/kling".into()),
        ("WEBHOOK_SECRET_ID".into(), webhook.arn.unwrap()),
        ("WEBHOOK_SIGNING_SECRET_ID".into(), signing.arn.unwrap()),
        ("TABLE_NAME".into(), "t".into()),
    ]);
    let merged = shared::aws::with_secrets(&stack.sdk, env).await.unwrap();
    assert_eq!(
        merged.get("KLING_ACCESS_KEY").as_deref(),
        Some("AK-from-secrets")
    );
    assert_eq!(
        merged.get("KLING_SECRET_KEY").as_deref(),
        Some("SK-from-secrets")
    );
    assert_eq!(
        merged.get("WEBHOOK_SECRET").as_deref(),
        Some("webhook-key-from-secrets-manager")
    );
    // Kling's callback signing secrets come from Secrets Manager too, and make two verifiers.
    let signers = webhook_receiver::signers_from_source(&merged).unwrap();
    assert_eq!(signers.len(), 2, "both secrets of a rotation");
    assert_eq!(
        merged.get("TABLE_NAME").as_deref(),
        Some("t"),
        "the rest of the environment stays"
    );

    let missing: HashMap<String, String> =
        HashMap::from([("KLING_SECRET_ID".into(), "no-such-secret".into())]);
    assert!(
        shared::aws::with_secrets(&stack.sdk, missing)
            .await
            .is_err()
    );
    let malformed = sm
        .create_secret()
        .name("bad")
        .secret_string("not json")
        .send()
        .await
        .unwrap();
    let bad: HashMap<String, String> =
        HashMap::from([("KLING_SECRET_ID".into(), malformed.arn.unwrap())]);
    assert!(shared::aws::with_secrets(&stack.sdk, bad).await.is_err());

    // fal's secret is read only when fal is in use; a deployment on Kling alone may name one
    // that does not exist.
    sm.create_secret()
        .name("kling-lambda/fal")
        .secret_string(r#"{"key": "fal-key-from-secrets"}"#)
        .send()
        .await
        .unwrap();
    let both: HashMap<String, String> = HashMap::from([
        ("PROVIDER".into(), "kling,fal".into()),
        ("KLING_SECRET_ID".into(), "kling-lambda/kling".into()),
        ("FAL_SECRET_ID".into(), "kling-lambda/fal".into()),
    ]);
    let merged = shared::aws::with_secrets(&stack.sdk, both).await.unwrap();
    assert_eq!(
        merged.get("FAL_KEY").as_deref(),
        Some("fal-key-from-secrets")
    );
    assert_eq!(
        merged.get("KLING_ACCESS_KEY").as_deref(),
        Some("AK-from-secrets")
    );
    let kling_only: HashMap<String, String> = HashMap::from([
        ("KLING_SECRET_ID".into(), "kling-lambda/kling".into()),
        ("FAL_SECRET_ID".into(), "no-such-fal-secret".into()),
    ]);
    let merged = shared::aws::with_secrets(&stack.sdk, kling_only)
        .await
        .unwrap();
    assert_eq!(merged.get("FAL_KEY"), None);
}
