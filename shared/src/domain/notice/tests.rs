use super::*;

fn task(status: &str, video: bool) -> Task {
    let mut v = json!({
        "id": "t1", "user_id": "alice", "status": status, "type": "text_to_video",
        "duration": 5, "quality": "standard", "model": "kling-v2-6", "mode": "std",
        "cost_units": 500, "created_at": "2026-11-26T10:00:00.000Z",
        "updated_at": "2026-11-26T10:05:00.000Z",
    });
    if video {
        v["video"] = json!({"key": "videos/alice/t1.mp4", "bytes": 10, "sha256": "ab",
            "content_type": "video/mp4"});
    }
    serde_json::from_value(v).unwrap()
}

#[test]
fn a_change_is_an_event_only_when_the_status_moves() {
    let running = task("RUNNING", false);
    let succeeded = task("SUCCEEDED", true);
    let cases: [(Option<&Task>, Option<&Task>, Option<&str>); 5] = [
        (None, Some(&running), Some("t1.running")),
        (Some(&running), Some(&succeeded), Some("t1.succeeded")),
        (Some(&running), Some(&running), None),
        (Some(&succeeded), Some(&succeeded), None),
        (Some(&succeeded), None, None),
    ];
    for (old, new, want) in cases {
        let got = status_event(old, new).map(|e| e.event_id);
        assert_eq!(got.as_deref(), want, "{old:?} -> {new:?}");
    }
    let e = status_event(Some(&running), Some(&succeeded)).unwrap();
    assert_eq!(e.video_key.as_deref(), Some("videos/alice/t1.mp4"));
    assert_eq!(
        (e.cost_units, e.user_id.as_str()),
        (CostUnits(50000), "alice")
    );
}

#[test]
fn only_terminal_statuses_go_on_the_bus_and_to_devices() {
    let cases = [
        ("CREATED", None),
        ("QUEUED", None),
        ("RUNNING", None),
        ("FINALIZING", None),
        ("SUCCEEDED", Some("Video Succeeded")),
        ("FAILED", Some("Video Failed")),
        ("CANCELED", Some("Video Canceled")),
    ];
    for (status, want) in cases {
        let e = status_event(None, Some(&task(status, false))).unwrap();
        assert_eq!(detail_type(e.status), want, "{status}");
        let push = push_message(Platform::Fcm, &e, &PushText::default());
        assert_eq!(push.is_some(), want.is_some(), "{status}");
    }
}

#[test]
fn a_push_carries_the_task_and_event_ids_in_the_platforms_own_shape() {
    let e = status_event(None, Some(&task("SUCCEEDED", true))).unwrap();
    let text = PushText::default();
    for (platform, key, ids_at) in [
        (Platform::Apns, "APNS", "/video"),
        (Platform::ApnsSandbox, "APNS_SANDBOX", "/video"),
        (Platform::Fcm, "GCM", "/data"),
    ] {
        let outer: serde_json::Value =
            serde_json::from_str(&push_message(platform, &e, &text).unwrap()).unwrap();
        assert_eq!(outer["default"], "Your video is ready.");
        let inner: serde_json::Value = serde_json::from_str(outer[key].as_str().unwrap()).unwrap();
        let ids = inner.pointer(ids_at).unwrap();
        assert_eq!(
            (ids["task_id"].as_str(), ids["event_id"].as_str()),
            (Some("t1"), Some("t1.succeeded"))
        );
    }
}

#[test]
fn webhook_payload_follows_the_standard_shape() {
    let e = status_event(None, Some(&task("FAILED", false))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&webhook_payload(&e)).unwrap();
    assert_eq!(v["type"], "video.failed");
    assert_eq!(v["timestamp"], "2026-11-26T10:05:00.000Z");
    assert_eq!(v["data"]["event_id"], "t1.failed");
}

#[test]
fn failed_deliveries_back_off_exponentially_for_a_day_then_dead_letter() {
    let p = RetryPolicy {
        first_delay: Duration::from_secs(30),
        max_delay: Duration::from_secs(3600),
        window: Duration::from_secs(24 * 3600),
    };
    let first = Timestamp::parse("2026-11-26T00:00:00Z").unwrap();
    let at = |secs: i64| Timestamp::from(first.datetime() + time::Duration::seconds(secs));
    let cases = [
        (1, 30, NextAttempt::After(Duration::from_secs(30))),
        (2, 60, NextAttempt::After(Duration::from_secs(60))),
        (3, 120, NextAttempt::After(Duration::from_secs(120))),
        (8, 4000, NextAttempt::After(Duration::from_secs(3600))),
        (40, 80_000, NextAttempt::After(Duration::from_secs(3600))),
        (41, 84_000, NextAttempt::DeadLetter),
        (2, -50, NextAttempt::After(Duration::from_secs(60))),
    ];
    for (failures, elapsed, want) in cases {
        assert_eq!(
            next_attempt(p, failures, first, at(elapsed)),
            want,
            "{failures} after {elapsed}s"
        );
    }
}
