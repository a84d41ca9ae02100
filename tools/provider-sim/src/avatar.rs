//! `POST /v1/videos/avatar/image2video` checked as Kling checks it: the photo (`image`), the
//! audio (`sound_file`, fetched here: MP3/WAV/M4A/AAC of at most 5 MB, 2-300 s), `mode`
//! std/pro. The result is as long as the audio.

use std::io::Cursor;

use serde_json::Value;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::bodies::{image, opt_str, text};
use crate::routes::{Fail, invalid};
use crate::tasks::{NewTask, SimState, Surface};
use crate::video::{Aspect, Resolution};

const MAX_AUDIO_BYTES: usize = 5 * 1024 * 1024;

/// The audio's length: the last packet's end, in the track's time base.
pub fn audio_seconds(bytes: Vec<u8>) -> Option<f64> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .ok()?;
    let mut format = probed.format;
    let track = format.default_track()?;
    let (id, base) = (track.id, track.codec_params.time_base?);
    let mut end = 0u64;
    while let Ok(p) = format.next_packet() {
        if p.track_id() == id {
            end = end.max(p.ts() + p.dur());
        }
    }
    let t = base.calc_time(end);
    Some(t.seconds as f64 + t.frac)
}

/// `sound_file` fetched (MP3/WAV/M4A/AAC, at most 5 MB) and measured: 2 s to `max` s.
pub(crate) async fn sound_file_seconds(
    state: &SimState,
    body: &Value,
    max: f64,
) -> Result<f64, Fail> {
    let sound = opt_str(body, "sound_file")?.ok_or_else(|| invalid("sound_file is required"))?;
    let bytes = state
        .fetch(sound, MAX_AUDIO_BYTES)
        .await
        .map_err(|e| invalid(format!("sound_file could not be read: {e}")))?;
    let seconds = audio_seconds(bytes).ok_or_else(|| invalid("sound_file is not audio"))?;
    if !(2.0..=max).contains(&seconds) {
        return Err(invalid(format!(
            "the audio must last 2 to {max} s, not {seconds:.1} s"
        )));
    }
    Ok(seconds)
}

pub(crate) async fn validate_avatar(state: &SimState, body: &Value) -> Result<NewTask, Fail> {
    image(body, "image")?.ok_or_else(|| invalid("image is required"))?;
    let mode = opt_str(body, "mode")?.unwrap_or("std");
    if !["std", "pro"].contains(&mode) {
        return Err(invalid("mode must be std or pro"));
    }
    let seconds = sound_file_seconds(state, body, 300.0).await?;
    Ok(NewTask {
        kind: "avatar",
        external_task_id: opt_str(body, "external_task_id")?.map(str::to_string),
        prompt: text(body, "prompt")?.unwrap_or_default(),
        resolution: Resolution::P720,
        sound: true,
        mode: mode.to_string(),
        request: body.clone(),
        surface: Surface::Legacy,
        model: "avatar".into(),
        duration: seconds.ceil() as u32,
        aspect: Aspect::Square,
        callback_url: opt_str(body, "callback_url")?.map(str::to_string),
        parent: None,
    })
}
