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
