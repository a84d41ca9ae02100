//! Kling behind the provider port, on the surface configuration names: the legacy `/v1` API
//! (mapped here) or the 2026 standard API (`standard_map`). Domain requests become wire
//! requests; wire tasks and errors become provider jobs and errors that say what to do.

use std::time::Duration;

use super::client::{KlingClient, TaskRef, VideoKind};
use super::config::KlingConfig;
use super::config::Surface;
use super::error::{ErrorKind, KlingError};
use super::lip_sync::{IdentifyFace, LipSyncJob};
use super::standard::{Ids, MAX_IDS_PER_QUERY, StandardTask};
use super::standard_map;
use super::wire::{
    AvatarRequest, CameraConfig, CameraControl, CameraType, EffectInput, EffectsRequest,
    ElementRef, Extras, Image2VideoRequest, ImageInput, KlingTask, MotionControlRequest,
    ProviderStatus, ShotPrompt, Text2VideoRequest, VideoToAudioRequest,
};
use super::wire_check;
use crate::domain::catalogue;
use crate::domain::task::{Mode, Quality, VideoType};
use crate::provider::presets::Preset;
use crate::provider::{
    CallbackError, CallbackHint, CallbackReader, CameraKind, CameraMotion, GenerationRequest,
    JobLookup, JobStatus, ModelChoice, ProviderError, ProviderJob, ProviderRef, VideoProvider,
};
use crate::runtime::deadline::Deadline;

pub const NAME: &str = "kling";

/// Kling through the configured API surface, with the configured quality presets.
pub struct KlingProvider {
    client: KlingClient,
    presets: [Preset; 3],
    surface: Surface,
}

impl KlingProvider {
    pub fn new(cfg: &KlingConfig) -> Result<Self, KlingError> {
        Ok(Self::with_client(KlingClient::new(cfg)?, cfg))
    }

    pub fn with_client(client: KlingClient, cfg: &KlingConfig) -> Self {
        let presets =
            [Quality::Draft, Quality::Standard, Quality::Pro].map(|q| cfg.preset(q).clone());
        Self {
            client,
            presets,
            surface: cfg.surface,
        }
    }

    pub fn client(&self) -> &KlingClient {
        &self.client
    }
}

fn camera(c: &CameraMotion) -> CameraControl {
    let camera_type = match c.kind {
        CameraKind::Simple => CameraType::Simple,
        CameraKind::DownBack => CameraType::DownBack,
        CameraKind::ForwardUp => CameraType::ForwardUp,
        CameraKind::RightTurnForward => CameraType::RightTurnForward,
        CameraKind::LeftTurnForward => CameraType::LeftTurnForward,
    };
    let config = c.axes.map(|a| CameraConfig {
        horizontal: a.horizontal,
        vertical: a.vertical,
        pan: a.pan,
        tilt: a.tilt,
        roll: a.roll,
        zoom: a.zoom,
    });
    CameraControl {
        camera_type,
        config,
    }
}

/// The exact Kling request for a generation request.
#[derive(Debug, Clone, PartialEq)]
pub enum WireRequest {
    Text(Text2VideoRequest),
    Image(Image2VideoRequest),
    Effect(EffectsRequest),
    VideoToAudio(VideoToAudioRequest),
    MotionControl(MotionControlRequest),
    Avatar(AvatarRequest),
    /// Two calls: the faces first (`lip_sync`).
    LipSync(LipSyncJob),
}

fn extras(r: &GenerationRequest) -> Extras {
    let shots = !r.shots.is_empty();
    Extras {
        sound: r.audio.then(|| "on".to_string()),
        multi_shot: shots.then_some(true),
        shot_type: shots.then(|| "customize".to_string()),
        multi_prompt: shots.then(|| {
            (1..)
                .zip(&r.shots)
                .map(|(index, s)| ShotPrompt {
                    index,
                    prompt: s.prompt.clone(),
                    duration: s.duration_seconds.to_string(),
                })
                .collect()
        }),
        element_list: (!r.elements.is_empty()).then(|| {
            r.elements
                .iter()
                .map(|id| ElementRef {
                    element_id: id.clone(),
                })
                .collect()
        }),
    }
}

/// Kling's own id for the source video, when Kling made it and still keeps it; else our copy's
/// URL is sent.
fn kling_video_id(r: &GenerationRequest) -> Option<&str> {
    let s = r.source.as_ref()?;
    (s.made_by == NAME).then_some(s.provider_video_id.as_deref())?
}

/// The `/v1` body for a request; a kind `/v1` does not offer (Omni edits) is refused.
pub fn wire_request(r: &GenerationRequest) -> Result<WireRequest, KlingError> {
    let external_task_id = (!r.task_id.is_empty()).then(|| r.task_id.clone());
    let mode = r.model.mode.as_str().to_string();
    let x = extras(r);
    r.check_four_k(catalogue::Surface::KlingLegacy)?;
    Ok(match r.kind {
        VideoType::OmniEdit => {
            catalogue::check_offered(r.kind, catalogue::Surface::KlingLegacy)?;
            // Only if the catalogue ever offered it on /v1 without a shape written here.
            return Err(KlingError::InvalidInput(
                "omni_edit has no /v1 shape".into(),
            ));
        }
        VideoType::MotionControl => WireRequest::MotionControl(motion_control(r, external_task_id)),
        VideoType::Avatar => WireRequest::Avatar(avatar(r, external_task_id)),
        VideoType::LipSync => WireRequest::LipSync(lip_sync(r, external_task_id)),
        VideoType::VideoToAudio => WireRequest::VideoToAudio(video_to_audio(r, external_task_id)),
        VideoType::Effect => WireRequest::Effect(EffectsRequest {
            effect_scene: r.scene.clone().unwrap_or_default(),
            input: effect_input(r),
            callback_url: r.callback_url.clone(),
            external_task_id,
        }),
        VideoType::TextToVideo => WireRequest::Text(Text2VideoRequest {
            model_name: r.model.model.clone(),
            prompt: r.prompt.clone().unwrap_or_default(),
            negative_prompt: r.negative_prompt.clone(),
            cfg_scale: r.cfg_scale,
            mode,
            camera_control: r.camera.as_ref().map(camera),
            aspect_ratio: r.aspect_ratio.map_or("16:9", |a| a.as_str()).to_string(),
            duration: r.duration_seconds.to_string(),
            extras: x.clone(),
            callback_url: r.callback_url.clone(),
            external_task_id,
        }),
        VideoType::ImageToVideo => WireRequest::Image(Image2VideoRequest {
            model_name: r.model.model.clone(),
            image: r.image.clone().map(ImageInput::Url),
            image_tail: r.image_tail.clone().map(ImageInput::Url),
            prompt: r.prompt.clone(),
            negative_prompt: r.negative_prompt.clone(),
            cfg_scale: r.cfg_scale,
            mode,
            static_mask: None,
            dynamic_masks: None,
            camera_control: r.camera.as_ref().map(camera),
            duration: r.duration_seconds.to_string(),
            extras: x.clone(),
            callback_url: r.callback_url.clone(),
            external_task_id,
        }),
    })
}

pub fn job_status(status: ProviderStatus) -> JobStatus {
    match status {
        ProviderStatus::Submitted => JobStatus::Queued,
        ProviderStatus::Processing => JobStatus::Running,
        ProviderStatus::Succeed => JobStatus::Succeeded,
        ProviderStatus::Failed => JobStatus::Failed,
        ProviderStatus::Unknown => JobStatus::Unknown,
    }
}

pub fn job(task: &KlingTask) -> ProviderJob {
    let video = task.first_video();
    ProviderJob {
        reference: ProviderRef(task.task_id.clone()),
        handle: None,
        status: job_status(task.task_status),
        video_url: video.map(|v| v.url.clone()),
        video_id: video.map(|v| v.id.clone()),
        video_duration_seconds: video
            .and_then(|v| v.duration.as_deref())
            .and_then(|d| d.parse().ok()),
        billed_units: task.final_unit_deduction.clone(),
        request_id: task.request_id.clone(),
        failure: task.task_status_msg.clone().filter(|m| !m.is_empty()),
    }
}

impl KlingProvider {
    /// This account's deductions for tasks created on `day`.
    pub async fn bill(
        &self,
        day: crate::domain::bill::Day,
        deadline: Deadline,
    ) -> Result<Vec<crate::domain::bill::BillRow>, ProviderError> {
        self.client
            .bill(day, deadline)
            .await
            .map_err(|e| logged(&e))
    }
}

/// What a Kling failure means for the caller (`docs/providers.md` §Errors and §Unknown outcomes).
pub fn provider_error(e: &KlingError) -> ProviderError {
    let reason = e.to_string();
    if e.is_task_not_found() {
        return ProviderError::NotFound;
    }
    match e {
        KlingError::Api { kind, .. } => match kind {
            ErrorKind::PlatformPolicy | ErrorKind::ContentPolicy => {
                ProviderError::ContentRefused { reason }
            }
            ErrorKind::RateLimited | ErrorKind::ConcurrencyLimited => ProviderError::Busy {
                reason,
                retry_after: Duration::from_secs(1),
            },
            ErrorKind::Unavailable => ProviderError::Busy {
                reason,
                retry_after: Duration::from_secs(30),
            },
            // May arrive after Kling stored the task.
            ErrorKind::ServerError | ErrorKind::InternalTimeout => {
                ProviderError::OutcomeUnknown { reason }
            }
            ErrorKind::ResourceNotFound => ProviderError::NotFound,
            ErrorKind::AuthenticationFailed
            | ErrorKind::AuthorizationEmpty
            | ErrorKind::AuthorizationInvalid
            | ErrorKind::TokenNotYetValid
            | ErrorKind::TokenExpired => ProviderError::Auth { reason },
            ErrorKind::AccountAbnormal
            | ErrorKind::AccountInArrears
            | ErrorKind::ResourcePackExhausted => ProviderError::AccountUnusable { reason },
            _ => ProviderError::NotCreated { reason },
        },
        KlingError::Timeout
        | KlingError::Transport(_)
        | KlingError::Decode(_)
        | KlingError::Unsettled(_) => ProviderError::OutcomeUnknown { reason },
        KlingError::Signing(_) => ProviderError::Auth { reason },
        KlingError::TaskNotFound(_) => ProviderError::NotFound,
        KlingError::Unsupported(feature, r) => ProviderError::Unsupported {
            feature: *feature,
            reason: r.clone(),
        },
        KlingError::InvalidInput(_) => ProviderError::NotCreated { reason },
        // No task exists yet: a transient failure is a busy provider, a missing video a refusal.
        KlingError::BeforeCreate(inner) => match provider_error(inner) {
            ProviderError::OutcomeUnknown { .. } => ProviderError::Busy {
                reason,
                retry_after: Duration::from_secs(30),
            },
            ProviderError::NotFound => ProviderError::NotCreated { reason },
            other => other,
        },
    }
}

/// The `/v1` product a kind's tasks live under (none for a kind `/v1` does not make).
fn kind(v: VideoType) -> Option<VideoKind> {
    Some(match v {
        VideoType::TextToVideo => VideoKind::Text2Video,
        VideoType::ImageToVideo => VideoKind::Image2Video,
        VideoType::Effect => VideoKind::Effects,
        VideoType::VideoToAudio => VideoKind::VideoToAudio,
        VideoType::MotionControl => VideoKind::MotionControl,
        VideoType::Avatar => VideoKind::Avatar,
        VideoType::LipSync => VideoKind::LipSync,
        VideoType::OmniEdit => return None,
    })
}

fn avatar(r: &GenerationRequest, external_task_id: Option<String>) -> AvatarRequest {
    AvatarRequest {
        image: r.image.clone().unwrap_or_default(),
        sound_file: r.voice.as_ref().map(|v| v.url.clone()).unwrap_or_default(),
        prompt: r.prompt.clone(),
        mode: r.model.mode.as_str().to_string(),
        callback_url: r.callback_url.clone(),
        external_task_id,
    }
}

/// The source by Kling's id while it keeps it, else by the file's URL; the audio by URL; both
/// lengths in ms (read from the files at create).
fn lip_sync(r: &GenerationRequest, external_task_id: Option<String>) -> LipSyncJob {
    let video_id = kling_video_id(r).map(str::to_string);
    let source = r.source.as_ref();
    let ms = |seconds: f64| (seconds * 1000.0).max(0.0) as u64;
    LipSyncJob {
        video: IdentifyFace {
            video_url: source
                .filter(|_| video_id.is_none())
                .and_then(|s| s.url.clone()),
            video_id,
        },
        sound_file: r.voice.as_ref().map(|v| v.url.clone()).unwrap_or_default(),
        audio_ms: r.voice.as_ref().map_or(0, |v| ms(v.duration_seconds)),
        video_ms: source.map_or(0, |s| ms(s.duration_seconds)),
        callback_url: r.callback_url.clone(),
        external_task_id,
    }
}

/// Kling's own id for the source while it keeps it, else the file's URL (exactly one).
fn video_to_audio(r: &GenerationRequest, external_task_id: Option<String>) -> VideoToAudioRequest {
    VideoToAudioRequest {
        video_id: kling_video_id(r).map(str::to_string),
        video_url: r
            .source
            .as_ref()
            .filter(|_| kling_video_id(r).is_none())
            .and_then(|s| s.url.clone()),
        sound_effect_prompt: r.prompt.clone(),
        bgm_prompt: r.music_prompt.clone(),
        callback_url: r.callback_url.clone(),
        external_task_id,
    }
}

/// The preset's model where it runs motion control, else Kling's default for it.
fn motion_control(r: &GenerationRequest, external_task_id: Option<String>) -> MotionControlRequest {
    let model = r.model.model.as_str();
    let model = match catalogue::MOTION_MODELS.contains(&model) {
        true => model,
        false => catalogue::MOTION_MODELS[0],
    };
    MotionControlRequest {
        model_name: model.to_string(),
        image_url: r.image.clone().unwrap_or_default(),
        video_url: r
            .source
            .as_ref()
            .and_then(|s| s.url.clone())
            .unwrap_or_default(),
        character_orientation: r.orientation.map_or("video", |o| o.as_str()).to_string(),
        mode: r.model.mode.as_str().to_string(),
        prompt: r.prompt.clone(),
        callback_url: r.callback_url.clone(),
        external_task_id,
    }
}

/// The catalogue's rule for a job on an input video or audio (its length, rounded up, included).
fn on_video_check(r: &GenerationRequest) -> Result<(), KlingError> {
    Ok(catalogue::check_on_video(
        r.kind,
        r.input_seconds(),
        r.orientation,
        catalogue::Surface::KlingLegacy,
    )?)
}

/// A two-photo scene's photos go as `images` (left, right); a one-photo scene's as `image`.
fn effect_input(r: &GenerationRequest) -> EffectInput {
    let url = |u: &Option<String>| ImageInput::Url(u.clone().unwrap_or_default());
    match r.image_tail {
        Some(_) => EffectInput {
            image: None,
            images: Some(vec![url(&r.image), url(&r.image_tail)]),
        },
        None => EffectInput {
            image: Some(url(&r.image)),
            images: None,
        },
    }
}

/// The catalogue's rule for an effect as asked (its length and photos included).
fn effect_check(r: &GenerationRequest) -> Result<(), KlingError> {
    let wanted = catalogue::WantedEffect {
        scene: r.scene.as_deref().unwrap_or_default(),
        duration: r.duration_seconds,
        photos: 1 + usize::from(r.image_tail.is_some()),
    };
    Ok(catalogue::check_effect(
        wanted,
        catalogue::Surface::KlingLegacy,
    )?)
}

impl VideoProvider for KlingProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn choose_model(&self, quality: Quality, model_override: Option<&str>) -> ModelChoice {
        crate::provider::presets::choose(&self.presets, quality, model_override)
    }

    fn check(&self, request: &GenerationRequest) -> Result<(), ProviderError> {
        if self.surface == Surface::Standard {
            return standard_map::check(request)
                .map(|_| ())
                .map_err(|e| provider_error(&e));
        }
        let wire = wire_request(request).map_err(|e| provider_error(&e))?;
        let checked = match wire {
            WireRequest::Effect(r) => effect_check(request).and(wire_check::check_effects(&r)),
            WireRequest::VideoToAudio(r) => {
                on_video_check(request).and(wire_check::check_video_to_audio(&r))
            }
            WireRequest::MotionControl(r) => {
                on_video_check(request).and(wire_check::check_motion_control(&r))
            }
            WireRequest::Avatar(r) => on_video_check(request).and(wire_check::check_avatar(&r)),
            WireRequest::LipSync(job) => {
                on_video_check(request).and(wire_check::check_lip_sync(&job))
            }
            WireRequest::Text(r) => wire_check::check_text2video(&r).map(|_| ()),
            WireRequest::Image(r) => wire_check::check_image2video(&r).map(|_| ()),
        };
        checked.map_err(|e| provider_error(&e))
    }

    fn expected_units(&self, r: &GenerationRequest) -> Option<f64> {
        if r.kind == VideoType::LipSync {
            let started_fives = u64::from(r.duration_seconds).div_ceil(5);
            let units = started_fives * catalogue::LIP_SYNC_UNIT_HUNDREDTHS_PER_5S;
            return Some(units as f64 / 100.0);
        }
        if r.four_k {
            let units = catalogue::FOUR_K_UNIT_HUNDREDTHS * u64::from(r.duration_seconds);
            return Some(units as f64 / 100.0);
        }
        if r.kind == VideoType::OmniEdit {
            let rate = catalogue::OMNI_EDIT_UNIT_HUNDREDTHS[usize::from(r.model.mode == Mode::Pro)];
            return Some((rate * u64::from(r.duration_seconds)) as f64 / 100.0);
        }
        // Of the other kinds, Kling's price list names the model kinds only.
        if !r.kind.is_model_kind() {
            return None;
        }
        let caps = catalogue::model(&r.model.model)?;
        let mode = r.model.mode.as_str();
        Some(caps.expected_unit_hundredths(mode, r.duration_seconds, r.audio) as f64 / 100.0)
    }

    async fn submit(
        &self,
        request: &GenerationRequest,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        if self.surface == Surface::Standard {
            return self.submit_standard(request, deadline).await;
        }
        let answer = match wire_request(request).map_err(|e| provider_error(&e))? {
            WireRequest::Text(r) => self.client.create_text2video(&r, deadline).await,
            WireRequest::Image(r) => self.client.create_image2video(&r, deadline).await,
            WireRequest::Effect(r) => self.client.create_effects(&r, deadline).await,
            WireRequest::VideoToAudio(r) => self.client.create_video_to_audio(&r, deadline).await,
            WireRequest::MotionControl(r) => self.client.create_motion_control(&r, deadline).await,
            WireRequest::Avatar(r) => self.client.create_avatar(&r, deadline).await,
            WireRequest::LipSync(job) => self.client.create_lip_sync(&job, deadline).await,
        };
        answer.map(|t| job(&t)).map_err(|e| logged(&e))
    }

    async fn lookup(
        &self,
        lookup: JobLookup<'_>,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        if self.surface == Surface::Standard {
            let ids = [lookup.reference.map_or(lookup.task_id, |r| r.as_str())];
            let ids = match lookup.reference {
                Some(_) => Ids::Kling(&ids),
                None => Ids::External(&ids),
            };
            let found = self.client.find_one(ids, deadline).await;
            return found.map(|t| standard_map::job(&t)).map_err(|e| logged(&e));
        }
        let reference = match lookup.reference {
            Some(r) => TaskRef::Provider(r.as_str()),
            None => TaskRef::External(lookup.task_id),
        };
        let Some(product) = kind(lookup.kind) else {
            return Err(ProviderError::Auth {
                reason: format!(
                    "{} tasks are made on Kling's standard API; this deployment uses /v1",
                    lookup.kind.as_str()
                ),
            });
        };
        self.client
            .query(product, reference, deadline)
            .await
            .map(|t| job(&t))
            .map_err(|e| logged(&e))
    }

    async fn lookup_many(
        &self,
        jobs: &[JobLookup<'_>],
        deadline: Deadline,
    ) -> Vec<Result<ProviderJob, ProviderError>> {
        if self.surface == Surface::Standard {
            return self.lookup_batched(jobs, deadline).await;
        }
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(self.lookup(*job, deadline).await);
        }
        out
    }
}

impl KlingProvider {
    /// The standard API answers up to 20 ids per `GET /tasks`: one query per batch, by Kling's
    /// ids where known and by ours otherwise; an id absent from the answer is not found.
    async fn lookup_batched(
        &self,
        jobs: &[JobLookup<'_>],
        deadline: Deadline,
    ) -> Vec<Result<ProviderJob, ProviderError>> {
        let mut out: Vec<Result<ProviderJob, ProviderError>> =
            jobs.iter().map(|_| Err(ProviderError::NotFound)).collect();
        for by_kling in [true, false] {
            let group: Vec<(usize, &str)> = jobs
                .iter()
                .enumerate()
                .filter(|(_, j)| j.reference.is_some() == by_kling)
                .map(|(i, j)| (i, j.reference.map_or(j.task_id, |r| r.as_str())))
                .collect();
            for chunk in group.chunks(MAX_IDS_PER_QUERY) {
                let ids: Vec<&str> = chunk.iter().map(|(_, id)| *id).collect();
                let ids = if by_kling {
                    Ids::Kling(&ids)
                } else {
                    Ids::External(&ids)
                };
                let answer = self.client.query_tasks(ids, deadline).await;
                place(&mut out, chunk, answer, by_kling);
            }
        }
        out
    }

    async fn submit_standard(
        &self,
        request: &GenerationRequest,
        deadline: Deadline,
    ) -> Result<ProviderJob, ProviderError> {
        let (product, model, body) =
            standard_map::create_request(request).map_err(|e| provider_error(&e))?;
        let created = self
            .client
            .create_standard(product, model, &body, deadline)
            .await;
        created
            .map(|t| standard_map::job(&t))
            .map_err(|e| logged(&e))
    }
}

/// A batch's answer, put in the slots of the jobs it was asked for.
fn place(
    out: &mut [Result<ProviderJob, ProviderError>],
    chunk: &[(usize, &str)],
    answer: Result<Vec<StandardTask>, KlingError>,
    by_kling: bool,
) {
    let found = match answer {
        Ok(found) => found,
        Err(e) => {
            let err = logged(&e);
            for (i, _) in chunk {
                out[*i] = Err(err.clone());
            }
            return;
        }
    };
    for task in &found {
        let id = if by_kling {
            Some(task.id.as_str())
        } else {
            task.external_id.as_deref()
        };
        if let Some((i, _)) = chunk.iter().find(|(_, want)| Some(*want) == id) {
            out[*i] = Ok(standard_map::job(task));
        }
    }
}

/// A failed call, logged with Kling's request id (for its support), then classified.
fn logged(e: &KlingError) -> ProviderError {
    let mapped = provider_error(e);
    tracing::warn!(
        kling_request_id = e.request_id().unwrap_or("-"),
        code = e.code(),
        outcome = mapped.label(),
        error = %e,
        "Kling call failed"
    );
    mapped
}

/// Kling's callback bodies: the bare task object it documents, or the `{code, message, data}`
/// envelope some copies of the docs show.
pub struct KlingCallbacks;

pub fn parse_callback(bytes: &[u8]) -> Result<CallbackHint, CallbackError> {
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| CallbackError::Malformed(format!("callback body is not JSON: {e}")))?;
    let body = match value.get("data") {
        Some(data) if data.get("task_id").is_some() => data.clone(),
        _ => value,
    };
    // The standard API's callbacks are one `GET /tasks` item: `id` and `status`.
    if body.get("task_id").is_none() && body.get("id").is_some() {
        return standard_callback(body);
    }
    let task: KlingTask = serde_json::from_value(body)
        .map_err(|e| CallbackError::Malformed(format!("callback body is not a Kling task: {e}")))?;
    Ok(CallbackHint {
        reference: ProviderRef(task.task_id.clone()),
        task_id: task.external_task_id().map(str::to_string),
        status: job_status(task.task_status),
        failure: task.task_status_msg.clone().filter(|m| !m.is_empty()),
    })
}

fn standard_callback(body: serde_json::Value) -> Result<CallbackHint, CallbackError> {
    let task: StandardTask = serde_json::from_value(body)
        .map_err(|e| CallbackError::Malformed(format!("callback body is not a Kling task: {e}")))?;
    Ok(CallbackHint {
        reference: ProviderRef(task.id.clone()),
        task_id: task.external_id.clone().filter(|e| !e.is_empty()),
        status: standard_map::job_status(task.status),
        failure: task.message.clone().filter(|m| !m.is_empty()),
    })
}

impl CallbackReader for KlingCallbacks {
    fn read(&self, provider: &str, body: &[u8]) -> Result<CallbackHint, CallbackError> {
        if provider != NAME {
            return Err(CallbackError::UnknownProvider(provider.to_string()));
        }
        parse_callback(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do() {
        let table: [(KlingError, &str); 12] = [
            (KlingError::api(400, 1301, ""), "content_refused"),
            (KlingError::api(429, 1303, ""), "busy"),
            (KlingError::api(429, 1302, ""), "busy"),
            (KlingError::api(503, 5001, ""), "busy"),
            (KlingError::api(500, 5000, ""), "outcome_unknown"),
            (KlingError::api(504, 5002, ""), "outcome_unknown"),
            (KlingError::Timeout, "outcome_unknown"),
            (KlingError::api(404, 1203, ""), "not_found"),
            (KlingError::api(401, 1002, ""), "auth"),
            (KlingError::api(429, 1102, ""), "account_unusable"),
            (KlingError::api(400, 1201, ""), "not_created"),
            (
                KlingError::Unsupported(crate::provider::Feature::Audio, "x".into()),
                "unsupported",
            ),
        ];
        for (e, want) in table {
            assert_eq!(provider_error(&e).label(), want, "{e}");
        }
    }

    #[test]
    fn parses_bare_and_wrapped_callbacks() {
        let bare =
            br#"{"task_id":"9","task_status":"processing","task_info":{"external_task_id":"t"}}"#;
        let wrapped =
            br#"{"code":0,"message":"SUCCEED","data":{"task_id":"9","task_status":"failed","task_status_msg":"no"}}"#;
        let hint = parse_callback(bare).unwrap();
        assert_eq!(
            (
                hint.reference.as_str(),
                hint.task_id.as_deref(),
                hint.status
            ),
            ("9", Some("t"), JobStatus::Running)
        );
        let hint = parse_callback(wrapped).unwrap();
        assert_eq!(
            (hint.status, hint.failure.as_deref()),
            (JobStatus::Failed, Some("no"))
        );
        for bad in [&b"nope"[..], b"{}", b"[]", br#"{"task_id":9}"#] {
            assert!(matches!(
                parse_callback(bad),
                Err(CallbackError::Malformed(_))
            ));
        }
        assert_eq!(
            KlingCallbacks.read("fal", bare),
            Err(CallbackError::UnknownProvider("fal".into()))
        );
        let standard =
            br#"{"id":"9","status":"succeeded","external_id":"t","outputs":[],"billing":[]}"#;
        let hint = parse_callback(standard).unwrap();
        assert_eq!(
            (
                hint.reference.as_str(),
                hint.task_id.as_deref(),
                hint.status
            ),
            ("9", Some("t"), JobStatus::Succeeded)
        );
        assert!(parse_callback(br#"{"id":"9","status":7}"#).is_err());
    }
}
