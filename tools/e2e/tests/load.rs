//! `make load` in small: a few creates through the local stack over two Kling accounts and
//! fal, every one waited for, and the figures per video printed from what was counted.

mod common;

use std::time::Duration;

use devstack::load::{LoadPlan, run, settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_load_run_finishes_every_task_and_reports_per_video_figures() {
    let (b, env) = settings(2, 1);
    let stack = common::start(|o| {
        o.sim_speed = 20.0;
        o.sim_accounts.push(b);
        o.extra_env.extend(env);
    })
    .await;
    let plan = LoadPlan {
        rate: 3,
        seconds: 2,
        users: 2,
        drain: Duration::from_secs(120),
    };
    let report = run(&stack, &plan).await.unwrap();
    for line in &report.lines {
        println!("{line}");
    }
    assert_eq!(report.unfinished, 0);
    let text = report.lines.join("\n");
    assert!(text.contains("6 accepted as 6 distinct tasks"), "{text}");
    assert!(text.contains("6 SUCCEEDED"), "{text}");
    let requests = report
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("AWS requests per video: "))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap();
    assert!(
        requests > 10.0,
        "every function's requests are counted: {text}"
    );
    let cpu = report
        .lines
        .iter()
        .find_map(|l| l.strip_prefix("our CPU per video: "))
        .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap();
    assert!(cpu > 0.0, "{text}");
}
