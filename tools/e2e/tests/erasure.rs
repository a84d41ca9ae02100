//! `DELETE /v1/me` through the whole stack (moto over HTTP, the real function binaries, the
//! IAM check): a user with a waiting, a running and a finished task, an upload, an export, a
//! phone and ledger rows is erased — everything under them gone, the waiting task refunded
//! once, the ledger kept under an anonymous id — with the job killed mid-way once.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::notifications::{endpoint_of, register_device};
use common::{Api, start, t2v};
use devstack::stack::Stack;
use serde_json::{Value, json};

const USER: &str = "leaver";

async fn items_with_pk_prefix(stack: &Stack, prefix: &str) -> Vec<Value> {
    let ddb = aws_sdk_dynamodb::Client::new(&stack.sdk);
    let scan = ddb.scan().table_name(stack.resource("TasksTable").unwrap());
    // An empty prefix: the whole table (an empty string is no valid attribute value).
    let scan = match prefix {
        "" => scan,
        _ => scan
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", AttributeValue::S(prefix.into())),
    };
    let out = scan.send().await.unwrap();
    // Strings and numbers, as text: all the checks below read.
    out.items()
        .iter()
        .map(|item| {
            let fields = item.iter().filter_map(|(k, v)| {
                let text = v.as_s().or_else(|_| v.as_n()).ok()?;
                Some((k.clone(), Value::String(text.clone())))
            });
            Value::Object(fields.collect())
        })
        .collect()
}

async fn upload(api: &Api, token: &str) {
    let (status, _, grant) = api
        .post(
            "/v1/uploads",
            Some(token),
            None,
            &json!({"content_type": "image/png", "bytes": 4}),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    let url = grant["url"].as_str().unwrap();
    let put = api
        .http
        .put(url)
        .header("content-type", "image/png")
        .body(vec![1u8, 2, 3, 4]);
    assert!(put.send().await.unwrap().status().is_success());
}

async fn status_of(api: &Api, token: &str, id: &str) -> String {
    api.video(token, id).await.1["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A finished task, then one the provider runs and one waiting behind it (capacity 1).
async fn tasks(api: &Api, token: &str) -> [String; 3] {
    let mut ids = Vec::new();
    for (n, prompt) in ["a glass of water", "a slow sunrise", "rain on a window"]
        .iter()
        .enumerate()
    {
        let (status, _, task) = api.create(token, &format!("leave-{n}"), &t2v(prompt)).await;
        assert_eq!(status, 202, "{task}");
        ids.push(task["id"].as_str().unwrap().to_string());
        if n == 0 {
            api.wait_terminal(token, &ids[0]).await;
            api.wait_poster(token, &ids[0]).await;
        }
    }
    let started = Instant::now();
    while status_of(api, token, &ids[1]).await == "CREATED" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never dispatched"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status_of(api, token, &ids[2]).await,
        "CREATED",
        "waiting behind it"
    );
    [ids[0].clone(), ids[1].clone(), ids[2].clone()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_account_erases_everything_refunds_once_and_keeps_an_anonymous_ledger() {
    let stack = start(|o| {
        // Slow generation and one slot: a task stays running while another waits.
        o.sim_speed = 4.0;
        o.extra_env
            .push(("PROVIDER_MAX_CONCURRENCY".into(), "1".into()));
        o.extra_env
            .push(("ERASURE_RECHECK_SECONDS".into(), "1".into()));
    })
    .await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan(USER, "pro").unwrap();
    let [done, running, waiting] = tasks(&api, &token).await;
    upload(&api, &token).await;
    let device = register_device(&stack, &token, "fcm", "leaver:APA91b-phone-token-0001").await;
    let endpoint = endpoint_of(&stack, USER, &device).await.unwrap();
    // A phone the user signed out of before: its records go at once, its ownership with them.
    let old = register_device(&stack, &token, "fcm", "leaver:APA91b-old-phone-0002").await;
    let (status, _, _) = api
        .send(
            api.http
                .delete(format!("{}/v1/devices/{old}", api.base))
                .bearer_auth(&token),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = api
        .post("/v1/me/export", Some(&token), None, &json!({}))
        .await;
    assert_eq!(status, 200);
    // The finished video and its poster; the upload; the export.
    for (prefix, n) in [
        ("videos/leaver/", 2),
        ("uploads/leaver/", 1),
        ("exports/leaver/", 1),
    ] {
        assert_eq!(
            common::objects_under(&stack, prefix).await.len(),
            n,
            "{prefix} before"
        );
    }

    let del = || {
        api.http
            .delete(format!("{}/v1/me", api.base))
            .bearer_auth(&token)
    };
    let (status, _, first) = api.send(del()).await;
    assert_eq!(
        (status, first["erasure"]["status"].as_str()),
        (202, Some("erasing")),
        "{first}"
    );
    // The job dies once, wherever it is; the queue gives it back and it resumes.
    tokio::time::sleep(Duration::from_millis(150)).await;
    stack.crash("account");
    let started = Instant::now();
    let erasure = loop {
        let me = api.get("/v1/me", &token, None).await.2;
        if me["erasure"]["status"] == "erased" {
            break me["erasure"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not erased: {me}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "erased {:?} after the request (a running video waited for)",
        started.elapsed()
    );
    assert_eq!(erasure["requested_at"], first["erasure"]["requested_at"]);

    for prefix in ["videos/leaver/", "uploads/leaver/", "exports/leaver/"] {
        assert_eq!(
            common::objects_under(&stack, prefix).await.len(),
            0,
            "{prefix} after"
        );
    }
    let left: Vec<String> = items_with_pk_prefix(&stack, "USER#leaver")
        .await
        .iter()
        .map(|i| i["sk"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(left, ["ERASURE"], "only the erasure's record stays");
    for id in [&done, &running, &waiting] {
        assert!(
            items_with_pk_prefix(&stack, &format!("TASK#{id}"))
                .await
                .is_empty(),
            "{id}"
        );
    }
    for id in [&device, &old] {
        assert!(
            items_with_pk_prefix(&stack, &format!("DEVICE#{id}"))
                .await
                .is_empty(),
            "{id}"
        );
    }
    // Nothing anywhere in the table names the user but the erasure's own record.
    let naming: Vec<Value> = items_with_pk_prefix(&stack, "")
        .await
        .into_iter()
        .filter(|i| i.to_string().contains(USER) && i["sk"] != "ERASURE")
        .collect();
    assert!(naming.is_empty(), "{naming:#?}");
    let sns = aws_sdk_sns::Client::new(&stack.sdk);
    let gone = sns
        .get_endpoint_attributes()
        .endpoint_arn(&endpoint)
        .send()
        .await;
    assert!(gone.is_err(), "the push endpoint is deleted");

    let ledger = items_with_pk_prefix(&stack, "ERASED#").await;
    let kinds = |id: &str, kind: &str| {
        ledger
            .iter()
            .filter(|r| r["task_id"] == id && r["kind"] == kind)
            .count()
    };
    assert_eq!(
        kinds(&waiting, "refund"),
        1,
        "the waiting task refunded once: {ledger:#?}"
    );
    for id in [&done, &running, &waiting] {
        assert_eq!(kinds(id, "debit"), 1, "{id}");
    }
    let ledger_pks: BTreeSet<&str> = ledger.iter().map(|r| r["pk"].as_str().unwrap()).collect();
    assert_eq!(ledger_pks.len(), 1, "one anonymous id");
    assert!(
        !ledger.iter().any(|r| r.to_string().contains(USER)),
        "nothing names the user"
    );

    // The same token sees an empty account; asking again answers the same erasure.
    let (_, _, list) = api.get("/v1/videos", &token, None).await;
    assert_eq!(list["items"], json!([]));
    let (status, _, again) = api.send(del()).await;
    assert_eq!((status, &again["erasure"]), (200, &erasure));
}
