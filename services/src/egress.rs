//! Where the service may send requests of its own (webhooks): only to globally routable
//! addresses, over HTTPS, checked on the address the connection actually uses.
//!
//! An address is refused when it is in any block of the IANA special-purpose address
//! registries (IPv4 and IPv6: private, loopback, link-local, shared, benchmarking,
//! documentation, reserved, multicast, discard, ORCHID, …), and an IPv6 address that carries an
//! IPv4 address (IPv4-mapped, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`, Teredo)
//! is judged by the IPv4 address inside it, so `[::ffff:127.0.0.1]`, `[::127.0.0.1]`,
//! `[64:ff9b::a9fe:a9fe]` and `[2002:7f00:1::1]` are all refused.
//!
//! A name is resolved by [`PinnedResolver`], the HTTP client's own resolver, which drops every
//! refused address before the client connects: the address checked is the address used, so a
//! name that resolves to a public address when the subscription is made and to a private one
//! when an event is delivered (DNS rebinding) reaches nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why a target is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an http(s) URL with a host.
    #[error("the URL must be https:// with a host")]
    Malformed,
    /// `http://` where only `https://` is allowed.
    #[error("the URL must be https:// (plain http is only for BROBYG_WEBHOOK_ALLOW_PRIVATE set-ups)")]
    NotHttps,
    /// The host does not resolve.
    #[error("the host does not resolve")]
    Unresolvable,
    /// The host names, or resolves only to, addresses that are not globally routable.
    #[error("{0} is not a globally routable address; webhooks go to public addresses")]
    NotGlobal(IpAddr),
}

/// Whether `ip` is globally routable: in no special-purpose block, judged by the IPv4 address
/// inside the IPv6 forms that carry one.
#[must_use]
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0                                  // 0.0.0.0/8 "this network"
        || a == 10                                        // 10/8 private
        || (a == 100 && (b & 0xc0) == 64)                 // 100.64/10 shared (CGN)
        || a == 127                                       // 127/8 loopback
        || (a == 169 && b == 254)                         // 169.254/16 link-local (cloud metadata)
        || (a == 172 && (b & 0xf0) == 16)                 // 172.16/12 private
        || (a == 192 && b == 0 && c == 0)                 // 192.0.0/24 IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)                 // 192.0.2/24 TEST-NET-1
        || (a == 192 && b == 88 && c == 99)               // 192.88.99/24 6to4 relay anycast
        || (a == 192 && b == 168)                         // 192.168/16 private
        || (a == 198 && (b & 0xfe) == 18)                 // 198.18/15 benchmarking
        || (a == 198 && b == 51 && c == 100)              // 198.51.100/24 TEST-NET-2
        || (a == 203 && b == 0 && c == 113)               // 203.0.113/24 TEST-NET-3
        || a >= 224; // 224/4 multicast, 240/4 reserved, 255.255.255.255 broadcast
    !special
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_global_v4(v4);
    }
    let s = ip.segments();
    let special = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] == 0x0064 && s[1] == 0xff9b && s[2] == 0x0001) // 64:ff9b:1::/48 local-use NAT64
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // 100::/64 discard
        || (s[0] == 0x2001 && s[1] < 0x0200) // 2001::/23 IETF assignments, Teredo 2001::/32 among them
        || (s[0] == 0x2001 && s[1] == 0x0db8) // 2001:db8::/32 documentation
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // 2001:10::/28 ORCHID
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0020) // 2001:20::/28 ORCHIDv2
        || (s[0] == 0x3fff && s[1] < 0x1000) // 3fff::/20 documentation
        || s[0] == 0x5f00 // 5f00::/16 SRv6 SIDs
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
        || (s[0] & 0xff00) == 0xff00 // ff00::/8 multicast
        || s[..5] == [0, 0, 0, 0, 0]; // ::/80: what is left of the old forms
    !special
}

/// The IPv4 address an IPv6 address carries, in the forms that route to it: IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:aabb:ccdd::` (Teredo is refused whole, with the rest of `2001::/23`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if s[..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || (s[5] == 0 && (s[6] != 0 || s[7] > 1))) {
        return Some(from(s[6], s[7]));
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(from(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(from(s[1], s[2]));
    }
    None
}

/// Checks that `url` may receive webhooks: `https://` (or `http://` when private targets are
/// allowed), with a host that is, or resolves to at least one, globally routable address (any
/// address when private targets are allowed). Delivery checks again, on the address it uses.
pub async fn check_target(url: &str, allow_private: bool) -> Result<(), TargetError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| TargetError::Malformed)?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(TargetError::NotHttps),
        _ => return Err(TargetError::Malformed),
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host = parsed.host_str().ok_or(TargetError::Malformed)?;
    let addrs: Vec<IpAddr> = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(literal) => vec![literal],
        Err(_) => tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| TargetError::Unresolvable)?
            .map(|a| a.ip())
            .collect(),
    };
    let first = *addrs.first().ok_or(TargetError::Unresolvable)?;
    if allow_private || addrs.iter().any(|ip| is_global(*ip)) { Ok(()) } else { Err(TargetError::NotGlobal(first)) }
}

/// The HTTP client's resolver: resolves with the system resolver and keeps only the addresses
/// [`is_global`] allows (all of them when private targets are allowed), so the connection goes
/// to an address that was checked.
#[derive(Clone, Copy, Debug)]
pub struct PinnedResolver {
    /// Let private and loopback addresses through.
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for PinnedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let kept: Vec<SocketAddr> = found.iter().copied().filter(|a| allow_private || is_global(a.ip())).collect();
            if kept.is_empty() {
                let refused = found.first().map_or(TargetError::Unresolvable, |a| TargetError::NotGlobal(a.ip()));
                return Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(kept.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client for webhooks: the pinned resolver, no redirects, a timeout per request.
pub fn webhook_client(allow_private: bool, timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(PinnedResolver { allow_private }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn addresses_that_reach_the_host_or_link_local_space_in_disguise_are_refused() {
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "192.0.0.8",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2001:db8::1",
            "2001::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "3fff::1",
        ] {
            assert!(!is_global(ip(refused)), "{refused} must be refused");
        }
        for allowed in
            ["1.1.1.1", "8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101"]
        {
            assert!(is_global(ip(allowed)), "{allowed} is global");
        }
    }

    #[tokio::test]
    async fn targets_must_be_https_and_global_unless_private_targets_are_allowed() {
        assert_eq!(check_target("http://1.1.1.1/hook", false).await, Err(TargetError::NotHttps));
        assert_eq!(check_target("ftp://1.1.1.1/hook", false).await, Err(TargetError::Malformed));
        assert_eq!(
            check_target("https://[::127.0.0.1]/hook", false).await,
            Err(TargetError::NotGlobal(ip("::127.0.0.1")))
        );
        assert_eq!(
            check_target("https://[64:ff9b::a9fe:a9fe]/", false).await,
            Err(TargetError::NotGlobal(ip("64:ff9b::a9fe:a9fe")))
        );
        assert!(matches!(check_target("https://localhost/hook", false).await, Err(TargetError::NotGlobal(_))));
        assert_eq!(check_target("https://1.1.1.1/hook", false).await, Ok(()));
        assert_eq!(check_target("http://127.0.0.1:9/hook", true).await, Ok(()));
    }

    #[tokio::test]
    async fn the_resolver_drops_what_a_name_resolves_to_when_it_is_not_global() {
        use reqwest::dns::Resolve;
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        assert!(PinnedResolver { allow_private: false }.resolve(name).await.is_err());
        let name: reqwest::dns::Name = "localhost".parse().expect("name");
        let addrs: Vec<SocketAddr> =
            PinnedResolver { allow_private: true }.resolve(name).await.expect("resolves").collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }
}
