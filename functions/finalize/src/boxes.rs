//! Top-level MP4 box framing over a byte stream: keeps the `ftyp` and `moov` boxes (small) and
//! skips everything else (`mdat`, gigabytes), so the header can be parsed by the `mp4` crate
//! after the file has streamed past in bounded memory.

/// Largest `moov` kept; real ones are a few megabytes even for long videos.
pub const MAX_KEPT_BOX: u64 = 32 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct BoxCollector {
    header: Vec<u8>,
    /// Bytes left in the current box, and whether they are kept.
    remaining: u64,
    keeping: bool,
    /// The box runs to the end of the file (size 0).
    to_end: bool,
    kept: Vec<u8>,
    pub first_box: Option<[u8; 4]>,
    pub saw_moov: bool,
    pub error: Option<String>,
}

impl BoxCollector {
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.error.is_none() {
            if self.remaining > 0 || self.to_end {
                let take = if self.to_end {
                    data.len()
                } else {
                    (self.remaining.min(data.len() as u64)) as usize
                };
                if self.keeping {
                    self.kept.extend_from_slice(&data[..take]);
                }
                self.remaining -= (take as u64).min(self.remaining);
                data = &data[take..];
                continue;
            }
            // Reading a header: 8 bytes, or 16 when the 32-bit size is 1.
            let need = if self.header.len() >= 4 && self.header[..4] == [0, 0, 0, 1] {
                16
            } else {
                8
            };
            let take = (need - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() == 8 && self.header[..4] == [0, 0, 0, 1] {
                continue;
            }
            if self.header.len() < need {
                continue;
            }
            self.start_box();
        }
    }

    fn start_box(&mut self) {
        let h = std::mem::take(&mut self.header);
        let kind: [u8; 4] = [h[4], h[5], h[6], h[7]];
        let (size, header_len) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
            1 => (
                u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
                16u64,
            ),
            0 => (0, 8),
            n => (u64::from(n), 8),
        };
        if self.first_box.is_none() {
            self.first_box = Some(kind);
        }
        if size != 0 && size < header_len {
            self.error = Some(format!(
                "box {} has an impossible size",
                String::from_utf8_lossy(&kind)
            ));
            return;
        }
        let keep = matches!(&kind, b"ftyp" | b"moov");
        if keep && size > MAX_KEPT_BOX {
            self.error = Some("moov box is too large".into());
            return;
        }
        if &kind == b"moov" {
            self.saw_moov = true;
        }
        self.keeping = keep;
        if keep {
            self.kept.extend_from_slice(&h);
        }
        self.to_end = size == 0;
        self.remaining = size.saturating_sub(header_len);
    }

    /// `ftyp` + `moov`, ready for the `mp4` crate; an error when the stream was no MP4.
    pub fn finish(self) -> Result<Vec<u8>, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        if self.first_box != Some(*b"ftyp") {
            return Err("not an MP4 file (it does not start with an ftyp box)".into());
        }
        if !self.saw_moov {
            return Err("not a playable MP4 file (no moov box)".into());
        }
        if self.remaining > 0 && !self.to_end {
            return Err("the MP4 file is truncated".into());
        }
        Ok(self.kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(payload);
        b
    }

    fn collect(bytes: &[u8], chunk: usize) -> Result<Vec<u8>, String> {
        let mut c = BoxCollector::default();
        for part in bytes.chunks(chunk.max(1)) {
            c.push(part);
        }
        c.finish()
    }

    #[test]
    fn keeps_the_header_of_a_real_file_whatever_the_chunking() {
        let file = include_bytes!("../../../tools/provider-sim/assets/gop-720p-16x9.mp4");
        for chunk in [1, 3, 7, 1000, 65536, file.len()] {
            let kept = collect(file, chunk).unwrap();
            let facts = shared::domain::mp4_probe::probe(&kept).unwrap();
            assert_eq!(
                (facts.width, facts.height),
                (Some(1280), Some(720)),
                "chunk {chunk}"
            );
            assert!(kept.len() < file.len() / 2, "mdat was skipped");
        }
    }

    #[test]
    fn refuses_what_is_not_a_whole_mp4() {
        let ftyp = boxed(b"ftyp", b"isom\0\0\0\0isom");
        let moov = boxed(b"moov", b"");
        let mdat = boxed(b"mdat", &[7u8; 100]);
        let good = [ftyp.clone(), moov.clone(), mdat.clone()].concat();
        assert!(collect(&good, 5).is_ok());
        assert!(collect(b"<html>expired</html>", 4).is_err());
        assert!(
            collect(&[ftyp.clone(), mdat.clone()].concat(), 4).is_err(),
            "no moov"
        );
        assert!(collect(&good[..good.len() - 10], 4).is_err(), "truncated");
        // 64-bit sizes are followed too.
        let mut large = vec![0, 0, 0, 1];
        large.extend_from_slice(b"mdat");
        large.extend_from_slice(&(16u64 + 4).to_be_bytes());
        large.extend_from_slice(&[1, 2, 3, 4]);
        assert!(collect(&[ftyp, moov, large].concat(), 3).is_ok());
    }
}
