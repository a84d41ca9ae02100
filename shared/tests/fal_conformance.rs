//! Conformance: the fal adapter against fal-sim over HTTP — submit, queue positions, status,
//! result, cancel in the queue and after completion, fal's input validation, ERROR results,
//! 5xx on submit, and webhooks with good, missing, stale, wrong-key and rotated signatures.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use provider_sim::fal::{FalConfig as SimConfig, FalFaults, RunningFal};
use serde_json::{Value, json};
use shared::domain::task::{Mode, Quality, VideoType};
use shared::provider::fal::webhook::{FalKeys, Rejected};
use shared::provider::fal::{FalClient, FalConfig, FalError, FalProvider, Handle};
use shared::provider::presets::Preset;
use shared::provider::{
    CancelOutcome, Deadline, GenerationRequest, JobLookup, JobStatus, ModelChoice, ProviderError,
    ProviderJob, VideoProvider,
};

const KEY: &str = "fal-conformance-key";

async fn fal_with(tweak: impl FnOnce(&mut SimConfig)) -> RunningFal {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = SimConfig {
        key: KEY.into(),
        queue_time: Duration::from_millis(60),
        run_time: Duration::from_millis(80),
        ..Default::default()
    };
    tweak(&mut config);
    provider_sim::fal::spawn(listener, config).unwrap()
}

fn config(fal: &RunningFal) -> FalConfig {
    let preset = Preset {
        model: "kling-v3".into(),
        mode: "std".into(),
    };
    FalConfig {
        queue_url: fal.base_url(),
        api_url: fal.base_url(),
        start_timeout: Duration::from_secs(1),
        run_bound: Duration::from_secs(1),
        key: KEY.into(),
        request_timeout: Duration::from_secs(5),
        jwks_url: format!("{}/.well-known/jwks.json", fal.base_url()),
        presets: [preset.clone(), preset.clone(), preset],
    }
}

fn request(task_id: &str, prompt: &str) -> GenerationRequest {
    GenerationRequest {
        task_id: task_id.into(),
        kind: VideoType::TextToVideo,
        prompt: Some(prompt.into()),
        negative_prompt: Some("blurry".into()),
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
        audio: true,
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

fn lookup(job: &ProviderJob) -> JobLookup<'_> {
    JobLookup {
        provider: "",
        kind: VideoType::TextToVideo,
        reference: Some(&job.reference),
        handle: job.handle.as_deref(),
        task_id: "t",
        request: None,
        submitted_at: None,
    }
}

async fn wait_done(p: &FalProvider, job: &ProviderJob) -> ProviderJob {
    for _ in 0..200 {
        let now = p.lookup(lookup(job), Deadline::none()).await.unwrap();
        if matches!(now.status, JobStatus::Succeeded | JobStatus::Failed) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("fal request never finished");
}

#[tokio::test]
async fn submit_queue_status_result_and_download() {
    let fal = fal_with(|_| {}).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let first = p
        .submit(&request("a", "a fox"), Deadline::none())
        .await
        .unwrap();
    let second = p
        .submit(&request("b", "a hare"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(first.status, JobStatus::Queued);
    let handle = Handle::decode(second.handle.as_deref().unwrap()).unwrap();
    let client = FalClient::new(&config(&fal)).unwrap();
    let status = client.status(&handle, Deadline::none()).await.unwrap();
    assert_eq!(
        (status.status.as_str(), status.queue_position),
        ("IN_QUEUE", Some(1))
    );
    let done = wait_done(&p, &second).await;
    assert_eq!(done.status, JobStatus::Succeeded, "{done:?}");
    let url = done.video_url.unwrap();
    let bytes = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    let sim = fal.state.get(second.reference.as_str()).unwrap();
    assert_eq!(bytes.as_ref(), fal.state.video(&sim).unwrap().as_slice());
    let sent = &sim.input;
    assert_eq!(sim.model_id, "fal-ai/kling-video/v3/standard/text-to-video");
    assert_eq!(
        (sent["duration"].as_str(), sent["generate_audio"].as_bool()),
        (Some("5"), Some(true))
    );
    assert_eq!(sent["aspect_ratio"], "16:9");
}

/// Reads are repeated through fal's brief failures (two 503s in a row), never a submit; three
/// in a row stay an unknown outcome, not a failure.
#[tokio::test]
async fn reads_are_tried_again_through_brief_failures_submits_never() {
    let fal = fal_with(|_| {}).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let job = p
        .submit(&request("r", "a fox"), Deadline::none())
        .await
        .unwrap();
    let reads = |n| FalFaults {
        fail_next_reads: n,
        ..Default::default()
    };
    fal.state.set_faults(reads(2));
    let seen = p.lookup(lookup(&job), Deadline::none()).await;
    assert!(seen.is_ok(), "{seen:?}");
    fal.state.set_faults(reads(3));
    let seen = p.lookup(lookup(&job), Deadline::none()).await;
    assert!(
        matches!(seen, Err(ProviderError::OutcomeUnknown { .. })),
        "{seen:?}"
    );
    let submits = fal.state.counters().submit;
    fal.state.set_faults(FalFaults {
        fail_next_submits: 1,
        ..Default::default()
    });
    let sent = p.submit(&request("s", "a hare"), Deadline::none()).await;
    assert!(
        matches!(sent, Err(ProviderError::OutcomeUnknown { .. })),
        "{sent:?}"
    );
    assert_eq!(
        fal.state.counters().submit,
        submits + 1,
        "one submit, not repeated"
    );
}

#[tokio::test]
async fn fal_validation_errors_and_error_results() {
    let fal = fal_with(|_| {}).await;
    let client = FalClient::new(&config(&fal)).unwrap();
    let model = "fal-ai/kling-video/v2.6/pro/text-to-video";
    let bad = client
        .submit(
            model,
            &json!({"prompt": "p", "duration": "12"}),
            None,
            Deadline::none(),
        )
        .await
        .unwrap_err();
    let FalError::Http { status, detail, .. } = bad else {
        panic!("{bad}")
    };
    let detail: Value = serde_json::from_str(&detail).unwrap();
    assert_eq!(
        (status, &detail["detail"][0]["loc"][1]),
        (422, &json!("duration"))
    );
    let unknown = client
        .submit(
            "fal-ai/kling-video/v1.6/pro/text-to-video",
            &json!({"prompt": "p"}),
            None,
            Deadline::none(),
        )
        .await;
    assert!(matches!(unknown, Err(FalError::Http { status: 404, .. })));

    let p = FalProvider::new(&config(&fal)).unwrap();
    let mut v26 = request("c", "p");
    v26.model.model = "kling-v2-6".into();
    v26.duration_seconds = 12;
    assert!(
        matches!(p.check(&v26), Err(ProviderError::Unsupported { .. })),
        "refused before fal"
    );
    let failing = p
        .submit(
            &request("d", "x [fal:error=content_policy_violation]"),
            Deadline::none(),
        )
        .await
        .unwrap();
    let done = wait_done(&p, &failing).await;
    assert_eq!(done.status, JobStatus::Failed);
    assert!(
        done.failure
            .unwrap()
            .starts_with("content_policy_violation")
    );
    fal.state.set_faults(FalFaults {
        fail_next_submits: 1,
        ..Default::default()
    });
    let before = fal.state.counters().submit;
    let err = p
        .submit(&request("e", "p"), Deadline::none())
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::OutcomeUnknown { .. }), "{err}");
    assert_eq!(
        fal.state.counters().submit - before,
        1,
        "never resubmitted blind"
    );
}

#[tokio::test]
async fn cancel_in_the_queue_and_after_completion() {
    let fal = fal_with(|c| c.queue_time = Duration::from_millis(800)).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let queued = p
        .submit(&request("q", "p"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(
        p.cancel(lookup(&queued), Deadline::none()).await,
        Ok(CancelOutcome::Canceled)
    );
    let after = p.lookup(lookup(&queued), Deadline::none()).await.unwrap();
    assert_eq!(after.status, JobStatus::Failed, "{after:?}");
    // fal accepts the cancel but a worker has the request: it runs on, so it is not canceled.
    let mut faults = fal.state.faults();
    faults.ignore_cancels = true;
    fal.state.set_faults(faults);
    let runs_on = p
        .submit(&request("q2", "p"), Deadline::none())
        .await
        .unwrap();
    assert_eq!(
        p.cancel(lookup(&runs_on), Deadline::none()).await,
        Ok(CancelOutcome::AlreadyStarted)
    );
    assert_eq!(wait_done(&p, &runs_on).await.status, JobStatus::Succeeded);
    let fal = fal_with(|_| {}).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let job = p
        .submit(&request("r", "p"), Deadline::none())
        .await
        .unwrap();
    wait_done(&p, &job).await;
    assert_eq!(
        p.cancel(lookup(&job), Deadline::none()).await,
        Ok(CancelOutcome::AlreadyStarted)
    );
    let unknown = JobLookup {
        provider: "",
        kind: VideoType::TextToVideo,
        reference: None,
        handle: None,
        task_id: "x",
        request: None,
        submitted_at: None,
    };
    assert!(matches!(
        p.lookup(unknown, Deadline::none()).await,
        Err(ProviderError::OutcomeUnknown { .. })
    ));
}

type Seen = Arc<Mutex<Vec<(http::HeaderMap, Vec<u8>)>>>;

async fn sink() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: http::HeaderMap, body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, seen)
}

async fn one_webhook(fal: &RunningFal, p: &FalProvider, id: &str) -> (http::HeaderMap, Vec<u8>) {
    let (url, seen) = sink().await;
    let mut req = request(id, "p");
    req.callback_url = Some(url);
    let job = p.submit(&req, Deadline::none()).await.unwrap();
    wait_done(p, &job).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1 + fal.state.faults().repeat_webhooks as usize);
    got[0].clone()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[tokio::test]
async fn webhooks_good_missing_stale_wrong_key_and_rotated() {
    let fal = fal_with(|c| c.signing_seeds = vec![[3; 32], [4; 32]]).await;
    fal.state.set_faults(FalFaults {
        published_keys: Some(1),
        ..Default::default()
    });
    let p = FalProvider::new(&config(&fal)).unwrap();
    let keys = FalKeys::from_url(&config(&fal).jwks_url).with_min_refetch(Duration::ZERO);
    let (headers, body) = one_webhook(&fal, &p, "w1").await;
    assert_eq!(keys.check(&headers, &body, now()).await, Ok(()));
    let hint = shared::provider::fal::parse_callback(&body).unwrap();
    assert_eq!(hint.status, JobStatus::Succeeded);
    assert_eq!(
        keys.check(&headers, b"{\"forged\":1}", now()).await,
        Err(Rejected::BadSignature)
    );
    assert_eq!(
        keys.check(&headers, &body, now() + 301).await,
        Err(Rejected::Stale)
    );
    let mut missing = headers.clone();
    missing.remove("x-fal-webhook-signature");
    assert_eq!(
        keys.check(&missing, &body, now()).await,
        Err(Rejected::Missing)
    );
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[5; 32]).verifying_key();
    let wrong = FalKeys::fixed(vec![stranger]);
    assert_eq!(
        wrong.check(&headers, &body, now()).await,
        Err(Rejected::BadSignature)
    );
    // fal publishes a second key and signs with it: the cached set fails, a fetch finds it.
    fal.state.set_faults(FalFaults {
        active_key: 1,
        published_keys: Some(2),
        repeat_webhooks: 2,
        ..Default::default()
    });
    let (headers, body) = one_webhook(&fal, &p, "w2").await;
    assert_eq!(
        keys.check(&headers, &body, now()).await,
        Ok(()),
        "rotated key found on refetch"
    );
}

/// A lookup for a submit whose answer never came, as dispatch makes it.
fn lost<'a>(req: &'a GenerationRequest, ago: Duration) -> JobLookup<'a> {
    JobLookup {
        provider: "fal",
        kind: VideoType::TextToVideo,
        reference: None,
        handle: None,
        task_id: &req.task_id,
        request: Some(req),
        submitted_at: Some(shared::domain::timestamp::Timestamp::now() - ago),
    }
}

fn unknown(answer: &Result<ProviderJob, ProviderError>) -> bool {
    matches!(answer, Err(ProviderError::OutcomeUnknown { .. }))
}

/// fal has no lookup by our id. Once every request fal could have taken from a submit has
/// ended (request timeout + start timeout + run bound, 7 s here), its listing of finished
/// requests says whether fal got it: absent (a 500 that queued nothing) is `NotFound`, to be sent again; queued
/// with its answer lost, or unreadable (no payloads kept), it stays unknown.
#[tokio::test]
async fn a_lost_submit_is_found_absent_or_left_to_fals_webhook() {
    let fal = fal_with(|_| {}).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    fal.state.set_faults(FalFaults {
        fail_next_submits: 1,
        ..Default::default()
    });
    let never = request("never", "a fox that never reached fal");
    assert!(unknown(
        &p.submit(&never, Deadline::none())
            .await
            .map(|_| unreachable!())
    ));
    let early = p
        .lookup(lost(&never, Duration::ZERO), Deadline::none())
        .await;
    assert!(
        unknown(&early),
        "inside the window it stays unknown: {early:?}"
    );
    let late = p
        .lookup(lost(&never, Duration::from_secs(8)), Deadline::none())
        .await;
    assert_eq!(late, Err(ProviderError::NotFound), "fal never got it");

    fal.state.set_faults(FalFaults {
        lose_next_submit_answers: 1,
        ..Default::default()
    });
    let queued = request("queued", "a hare fal queued");
    assert!(p.submit(&queued, Deadline::none()).await.is_err());
    let id = fal.state.all().last().unwrap().id.clone();
    for _ in 0..100 {
        if fal.state.get(&id).unwrap().completed_at_ms.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = p
        .lookup(lost(&queued, Duration::from_secs(8)), Deadline::none())
        .await;
    match &held {
        Err(ProviderError::OutcomeUnknown { reason }) => assert!(reason.contains(&id), "{reason}"),
        other => panic!("fal holds it: {other:?}"),
    }
    fal.state.set_faults(FalFaults {
        list_without_payloads: true,
        ..Default::default()
    });
    let blind = request("blind", "a fox that never reached fal");
    let answer = p
        .lookup(lost(&blind, Duration::from_secs(8)), Deadline::none())
        .await;
    assert!(
        unknown(&answer),
        "no inputs listed: cannot tell: {answer:?}"
    );
}

/// `X-Fal-Request-Timeout` goes with every submit: a request fal has not started by then ends
/// with `request_timeout` (so a lost submit's request has always ended by the window's end).
#[tokio::test]
async fn a_request_not_started_in_time_ends_with_request_timeout() {
    let fal = fal_with(|c| c.queue_time = Duration::from_secs(5)).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let job = p
        .submit(&request("slow", "a fox"), Deadline::none())
        .await
        .unwrap();
    let sim = fal.state.get(job.reference.as_str()).unwrap();
    assert_eq!(sim.start_timeout, Some(Duration::from_secs(1)));
    let done = wait_done(&p, &job).await;
    assert_eq!(done.status, JobStatus::Failed);
    let why = done.failure.unwrap_or_default();
    assert!(why.contains("request_timeout"), "{why}");
}

/// A job on a video fal made: its URL is all fal needs (fal names no video of its own).
fn on_video(task_id: &str, kind: VideoType, url: &str, seconds: f64) -> GenerationRequest {
    GenerationRequest {
        kind,
        prompt: Some("make it snow on @video_1".into()),
        negative_prompt: None,
        image: Some("https://example.com/dancer.png".into()),
        orientation: Some(shared::domain::generation::Orientation::Video),
        source: Some(shared::provider::SourceVideo {
            task_id: None,
            made_by: "fal".into(),
            provider_video_id: None,
            url: Some(url.into()),
            duration_seconds: seconds,
        }),
        ..request(task_id, "")
    }
}

/// Motion control and Kling O3's edit on fal: the model id follows the kind, the preset and
/// its mode; fal-sim fetches the video by URL and makes one as long as it. An edit of a video
/// longer than fal's 10 s is refused before any submit; a "video" that is not one is fal's 422
/// on `video_url`, a request not created (never an unknown outcome).
#[tokio::test]
async fn motion_control_and_o3_edits_are_as_long_as_their_video() {
    let fal = fal_with(|_| {}).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let src = p
        .submit(&request("src", "a dancer"), Deadline::none())
        .await
        .unwrap();
    let url = wait_done(&p, &src).await.video_url.expect("a source video");
    let cases = [
        (
            VideoType::MotionControl,
            "fal-ai/kling-video/v3/standard/motion-control",
        ),
        (
            VideoType::OmniEdit,
            "fal-ai/kling-video/o3/standard/video-to-video/edit",
        ),
    ];
    for (kind, model_id) in cases {
        let r = on_video(kind.as_str(), kind, &url, 5.0);
        p.check(&r).unwrap();
        let job = p.submit(&r, Deadline::none()).await.unwrap();
        let done = wait_done(&p, &job).await;
        assert_eq!(done.status, JobStatus::Succeeded, "{kind:?}: {done:?}");
        let made = fal.state.get(job.reference.as_str()).unwrap();
        assert_eq!(made.model_id, model_id);
        assert_eq!(made.duration, 5, "{kind:?}: as long as its video");
        assert_eq!(made.input["video_url"], url.as_str());
        assert_eq!(made.input["prompt"], "make it snow on @Video1");
    }
    let edits = fal.state.all();
    let edit = edits
        .iter()
        .find(|r| r.model_id.ends_with("/edit"))
        .unwrap();
    assert_eq!(edit.input["keep_audio"], true);
    assert_eq!(
        edit.input["image_urls"][0],
        "https://example.com/dancer.png"
    );

    let too_long = on_video("long", VideoType::OmniEdit, &url, 11.0);
    match p.check(&too_long) {
        Err(ProviderError::Unsupported { feature, .. }) => {
            assert_eq!(feature, shared::provider::Feature::Duration)
        }
        other => panic!("{other:?}"),
    }
    let not_a_video = format!("{}/.well-known/jwks.json", fal.base_url());
    let r = on_video("junk", VideoType::MotionControl, &not_a_video, 5.0);
    match p.submit(&r, Deadline::none()).await {
        Err(ProviderError::NotCreated { reason }) => {
            assert!(reason.contains("video_url"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fal.state.all().len(), 3, "the source and one of each kind");
}

/// The avatar, lip-sync and video-to-audio on fal: each goes to its fal model id with the
/// upload's and the video's URLs; the avatar is as long as its audio (rounded up), lip-sync and
/// sound as long as the video; sound prompts not asked go empty, never fal's sample prompts; a
/// lip-sync video over fal's 10 s is refused before any submit.
#[tokio::test]
async fn avatar_lip_sync_and_sound_are_made_from_their_uploads() {
    let fal = fal_with(|_| {}).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let src = p
        .submit(&request("src", "a speaker"), Deadline::none())
        .await
        .unwrap();
    let url = wait_done(&p, &src).await.video_url.expect("a source video");
    let voice = common::file_server(shared::domain::audio_probe::wav(3.5)).await;
    let with_voice = |kind: VideoType| GenerationRequest {
        voice: Some(shared::domain::generation::AudioInput {
            url: voice.clone(),
            duration_seconds: 3.5,
        }),
        prompt: None,
        ..on_video(kind.as_str(), kind, &url, 5.0)
    };
    let cases = [
        (
            VideoType::Avatar,
            "fal-ai/kling-video/ai-avatar/v2/standard",
            4,
        ),
        (
            VideoType::LipSync,
            "fal-ai/kling-video/lipsync/audio-to-video",
            5,
        ),
        (
            VideoType::VideoToAudio,
            "fal-ai/kling-video/video-to-audio",
            5,
        ),
    ];
    for (kind, model_id, seconds) in cases {
        let r = with_voice(kind);
        p.check(&r).unwrap();
        let job = p.submit(&r, Deadline::none()).await.unwrap();
        let done = wait_done(&p, &job).await;
        assert_eq!(done.status, JobStatus::Succeeded, "{kind:?}: {done:?}");
        let made = fal.state.get(job.reference.as_str()).unwrap();
        assert_eq!(made.model_id, model_id);
        assert_eq!(made.duration, seconds, "{kind:?}");
    }
    let v2a = fal.state.all();
    let v2a = v2a
        .iter()
        .find(|r| r.model_id.ends_with("video-to-audio"))
        .unwrap();
    assert_eq!(
        (
            &v2a.input["sound_effect_prompt"],
            &v2a.input["background_music_prompt"]
        ),
        (&json!(""), &json!(""))
    );
    let mut long = with_voice(VideoType::LipSync);
    if let Some(s) = long.source.as_mut() {
        s.duration_seconds = 12.0;
    }
    assert!(matches!(
        p.check(&long),
        Err(ProviderError::Unsupported { .. })
    ));
}

/// fal's bill by job: the account's successful requests of the day on every endpoint we send
/// to (one listing per 50 endpoints, `status=success`, the day's `start` and exclusive `end`),
/// so a failure is not in it — unless fal-sim is told to bill it anyway.
#[tokio::test]
async fn the_bill_is_the_days_successful_requests_on_every_endpoint_we_use() {
    let fal = fal_with(|_| {}).await;
    let p = FalProvider::new(&config(&fal)).unwrap();
    let mut pro = request("b", "a hare");
    pro.model.mode = Mode::Pro;
    let jobs = [
        request("a", "a fox"),
        pro,
        request("c", "a storm [fal:error=generation_error]"),
        request("d", "a flood [fal:error=generation_error][fal:bill-failed]"),
    ];
    let mut refs = Vec::new();
    for r in &jobs {
        let job = p.submit(r, Deadline::none()).await.unwrap();
        wait_done(&p, &job).await;
        refs.push(job.reference.as_str().to_string());
    }
    let today = shared::domain::bill::Day::of(time::OffsetDateTime::now_utc());
    let rows = p.bill(today, Deadline::none()).await.unwrap();
    let mut billed: Vec<&str> = rows.iter().map(|r| r.reference.as_str()).collect();
    billed.sort();
    let mut expected = vec![refs[0].as_str(), refs[1].as_str(), refs[3].as_str()];
    expected.sort();
    assert_eq!(
        billed, expected,
        "the failure fal billed anyway, not the other"
    );
    let endpoints = shared::provider::fal::endpoints();
    println!("{} endpoints: {endpoints:?}", endpoints.len());
    for id in [
        "fal-ai/kling-video/v3/standard/text-to-video",
        "fal-ai/kling-video/v3/pro/text-to-video",
        "fal-ai/kling-video/lipsync/audio-to-video",
    ] {
        assert!(endpoints.iter().any(|e| e == id), "{id}");
    }
    let yesterday = shared::domain::bill::Day::yesterday(time::OffsetDateTime::now_utc());
    let rows = p.bill(yesterday, Deadline::none()).await.unwrap();
    assert!(rows.is_empty(), "nothing ended yesterday: {rows:?}");
}

/// Two fal accounts in the pool, one worker each at fal-sim: a task claimed on `b` is sent
/// and looked up with b's key (main's key does not find it), each account runs one request at
/// a time (the second waits for the first, whatever the other account does), and each
/// account's bill lists only its own requests.
#[tokio::test]
async fn a_pool_sends_each_fal_task_to_its_own_account_and_its_workers() {
    let fal = fal_with(|c| {
        c.workers = Some(1);
        c.accounts.push(provider_sim::fal::FalAccount {
            name: "b".into(),
            key: "fal-b-key".into(),
            workers: Some(1),
        });
    })
    .await;
    let (base, jwks) = (
        fal.base_url(),
        format!("{}/.well-known/jwks.json", fal.base_url()),
    );
    let env: std::collections::HashMap<&str, &str> = [
        ("PROVIDER", "fal"),
        ("FAL_QUEUE_URL", base.as_str()),
        ("FAL_API_URL", base.as_str()),
        ("FAL_JWKS_URL", jwks.as_str()),
        ("FAL_KEY", KEY),
        (
            "PROVIDER_ACCOUNTS",
            r#"[{"provider":"fal","name":"b","capacity":1}]"#,
        ),
        ("ACCOUNT_fal_b_FAL_KEY", "fal-b-key"),
    ]
    .into();
    let settings = shared::provider::composite::ProviderSettings::from_source(&env).unwrap();
    let p = settings.provider().unwrap();
    let on = |id: &str, account: &str| GenerationRequest {
        account: account.into(),
        provider: "fal".into(),
        ..request(id, "a kite")
    };
    let requests = [
        on("m1", "main"),
        on("m2", "main"),
        on("b1", "b"),
        on("b2", "b"),
    ];
    let mut jobs = Vec::new();
    for r in &requests {
        jobs.push(p.submit(r, Deadline::none()).await.unwrap());
    }
    let made = |job: &ProviderJob| fal.state.get(job.reference.as_str()).unwrap();
    let accounts: Vec<String> = jobs.iter().map(|j| made(j).account).collect();
    assert_eq!(accounts, ["main", "main", "b", "b"]);
    for (r, job) in requests.iter().zip(&jobs) {
        let mut of = lookup(job);
        (of.provider, of.request) = ("fal", Some(r));
        for _ in 0..200 {
            let now = p.lookup(of, Deadline::none()).await.unwrap();
            if now.status == JobStatus::Succeeded {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let mut of_b = lookup(&jobs[2]);
    (of_b.provider, of_b.request) = ("fal", Some(&requests[0]));
    let err = p.lookup(of_b, Deadline::none()).await.unwrap_err();
    assert_eq!(
        err,
        ProviderError::NotFound,
        "main's key does not see b's request"
    );
    // One worker each: the second of an account started after the first completed.
    for pair in [[0, 1], [2, 3]] {
        let (first, second) = (made(&jobs[pair[0]]), made(&jobs[pair[1]]));
        assert!(
            second.started_at_ms >= first.completed_at_ms,
            "{first:?} {second:?}"
        );
    }
    let c = fal.state.counters();
    println!(
        "fal accounts: running at most {:?}, unfinished at most {:?}",
        c.max_running_by_account, c.max_unfinished_by_account
    );
    assert_eq!(c.max_running_by_account.get("main"), Some(&1));
    assert_eq!(c.max_running_by_account.get("b"), Some(&1));
    assert_eq!(c.max_unfinished_by_account.get("b"), Some(&2));
    let today = shared::domain::bill::Day::of(time::OffsetDateTime::now_utc());
    use shared::provider::Bills as _;
    let bill = p
        .bill("fal", "b", today, Deadline::none())
        .await
        .unwrap()
        .unwrap();
    let mut listed: Vec<&str> = bill.iter().map(|r| r.reference.as_str()).collect();
    listed.sort();
    let mut of_b: Vec<&str> = jobs[2..].iter().map(|j| j.reference.as_str()).collect();
    of_b.sort();
    assert_eq!(listed, of_b, "b's bill is b's requests");
}
