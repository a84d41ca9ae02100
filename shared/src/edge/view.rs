//! The task as the app sees it (`GET /v1/videos/{id}`, and the `202` of a create).

use serde::Serialize;

use crate::domain::task::{
    AspectRatio, CostUnits, Quality, Task, TaskError, TaskStatus, VideoType, progress,
};

/// Typical generation time, for the progress estimate.
pub const TYPICAL_GENERATION_SECS: u64 = 300;

#[derive(Debug, Serialize, PartialEq)]
pub struct VideoView {
    pub url: String,
    pub expires_at: String,
    pub bytes: u64,
    pub duration_seconds: Option<f64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub content_type: String,
    /// A JPEG still of the video at its size, signed like the video; absent until the
    /// poster job has made it (a second or two after the task succeeded).
    pub poster_url: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct TaskView {
    pub id: String,
    pub status: TaskStatus,
    pub label: &'static str,
    pub progress: u8,
    #[serde(rename = "type")]
    pub video_type: VideoType,
    pub prompt: Option<String>,
    pub duration: u32,
    pub aspect_ratio: Option<AspectRatio>,
    pub quality: Quality,
    /// Native sound was asked for.
    pub audio: bool,
    /// Multi-shot: each shot's prompt and length.
    pub shots: Option<Vec<ShotView>>,
    /// As the app sent it, for reproducing the request.
    pub seed: Option<u64>,
    pub element_ids: Vec<String>,
    pub cost_units: CostUnits,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    /// When the app deleted the stored video.
    pub deleted_at: Option<String>,
    pub error: Option<TaskError>,
    pub ai_generated: bool,
    pub video: Option<VideoView>,
    /// While the task waits for the provider's capacity.
    pub queue: Option<QueueView>,
    /// The template version and fields that made the prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<crate::domain::task::TemplateUse>,
    /// The variations group (`GET /v1/videos?group=`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Answered from the result cache: the task whose stored video this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cached_from: Option<String>,
    /// The draft this task re-runs at a higher quality.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upgraded_from: Option<String>,
    /// The effect scene (`effect`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene: Option<String>,
    /// The caller's earlier video this task works on (`video_to_audio`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_task: Option<String>,
    /// `4k` when asked for; absent for the quality's own resolution.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<&'static str>,
    /// The task's status stream (Server-Sent Events), a link signed for its owner; absent
    /// where no stream is deployed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_url: Option<String>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct ShotView {
    pub prompt: String,
    pub duration: u32,
}

/// Where a waiting task stands in line.
#[derive(Debug, Serialize, PartialEq)]
pub struct QueueView {
    /// 1 for the next task to be submitted.
    pub position: u32,
    pub estimated_start_at: String,
}

/// The line position, and when the task should start: each slot of the provider's capacity
/// finishes about one typical generation at a time.
pub fn queue_view(ahead: u32, capacity: u32, now: time::OffsetDateTime) -> QueueView {
    let rounds = u64::from(ahead / capacity.max(1));
    let wait = std::time::Duration::from_secs(rounds * TYPICAL_GENERATION_SECS);
    QueueView {
        position: ahead + 1,
        estimated_start_at: crate::domain::timestamp::rfc3339(now + wait),
    }
}

/// A short-lived link to the stored video, and one to its poster signed alike.
pub struct PresignedLink {
    pub url: String,
    pub expires_at: String,
    pub poster_url: Option<String>,
}

pub fn task_view(task: &Task, link: Option<PresignedLink>, now: time::OffsetDateTime) -> TaskView {
    let running_for = task
        .submitted_at
        .map(|t| (now - t.datetime()).whole_seconds().max(0) as u64)
        .unwrap_or(0);
    let video = match (&task.video, link) {
        (Some(v), Some(link)) if task.status == TaskStatus::Succeeded => Some(VideoView {
            url: link.url,
            expires_at: link.expires_at,
            bytes: v.bytes,
            duration_seconds: v.duration_seconds,
            width: v.width,
            height: v.height,
            content_type: v.content_type.clone(),
            poster_url: link.poster_url,
        }),
        _ => None,
    };
    TaskView {
        id: task.id.to_string(),
        status: task.status,
        label: task.status.label(),
        progress: progress(task.status, running_for, TYPICAL_GENERATION_SECS),
        video_type: task.video_type,
        prompt: task.prompt.clone(),
        duration: task.duration,
        aspect_ratio: task.aspect_ratio,
        quality: task.quality,
        audio: task.request.as_ref().is_some_and(|r| r.audio),
        shots: task
            .request
            .as_ref()
            .filter(|r| !r.shots.is_empty())
            .map(|r| {
                r.shots
                    .iter()
                    .map(|s| ShotView {
                        prompt: s.prompt.clone(),
                        duration: s.duration_seconds,
                    })
                    .collect()
            }),
        seed: task.request.as_ref().and_then(|r| r.seed),
        element_ids: task
            .request
            .as_ref()
            .map(|r| r.elements.clone())
            .unwrap_or_default(),
        cost_units: task.cost_units,
        created_at: task.created_at.to_string(),
        updated_at: task.updated_at.to_string(),
        completed_at: task.completed_at.map(|t| t.to_string()),
        deleted_at: task.deleted_at.map(|t| t.to_string()),
        error: task.error.clone(),
        ai_generated: true,
        video,
        queue: None,
        template: task.template.clone(),
        group_id: task.group_id.clone(),
        cached_from: task.cached_from.as_ref().map(|id| id.to_string()),
        upgraded_from: task.upgraded_from.as_ref().map(|id| id.to_string()),
        scene: task.request.as_ref().and_then(|r| r.scene.clone()),
        source_task: task.source_task.as_ref().map(|id| id.to_string()),
        resolution: task.request.as_ref().filter(|r| r.four_k).map(|_| "4k"),
        events_url: None,
    }
}

/// When a presigned link is signed and when it expires. Links are signed at the start of a
/// window of a third of their lifetime, so the URL (and so the ETag of a view that carries it)
/// stays the same within a window: an app told `304 Not Modified` keeps a URL that is still
/// valid for at least two thirds of the lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkWindow {
    pub signed_at: time::OffsetDateTime,
    pub expires_at: time::OffsetDateTime,
}

pub fn link_window(now: time::OffsetDateTime, ttl: std::time::Duration) -> LinkWindow {
    let window = (ttl.as_secs() / 3).max(1) as i64;
    let start = now.unix_timestamp().div_euclid(window) * window;
    let signed_at = time::OffsetDateTime::from_unix_timestamp(start).unwrap_or(now);
    LinkWindow {
        signed_at,
        expires_at: signed_at + ttl,
    }
}

/// The status-stream link of a task for its owner, stable within a link window (so the view's
/// ETag holds) and valid for at least `ttl` after it is handed out.
pub fn events_url(
    stream: &crate::runtime::config::StreamConfig,
    task: &Task,
    now: time::OffsetDateTime,
    ttl: std::time::Duration,
) -> String {
    let expires = link_window(now, ttl).expires_at + ttl / 2;
    crate::edge::stream_token::stream_url(
        &stream.url,
        &stream.secret,
        task.id.as_str(),
        task.user_id.as_str(),
        expires.unix_timestamp(),
    )
}

/// How soon an app polling an unfinished task should ask again (`Retry-After`, seconds).
pub fn poll_hint_secs(status: TaskStatus) -> Option<u64> {
    match status {
        TaskStatus::Created => Some(2),
        TaskStatus::Queued => Some(5),
        TaskStatus::Running => Some(10),
        TaskStatus::Finalizing => Some(3),
        TaskStatus::Succeeded | TaskStatus::Failed | TaskStatus::Canceled => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap()
    }

    #[test]
    fn link_window_table() {
        let ttl = Duration::from_secs(900);
        // (now, signed_at): windows of 300 s.
        let cases = [(0, 0), (299, 0), (300, 300), (1_000_001, 999_900)];
        for (now, signed) in cases {
            let w = link_window(at(now), ttl);
            assert_eq!(w.signed_at, at(signed), "now {now}");
            assert_eq!(w.expires_at, at(signed + 900), "now {now}");
            // Whatever the moment, the link outlives the window by two thirds of its lifetime.
            assert!(w.expires_at - at(now) >= time::Duration::seconds(600));
        }
    }

    #[test]
    fn poll_hints() {
        use TaskStatus::*;
        let cases = [
            (Created, Some(2)),
            (Queued, Some(5)),
            (Running, Some(10)),
            (Finalizing, Some(3)),
            (Succeeded, None),
            (Failed, None),
            (Canceled, None),
        ];
        for (status, want) in cases {
            assert_eq!(poll_hint_secs(status), want, "{status:?}");
        }
    }
}
