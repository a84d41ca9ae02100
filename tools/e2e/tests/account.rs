//! The account's own data through the whole stack: an export holds every task and ledger row.

mod common;

use std::collections::BTreeSet;

use common::notifications::register_device;
use common::{Api, start, t2v};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_holds_every_task_and_ledger_row_behind_a_working_link() {
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token("exporter").unwrap();
    let mut made = BTreeSet::new();
    for n in 0..3 {
        let (status, _, task) = api
            .create(
                &token,
                &format!("export-{n}"),
                &t2v(&format!("a paper boat, take {n}")),
            )
            .await;
        assert_eq!(status, 202, "{task}");
        let id = task["id"].as_str().unwrap().to_string();
        // The default plan has one video in progress at a time.
        api.wait_terminal(&token, &id).await;
        made.insert(id);
    }
    register_device(&stack, &token, "fcm", "export:APA91b-device-token-0001").await;

    let (status, _, reply) = api
        .post("/v1/me/export", Some(&token), None, &json!({}))
        .await;
    assert_eq!(status, 200, "{reply}");
    let doc: Value = shared::runtime::net::client()
        .unwrap()
        .get(reply["url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: BTreeSet<String> = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, made);
    use shared::ports::Accounts;
    let ledger = common::store(&stack).ledger("exporter").await.unwrap();
    assert_eq!(ledger.len(), 3, "one debit per task");
    assert_eq!(doc["ledger"], serde_json::to_value(&ledger).unwrap());
    assert_eq!(doc["devices"].as_array().unwrap().len(), 1);
    assert_eq!(
        reply["counts"],
        json!({"tasks": 3, "ledger": 3, "devices": 1})
    );
}
