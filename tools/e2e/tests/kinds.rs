//! Job kinds beyond prompt/image → clip, through the local stack (moto, provider-sim and fal-sim
//! over HTTP): each kind goes to a provider that offers it, is priced by its own rule, and a
//! kind no configured provider offers is refused before anything is charged.

mod common;

use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{Api, assert_envelope, start, store};
use serde_json::{Value, json};
use shared::ports::{Accounts, Tasks};

fn photo() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/photo-640x480.png");
    std::fs::read(path).unwrap()
}

/// Ask for an upload URL and PUT the photo there, as an app would.
async fn upload_photo(api: &Api, token: &str) -> String {
    upload(api, token, "image/png", photo()).await
}

/// Ask for an upload URL and PUT these bytes there.
async fn upload(api: &Api, token: &str, content_type: &str, bytes: Vec<u8>) -> String {
    let body = json!({"content_type": content_type, "bytes": bytes.len()});
    let (status, _, grant) = api.post("/v1/uploads", Some(token), None, &body).await;
    assert_eq!(status, 201, "{grant}");
    let put = api
        .http
        .put(grant["url"].as_str().unwrap())
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "PUT {}", put.status());
    grant["upload_id"].as_str().unwrap().to_string()
}

/// One of the caller's videos, made from a prompt and SUCCEEDED: the source later kinds work on.
async fn finished_video(api: &Api, token: &str, prompt: &str) -> String {
    let (status, _, src) = api.create(token, "src", &common::t2v(prompt)).await;
    assert_eq!(status, 202, "{src}");
    let id = src["id"].as_str().unwrap().to_string();
    assert_eq!(api.wait_terminal(token, &id).await["status"], "SUCCEEDED");
    id
}

fn effect(scene: &str, upload_id: &str) -> Value {
    json!({"type": "effect", "scene": scene, "image": {"upload_id": upload_id},
        "rights_confirmed": true})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_effect_is_made_by_klings_effects_api_stored_and_priced_per_generation() {
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token("effector").unwrap();
    let upload = upload_photo(&api, &token).await;

    let (status, _, task) = api
        .create(&token, "fx-1", &effect("pet_lion_pro", &upload))
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["type"], "effect");
    assert_eq!(
        task["cost_units"], 5.0,
        "the configured per-generation price"
    );
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");

    let made = stack
        .sim
        .state
        .find("effects", &id)
        .expect("Kling's effects task");
    assert_eq!(made.request["effect_scene"], "pet_lion_pro");
    let image = made.request["input"]["image"].as_str().unwrap();
    assert!(image.starts_with("http"), "the photo goes by URL: {image}");
    assert_eq!(stack.sim.state.task_count(), 1, "one provider job");

    let item = store(&stack).get_task(&id).await.unwrap().unwrap();
    let video = item.video.expect("the video is stored");
    let seconds = video.duration_seconds.expect("duration read from the file");
    assert!((seconds - 5.0).abs() < 0.5, "a 5-second clip: {seconds}");
    let url = done["video"]["url"].as_str().unwrap();
    let stored = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    let served = stack.sim.state.video_bytes(&made).unwrap();
    assert!(
        common::provider_part(&stored) == served.as_slice(),
        "the stored video is Kling's"
    );

    // A two-photo scene: left and right go to Kling as `input.images`.
    let right = upload_photo(&api, &token).await;
    let hug = json!({"type": "effect", "scene": "hug_pro", "rights_confirmed": true,
        "images": [{"upload_id": upload}, {"upload_id": right}]});
    let (status, _, task) = api.create(&token, "fx-2", &hug).await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(api.wait_terminal(&token, &id).await["status"], "SUCCEEDED");
    let made = stack.sim.state.find("effects", &id).unwrap();
    let images = made.request["input"]["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{}", made.request);
    assert!(made.request["input"].get("image").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_effect_is_refused_by_name_and_nothing_is_charged() {
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token("careless").unwrap();
    let upload = upload_photo(&api, &token).await;
    let with = |extra: Value| {
        let mut body = effect("pet_lion_pro", &upload);
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (with(json!({"scene": "hug_pro"})), "scene_not_available"),
        (
            with(json!({"scene": "magic_match_tree"})),
            "scene_not_available",
        ),
        (with(json!({"scene": "Not A Scene"})), "invalid_scene"),
        (with(json!({"prompt": "a lion"})), "field_not_for_kind"),
        (with(json!({"duration": 3})), "duration_not_supported"),
        (with(json!({"rights_confirmed": null})), "consent_required"),
        (
            json!({"type": "effect", "scene": "pet_lion_pro"}),
            "image_required",
        ),
        (
            json!({"type": "text_to_video", "prompt": "x", "scene": "pet_lion_pro"}),
            "field_not_for_kind",
        ),
    ];
    for (n, (body, code)) in cases.into_iter().enumerate() {
        let (status, _, err) = api.create(&token, &format!("bad-{n}"), &body).await;
        assert_eq!(status, 422, "{body}: {err}");
        assert_envelope(&err, code);
    }
    assert!(store(&stack).ledger("careless").await.unwrap().is_empty());
    assert_eq!(stack.sim.state.task_count(), 0, "nothing reached Kling");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kind_only_kling_offers_is_refused_on_fal_and_routed_to_kling_past_it() {
    let fal_only = start(|o| o.extra_env.push(("PROVIDER".into(), "fal".into()))).await;
    let api = Api::new(&fal_only);
    let token = fal_only.token("faller").unwrap();
    let upload = upload_photo(&api, &token).await;
    let body = effect("pet_lion_pro", &upload);
    let (status, _, err) = api.create(&token, "fx-fal", &body).await;
    assert_eq!(status, 422, "{err}");
    assert_envelope(&err, "kind_not_available");
    let (status, _, estimate) = api
        .post("/v1/videos/estimate", Some(&token), None, &body)
        .await;
    assert_eq!(status, 200, "{estimate}");
    assert_eq!(estimate["allowed"], false, "{estimate}");
    assert_eq!(
        estimate["reasons"][0]["code"], "kind_not_available",
        "{estimate}"
    );
    assert!(fal_only.fal.state.all().is_empty(), "nothing sent to fal");
    assert!(store(&fal_only).ledger("faller").await.unwrap().is_empty());
    drop(fal_only);

    let both = start(|o| o.extra_env.push(("PROVIDER".into(), "fal,kling".into()))).await;
    let api = Api::new(&both);
    let token = both.token("router").unwrap();
    let upload = upload_photo(&api, &token).await;
    let (status, _, task) = api
        .create(&token, "fx-both", &effect("pet_lion_pro", &upload))
        .await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    assert_eq!(
        store(&both).get_task(&id).await.unwrap().unwrap().provider,
        "kling"
    );
    assert!(both.fal.state.all().is_empty(), "fal offers no effects");
    assert!(both.sim.state.find("effects", &id).is_some());
}

fn sound_for(id: &str, prompt: &str) -> Value {
    json!({"type": "video_to_audio", "source": {"video_id": id}, "prompt": prompt,
        "music_prompt": "slow piano"})
}

/// Sound for a video: Kling gets its own video id while it keeps the video and our stored copy's
/// URL past that (Kling-sim fetches it and reads its length); the result is stored, as long as
/// its source, and charged by it; another user's video is 404 with nothing charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sound_for_a_video_names_it_by_klings_id_then_by_our_copy_and_is_stored() {
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token("sounder").unwrap();
    let src_id = finished_video(&api, &token, "a quiet harbour").await;

    let (status, _, task) = api
        .create(&token, "v2a-1", &sound_for(&src_id, "gulls and waves"))
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(
        (task["type"].as_str(), task["cost_units"].as_f64()),
        (Some("video_to_audio"), Some(5.0))
    );
    assert_eq!(task["source_task"], src_id.as_str());
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let made = stack
        .sim
        .state
        .find("video-to-audio", &id)
        .expect("Kling's task");
    let kling_src = stack.sim.state.find("text2video", &src_id).unwrap();
    assert_eq!(made.request["video_id"], kling_src.video_id().as_str());
    assert!(made.request.get("video_url").is_none(), "{}", made.request);
    assert_eq!(made.request["bgm_prompt"], "slow piano");
    let item = store(&stack).get_task(&id).await.unwrap().unwrap();
    let seconds = item.video.unwrap().duration_seconds.unwrap();
    assert!(
        (seconds - 5.0).abs() < 0.5,
        "as long as its source: {seconds}"
    );

    // 40 days on, Kling no longer keeps the source: our copy goes by URL.
    let forty_days_ago = shared::domain::timestamp::Timestamp::now()
        - std::time::Duration::from_secs(40 * 24 * 3600);
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .update_item()
        .table_name(stack.resource("TasksTable").unwrap())
        .key("pk", AttributeValue::S(format!("TASK#{src_id}")))
        .key("sk", AttributeValue::S("TASK".into()))
        .update_expression("SET completed_at = :t")
        .expression_attribute_values(":t", AttributeValue::S(forty_days_ago.to_string()))
        .send()
        .await
        .unwrap();
    let (status, _, task) = api
        .create(&token, "v2a-2", &sound_for(&src_id, "a ship's horn"))
        .await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let made = stack.sim.state.find("video-to-audio", &id).unwrap();
    assert!(made.request.get("video_id").is_none(), "{}", made.request);
    let url = made.request["video_url"].as_str().unwrap();
    assert!(url.contains(&src_id), "our stored copy: {url}");

    let other = stack.token("stranger").unwrap();
    let (status, _, err) = api
        .create(&other, "steal", &sound_for(&src_id, "theft"))
        .await;
    assert_eq!(status, 404, "{err}");
    assert_envelope(&err, "not_found");
    assert!(store(&stack).ledger("stranger").await.unwrap().is_empty());
    assert_eq!(
        stack.sim.state.task_count(),
        3,
        "one job each, none for the stranger"
    );
}

/// `make demo KIND=…` runs every kind: each ends stored, byte for byte what the emulator served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_runs_every_kind() {
    // One stack per set of settings the kinds need (Omni edits run on Kling's standard API).
    type Settings = Vec<(String, String)>;
    let mut groups: Vec<(Settings, Vec<&str>)> = Vec::new();
    for kind in devstack::demo::KINDS {
        let settings = devstack::demo::settings_for(kind);
        match groups.iter_mut().find(|(s, _)| *s == settings) {
            Some((_, kinds)) => kinds.push(kind),
            None => groups.push((settings, vec![kind])),
        }
    }
    assert_eq!(groups.len(), 2, "{groups:?}");
    for (settings, kinds) in groups {
        let stack = start(|o| o.extra_env.extend(settings.clone())).await;
        demo_each(&stack, &kinds).await;
    }
}

async fn demo_each(stack: &devstack::stack::Stack, kinds: &[&str]) {
    for &kind in kinds {
        let outcome = devstack::demo::run(stack, std::time::Duration::from_secs(120), kind)
            .await
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(outcome.task["type"], kind);
        assert_eq!(
            outcome.task["status"], "SUCCEEDED",
            "{kind}: {}",
            outcome.task
        );
        let stored = outcome.stored_bytes.expect("stored");
        let served = outcome.served_bytes.expect("served by the emulator");
        // Not assert_eq: a mismatch would print megabytes.
        assert!(
            common::provider_part(&stored) == served.as_slice(),
            "{kind}: the stored video is the provider's"
        );
        assert_eq!(devstack::demo::manifest_state(&stored).unwrap(), "Trusted");
    }
}

fn reference(seconds: u32) -> Vec<u8> {
    use provider_sim::video::{Aspect, Resolution, render};
    render(Aspect::Portrait, Resolution::P720, seconds).unwrap()
}

/// Motion control through the stack, on Kling's legacy and standard APIs: a photo and a
/// reference video uploaded as an app would, Kling fetches both by URL, and the stored result is
/// as long as the reference; a reference that is too long or not a video is refused before
/// anything is charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn motion_control_moves_a_photo_as_the_uploaded_reference_moves() {
    for style in ["standard", "legacy"] {
        let stack = start(|o| o.extra_env.push(("KLING_API_STYLE".into(), style.into()))).await;
        motion_control_on(&stack, style).await;
    }
}

async fn motion_control_on(stack: &devstack::stack::Stack, style: &str) {
    let api = Api::new(stack);
    let token = stack.token_with_plan("dancer", "pro").unwrap();
    let photo = upload_photo(&api, &token).await;
    let seven = upload(&api, &token, "video/mp4", reference(7)).await;
    let body = |source: &str, orientation: &str| {
        json!({"type": "motion_control", "image": {"upload_id": photo}, "source": {"upload_id": source},
            "orientation": orientation, "prompt": "dancing in the rain", "rights_confirmed": true})
    };
    let (status, _, task) = api.create(&token, "mc-1", &body(&seven, "video")).await;
    assert_eq!(status, 202, "{style}: {task}");
    assert_eq!(task["duration"], 7);
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{style}: {done}");
    let made = stack
        .sim
        .state
        .find("motion-control", &id)
        .expect("Kling's task");
    let urls: Vec<&str> = match style {
        "legacy" => ["image_url", "video_url"]
            .iter()
            .filter_map(|f| made.request[*f].as_str())
            .collect(),
        _ => made.request["contents"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["url"].as_str())
            .collect(),
    };
    assert_eq!(urls.len(), 2, "{style}: {}", made.request);
    assert!(
        urls.iter().all(|u| u.starts_with("http")),
        "{}",
        made.request
    );
    let stored = store(stack)
        .get_task(&id)
        .await
        .unwrap()
        .unwrap()
        .video
        .unwrap();
    let seconds = stored.duration_seconds.unwrap();
    assert!(
        (seconds - 7.0).abs() < 0.5,
        "{style}: as long as the reference: {seconds}"
    );

    let twelve = upload(&api, &token, "video/mp4", reference(12)).await;
    let junk = upload(&api, &token, "video/mp4", b"not a video at all".to_vec()).await;
    let cases = [
        (body(&twelve, "image"), "source_duration"),
        (body(&junk, "video"), "invalid_video"),
    ];
    refused_free_of_charge(stack, &token, "dancer", cases).await;
    assert_eq!(
        stack.sim.state.task_count(),
        1,
        "nothing else reached Kling"
    );
}

/// An avatar through the stack: a photo and a WAV uploaded as an app would, Kling fetches the
/// audio by URL, and the stored video is as long as the audio; audio over 300 s or not audio is
/// refused before anything is charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_avatar_speaks_the_uploaded_audio_for_as_long_as_it_lasts() {
    use shared::domain::audio_probe::wav;
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("speaker", "pro").unwrap();
    let photo = upload_photo(&api, &token).await;
    let speech = upload(&api, &token, "audio/wav", wav(6.0)).await;
    let body = |voice: &str| {
        json!({"type": "avatar", "image": {"upload_id": photo}, "voice": {"upload_id": voice},
            "prompt": "smiling, nodding", "rights_confirmed": true})
    };
    let (status, _, task) = api.create(&token, "av-1", &body(&speech)).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["duration"], 6);
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(&token, &id).await;
    assert_eq!(done["status"], "SUCCEEDED", "{done}");
    let made = stack
        .sim
        .state
        .find("avatar", &id)
        .expect("Kling's avatar task");
    assert!(
        made.request["sound_file"]
            .as_str()
            .unwrap()
            .starts_with("http")
    );
    let stored = store(&stack)
        .get_task(&id)
        .await
        .unwrap()
        .unwrap()
        .video
        .unwrap();
    let seconds = stored.duration_seconds.unwrap();
    assert!(
        (seconds - 6.0).abs() < 0.5,
        "as long as the audio: {seconds}"
    );

    let long = upload(&api, &token, "audio/wav", wav(301.0)).await;
    let noise = upload(&api, &token, "audio/mpeg", b"not audio".to_vec()).await;
    let cases = [
        (body(&long), "audio_duration"),
        (body(&noise), "invalid_audio"),
    ];
    refused_free_of_charge(&stack, &token, "speaker", cases).await;
}

/// Each body is refused with its code, and nothing is charged for any of them.
async fn refused_free_of_charge<const N: usize>(
    stack: &devstack::stack::Stack,
    token: &str,
    user: &str,
    cases: [(Value, &str); N],
) {
    let api = Api::new(stack);
    let ledger = store(stack).ledger(user).await.unwrap().len();
    for (n, (body, code)) in cases.into_iter().enumerate() {
        let (status, _, err) = api.create(token, &format!("refused-{n}"), &body).await;
        assert_eq!(status, 422, "{err}");
        assert_envelope(&err, code);
    }
    let after = store(stack).ledger(user).await.unwrap().len();
    assert_eq!(after, ledger, "nothing charged");
}

/// Every kind is refunded when its generation fails, once, in full; and the estimate of each
/// kind is what it was charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_kind_estimates_what_it_charges_and_is_refunded_when_it_fails() {
    use shared::domain::audio_probe::wav;
    use shared::ports::LedgerKind;
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("unlucky", "pro").unwrap();
    let src_id = finished_video(&api, &token, "a quiet harbour").await;
    let photo = upload_photo(&api, &token).await;
    let dance = upload(&api, &token, "video/mp4", reference(5)).await;
    let speech = upload(&api, &token, "audio/wav", wav(4.0)).await;
    stack.sim.state.set_faults(provider_sim::Faults {
        fail_rate: 1.0,
        ..Default::default()
    });
    let bodies = [
        effect("pet_lion_pro", &photo),
        sound_for(&src_id, "waves"),
        json!({"type": "motion_control", "image": {"upload_id": photo},
            "source": {"upload_id": dance}, "rights_confirmed": true}),
        json!({"type": "avatar", "image": {"upload_id": photo}, "voice": {"upload_id": speech},
            "rights_confirmed": true}),
        json!({"type": "lip_sync", "source": {"video_id": src_id}, "voice": {"upload_id": speech},
            "rights_confirmed": true}),
    ];
    // One at a time: the plan allows three in flight.
    let mut ids = Vec::new();
    for (n, body) in bodies.iter().enumerate() {
        let (_, _, estimate) = api
            .post("/v1/videos/estimate", Some(&token), None, body)
            .await;
        let (status, _, task) = api.create(&token, &format!("fail-{n}"), body).await;
        assert_eq!(status, 202, "{task}");
        assert_eq!(
            estimate["cost_units"], task["cost_units"],
            "{}: estimate = charge",
            task["type"]
        );
        let id = task["id"].as_str().unwrap().to_string();
        let done = api.wait_terminal(&token, &id).await;
        assert_eq!(done["status"], "FAILED", "{done}");
        ids.push((id, task["cost_units"].clone()));
    }
    let entries = store(&stack).ledger("unlucky").await.unwrap();
    for (id, cost) in ids {
        let of = |kind| {
            entries
                .iter()
                .filter(|e| e.task_id.as_str() == id && e.kind == kind)
                .map(|e| e.units.as_f64())
                .collect::<Vec<_>>()
        };
        let units = cost.as_f64().unwrap();
        assert_eq!(of(LedgerKind::Debit), [units], "{id}: charged once");
        assert_eq!(
            of(LedgerKind::Refund),
            [units],
            "{id}: refunded once, in full"
        );
    }
}

fn edit_of(source: Value) -> Value {
    json!({"type": "omni_edit", "source": source, "prompt": "make it snow on @video_1",
        "rights_confirmed": true})
}

/// An Omni edit through the stack on Kling's standard API: one of the caller's videos and an
/// upload, each sent by URL as Kling's base video; the stored result is as long as the video and
/// charged by it, what the estimate said; another user's video is 404, a long one or a non-video
/// is refused, a failed edit is refunded once — none of those charged; on `/v1` the kind is
/// `kind_not_available`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_omni_edit_changes_your_video_on_klings_standard_api() {
    let stack = start(|o| {
        o.extra_env
            .push(("KLING_API_STYLE".into(), "standard".into()))
    })
    .await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("editor", "pro").unwrap();
    let src_id = finished_video(&api, &token, "a quiet harbour").await;
    let four = upload(&api, &token, "video/mp4", reference(4)).await;
    for (n, (source, seconds)) in [
        (json!({"video_id": src_id}), 5.0),
        (json!({"upload_id": four}), 4.0),
    ]
    .into_iter()
    .enumerate()
    {
        let body = edit_of(source);
        let (_, _, estimate) = api
            .post("/v1/videos/estimate", Some(&token), None, &body)
            .await;
        let (status, _, task) = api.create(&token, &format!("edit-{n}"), &body).await;
        assert_eq!(status, 202, "{task}");
        assert_eq!(
            estimate["cost_units"], task["cost_units"],
            "estimate = charge"
        );
        let id = task["id"].as_str().unwrap().to_string();
        assert_eq!(api.wait_terminal(&token, &id).await["status"], "SUCCEEDED");
        let made = stack
            .sim
            .state
            .find("omni-video", &id)
            .expect("Kling's Omni task");
        let base = &made.request["contents"][1];
        assert_eq!(base["type"], "base_video", "{}", made.request);
        assert!(base["url"].as_str().unwrap().starts_with("http"));
        let stored = store(&stack)
            .get_task(&id)
            .await
            .unwrap()
            .unwrap()
            .video
            .unwrap();
        let got = stored.duration_seconds.unwrap();
        assert!((got - seconds).abs() < 0.5, "as long as the video: {got}");
    }
    let stranger = stack.token("stranger").unwrap();
    let (status, _, err) = api
        .create(&stranger, "theirs", &edit_of(json!({"video_id": src_id})))
        .await;
    assert_eq!(status, 404, "{err}");
    assert!(
        store(&stack).ledger("stranger").await.unwrap().is_empty(),
        "nothing charged"
    );
    let long = upload(&api, &token, "video/mp4", reference(16)).await;
    let junk = upload(&api, &token, "video/mp4", b"not a video at all".to_vec()).await;
    let cases = [
        (edit_of(json!({"upload_id": long})), "source_duration"),
        (edit_of(json!({"upload_id": junk})), "invalid_video"),
    ];
    refused_free_of_charge(&stack, &token, "editor", cases).await;

    stack.sim.state.set_faults(provider_sim::Faults {
        fail_rate: 1.0,
        ..Default::default()
    });
    let (_, _, task) = api
        .create(&token, "edit-fails", &edit_of(json!({"upload_id": four})))
        .await;
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(api.wait_terminal(&token, &id).await["status"], "FAILED");
    let entries = store(&stack).ledger("editor").await.unwrap();
    let refunds: Vec<f64> = entries
        .iter()
        .filter(|e| e.task_id.as_str() == id && e.kind == shared::ports::LedgerKind::Refund)
        .map(|e| e.units.as_f64())
        .collect();
    assert_eq!(
        refunds,
        [task["cost_units"].as_f64().unwrap()],
        "refunded once, in full"
    );

    stack.sim.state.set_faults(provider_sim::Faults::default());
    four_k_on(&stack, &api, &token).await;

    let legacy = start(|_| {}).await;
    let (api, token) = (
        Api::new(&legacy),
        legacy.token_with_plan("editor", "pro").unwrap(),
    );
    let clip = upload(&api, &token, "video/mp4", reference(4)).await;
    let uhd = json!({"type": "text_to_video", "prompt": "a lighthouse", "model": "kling-v3",
        "resolution": "4k"});
    let cases = [
        (edit_of(json!({"upload_id": clip})), "kind_not_available"),
        (uhd, "resolution_not_supported"),
    ];
    refused_free_of_charge(&legacy, &token, "editor", cases).await;
}

/// 4K on Kling's standard API: charged at the 4K tier, sent as `settings.resolution: 4k`, shown
/// on the task, and billed by kling-sim what the catalogue expects (3.0 units a second).
async fn four_k_on(stack: &devstack::stack::Stack, api: &Api, token: &str) {
    let body = json!({"type": "text_to_video", "prompt": "a lighthouse at dawn",
        "model": "kling-v3", "quality": "pro", "resolution": "4k"});
    let (status, _, task) = api.create(token, "uhd-1", &body).await;
    assert_eq!((status, &task["cost_units"]), (202, &json!(25.0)), "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let done = api.wait_terminal(token, &id).await;
    assert_eq!(
        (&done["status"], &done["resolution"]),
        (&json!("SUCCEEDED"), &json!("4k")),
        "{done}"
    );
    let made = stack
        .sim
        .state
        .find("text2video", &id)
        .expect("Kling's task");
    assert_eq!(made.request["settings"]["resolution"], "4k");
    let stored = store(stack).get_task(&id).await.unwrap().unwrap();
    assert_eq!(stored.provider_facts.billed_units.as_deref(), Some("15"));
}

/// A lip-sync through the stack on Kling's `/v1`: one of the caller's videos (Kling identifies
/// the face by its own id for it) and an uploaded WAV; the stored video is as long as the video,
/// not the audio; another user's video is 404, audio over 60 s is refused — nothing charged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lip_sync_makes_your_video_speak_the_uploaded_audio() {
    use shared::domain::audio_probe::wav;
    let stack = start(|_| {}).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("singer", "pro").unwrap();
    let src_id = finished_video(&api, &token, "a singer on a stage").await;
    let speech = upload(&api, &token, "audio/wav", wav(3.0)).await;
    let body = |video: &str, voice: &str| {
        json!({"type": "lip_sync", "source": {"video_id": video}, "voice": {"upload_id": voice},
            "rights_confirmed": true})
    };
    let (status, _, task) = api.create(&token, "ls-1", &body(&src_id, &speech)).await;
    assert_eq!((status, &task["duration"]), (202, &json!(5)), "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(api.wait_terminal(&token, &id).await["status"], "SUCCEEDED");
    let made = stack
        .sim
        .state
        .find("advanced-lip-sync", &id)
        .expect("Kling's lip-sync");
    assert_eq!(
        made.request["face_choose"][0]["sound_end_time"], 3000,
        "{}",
        made.request
    );
    let stored = store(&stack)
        .get_task(&id)
        .await
        .unwrap()
        .unwrap()
        .video
        .unwrap();
    let got = stored.duration_seconds.unwrap();
    assert!((got - 5.0).abs() < 0.5, "as long as the video: {got}");

    let stranger = stack.token("stranger").unwrap();
    let theirs = upload(&api, &stranger, "audio/wav", wav(3.0)).await;
    let (status, _, err) = api
        .create(&stranger, "theirs", &body(&src_id, &theirs))
        .await;
    assert_eq!(status, 404, "{err}");
    assert!(
        store(&stack).ledger("stranger").await.unwrap().is_empty(),
        "nothing charged"
    );
    let long = upload(&api, &token, "audio/wav", wav(61.0)).await;
    refused_free_of_charge(
        &stack,
        &token,
        "singer",
        [(body(&src_id, &long), "audio_duration")],
    )
    .await;
}

/// The stored video of a finished task and its length.
async fn stored_seconds(stack: &devstack::stack::Stack, id: &str) -> f64 {
    let task = store(stack).get_task(id).await.unwrap().unwrap();
    task.video
        .and_then(|v| v.duration_seconds)
        .expect("a stored video")
}

/// The fal request our task became (fal knows it by its own request id).
async fn fal_request_of(stack: &devstack::stack::Stack, id: &str) -> provider_sim::fal::FalRequest {
    let task = store(stack).get_task(id).await.unwrap().unwrap();
    let reference = task.provider_ref.expect("fal's request id");
    stack.fal.state.get(reference.as_str()).expect("fal has it")
}

/// fal sells motion control, Kling O3's edit, the avatar, lip-sync and video-to-audio: through
/// the stack on fal alone, fal-sim fetches the uploads and our stored copy of a fal-made video by
/// URL, and each stored result is as long as its input (the avatar as its audio). With
/// `PROVIDER=kling,fal` (Kling's `/v1`, which has no Omni edit) an edit of a Kling-made video
/// goes to fal, estimated as allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_kind_fal_sells_runs_on_fal_and_goes_there_past_a_kling_without_it() {
    use shared::domain::audio_probe::wav;
    let stack = start(|o| o.extra_env.push(("PROVIDER".into(), "fal".into()))).await;
    let api = Api::new(&stack);
    let token = stack.token_with_plan("faldancer", "pro").unwrap();
    let photo = upload_photo(&api, &token).await;
    let seven = upload(&api, &token, "video/mp4", reference(7)).await;
    let speech = upload(&api, &token, "audio/wav", wav(6.0)).await;
    let motion = json!({"type": "motion_control", "image": {"upload_id": photo},
        "source": {"upload_id": seven}, "prompt": "dancing in the rain", "rights_confirmed": true});
    let avatar = json!({"type": "avatar", "image": {"upload_id": photo},
        "voice": {"upload_id": speech}, "rights_confirmed": true});
    let src_id = finished_video(&api, &token, "a quiet harbour").await;
    let src = json!({"video_id": src_id});
    let lips = json!({"type": "lip_sync", "source": src, "voice": {"upload_id": speech},
        "rights_confirmed": true});
    for (key, body, seconds, model) in [
        ("fal-mc", motion, 7.0, "/motion-control"),
        (
            "fal-edit",
            edit_of(src.clone()),
            5.0,
            "/video-to-video/edit",
        ),
        ("fal-avatar", avatar, 6.0, "/ai-avatar/v2/standard"),
        ("fal-lips", lips, 5.0, "/lipsync/audio-to-video"),
        (
            "fal-sound",
            sound_for(&src_id, "gulls"),
            5.0,
            "/video-to-audio",
        ),
    ] {
        let (status, _, task) = api.create(&token, key, &body).await;
        assert_eq!(status, 202, "{key}: {task}");
        let id = task["id"].as_str().unwrap().to_string();
        let done = api.wait_terminal(&token, &id).await;
        assert_eq!(done["status"], "SUCCEEDED", "{key}: {done}");
        let made = fal_request_of(&stack, &id).await;
        assert!(made.model_id.ends_with(model), "{}", made.model_id);
        let url = |f: &str| {
            made.input[f]
                .as_str()
                .is_some_and(|u| u.starts_with("http"))
        };
        assert!(url("video_url") || url("audio_url"), "{}", made.input);
        let stored = stored_seconds(&stack, &id).await;
        assert!((stored - seconds).abs() < 0.5, "{key}: {stored} s");
    }
    drop(stack);

    let both = start(|o| o.extra_env.push(("PROVIDER".into(), "kling,fal".into()))).await;
    let api = Api::new(&both);
    let token = both.token_with_plan("router", "pro").unwrap();
    let src_id = finished_video(&api, &token, "a harbour at dusk").await;
    let body = edit_of(json!({"video_id": src_id}));
    let (status, _, estimate) = api
        .post("/v1/videos/estimate", Some(&token), None, &body)
        .await;
    assert_eq!(
        (status, &estimate["allowed"]),
        (200, &json!(true)),
        "{estimate}"
    );
    let (status, _, task) = api.create(&token, "edit-routed", &body).await;
    assert_eq!(status, 202, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(api.wait_terminal(&token, &id).await["status"], "SUCCEEDED");
    let task = store(&both).get_task(&id).await.unwrap().unwrap();
    assert_eq!(task.provider, "fal", "Kling's /v1 has no Omni edit");
    assert!(fal_request_of(&both, &id).await.model_id.ends_with("/edit"));
    assert_eq!(
        both.sim.state.task_count(),
        1,
        "only the source reached Kling"
    );
}
