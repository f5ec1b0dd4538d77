//! Name resolution that enforces the egress policy on addresses, not only
//! on names: a URL whose host is, or resolves to, a loopback, private,
//! link-local or otherwise internal address is refused (`localhost`,
//! `127.1`, `2130706433`, `[::ffff:127.0.0.1]`, DNS rebinding,
//! `localtest.me`, cloud metadata at 169.254.169.254), unless the allowlist
//! names that address literally or the operator allows internal addresses.
//! The check runs inside the client's own resolution, so the address
//! checked is the address connected to.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// The marker of a refusal in the transport error's text.
pub const REFUSED: &str = "egress refused";

/// Whether `ip` is internal: loopback, private, link-local, shared
/// (100.64/10), unspecified, broadcast, multicast, unique-local IPv6, or
/// an IPv4-mapped IPv6 address of any of these.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal_v4(v4),
            None => internal_v6(v6),
        },
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || (a == 100 && (64..128).contains(&b))
        || a == 0
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let last_32 = Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    let compatible = s[..6].iter().all(|&x| x == 0);
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|&x| x == 0);
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        // IPv4-compatible (`::a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`)
        // addresses reach the IPv4 address inside.
        || ((compatible || nat64) && internal_v4(last_32))
}

/// A resolver refusing internal addresses the allowlist does not name.
pub struct GuardedResolver {
    inner: DefaultResolver,
    /// Addresses the allowlist names literally.
    allowed: Vec<IpAddr>,
    /// Every address allowed (the operator opened internal egress).
    allow_internal: bool,
}

impl GuardedResolver {
    /// A resolver for an allowlist of `patterns` (`host`, `host:port`,
    /// `*.suffix`); literal IP patterns admit those addresses;
    /// `allow_internal` admits every address.
    pub fn new(patterns: &[String], allow_internal: bool) -> Self {
        let allowed = patterns
            .iter()
            .filter_map(|p| {
                let host = match p.rsplit_once(':') {
                    Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
                    _ => p.as_str(),
                };
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .ok()
            })
            .collect();
        Self {
            inner: DefaultResolver::default(),
            allowed,
            allow_internal,
        }
    }
}

impl fmt::Debug for GuardedResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardedResolver")
            .field("allowed", &self.allowed)
            .finish()
    }
}

impl Resolver for GuardedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addresses = self.inner.resolve(uri, config, timeout)?;
        if let Some(bad) = addresses
            .iter()
            .map(|a| a.ip())
            .find(|ip| !self.allow_internal && is_internal(*ip) && !self.allowed.contains(ip))
        {
            return Err(ureq::Error::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{REFUSED}: `{}` is the internal address {bad} (loopback, private, link-local or metadata), which the egress allowlist does not name; an operator can add it to [http-egress]",
                    uri.host().unwrap_or_default()
                ),
            )));
        }
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "fec0::1",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn literal_patterns_admit_their_addresses() {
        let r = GuardedResolver::new(
            &[
                "127.0.0.1:8080".into(),
                "[::1]:9".into(),
                "api.example.com".into(),
            ],
            false,
        );
        assert_eq!(
            r.allowed,
            vec![
                IpAddr::from([127, 0, 0, 1]),
                "::1".parse::<IpAddr>().unwrap()
            ]
        );
    }
}
