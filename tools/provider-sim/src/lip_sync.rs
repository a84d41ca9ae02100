//! Lip-sync as Kling serves it on `/v1`: `POST /v1/videos/identify-face` (synchronous: exactly
//! one of `video_id` and `video_url`, a 2-60 s video; answers a `session_id` and one face on
//! screen for the whole video), then `POST /v1/videos/advanced-lip-sync` with the session and
//! one `face_choose` item: `sound_file` fetched here (MP3/WAV/M4A/AAC, at most 5 MB, 2-60 s), a
//! stretch of at least 2 s within the audio, inserted where it fits in the video. The result is
//! as long as the video, with `task_info.parent_video`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::bodies::opt_str;
use crate::faults::CallKind;
use crate::routes::{Fail, admit_on, fail, invalid, ok};
use crate::tasks::{NewTask, SimState, Surface};
use crate::video::{Aspect, Resolution};

/// The model name the sim bills lip-syncs under.
pub const MODEL: &str = "lip-sync";
const MIN_MS: u64 = 2_000;
const FACE_ID: &str = "0";

/// `POST /v1/videos/identify-face`.
pub async fn identify_face(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        admit_on(&state, &headers, CallKind::Create, Surface::Legacy).await?;
        let body: Value = serde_json::from_slice(&body)
            .map_err(|_| fail(400, 1200, "request body is not valid JSON"))?;
        let seconds = crate::sound::source_seconds(&state, &body).await?;
        if !(2.0..=60.0).contains(&seconds) {
            return Err(invalid(format!(
                "the video must last 2 to 60 s, not {seconds:.1} s"
            )));
        }
        let parent = crate::sound::parent_video(&body, seconds);
        let session = state.open_session(parent, seconds);
        let end = (seconds * 1000.0) as u64;
        Ok(ok(json!({"session_id": session, "final_unit_deduction": "0.05",
            "face_data": [{"face_id": FACE_ID, "face_image": "", "start_time": 0, "end_time": end}]})))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn ms(item: &Value, field: &str) -> Result<u64, Fail> {
    item.get(field)
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid(format!("face_choose[0].{field} is required (ms)")))
}

/// The audio's length in ms, from the file at `sound_file`.
async fn audio_ms(state: &SimState, item: &Value) -> Result<u64, Fail> {
    if item.get("audio_id").is_some() {
        return Err(invalid("this emulator takes sound_file, not audio_id"));
    }
    let seconds = crate::avatar::sound_file_seconds(state, item, 60.0).await?;
    Ok((seconds * 1000.0) as u64)
}

/// The stretch of audio and where it goes, as Kling checks them.
fn check_timing(item: &Value, audio_ms: u64, video_ms: u64) -> Result<(), Fail> {
    let (start, end, insert) = (
        ms(item, "sound_start_time")?,
        ms(item, "sound_end_time")?,
        ms(item, "sound_insert_time")?,
    );
    let length = end.saturating_sub(start);
    if length < MIN_MS || end > audio_ms {
        return Err(invalid(
            "the cropped sound must last at least 2 s and end within the audio",
        ));
    }
    if insert + length > video_ms {
        return Err(invalid("the inserted sound must end within the video"));
    }
    Ok(())
}

pub(crate) async fn validate_lip_sync(state: &SimState, body: &Value) -> Result<NewTask, Fail> {
    let session = opt_str(body, "session_id")?.ok_or_else(|| invalid("session_id is required"))?;
    let (parent, seconds) = state
        .session(session)
        .ok_or_else(|| invalid(format!("session_id {session} is unknown or expired")))?;
    let items = body.get("face_choose").and_then(Value::as_array);
    let item = match items.map(Vec::as_slice) {
        Some([one]) => one,
        _ => return Err(invalid("face_choose takes exactly one face")),
    };
    if opt_str(item, "face_id")? != Some(FACE_ID) {
        return Err(invalid("face_id is not a face of this session"));
    }
    let audio = audio_ms(state, item).await?;
    check_timing(item, audio, (seconds * 1000.0) as u64)?;
    Ok(NewTask {
        kind: "advanced-lip-sync",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt: String::new(),
        resolution: Resolution::P720,
        sound: true,
        mode: "std".into(),
        request: body.clone(),
        surface: Surface::Legacy,
        model: MODEL.into(),
        duration: seconds.round() as u32,
        aspect: Aspect::Landscape,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
        parent: Some(parent),
    })
}
