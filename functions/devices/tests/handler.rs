//! devices' handler with in-memory ports.

use devices::{App, Registration, handle, validate};
use serde_json::{Value, json};
use shared::aws::PlatformApps;
use shared::edge::auth::AuthMode;
use shared::ports::Devices;
use shared::testing::{HttpEvent, MemoryPush, MemoryStore, response_parts};

const APNS_TOKEN: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
const FCM_TOKEN: &str = "cX9fKq2nR0a:APA91bH-token_for_tests";

fn app() -> App<MemoryStore, MemoryPush> {
    App {
        store: MemoryStore::default(),
        push: MemoryPush::default(),
        apps: PlatformApps {
            apns: Some("arn:aws:sns:us-east-1:123456789012:app/APNS/ios".into()),
            apns_sandbox: None,
            fcm: Some("arn:aws:sns:us-east-1:123456789012:app/GCM/android".into()),
        },
        auth: AuthMode::Authorizer,
        live_activities: true,
    }
}

async fn call(app: &App<MemoryStore, MemoryPush>, event: HttpEvent) -> (u16, Value) {
    let (status, _, body) = response_parts(handle(app, event.request()).await);
    (status, body)
}

fn register(platform: &str, token: &str) -> HttpEvent {
    HttpEvent::new("POST", "/v1/devices").json(json!({"platform": platform, "token": token}))
}

#[test]
fn registrations_are_validated_per_platform() {
    let long_hex = "ab".repeat(101);
    let cases: [(&str, &str, Result<(), &str>); 8] = [
        ("apns", APNS_TOKEN, Ok(())),
        ("apns_sandbox", APNS_TOKEN, Ok(())),
        ("fcm", FCM_TOKEN, Ok(())),
        ("webpush", APNS_TOKEN, Err("invalid_platform")),
        ("apns", "not-hex-at-all", Err("invalid_device_token")),
        ("apns", &long_hex, Err("invalid_device_token")),
        ("fcm", "short", Err("invalid_device_token")),
        (
            "fcm",
            "has spaces in it, which tokens never do",
            Err("invalid_device_token"),
        ),
    ];
    for (platform, token, want) in cases {
        let reg = Registration {
            platform: platform.into(),
            token: token.into(),
        };
        let got = validate(&reg).map(|_| ()).map_err(|e| e.code);
        assert_eq!(got, want, "{platform} {token}");
    }
}

#[tokio::test]
async fn a_device_registers_once_per_token_and_is_removed_by_its_owner() {
    let app = app();
    let (status, first) = call(&app, register("apns", APNS_TOKEN)).await;
    assert_eq!(status, 201, "{first}");
    let (_, again) = call(&app, register("apns", APNS_TOKEN)).await;
    assert_eq!(first["id"], again["id"]);
    call(&app, register("fcm", FCM_TOKEN)).await;
    assert_eq!(app.store.devices_of("alice").await.unwrap().len(), 2);

    let id = first["id"].as_str().unwrap();
    let path = format!("/v1/devices/{id}");
    let (status, body) = call(&app, HttpEvent::new("DELETE", &path).user(Some("mallory"))).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = call(&app, HttpEvent::new("DELETE", &path)).await;
    assert_eq!(status, 204);
    assert_eq!(app.store.devices_of("alice").await.unwrap().len(), 1);
    assert_eq!(app.push.deleted.lock().unwrap().len(), 1);
    assert_eq!(
        app.store.owner_of(id).await.unwrap(),
        None,
        "ownership released"
    );
    let (status, _) = call(&app, HttpEvent::new("DELETE", &path)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_registrations_get_the_envelope_and_record_nothing() {
    let app = app();
    let cases = [
        (
            register("apns_sandbox", APNS_TOKEN),
            422,
            "push_not_configured",
        ),
        (register("apns", "zz"), 422, "invalid_device_token"),
        (register("blackberry", APNS_TOKEN), 422, "invalid_platform"),
        (
            HttpEvent::new("POST", "/v1/devices").raw_body("{"),
            400,
            "malformed_request",
        ),
        (
            HttpEvent::new("POST", "/v1/devices")
                .json(json!({"platform": "fcm", "token": FCM_TOKEN, "x": 1})),
            400,
            "malformed_request",
        ),
        (
            register("fcm", FCM_TOKEN).user(None),
            401,
            "unauthenticated",
        ),
        (HttpEvent::new("GET", "/v1/devices"), 404, "route_not_found"),
    ];
    for (event, want_status, want_code) in cases {
        let (status, body) = call(&app, event).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (want_status, Some(want_code)),
            "{body}"
        );
    }
    assert!(app.store.devices_of("alice").await.unwrap().is_empty());
}

/// The same phone signed in to another account: the endpoint is the new owner's, so the first
/// user removing their record leaves it alone; the owner removing theirs deletes it.
#[tokio::test]
async fn a_previous_owner_cannot_delete_the_endpoint_that_is_now_someone_elses() {
    let app = app();
    let (_, alices) = call(&app, register("apns", APNS_TOKEN)).await;
    let (_, bobs) = call(&app, register("apns", APNS_TOKEN).user(Some("bob"))).await;
    assert_eq!(alices["id"], bobs["id"], "one token, one endpoint");
    let path = format!("/v1/devices/{}", alices["id"].as_str().unwrap());
    let (status, _) = call(&app, HttpEvent::new("DELETE", &path)).await;
    assert_eq!(status, 204);
    assert!(
        app.push.deleted.lock().unwrap().is_empty(),
        "bob's endpoint kept"
    );
    assert_eq!(app.store.devices_of("bob").await.unwrap().len(), 1);
    let (status, _) = call(&app, HttpEvent::new("DELETE", &path).user(Some("bob"))).await;
    assert_eq!(status, 204);
    assert_eq!(app.push.deleted.lock().unwrap().len(), 1);
}

async fn device_ids<S: Devices, E>(app: &App<S, E>, user: &str) -> Vec<String> {
    let devices = app.store.devices_of(user).await.unwrap();
    devices.into_iter().map(|d| d.id).collect()
}

/// A user keeps at most the cap's devices: each registration past it replaces the oldest (its
/// record and its endpoint), so a flood of registrations never grows the fan-out.
#[tokio::test]
async fn past_the_cap_the_oldest_device_is_replaced() {
    let app = app();
    let cap = devices::MAX_DEVICES_PER_USER;
    let mut ids = Vec::new();
    for n in 0..cap + 3 {
        let token = format!("{FCM_TOKEN}_{n:03}");
        let (status, body) = call(&app, register("fcm", &token)).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let kept = device_ids(&app, "alice").await;
    assert_eq!(kept.len(), cap);
    for old in &ids[..3] {
        assert!(!kept.contains(old), "the oldest went: {old}");
    }
    assert!(kept.contains(&ids[cap + 2]), "the newest stays");
    assert_eq!(app.push.deleted.lock().unwrap().len(), 3);
}

/// 10,000 registrations for one user (a script, or a stolen token) leave the cap's devices and
/// delete every replaced endpoint: notify's fan-out for that user stays at the cap.
#[tokio::test]
async fn ten_thousand_registrations_leave_the_cap() {
    let app = app();
    let cap = devices::MAX_DEVICES_PER_USER;
    let mut last = String::new();
    for n in 0..10_000 {
        let (status, body) = call(&app, register("fcm", &format!("{FCM_TOKEN}_{n:05}"))).await;
        assert_eq!(status, 201, "{body}");
        last = body["id"].as_str().unwrap().to_string();
    }
    let kept = device_ids(&app, "alice").await;
    assert_eq!(kept.len(), cap);
    assert!(kept.contains(&last), "the newest stays");
    assert_eq!(app.push.deleted.lock().unwrap().len(), 10_000 - cap);
}

const LIVE_TOKEN: &str =
    "80a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607182";

fn live(task: &str, token: &str) -> HttpEvent {
    HttpEvent::new("POST", format!("/v1/videos/{task}/live-activity")).json(json!({"token": token}))
}

#[tokio::test]
async fn the_owner_registers_a_live_activity_for_an_unfinished_task_once() {
    use shared::domain::task::TaskStatus;
    use shared::ports::LiveActivities;
    let app = app();
    let mut done = shared::testing::task_fixture("done", "alice", "fake");
    done.status = TaskStatus::Succeeded;
    shared::testing::seed_task(
        &app.store,
        &shared::testing::task_fixture("t1", "alice", "fake"),
        None,
    )
    .await;
    shared::testing::seed_task(&app.store, &done, None).await;
    let (status, body) = call(&app, live("t1", LIVE_TOKEN)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["task_id"], "t1");
    // The same token again is the same registration.
    let (status, again) = call(&app, live("t1", &LIVE_TOKEN.to_uppercase())).await;
    assert_eq!((status, &again["id"]), (201, &body["id"]));
    assert_eq!(app.store.live_activities_of("t1").await.unwrap().len(), 1);

    let bob = live("t1", LIVE_TOKEN).user(Some("bob"));
    let cases = [
        (bob, 404, "not_found"),
        (live("missing", LIVE_TOKEN), 404, "not_found"),
        (live("done", LIVE_TOKEN), 409, "task_finished"),
        (live("t1", "not-hex"), 422, "invalid_device_token"),
        (live("t1", "abcd"), 422, "invalid_device_token"),
        (
            HttpEvent::new("POST", "/v1/videos/t1/live-activity").json(json!({"tok": LIVE_TOKEN})),
            400,
            "malformed_request",
        ),
    ];
    for (event, want_status, code) in cases {
        let (status, body) = call(&app, event).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (want_status, Some(code)),
            "{body}"
        );
    }
    assert_eq!(app.store.live_activities_of("done").await.unwrap().len(), 0);
}

#[tokio::test]
async fn without_apns_a_live_activity_is_refused() {
    let mut app = app();
    app.live_activities = false;
    shared::testing::seed_task(
        &app.store,
        &shared::testing::task_fixture("t1", "alice", "fake"),
        None,
    )
    .await;
    let (status, body) = call(&app, live("t1", LIVE_TOKEN)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("push_not_configured"))
    );
}
