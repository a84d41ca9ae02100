//! Input images: what an uploaded object must be (JPEG or PNG by its bytes, ≤ 10 MB, ≥ 300 px
//! per side, aspect 1:2.5..2.5:1, read from the header without decoding), and which image URLs
//! may be handed to a provider (the outbound rule, its refusals named for the image field).

use crate::domain::error::ApiError;
use crate::runtime::outbound::{OutboundRefusal, check_outbound_url};

pub const MAX_IMAGE_BYTES: u64 = 10 * 1024 * 1024;
pub const MIN_SIDE_PX: usize = 300;
/// Widest allowed ratio (2.5:1 either way).
pub const MAX_ASPECT: f64 = 2.5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    Jpeg,
    Png,
}

impl ImageFormat {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct {
            "image/jpeg" => Some(ImageFormat::Jpeg),
            "image/png" => Some(ImageFormat::Png),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageFacts {
    pub format: ImageFormat,
    pub width: usize,
    pub height: usize,
}

fn refuse(code: &'static str, field: &str, message: String) -> ApiError {
    ApiError::new(422, code, message).with_field(field)
}

/// Check an uploaded image by its bytes.
pub fn inspect(bytes: &[u8], field: &str) -> Result<ImageFacts, ApiError> {
    if bytes.len() as u64 > MAX_IMAGE_BYTES {
        return Err(refuse(
            "image_too_large",
            field,
            format!("images must be at most {MAX_IMAGE_BYTES} bytes"),
        ));
    }
    let format = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        ImageFormat::Png
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        ImageFormat::Jpeg
    } else {
        return Err(refuse(
            "unsupported_image_type",
            field,
            "images must be JPEG or PNG".into(),
        ));
    };
    let size = imagesize::blob_size(bytes).map_err(|_| {
        refuse(
            "unreadable_image",
            field,
            "the image header could not be read".into(),
        )
    })?;
    let (width, height) = (size.width, size.height);
    if width < MIN_SIDE_PX || height < MIN_SIDE_PX {
        return Err(refuse(
            "image_too_small",
            field,
            format!("images must be at least {MIN_SIDE_PX} px on each side (got {width}x{height})"),
        ));
    }
    let ratio = width as f64 / height as f64;
    if !(1.0 / MAX_ASPECT..=MAX_ASPECT).contains(&ratio) {
        return Err(refuse(
            "image_aspect_ratio",
            field,
            format!("image aspect ratio must be between 1:2.5 and 2.5:1 (got {width}x{height})"),
        ));
    }
    Ok(ImageFacts {
        format,
        width,
        height,
    })
}

/// An image URL the provider may fetch: the outbound rule (https, every address public), its
/// refusals named for the image field. `allow_loopback` is for the local stack only.
pub async fn check_image_url(
    raw: &str,
    field: &str,
    allow_loopback: bool,
) -> Result<url::Url, ApiError> {
    check_outbound_url(raw, allow_loopback)
        .await
        .map_err(|why| {
            let (code, message) = match why {
                OutboundRefusal::Invalid => ("invalid_image_url", "is not a valid URL"),
                OutboundRefusal::NoHost => ("invalid_image_url", "has no host"),
                OutboundRefusal::Unresolvable => {
                    ("image_url_unresolvable", "host does not resolve")
                }
                OutboundRefusal::NotHttps => ("image_url_not_https", "must be https"),
                OutboundRefusal::NotPublic => {
                    ("image_url_not_public", "must point to a public address")
                }
            };
            refuse(code, field, format!("{field}.url {message}"))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn url_checks() {
        let refused = [
            ("http://8.8.8.8/a.png", "image_url_not_https"),
            ("https://127.0.0.1/a.png", "image_url_not_public"),
            (
                "https://169.254.169.254/latest/meta-data",
                "image_url_not_public",
            ),
            ("https://10.0.0.1/a.png", "image_url_not_public"),
            ("https://[::1]/a.png", "image_url_not_public"),
            ("https://localhost/a.png", "image_url_not_public"),
            ("ftp://8.8.8.8/a.png", "image_url_not_https"),
        ];
        for (url, code) in refused {
            assert_eq!(
                check_image_url(url, "image", false).await.unwrap_err().code,
                code,
                "{url}"
            );
        }
        assert!(
            check_image_url("https://8.8.8.8/a.png", "image", false)
                .await
                .is_ok()
        );
        assert!(
            check_image_url("http://127.0.0.1:9100/a.png", "image", true)
                .await
                .is_ok()
        );
        assert!(
            check_image_url("http://10.0.0.1/a.png", "image", true)
                .await
                .is_err()
        );
    }
}
