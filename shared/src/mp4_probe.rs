//! Checks that bytes are a real MP4 and reads its duration and resolution from the file.

use std::io::Cursor;

#[derive(Debug, Clone, PartialEq)]
pub struct Mp4Facts {
    pub duration_seconds: f64,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Mp4Error {
    #[error("not an MP4 file (no ftyp box)")]
    NoFtyp,
    #[error("not a playable MP4 file: {0}")]
    Unreadable(String),
}

pub fn probe(bytes: &[u8]) -> Result<Mp4Facts, Mp4Error> {
    if bytes.get(4..8) != Some(b"ftyp".as_slice()) {
        return Err(Mp4Error::NoFtyp);
    }
    let reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64)
        .map_err(|e| Mp4Error::Unreadable(e.to_string()))?;
    let video = reader
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)));
    Ok(Mp4Facts {
        duration_seconds: reader.duration().as_secs_f64(),
        width: video.map(|t| u32::from(t.width())),
        height: video.map(|t| u32::from(t.height())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_duration_and_resolution_from_a_real_file() {
        let bytes = include_bytes!("../../tools/kling-sim/assets/gop-720p-16x9.mp4");
        let facts = probe(bytes).unwrap();
        assert_eq!((facts.width, facts.height), (Some(1280), Some(720)));
        assert!(
            (facts.duration_seconds - 1.0).abs() < 0.1,
            "{}",
            facts.duration_seconds
        );
    }

    #[test]
    fn rejects_non_mp4() {
        assert_eq!(probe(b"<html>expired</html>"), Err(Mp4Error::NoFtyp));
        assert!(matches!(
            probe(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2"),
            Err(Mp4Error::Unreadable(_))
        ));
    }
}
