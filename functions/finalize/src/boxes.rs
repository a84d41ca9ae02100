//! Top-level MP4 box framing over a byte stream, in bounded memory: the header (`ftyp`,
//! `moov`) kept for the `mp4` crate, and every box's place for the C2PA label.

/// Largest `moov` kept; real ones are a few megabytes even for long videos.
pub const MAX_KEPT_BOX: u64 = 32 * 1024 * 1024;

/// A top-level box as its header announced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxStart {
    pub kind: [u8; 4],
    /// File offset of the box's first byte.
    pub at: u64,
    /// 0: the box runs to the end of the file.
    pub size: u64,
    /// The 64-bit size form (a 16-byte header).
    pub large: bool,
}

/// What passes, in file order: a box's header bytes, then its payload in pieces.
#[derive(Debug)]
pub enum Piece<'a> {
    Header(BoxStart, &'a [u8]),
    Payload(BoxStart, &'a [u8]),
}

/// Top-level box framing over a byte stream, reporting every byte as part of a header or a
/// payload, whatever the chunking.
#[derive(Debug, Default)]
pub struct BoxFramer {
    header: Vec<u8>,
    current: Option<BoxStart>,
    /// Bytes left in the current box's payload (unused when it runs to the end).
    remaining: u64,
    offset: u64,
    pub error: Option<String>,
}

impl BoxFramer {
    pub fn push(&mut self, mut data: &[u8], on: &mut impl FnMut(Piece<'_>)) {
        while !data.is_empty() && self.error.is_none() {
            if let Some(b) = self.current.filter(|b| b.size == 0 || self.remaining > 0) {
                let take = if b.size == 0 {
                    data.len()
                } else {
                    self.remaining.min(data.len() as u64) as usize
                };
                on(Piece::Payload(b, &data[..take]));
                self.remaining = self.remaining.saturating_sub(take as u64);
                self.offset += take as u64;
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
            if self.header.len() < need || (need == 8 && self.header[..4] == [0, 0, 0, 1]) {
                continue;
            }
            self.start_box(on);
        }
    }

    fn start_box(&mut self, on: &mut impl FnMut(Piece<'_>)) {
        let h = std::mem::take(&mut self.header);
        let kind: [u8; 4] = [h[4], h[5], h[6], h[7]];
        let (size, large) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
            1 => (
                u64::from_be_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]),
                true,
            ),
            n => (u64::from(n), false),
        };
        if size != 0 && size < h.len() as u64 {
            self.error = Some(format!(
                "box {} has an impossible size",
                String::from_utf8_lossy(&kind)
            ));
            return;
        }
        let b = BoxStart {
            kind,
            at: self.offset,
            size,
            large,
        };
        self.offset += h.len() as u64;
        self.current = Some(b);
        self.remaining = size.saturating_sub(h.len() as u64);
        on(Piece::Header(b, &h));
    }

    /// Whether the stream ended inside a box (or a header).
    pub fn truncated(&self) -> bool {
        !self.header.is_empty()
            || self
                .current
                .is_some_and(|b| b.size != 0 && self.remaining > 0)
    }
}

/// Keeps the `ftyp` and `moov` boxes (small) and skips everything else (`mdat`, gigabytes),
/// so the header can be parsed by the `mp4` crate after the file has streamed past.
#[derive(Debug, Default)]
pub struct BoxCollector {
    framer: BoxFramer,
    kept: Vec<u8>,
    pub first_box: Option<[u8; 4]>,
    pub saw_moov: bool,
    pub error: Option<String>,
}

impl BoxCollector {
    pub fn push(&mut self, data: &[u8]) {
        let (kept, first, saw_moov, error) = (
            &mut self.kept,
            &mut self.first_box,
            &mut self.saw_moov,
            &mut self.error,
        );
        let keeps = |b: &BoxStart| matches!(&b.kind, b"ftyp" | b"moov");
        self.framer.push(data, &mut |piece| match piece {
            Piece::Header(b, bytes) => {
                first.get_or_insert(b.kind);
                *saw_moov |= &b.kind == b"moov";
                if keeps(&b) && b.size > MAX_KEPT_BOX {
                    error.get_or_insert_with(|| "moov box is too large".into());
                } else if keeps(&b) {
                    kept.extend_from_slice(bytes);
                }
            }
            Piece::Payload(b, bytes) if keeps(&b) && error.is_none() => {
                kept.extend_from_slice(bytes);
                // A box running to the end of the file has no size to check up front.
                if kept.len() as u64 > 2 * MAX_KEPT_BOX {
                    error.get_or_insert_with(|| "moov box is too large".into());
                }
            }
            Piece::Payload(..) => {}
        });
        if let Some(e) = self.framer.error.take() {
            self.error.get_or_insert(e);
        }
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
        if self.framer.truncated() {
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
