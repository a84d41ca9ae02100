//! Where our outbound requests (image URLs a provider fetches, video downloads, an app's webhook
//! endpoints) may go: https, and only to public unicast addresses.

use std::net::IpAddr;

/// IPv4 ranges no request of ours may reach (IANA special-purpose registry): "this network",
/// private, shared (CGNAT), loopback, link-local (cloud metadata), IETF protocol assignments,
/// documentation, the old 6to4 relay, benchmarking, multicast, reserved and broadcast.
const NOT_PUBLIC_V4: [([u8; 4], u8); 16] = [
    ([0, 0, 0, 0], 8),
    ([10, 0, 0, 0], 8),
    ([100, 64, 0, 0], 10),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([172, 16, 0, 0], 12),
    ([192, 0, 0, 0], 24),
    ([192, 0, 2, 0], 24),
    ([192, 88, 99, 0], 24),
    ([192, 168, 0, 0], 16),
    ([198, 18, 0, 0], 15),
    ([198, 51, 100, 0], 24),
    ([203, 0, 113, 0], 24),
    ([224, 0, 0, 0], 4),
    ([240, 0, 0, 0], 4),
    ([255, 255, 255, 255], 32),
];

/// IPv6 ranges no request of ours may reach. Every form that carries or reaches an IPv4
/// address (IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo) is refused outright: the
/// address behind it could be any of the above. (IPv4-mapped addresses are judged by the IPv4
/// address they map.)
const NOT_PUBLIC_V6: [([u16; 8], u8); 14] = [
    ([0, 0, 0, 0, 0, 0, 0, 0], 96), // unspecified, loopback, IPv4-compatible
    ([0, 0, 0, 0, 0xffff, 0, 0, 0], 96), // IPv4-translated (SIIT)
    ([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96), // NAT64, well-known prefix
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48), // NAT64, local use
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64), // discard
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 23), // IETF protocol assignments (Teredo, benchmarking…)
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32), // documentation
    ([0x2002, 0, 0, 0, 0, 0, 0, 0], 16), // 6to4
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), // documentation (2024)
    ([0x5f00, 0, 0, 0, 0, 0, 0, 0], 16), // SRv6 segment identifiers
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7), // unique local
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), // link-local
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), // site-local (deprecated)
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), // multicast
];

fn in_prefix(addr: u128, net: u128, len: u8, bits: u32) -> bool {
    let shift = bits - u32::from(len);
    len == 0 || (addr >> shift) == (net >> shift)
}

/// The one rule for where our outbound requests (image URLs, video downloads) may go: a
/// public unicast address, by the special-purpose registries above.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let addr = u128::from(u32::from(v4));
            !NOT_PUBLIC_V4
                .iter()
                .any(|(net, len)| in_prefix(addr, u128::from(u32::from_be_bytes(*net)), *len, 32))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let addr = u128::from(v6);
            !NOT_PUBLIC_V6.iter().any(|(net, len)| {
                in_prefix(addr, u128::from(std::net::Ipv6Addr::from(*net)), *len, 128)
            })
        }
    }
}

/// How long a name may take to resolve before the URL counts as unresolvable.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Every address a URL's host stands for; `None` when it has no host or does not resolve in
/// time.
pub async fn resolve_host(url: &url::Url) -> Option<Vec<IpAddr>> {
    let host = url.host_str()?.trim_matches(|c| c == '[' || c == ']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(vec![ip]);
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<IpAddr> =
        tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
            .await
            .ok()?
            .ok()?
            .map(|a| a.ip())
            .collect();
    (!addrs.is_empty()).then_some(addrs)
}

/// Why an outbound URL (an image the provider fetches, an app's webhook endpoint) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OutboundRefusal {
    #[error("not a valid absolute URL")]
    Invalid,
    #[error("has no host")]
    NoHost,
    #[error("must be https")]
    NotHttps,
    #[error("host does not resolve")]
    Unresolvable,
    #[error("must point to a public address")]
    NotPublic,
}

/// An outbound URL we may call: https, and every address its host resolves to is public.
/// `allow_loopback` is for the local stack only.
pub async fn check_outbound_url(
    raw: &str,
    allow_loopback: bool,
) -> Result<url::Url, OutboundRefusal> {
    let url = url::Url::parse(raw).map_err(|_| OutboundRefusal::Invalid)?;
    if url.host_str().is_none() {
        return Err(OutboundRefusal::NoHost);
    }
    let addrs = resolve_host(&url)
        .await
        .ok_or(OutboundRefusal::Unresolvable)?;
    let local = allow_loopback && addrs.iter().all(IpAddr::is_loopback);
    if url.scheme() != "https" && !local {
        return Err(OutboundRefusal::NotHttps);
    }
    if !local && !addrs.iter().all(|ip| is_public(*ip)) {
        return Err(OutboundRefusal::NotPublic);
    }
    Ok(url)
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
            // Forms that reach IPv4 (or are reserved) count as not public, whatever they embed.
            ("::127.0.0.1", false),
            ("::8.8.8.8", false),
            ("::ffff:0:127.0.0.1", false),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b::808:808", false),
            ("64:ff9b:1::1", false),
            ("2002:7f00:1::1", false),
            ("2001::1", false),
            ("2001:db8::1", false),
            ("3fff::1", false),
            ("fec0::1", false),
            ("ff02::1", false),
            ("100::1", false),
            ("198.18.0.1", false),
            ("198.19.255.255", false),
            ("198.20.0.1", true),
            ("192.88.99.1", false),
            ("192.0.0.8", false),
            ("203.0.113.7", false),
            ("255.255.255.255", false),
            ("240.0.0.1", false),
            ("100.128.0.1", true),
            ("172.32.0.1", true),
            ("2a00:1450:4001::200e", true),
        ];
        for (ip, public) in cases {
            assert_eq!(is_public(ip.parse().unwrap()), public, "{ip}");
        }
    }
}
