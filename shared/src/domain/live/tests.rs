use super::*;
use crate::domain::task::fixture::task;

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

#[test]
fn ids_grow_with_the_life_of_a_task() {
    let order = [
        TaskStatus::Created,
        TaskStatus::Queued,
        TaskStatus::Running,
        TaskStatus::Finalizing,
        TaskStatus::Succeeded,
    ];
    let ids: Vec<u32> = order
        .iter()
        .map(|s| LiveEvent::of_status(&task(*s)).id)
        .collect();
    assert_eq!(ids, [100, 200, 300, 400, 500]);
    for s in [TaskStatus::Failed, TaskStatus::Canceled] {
        assert_eq!(LiveEvent::of_status(&task(s)).id, 500);
    }
}

#[test]
fn progress_samples_fall_between_the_status_events() {
    let mut t = task(TaskStatus::Running);
    t.submitted_at = Some(ts("2026-01-01T00:00:00.000Z"));
    let running = LiveEvent::of_status(&t);
    // (seconds running, seen, expected sample id)
    let cases: [(&str, u32, Option<u32>); 6] = [
        ("2026-01-01T00:00:00.000Z", 300, None), // 10 %: the status event itself
        ("2026-01-01T00:01:00.000Z", 300, Some(326)),
        ("2026-01-01T00:01:00.000Z", 326, None), // already seen
        ("2026-01-01T00:01:00.000Z", 330, None), // the client is ahead
        ("2026-01-01T00:05:00.000Z", 0, Some(390)),
        ("2026-01-02T00:00:00.000Z", 0, Some(390)), // capped below finalizing
    ];
    for (now, seen, want) in cases {
        let got = running.progress_at(ts(now), 300, seen).map(|e| e.id);
        assert_eq!(got, want, "{now} seen {seen}");
    }
    assert!(
        LiveEvent::of_status(&task(TaskStatus::Queued))
            .progress_at(ts("2026-01-02T00:00:00.000Z"), 300, 0)
            .is_none()
    );
}

#[test]
fn frames_are_sse_with_a_kind_per_event() {
    let e = LiveEvent::of_status(&task(TaskStatus::Queued));
    let frame = e.frame("t1");
    assert!(
        frame.starts_with("id: 200\nevent: status\ndata: {"),
        "{frame}"
    );
    assert!(frame.ends_with("}\n\n"));
    assert_eq!(frame.matches('\n').count(), 4, "one data line: {frame}");
    let data: serde_json::Value =
        serde_json::from_str(frame.lines().nth(2).unwrap().trim_start_matches("data: ")).unwrap();
    assert_eq!(data["status"], "QUEUED");
    assert_eq!(data["progress"], 5);
    let mut t = task(TaskStatus::Running);
    t.submitted_at = Some(ts("2026-01-01T00:00:00.000Z"));
    let sample = LiveEvent::of_status(&t)
        .progress_at(ts("2026-01-01T00:02:00.000Z"), 300, 0)
        .unwrap();
    assert!(sample.frame("t1").starts_with("id: 342\nevent: progress\n"));
}

#[test]
fn last_event_id_reads_only_ids_we_could_have_sent() {
    let cases = [
        (None, 0),
        (Some("300"), 300),
        (Some(" 342 "), 342),
        (Some("500"), 500),
        (Some("501"), 0),
        (Some("-1"), 0),
        (Some("abc"), 0),
        (Some(""), 0),
    ];
    for (header, want) in cases {
        assert_eq!(last_event_id(header), want, "{header:?}");
    }
}

#[test]
fn progress_pushes_are_coalesced_but_the_end_is_not() {
    let at = |s: &str| ts(&format!("2026-01-01T00:00:{s}.000Z"));
    let min = Duration::from_secs(10);
    let cases = [
        (false, None, "00", true),
        (false, Some(at("00")), "05", false),
        (false, Some(at("00")), "10", true),
        (true, Some(at("00")), "01", true),
        (false, Some(at("30")), "05", false), // a clock behind the mark sends nothing
    ];
    for (terminal, last, now, want) in cases {
        assert_eq!(
            may_push(terminal, last, at(now), min),
            want,
            "{terminal} {last:?} {now}"
        );
    }
    assert!(may_push(false, Some(at("00")), at("00"), Duration::ZERO));
}

#[test]
fn live_activity_pushes_update_until_the_end_and_then_end() {
    let now = ts("2026-01-01T00:00:00.000Z");
    let at = now.datetime().unix_timestamp();
    let policy = LivePolicy::default();
    // (status, event, priority, stale-date, dismissal-date)
    let cases = [
        (TaskStatus::Queued, "update", 5, Some(at + 600), None),
        (TaskStatus::Running, "update", 10, Some(at + 600), None),
        (TaskStatus::Finalizing, "update", 5, Some(at + 600), None),
        (TaskStatus::Succeeded, "end", 10, None, Some(at + 3600)),
        (TaskStatus::Failed, "end", 10, None, Some(at + 3600)),
    ];
    for (status, event, priority, stale, dismissal) in cases {
        let e = LiveEvent::of_status(&task(status));
        let (p, body) = live_activity_push("t1", &e, now, &policy);
        let aps = &body["aps"];
        assert_eq!(p, priority, "{status:?}");
        assert_eq!(aps["event"], event, "{status:?}");
        assert_eq!(aps["timestamp"], at);
        assert_eq!(aps["stale-date"].as_i64(), stale, "{status:?}");
        assert_eq!(aps["dismissal-date"].as_i64(), dismissal, "{status:?}");
        assert_eq!(aps["content-state"]["status"], status.as_str());
        assert_eq!(aps["content-state"]["progress"], e.progress);
        assert!(aps["relevance-score"].is_number());
    }
}

#[test]
fn android_progress_is_a_data_message_collapsed_per_task() {
    let e = LiveEvent::of_status(&task(TaskStatus::Running));
    let outer: serde_json::Value =
        serde_json::from_str(&fcm_progress_message("t1", "t1.running", &e)).unwrap();
    let inner: serde_json::Value = serde_json::from_str(outer["GCM"].as_str().unwrap()).unwrap();
    let message = &inner["fcmV1Message"]["message"];
    assert_eq!(message["android"]["collapse_key"], "task-t1");
    assert!(message.get("notification").is_none(), "data only");
    assert_eq!(message["data"]["progress"], "10");
    assert_eq!(message["data"]["status"], "RUNNING");
    assert_eq!(message["data"]["event_id"], "t1.running");
}
