//! Conformance: the Kling client against kling-sim over HTTP. Each side was written from the
//! contract alone, so agreement here means both follow it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kling_sim::{CallKind, Faults, NextError, RunningSim, SimConfig};
use serde_json::{Value, json};
use shared::kling::{
    CameraConfig, CameraControl, CameraType, Clock, Deadline, DynamicMask, ErrorKind,
    Image2VideoRequest, ImageInput, KlingAuth, KlingClient, KlingConfig, KlingError, Preset,
    ProviderStatus, RetryPolicy, TaskOutcome, TaskRef, Text2VideoRequest, TrajectoryPoint,
    VideoKind, system_clock,
};

const AK: &str = "conformance-ak";
const SK: &str = "conformance-sk";

async fn sim_with(faults: Faults, tweak: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = SimConfig {
        access_key: AK.into(),
        secret_key: SK.into(),
        faults,
        queue_time: Duration::from_millis(50),
        run_time: Duration::from_millis(100),
        ..Default::default()
    };
    tweak(&mut config);
    kling_sim::spawn(listener, config).unwrap()
}

async fn sim() -> RunningSim {
    sim_with(Faults::default(), |_| {}).await
}

fn config(sim: &RunningSim) -> KlingConfig {
    let preset = Preset {
        model: "kling-v2-5-turbo".into(),
        mode: "std".into(),
    };
    KlingConfig {
        base_url: sim.base_url(),
        auth: KlingAuth::Jwt {
            access_key: AK.into(),
            secret_key: SK.into(),
        },
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

fn client(sim: &RunningSim) -> KlingClient {
    KlingClient::new(&config(sim)).unwrap()
}

fn t2v(model: &str, mode: &str, duration: &str) -> Text2VideoRequest {
    Text2VideoRequest {
        model_name: model.into(),
        prompt: "a red fox running through fresh snow".into(),
        negative_prompt: None,
        cfg_scale: None,
        mode: mode.into(),
        camera_control: None,
        aspect_ratio: "16:9".into(),
        duration: duration.into(),
        callback_url: None,
        external_task_id: None,
    }
}

fn i2v(model: &str, mode: &str, duration: &str) -> Image2VideoRequest {
    Image2VideoRequest {
        model_name: model.into(),
        image: Some(ImageInput::Url("https://example.com/start.png".into())),
        image_tail: None,
        prompt: Some("the scene comes alive".into()),
        negative_prompt: None,
        cfg_scale: None,
        mode: mode.into(),
        static_mask: None,
        dynamic_masks: None,
        camera_control: None,
        duration: duration.into(),
        callback_url: None,
        external_task_id: None,
    }
}

async fn wait_done(client: &KlingClient, kind: VideoKind, id: &str) -> shared::kling::KlingTask {
    for _ in 0..200 {
        let t = client
            .query(kind, TaskRef::Provider(id), Deadline::none())
            .await
            .unwrap();
        if matches!(
            t.task_status,
            ProviderStatus::Succeed | ProviderStatus::Failed
        ) {
            return t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} never finished");
}

fn next(code: i64, times: u32, on: CallKind) -> Faults {
    Faults {
        next_errors: vec![NextError { code, times, on }],
        ..Default::default()
    }
}

#[tokio::test]
async fn every_error_code_is_retried_exactly_as_classified() {
    let sim = sim().await;
    let client = client(&sim);
    // (code, attempts the client makes before giving up)
    let table = [
        (1000, 1),
        (1001, 1),
        (1002, 1),
        (1003, 2),
        (1004, 2),
        (1100, 1),
        (1101, 1),
        (1102, 1),
        (1103, 1),
        (1200, 1),
        (1201, 1),
        (1202, 1),
        (1203, 1),
        (1300, 1),
        (1301, 1),
        (1302, 4),
        (1303, 4),
        (1304, 1),
        (5000, 4),
        (5001, 4),
        (5002, 4),
    ];
    for (code, attempts) in table {
        sim.state.set_faults(next(code, 10, CallKind::Create));
        let before = sim.state.counters().create;
        let err = client
            .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some(code), "{err}");
        assert_eq!(
            sim.state.counters().create - before,
            attempts,
            "attempts for code {code}"
        );
        assert_eq!(
            err.is_retryable(),
            attempts == 4,
            "classification of {code}"
        );
    }
    assert_eq!(
        sim.state.task_count(),
        0,
        "no injected failure created a task"
    );

    // A transient failure that clears: success on the third attempt.
    sim.state.set_faults(next(5001, 2, CallKind::Create));
    let before = sim.state.counters().create;
    let task = client
        .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(task.task_status, ProviderStatus::Submitted);
    assert_eq!(sim.state.counters().create - before, 3);

    // Queries follow the same rules.
    sim.state.set_faults(next(5000, 1, CallKind::Query));
    let before = sim.state.counters().query;
    client
        .query(
            VideoKind::Text2Video,
            TaskRef::Provider(&task.task_id),
            Deadline::none(),
        )
        .await
        .unwrap();
    assert_eq!(sim.state.counters().query - before, 2);
}

#[tokio::test]
async fn retries_stop_at_the_callers_deadline() {
    let sim = sim().await;
    let mut cfg = config(&sim);
    cfg.retry.base = Duration::from_millis(400);
    cfg.retry.cap = Duration::from_millis(400);
    let client = KlingClient::new(&cfg).unwrap();
    sim.state.set_faults(Faults {
        next_errors: vec![NextError {
            code: 5000,
            times: 10,
            on: CallKind::Any,
        }],
        seed: 3,
        ..Default::default()
    });
    let err = client
        .create_text2video(
            &t2v("kling-v2-5-turbo", "std", "5"),
            Deadline::after(Duration::from_millis(150)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(5000));
    assert!(
        sim.state.counters().create < 4,
        "the deadline cut retries short"
    );
}

#[tokio::test]
async fn added_latency_past_the_deadline_is_a_timeout() {
    let sim = sim_with(
        Faults {
            latency_ms: 500,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let err = client(&sim)
        .query(
            VideoKind::Text2Video,
            TaskRef::Provider("1"),
            Deadline::after(Duration::from_millis(100)),
        )
        .await
        .unwrap_err();
    assert_eq!(err, KlingError::Timeout);
}

#[tokio::test]
async fn a_timed_out_create_is_recovered_without_a_second_task() {
    let sim = sim_with(
        Faults {
            hang_next_creates: 1,
            hang_ms: 2_000,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let mut cfg = config(&sim);
    cfg.request_timeout = Duration::from_millis(300);
    let client = KlingClient::new(&cfg).unwrap();
    let mut req = t2v("kling-v2-5-turbo", "std", "5");
    req.external_task_id = Some("ours-timeout-1".into());
    let task = client
        .create_text2video(&req, Deadline::none())
        .await
        .unwrap();
    assert_eq!(task.external_task_id(), Some("ours-timeout-1"));
    assert_eq!(sim.state.count_for_external("ours-timeout-1"), 1);
    assert_eq!(sim.state.counters().create, 1, "never submitted twice");
    assert!(sim.state.counters().query >= 1, "looked it up instead");
}

/// 5000 after Kling stored the task: the client looks it up instead of POSTing again (which a
/// stored external id would refuse), so the caller gets the task and Kling holds one.
#[tokio::test]
async fn a_create_failing_after_storing_is_recovered_without_a_second_task() {
    let sim = sim_with(
        Faults {
            fail_after_storing_next_creates: 1,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let client = client(&sim);
    let mut req = t2v("kling-v2-5-turbo", "std", "5");
    req.external_task_id = Some("ours-5000-1".into());
    let task = client
        .create_text2video(&req, Deadline::none())
        .await
        .unwrap();
    assert_eq!(task.external_task_id(), Some("ours-5000-1"));
    assert_eq!(sim.state.count_for_external("ours-5000-1"), 1);
    assert_eq!(sim.state.counters().create, 1, "never submitted twice");
}

/// A lost create that Kling never stored is submitted again once the lookup says "not found".
#[tokio::test]
async fn a_lost_create_kling_never_stored_is_submitted_again() {
    let sim = sim_with(
        Faults {
            next_errors: vec![kling_sim::NextError {
                code: 5000,
                times: 1,
                on: kling_sim::CallKind::Create,
            }],
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let mut req = t2v("kling-v2-5-turbo", "std", "5");
    req.external_task_id = Some("ours-5000-2".into());
    let task = client(&sim)
        .create_text2video(&req, Deadline::none())
        .await
        .unwrap();
    assert_eq!(task.external_task_id(), Some("ours-5000-2"));
    assert_eq!(sim.state.count_for_external("ours-5000-2"), 1);
    assert!(
        sim.state.counters().query >= 1,
        "looked it up before submitting again"
    );
}

#[tokio::test]
async fn concurrency_limit_answers_1303_until_a_slot_frees() {
    let sim = sim_with(
        Faults {
            concurrency_limit: Some(1),
            ..Default::default()
        },
        |c| c.run_time = Duration::from_millis(300),
    )
    .await;
    let client = client(&sim);
    let first = client
        .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
        .await
        .unwrap();
    let err = client
        .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::ConcurrencyLimited));
    assert_eq!(sim.state.counters().create, 1 + 4);
    wait_done(&client, VideoKind::Text2Video, &first.task_id).await;
    client
        .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_token_that_expires_mid_run_is_reminted_once() {
    // Kling's clock runs 1000 s ahead: a token minted now is valid there for 800 s only.
    let sim = sim_with(
        Faults {
            clock_offset_secs: 1000,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let now = Arc::new(AtomicU64::new((system_clock())()));
    let clock: Clock = {
        let now = now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let client = KlingClient::with_clock(&config(&sim), clock).unwrap();
    let task = client
        .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
        .await
        .unwrap();
    // 900 s later the cached token still looks fresh to us, but Kling says it expired.
    now.fetch_add(900, Ordering::SeqCst);
    sim.state.set_faults(Faults {
        clock_offset_secs: 1900,
        ..Default::default()
    });
    let before = sim.state.counters().query;
    client
        .query(
            VideoKind::Text2Video,
            TaskRef::Provider(&task.task_id),
            Deadline::none(),
        )
        .await
        .unwrap();
    assert_eq!(
        sim.state.counters().query - before,
        2,
        "one 1004, one success with a new token"
    );
}

#[tokio::test]
async fn capability_refusals_never_reach_kling() {
    let sim = sim().await;
    let client = client(&sim);
    let camera = |t: CameraType, cfg: Option<CameraConfig>| CameraControl {
        camera_type: t,
        config: cfg,
    };
    let zoom = Some(CameraConfig {
        zoom: 5.0,
        ..Default::default()
    });
    let mut t2v_cases: Vec<(Text2VideoRequest, &str)> = vec![
        (
            t2v("kling-v1-5", "pro", "5"),
            "kling-v1-5 has no text-to-video",
        ),
        (
            t2v("kling-v2-1", "std", "5"),
            "kling-v2-1 has no text-to-video",
        ),
        (t2v("kling-v9", "std", "5"), "unknown model kling-v9"),
        (
            t2v("kling-v2-5-turbo", "std", "7"),
            "text-to-video is not available on kling-v2-5-turbo std 7s",
        ),
    ];
    t2v_cases.push((t2v("kling-v1", "standard", "5"), "mode"));
    let mut r = t2v("kling-v2-5-turbo", "std", "5");
    r.cfg_scale = Some(0.5);
    t2v_cases.push((r, "cfg_scale is not supported by kling-v2-5-turbo"));
    let mut r = t2v("kling-v1-6", "std", "5");
    r.camera_control = Some(camera(CameraType::Simple, zoom));
    t2v_cases.push((
        r,
        "text-to-video camera control is not available on kling-v1-6 std 5s",
    ));
    let mut r = t2v("kling-v1", "std", "10");
    r.camera_control = Some(camera(CameraType::Simple, zoom));
    t2v_cases.push((
        r,
        "text-to-video camera control is not available on kling-v1 std 10s",
    ));
    let mut r = t2v("kling-v1", "std", "5");
    r.camera_control = Some(camera(
        CameraType::Simple,
        Some(CameraConfig {
            zoom: 5.0,
            pan: 1.0,
            ..Default::default()
        }),
    ));
    t2v_cases.push((r, "exactly one non-zero"));
    let mut r = t2v("kling-v2-5-turbo", "std", "5");
    r.prompt = "x".repeat(2501);
    t2v_cases.push((r, "at most 2500"));
    let mut r = t2v("kling-v2-5-turbo", "std", "5");
    r.aspect_ratio = "4:3".into();
    t2v_cases.push((r, "aspect_ratio"));
    for (req, expect) in t2v_cases {
        let err = client
            .create_text2video(&req, Deadline::none())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(expect),
            "{err} should mention {expect}"
        );
        assert!(!err.is_retryable());
    }

    let mut i2v_cases: Vec<(Image2VideoRequest, &str)> = Vec::new();
    let mut r = i2v("kling-v1-6", "std", "5");
    r.image_tail = Some(ImageInput::Url("https://example.com/end.png".into()));
    i2v_cases.push((r, "start+end frame is not available on kling-v1-6 std 5s"));
    let mut r = i2v("kling-v2-5-turbo", "pro", "5");
    r.image = None;
    r.image_tail = Some(ImageInput::Url("https://example.com/end.png".into()));
    i2v_cases.push((
        r,
        "end frame only is not available on kling-v2-5-turbo pro 5s",
    ));
    let mut r = i2v("kling-v2-5-turbo", "std", "5");
    r.static_mask = Some(ImageInput::Url("https://example.com/mask.png".into()));
    i2v_cases.push((
        r,
        "motion brush is not available on kling-v2-5-turbo std 5s",
    ));
    let mut r = i2v("kling-v1", "std", "5");
    r.static_mask = Some(ImageInput::Url("https://example.com/mask.png".into()));
    r.camera_control = Some(camera(CameraType::Simple, zoom));
    i2v_cases.push((r, "cannot be combined"));
    let mut r = i2v("kling-v1-5", "pro", "5");
    r.camera_control = Some(camera(CameraType::DownBack, None));
    i2v_cases.push((
        r,
        "image-to-video camera control is not available on kling-v1-5 pro 5s",
    ));
    let mut r = i2v("kling-v1-5", "std", "5");
    r.camera_control = Some(camera(CameraType::Simple, zoom));
    i2v_cases.push((
        r,
        "image-to-video camera control is not available on kling-v1-5 std 5s",
    ));
    let mut r = i2v("kling-v1", "std", "5");
    r.dynamic_masks = Some(vec![DynamicMask {
        mask: ImageInput::Url("https://example.com/m.png".into()),
        trajectories: vec![TrajectoryPoint { x: 1, y: 1 }],
    }]);
    i2v_cases.push((r, "2 to 77 trajectory points"));
    let mut r = i2v("kling-v2-5-turbo", "std", "5");
    r.image = Some(ImageInput::Base64("data:image/png;base64,AAAA".into()));
    i2v_cases.push((r, "data: prefix"));
    let mut r = i2v("kling-v2-5-turbo", "std", "5");
    r.image = None;
    i2v_cases.push((r, "needs image or image_tail"));
    let mut r = i2v("kling-v2-1", "std", "5");
    r.cfg_scale = Some(0.3);
    i2v_cases.push((r, "cfg_scale is not supported by kling-v2-1"));
    for (req, expect) in i2v_cases {
        let err = client
            .create_image2video(&req, Deadline::none())
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(expect),
            "{err} should mention {expect}"
        );
    }
    assert_eq!(
        sim.state.counters().create,
        0,
        "no refused request reached kling-sim"
    );

    // The supported neighbours of those combinations do go through, and kling-sim agrees.
    let mut allowed_t2v = vec![
        t2v("kling-v1", "std", "5"),
        t2v("kling-v3", "pro", "15"),
        t2v("kling-v2-master", "pro", "10"),
    ];
    let mut r = t2v("kling-v1", "std", "5");
    r.camera_control = Some(camera(CameraType::Simple, zoom));
    r.cfg_scale = Some(0.5);
    allowed_t2v.push(r);
    for req in &allowed_t2v {
        client
            .create_text2video(req, Deadline::none())
            .await
            .unwrap();
    }
    let mut allowed_i2v = Vec::new();
    let mut r = i2v("kling-v2-5-turbo", "pro", "10");
    r.image_tail = Some(ImageInput::Url("https://example.com/end.png".into()));
    allowed_i2v.push(r);
    let mut r = i2v("kling-v1-5", "pro", "5");
    r.camera_control = Some(camera(CameraType::Simple, zoom));
    allowed_i2v.push(r);
    let mut r = i2v("kling-v1", "pro", "5");
    r.image = Some(ImageInput::Base64("iVBORw0KGgo=".into()));
    r.dynamic_masks = Some(vec![DynamicMask {
        mask: ImageInput::Url("https://example.com/m.png".into()),
        trajectories: vec![
            TrajectoryPoint { x: 1, y: 1 },
            TrajectoryPoint { x: 20, y: 30 },
        ],
    }]);
    allowed_i2v.push(r);
    for req in &allowed_i2v {
        client
            .create_image2video(req, Deadline::none())
            .await
            .unwrap();
    }
    assert_eq!(
        sim.state.counters().create as usize,
        allowed_t2v.len() + allowed_i2v.len()
    );
}

#[tokio::test]
async fn a_failure_hidden_in_a_200_surfaces_with_its_message() {
    let sim = sim().await;
    let client = client(&sim);
    let mut req = t2v("kling-v2-5-turbo", "std", "5");
    req.prompt = "a cat [sim:fail=Image pixel is invalid]".into();
    let task = client
        .create_text2video(&req, Deadline::none())
        .await
        .unwrap();
    let done = wait_done(&client, VideoKind::Text2Video, &task.task_id).await;
    assert_eq!(
        done.outcome(),
        TaskOutcome::Failed("Image pixel is invalid".into())
    );

    sim.state.set_faults(Faults {
        fail_rate: 1.0,
        fail_message: "risk control".into(),
        ..Default::default()
    });
    let task = client
        .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
        .await
        .unwrap();
    let done = wait_done(&client, VideoKind::Text2Video, &task.task_id).await;
    assert_eq!(done.outcome(), TaskOutcome::Failed("risk control".into()));
}

#[tokio::test]
async fn query_by_either_id_list_pages_and_gateway_keys() {
    let sim = sim_with(Faults::default(), |c| {
        c.api_key = Some("gateway-key".into())
    })
    .await;
    let client = client(&sim);
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut req = t2v("kling-v2-5-turbo", "std", "5");
        req.external_task_id = Some(format!("ours-{n}"));
        ids.push(
            client
                .create_text2video(&req, Deadline::none())
                .await
                .unwrap()
                .task_id,
        );
    }
    let by_ext = client
        .query(
            VideoKind::Text2Video,
            TaskRef::External("ours-1"),
            Deadline::none(),
        )
        .await
        .unwrap();
    assert_eq!(by_ext.task_id, ids[1]);
    let page = client
        .list(VideoKind::Text2Video, 1, 2, Deadline::none())
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|t| t.task_id.clone()).collect::<Vec<_>>(),
        vec![ids[2].clone(), ids[1].clone()]
    );
    let page2 = client
        .list(VideoKind::Text2Video, 2, 2, Deadline::none())
        .await
        .unwrap();
    assert_eq!(page2.len(), 1);
    assert!(matches!(
        client
            .list(VideoKind::Text2Video, 0, 2, Deadline::none())
            .await,
        Err(KlingError::InvalidInput(_))
    ));
    let err = client
        .query(
            VideoKind::Image2Video,
            TaskRef::Provider(&ids[0]),
            Deadline::none(),
        )
        .await
        .unwrap_err();
    // The live answer for an unknown id is 400/1201 "Task not found…" (kling-api.md §0-A.2).
    assert_eq!(err.kind(), Some(ErrorKind::InvalidParameters));
    assert!(err.is_task_not_found(), "{err}");

    let mut gw = config(&sim);
    gw.auth = KlingAuth::ApiKey("gateway-key".into());
    let gateway = KlingClient::new(&gw).unwrap();
    gateway
        .query(
            VideoKind::Text2Video,
            TaskRef::Provider(&ids[0]),
            Deadline::none(),
        )
        .await
        .unwrap();
    gw.auth = KlingAuth::ApiKey("wrong-key".into());
    let err = KlingClient::new(&gw)
        .unwrap()
        .query(
            VideoKind::Text2Video,
            TaskRef::Provider(&ids[0]),
            Deadline::none(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::AuthorizationInvalid));
}

#[tokio::test]
async fn error_rate_faults_are_deterministic_for_a_seed() {
    let sim = sim().await;
    let client = client(&sim);
    let run = |seed| {
        sim.state.set_faults(Faults {
            seed,
            error_rate: 0.5,
            error_codes: vec![1101, 1304],
            ..Default::default()
        });
        async {
            let mut outcomes = Vec::new();
            for _ in 0..16 {
                let r = client
                    .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
                    .await;
                outcomes.push(r.err().and_then(|e| e.code()));
            }
            outcomes
        }
    };
    let a = run(42).await;
    let b = run(42).await;
    assert_eq!(a, b);
    assert!(
        a.iter().any(Option::is_none) && a.iter().any(Option::is_some),
        "{a:?}"
    );
}

/// A receiver that records every callback body it is sent.
async fn callback_sink() -> (String, Arc<Mutex<Vec<Value>>>) {
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

fn statuses(seen: &Mutex<Vec<Value>>) -> Vec<String> {
    seen.lock()
        .unwrap()
        .iter()
        .map(|b| b["task_status"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn run_with_callbacks(
    sim: &RunningSim,
    prompt: &str,
) -> (shared::kling::KlingTask, Arc<Mutex<Vec<Value>>>) {
    let client = client(sim);
    let (url, seen) = callback_sink().await;
    let mut req = t2v("kling-v2-5-turbo", "std", "5");
    req.prompt = prompt.into();
    req.callback_url = Some(url);
    let task = client
        .create_text2video(&req, Deadline::none())
        .await
        .unwrap();
    let done = wait_done(&client, VideoKind::Text2Video, &task.task_id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    (done, seen)
}

#[tokio::test]
async fn callbacks_in_order_duplicated_reordered_dropped_and_delayed() {
    let sim = sim().await;
    let (_, seen) = run_with_callbacks(&sim, "plain").await;
    assert_eq!(statuses(&seen), ["submitted", "processing", "succeed"]);
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert!(
        last.get("code").is_none(),
        "the bare task object, no envelope"
    );
    assert!(last["task_result"]["videos"][0]["url"].is_string());

    let (_, seen) = run_with_callbacks(&sim, "dup [sim:duplicate-callbacks]").await;
    assert_eq!(
        statuses(&seen),
        [
            "submitted",
            "submitted",
            "processing",
            "processing",
            "succeed",
            "succeed"
        ]
    );

    let (_, seen) = run_with_callbacks(&sim, "drop [sim:drop-callbacks]").await;
    assert!(statuses(&seen).is_empty());

    let (_, seen) = run_with_callbacks(&sim, "reorder [sim:reorder-callbacks]").await;
    let got = statuses(&seen);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_ne!(got, ["submitted", "processing", "succeed"], "out of order");

    sim.state.set_faults(Faults {
        callback_delay_ms: 400,
        ..Default::default()
    });
    let client = client(&sim);
    let (url, seen) = callback_sink().await;
    let mut req = t2v("kling-v2-5-turbo", "std", "5");
    req.callback_url = Some(url);
    client
        .create_text2video(&req, Deadline::none())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(statuses(&seen).is_empty(), "nothing before the delay");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(statuses(&seen).len(), 3);
}

#[tokio::test]
async fn result_videos_match_the_request_and_downloads_fail_on_demand() {
    let sim = sim().await;
    let client = client(&sim);
    let cases = [
        ("16:9", "std", "5", (1280, 720)),
        ("9:16", "pro", "10", (1080, 1920)),
        ("1:1", "std", "10", (720, 720)),
    ];
    for (aspect, mode, duration, (w, h)) in cases {
        let mut req = t2v("kling-v2-5-turbo", mode, duration);
        req.aspect_ratio = aspect.into();
        let task = client
            .create_text2video(&req, Deadline::none())
            .await
            .unwrap();
        let done = wait_done(&client, VideoKind::Text2Video, &task.task_id).await;
        let TaskOutcome::Succeeded(video) = done.outcome() else {
            panic!("{done:?}")
        };
        assert_eq!(video.duration.as_deref(), Some(duration));
        let bytes = reqwest::get(&video.url)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let facts = shared::mp4_probe::probe(&bytes).unwrap();
        assert_eq!(
            (facts.width, facts.height),
            (Some(w), Some(h)),
            "{aspect} {mode}"
        );
        let want: f64 = duration.parse().unwrap();
        assert!(
            (facts.duration_seconds - want).abs() < 0.05,
            "{}",
            facts.duration_seconds
        );
    }

    let finished_url = |prompt: &'static str| {
        let client = &client;
        async move {
            let mut req = t2v("kling-v2-5-turbo", "std", "5");
            req.prompt = prompt.into();
            let task = client
                .create_text2video(&req, Deadline::none())
                .await
                .unwrap();
            let done = wait_done(client, VideoKind::Text2Video, &task.task_id).await;
            done.first_video().unwrap().url.clone()
        }
    };
    // Truncated: the body ends before its announced length.
    let url = finished_url("cut [sim:truncate-download]").await;
    let cut_short = match reqwest::get(&url).await {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(cut_short, "a truncated download never reads as complete");
    // Expired link.
    let url = finished_url("old [sim:expire-url]").await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 403);
    // Slow: a reader with a short timeout gives up.
    let url = finished_url("slow [sim:slow-download]").await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let gave_up = match impatient.get(&url).send().await {
        Err(e) => e.is_timeout(),
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(gave_up, "a slow download outlasts a short read timeout");

    // URLs that expire after a while.
    sim.state.set_faults(Faults {
        url_ttl_ms: Some(300),
        ..Default::default()
    });
    let url = finished_url("ttl").await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 403);
}

/// The raw wire format, checked without the client's types (what a curl session sees).
#[tokio::test]
async fn raw_json_envelopes_field_names_and_types() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let now = (system_clock())() as i64;
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": AK, "exp": now + 1800, "nbf": now - 5}),
        &jsonwebtoken::EncodingKey::from_secret(SK.as_bytes()),
    )
    .unwrap();
    let base = sim.base_url();
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };

    let resp = post(
        "/v1/videos/text2video",
        json!({"model_name": "kling-v2-5-turbo", "prompt": "a fox", "duration": "5", "external_task_id": "raw-1"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], 0);
    assert_eq!(v["message"], "SUCCEED");
    assert!(v["request_id"].is_string());
    let data = &v["data"];
    let id = data["task_id"].as_str().expect("task_id is a string");
    assert!(id.chars().all(|c| c.is_ascii_digit()) && id.len() >= 18);
    assert_eq!(data["task_status"], "submitted");
    assert_eq!(data["task_info"]["external_task_id"], "raw-1");
    assert!(
        data["created_at"].as_i64().unwrap() > 1_600_000_000_000,
        "milliseconds"
    );
    assert!(data["updated_at"].is_i64());

    tokio::time::sleep(Duration::from_millis(400)).await;
    let v: Value = http
        .get(format!("{base}/v1/videos/text2video/raw-1"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = &v["data"];
    assert_eq!(data["task_status"], "succeed");
    assert!(data["task_status_msg"].is_string());
    let video = &data["task_result"]["videos"][0];
    assert!(video["id"].is_string() && video["url"].is_string());
    assert_eq!(video["duration"], "5", "duration is a string");

    let v: Value = http
        .get(format!("{base}/v1/videos/text2video?pageNum=1&pageSize=10"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["data"].is_array());

    // Error answers: the right HTTP status, code and message, and no `data`.
    let cases: Vec<(reqwest::RequestBuilder, u16, i64)> = vec![
        (
            http.get(format!("{base}/v1/videos/text2video/raw-1")),
            401,
            1001,
        ),
        (
            http.get(format!("{base}/v1/videos/text2video/raw-1"))
                .bearer_auth("not-a-jwt"),
            401,
            1002,
        ),
        (
            http.get(format!("{base}/v1/videos/text2video/nope"))
                .bearer_auth(&token),
            400,
            1201,
        ),
        (
            http.get(format!("{base}/v1/videos/text2video?pageSize=501"))
                .bearer_auth(&token),
            400,
            1201,
        ),
        (
            http.post(format!("{base}/v1/videos/text2video"))
                .bearer_auth(&token)
                .json(&json!({"model_name": "kling-v9", "prompt": "x"})),
            404,
            1203,
        ),
        (
            http.post(format!("{base}/v1/videos/text2video"))
                .bearer_auth(&token)
                .json(&json!({"model_name": "kling-v1", "prompt": "x", "duration": "7"})),
            400,
            1201,
        ),
        (
            http.post(format!("{base}/v1/videos/text2video"))
                .bearer_auth(&token)
                .json(
                    &json!({"model_name": "kling-v1", "prompt": "x", "external_task_id": "raw-1"}),
                ),
            400,
            1201,
        ),
        (
            http.post(format!("{base}/v1/videos/image2video"))
                .bearer_auth(&token)
                .json(&json!({"model_name": "kling-v1", "image": "data:image/png;base64,AAAA"})),
            400,
            1201,
        ),
    ];
    for (req, status, code) in cases {
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), status);
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["code"], code, "{v}");
        assert!(v["message"].is_string() && v["request_id"].is_string());
        assert!(v.get("data").is_none(), "{v}");
    }
}

#[tokio::test]
async fn callbacks_carry_standard_webhooks_signatures_when_a_secret_is_set() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, Mac};

    let key = b"conformance-webhook-signing-key!";
    let secret = format!("whsec_{}", STANDARD.encode(key));
    let sim = sim_with(Faults::default(), |c| c.webhook_secret = Some(secret)).await;
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

    let client = client(&sim);
    let mut req = t2v("kling-v2-5-turbo", "std", "5");
    req.callback_url = Some(url);
    let task = client
        .create_text2video(&req, Deadline::none())
        .await
        .unwrap();
    wait_done(&client, VideoKind::Text2Video, &task.task_id).await;
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
        let (id, ts, sig) = (
            h("webhook-id"),
            h("webhook-timestamp"),
            h("webhook-signature"),
        );
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{ts}.{body}").as_bytes());
        let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
        assert_eq!(sig, expected);
        let age = (system_clock())() as i64 - ts.parse::<i64>().unwrap();
        assert!(age.abs() <= 5, "timestamp is current");
    }
}
