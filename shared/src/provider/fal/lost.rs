//! A submit whose answer never came back (a timeout, a 5xx, a crash between claiming the
//! submit and sending it): fal has no lookup by our id, so it is looked for among the requests
//! fal finished. Asked only once every request fal took must have ended (`docs/providers.md`
//! §fal, lost submits); not there means fal never got it, and it may be sent again.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;

use super::client::Listing;

/// How far fal's clock and ours may disagree.
pub const SKEW: Duration = Duration::from_secs(120);

/// What fal's listing says of one lost submit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No request fal finished was sent then with this input: fal never got it.
    Absent,
    /// fal finished requests like it (their ids): one may be ours, so its webhook decides;
    /// taking one could take another task's video (same input, same moment: variations).
    Held(Vec<String>),
    /// The listing cannot rule it out (cut short, or a request of that moment without its
    /// input).
    CannotTell(&'static str),
}

/// Whether fal's listing holds the submit we started sending at `at` (taking up to
/// `send_time`) with `sent` as its input.
pub fn find_lost_submit(
    sent: &Value,
    at: OffsetDateTime,
    send_time: Duration,
    listing: &Listing,
) -> Found {
    let (from, to) = (at - SKEW, at + send_time + SKEW);
    let mut held = Vec::new();
    let mut unreadable = false;
    for item in &listing.items {
        let when = item
            .sent_at
            .as_deref()
            .and_then(crate::domain::timestamp::parse_rfc3339);
        // A request without a readable time could be ours: judged by its input alone.
        if when.is_some_and(|t| t < from || t > to) {
            continue;
        }
        match &item.json_input {
            Some(input) if carries(input, sent) => held.push(item.request_id.clone()),
            Some(_) => {}
            None => unreadable = true,
        }
    }
    match () {
        _ if !held.is_empty() => Found::Held(held),
        _ if !listing.complete => Found::CannotTell("fal listed more requests than we read"),
        _ if unreadable => Found::CannotTell("fal listed requests of that moment without input"),
        _ => Found::Absent,
    }
}

/// Every field we sent, with the value we sent (fal may add its defaults).
fn carries(input: &Value, sent: &Value) -> bool {
    match sent.as_object() {
        Some(fields) => fields.iter().all(|(k, v)| input.get(k) == Some(v)),
        None => input == sent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::fal::client::Listed;
    use serde_json::json;

    fn listed(id: &str, sent_at: Option<&str>, input: Option<Value>) -> Listed {
        Listed {
            request_id: id.into(),
            sent_at: sent_at.map(str::to_string),
            json_input: input,
            status_code: Some(200),
        }
    }

    #[test]
    fn a_lost_submit_is_absent_only_when_nothing_of_that_moment_could_be_it() {
        let at = crate::domain::timestamp::parse_rfc3339("2026-12-04T10:00:00Z").unwrap();
        let ours = json!({"prompt": "a fox", "duration": "5"});
        let theirs = json!({"prompt": "a fox", "duration": "5", "cfg_scale": 0.5});
        let other = json!({"prompt": "a hare", "duration": "5"});
        let now = Some("2026-12-04T10:00:07Z");
        let slow = Some("2026-12-04T10:02:15Z");
        let later = Some("2026-12-04T10:05:00Z");
        let cases: [(&str, Vec<Listed>, bool, Found); 9] = [
            (
                "ours, reaching fal at the end of a slow send",
                vec![listed("r7", slow, Some(ours.clone()))],
                true,
                Found::Held(vec!["r7".into()]),
            ),
            ("nothing listed", vec![], true, Found::Absent),
            (
                "ours, with fal's defaults",
                vec![listed("r1", now, Some(theirs.clone()))],
                true,
                Found::Held(vec!["r1".into()]),
            ),
            (
                "another input",
                vec![listed("r2", now, Some(other.clone()))],
                true,
                Found::Absent,
            ),
            (
                "the same input, another moment",
                vec![listed("r3", later, Some(ours.clone()))],
                true,
                Found::Absent,
            ),
            (
                "the same input, no readable time",
                vec![listed("r4", Some("soon"), Some(ours.clone()))],
                true,
                Found::Held(vec!["r4".into()]),
            ),
            (
                "that moment, no input",
                vec![listed("r5", now, None)],
                true,
                Found::CannotTell("fal listed requests of that moment without input"),
            ),
            (
                "another moment, no input",
                vec![listed("r6", later, None)],
                true,
                Found::Absent,
            ),
            (
                "cut short",
                vec![listed("r2", now, Some(other))],
                false,
                Found::CannotTell("fal listed more requests than we read"),
            ),
        ];
        for (name, items, complete, want) in cases {
            let listing = Listing { items, complete };
            let send = Duration::from_secs(20);
            assert_eq!(find_lost_submit(&ours, at, send, &listing), want, "{name}");
        }
    }
}
