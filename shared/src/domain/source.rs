//! How a job names one of the caller's earlier videos: by the provider's own id while the
//! provider that made it still keeps it, else by a URL of our stored copy
//! (`docs/providers.md` §Job kinds: Kling keeps a video nameable for 30 days).

use std::time::Duration;

use crate::domain::catalogue;
use crate::domain::task::{Task, TaskStatus};
use crate::domain::timestamp::Timestamp;

/// The largest input video we take (Kling's bound for reference and source videos).
pub const MAX_VIDEO_BYTES: u64 = 100 * 1024 * 1024;

/// The largest input audio we take (Kling's bound for avatar and lip-sync audio).
pub const MAX_AUDIO_BYTES: u64 = 5 * 1024 * 1024;

/// Taken off the provider's keep: the new task may wait in line, and clocks differ.
pub const MARGIN: Duration = Duration::from_secs(24 * 3600);

/// The provider's id for `source`'s video when `provider` made it and keeps it past `now`
/// (with the margin); `None` when only our copy can be sent.
pub fn provider_video_id<'a>(source: &'a Task, provider: &str, now: Timestamp) -> Option<&'a str> {
    let keeps = catalogue::keeps_videos(&source.provider)?;
    let done = source.completed_at?;
    let usable = source.provider == provider
        && source.status == TaskStatus::Succeeded
        && now + MARGIN < done + keeps;
    usable
        .then_some(source.provider_facts.video_id.as_deref())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_providers_id_is_used_only_while_it_keeps_the_video() {
        let day = Duration::from_secs(24 * 3600);
        let done = Timestamp::now();
        let source = |provider: &str, id: Option<&str>, status| {
            let mut t = crate::domain::task::fixture::task(status);
            t.provider = provider.into();
            t.completed_at = Some(done);
            t.provider_facts.video_id = id.map(str::to_string);
            t
        };
        let ok = TaskStatus::Succeeded;
        let cases = [
            (
                "fresh, same provider",
                source("kling", Some("v1"), ok),
                "kling",
                1,
                Some("v1"),
            ),
            (
                "28 days on",
                source("kling", Some("v1"), ok),
                "kling",
                28,
                Some("v1"),
            ),
            (
                "29 days on: the margin",
                source("kling", Some("v1"), ok),
                "kling",
                29,
                None,
            ),
            (
                "31 days on",
                source("kling", Some("v1"), ok),
                "kling",
                31,
                None,
            ),
            (
                "to another provider",
                source("kling", Some("v1"), ok),
                "fal",
                1,
                None,
            ),
            ("made by fal", source("fal", Some("v1"), ok), "fal", 1, None),
            (
                "no id recorded",
                source("kling", None, ok),
                "kling",
                1,
                None,
            ),
            (
                "not finished",
                source("kling", Some("v1"), TaskStatus::Failed),
                "kling",
                1,
                None,
            ),
        ];
        for (name, task, provider, days, want) in cases {
            let now = done + day * days;
            assert_eq!(provider_video_id(&task, provider, now), want, "{name}");
        }
    }
}
