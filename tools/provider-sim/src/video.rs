//! Real, playable MP4s whose resolution and duration match the request, derived from one-second
//! H.264 GOPs shipped with the crate (each starts with an IDR frame, so they can be repeated).

use std::io::Cursor;

use mp4::{AvcConfig, MediaConfig, Mp4Config, Mp4Reader, Mp4Writer, TrackConfig, TrackType};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resolution {
    P720,
    P1080,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Aspect {
    Landscape,
    Portrait,
    Square,
}

impl Aspect {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "16:9" => Some(Aspect::Landscape),
            "9:16" => Some(Aspect::Portrait),
            "1:1" => Some(Aspect::Square),
            _ => None,
        }
    }
}

fn gop(aspect: Aspect, resolution: Resolution) -> &'static [u8] {
    match (resolution, aspect) {
        (Resolution::P720, Aspect::Landscape) => include_bytes!("../assets/gop-720p-16x9.mp4"),
        (Resolution::P720, Aspect::Portrait) => include_bytes!("../assets/gop-720p-9x16.mp4"),
        (Resolution::P720, Aspect::Square) => include_bytes!("../assets/gop-720p-1x1.mp4"),
        (Resolution::P1080, Aspect::Landscape) => include_bytes!("../assets/gop-1080p-16x9.mp4"),
        (Resolution::P1080, Aspect::Portrait) => include_bytes!("../assets/gop-1080p-9x16.mp4"),
        (Resolution::P1080, Aspect::Square) => include_bytes!("../assets/gop-1080p-1x1.mp4"),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("could not build the video: {0}")]
pub struct VideoError(String);

impl From<mp4::Error> for VideoError {
    fn from(e: mp4::Error) -> Self {
        VideoError(e.to_string())
    }
}

/// An MP4 of `seconds` seconds at the given shape.
pub fn render(aspect: Aspect, resolution: Resolution, seconds: u32) -> Result<Vec<u8>, VideoError> {
    let source = gop(aspect, resolution);
    let mut reader = Mp4Reader::read_header(Cursor::new(source), source.len() as u64)?;
    let (track_id, track) = reader
        .tracks()
        .iter()
        .find(|(_, t)| matches!(t.track_type(), Ok(TrackType::Video)))
        .map(|(id, t)| (*id, t))
        .ok_or_else(|| VideoError("asset has no video track".into()))?;
    let avc = AvcConfig {
        width: track.width(),
        height: track.height(),
        seq_param_set: track.sequence_parameter_set()?.to_vec(),
        pic_param_set: track.picture_parameter_set()?.to_vec(),
    };
    let timescale = track.timescale();
    let count = track.sample_count();
    let mut samples = Vec::with_capacity(count as usize);
    for id in 1..=count {
        if let Some(s) = reader.read_sample(track_id, id)? {
            samples.push(s);
        }
    }
    let gop_ticks: u64 = samples.iter().map(|s| u64::from(s.duration)).sum();

    let config = Mp4Config {
        major_brand: "isom".parse()?,
        minor_version: 512,
        compatible_brands: vec![
            "isom".parse()?,
            "iso2".parse()?,
            "avc1".parse()?,
            "mp41".parse()?,
        ],
        // The track's own timescale, so per-sample durations add up exactly in the header too.
        timescale,
    };
    let mut writer = Mp4Writer::write_start(Cursor::new(Vec::new()), &config)?;
    writer.add_track(&TrackConfig {
        track_type: TrackType::Video,
        timescale,
        language: "und".into(),
        media_conf: MediaConfig::AvcConfig(avc),
    })?;
    for round in 0..u64::from(seconds) {
        for s in &samples {
            let sample = mp4::Mp4Sample {
                start_time: round * gop_ticks + s.start_time,
                duration: s.duration,
                rendering_offset: s.rendering_offset,
                is_sync: s.is_sync,
                bytes: s.bytes.clone(),
            };
            writer.write_sample(1, &sample)?;
        }
    }
    writer.write_end()?;
    Ok(writer.into_writer().into_inner())
}

/// The `ftyp` and `moov` boxes of an MP4 (everything but the media data).
pub fn header_boxes(mp4: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= mp4.len() {
        let size = u32::from_be_bytes([mp4[at], mp4[at + 1], mp4[at + 2], mp4[at + 3]]) as usize;
        let kind = &mp4[at + 4..at + 8];
        if size < 8 || at + size > mp4.len() {
            break;
        }
        if kind == b"ftyp" || kind == b"moov" {
            out.extend_from_slice(&mp4[at..at + size]);
        }
        at += size;
    }
    out
}

/// A large MP4: the real header followed by one `mdat` box of `total` bytes in all, with a
/// 64-bit size. Players would find no frames in the padding; finalize only needs the header.
pub fn padded_header(mp4: &[u8], total: u64) -> (Vec<u8>, u64) {
    let mut head = header_boxes(mp4);
    let mdat_size = total.saturating_sub(head.len() as u64).max(16);
    head.extend_from_slice(&[0, 0, 0, 1]);
    head.extend_from_slice(b"mdat");
    head.extend_from_slice(&mdat_size.to_be_bytes());
    let padding = mdat_size - 16;
    (head, padding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_requested_shape_and_length() {
        let cases = [
            (Aspect::Landscape, Resolution::P720, 5, (1280, 720)),
            (Aspect::Portrait, Resolution::P1080, 10, (1080, 1920)),
            (Aspect::Square, Resolution::P720, 3, (720, 720)),
        ];
        for (aspect, res, secs, (w, h)) in cases {
            let bytes = render(aspect, res, secs).unwrap();
            let reader = Mp4Reader::read_header(Cursor::new(&bytes), bytes.len() as u64).unwrap();
            let track = reader.tracks().values().next().unwrap();
            assert_eq!((track.width(), track.height()), (w, h));
            let d = track.duration().as_secs_f64();
            assert!((d - f64::from(secs)).abs() < 0.01, "track {d} vs {secs}");
            let movie = reader.duration().as_secs_f64();
            assert!(
                (movie - f64::from(secs)).abs() < 0.01,
                "movie {movie} vs {secs}"
            );
        }
    }
}
