//! Conformance of the legacy `/v1` wire client against provider-sim over HTTP: what only this
//! surface has (its JSON shapes, paging, capability checks on its wire types, token timing).
//! The scenarios both surfaces share run in `kling_surfaces.rs`. Each side was written from the
//! contract alone, so agreement here means both follow it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use provider_sim::{Faults, RunningSim, SimConfig};
use serde_json::{Value, json};
use shared::provider::kling::{
    CameraConfig, CameraControl, CameraType, Clock, Deadline, ErrorKind, Image2VideoRequest,
    ImageInput, KlingAuth, KlingClient, KlingConfig, KlingError, ProviderStatus, RetryPolicy,
    TaskOutcome, TaskRef, Text2VideoRequest, VideoKind, system_clock,
};
use shared::provider::presets::Preset;

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
    provider_sim::spawn(listener, config).unwrap()
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
        surface: shared::provider::kling::Surface::Legacy,
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
        extras: Default::default(),
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
        extras: Default::default(),
        callback_url: None,
        external_task_id: None,
    }
}

async fn wait_done(
    client: &KlingClient,
    kind: VideoKind,
    id: &str,
) -> shared::provider::kling::KlingTask {
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
    // The live answer for an unknown id is 400/1201 "Task not found…" (`docs/providers.md` §Legacy API).
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
        let facts = shared::domain::mp4_probe::probe(&bytes).unwrap();
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
    let http = shared::runtime::net::client().expect("HTTP client");
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
                .json(&json!({"model_name": "kling-v2-5-turbo", "prompt": "x", "duration": "7"})),
            400,
            1201,
        ),
        (
            http.post(format!("{base}/v1/videos/text2video"))
                .bearer_auth(&token)
                .json(
                    &json!({"model_name": "kling-v2-5-turbo", "prompt": "x", "external_task_id": "raw-1"}),
                ),
            400,
            1201,
        ),
        (
            http.post(format!("{base}/v1/videos/image2video"))
                .bearer_auth(&token)
                .json(&json!({"model_name": "kling-v2-5-turbo", "image": "data:image/png;base64,AAAA"})),
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
/// What the map refuses never reaches Kling, and each refusal names its feature.
#[tokio::test]
async fn capability_refusals_never_reach_kling() {
    use shared::provider::Feature;
    let sim = sim().await;
    let client = client(&sim);
    let mut t2v_cases: Vec<(Text2VideoRequest, Option<Feature>)> = vec![
        (t2v("kling-v1-6", "std", "5"), Some(Feature::Model)),
        (t2v("kling-v9", "std", "5"), Some(Feature::Model)),
        (t2v("kling-v2-6", "std", "12"), Some(Feature::Duration)),
        (t2v("kling-v2-5-turbo", "std", "7"), Some(Feature::Duration)),
        (t2v("kling-v3", "standard", "5"), None),
    ];
    let mut r = t2v("kling-v2-5-turbo", "pro", "5");
    r.extras.sound = Some("on".into());
    t2v_cases.push((r, Some(Feature::Audio)));
    let mut r = t2v("kling-v2-5-turbo", "std", "5");
    r.cfg_scale = Some(0.5);
    t2v_cases.push((r, Some(Feature::CfgScale)));
    let mut r = t2v("kling-v3", "std", "5");
    r.camera_control = Some(CameraControl {
        camera_type: CameraType::Simple,
        config: Some(CameraConfig {
            zoom: 5.0,
            ..Default::default()
        }),
    });
    t2v_cases.push((r, Some(Feature::CameraControl)));
    let mut r = t2v("kling-v3", "std", "7");
    r.extras.multi_prompt = Some(vec![
        shared::provider::kling::ShotPrompt {
            index: 1,
            prompt: "a".into(),
            duration: "3".into(),
        };
        7
    ]);
    t2v_cases.push((r, Some(Feature::MultiShot)));
    let mut r = t2v("kling-v2-5-turbo", "std", "5");
    r.aspect_ratio = "4:3".into();
    t2v_cases.push((r, None));
    for (req, feature) in t2v_cases {
        let err = client
            .create_text2video(&req, Deadline::none())
            .await
            .unwrap_err();
        match feature {
            Some(f) => assert!(
                matches!(err, KlingError::Unsupported(g, _) if g == f),
                "{err}"
            ),
            None => assert!(matches!(err, KlingError::InvalidInput(_)), "{err}"),
        }
    }
    let mut ends = i2v("kling-v2-5-turbo", "std", "5");
    ends.image_tail = Some(ImageInput::Url("https://example.com/end.png".into()));
    let err = client
        .create_image2video(&ends, Deadline::none())
        .await
        .unwrap_err();
    assert!(
        matches!(err, KlingError::Unsupported(Feature::Combination, _)),
        "{err}"
    );
    assert_eq!(sim.state.counters().create, 0, "nothing reached Kling");
}

/// Kling's clock behind ours: a token minted now is not yet valid there (1003). A fresh token
/// on the same clock would be refused again; the client mints with `nbf` 300 s back instead.
#[tokio::test]
async fn not_yet_valid_is_clock_skew_and_nbf_goes_back() {
    let sim = sim_with(
        Faults {
            clock_offset_secs: -60,
            ..Default::default()
        },
        |_| {},
    )
    .await;
    let client = client(&sim);
    let task = client
        .create_text2video(&t2v("kling-v2-5-turbo", "std", "5"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(
        sim.state.counters().create,
        2,
        "one 1003, then a token Kling accepts"
    );
    client
        .query(
            VideoKind::Text2Video,
            TaskRef::Provider(&task.task_id),
            Deadline::none(),
        )
        .await
        .unwrap();
    assert_eq!(
        sim.state.counters().query,
        1,
        "later tokens are minted the same way"
    );
}

/// Retired models are refused by name, as the live API does; unknown ones stay 1203.
#[tokio::test]
async fn retired_models_are_refused_by_provider_sim() {
    let sim = sim().await;
    let token = shared::provider::kling::JwtMinter::new(AK, SK)
        .token_at((system_clock())())
        .unwrap();
    let http = shared::runtime::net::client().expect("HTTP client");
    for (model, status, code) in [("kling-v1-6", 400, 1201), ("kling-v9", 404, 1203)] {
        let resp = http
            .post(format!("{}/v1/videos/text2video", sim.base_url()))
            .bearer_auth(&token)
            .json(&serde_json::json!({"model_name": model, "prompt": "p", "duration": "5"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["code"], code, "{model}: {body}");
    }
}
