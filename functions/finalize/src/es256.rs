//! ES256 manifests signed with ring through c2pa's `Signer` extension point.
//!
//! c2pa's own P-256 signer is generic RustCrypto code, compiled inside c2pa at this build's
//! size-first optimisation: building it (one scalar multiplication), and the cold start's
//! check that the key is the certificate's (a signature made and verified), took 1.9 of
//! finalize's 5.4 ms cold start (docs/performance.md). ring's P-256 is hand-tuned assembly,
//! already linked for TLS, and checks the key while reading it.

use std::sync::Arc;

use c2pa::SigningAlg;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use crate::label::LabelError;

/// What c2pa's ECDSA signer reserves beyond the chain (the signature structure, and room for a
/// time stamp): the same, so a manifest is the size it was.
const RESERVE: usize = 1024 + 10_000;

/// A P-256 key and the certificate chain (leaf first, DER) it signs for.
#[derive(Clone)]
pub struct Es256 {
    key: Arc<EcdsaKeyPair>,
    chain: Arc<Vec<Vec<u8>>>,
}

impl Es256 {
    /// `None` when the key is not a PKCS#8 P-256 key ring reads (RSA, or no public key in the
    /// PKCS#8): c2pa's own signer takes those. A P-256 key that is not the leaf certificate's
    /// is refused: every manifest it signed would fail validation.
    pub fn new(chain_pem: &str, key_pem: &str) -> Result<Option<Self>, LabelError> {
        let Ok(der) = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()) else {
            return Ok(None);
        };
        let rng = SystemRandom::new();
        let Ok(key) = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &rng,
        ) else {
            return Ok(None);
        };
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .map(|c| c.map(|c| c.to_vec()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| LabelError::Unsuitable(format!("the certificate chain: {e}")))?;
        let leaf = crate::label::leaf(&chain)?;
        if leaf.public_key().subject_public_key.data.as_ref() != key.public_key().as_ref() {
            return Err(LabelError::Unsuitable(
                "the key does not sign for the certificate: its public key is not the leaf's"
                    .into(),
            ));
        }
        Ok(Some(Self {
            key: Arc::new(key),
            chain: Arc::new(chain),
        }))
    }
}

impl c2pa::Signer for Es256 {
    /// COSE's ES256 signature: r and s, 32 bytes each.
    fn sign(&self, data: &[u8]) -> c2pa::Result<Vec<u8>> {
        self.key
            .sign(&SystemRandom::new(), data)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| c2pa::Error::InternalError("ES256 signing failed".into()))
    }

    fn alg(&self) -> SigningAlg {
        SigningAlg::Es256
    }

    fn certs(&self) -> c2pa::Result<Vec<Vec<u8>>> {
        Ok(self.chain.as_ref().clone())
    }

    fn reserve_size(&self) -> usize {
        RESERVE + self.chain.iter().map(Vec::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::Es256;
    use c2pa::Signer as _;

    /// The local CA's P-256 key signs through ring; what it signs verifies with the leaf's key.
    #[test]
    fn a_p256_key_signs_for_its_leaf() {
        let ca = crate::local_ca::make().unwrap();
        let signer = Es256::new(&ca.chain, &ca.key)
            .unwrap()
            .expect("a P-256 key");
        let sig = signer.sign(b"probe").unwrap();
        assert_eq!(sig.len(), 64, "r and s, fixed width");
        let leaf = &signer.certs().unwrap()[0];
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).unwrap();
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            cert.public_key().subject_public_key.data.as_ref(),
        );
        assert!(public.verify(b"probe", &sig).is_ok());
        assert!(public.verify(b"other", &sig).is_err());
    }

    #[test]
    fn which_keys_ring_takes() {
        let (ca, other) = (
            crate::local_ca::make().unwrap(),
            crate::local_ca::make().unwrap(),
        );
        let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
            .unwrap()
            .serialize_pem();
        // Another P-256 key than the leaf's: refused, naming why.
        let err = Es256::new(&ca.chain, &other.key).err().unwrap();
        assert!(err.to_string().contains("not the leaf's"), "{err}");
        // Not a P-256 PKCS#8 key: left to c2pa's own signer.
        for key in [p384.as_str(), "not a pem", ""] {
            assert!(Es256::new(&ca.chain, key).unwrap().is_none(), "{key}");
        }
        // A chain without a certificate.
        assert!(Es256::new("", &ca.key).is_err());
    }
}
