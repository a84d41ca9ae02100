//! A keyframe decoded and written as a JPEG of the size the decoder shows it at (the coded
//! size less the stream's cropping: 1920×1080, not the 1920×1088 macroblocks).

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use crate::PosterError;
use crate::frame::Keyframe;

/// Feeds and apps show posters small; 85 keeps a 1080p still near 100 KB.
pub const JPEG_QUALITY: u8 = 85;

#[derive(Debug)]
pub struct Jpeg {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

pub fn poster_jpeg(keyframe: &Keyframe) -> Result<Jpeg, PosterError> {
    let mut decoder = Decoder::new().map_err(PosterError::Decode)?;
    let picture = decoder
        .decode(&keyframe.annex_b)
        .map_err(PosterError::Decode)?
        .map(|yuv| rgb_of(&yuv));
    // A decoder holding the picture back for reordering gives it up when flushed.
    let (width, height, rgb) = match picture {
        Some(p) => p,
        None => decoder
            .flush_remaining()
            .map_err(PosterError::Decode)?
            .first()
            .map(rgb_of)
            .ok_or(PosterError::NoPicture)?,
    };
    let (w, h) = (
        u16::try_from(width).map_err(|_| PosterError::TooLarge(width, height))?,
        u16::try_from(height).map_err(|_| PosterError::TooLarge(width, height))?,
    );
    let mut bytes = Vec::new();
    jpeg_encoder::Encoder::new(&mut bytes, JPEG_QUALITY)
        .encode(&rgb, w, h, jpeg_encoder::ColorType::Rgb)
        .map_err(PosterError::Encode)?;
    Ok(Jpeg {
        bytes,
        width: width as u32,
        height: height as u32,
    })
}

fn rgb_of(yuv: &openh264::decoder::DecodedYUV<'_>) -> (usize, usize, Vec<u8>) {
    let (width, height) = yuv.dimensions();
    let mut rgb = vec![0; yuv.rgb8_len()];
    yuv.write_rgb8(&mut rgb);
    (width, height, rgb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::first_keyframe;

    /// Every size the simulators serve: the poster is the video's own size, and a picture
    /// (not a flat fill: the stills are grey-ish but vary).
    #[test]
    fn every_served_size_gives_a_poster_of_that_size() {
        let files: [(&[u8], (u32, u32)); 6] = [
            (
                include_bytes!("../../../tools/provider-sim/assets/gop-720p-16x9.mp4"),
                (1280, 720),
            ),
            (
                include_bytes!("../../../tools/provider-sim/assets/gop-720p-9x16.mp4"),
                (720, 1280),
            ),
            (
                include_bytes!("../../../tools/provider-sim/assets/gop-720p-1x1.mp4"),
                (720, 720),
            ),
            (
                include_bytes!("../../../tools/provider-sim/assets/gop-1080p-16x9.mp4"),
                (1920, 1080),
            ),
            (
                include_bytes!("../../../tools/provider-sim/assets/gop-1080p-9x16.mp4"),
                (1080, 1920),
            ),
            (
                include_bytes!("../../../tools/provider-sim/assets/gop-1080p-1x1.mp4"),
                (1080, 1080),
            ),
        ];
        for (file, size) in files {
            let keyframe = first_keyframe(file).unwrap();
            assert_eq!((keyframe.width, keyframe.height), size);
            let jpeg = poster_jpeg(&keyframe).unwrap();
            assert_eq!((jpeg.width, jpeg.height), size);
            assert_eq!(&jpeg.bytes[..2], &[0xff, 0xd8], "a JPEG starts with SOI");
            assert!(
                jpeg.bytes.len() > 5_000,
                "{size:?}: {} bytes",
                jpeg.bytes.len()
            );
        }
    }

    #[test]
    fn a_keyframe_that_is_not_h264_gives_no_poster() {
        let junk = Keyframe {
            annex_b: vec![0, 0, 0, 1, 0x65, 1, 2, 3],
            width: 16,
            height: 16,
        };
        assert!(poster_jpeg(&junk).is_err());
    }
}
