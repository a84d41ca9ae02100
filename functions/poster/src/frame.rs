//! The first keyframe of a stored MP4, as an H.264 Annex B access unit a decoder takes whole:
//! the track's parameter sets, then the keyframe's NAL units, each behind a start code.

use std::io::Cursor;

use shared::domain::mp4_probe;

use crate::PosterError;

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// One picture's worth of H.264, and the size the track says it shows at.
#[derive(Debug)]
pub struct Keyframe {
    pub annex_b: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

pub fn first_keyframe(mp4: &[u8]) -> Result<Keyframe, PosterError> {
    // The probe refuses framing the `mp4` crate cannot survive (it loops on some).
    mp4_probe::probe(mp4).map_err(|e| PosterError::Unreadable(e.to_string()))?;
    let mut reader = mp4::Mp4Reader::read_header(Cursor::new(mp4), mp4.len() as u64)?;
    let track = reader
        .tracks()
        .values()
        .find(|t| matches!(t.track_type(), Ok(mp4::TrackType::Video)))
        .ok_or(PosterError::NoVideo)?;
    let avc = track
        .trak
        .mdia
        .minf
        .stbl
        .stsd
        .avc1
        .as_ref()
        .ok_or(PosterError::NotH264)?;
    let mut annex_b = Vec::new();
    for set in avc
        .avcc
        .sequence_parameter_sets
        .iter()
        .chain(&avc.avcc.picture_parameter_sets)
    {
        annex_b.extend_from_slice(&START_CODE);
        annex_b.extend_from_slice(&set.bytes);
    }
    let length_size = usize::from(avc.avcc.length_size_minus_one & 3) + 1;
    let (id, width, height) = (track.track_id(), track.width(), track.height());
    // No `stss`: every sample is a sync sample.
    let sync = track
        .trak
        .mdia
        .minf
        .stbl
        .stss
        .as_ref()
        .map_or(Some(1), |s| s.entries.first().copied())
        .filter(|&n| n >= 1 && n <= track.sample_count())
        .ok_or_else(|| PosterError::BadSample("no keyframe in the track".into()))?;
    let sample = reader
        .read_sample(id, sync)?
        .ok_or_else(|| PosterError::BadSample("the keyframe's sample is missing".into()))?;
    append_nal_units(&mut annex_b, &sample.bytes, length_size)?;
    Ok(Keyframe {
        annex_b,
        width: u32::from(width),
        height: u32::from(height),
    })
}

/// MP4 stores NAL units behind big-endian lengths of `length_size` bytes; Annex B puts start
/// codes there instead.
fn append_nal_units(
    out: &mut Vec<u8>,
    mut sample: &[u8],
    length_size: usize,
) -> Result<(), PosterError> {
    while !sample.is_empty() {
        let (len, rest) = sample
            .split_at_checked(length_size)
            .ok_or_else(|| PosterError::BadSample("a NAL length is cut off".into()))?;
        let len = len.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b));
        let (nal, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| PosterError::BadSample("a NAL unit runs past its sample".into()))?;
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(nal);
        sample = rest;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_prefixed_units_become_start_coded_ones() {
        type Case<'a> = (&'a [u8], usize, Option<&'a [u8]>);
        let cases: [Case; 5] = [
            (
                &[0, 0, 0, 2, 9, 8, 0, 0, 0, 1, 7],
                4,
                Some(&[0, 0, 0, 1, 9, 8, 0, 0, 0, 1, 7]),
            ),
            (
                &[0, 1, 5, 0, 2, 6, 6],
                2,
                Some(&[0, 0, 0, 1, 5, 0, 0, 0, 1, 6, 6]),
            ),
            (&[], 4, Some(&[])),
            (&[0, 0, 0, 9, 1], 4, None),
            (&[0, 0], 4, None),
        ];
        for (sample, size, want) in cases {
            let mut out = Vec::new();
            let got = append_nal_units(&mut out, sample, size).ok().map(|_| out);
            assert_eq!(got.as_deref(), want, "{sample:?}");
        }
    }

    #[test]
    fn the_keyframe_of_a_real_file_carries_its_parameter_sets() {
        let file = include_bytes!("../../../tools/provider-sim/assets/gop-720p-9x16.mp4");
        let k = first_keyframe(file).unwrap();
        assert_eq!((k.width, k.height), (720, 1280));
        // SPS (type 7), PPS (8), then the access unit (SEI 6 may lead it) with an IDR slice (5).
        let types: Vec<u8> = k
            .annex_b
            .windows(5)
            .filter(|w| w[..4] == START_CODE)
            .map(|w| w[4] & 0x1f)
            .collect();
        assert_eq!(&types[..2], &[7, 8], "{types:?}");
        assert!(types.contains(&5), "{types:?}");
    }

    #[test]
    fn files_without_an_h264_picture_are_refused() {
        assert!(matches!(
            first_keyframe(b"<html>gone</html>"),
            Err(PosterError::Unreadable(_))
        ));
        let file = include_bytes!("../../../tools/provider-sim/assets/gop-720p-1x1.mp4");
        assert!(first_keyframe(&file[..file.len() / 2]).is_err());
    }
}
