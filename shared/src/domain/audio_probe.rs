//! Checks that bytes are audio we can send (MP3, WAV, M4A/AAC) and reads their length from the
//! file: the packets are counted, so a truncated file is as long as what can be read, and one
//! shorter than its own header says is refused.

use std::io::Cursor;

use symphonia::core::errors::Error;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::TimeBase;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AudioError {
    #[error("not an audio file we read (MP3, WAV, M4A or AAC)")]
    Unrecognised,
    #[error("no audio track with a sample rate")]
    NoTrack,
    #[error("the audio is cut short: {0}")]
    Truncated(String),
}

/// The audio's length in seconds.
pub fn audio_seconds(bytes: &[u8]) -> Result<f64, AudioError> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &Hint::new(),
            source,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|_| AudioError::Unrecognised)?;
    let mut format = probed.format;
    let track = format.default_track().ok_or(AudioError::NoTrack)?;
    let (id, params) = (track.id, track.codec_params.clone());
    let base = match (params.time_base, params.sample_rate) {
        (Some(base), _) => base,
        (None, Some(rate)) if rate > 0 => TimeBase::new(1, rate),
        _ => return Err(AudioError::NoTrack),
    };
    let mut end = 0u64;
    loop {
        match format.next_packet() {
            Ok(p) if p.track_id() == id => end = end.max(p.ts().saturating_add(p.dur())),
            Ok(_) => {}
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(AudioError::Truncated(e.to_string())),
        }
    }
    if params
        .n_frames
        .is_some_and(|declared| end + base_tolerance(&params) < declared)
    {
        return Err(AudioError::Truncated(format!(
            "{end} of {:?} frames",
            params.n_frames
        )));
    }
    let time = base.calc_time(end);
    Ok(time.seconds as f64 + time.frac)
}

/// A packet's worth of slack for the last packet's rounding.
fn base_tolerance(params: &symphonia::core::codecs::CodecParameters) -> u64 {
    params.max_frames_per_packet.unwrap_or(1).max(1)
}

/// A mono 8-bit 8 kHz WAV of silence this many seconds long (for tests and local demos).
pub fn wav(seconds: f64) -> Vec<u8> {
    let frames = (seconds * 8000.0) as u32;
    let mut out = Vec::new();
    out.extend(b"RIFF");
    out.extend((36 + frames).to_le_bytes());
    out.extend(b"WAVEfmt ");
    out.extend(16u32.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(8000u32.to_le_bytes());
    out.extend(8000u32.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(8u16.to_le_bytes());
    out.extend(b"data");
    out.extend(frames.to_le_bytes());
    out.extend(std::iter::repeat_n(128u8, frames as usize));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audio_probe::wav;

    #[test]
    fn audio_is_measured_from_its_packets_and_other_bytes_are_refused() {
        let seconds = |b: &[u8]| audio_seconds(b).map(|s| (s * 10.0).round() / 10.0);
        assert_eq!(seconds(&wav(3.0)), Ok(3.0));
        assert_eq!(seconds(&wav(301.0)), Ok(301.0));
        assert_eq!(seconds(b"not audio at all"), Err(AudioError::Unrecognised));
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        assert_eq!(seconds(&png), Err(AudioError::Unrecognised));
        let cut = wav(4.0)[..8000].to_vec();
        assert!(
            matches!(seconds(&cut), Err(AudioError::Truncated(_))),
            "{:?}",
            seconds(&cut)
        );
    }
}
