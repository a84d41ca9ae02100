//! C2PA content credentials in every stored video: a signed manifest saying the video was made
//! by a trained algorithm (the provider's model as the agent, our task id), so the AI label
//! travels with the file, not only with the S3 object (docs/provenance.md).
//!
//! The manifest is appended as the file's last top-level `uuid` box: nothing before it moves,
//! so the video still streams into S3 part by part and the manifest rides in the last part.
//! Its hard binding is c2pa's BMFF hash with Merkle leaves over each `mdat` payload, hashed as
//! the bytes pass (`hash_bmff_mdat_bytes`); the other boxes (`ftyp`, `moov`, …: small) are
//! kept and hashed at the end from a sparse copy whose `mdat` payloads read as zeros — the
//! flat hash excludes them.

use std::io::{Read, Seek, SeekFrom};

use c2pa::{Builder, Context, SigningAlg};
use shared::runtime::config::ConfigError;
use x509_parser::certificate::X509Certificate;

use crate::boxes::{BoxFramer, BoxStart, Piece};

/// Merkle leaf over `mdat` payloads: 4 GiB is 4,096 leaves, 128 KiB of hashes in the manifest.
pub const LEAF_KIB: usize = 1024;
/// Most non-media bytes kept for the final hash (moov, free, udta, …).
pub const MAX_KEPT: u64 = 64 * 1024 * 1024;
/// The IPTC term C2PA uses for media made by a generative model.
pub const TRAINED_ALGORITHMIC_MEDIA: &str =
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia";
const MP4: &str = "video/mp4";

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("C2PA: {0}")]
    C2pa(#[from] c2pa::Error),
    #[error("the video cannot carry a label: {0}")]
    Unsuitable(String),
    /// A second manifest store would make the file unreadable to C2PA readers.
    #[error("the provider's file already carries a C2PA manifest; it is kept as it came")]
    AlreadyLabelled,
}

/// The `uuid` box user type C2PA manifest stores are embedded under in BMFF files.
const C2PA_UUID: [u8; 16] = [
    0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81,
];

/// The signing certificate chain (leaf first) and its private key, both PEM.
#[derive(Clone)]
pub struct Credentials(Signing);

#[derive(Clone)]
enum Signing {
    /// A P-256 key, held by ring (ES256: what the local CA makes and docs/provenance.md asks
    /// for).
    Es256(crate::es256::Es256),
    /// Any other key, for c2pa's own signer.
    C2pa { chain: String, key: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    /// Checked once at cold start (a chain that parses, a key that signs for its leaf):
    /// credentials c2pa refuses fail the start, not a video.
    pub fn new(chain: String, key: String) -> Result<Self, LabelError> {
        if let Some(es256) = crate::es256::Es256::new(&chain, &key)? {
            return Ok(Self(Signing::Es256(es256)));
        }
        let creds = Self(Signing::C2pa { chain, key });
        key_check(creds.signer()?.as_ref())?;
        Ok(creds)
    }

    fn signer(&self) -> Result<c2pa::BoxedSigner, LabelError> {
        match &self.0 {
            Signing::Es256(es256) => Ok(Box::new(es256.clone())),
            Signing::C2pa { chain, key } => Ok(c2pa::create_signer::from_keys(
                chain.as_bytes(),
                key.as_bytes(),
                signing_alg(key),
                None,
            )?),
        }
    }
}

/// The chain's first certificate, parsed: the one the key must sign for.
pub(crate) fn leaf(chain: &[Vec<u8>]) -> Result<X509Certificate<'_>, LabelError> {
    let der = chain
        .first()
        .ok_or_else(|| LabelError::Unsuitable("no certificate in the chain".into()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| LabelError::Unsuitable(format!("the leaf certificate: {e}")))?;
    Ok(cert)
}

/// Sign a few bytes and verify them with the leaf certificate's public key: a key that is not
/// the leaf's would make every manifest invalid. (Signing a whole manifest and reading it back,
/// as this did first, took 5 of finalize's 8.7 ms cold start.)
fn key_check(signer: &dyn c2pa::Signer) -> Result<(), LabelError> {
    const PROBE: &[u8] = b"kling-lambda: does this key sign for this certificate?";
    let certs = signer.certs()?;
    let cert = leaf(&certs)?;
    let validator = c2pa::crypto::raw_signature::validator_for_signing_alg(signer.alg())
        .ok_or_else(|| LabelError::Unsuitable(format!("no validator for {}", signer.alg())))?;
    let signature = signer.sign(PROBE)?;
    validator
        .validate(&signature, PROBE, cert.public_key().raw)
        .map_err(|e| {
            LabelError::Unsuitable(format!("the key does not sign for the certificate: {e}"))
        })
}

/// `C2PA_LABEL=on` (the default) needs `C2PA_CERTIFICATE_CHAIN` and `C2PA_SIGNING_KEY` (from
/// the secret `C2PA_SECRET_ID` names); `off` stores videos without a manifest.
pub fn credentials_from_source(
    src: &impl shared::runtime::config::Source,
) -> Result<Option<Credentials>, ConfigError> {
    match src.optional("C2PA_LABEL").as_deref().map(str::trim) {
        None | Some("on") => {}
        Some("off") => return Ok(None),
        Some(other) => {
            return Err(ConfigError::Invalid {
                name: "C2PA_LABEL",
                reason: format!("expected on or off, not {other:?}"),
            });
        }
    }
    let chain = src.required("C2PA_CERTIFICATE_CHAIN")?;
    let key = src.required("C2PA_SIGNING_KEY")?;
    Credentials::new(chain, key)
        .map(Some)
        .map_err(|e| ConfigError::Invalid {
            name: "C2PA_CERTIFICATE_CHAIN",
            reason: e.to_string(),
        })
}

/// ES256 for EC keys (what the local CA makes), PS256 for RSA ones.
fn signing_alg(key_pem: &str) -> SigningAlg {
    if key_pem.contains("RSA PRIVATE KEY") || key_pem.len() > 1200 {
        SigningAlg::Ps256
    } else {
        SigningAlg::Es256
    }
}

/// What the manifest says about the video.
#[derive(Debug, Clone)]
pub struct Generation {
    pub task_id: String,
    /// The provider's name (`kling`, `fal`).
    pub provider: String,
    pub model: String,
}

/// The manifest definition: one `c2pa.created` action by the provider's model, and our task.
pub fn definition(g: &Generation) -> serde_json::Value {
    serde_json::json!({
        "claim_generator_info": [{"name": "kling-lambda", "version": env!("CARGO_PKG_VERSION")}],
        "title": format!("{}.mp4", g.task_id),
        "format": MP4,
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {"actions": [{
                    "action": "c2pa.created",
                    "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
                    "softwareAgent": {"name": g.provider, "version": g.model},
                }]}
            },
            {
                "label": "com.kling-lambda.task",
                "data": {"task_id": g.task_id, "provider": g.provider, "model": g.model}
            }
        ]
    })
}

/// A stored file split into the provider's bytes and the manifest appended as its last
/// top-level box; `None` when it does not end with a C2PA manifest store.
pub fn split_manifest(stored: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut last = None;
    let mut framer = BoxFramer::default();
    framer.push(stored, &mut |piece| {
        if let Piece::Header(b, _) = piece {
            last = Some(b.at as usize);
        }
    });
    let last = last.filter(|_| framer.error.is_none() && !framer.truncated())?;
    let (video, manifest) = stored.split_at(last);
    (manifest.get(4..8) == Some(b"uuid".as_slice())
        && manifest.get(8..24) == Some(C2PA_UUID.as_slice()))
    .then_some((video, manifest))
}

/// One video's label, built as its bytes pass.
pub struct Label {
    builder: Builder,
    framer: BoxFramer,
    /// Non-media bytes by file offset, contiguous runs merged.
    kept: Vec<(u64, Vec<u8>)>,
    kept_bytes: u64,
    offset: u64,
    /// The current `mdat`: its index, whether its header is large, whether a leaf went out,
    /// and its payload not yet handed to the hasher.
    mdat: Option<(usize, bool)>,
    mdats: usize,
    fed: bool,
    pending: Vec<u8>,
    /// Where each top-level `uuid` box's user type starts.
    uuids: Vec<u64>,
    error: Option<String>,
}

impl Label {
    pub fn start(creds: &Credentials, generation: &Generation) -> Result<Self, LabelError> {
        let context = Context::new().with_signer(creds.signer()?);
        let mut builder = Builder::from_context(context).with_definition(definition(generation))?;
        builder.placeholder(MP4)?;
        builder.set_bmff_hash_fixed_leaf_size(LEAF_KIB);
        Ok(Self {
            builder,
            framer: BoxFramer::default(),
            kept: Vec::new(),
            kept_bytes: 0,
            offset: 0,
            mdat: None,
            mdats: 0,
            fed: false,
            pending: Vec::new(),
            uuids: Vec::new(),
            error: None,
        })
    }

    pub fn push(&mut self, data: &[u8]) {
        let mut framer = std::mem::take(&mut self.framer);
        framer.push(data, &mut |piece| match piece {
            Piece::Header(b, bytes) => self.take(b, true, bytes),
            Piece::Payload(b, bytes) => self.take(b, false, bytes),
        });
        if let Some(e) = framer.error.take() {
            self.error.get_or_insert(e);
        }
        self.framer = framer;
    }

    fn take(&mut self, b: BoxStart, header: bool, bytes: &[u8]) {
        // A header may have arrived over several pushes: it is reported whole, at its box.
        let at = if header { b.at } else { self.offset };
        self.offset = at + bytes.len() as u64;
        if &b.kind != b"mdat" {
            if header && &b.kind == b"uuid" {
                self.uuids.push(at + bytes.len() as u64);
            }
            if header && &b.kind == b"moof" {
                // Fragments are validated another way (per-fragment hashes): not this label.
                self.error.get_or_insert_with(|| "a fragmented MP4".into());
            }
            return self.keep(at, bytes);
        }
        if header {
            if self.mdats > 0 {
                // c2pa 0.90's reader pairs Merkle maps with mdat boxes in hash-map order, so a
                // label over several would fail validation at random (docs/provenance.md).
                self.error
                    .get_or_insert_with(|| "more than one mdat box".into());
            }
            self.flush_mdat();
            self.mdat = Some((self.mdats, b.large));
            self.mdats += 1;
            self.fed = false;
        }
        // The flat hash covers each mdat's first 16 bytes; the Merkle leaves, what follows.
        let window = (b.at + 16).saturating_sub(at).min(bytes.len() as u64) as usize;
        self.keep(at, &bytes[..window]);
        if !header {
            self.hash_media(b.large, bytes);
        }
    }

    fn keep(&mut self, at: u64, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.kept_bytes += bytes.len() as u64;
        if self.kept_bytes > MAX_KEPT {
            self.error
                .get_or_insert_with(|| "too much non-media data to hash".into());
            return;
        }
        match self.kept.last_mut() {
            Some((start, run)) if *start + run.len() as u64 == at => run.extend_from_slice(bytes),
            _ => self.kept.push((at, bytes.to_vec())),
        }
    }

    /// Media bytes go to the Merkle hasher in whole leaves. c2pa skips the first 8 payload
    /// bytes of a small-header mdat (they are in the flat hash), so its first hand-over
    /// carries them on top of a leaf.
    fn hash_media(&mut self, large: bool, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        let leaf = LEAF_KIB * 1024;
        let mut from = 0;
        loop {
            let n = if self.fed || large { leaf } else { leaf + 8 };
            if self.pending.len() - from < n {
                break;
            }
            self.feed(from, n);
            from += n;
        }
        self.pending.drain(..from);
    }

    fn feed(&mut self, from: usize, n: usize) {
        let Some((index, large)) = self.mdat else {
            return;
        };
        if !self.fed && !large && n <= 8 {
            // c2pa would record no leaf, and the label would not verify.
            self.error
                .get_or_insert_with(|| "an mdat box too small to hash".into());
            return;
        }
        let data = &self.pending[from..from + n];
        if let Err(e) = self.builder.hash_bmff_mdat_bytes(index, data, large) {
            self.error.get_or_insert(e.to_string());
        }
        self.fed = true;
    }

    fn flush_mdat(&mut self) {
        if self.mdat.is_some() {
            self.feed(0, self.pending.len());
            self.pending.clear();
        }
    }

    /// The signed manifest box to append after the video's `total` bytes.
    pub fn finish(mut self, total: u64) -> Result<Vec<u8>, LabelError> {
        self.flush_mdat();
        if let Some(e) = self.error.take() {
            return Err(LabelError::Unsuitable(e));
        }
        if self.framer.truncated() || self.mdats == 0 {
            return Err(LabelError::Unsuitable("no complete media data".into()));
        }
        let mut sparse = Sparse::new(self.kept, total);
        for at in std::mem::take(&mut self.uuids) {
            let mut kind = [0u8; 16];
            sparse
                .seek(SeekFrom::Start(at))
                .map_err(c2pa::Error::from)?;
            sparse.read_exact(&mut kind).map_err(c2pa::Error::from)?;
            if kind == C2PA_UUID {
                return Err(LabelError::AlreadyLabelled);
            }
        }
        sparse.rewind().map_err(c2pa::Error::from)?;
        self.builder.update_hash_from_stream(MP4, &mut sparse)?;
        Ok(self.builder.sign_embeddable(MP4)?)
    }
}

/// The file as the final hash reads it: kept runs where they were, zeros elsewhere.
struct Sparse {
    runs: Vec<(u64, Vec<u8>)>,
    len: u64,
    pos: u64,
}

impl Sparse {
    fn new(runs: Vec<(u64, Vec<u8>)>, len: u64) -> Self {
        Self { runs, len, pos: 0 }
    }
}

impl Read for Sparse {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = (buf.len() as u64).min(left) as usize;
        if want == 0 {
            return Ok(0);
        }
        // The run holding pos, or the next one (which bounds the zeros before it).
        let i = self
            .runs
            .partition_point(|(at, run)| at + run.len() as u64 <= self.pos);
        let n = match self.runs.get(i) {
            Some((at, run)) if *at <= self.pos => {
                let from = (self.pos - at) as usize;
                let n = want.min(run.len() - from);
                buf[..n].copy_from_slice(&run[from..from + n]);
                n
            }
            Some((at, _)) => {
                let n = want.min((at - self.pos) as usize);
                buf[..n].fill(0);
                n
            }
            None => {
                buf[..want].fill(0);
                want
            }
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Sparse {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek before the start")
        })?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use c2pa::{Reader, ValidationState};

    const SAMPLE: &[u8] = include_bytes!("../../../tools/provider-sim/assets/gop-720p-16x9.mp4");

    fn generation() -> Generation {
        Generation {
            task_id: "tsk_label_test".into(),
            provider: "kling".into(),
            model: "kling-v2-6".into(),
        }
    }

    fn signed(ca: &crate::local_ca::LocalCa, file: &[u8], chunk: usize) -> Vec<u8> {
        let creds = Credentials::new(ca.chain.clone(), ca.key.clone()).unwrap();
        let mut label = Label::start(&creds, &generation()).unwrap();
        for part in file.chunks(chunk.max(1)) {
            label.push(part);
        }
        let manifest = label.finish(file.len() as u64).unwrap();
        [file, &manifest].concat()
    }

    fn read(ca: &crate::local_ca::LocalCa, file: &[u8]) -> Reader {
        ca.read(file).unwrap()
    }

    fn mdat(payload: &[u8], large: bool) -> Vec<u8> {
        let mut b = if large {
            let mut h = vec![0, 0, 0, 1];
            h.extend_from_slice(b"mdat");
            h.extend_from_slice(&(payload.len() as u64 + 16).to_be_bytes());
            h
        } else {
            let mut h = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
            h.extend_from_slice(b"mdat");
            h
        };
        b.extend_from_slice(payload);
        b
    }

    #[test]
    fn a_signed_video_validates_trusted_and_says_ai_made_it_whatever_the_chunking() {
        let ca = crate::local_ca::make().unwrap();
        for chunk in [1, 7, 1000, 65536, SAMPLE.len()] {
            let file = signed(&ca, SAMPLE, chunk);
            let reader = read(&ca, &file);
            assert_eq!(
                reader.validation_state(),
                ValidationState::Trusted,
                "chunk {chunk}: {:?}",
                reader.validation_status()
            );
            let json = reader.json();
            assert!(json.contains(TRAINED_ALGORITHMIC_MEDIA), "{json}");
            assert!(json.contains("tsk_label_test") && json.contains("kling-v2-6"));
            assert_eq!(
                &file[..SAMPLE.len()],
                SAMPLE,
                "the video bytes are untouched"
            );
        }
    }

    #[test]
    fn any_changed_byte_fails_validation() {
        let ca = crate::local_ca::make().unwrap();
        let file = signed(&ca, SAMPLE, 4096);
        // In the first mdat bytes, deep in the mdat, in the moov; and an untrusted signer.
        for at in [45, 20_000, SAMPLE.len() - 100] {
            let mut bad = file.clone();
            bad[at] ^= 1;
            let state = read(&ca, &bad).validation_state();
            assert_eq!(state, ValidationState::Invalid, "byte {at}");
        }
        let stranger = crate::local_ca::make().unwrap();
        assert_ne!(
            read(&stranger, &file).validation_state(),
            ValidationState::Trusted
        );
    }

    #[test]
    fn many_leaves_and_64_bit_headers() {
        let ca = crate::local_ca::make().unwrap();
        let ftyp = &SAMPLE[..32];
        let moov = &SAMPLE[47943..];
        let media: Vec<u8> = (0..3 * 1024 * 1024 + 123)
            .map(|i| (i % 251) as u8)
            .collect();
        let files = [
            mdat(&media, false),
            mdat(&media, true),
            mdat(&media[..LEAF_KIB * 1024], false),
            mdat(&media[..LEAF_KIB * 1024 + 8], false),
        ];
        let chunks = [4093, 1 << 20, (1 << 20) + 8, 6 << 20];
        for (m, chunk) in files.iter().flat_map(|m| chunks.map(|c| (m, c))) {
            let file = [ftyp, m, moov].concat();
            let signed = signed(&ca, &file, chunk);
            let reader = read(&ca, &signed);
            assert_eq!(
                reader.validation_state(),
                ValidationState::Trusted,
                "chunk {chunk}: {:?}",
                reader.validation_status()
            );
            let mut bad = signed.clone();
            bad[32 + 1024 * 1024 - 1] ^= 1;
            assert_eq!(read(&ca, &bad).validation_state(), ValidationState::Invalid);
        }
    }

    fn boxed_moof() -> Vec<u8> {
        [&16u32.to_be_bytes()[..], b"moof", &[0; 8]].concat()
    }

    #[test]
    fn what_cannot_carry_a_label_says_why() {
        let ca = crate::local_ca::make().unwrap();
        let creds = Credentials::new(ca.chain.clone(), ca.key.clone()).unwrap();
        let two = [mdat(&[1; 100], false), mdat(&[2; 100], false)].concat();
        let moof = [
            &SAMPLE[..32],
            &SAMPLE[47943..],
            &boxed_moof(),
            &mdat(&[3; 100], false),
        ]
        .concat();
        let cases: [(&str, Vec<u8>); 5] = [
            ("fragmented", moof),
            (
                "two mdats",
                [&SAMPLE[..32], &two[..], &SAMPLE[47943..]].concat(),
            ),
            ("truncated", SAMPLE[..30_000].to_vec()),
            ("no mdat", [&SAMPLE[..32], &SAMPLE[47943..]].concat()),
            (
                "tiny mdat",
                [
                    &SAMPLE[..32],
                    &mdat(&[1, 2, 3], false)[..],
                    &SAMPLE[47943..],
                ]
                .concat(),
            ),
        ];
        for (name, file) in cases {
            let mut label = Label::start(&creds, &generation()).unwrap();
            label.push(&file);
            let err = label.finish(file.len() as u64).err();
            assert!(
                matches!(err, Some(LabelError::Unsuitable(_))),
                "{name}: {err:?}"
            );
        }
        assert!(Credentials::new("not a pem".into(), ca.key.clone()).is_err());
    }

    /// Another key than the leaf certificate's signs manifests no reader accepts: refused at
    /// the start, naming why.
    #[test]
    fn a_key_that_is_not_the_leafs_is_refused() {
        let (ca, other) = (
            crate::local_ca::make().unwrap(),
            crate::local_ca::make().unwrap(),
        );
        let err = Credentials::new(ca.chain.clone(), other.key.clone()).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not sign for the certificate"),
            "{err}"
        );
        assert!(Credentials::new(other.chain.clone(), other.key.clone()).is_ok());
    }

    #[test]
    fn a_file_the_provider_labelled_keeps_its_own_manifest() {
        let ca = crate::local_ca::make().unwrap();
        let creds = Credentials::new(ca.chain.clone(), ca.key.clone()).unwrap();
        let mut provider = Builder::from_context(Context::new())
            .with_definition(serde_json::json!({"title": "the provider's"}))
            .unwrap();
        let mut out = std::io::Cursor::new(Vec::new());
        let source = &mut std::io::Cursor::new(SAMPLE);
        let signer = creds.signer().unwrap();
        provider
            .sign(signer.as_ref(), MP4, source, &mut out)
            .unwrap();
        let theirs = out.into_inner();
        let mut label = Label::start(&creds, &generation()).unwrap();
        label.push(&theirs);
        let err = label.finish(theirs.len() as u64).err();
        assert!(matches!(err, Some(LabelError::AlreadyLabelled)), "{err:?}");
        // Its manifest sits after ftyp, not at the end: not one of ours.
        assert_eq!(split_manifest(&theirs), None);
        assert_eq!(split_manifest(SAMPLE), None);
        // Stored as it came, it still reads (two stores would not: "more than one manifest store").
        let title = read(&ca, &theirs)
            .active_manifest()
            .and_then(|m| m.title().map(str::to_string));
        assert_eq!(title.as_deref(), Some("the provider's"));
    }

    #[test]
    fn settings_table() {
        use std::collections::HashMap;
        let ca = crate::local_ca::make().unwrap();
        let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let creds = [
            ("C2PA_CERTIFICATE_CHAIN", ca.chain.as_str()),
            ("C2PA_SIGNING_KEY", ca.key.as_str()),
        ];
        let other = crate::local_ca::make().unwrap();
        type Case<'a> = (Vec<(&'a str, &'a str)>, Result<bool, &'a str>);
        let cases: [Case; 6] = [
            (creds.to_vec(), Ok(true)),
            ([&creds[..], &[("C2PA_LABEL", "on")]].concat(), Ok(true)),
            (vec![("C2PA_LABEL", "off")], Ok(false)),
            (vec![], Err("C2PA_CERTIFICATE_CHAIN")),
            (vec![("C2PA_LABEL", "maybe")], Err("C2PA_LABEL")),
            // A key that is not the leaf's: refused at cold start.
            (
                vec![
                    ("C2PA_CERTIFICATE_CHAIN", ca.chain.as_str()),
                    ("C2PA_SIGNING_KEY", other.key.as_str()),
                ],
                Err("C2PA_CERTIFICATE_CHAIN"),
            ),
        ];
        for (pairs, want) in cases {
            let got = credentials_from_source(&env(&pairs)).map(|c| c.is_some());
            match (got, want) {
                (Ok(g), Ok(w)) => assert_eq!(g, w, "{pairs:?}"),
                (Err(ConfigError::Missing(n) | ConfigError::Invalid { name: n, .. }), Err(w)) => {
                    assert_eq!(n, w)
                }
                (got, want) => panic!("{pairs:?}: {got:?} vs {want:?}"),
            }
        }
    }
}
