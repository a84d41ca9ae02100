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
    well_framed(bytes, 0).map_err(Mp4Error::Unreadable)?;
    let reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64)
        .map_err(|e| Mp4Error::Unreadable(e.to_string()))?;
    let video = reader
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)));
    // Not `reader.duration()`: it divides by the timescale unchecked (a zero aborts the
    // process) and overflows on large durations; both found by fuzzing.
    let mvhd = &reader.moov.mvhd;
    if mvhd.timescale == 0 {
        return Err(Mp4Error::Unreadable("the movie has no timescale".into()));
    }
    Ok(Mp4Facts {
        duration_seconds: mvhd.duration as f64 / f64::from(mvhd.timescale),
        width: video.map(|t| u32::from(t.width())),
        height: video.map(|t| u32::from(t.height())),
    })
}

/// Boxes whose payload is only boxes; their children are checked too.
const CONTAINERS: [&[u8; 4]; 9] = [
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"mvex", b"udta",
];

/// Every box fits its parent and is at least its own header (size 0, "to the end", only at
/// the top). The `mp4` crate loops for ever on a child that claims a smaller size (found by
/// fuzzing), and the file comes from outside.
fn well_framed(bytes: &[u8], depth: u8) -> Result<(), String> {
    let mut pos = 0usize;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let head = rest.get(..8).ok_or("a box header is cut off")?;
        let kind = [head[4], head[5], head[6], head[7]];
        let (size, header) = match u32::from_be_bytes([head[0], head[1], head[2], head[3]]) {
            0 if depth == 0 => (rest.len() as u64, 8),
            1 => {
                let large = rest.get(8..16).ok_or("a box header is cut off")?;
                let mut n = [0u8; 8];
                n.copy_from_slice(large);
                (u64::from_be_bytes(n), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header || size > rest.len() as u64 {
            return Err(format!(
                "box {} has an impossible size",
                String::from_utf8_lossy(&kind)
            ));
        }
        let size = size as usize;
        let payload = &rest[header as usize..size];
        // `meta` is a full box (version and flags first), or, in QuickTime files, a container.
        let children = match &kind {
            b"meta" if payload.starts_with(&[0; 4]) => Some(&payload[4..]),
            b"meta" => Some(payload),
            k if CONTAINERS.contains(&k) => Some(payload),
            _ => None,
        };
        if let Some(children) = children {
            if depth >= 16 {
                return Err("boxes nested too deeply".into());
            }
            well_framed(children, depth + 1)?;
        }
        pos += size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_duration_and_resolution_from_a_real_file() {
        let bytes = include_bytes!("../../../tools/provider-sim/assets/gop-720p-16x9.mp4");
        let facts = probe(bytes).unwrap();
        assert_eq!((facts.width, facts.height), (Some(1280), Some(720)));
        assert!(
            (facts.duration_seconds - 1.0).abs() < 0.1,
            "{}",
            facts.duration_seconds
        );
    }

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    /// Malformed framing is refused before the `mp4` crate sees it (one such file made it
    /// loop for ever): children smaller than a header, of size 0, or larger than their parent.
    #[test]
    fn boxes_that_do_not_fit_are_refused() {
        let ftyp = boxed(b"ftyp", b"isom\0\0\0\0isomiso2");
        let nest = |inner: Vec<u8>| {
            let stbl = boxed(b"stbl", &inner);
            let minf = boxed(b"minf", &stbl);
            let mdia = boxed(b"mdia", &minf);
            let trak = boxed(b"trak", &mdia);
            [ftyp.clone(), boxed(b"moov", &trak)].concat()
        };
        let cases = [
            nest(vec![0, 0, 0, 0, b's', b't', b's', b'z']),
            nest(vec![0, 0, 0, 4, b's', b't', b's', b'z']),
            nest(vec![0, 0, 0, 99, b's', b't', b's', b'z']),
            nest(vec![
                0, 0, 0, 1, b's', b't', b's', b'z', 0, 0, 0, 0, 0, 0, 0, 2,
            ]),
            nest(vec![0, 0, 0]),
        ];
        for bytes in cases {
            assert!(
                matches!(probe(&bytes), Err(Mp4Error::Unreadable(_))),
                "{bytes:?}"
            );
        }
        let real = include_bytes!("../../../tools/provider-sim/assets/gop-1080p-9x16.mp4");
        assert_eq!(well_framed(real, 0), Ok(()));
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
