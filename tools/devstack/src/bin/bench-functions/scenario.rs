//! What each function is given: the events of one realistic sequence. Creates first (they
//! queue tasks), then reads of one of them, a dispatch run that submits the queued tasks to
//! provider-sim, their callbacks, finalize messages and reconcile sweeps.

use std::error::Error;

use super::*;

/// The function's environment as the local stack gives it, with AWS reached through the
/// counting proxy and queue messages sent to a queue nobody reads (the stack's own
/// functions stay idle while another is measured).
fn bench_env(stack: &Stack, run: &Run, name: &str, sink: &str) -> Vec<(String, String)> {
    let mut env = stack.envs.get(name).cloned().unwrap_or_default();
    for (key, value) in env.iter_mut() {
        match key.as_str() {
            "AWS_ENDPOINT_URL" => *value = run.proxy.endpoint.clone(),
            "DISPATCH_QUEUE_URL" | "FINALIZE_QUEUE_URL" => *value = sink.to_string(),
            _ => {}
        }
    }
    env
}

fn sqs_event(body: &Value) -> Value {
    json!({"Records": [{
        "messageId": uuid::Uuid::new_v4().to_string(),
        "receiptHandle": "bench",
        "body": body.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "0"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:bench",
        "awsRegion": "us-east-1"
    }]})
}

/// The task ids in create-task's answers.
fn created_ids(figures: &Figures) -> Vec<String> {
    figures
        .bodies
        .iter()
        .filter_map(|b| {
            let body: Value = serde_json::from_str(b["body"].as_str()?).ok()?;
            Some(body["id"].as_str()?.to_string())
        })
        .collect()
}

/// Creates by a new user each time: the measured path is a create that is accepted (one
/// user would soon meet its plan's limit on tasks in flight and get 429s).
fn creates(stack: &Stack, n: usize) -> Result<Events, Box<dyn Error>> {
    let tokens: Vec<String> = (0..n)
        .map(|u| stack.token_with_plan(&format!("bench-user-{u}"), "pro"))
        .collect::<Result<_, _>>()?;
    let nonce = uuid::Uuid::new_v4().to_string();
    Ok(Box::new(move |i| {
        let body =
            json!({"type": "text_to_video", "prompt": format!("a paper boat on a pond, take {i}")});
        let token = &tokens[i % tokens.len()];
        api(
            "POST",
            "/v1/videos",
            "/v1/videos",
            token,
            &format!("{nonce}-{i}"),
            &body,
            &[],
        )
    }))
}

pub async fn run_all(stack: &Stack, run: &Run) -> Result<Vec<Figures>, Box<dyn Error>> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let sink = sqs.create_queue().queue_name("bench-sink").send().await?;
    let sink = sink.queue_url().unwrap_or_default().to_string();
    let env = |name: &str| bench_env(stack, run, name, &sink);
    let measured = [
        "hello-lambda",
        "create-task",
        "status-query",
        "dispatch",
        "webhook-receiver",
        "finalize",
        "poster",
        "reconcile",
    ];
    let functions: Vec<_> = measured.iter().map(|n| (*n, env(n))).collect();
    let mut inits = run.quiet_inits(&functions).await?;
    let mut all = run_each(stack, run, &env).await?;
    for f in &mut all {
        // A row missing from `measured` would show no cold start, and pass the budget.
        (f.init, f.floor) = inits
            .remove(&f.name)
            .ok_or_else(|| format!("{} has no cold inits: add it to `measured`", f.name))?;
    }
    Ok(all)
}

/// The first and warm invocations of each function, in the order of a task's life.
async fn run_each(
    stack: &Stack,
    run: &Run,
    env: &dyn Fn(&str) -> Vec<(String, String)>,
) -> Result<Vec<Figures>, Box<dyn Error>> {
    let mut all = Vec::new();

    let echo: Events = Box::new(|i| json!({"n": i}));
    all.push(run.measure("hello-lambda", &[], &echo).await?);

    let creates = creates(stack, run.cold + run.warm + 1)?;
    all.push(
        run.measure("create-task", &env("create-task"), &creates)
            .await?,
    );
    let ids = created_ids(&all[1]);
    let first = ids.first().cloned().ok_or("create-task created nothing")?;
    let reads = reads(stack, first)?;
    all.push(
        run.measure("status-query", &env("status-query"), &reads)
            .await?,
    );

    let tick: Events = Box::new(|_| devstack::schedule::scheduled_event("bench"));
    all.push(run.measure("dispatch", &env("dispatch"), &tick).await?);

    let callbacks = callbacks(stack, &ids);
    all.push(
        run.measure("webhook-receiver", &env("webhook-receiver"), &callbacks)
            .await?,
    );

    let made = ids.clone();
    let messages: Events = Box::new(move |i| sqs_event(&json!({"task_id": ids[i % ids.len()]})));
    all.push(run.measure("finalize", &env("finalize"), &messages).await?);

    // Each invocation makes a poster in full (read the MP4, decode, write the JPEG) for a
    // record saying the task succeeded with a stored 720p video; the table's task has not, so
    // the job also reads it back and removes the picture (one GetItem and one DeleteObject more
    // than the real path, in place of its versioned put).
    let records = poster_records(stack, &made).await?;
    all.push(run.measure("poster", &env("poster"), &records).await?);

    let sweep: Events = Box::new(|_| devstack::schedule::scheduled_event("reconcile"));
    all.push(run.measure("reconcile", &env("reconcile"), &sweep).await?);
    Ok(all)
}

/// Stream records saying the tasks created succeeded, each with the provider-sim's 720p
/// video stored at its key.
async fn poster_records(stack: &Stack, ids: &[String]) -> Result<Events, Box<dyn Error>> {
    use shared::ports::Tasks;
    const VIDEO: &[u8] = include_bytes!("../../../../provider-sim/assets/gop-720p-16x9.mp4");
    let table = stack.resource("TasksTable").ok_or("no table")?;
    let store = shared::aws::DynamoTaskStore::from_sdk(&stack.sdk, table);
    let bucket = stack.resource("VideoBucket").ok_or("no bucket")?;
    let mut records = Vec::new();
    for id in ids.iter().take(20) {
        let Some(mut task) = store.get_task(id).await? else {
            continue;
        };
        let key = shared::domain::task::video_key(&task.user_id, id);
        let body = aws_sdk_s3::primitives::ByteStream::from_static(VIDEO);
        stack
            .s3()
            .put_object()
            .bucket(bucket)
            .key(&key)
            .body(body)
            .send()
            .await?;
        task.status = shared::domain::task::TaskStatus::Succeeded;
        task.video = Some(shared::domain::task::StoredVideo {
            key,
            bytes: VIDEO.len() as u64,
            sha256: String::new(),
            content_type: "video/mp4".into(),
            duration_seconds: Some(1.0),
            width: Some(1280),
            height: Some(720),
            poster: None,
        });
        let mut image: serde_dynamo::Item = serde_dynamo::to_item(&task)?;
        let pk = serde_dynamo::AttributeValue::S(format!("TASK#{id}"));
        image.insert("pk".into(), pk);
        image.insert("sk".into(), serde_dynamo::AttributeValue::S("TASK".into()));
        records.push(json!({"Records": [{"eventID": id, "eventName": "MODIFY",
            "eventSource": "aws:dynamodb", "awsRegion": "us-east-1", "dynamodb": {
                "Keys": {"pk": {"S": format!("TASK#{id}")}, "sk": {"S": "TASK"}},
                "NewImage": serde_json::to_value(image)?, "SequenceNumber": "1",
                "StreamViewType": "NEW_AND_OLD_IMAGES", "SizeBytes": 100}}]}));
    }
    if records.is_empty() {
        return Err("no task to make a poster for".into());
    }
    Ok(Box::new(move |i| records[i % records.len()].clone()))
}

/// The owner reading one of the tasks created.
fn reads(stack: &Stack, id: String) -> Result<Events, Box<dyn Error>> {
    let owner = stack.token_with_plan("bench-user-0", "pro")?;
    let path = format!("/v1/videos/{id}");
    Ok(Box::new(move |_| {
        api(
            "GET",
            &path,
            "/v1/videos/{id}",
            &owner,
            "",
            &Value::Null,
            &[("id", &id)],
        )
    }))
}

/// Callbacks for the tasks dispatch submitted to provider-sim.
fn callbacks(stack: &Stack, ids: &[String]) -> Events {
    let submitted: Vec<(String, Value)> = ids
        .iter()
        .filter_map(|id| {
            let task = stack.sim.state.find("text2video", id)?;
            Some((id.clone(), task.to_json(&stack.sim.state.base_url)))
        })
        .collect();
    Box::new(move |i| callback(&submitted, i))
}

/// provider-sim's own callback for a submitted task (the same one again and again: the first
/// is news, the rest are the duplicates providers send).
fn callback(submitted: &[(String, Value)], i: usize) -> Value {
    let Some((id, body)) = submitted.get(i % submitted.len().max(1)) else {
        return json!({});
    };
    let secret = devstack::env::LOCAL_WEBHOOK_SECRET.as_bytes();
    let token = shared::edge::webhook_token::token_for(secret, "kling", id);
    let path = format!("/webhooks/kling/{id}/{token}");
    let params = [
        ("provider", "kling"),
        ("task_id", id.as_str()),
        ("token", token.as_str()),
    ];
    api(
        "POST",
        &path,
        "/webhooks/{provider}/{task_id}/{token}",
        "",
        "",
        body,
        &params,
    )
}
