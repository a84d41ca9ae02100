//! The task as the app sees it (`GET /v1/videos/{id}`, and the `202` of a create).

use serde::Serialize;

use crate::task::{
    AspectRatio, CostUnits, Quality, Task, TaskError, TaskStatus, VideoType, progress,
};
use crate::time_util;

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
    pub cost_units: CostUnits,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    /// When the app deleted the stored video.
    pub deleted_at: Option<String>,
    pub error: Option<TaskError>,
    pub ai_generated: bool,
    pub video: Option<VideoView>,
}

/// A short-lived link to the stored video.
pub struct PresignedLink {
    pub url: String,
    pub expires_at: String,
}

pub fn task_view(task: &Task, link: Option<PresignedLink>, now: time::OffsetDateTime) -> TaskView {
    let running_for = task
        .submitted_at
        .as_deref()
        .and_then(time_util::parse_rfc3339)
        .map(|t| (now - t).whole_seconds().max(0) as u64)
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
        }),
        _ => None,
    };
    TaskView {
        id: task.id.clone(),
        status: task.status,
        label: task.status.label(),
        progress: progress(task.status, running_for, TYPICAL_GENERATION_SECS),
        video_type: task.video_type,
        prompt: task.prompt.clone(),
        duration: task.duration,
        aspect_ratio: task.aspect_ratio,
        quality: task.quality,
        cost_units: task.cost_units,
        created_at: task.created_at.clone(),
        updated_at: task.updated_at.clone(),
        completed_at: task.completed_at.clone(),
        deleted_at: task.deleted_at.clone(),
        error: task.error.clone(),
        ai_generated: true,
        video,
    }
}
