//! Lost DynamoDB replies, against moto over HTTP through a proxy that applies a write and then
//! answers 500: the SDK resends the same request, and each conditional write must recognise
//! its own earlier success instead of reading it as someone else's.

mod common;

use common::store;
use devstack::lossy::LossyProxy;
use devstack::stack::{Stack, local_sdk_config};
use shared::aws::DynamoTaskStore;
use shared::domain::task::CostUnits;
use shared::domain::timestamp;
use shared::ports::{
    Accounts, Charge, CreateOutcome, IdempotencyRecord, LedgerKind, WebhookClaim, WebhookDedup,
};
use shared::testing::task_fixture;

async fn lossy_store(stack: &Stack) -> (LossyProxy, DynamoTaskStore) {
    let proxy = LossyProxy::start(&stack.moto_endpoint).await.unwrap();
    let sdk = local_sdk_config(&proxy.endpoint).await;
    let table = stack.resource("TasksTable").unwrap();
    (proxy, DynamoTaskStore::from_sdk(&sdk, table))
}

/// The first delivery of a callback whose dedup claim was written but whose reply was lost
/// still does its work: the resent claim is ours, not a duplicate. A second delivery is one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_claim_whose_reply_was_lost_is_still_won() {
    let stack = common::start(|o| o.instances = 1).await;
    let (proxy, lossy) = lossy_store(&stack).await;
    let claim = WebhookClaim {
        provider: "kling".into(),
        task_id: "t-lost-reply".into(),
        reference: shared::provider::ProviderRef("job-lost-reply".into()),
        status: "succeed",
    };
    proxy.lose_next("PutItem", 1);
    assert!(lossy.claim_webhook(&claim).await.unwrap(), "our own claim");
    assert_eq!(proxy.pending("PutItem"), 0, "a reply was really lost");
    assert!(
        !store(&stack).claim_webhook(&claim).await.unwrap(),
        "a real duplicate"
    );
}

/// A create whose transaction committed but whose reply was lost: the resent transaction is
/// recognised (the key's record names this very task), and the user is charged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_reply_was_lost_charges_once_and_names_its_task() {
    let stack = common::start(|o| o.instances = 1).await;
    let (proxy, lossy) = lossy_store(&stack).await;
    let now = timestamp::now();
    let task = task_fixture("01LOSTREPLY", "lossy-user", "kling");
    let record = IdempotencyRecord {
        user_id: task.user_id.clone(),
        key: "lost-1".into(),
        request_hash: "h".into(),
        task_id: task.id.clone(),
        created_at: now.unix_timestamp().to_string(),
    };
    let charge = Charge {
        max_concurrent: 1,
        daily_budget: CostUnits(100_000),
        day: timestamp::utc_day(now),
        now_secs: timestamp::unix_seconds(now),
    };
    proxy.lose_next("TransactWriteItems", 1);
    let outcome = lossy.create_task(&task, &record, &charge).await.unwrap();
    assert_eq!(
        proxy.pending("TransactWriteItems"),
        0,
        "a reply was really lost"
    );
    match outcome {
        CreateOutcome::Created => {}
        CreateOutcome::KeyExists(existing) => assert_eq!(existing.task_id, task.id),
        CreateOutcome::Refused(why) => panic!("our own write read as a refusal: {why:?}"),
    }
    let view = store(&stack)
        .account("lossy-user", &charge.day)
        .await
        .unwrap();
    assert_eq!((view.in_flight, view.used_today), (1, CostUnits(500)));
    let debits = store(&stack).ledger("lossy-user").await.unwrap();
    let debits = debits.iter().filter(|e| e.kind == LedgerKind::Debit);
    assert_eq!(debits.count(), 1);
}
