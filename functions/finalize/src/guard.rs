//! Where a video may be downloaded from: allowlisted hosts, https only in production, every
//! address the name resolves to public (checked at connect time, so DNS cannot be swapped in
//! between), no redirect to another host, a size cap, and timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::runtime::config::{ConfigError, Source};
use shared::runtime::outbound::is_public;

#[derive(Debug, Clone)]
pub struct DownloadPolicy {
    /// Hosts videos may come from: exact names, or `.suffix` for a domain and its subdomains.
    pub allowed_hosts: Vec<String>,
    /// Plain http and private addresses are for the local stack only.
    pub allow_http: bool,
    pub allow_private: bool,
    pub max_bytes: u64,
}

impl DownloadPolicy {
    pub fn from_source(src: &impl Source) -> Result<Self, ConfigError> {
        let allowed_hosts: Vec<String> = src
            .required("DOWNLOAD_ALLOWED_HOSTS")?
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let local = src.parsed("DOWNLOAD_ALLOW_HTTP", false)?;
        Ok(Self {
            allowed_hosts,
            allow_http: local,
            allow_private: local,
            max_bytes: src.parsed("MAX_VIDEO_BYTES", 4 * 1024 * 1024 * 1024)?,
        })
    }

    /// Whether a result URL may be fetched at all (before any connection).
    pub fn permits(&self, raw: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("invalid video URL: {e}"))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(format!("scheme {other} is not allowed")),
        }
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(|c| c == '[' || c == ']')
            .to_ascii_lowercase();
        let allowed = self
            .allowed_hosts
            .iter()
            .any(|h| match h.strip_prefix('.') {
                Some(domain) => host == domain || host.ends_with(h.as_str()),
                None => host == *h,
            });
        if !allowed {
            return Err(format!("host {host} is not on the download allowlist"));
        }
        // An address written into the URL never goes through the resolver: check it here.
        if let Ok(ip) = host.parse::<std::net::IpAddr>()
            && !self.allow_private
            && !is_public(ip)
        {
            return Err(format!("address {ip} is not public"));
        }
        Ok(url)
    }

    /// The HTTP client for downloads under this policy.
    pub fn client(&self) -> Result<reqwest::Client, shared::runtime::net::NetError> {
        let mut builder = shared::runtime::net::builder()?
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let allowed = attempt.previous().first().is_some_and(|first| {
                    redirect_allowed(first, attempt.url(), attempt.previous().len())
                });
                if allowed {
                    attempt.follow()
                } else {
                    attempt.stop()
                }
            }));
        if !self.allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(builder.build()?)
    }
}

/// A redirect is followed only to the same host, never from https down to http, and at
/// most five times.
pub fn redirect_allowed(first: &url::Url, next: &url::Url, hops: usize) -> bool {
    let same_host = first.host_str() == next.host_str();
    let downgrade = first.scheme() == "https" && next.scheme() != "https";
    same_host && !downgrade && hops < 5
}

/// A resolver that only ever returns public addresses.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = addrs.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(hosts: &[&str]) -> DownloadPolicy {
        DownloadPolicy {
            allowed_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            allow_http: false,
            allow_private: false,
            max_bytes: 1,
        }
    }

    #[test]
    fn url_policy_table() {
        let policy = production(&[
            ".kwimgs.com",
            "cdn.example.com",
            "127.0.0.1",
            "169.254.169.254",
            "10.0.0.1",
            "::1",
        ]);
        let cases = [
            ("https://p1.a.kwimgs.com/x/output.mp4", true),
            ("https://kwimgs.com/x.mp4", true),
            ("https://cdn.example.com/v.mp4", true),
            ("http://cdn.example.com/v.mp4", false),
            ("https://evilkwimgs.com/x.mp4", false),
            ("https://cdn.example.com.evil.net/v.mp4", false),
            ("https://127.0.0.1/v.mp4", false),
            ("https://169.254.169.254/latest/meta-data", false),
            ("https://10.0.0.1/v.mp4", false),
            ("https://[::1]/v.mp4", false),
            ("file:///etc/passwd", false),
            ("not a url", false),
        ];
        for (url, ok) in cases {
            assert_eq!(policy.permits(url).is_ok(), ok, "{url}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused_at_connect() {
        let policy = production(&["localhost"]);
        let client = policy.client().unwrap();
        let err = client
            .get("https://localhost:9/v.mp4")
            .send()
            .await
            .unwrap_err();
        assert!(
            err.is_connect() || err.to_string().contains("public"),
            "{err}"
        );
    }

    #[test]
    fn redirect_table() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        let cases = [
            ("https://cdn.example/a", "https://cdn.example/b", 1, true),
            ("https://cdn.example/a", "http://cdn.example/b", 1, false),
            ("https://cdn.example/a", "https://other.example/b", 1, false),
            ("http://127.0.0.1:9/a", "http://127.0.0.1:9/b", 1, true),
            ("https://cdn.example/a", "https://cdn.example/b", 5, false),
        ];
        for (first, next, hops, want) in cases {
            assert_eq!(
                redirect_allowed(&u(first), &u(next), hops),
                want,
                "{first} -> {next}"
            );
        }
    }
}
