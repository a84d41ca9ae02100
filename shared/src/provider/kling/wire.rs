//! Kling's JSON shapes (`docs/providers.md` §Legacy API). Durations go on the wire as strings.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Text2VideoRequest {
    pub model_name: String,
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f32>,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera_control: Option<CameraControl>,
    pub aspect_ratio: String,
    pub duration: String,
    #[serde(flatten)]
    pub extras: Extras,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

/// Sound, shots and elements: the v2.6/v3 fields both kinds take (`docs/providers.md` §Extras).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Extras {
    /// `on` for native sound (v2.6 pro, v3); absent means Kling's default, silent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_shot: Option<bool>,
    /// `customize` when the shots are ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shot_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multi_prompt: Option<Vec<ShotPrompt>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub element_list: Option<Vec<ElementRef>>,
}

/// One shot of a multi-shot video (`multi_prompt[]`); `index` counts from 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShotPrompt {
    pub index: u32,
    pub prompt: String,
    pub duration: String,
}

/// A character or object reference (`element_list[]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ElementRef {
    pub element_id: String,
}

/// An image input: a public URL, or raw base64 with no `data:` prefix (`docs/providers.md` §Images).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ImageInput {
    Url(String),
    Base64(String),
}

impl ImageInput {
    pub fn as_str(&self) -> &str {
        match self {
            ImageInput::Url(s) | ImageInput::Base64(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraType {
    Simple,
    DownBack,
    ForwardUp,
    RightTurnForward,
    LeftTurnForward,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CameraConfig {
    #[serde(default)]
    pub horizontal: f32,
    #[serde(default)]
    pub vertical: f32,
    #[serde(default)]
    pub pan: f32,
    #[serde(default)]
    pub tilt: f32,
    #[serde(default)]
    pub roll: f32,
    #[serde(default)]
    pub zoom: f32,
}

impl CameraConfig {
    pub fn values(&self) -> [f32; 6] {
        [
            self.horizontal,
            self.vertical,
            self.pan,
            self.tilt,
            self.roll,
            self.zoom,
        ]
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraControl {
    #[serde(rename = "type")]
    pub camera_type: CameraType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<CameraConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrajectoryPoint {
    pub x: i32,
    pub y: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DynamicMask {
    pub mask: ImageInput,
    pub trajectories: Vec<TrajectoryPoint>,
}

/// `POST /v1/videos/effects`: a scene and its input (one photo for the one-photo scenes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectsRequest {
    pub effect_scene: String,
    pub input: EffectInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

/// One photo (`image`) for the one-photo scenes, exactly two (`images`: left, right) for the
/// two-photo ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EffectInput {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub images: Option<Vec<ImageInput>>,
}

/// `POST /v1/videos/motion-control`: the character photo moved as the person in the reference
/// video moves; the output is as long as the reference (3-30 s; 3-10 s keeping the photo's
/// orientation).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MotionControlRequest {
    pub model_name: String,
    pub image_url: String,
    pub video_url: String,
    /// `image` or `video`.
    pub character_orientation: String,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

/// `POST /v1/videos/avatar/image2video`: one photo speaking an audio track (2-300 s; mp3, wav,
/// m4a or aac, at most 5 MB, by URL or base64), as long as the audio.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AvatarRequest {
    pub image: String,
    pub sound_file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

/// `POST /v1/audio/video-to-audio`: sound for a 3-20 s video named by Kling's id (a video it
/// made in the last 30 days) or given by URL (mp4/mov, at most 100 MB), exactly one of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VideoToAudioRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub video_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sound_effect_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bgm_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image2VideoRequest {
    pub model_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_tail: Option<ImageInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f32>,
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub static_mask: Option<ImageInput>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dynamic_masks: Option<Vec<DynamicMask>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera_control: Option<CameraControl>,
    pub duration: String,
    #[serde(flatten)]
    pub extras: Extras,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_task_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderStatus {
    Submitted,
    Processing,
    Succeed,
    Failed,
    #[serde(other)]
    Unknown,
}

impl ProviderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderStatus::Submitted => "submitted",
            ProviderStatus::Processing => "processing",
            ProviderStatus::Succeed => "succeed",
            ProviderStatus::Failed => "failed",
            ProviderStatus::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TaskInfo {
    #[serde(default)]
    pub external_task_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VideoResult {
    pub id: String,
    pub url: String,
    #[serde(default)]
    pub duration: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TaskResult {
    #[serde(default)]
    pub videos: Vec<VideoResult>,
}

/// A task as Kling reports it (query response `data`, and the bare callback body).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct KlingTask {
    pub task_id: String,
    pub task_status: ProviderStatus,
    #[serde(default)]
    pub task_status_msg: Option<String>,
    #[serde(default)]
    pub task_info: Option<TaskInfo>,
    #[serde(default)]
    pub task_result: Option<TaskResult>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// Units Kling billed (a decimal string; "0" for a failed task).
    #[serde(default)]
    pub final_unit_deduction: Option<String>,
    /// The envelope's `request_id` of the answer this came in (not part of the task).
    #[serde(skip)]
    pub request_id: Option<String>,
}

/// What a task's state means, including a failure hidden in a 200 answer.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskOutcome<'a> {
    Pending(ProviderStatus),
    Succeeded(&'a VideoResult),
    Failed(String),
}

impl KlingTask {
    pub fn outcome(&self) -> TaskOutcome<'_> {
        match (self.task_status, self.first_video()) {
            (ProviderStatus::Succeed, Some(video)) => TaskOutcome::Succeeded(video),
            (ProviderStatus::Succeed, None) => {
                TaskOutcome::Failed("Kling reported success without a video".into())
            }
            (ProviderStatus::Failed, _) => TaskOutcome::Failed(
                self.task_status_msg
                    .clone()
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "Kling reported the task as failed".into()),
            ),
            (status, _) => TaskOutcome::Pending(status),
        }
    }

    pub fn external_task_id(&self) -> Option<&str> {
        self.task_info.as_ref()?.external_task_id.as_deref()
    }

    pub fn first_video(&self) -> Option<&VideoResult> {
        self.task_result.as_ref()?.videos.first()
    }
}

/// `{code, message, request_id, data}`; error bodies carry no `data`.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    pub code: i64,
    #[serde(default)]
    pub message: String,
    /// Kling's id for this request, to quote to its support.
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default = "Option::default")]
    pub data: Option<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_query_shape() {
        let raw = r#"{"code":0,"message":"SUCCEED","request_id":"r","data":{
            "task_id":"833446756123456789","task_status":"succeed","task_status_msg":"",
            "task_info":{"external_task_id":"ours-1"},
            "task_result":{"videos":[{"id":"v1","url":"https://cdn/x/output.mp4","duration":"5.041"}]},
            "created_at":1722769557708,"updated_at":1722769557708}}"#;
        let env: Envelope<KlingTask> = serde_json::from_str(raw).unwrap();
        let task = env.data.unwrap();
        assert_eq!(task.task_status, ProviderStatus::Succeed);
        assert_eq!(task.external_task_id(), Some("ours-1"));
        assert_eq!(
            task.first_video().unwrap().duration.as_deref(),
            Some("5.041")
        );
    }

    #[test]
    fn failure_inside_a_200_and_empty_intermediate_result() {
        let raw = r#"{"task_id":"1","task_info":{},"task_result":{},"task_status":"failed","task_status_msg":"Image pixel is invalid"}"#;
        let t: KlingTask = serde_json::from_str(raw).unwrap();
        assert_eq!(t.task_status, ProviderStatus::Failed);
        assert_eq!(t.task_status_msg.as_deref(), Some("Image pixel is invalid"));
        assert_eq!(
            t.outcome(),
            TaskOutcome::Failed("Image pixel is invalid".into())
        );
        assert!(t.first_video().is_none());
    }

    #[test]
    fn duration_is_a_string_on_the_wire() {
        let req = Text2VideoRequest {
            model_name: "kling-v2-5-turbo".into(),
            prompt: "p".into(),
            negative_prompt: None,
            cfg_scale: None,
            mode: "std".into(),
            camera_control: None,
            aspect_ratio: "16:9".into(),
            duration: "5".into(),
            extras: Extras::default(),
            callback_url: None,
            external_task_id: Some("t".into()),
        };
        let v = serde_json::to_value(&req).unwrap();
        assert_eq!(v["duration"], "5");
        assert!(v.get("negative_prompt").is_none());
        assert!(
            v.get("model").is_none(),
            "never the deprecated `model` field"
        );
    }
}
