//! CloudFront signed URLs for stored videos (a canned policy: the object, until the link's
//! expiry), with the key group's private key read at cold start. Without a CDN configured,
//! videos are served as S3 presigned URLs.

use std::borrow::Cow;

use crate::runtime::config::{ConfigError, Source};

#[derive(Debug, thiserror::Error)]
pub enum CdnError {
    #[error("the CloudFront private key is not a PKCS#1 RSA key in PEM")]
    Key(#[source] cloudfront_sign::EncodingError),
    #[error("the object key cannot be put in a URL")]
    Url(#[source] url::ParseError),
}

/// Signs `https://{domain}/{key}` links with the distribution's trusted key group.
#[derive(Clone)]
pub struct CdnSigner {
    domain: String,
    key_pair_id: String,
    private_key: String,
}

impl std::fmt::Debug for CdnSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdnSigner")
            .field("domain", &self.domain)
            .field("key_pair_id", &self.key_pair_id)
            .finish_non_exhaustive()
    }
}

impl CdnSigner {
    /// The key is tried once here, so a bad secret stops the cold start, not a request.
    pub fn new(domain: &str, key_pair_id: &str, private_key_pem: &str) -> Result<Self, CdnError> {
        let signer = Self {
            domain: domain.trim_end_matches('/').to_string(),
            key_pair_id: key_pair_id.to_string(),
            private_key: private_key_pem.to_string(),
        };
        signer.url("videos/check.mp4", 0)?;
        Ok(signer)
    }

    /// `CDN_DOMAIN`, `CDN_KEY_PAIR_ID` and `CDN_PRIVATE_KEY` (from `CDN_PRIVATE_KEY_SECRET_ID`);
    /// none when `CDN_DOMAIN` is empty.
    pub fn from_source(src: &impl Source) -> Result<Option<Self>, ConfigError> {
        let Some(domain) = src.optional("CDN_DOMAIN") else {
            return Ok(None);
        };
        let key_pair_id = src.required("CDN_KEY_PAIR_ID")?;
        let pem = src.required("CDN_PRIVATE_KEY")?;
        Self::new(&domain, &key_pair_id, &pem)
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                name: "CDN_PRIVATE_KEY",
                reason: e.to_string(),
            })
    }

    /// A link to `key` valid until `expires_at` (Unix seconds).
    pub fn url(&self, key: &str, expires_at: u64) -> Result<String, CdnError> {
        let mut url =
            url::Url::parse(&format!("https://{}/", self.domain)).map_err(CdnError::Url)?;
        url.path_segments_mut()
            .map_err(|_| CdnError::Url(url::ParseError::RelativeUrlWithCannotBeABaseBase))?
            .pop_if_empty()
            .extend(key.split('/'));
        let options = cloudfront_sign::SignedOptions {
            key_pair_id: Cow::Borrowed(&self.key_pair_id),
            private_key: Cow::Borrowed(&self.private_key),
            date_less_than: expires_at,
            ..Default::default()
        };
        cloudfront_sign::get_signed_url(url.as_str(), &options).map_err(CdnError::Key)
    }
}
