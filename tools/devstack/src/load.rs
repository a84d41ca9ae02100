//! `make load`: a steady rate of creates through the local stack's API for a while, over two
//! Kling accounts and fal, then every accepted task waited for. Prints what the run cost us per
//! video: each function's CPU, the AWS requests by operation (counted at the IAM check in front
//! of moto), the creates' latency and how long tasks waited for a provider slot. moto bounds
//! the absolute rate here (its writes slow as the table grows): the per-video figures are the
//! point, and the achieved rate is printed beside the asked one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::json;
use shared::domain::task::{Task, TaskId, TaskStatus};
use shared::ports::LineStates;

use crate::DevError;
use crate::stack::Stack;

/// What to drive: `rate` creates a second for `seconds`, from `users` users in turn.
pub struct LoadPlan {
    pub rate: u32,
    pub seconds: u32,
    pub users: usize,
    /// How long the tasks may take to finish once the creates stop.
    pub drain: Duration,
}

/// The plan every load user is on: room for its share of tasks at once, waiting up to 3 min
/// (after half of it a task still waiting for Kling goes to fal, the next provider).
const PLAN: &str = "load";

/// Two Kling accounts (`main` and `b`, `kling` slots each) and fal's `main` (`fal` slots), and
/// the `load` plan: provider-sim's second account and the functions' settings.
pub fn settings(kling: usize, fal: usize) -> (provider_sim::SimAccount, Vec<(String, String)>) {
    let (b, mut env) = crate::env::local_kling_account("b", kling);
    let pool = json!([
        {"provider": "kling", "name": "main", "capacity": kling},
        {"provider": "kling", "name": "b", "capacity": kling},
        {"provider": "fal", "name": "main", "capacity": fal},
    ]);
    let mut plans: serde_json::Value =
        serde_json::from_str(shared::domain::plans::DEFAULT_PLANS_JSON).unwrap_or_default();
    plans["plans"][PLAN] = json!({"priority": 1, "max_queue_seconds": 180,
        "qualities": ["draft", "standard", "pro"], "model_overrides": [],
        "max_duration_seconds": 10, "max_concurrent_tasks": 100, "daily_cost_units": 1000000,
        "suspend_after_violations": 3, "violation_window_seconds": 3600,
        "suspension_seconds": 60});
    env.extend([
        ("PROVIDER".to_string(), "kling,fal".to_string()),
        ("PROVIDER_ACCOUNTS".to_string(), pool.to_string()),
        ("PLANS_JSON".to_string(), plans.to_string()),
    ]);
    (b, env)
}

/// One create as the app saw it: its last answer, from the first try to it.
struct Sent {
    status: u16,
    latency: Duration,
    id: Option<TaskId>,
    attempts: u32,
}

impl Sent {
    fn lost(at: Instant, attempts: u32) -> Self {
        Self {
            status: 0,
            latency: at.elapsed(),
            id: None,
            attempts,
        }
    }
}

/// Everything the run measured.
pub struct LoadReport {
    pub lines: Vec<String>,
    /// Accepted tasks that did not succeed in time (or at all).
    pub unfinished: usize,
}

pub async fn run(stack: &Stack, plan: &LoadPlan) -> Result<LoadReport, DevError> {
    let cpu_before = cpu_by_function(stack);
    let calls_before = stack.iam.as_ref().map(|i| i.counts()).unwrap_or_default();
    let started = Instant::now();
    let (sent, sending) = drive(stack, plan).await?;
    let ids: Vec<TaskId> = sent.iter().filter_map(|s| s.id.clone()).collect();
    let tasks = wait_all(stack, &ids, plan.drain).await?;
    let total = started.elapsed();
    let succeeded = tasks
        .iter()
        .filter(|t| t.status == TaskStatus::Succeeded)
        .count();
    let mut lines = vec![format!(
        "asked {} creates/s for {} s: sent {} in {:.1} s ({:.1}/s), accepted {}, all finished {:.1} s after the first; {succeeded} SUCCEEDED",
        plan.rate,
        plan.seconds,
        sent.len(),
        sending.as_secs_f64(),
        sent.len() as f64 / sending.as_secs_f64(),
        ids.len(),
        total.as_secs_f64()
    )];
    lines.extend(creates(&sent));
    lines.extend(waits(&tasks));
    let per = succeeded.max(1) as f64;
    lines.extend(cpu_lines(&cpu_before, &cpu_by_function(stack), per));
    let calls_after = stack.iam.as_ref().map(|i| i.counts()).unwrap_or_default();
    lines.extend(call_lines(&calls_before, &calls_after, per));
    Ok(LoadReport {
        lines,
        unfinished: ids.len() - succeeded,
    })
}

/// The creates, paced at the plan's rate (a late tick is made up at once), and how long
/// sending them took.
async fn drive(stack: &Stack, plan: &LoadPlan) -> Result<(Vec<Sent>, Duration), DevError> {
    let started = Instant::now();
    let tokens: Vec<String> = (0..plan.users.max(1))
        .map(|u| stack.token_with_plan(&format!("load-user-{u}"), PLAN))
        .collect::<Result<_, _>>()?;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/videos", stack.api_url);
    let run = uuid::Uuid::new_v4();
    let mut tick =
        tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(plan.rate.max(1))));
    let mut pending = Vec::new();
    for i in 0..(plan.rate * plan.seconds) as usize {
        tick.tick().await;
        let request = http
            .post(&url)
            .bearer_auth(&tokens[i % tokens.len()])
            .header("idempotency-key", format!("load-{run}-{i}"))
            .json(&json!({"type": "text_to_video", "duration": 5,
                "prompt": format!("a paper boat on a pond, take {i}")}));
        pending.push(tokio::spawn(create(request)));
    }
    let sending = started.elapsed();
    let mut sent = Vec::new();
    for p in pending {
        sent.push(
            p.await
                .map_err(|e| DevError::Process(format!("a create: {e}")))?,
        );
    }
    Ok((sent, sending))
}

/// How often an app sends one create whose answer was lost or a 5xx, with the same key.
const ATTEMPTS: u32 = 4;

/// One create as an app makes it: sent again with the same idempotency key after a lost
/// answer or a 5xx (the replay answers with the task already made, never a second one).
async fn create(request: reqwest::RequestBuilder) -> Sent {
    let at = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let answer = match request.try_clone() {
            Some(r) => r.send().await,
            None => return Sent::lost(at, attempts),
        };
        let status = answer.as_ref().map_or(0, |a| a.status().as_u16());
        if (status == 0 || status >= 500) && attempts < ATTEMPTS {
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        let body: serde_json::Value = match answer {
            Ok(a) => a.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let id = (status == 202)
            .then(|| body["id"].as_str().map(TaskId::from))
            .flatten();
        return Sent {
            status,
            latency: at.elapsed(),
            id,
            attempts,
        };
    }
}

/// Every task, read from the table until all are terminal or `drain` has passed.
async fn wait_all(stack: &Stack, ids: &[TaskId], drain: Duration) -> Result<Vec<Task>, DevError> {
    let table = stack
        .resource("TasksTable")
        .ok_or_else(|| DevError::Process("no TasksTable".into()))?;
    let store = shared::aws::DynamoTaskStore::from_sdk(&stack.sdk, table.to_string());
    let until = Instant::now() + drain;
    let mut told = Instant::now();
    loop {
        let tasks = store
            .tasks_named(ids)
            .await
            .map_err(|e| DevError::Process(format!("reading the tasks: {e}")))?;
        let done = tasks.iter().filter(|t| t.status.is_terminal()).count();
        if done == ids.len() || Instant::now() > until {
            return Ok(tasks);
        }
        if told.elapsed() > Duration::from_secs(30) {
            println!("{done} of {} tasks finished", ids.len());
            told = Instant::now();
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

fn spread(label: &str, mut values: Vec<f64>, unit: &str) -> String {
    values.sort_by(f64::total_cmp);
    format!(
        "{label}: p50 {:.2} {unit}, p95 {:.2} {unit}, max {:.2} {unit} (n={})",
        percentile(&values, 0.5),
        percentile(&values, 0.95),
        values.last().copied().unwrap_or(0.0),
        values.len()
    )
}

fn creates(sent: &[Sent]) -> Vec<String> {
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for s in sent {
        *by_status.entry(s.status).or_default() += 1;
    }
    let latency = sent.iter().map(|s| s.latency.as_secs_f64() * 1e3).collect();
    let again = sent.iter().filter(|s| s.attempts > 1).count();
    let mut ids: Vec<&TaskId> = sent.iter().filter_map(|s| s.id.as_ref()).collect();
    let accepted = ids.len();
    ids.sort();
    ids.dedup();
    vec![
        format!(
            "create answers by status: {by_status:?} (0: no answer); {again} sent again with their key, {accepted} accepted as {} distinct tasks",
            ids.len()
        ),
        spread(
            "create latency, retries included (moto's writes included)",
            latency,
            "ms",
        ),
    ]
}

/// Queue wait (create to submit) and where the tasks ran.
fn waits(tasks: &[Task]) -> Vec<String> {
    let waited = tasks
        .iter()
        .filter_map(|t| Some((t.submitted_at? - t.created_at).as_seconds_f64()))
        .collect();
    let mut by_account: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for t in tasks {
        *by_account
            .entry(format!("{}/{}", t.provider, t.account()))
            .or_default() += 1;
        *by_status.entry(format!("{:?}", t.status)).or_default() += 1;
    }
    vec![
        spread("queue wait (create to submit)", waited, "s"),
        format!("tasks by account: {by_account:?}"),
        format!("tasks by status: {by_status:?}"),
    ]
}

fn cpu_by_function(stack: &Stack) -> BTreeMap<String, Duration> {
    stack
        .functions
        .iter()
        .map(|f| {
            let cpu = stack.pids(f).into_iter().map(crate::bench::cpu_of).sum();
            (f.clone(), cpu)
        })
        .collect()
}

fn cpu_lines(
    before: &BTreeMap<String, Duration>,
    after: &BTreeMap<String, Duration>,
    per: f64,
) -> Vec<String> {
    let mut total = 0.0;
    let mut lines = Vec::new();
    for (function, cpu) in after {
        let used = cpu
            .saturating_sub(before.get(function).copied().unwrap_or_default())
            .as_secs_f64()
            * 1e3;
        total += used;
        lines.push(format!("  {function:<18} {:>8.2} ms", used / per));
    }
    lines.insert(0, format!("our CPU per video: {:.2} ms", total / per));
    lines
}

fn call_lines(
    before: &BTreeMap<(String, String), u64>,
    after: &BTreeMap<(String, String), u64>,
    per: f64,
) -> Vec<String> {
    let mut by_operation: BTreeMap<&str, u64> = BTreeMap::new();
    for ((function, op), n) in after {
        let earlier = before.get(&(function.clone(), op.clone())).copied();
        *by_operation.entry(op).or_default() += n - earlier.unwrap_or(0);
    }
    let total: u64 = by_operation.values().sum();
    let mut lines = vec![format!(
        "AWS requests per video: {:.2} (every function's, at the IAM check)",
        total as f64 / per
    )];
    for (op, n) in by_operation {
        lines.push(format!("  {op:<28} {:>8.2}", n as f64 / per));
    }
    lines
}
