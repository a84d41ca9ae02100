//! Conformance on both of Kling's surfaces: the same scenarios run through the provider port
//! against provider-sim over HTTP, once on the legacy `/v1` API (JWT) and once on the 2026
//! standard API (API key). Each scenario is one function taking the surface; the macro at the
//! end instantiates it for both.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use provider_sim::{CallKind, Faults, NextError, RunningSim, SimConfig};
use serde_json::Value;
use sha2::Digest;
use shared::domain::task::{Mode, Quality, VideoType};
use shared::provider::kling::{
    KlingAuth, KlingCallbacks, KlingConfig, KlingProvider, RetryPolicy, Surface,
};
use shared::provider::presets::Preset;
use shared::provider::{
    CallbackReader, Deadline, GenerationRequest, JobLookup, JobStatus, ModelChoice, ProviderError,
    ProviderJob, Shot, VideoProvider,
};

const AK: &str = "surface-ak";
const SK: &str = "surface-sk";
const API_KEY: &str = "surface-api-key";

async fn sim_with(faults: Faults, tweak: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = SimConfig {
        access_key: AK.into(),
        secret_key: SK.into(),
        api_key: Some(API_KEY.into()),
        faults,
        queue_time: Duration::from_millis(50),
        run_time: Duration::from_millis(100),
        ..Default::default()
    };
    tweak(&mut config);
    provider_sim::spawn(listener, config).unwrap()
}

fn config(sim: &RunningSim, surface: Surface) -> KlingConfig {
    let preset = Preset {
        model: "kling-v3".into(),
        mode: "std".into(),
    };
    let auth = match surface {
        Surface::Legacy => KlingAuth::Jwt {
            access_key: AK.into(),
            secret_key: SK.into(),
        },
        Surface::Standard => KlingAuth::ApiKey(API_KEY.into()),
    };
    KlingConfig {
        surface,
        base_url: sim.base_url(),
        auth,
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        retry: RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(5),
            cap: Duration::from_millis(20),
            concurrency_floor: Duration::from_millis(5),
        },
        draft: preset.clone(),
        standard: preset.clone(),
        pro: preset,
    }
}

fn provider(sim: &RunningSim, surface: Surface) -> KlingProvider {
    KlingProvider::new(&config(sim, surface)).unwrap()
}

fn request(task_id: &str) -> GenerationRequest {
    GenerationRequest {
        task_id: task_id.into(),
        kind: VideoType::TextToVideo,
        prompt: Some("a red fox running through fresh snow".into()),
        negative_prompt: None,
        duration_seconds: 5,
        aspect_ratio: None,
        quality: Quality::Standard,
        model: ModelChoice {
            model: "kling-v3".into(),
            mode: Mode::Std,
        },
        cfg_scale: None,
        image: None,
        image_tail: None,
        camera: None,
        audio: false,
        shots: vec![],
        seed: None,
        elements: vec![],
        callback_url: None,
        provider: String::new(),
        scene: None,
        source: None,
        music_prompt: None,
        orientation: None,
        voice: None,
        four_k: false,
        callbacks: Default::default(),
        account: String::new(),
    }
}

fn next(code: i64, times: u32, on: CallKind) -> Faults {
    Faults {
        next_errors: vec![NextError { code, times, on }],
        ..Default::default()
    }
}

fn lookup_of<'a>(job: &'a ProviderJob, task_id: &'a str) -> JobLookup<'a> {
    JobLookup {
        provider: "",
        handle: None,
        kind: VideoType::TextToVideo,
        reference: Some(&job.reference),
        task_id,
        request: None,
        submitted_at: None,
    }
}

async fn wait_done(p: &KlingProvider, job: &ProviderJob, task_id: &str) -> ProviderJob {
    for _ in 0..200 {
        let now = p
            .lookup(lookup_of(job, task_id), Deadline::none())
            .await
            .unwrap();
        if matches!(now.status, JobStatus::Succeeded | JobStatus::Failed) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {task_id} never finished");
}

/// Every business code: how many creates the client makes and what the port says it means.
async fn error_codes_with_their_attempts(surface: Surface) {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, surface);
    let table = [
        (1000, 1, "auth"),
        (1001, 1, "auth"),
        (1002, 1, "auth"),
        (1003, 2, "auth"),
        (1004, 2, "auth"),
        (1100, 1, "account_unusable"),
        (1101, 1, "account_unusable"),
        (1102, 1, "account_unusable"),
        (1103, 1, "not_created"),
        (1200, 1, "not_created"),
        (1201, 1, "not_created"),
        (1202, 1, "not_created"),
        (1203, 1, "not_found"),
        (1300, 1, "content_refused"),
        (1301, 1, "content_refused"),
        (1302, 4, "busy"),
        (1303, 4, "busy"),
        (1304, 1, "not_created"),
        (5000, 4, "outcome_unknown"),
        (5001, 4, "busy"),
        (5002, 4, "outcome_unknown"),
    ];
    for (n, (code, attempts, label)) in table.into_iter().enumerate() {
        sim.state.set_faults(next(code, 10, CallKind::Create));
        let before = sim.state.counters().create;
        let err = p
            .submit(&request(&format!("codes-{n}")), Deadline::none())
            .await
            .unwrap_err();
        let made = sim.state.counters().create - before;
        assert_eq!(
            (made, err.label()),
            (attempts, label),
            "code {code} on {surface:?}: {err}"
        );
    }
    assert_eq!(sim.state.task_count(), 0, "no injected failure made a task");
    sim.state.set_faults(next(5001, 2, CallKind::Create));
    let before = sim.state.counters().create;
    let job = p
        .submit(&request("codes-ok"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(
        (job.status, sim.state.counters().create - before),
        (JobStatus::Queued, 3)
    );
    sim.state.set_faults(next(5000, 1, CallKind::Query));
    let before = sim.state.counters().query;
    p.lookup(lookup_of(&job, "codes-ok"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(
        sim.state.counters().query - before,
        2,
        "lookups retry the same way"
    );
}

/// Retries stop at the caller's deadline; latency past it is an unknown outcome, not a failure.
async fn the_deadline_bounds_every_call(surface: Surface) {
    let sim = sim_with(next(5001, 10, CallKind::Any), |_| {}).await;
    let mut cfg = config(&sim, surface);
    cfg.retry.base = Duration::from_millis(400);
    cfg.retry.cap = Duration::from_millis(400);
    let p = KlingProvider::new(&cfg).unwrap();
    let err = p
        .submit(
            &request("deadline-1"),
            Deadline::after(Duration::from_millis(150)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.label(), "busy");
    assert!(
        sim.state.counters().create < 4,
        "the deadline cut retries short"
    );
    sim.state.set_faults(Faults {
        latency_ms: 500,
        ..Default::default()
    });
    let err = p
        .submit(
            &request("deadline-2"),
            Deadline::after(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::OutcomeUnknown { .. }), "{err}");
}

/// A create whose answer is lost is looked up by our id before any second POST: a task Kling
/// stored (a hang, 5000 after storing) is found, one it never stored (its lookup answers
/// "not found": 400/1201 on legacy, an empty `data` on standard) is submitted again.
async fn a_lost_create_is_recovered_once(surface: Surface) {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let mut cfg = config(&sim, surface);
    cfg.request_timeout = Duration::from_millis(300);
    let p = KlingProvider::new(&cfg).unwrap();
    let cases = [
        (
            "lost-hang",
            Faults {
                hang_next_creates: 1,
                hang_ms: 2_000,
                ..Default::default()
            },
            1,
        ),
        (
            "lost-5000",
            Faults {
                fail_after_storing_next_creates: 1,
                ..Default::default()
            },
            1,
        ),
        ("lost-never-stored", next(5000, 1, CallKind::Create), 2),
    ];
    for (id, faults, creates) in cases {
        sim.state.set_faults(faults);
        let (c0, q0) = (sim.state.counters().create, sim.state.counters().query);
        let job = p.submit(&request(id), Deadline::none()).await.unwrap();
        let (c, q) = (
            sim.state.counters().create - c0,
            sim.state.counters().query - q0,
        );
        assert_eq!(
            (c, sim.state.count_for_external(id)),
            (creates, 1),
            "{id} on {surface:?}"
        );
        assert!(q >= 1, "{id}: looked up before any second POST");
        let found = p
            .lookup(
                JobLookup {
                    provider: "",
                    handle: None,
                    kind: VideoType::TextToVideo,
                    reference: None,
                    task_id: id,
                    request: None,
                    submitted_at: None,
                },
                Deadline::none(),
            )
            .await
            .unwrap();
        assert_eq!(found.reference, job.reference);
    }
    let unknown = JobLookup {
        provider: "",
        handle: None,
        kind: VideoType::TextToVideo,
        reference: None,
        task_id: "never-sent",
        request: None,
        submitted_at: None,
    };
    let err = p.lookup(unknown, Deadline::none()).await.unwrap_err();
    assert_eq!(err, ProviderError::NotFound);
}

/// Once a create may have made the task, the call ends in the task or an unknown outcome:
/// busy lookups after a lost answer are not "nothing was made" (which would free the slot and
/// submit again), and a create refused as a duplicate external id is ours to look up.
async fn an_unknown_create_never_ends_busy_or_refused(surface: Surface) {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let mut cfg = config(&sim, surface);
    cfg.request_timeout = Duration::from_millis(300);
    let p = KlingProvider::new(&cfg).unwrap();
    sim.state.set_faults(Faults {
        hang_next_creates: 1,
        hang_ms: 2_000,
        next_errors: vec![NextError {
            code: 1302,
            times: 12,
            on: CallKind::Query,
        }],
        ..Default::default()
    });
    let err = p
        .submit(&request("unknown-busy"), Deadline::none())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ProviderError::OutcomeUnknown { .. }),
        "busy lookups after a lost create on {surface:?}: {err}"
    );
    assert_eq!(sim.state.count_for_external("unknown-busy"), 1);
    // The next run (a lookup that wrongly said "not found") posts again: Kling refuses the
    // duplicate external id, and the task it holds is the answer.
    sim.state.set_faults(Faults::default());
    let creates = sim.state.counters().create;
    let job = p
        .submit(&request("unknown-busy"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(sim.state.counters().create - creates, 1, "one refused POST");
    assert_eq!(sim.state.count_for_external("unknown-busy"), 1);
    let held = JobLookup {
        provider: "",
        handle: None,
        kind: VideoType::TextToVideo,
        reference: None,
        task_id: "unknown-busy",
        request: None,
        submitted_at: None,
    };
    let found = p.lookup(held, Deadline::none()).await.unwrap();
    assert_eq!(job.reference, found.reference);
    // A request Kling refuses for what it is (no task of ours behind it) stays refused.
    sim.state.set_faults(next(1201, 1, CallKind::Create));
    let err = p
        .submit(&request("really-invalid"), Deadline::none())
        .await
        .unwrap_err();
    assert_eq!(err.label(), "not_created", "{err}");
    assert_eq!(sim.state.count_for_external("really-invalid"), 0);
}

async fn callback_sink() -> (String, Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>>) {
    let seen: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

/// Callbacks in the surface's own shape, read by the one callback reader; faults on both.
async fn callbacks_are_read_in_either_shape(surface: Surface) {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, surface);
    let cases = [
        (
            "cb-plain",
            "plain",
            vec![JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded],
        ),
        (
            "cb-dup",
            "dup [sim:duplicate-callbacks]",
            vec![
                JobStatus::Queued,
                JobStatus::Queued,
                JobStatus::Running,
                JobStatus::Running,
                JobStatus::Succeeded,
                JobStatus::Succeeded,
            ],
        ),
        ("cb-drop", "drop [sim:drop-callbacks]", vec![]),
        (
            "cb-fail",
            "broken [sim:fail]",
            vec![JobStatus::Queued, JobStatus::Running, JobStatus::Failed],
        ),
    ];
    for (id, prompt, want) in cases {
        let (url, seen) = callback_sink().await;
        let mut req = request(id);
        req.prompt = Some(prompt.into());
        req.callback_url = Some(url);
        let job = p.submit(&req, Deadline::none()).await.unwrap();
        wait_done(&p, &job, id).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let hints: Vec<_> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, body)| KlingCallbacks.read("kling", body.as_bytes()).unwrap())
            .collect();
        let statuses: Vec<JobStatus> = hints.iter().map(|h| h.status).collect();
        assert_eq!(statuses, want, "{id} on {surface:?}");
        for h in &hints {
            assert_eq!(
                (&h.reference, h.task_id.as_deref()),
                (&job.reference, Some(id))
            );
        }
    }
    // Reordered and delayed deliveries arrive whole, in the surface's shape.
    sim.state.set_faults(Faults {
        callback_delay_ms: 300,
        ..Default::default()
    });
    let (url, seen) = callback_sink().await;
    let mut req = request("cb-reorder");
    req.prompt = Some("late [sim:reorder-callbacks]".into());
    req.callback_url = Some(url);
    let job = p.submit(&req, Deadline::none()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(seen.lock().unwrap().is_empty(), "nothing before the delay");
    wait_done(&p, &job, "cb-reorder").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got: Vec<JobStatus> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| KlingCallbacks.read("kling", b.as_bytes()).unwrap().status)
        .collect();
    assert_eq!(got.len(), 3, "{got:?}");
    assert_ne!(
        got,
        [JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded],
        "out of order"
    );
}

/// With a secret set, every callback carries a Standard Webhooks signature on both surfaces.
async fn callbacks_are_signed_when_configured(surface: Surface) {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};
    let key = b"surface-webhook-signing-key!!!!!";
    let secret = format!("whsec_{}", STANDARD.encode(key));
    let sim = sim_with(Faults::default(), |c| c.webhook_secret = Some(secret)).await;
    let p = provider(&sim, surface);
    let (url, seen) = callback_sink().await;
    let mut req = request("signed-1");
    req.callback_url = Some(url);
    let job = p.submit(&req, Deadline::none()).await.unwrap();
    wait_done(&p, &job, "signed-1").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    for (headers, body) in seen.iter() {
        let h = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap()
                .to_string()
        };
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(format!("{}.{}.{body}", h("webhook-id"), h("webhook-timestamp")).as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(h("webhook-signature"), expected);
    }
}

/// A finished job's video downloads with the bytes provider-sim serves; the bill and the request
/// id come with it and match the price list.
async fn downloads_bills_and_request_ids(surface: Surface) {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, surface);
    let mut req = request("download-1");
    req.duration_seconds = 7;
    req.model.mode = Mode::Pro;
    let job = p.submit(&req, Deadline::none()).await.unwrap();
    assert!(job.request_id.is_some(), "the create's request id is kept");
    let done = wait_done(&p, &job, "download-1").await;
    let url = done.video_url.clone().unwrap();
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    let served = sim.state.served_sha256(job.reference.as_str()).unwrap();
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), served);
    assert_eq!(done.video_duration_seconds, Some(7.0));
    let billed: f64 = done.billed_units.as_deref().unwrap().parse().unwrap();
    assert_eq!(
        Some(billed),
        p.expected_units(&req),
        "kling-v3 pro 7 s = 0.8 × 7 units"
    );
    assert!(done.request_id.is_some() && done.request_id != job.request_id);
}

/// Sound, shots and elements on kling-v3 reach provider-sim in each surface's own fields.
async fn features_reach_the_wire(surface: Surface) {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, surface);
    let mut req = request("features-1");
    req.duration_seconds = 12;
    req.audio = true;
    req.elements = vec!["el-1".into()];
    req.kind = VideoType::ImageToVideo;
    req.image = Some("https://example.com/start.png".into());
    req.shots = vec![
        Shot {
            prompt: "a door opens".into(),
            duration_seconds: 5,
        },
        Shot {
            prompt: "a cat walks in".into(),
            duration_seconds: 7,
        },
    ];
    p.check(&req).unwrap();
    p.submit(&req, Deadline::none()).await.unwrap();
    let record = reqwest::get(format!("{}/_sim/tasks", sim.base_url()))
        .await
        .unwrap();
    let record: Value = record.json().await.unwrap();
    let sent = &record["tasks"][0]["request"];
    match surface {
        Surface::Legacy => {
            assert_eq!(
                (sent["model_name"].as_str(), sent["sound"].as_str()),
                (Some("kling-v3"), Some("on"))
            );
            assert_eq!(
                (sent["duration"].as_str(), sent["multi_shot"].as_bool()),
                (Some("12"), Some(true))
            );
            assert_eq!(sent["multi_prompt"][1]["prompt"], "a cat walks in");
            assert_eq!(sent["element_list"][0]["element_id"], "el-1");
        }
        Surface::Standard => {
            assert_eq!(record["tasks"][0]["model"], "kling-3.0");
            assert_eq!(
                (
                    sent["settings"]["audio"].as_str(),
                    sent["settings"]["duration"].as_u64()
                ),
                (Some("native"), Some(12))
            );
            let contents = sent["contents"].as_array().unwrap();
            assert!(
                contents
                    .iter()
                    .any(|c| c["type"] == "element" && c["element_id"] == "el-1")
            );
            assert_eq!(
                contents[0]["text"],
                "shot 1, 5, a door opens; shot 2, 7, a cat walks in;"
            );
        }
    }
    let mut v26 = request("features-2");
    v26.model.model = "kling-v2-6".into();
    v26.duration_seconds = 12;
    let err = p.check(&v26).unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Unsupported {
                feature: shared::provider::Feature::Duration,
                ..
            }
        ),
        "{err}"
    );
}

/// A sweep's lookups, answered in order: by Kling's id where known, by ours otherwise, an
/// unknown one not found. The standard API asks once per 20 ids, the legacy API once per job.
async fn a_sweep_looks_up_in_batches(surface: Surface) {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, surface);
    let mut jobs = Vec::new();
    for n in 0..25 {
        jobs.push(
            p.submit(&request(&format!("sweep-{n}")), Deadline::none())
                .await
                .unwrap(),
        );
    }
    let ids: Vec<String> = (0..25)
        .map(|n| format!("sweep-{n}"))
        .chain(["sweep-unknown".into()])
        .collect();
    let lookups: Vec<JobLookup<'_>> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| JobLookup {
            provider: "",
            handle: None,
            kind: VideoType::TextToVideo,
            // The first 20 by Kling's id, the rest by ours (a lost create's answer).
            reference: jobs.get(n).filter(|_| n < 20).map(|j| &j.reference),
            task_id: id,
            request: None,
            submitted_at: None,
        })
        .collect();
    let before = sim.state.counters().query;
    let found = p.lookup_many(&lookups, Deadline::none()).await;
    let asked = sim.state.counters().query - before;
    for (n, got) in found.iter().take(25).enumerate() {
        assert_eq!(
            got.as_ref().map(|j| &j.reference),
            Ok(&jobs[n].reference),
            "{n}"
        );
    }
    assert_eq!(found[25], Err(ProviderError::NotFound));
    let want = match surface {
        Surface::Legacy => 26,
        Surface::Standard => 2,
    };
    assert_eq!(asked, want, "lookups sent on {surface:?}");
}

macro_rules! on_both_surfaces {
    ($($scenario:ident),* $(,)?) => {
        mod legacy {
            $(#[tokio::test] async fn $scenario() { super::$scenario(super::Surface::Legacy).await })*
        }
        mod standard {
            $(#[tokio::test] async fn $scenario() { super::$scenario(super::Surface::Standard).await })*
        }
    };
}

on_both_surfaces!(
    error_codes_with_their_attempts,
    the_deadline_bounds_every_call,
    a_lost_create_is_recovered_once,
    an_unknown_create_never_ends_busy_or_refused,
    callbacks_are_read_in_either_shape,
    callbacks_are_signed_when_configured,
    downloads_bills_and_request_ids,
    features_reach_the_wire,
    a_sweep_looks_up_in_batches,
);

/// What only the standard surface has: batched queries by either id (≤ 20; unknown ids are
/// simply absent), cursor listing, API-key-only auth, and unknown top-level fields ignored.
#[tokio::test]
async fn standard_batches_lists_and_takes_only_its_key() {
    use shared::provider::kling::standard::{Ids, MAX_IDS_PER_QUERY};
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, Surface::Standard);
    let client = KlingProvider::new(&config(&sim, Surface::Standard)).unwrap();
    let client = client.client();
    let mut refs = Vec::new();
    for n in 0..5 {
        let job = p
            .submit(&request(&format!("batch-{n}")), Deadline::none())
            .await
            .unwrap();
        refs.push(job.reference.0);
    }
    let mut ids: Vec<&str> = refs.iter().map(String::as_str).collect();
    ids.push("no-such-task");
    let found = client
        .query_tasks(Ids::Kling(&ids), Deadline::none())
        .await
        .unwrap();
    assert_eq!(found.len(), 5, "the unknown id is absent, not an error");
    let ours = ["batch-0", "batch-3", "missing"];
    let found = client
        .query_tasks(Ids::External(&ours), Deadline::none())
        .await
        .unwrap();
    let got: Vec<_> = found
        .iter()
        .map(|t| t.external_id.clone().unwrap_or_default())
        .collect();
    assert_eq!(got, ["batch-0", "batch-3"]);
    let too_many = vec!["x"; MAX_IDS_PER_QUERY + 1];
    let before = sim.state.counters().query;
    assert!(
        client
            .query_tasks(Ids::Kling(&too_many), Deadline::none())
            .await
            .is_err()
    );
    assert_eq!(sim.state.counters().query, before, "refused before sending");

    let first = client.list_tasks(None, 2, Deadline::none()).await.unwrap();
    assert_eq!((first.result.len(), first.has_more), (2, true));
    assert_eq!(
        first.result[0].external_id.as_deref(),
        Some("batch-4"),
        "newest first"
    );
    let mut seen = first.result.len();
    let mut cursor = first.next_cursor.clone();
    while let Some(c) = cursor.filter(|c| !c.is_empty()) {
        let page = client
            .list_tasks(Some(&c), 2, Deadline::none())
            .await
            .unwrap();
        seen += page.result.len();
        cursor = page
            .has_more
            .then_some(page.next_cursor.unwrap_or_default());
    }
    assert_eq!(seen, 5);

    let http = shared::runtime::net::client().expect("HTTP client");
    let url = format!("{}/text-to-video/kling-3.0", sim.base_url());
    let body = serde_json::json!({"prompt": "p", "some_future_field": {"x": 1},
        "settings": {"duration": 5}, "options": {"external_task_id": "extra-1"}});
    let jwt = shared::provider::kling::JwtMinter::new(AK, SK)
        .token_at((shared::provider::kling::system_clock())())
        .unwrap();
    let resp = http
        .post(&url)
        .bearer_auth(jwt)
        .json(&body)
        .send()
        .await
        .unwrap();
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(refused["code"], 1002, "a JWT is not an API key: {refused}");
    let resp = http
        .post(&url)
        .bearer_auth(API_KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    let created: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            created["code"].as_i64(),
            created["data"]["external_id"].as_str()
        ),
        (Some(0), Some("extra-1"))
    );
}

fn effect(task_id: &str) -> GenerationRequest {
    GenerationRequest {
        kind: VideoType::Effect,
        prompt: None,
        scene: Some("pet_lion_pro".into()),
        source: None,
        music_prompt: None,
        orientation: None,
        voice: None,
        image: Some("https://example.com/photo.png".into()),
        ..request(task_id)
    }
}

/// An effect goes to `/v1/videos/effects` as Kling's shape, even when its answer is lost (the
/// task is found by our id under the effects path), and is read back without a duration.
#[tokio::test]
async fn an_effect_goes_to_klings_effects_api_and_is_found_there_after_a_lost_answer() {
    let faults = Faults {
        fail_after_storing_next_creates: 1,
        ..Default::default()
    };
    let sim = sim_with(faults, |_| {}).await;
    let p = provider(&sim, Surface::Legacy);
    let r = effect("fx-1");
    p.check(&r).unwrap();
    let job = p.submit(&r, Deadline::none()).await.unwrap();
    assert_eq!(
        sim.state.task_count(),
        1,
        "one effect task, found after the 5000"
    );
    let made = sim
        .state
        .find("effects", "fx-1")
        .expect("on the effects path");
    assert_eq!(made.request["effect_scene"], "pet_lion_pro");
    assert_eq!(
        made.request["input"]["image"],
        "https://example.com/photo.png"
    );
    assert_eq!(made.request["external_task_id"], "fx-1");
    let lookup = JobLookup {
        kind: VideoType::Effect,
        ..lookup_of(&job, "fx-1")
    };
    let mut done = None;
    for _ in 0..200 {
        let now = p.lookup(lookup, Deadline::none()).await.unwrap();
        if now.status == JobStatus::Succeeded {
            done = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = done.expect("the effect finished");
    assert!(done.video_url.is_some());
    assert_eq!(
        done.video_duration_seconds, None,
        "effects name no duration"
    );
    assert_eq!(p.expected_units(&r), None, "no price list for effects");
}

#[tokio::test]
async fn effects_are_refused_before_any_request_where_the_catalogue_says_so() {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let standard = provider(&sim, Surface::Standard);
    let legacy = provider(&sim, Surface::Legacy);
    let two_photo = GenerationRequest {
        scene: Some("hug_pro".into()),
        ..effect("fx-2")
    };
    let cases = [
        (&standard, effect("fx-1"), shared::provider::Feature::Kind),
        (&legacy, two_photo, shared::provider::Feature::Scene),
    ];
    for (p, r, want) in cases {
        match p.check(&r) {
            Err(ProviderError::Unsupported { feature, .. }) => assert_eq!(feature, want),
            other => panic!("{r:?}: {other:?}"),
        }
    }
    assert_eq!(sim.state.task_count(), 0);
}

fn omni_edit(task_id: &str, video_url: &str, seconds: f64) -> GenerationRequest {
    GenerationRequest {
        kind: VideoType::OmniEdit,
        prompt: Some("make it snow, keep everything else".into()),
        model: ModelChoice {
            model: "kling-v3".into(),
            mode: Mode::Pro,
        },
        source: Some(shared::provider::SourceVideo {
            task_id: None,
            made_by: "kling".into(),
            provider_video_id: Some("kling-video-id-unused-here".into()),
            url: Some(video_url.into()),
            duration_seconds: seconds,
        }),
        image: Some("https://example.com/snow.png".into()),
        ..request(task_id)
    }
}

/// An Omni edit goes to `/omni-video/kling-3.0-omni` on the standard API (the video by URL as
/// the base video, its sound kept, no length asked), is found by our id after a lost answer,
/// and comes back as long as the video, billed what the catalogue expects; `/v1` refuses the
/// kind before any request.
#[tokio::test]
async fn an_omni_edit_is_made_on_the_standard_api_as_long_as_its_video() {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, Surface::Standard);
    let source = p.submit(&request("src-1"), Deadline::none()).await.unwrap();
    let source = wait_done(&p, &source, "src-1").await;
    let url = source.video_url.expect("a video to edit");
    sim.state.set_faults(Faults {
        fail_after_storing_next_creates: 1,
        ..Default::default()
    });
    let r = omni_edit("omni-1", &url, 5.0);
    p.check(&r).unwrap();
    let job = p.submit(&r, Deadline::none()).await.unwrap();
    assert_eq!(sim.state.task_count(), 2, "one edit, found after the 5000");
    let made = sim
        .state
        .find("omni-video", "omni-1")
        .expect("on the Omni path");
    assert_eq!(made.model, "kling-3.0-omni");
    let contents = &made.request["contents"];
    assert_eq!(
        contents[1],
        serde_json::json!({"type": "base_video", "url": url, "id": "video_1"})
    );
    assert_eq!(contents[2]["type"], "refer_image");
    let settings = &made.request["settings"];
    assert_eq!(
        (settings["audio"].as_str(), settings["resolution"].as_str()),
        (Some("original"), Some("1080p"))
    );
    assert!(settings.get("duration").is_none() && settings.get("aspect_ratio").is_none());
    let done = wait_done(&p, &job, "omni-1").await;
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.video_duration_seconds, Some(5.0));
    assert_eq!(p.expected_units(&r), Some(6.0), "1.2 units/s at 1080p");
    assert_eq!(done.billed_units.as_deref(), Some("6"));

    let legacy = provider(&sim, Surface::Legacy);
    let too_long = omni_edit("omni-2", &url, 16.0);
    for (p, r, want) in [
        (
            &legacy,
            omni_edit("omni-3", &url, 5.0),
            shared::provider::Feature::Kind,
        ),
        (&p, too_long, shared::provider::Feature::Duration),
    ] {
        match p.check(&r) {
            Err(ProviderError::Unsupported { feature, .. }) => assert_eq!(feature, want),
            other => panic!("{r:?}: {other:?}"),
        }
    }
    assert_eq!(sim.state.task_count(), 2, "nothing sent for a refused edit");
}

fn lip_sync(
    task_id: &str,
    video: &ProviderJob,
    voice_url: &str,
    voice_seconds: f64,
) -> GenerationRequest {
    GenerationRequest {
        kind: VideoType::LipSync,
        prompt: None,
        duration_seconds: 5,
        source: Some(shared::provider::SourceVideo {
            task_id: Some("src-1".into()),
            made_by: "kling".into(),
            provider_video_id: video.video_id.clone(),
            url: video.video_url.clone(),
            duration_seconds: 5.0,
        }),
        voice: Some(shared::domain::generation::AudioInput {
            url: voice_url.into(),
            duration_seconds: voice_seconds,
        }),
        ..request(task_id)
    }
}

/// A lip-sync on `/v1`: the faces identified first (by Kling's own id for the video), then one
/// task on `/v1/videos/advanced-lip-sync` with the audio laid where the face appears; it comes
/// back as long as the video, billed per started 5 s. A face identification that keeps failing
/// creates nothing and is "busy"; audio under 2 s is refused before any request.
#[tokio::test]
async fn a_lip_sync_identifies_the_face_then_makes_one_task_as_long_as_the_video() {
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, Surface::Legacy);
    let source = p.submit(&request("src-1"), Deadline::none()).await.unwrap();
    let source = wait_done(&p, &source, "src-1").await;
    let voice = common::file_server(shared::domain::audio_probe::wav(3.5)).await;
    let r = lip_sync("ls-1", &source, &voice, 3.5);
    p.check(&r).unwrap();
    let job = p.submit(&r, Deadline::none()).await.unwrap();
    let made = sim
        .state
        .find("advanced-lip-sync", "ls-1")
        .expect("a lip-sync task");
    assert_eq!(
        made.request["face_choose"],
        serde_json::json!([{"face_id": "0", "sound_file": voice, "sound_start_time": 0,
            "sound_end_time": 3500, "sound_insert_time": 0}])
    );
    let lookup = JobLookup {
        kind: VideoType::LipSync,
        ..lookup_of(&job, "ls-1")
    };
    let mut done = None;
    for _ in 0..200 {
        let now = p.lookup(lookup, Deadline::none()).await.unwrap();
        if now.status == JobStatus::Succeeded {
            done = Some(now);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let done = done.expect("the lip-sync finished");
    assert_eq!(
        done.video_duration_seconds,
        Some(5.0),
        "as long as the video"
    );
    assert_eq!(done.billed_units.as_deref(), Some("0.5"));
    assert_eq!(p.expected_units(&r), Some(0.5), "0.5 units per started 5 s");

    sim.state.set_faults(next(5001, 20, CallKind::Create));
    let busy = p
        .submit(&lip_sync("ls-2", &source, &voice, 3.5), Deadline::none())
        .await;
    assert!(matches!(busy, Err(ProviderError::Busy { .. })), "{busy:?}");
    sim.state.set_faults(Faults::default());
    let short = lip_sync("ls-3", &source, &voice, 1.5);
    assert!(matches!(
        p.check(&short),
        Err(ProviderError::NotCreated { .. })
    ));
    assert_eq!(sim.state.task_count(), 2, "the source and one lip-sync");
}

/// 4K: Kling 3.0 on the standard API (`settings.resolution: 4k`, billed 3.0 units a second
/// whatever the sound) and Omni edits there; every other model, `/v1`, and motion control are
/// refused by name before any request.
#[tokio::test]
async fn four_k_is_made_by_kling_3_on_the_standard_api_only() {
    use shared::provider::Feature;
    let sim = sim_with(Faults::default(), |_| {}).await;
    let p = provider(&sim, Surface::Standard);
    let r = GenerationRequest {
        four_k: true,
        audio: true,
        ..request("uhd-1")
    };
    p.check(&r).unwrap();
    let job = p.submit(&r, Deadline::none()).await.unwrap();
    let made = sim
        .state
        .find("text2video", "uhd-1")
        .expect("on the standard API");
    assert_eq!(made.request["settings"]["resolution"], "4k");
    let done = wait_done(&p, &job, "uhd-1").await;
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(p.expected_units(&r), Some(15.0), "3.0 units/s for 5 s");
    assert_eq!(done.billed_units.as_deref(), Some("15"));

    let url = done.video_url.expect("a video to edit");
    let edit = GenerationRequest {
        four_k: true,
        ..omni_edit("uhd-2", &url, 5.0)
    };
    p.check(&edit).unwrap();
    let job = p.submit(&edit, Deadline::none()).await.unwrap();
    let made = sim.state.find("omni-video", "uhd-2").unwrap();
    assert_eq!(made.request["settings"]["resolution"], "4k");
    assert_eq!(
        wait_done(&p, &job, "uhd-2").await.billed_units.as_deref(),
        Some("15")
    );

    let on = |model: &str| GenerationRequest {
        model: ModelChoice {
            model: model.into(),
            mode: Mode::Pro,
        },
        four_k: true,
        ..request("uhd-x")
    };
    let motion = GenerationRequest {
        kind: VideoType::MotionControl,
        orientation: Some(shared::domain::generation::Orientation::Video),
        ..omni_edit("uhd-m", &url, 5.0)
    };
    let legacy = provider(&sim, Surface::Legacy);
    let motion = GenerationRequest {
        four_k: true,
        ..motion
    };
    for (p, r) in [
        (&p, on("kling-v2-6")),
        (&p, on("kling-3.0-turbo")),
        (&p, motion),
        (&legacy, on("kling-v3")),
    ] {
        match p.check(&r) {
            Err(ProviderError::Unsupported { feature, .. }) => {
                assert_eq!(feature, Feature::Resolution, "{r:?}")
            }
            other => panic!("{r:?}: {other:?}"),
        }
    }
    assert_eq!(sim.state.task_count(), 2, "nothing sent for a refused 4K");
}

/// Two accounts in the pool: a task claimed on `b` is made with b's keys and looked up with
/// them (main's keys do not see it: Kling's tasks are per account); each account's
/// concurrency is its own; an account in arrears says so, as `account_unusable`.
#[tokio::test]
async fn a_pool_sends_each_task_to_its_own_account() {
    let sim = sim_with(Faults::default(), |c| {
        c.faults.concurrency_limit = Some(1);
        c.accounts.push(provider_sim::SimAccount {
            name: "b".into(),
            access_key: "b-ak".into(),
            secret_key: "b-sk".into(),
            api_key: None,
            concurrency_limit: Some(1),
        });
    })
    .await;
    let base = sim.base_url();
    let env: std::collections::HashMap<&str, &str> = [
        ("PROVIDER", "kling"),
        ("KLING_BASE_URL", base.as_str()),
        ("KLING_ACCESS_KEY", AK),
        ("KLING_SECRET_KEY", SK),
        (
            "PROVIDER_ACCOUNTS",
            r#"[{"provider":"kling","name":"b","capacity":1}]"#,
        ),
        ("ACCOUNT_kling_b_KLING_ACCESS_KEY", "b-ak"),
        ("ACCOUNT_kling_b_KLING_SECRET_KEY", "b-sk"),
    ]
    .into();
    let settings = shared::provider::composite::ProviderSettings::from_source(&env).unwrap();
    let names: Vec<&str> = settings
        .pool
        .accounts()
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, ["main", "b"]);
    let p = settings.provider().unwrap();
    let on = |id: &str, account: &str| GenerationRequest {
        account: account.into(),
        provider: "kling".into(),
        ..request(id)
    };
    let (main_req, b_req) = (on("pool-1", "main"), on("pool-2", "b"));
    let main_job = p.submit(&main_req, Deadline::none()).await.unwrap();
    // main is full (its limit is 1); b has its own.
    let b_job = p.submit(&b_req, Deadline::none()).await.unwrap();
    let made = |id: &str| sim.state.find("text2video", id).unwrap().account;
    assert_eq!(made(main_job.reference.as_str()), "main");
    assert_eq!(made(b_job.reference.as_str()), "b");
    let mut of_b = lookup_of(&b_job, "pool");
    of_b.provider = "kling";
    of_b.request = Some(&b_req);
    assert!(p.lookup(of_b, Deadline::none()).await.is_ok());
    of_b.request = Some(&main_req);
    let err = p.lookup(of_b, Deadline::none()).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::NotFound,
        "main's keys do not see b's task"
    );
    sim.state.set_account_refusal("b", Some(1101));
    let err = p
        .submit(&on("pool-3", "b"), Deadline::none())
        .await
        .unwrap_err();
    assert_eq!(err.label(), "account_unusable", "{err}");
    let high = sim.state.counters().max_unfinished_by_account;
    assert_eq!((high.get("main"), high.get("b")), (Some(&1), Some(&1)));
}
