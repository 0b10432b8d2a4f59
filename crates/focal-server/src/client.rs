//! Who the client is: the address sign-in throttling and the audit log use.
//!
//! The address is the TCP peer's, unless the peer is one of the proxies listed in
//! `[web] trusted_proxies` of focal.toml: then it is read from the one forwarding header the
//! proxies set (`[web] forwarded_header`: `X-Forwarded-For` by default, or RFC 7239's
//! `Forwarded`), walking from the nearest hop back and skipping hops that are themselves trusted
//! proxies. A header sent by anyone else is ignored, so a client cannot choose the address it is
//! throttled or audited under; and behind a trusted proxy, clients are told apart rather than
//! all counted as the proxy.
//!
//! Only one header is read, never "the other one when present": a proxy that appends to
//! `X-Forwarded-For` passes a client's own `Forwarded` header through untouched, so preferring
//! `Forwarded` would let every client name its own address (found by an attacker pass: 40 wrong
//! passwords, each under a made-up address, none throttled).

use axum::http::HeaderMap;
use std::net::IpAddr;

/// The forwarding header the trusted proxies set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, ...` (nginx's `$proxy_add_x_forwarded_for`, HAProxy's
    /// `option forwardfor`).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

impl ForwardedHeader {
    /// The names `[web] forwarded_header` accepts, in any case.
    pub const NAMES: [&'static str; 2] = ["X-Forwarded-For", "Forwarded"];

    pub fn parse(name: &str) -> Result<ForwardedHeader, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            _ => Err(format!(
                "{:?} is not a forwarding header Focal reads; use one of {:?}",
                name.trim(),
                Self::NAMES
            )),
        }
    }
}

/// Addresses and networks whose forwarding header is believed, and which header that is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<ipnet::IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// Reads `header` (and only it) from these proxies' requests.
    pub fn reading(mut self, header: ForwardedHeader) -> TrustedProxies {
        self.header = header;
        self
    }

    /// From `192.0.2.10`, `10.0.0.0/8`, `2001:db8::1` and the like; the error names the entry.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for e in entries {
            let text = e.as_ref().trim();
            let net = match text.parse::<ipnet::IpNet>() {
                Ok(n) => n,
                Err(_) => text
                    .parse::<IpAddr>()
                    .map(ipnet::IpNet::from)
                    .map_err(|_| {
                        format!("{text:?} is not an IP address or a network (CIDR) of a proxy")
                    })?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies {
            nets,
            header: ForwardedHeader::default(),
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|n| n.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The client's address for a request from `peer` with these headers.
pub fn address(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let hops = forwarded_hops(headers, trusted.header);
    let Some(hops) = hops else {
        return peer;
    };
    // Nearest hop first: each trusted proxy appended the address it received from.
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted.contains(*ip) => continue,
            Some(ip) => return *ip,
            // A hop a trusted proxy could not name ("unknown", an obfuscated id): nothing
            // before it can be believed, so the client is the last proxy that was.
            None => return peer,
        }
    }
    // Every hop is a trusted proxy: the first one is the client.
    hops.first().copied().flatten().unwrap_or(peer)
}

/// The hops of the configured header (`Forwarded`'s `for=` parameters, or the entries of
/// `X-Forwarded-For`), farthest first; `None` if it is absent. A value that is no address is
/// `Some(None)`.
fn forwarded_hops(headers: &HeaderMap, header: ForwardedHeader) -> Option<Vec<Option<IpAddr>>> {
    let joined = |name: &str| -> Option<String> {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    };
    if header == ForwardedHeader::Forwarded {
        let forwarded = joined("forwarded")?;
        let hops = forwarded
            .split(',')
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.trim().split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| node_address(v))
            })
            .collect();
        return Some(hops);
    }
    let xff = joined("x-forwarded-for")?;
    Some(xff.split(',').map(node_address).collect())
}

/// An address from a `for=` value or an `X-Forwarded-For` entry: `192.0.2.1`, `192.0.2.1:80`,
/// `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn node_address(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Some(rest) = t.strip_prefix('[') {
        return rest.split(']').next()?.parse::<IpAddr>().ok();
    }
    let (host, port) = t.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn headers_count_only_from_a_trusted_proxy() {
        let trusted = TrustedProxies::parse(&["10.0.0.5", "192.168.0.0/16"]).unwrap();
        let h = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            address(ip("198.51.100.1"), &h, &trusted),
            ip("198.51.100.1")
        );
        assert_eq!(address(ip("10.0.0.5"), &h, &trusted), ip("203.0.113.9"));
        assert_eq!(address(ip("192.168.3.4"), &h, &trusted), ip("203.0.113.9"));
        // No header from the proxy: the proxy itself.
        assert_eq!(
            address(ip("10.0.0.5"), &HeaderMap::new(), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            address(ip("10.0.0.5"), &h, &TrustedProxies::default()),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client_not_what_the_client_claims() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        // The client sent "X-Forwarded-For: 1.2.3.4"; the proxy appended the real address.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.7")]);
        assert_eq!(address(ip("10.0.0.5"), &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(address(ip("10.0.0.5"), &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "garbage, 203.0.113.9")]);
        assert_eq!(address(ip("10.0.0.5"), &h, &trusted), ip("203.0.113.9"));
        let h = headers(&[("x-forwarded-for", "203.0.113.9, unknown")]);
        assert_eq!(address(ip("10.0.0.5"), &h, &trusted), ip("10.0.0.5"));
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_ipv6() {
        let trusted = TrustedProxies::parse(&["127.0.0.1"])
            .unwrap()
            .reading(ForwardedHeader::Forwarded);
        let h = headers(&[(
            "forwarded",
            "for=192.0.2.60;proto=http;by=203.0.113.43, for=\"[2001:db8:cafe::17]:4711\"",
        )]);
        assert_eq!(
            address(ip("127.0.0.1"), &h, &trusted),
            ip("2001:db8:cafe::17")
        );
        let h = headers(&[
            ("forwarded", "For=198.51.100.17:8080"),
            ("x-forwarded-for", "192.0.2.1"),
        ]);
        assert_eq!(address(ip("127.0.0.1"), &h, &trusted), ip("198.51.100.17"));
        assert_eq!(
            address(ip("::ffff:127.0.0.1"), &h, &trusted),
            ip("198.51.100.17")
        );
    }

    #[test]
    fn only_the_configured_header_is_read() {
        // A proxy that appends to X-Forwarded-For passes the client's own Forwarded through.
        let h = headers(&[
            ("forwarded", "for=5.6.0.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        let xff = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        assert_eq!(address(ip("127.0.0.1"), &h, &xff), ip("203.0.113.9"));
        // And the other way round: behind a proxy that sets Forwarded, a client's own
        // X-Forwarded-For is not read either.
        let fwd = xff.reading(ForwardedHeader::Forwarded);
        let h = headers(&[("x-forwarded-for", "5.6.0.1")]);
        assert_eq!(address(ip("127.0.0.1"), &h, &fwd), ip("127.0.0.1"));
        assert_eq!(
            ForwardedHeader::parse("x-forwarded-FOR"),
            Ok(ForwardedHeader::XForwardedFor)
        );
        assert!(
            ForwardedHeader::parse("X-Real-IP")
                .unwrap_err()
                .contains("X-Real-IP")
        );
    }

    #[test]
    fn bad_proxy_entries_are_named() {
        let e = TrustedProxies::parse(&["10.0.0.0/8", "proxy.example"]).unwrap_err();
        assert!(e.contains("proxy.example"), "{e}");
    }
}
