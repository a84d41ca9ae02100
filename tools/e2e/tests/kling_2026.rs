//! Kling as it is in late 2026, end to end on each of its API surfaces: what a model cannot do
//! is refused by name before any charge; sound, shots, long durations and elements on kling-v3
//! reach provider-sim in the surface's own fields; the stored task keeps Kling's bill and request
//! ids for an operator.

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{Api, assert_envelope, start, store};
use devstack::stack::Stack;
use serde_json::{Value, json};
use shared::ports::Accounts;

fn shots(n: usize, each: u32) -> Value {
    json!(
        (0..n)
            .map(|i| json!({"prompt": format!("shot {i} of a lighthouse"), "duration": each}))
            .collect::<Vec<_>>()
    )
}

fn on(model: &str, extra: Value) -> Value {
    let mut body = json!({"type": "text_to_video", "prompt": "a lighthouse at dusk", "quality": "pro", "model": model});
    for (k, v) in extra.as_object().into_iter().flatten() {
        body[k] = v.clone();
    }
    body
}

/// provider-sim's record of the create it got for our task.
async fn sent(stack: &Stack, task_id: &str) -> Value {
    let url = format!("{}/_sim/tasks", stack.sim.base_url());
    let records: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let found = records["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["external_task_id"] == task_id);
    found
        .cloned()
        .unwrap_or_else(|| panic!("provider-sim never got {task_id}: {records}"))
}

async fn raw_item(
    stack: &Stack,
    task_id: &str,
) -> std::collections::HashMap<String, AttributeValue> {
    let got = aws_sdk_dynamodb::Client::new(&stack.sdk)
        .get_item()
        .table_name(stack.resource("TasksTable").unwrap())
        .key("pk", AttributeValue::S(format!("TASK#{task_id}")))
        .key("sk", AttributeValue::S("TASK".into()))
        .send()
        .await
        .unwrap();
    got.item.unwrap()
}

/// The shipped plans, the pro plan naming the element the tests use (an operator's character).
fn plans_with_element() -> String {
    let mut plans: Value = serde_json::from_str(shared::domain::plans::DEFAULT_PLANS_JSON).unwrap();
    plans["plans"]["pro"]["element_ids"] = json!(["el-7"]);
    plans.to_string()
}

async fn refusals_and_features_on(style: &str) {
    let stack = start(|o| {
        o.extra_env.push(("KLING_API_STYLE".into(), style.into()));
        o.extra_env
            .push(("PLANS_JSON".into(), plans_with_element()));
    })
    .await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("director", "pro").unwrap();
    let refused = [
        (
            on("kling-v2-5-turbo", json!({"audio": true})),
            "audio_not_supported",
        ),
        (
            on("kling-v3", json!({"shots": shots(7, 1), "duration": 7})),
            "too_many_shots",
        ),
        (
            on("kling-v3", json!({"shots": shots(2, 4), "duration": 10})),
            "shots_duration_mismatch",
        ),
        (
            on("kling-v2-6", json!({"duration": 12})),
            "duration_not_supported",
        ),
    ];
    for (n, (body, code)) in refused.iter().enumerate() {
        let (status, _, err) = api.create(&token, &format!("refused-{n}"), body).await;
        assert_eq!(status, 422, "{style}: {err}");
        assert_envelope(&err, code);
    }
    assert!(
        store(&stack).ledger("director").await.unwrap().is_empty(),
        "nothing charged"
    );
    assert_eq!(stack.sim.state.task_count(), 0, "nothing reached Kling");

    let accepted = [
        on("kling-v3", json!({"audio": true, "seed": 1234})),
        on(
            "kling-v3",
            json!({"shots": shots(6, 2), "duration": 12, "element_ids": ["el-7"]}),
        ),
        on("kling-v3", json!({"duration": 12})),
    ];
    let mut ids = Vec::new();
    for (n, body) in accepted.iter().enumerate() {
        let (status, _, task) = api.create(&token, &format!("accepted-{n}"), body).await;
        assert_eq!(status, 202, "{style}: {task}");
        ids.push(task["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        let done = api.wait_terminal(&token, id).await;
        assert_eq!(done["status"], "SUCCEEDED", "{style}: {done}");
    }
    let view = api.video(&token, &ids[0]).await.1;
    assert_eq!(
        (view["seed"].as_u64(), view["audio"].as_bool()),
        (Some(1234), Some(true))
    );
    assert_wire(
        style,
        &sent(&stack, &ids[0]).await,
        &sent(&stack, &ids[1]).await,
        &sent(&stack, &ids[2]).await,
    );
    for id in &ids {
        assert_bill_kept(&stack, id).await;
    }
    draft_on(&stack, &api, &token, style).await;
}

/// A draft goes to Kling 3.0 Turbo where the standard API is configured (billed per second:
/// 0.8 units a second at 720p), and to 2.5 Turbo on the legacy API.
async fn draft_on(stack: &devstack::stack::Stack, api: &Api, token: &str, style: &str) {
    let body = json!({"type": "text_to_video", "prompt": "a kite over the dunes",
        "quality": "draft", "duration": 7});
    let body = match style {
        "legacy" => json!({"type": "text_to_video", "prompt": "a kite over the dunes",
            "quality": "draft", "duration": 5}),
        _ => body,
    };
    let (status, _, task) = api.create(token, "draft", &body).await;
    assert_eq!(status, 202, "{style}: {task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(api.wait_terminal(token, &id).await["status"], "SUCCEEDED");
    let made = stack
        .sim
        .state
        .find("text2video", &id)
        .expect("Kling's task");
    let (model, billed) = match style {
        "legacy" => ("kling-v2-5-turbo", None),
        _ => ("kling-3.0-turbo", Some("5.6")),
    };
    assert_eq!(made.model, model, "{style}");
    if let Some(units) = billed {
        assert_eq!(made.billed_units(), units, "7 s × 0.8 units a second");
    }
}

fn assert_wire(style: &str, audio: &Value, shots: &Value, long: &Value) {
    let (a, s, l) = (&audio["request"], &shots["request"], &long["request"]);
    match style {
        "legacy" => {
            assert_eq!(
                (a["model_name"].as_str(), a["sound"].as_str()),
                (Some("kling-v3"), Some("on"))
            );
            assert_eq!(
                (s["multi_shot"].as_bool(), s["shot_type"].as_str()),
                (Some(true), Some("customize"))
            );
            assert_eq!(s["multi_prompt"].as_array().map(Vec::len), Some(6));
            assert_eq!(
                (
                    s["duration"].as_str(),
                    s["element_list"][0]["element_id"].as_str()
                ),
                (Some("12"), Some("el-7"))
            );
            assert_eq!(
                (l["duration"].as_str(), l.get("sound")),
                (Some("12"), None),
                "silent unless asked"
            );
        }
        _ => {
            assert_eq!(
                (audio["model"].as_str(), a["settings"]["audio"].as_str()),
                (Some("kling-3.0"), Some("native"))
            );
            assert_eq!(
                (
                    s["settings"]["multi_shot"].as_bool(),
                    s["settings"]["duration"].as_u64()
                ),
                (Some(true), Some(12))
            );
            assert!(
                s["prompt"]
                    .as_str()
                    .unwrap()
                    .starts_with("shot 1, 2, shot 0 of a lighthouse;"),
                "{s}"
            );
            assert_eq!(
                (
                    l["settings"]["duration"].as_u64(),
                    l["settings"]["audio"].as_str()
                ),
                (Some(12), Some("off"))
            );
        }
    }
}

/// The stored item shows what Kling billed and the request ids to quote to its support.
async fn assert_bill_kept(stack: &Stack, id: &str) {
    let item = raw_item(stack, id).await;
    let facts = item["provider_facts"].as_m().unwrap();
    let billed = facts["billed_units"].as_s().unwrap();
    let record = sent(stack, id).await;
    let sim_task = stack.sim.state.get(record["task_id"].as_str().unwrap());
    let sim_task = sim_task.unwrap();
    assert_eq!(billed, &sim_task.billed_units(), "{id}");
    assert!(
        facts["create_request_id"].as_s().is_ok() && facts["last_request_id"].as_s().is_ok(),
        "{facts:?}"
    );
    assert_eq!(item["plan"].as_s().map(String::as_str), Ok("pro"));
    println!(
        "{id}: billed {billed} units, create request {:?}",
        facts["create_request_id"]
    );
    // And the operator's log: the bill with both request ids, and the metric line.
    let log = std::fs::read_to_string(stack.log_dir.join("finalize.log")).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("provider bill recorded") && l.contains(id));
    let line = line.unwrap_or_else(|| panic!("no bill logged for {id}"));
    assert!(
        line.contains(&format!("\"billed_units\":\"{billed}\"")),
        "{line}"
    );
    assert!(
        line.contains("\"create_request_id\":\"") && line.contains("\"last_request_id\":\""),
        "{line}"
    );
    let metric = log
        .lines()
        .find(|l| l.contains("\"ProviderUnits\"") && l.contains("\"Plan\":\"pro\""));
    println!("{}", metric.expect("the ProviderUnits metric line"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kling_2026_on_the_legacy_api() {
    refusals_and_features_on("legacy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kling_2026_on_the_standard_api() {
    refusals_and_features_on("standard").await;
}
