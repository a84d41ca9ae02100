//! The task lifecycle where a provider's answer is late, lost or busy, against moto and
//! provider-sim over HTTP with the real function binaries: a task whose submit may have reached
//! the provider is resolved only by the provider's own answer.

mod common;

use std::time::Duration;

use common::{Api, fast_retries, store, t2v, wait_terminal_in_table};
use devstack::stack::Stack;
use provider_sim::{CallKind, Faults, NextError};
use serde_json::json;
use shared::domain::task::TaskStatus;
use shared::ports::{Accounts, Capacity, LedgerKind};

async fn create(stack: &Stack, token: &str, key: &str, prompt: &str) -> String {
    let (status, _, task) = Api::new(stack).create(token, key, &t2v(prompt)).await;
    assert_eq!(status, 202, "{task}");
    task["id"].as_str().unwrap().to_string()
}

/// One debit, no refund, nothing left in flight.
async fn charged_once_and_done(stack: &Stack, user: &str, id: &str) {
    let ledger = store(stack).ledger(user).await.unwrap();
    let count = |kind| {
        ledger
            .iter()
            .filter(|e| e.task_id.as_str() == id && e.kind == kind)
            .count()
    };
    assert_eq!(
        (count(LedgerKind::Debit), count(LedgerKind::Refund)),
        (1, 0)
    );
    let day = shared::domain::timestamp::utc_day(shared::domain::timestamp::now());
    let account = store(stack).account(user, &day).await.unwrap();
    assert_eq!(account.in_flight, 0, "the slot is free again");
}

/// A callback with the task's valid URL token that arrives while the task is still waiting for
/// its submit (Kling is busy; we hold no reference yet) moves nothing: the provider is asked
/// first, says it holds no such task, and the task is submitted as usual — one Kling task,
/// SUCCEEDED, no refund. (Moved to RUNNING by the callback, it would never be submitted.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_early_callback_never_strands_a_task() {
    let stack = common::start(|opts| {
        opts.sim_speed = 20.0;
        opts.extra_env = fast_retries();
    })
    .await;
    stack.sim.state.set_faults(Faults {
        next_errors: vec![NextError {
            code: 1303,
            times: 8,
            on: CallKind::Create,
        }],
        ..Default::default()
    });
    let token = stack.token("early").unwrap();
    let id = create(&stack, &token, "early-1", "a heron at dawn").await;
    let url = shared::edge::webhook_token::callback_url(
        &stack.api_url,
        devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes(),
        "kling",
        &id,
    );
    let early = json!({"task_id": "kling-early-1", "task_status": "processing",
        "task_info": {"external_task_id": id}});
    let resp = shared::runtime::net::client()
        .expect("HTTP client")
        .post(url)
        .json(&early)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let task = wait_terminal_in_table(&stack, &id, Duration::from_secs(60)).await;
    assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
    assert_eq!(stack.sim.state.count_for_external(&id), 1, "one Kling task");
    assert_ne!(
        task.provider_ref.map(|r| r.0).as_deref(),
        Some("kling-early-1"),
        "the reference is Kling's own, not the callback's"
    );
    charged_once_and_done(&stack, "early", &id).await;
}

/// A create whose answer is lost (it hangs past the client's timeout) followed by busy
/// lookups (1302) is an unknown outcome, not "busy": the slot is not given back and nothing is
/// posted again until a lookup settles it, so Kling's refusal of a duplicate external id can
/// never fail (and refund) the task Kling is generating and billing. Callbacks are dropped:
/// polling finds the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn busy_lookups_after_a_lost_create_neither_fail_nor_refund() {
    let stack = common::start(|opts| {
        opts.sim_speed = 20.0;
        opts.extra_env = fast_retries();
        opts.extra_env
            .push(("KLING_REQUEST_TIMEOUT_MS".into(), "1000".into()));
        opts.extra_env
            .push(("POLL_STALE_SECONDS".into(), "1".into()));
    })
    .await;
    stack.sim.state.set_faults(Faults {
        hang_next_creates: 1,
        hang_ms: 2_500,
        next_errors: vec![NextError {
            // More than the create's own retries (lookups inside lookups) can absorb.
            code: 1302,
            times: 40,
            on: CallKind::Query,
        }],
        ..Default::default()
    });
    let token = stack.token("unknown").unwrap();
    let id = create(
        &stack,
        &token,
        "unknown-1",
        "a lighthouse [sim:drop-callbacks]",
    )
    .await;
    let task = Api::new(&stack).wait_terminal(&token, &id).await;
    assert_eq!(task["status"], "SUCCEEDED", "{task}");
    assert_eq!(stack.sim.state.count_for_external(&id), 1, "one Kling task");
    charged_once_and_done(&stack, "unknown", &id).await;
}

/// fal queued the request but its answer was lost (a 502 after queuing): we never learned the
/// request id, and fal has no lookup by ours. fal's signed webhook vouches for the request it
/// names, so the task takes that reference and finalize asks fal about it: SUCCEEDED, one fal
/// request, no refund, and the user's in-flight count and fal's capacity slot back to 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_fal_submit_answer_is_settled_by_fals_signed_webhook() {
    let stack = common::start(|opts| {
        opts.extra_env.push(("PROVIDER".into(), "fal".into()));
    })
    .await;
    stack.fal.state.set_faults(provider_sim::fal::FalFaults {
        lose_next_submit_answers: 1,
        ..Default::default()
    });
    let token = stack.token("falost").unwrap();
    let id = create(&stack, &token, "falost-1", "a fox at the edge of a wood").await;
    let task = wait_terminal_in_table(&stack, &id, Duration::from_secs(60)).await;
    assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
    let at_fal = stack.fal.state.all();
    assert_eq!(at_fal.len(), 1, "one request at fal");
    assert_eq!(
        task.provider_ref.map(|r| r.0),
        Some(at_fal[0].id.clone()),
        "the webhook's request id, vouched for by fal's signature"
    );
    charged_once_and_done(&stack, "falost", &id).await;
    let holders = store(&stack).slot_holders("fal").await.unwrap();
    assert!(holders.is_empty(), "fal's slot is free: {holders:?}");
}

/// fal answered a submit with a 500 and queued nothing: we cannot know that from the answer,
/// and fal has no lookup by our id. Once every request fal could have taken from the submit
/// has ended (request timeout 2 s + start timeout 1 s + run bound 2 s here), its listing of finished requests shows
/// no such request, and dispatch sends it again: SUCCEEDED, one request at fal, one debit and
/// no refund. (Before, only the 3 h hard timeout ended it, failed and refunded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fal_submit_fal_never_got_is_sent_again_once_its_listing_shows_it_absent() {
    let stack = common::start(|opts| {
        opts.extra_env.push(("PROVIDER".into(), "fal".into()));
        opts.extra_env
            .push(("FAL_START_TIMEOUT_SECONDS".into(), "1".into()));
        opts.extra_env
            .push(("FAL_RUN_BOUND_SECONDS".into(), "2".into()));
    })
    .await;
    stack.fal.state.set_faults(provider_sim::fal::FalFaults {
        fail_next_submits: 1,
        ..Default::default()
    });
    let token = stack.token("falnever").unwrap();
    let id = create(&stack, &token, "falnever-1", "a heron in the reeds").await;
    let task = wait_terminal_in_table(&stack, &id, Duration::from_secs(60)).await;
    assert_eq!(task.status, TaskStatus::Succeeded, "{task:?}");
    assert_eq!(stack.fal.state.counters().submit, 2, "sent twice");
    let at_fal = stack.fal.state.all();
    assert_eq!(at_fal.len(), 1, "one request at fal");
    assert_eq!(task.provider_ref.map(|r| r.0), Some(at_fal[0].id.clone()));
    charged_once_and_done(&stack, "falnever", &id).await;
    let holders = store(&stack).slot_holders("fal").await.unwrap();
    assert!(holders.is_empty(), "fal's slot is free: {holders:?}");
}
