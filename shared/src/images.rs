//! Input images: what an uploaded object must be (JPEG or PNG by its bytes, ≤ 10 MB, ≥ 300 px
//! per side, aspect 1:2.5..2.5:1, read from the header without decoding), and which image URLs
//! may be handed to Kling (https, resolving only to public addresses).

use std::net::IpAddr;

use crate::envelope::ApiError;

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

/// Addresses an image URL must never reach: loopback, private, link-local (cloud metadata
/// included), shared, unspecified, multicast and the like.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// An image URL the provider may fetch: https, and every address its host resolves to is
/// public. `allow_loopback` is for the local stack only.
pub async fn check_image_url(
    raw: &str,
    field: &str,
    allow_loopback: bool,
) -> Result<url::Url, ApiError> {
    let url = url::Url::parse(raw).map_err(|_| {
        refuse(
            "invalid_image_url",
            field,
            format!("{field}.url is not a valid URL"),
        )
    })?;
    let addrs = resolve(&url, field).await?;
    let local = allow_loopback && addrs.iter().all(IpAddr::is_loopback);
    if url.scheme() != "https" && !local {
        return Err(refuse(
            "image_url_not_https",
            field,
            format!("{field}.url must be https"),
        ));
    }
    if !local && !addrs.iter().all(|ip| is_public(*ip)) {
        return Err(refuse(
            "image_url_not_public",
            field,
            format!("{field}.url must point to a public address"),
        ));
    }
    Ok(url)
}

/// Every address the URL's host stands for (an address written in the URL is its own).
async fn resolve(url: &url::Url, field: &str) -> Result<Vec<IpAddr>, ApiError> {
    let unresolvable = || {
        refuse(
            "image_url_unresolvable",
            field,
            format!("{field}.url host does not resolve"),
        )
    };
    let host = url
        .host_str()
        .ok_or_else(|| {
            refuse(
                "invalid_image_url",
                field,
                format!("{field}.url has no host"),
            )
        })?
        .trim_matches(|c| c == '[' || c == ']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|_| unresolvable())?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(unresolvable());
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_address_table() {
        let cases = [
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("127.0.0.1", false),
            ("10.0.0.1", false),
            ("172.16.5.4", false),
            ("192.168.1.1", false),
            ("169.254.169.254", false),
            ("100.64.0.1", false),
            ("0.0.0.0", false),
            ("224.0.0.1", false),
            ("::1", false),
            ("fd00:ec2::254", false),
            ("fe80::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("2606:4700:4700::1111", true),
        ];
        for (ip, public) in cases {
            assert_eq!(is_public(ip.parse().unwrap()), public, "{ip}");
        }
    }

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
