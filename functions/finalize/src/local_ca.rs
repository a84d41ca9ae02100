//! A throwaway certificate authority for local stacks and tests: a CA and a leaf meeting the
//! C2PA certificate profile (the leaf: not a CA, digitalSignature, the emailProtection EKU, an
//! authority key identifier). Never for production: its trust anchor is only what a local
//! reader is told to trust.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

/// PEMs: the CA certificate (the trust anchor), the signer's chain (leaf, CA), its key.
#[derive(Clone)]
pub struct LocalCa {
    pub anchor: String,
    pub chain: String,
    pub key: String,
}

impl LocalCa {
    /// A C2PA reader's verdict on a file, trusting this CA (and nothing else).
    pub fn read(&self, file: &[u8]) -> Result<c2pa::Reader, c2pa::Error> {
        let settings = serde_json::json!({"trust": {"trust_anchors": self.anchor}}).to_string();
        let context = c2pa::Context::new().with_settings(settings.as_str())?;
        c2pa::Reader::from_context(context).with_stream("video/mp4", std::io::Cursor::new(file))
    }
}

pub fn make() -> Result<LocalCa, rcgen::Error> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name.push(
        DnType::CommonName,
        "kling-lambda LOCAL TEST CA (not for production)",
    );
    ca.distinguished_name
        .push(DnType::OrganizationName, "kling-lambda local");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key)?;

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::new(Vec::<String>::new())?;
    leaf.distinguished_name
        .push(DnType::CommonName, "kling-lambda local video signer");
    leaf.distinguished_name
        .push(DnType::OrganizationName, "kling-lambda local");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.use_authority_key_identifier_extension = true;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    let leaf_cert = leaf.signed_by(&key, &Issuer::new(ca, ca_key))?;
    Ok(LocalCa {
        anchor: ca_cert.pem(),
        chain: leaf_cert.pem() + &ca_cert.pem(),
        key: key.serialize_pem(),
    })
}
