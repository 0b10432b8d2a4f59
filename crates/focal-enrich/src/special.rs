//! Special-purpose addresses (the IANA IPv4 and IPv6 Special-Purpose Address Registries, RFC 6890
//! and its successors), which get no country and no AS from enrichment.
//!
//! Why: these addresses belong to no one's announcement. A geolocation or range database that
//! answers for them (many do: 172.16/12, 198.51.100/24 and 2001:db8::/32 come out as AU or JP)
//! is wrong, and a CSIRT would notify the wrong network.
//!
//! Left out on purpose: the registry's anycast services that are globally reachable and announced
//! by a real AS (192.0.0.9/32, 192.0.0.10/32, 192.31.196.0/24 and 192.175.48.0/24 AS112,
//! 192.52.193.0/24 AMT, and in 2001::/23 the PCP/TURN/DNS-SD anycast addresses, AMT, AS112-v6,
//! ORCHIDv2 and drone remote ID; 2620:4f:8000::/48 AS112). Added on purpose: multicast
//! (224.0.0.0/4, ff00::/8), which no registry above lists but which locates no one either.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 blocks: (first address, prefix length).
const V4: [(u32, u8); 17] = [
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link local
    (0xac10_0000, 12), // 172.16.0.0/12 private
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments (anycast exceptions below)
    (0xc000_0200, 24), // 192.0.2.0/24 documentation (TEST-NET-1)
    (0xc058_6300, 24), // 192.88.99.0/24 deprecated 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168.0.0/16 private
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 documentation (TEST-NET-2)
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation (TEST-NET-3)
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved
    (0xffff_ffff, 32), // 255.255.255.255/32 limited broadcast (inside 240/4; kept for the record)
    (0xc000_00aa, 31), // 192.0.0.170/31 NAT64/DNS64 discovery (inside 192.0.0.0/24)
];

/// IPv4 addresses inside the blocks above that are globally reachable anycast services.
const V4_EXCEPT: [(u32, u8); 2] = [
    (0xc000_0009, 32), // 192.0.0.9/32 Port Control Protocol anycast
    (0xc000_000a, 32), // 192.0.0.10/32 TURN anycast
];

/// IPv6 blocks: (first address, prefix length). IPv4-mapped addresses are checked as IPv4.
const V6: [(u128, u8); 14] = [
    (0, 128),                                        // ::/128 unspecified
    (1, 128),                                        // ::1/128 loopback
    (0x0064_ff9b_0000_0000_0000_0000_0000_0000, 96), // 64:ff9b::/96 IPv4/IPv6 translation
    (0x0064_ff9b_0001_0000_0000_0000_0000_0000, 48), // 64:ff9b:1::/48 local-use translation
    (0x0100_0000_0000_0000_0000_0000_0000_0000, 64), // 100::/64 discard-only
    (0x0100_0000_0000_0001_0000_0000_0000_0000, 64), // 100:0:0:1::/64 dummy prefix
    (0x2001_0000_0000_0000_0000_0000_0000_0000, 23), // 2001::/23 IETF protocol assignments
    (0x2001_0db8_0000_0000_0000_0000_0000_0000, 32), // 2001:db8::/32 documentation
    (0x2002_0000_0000_0000_0000_0000_0000_0000, 16), // 2002::/16 6to4
    (0x3fff_0000_0000_0000_0000_0000_0000_0000, 20), // 3fff::/20 documentation
    (0x5f00_0000_0000_0000_0000_0000_0000_0000, 16), // 5f00::/16 SRv6 SIDs
    (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),  // fc00::/7 unique local
    (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // fe80::/10 link local
    (0xff00_0000_0000_0000_0000_0000_0000_0000, 8),  // ff00::/8 multicast
];

/// Globally reachable anycast services inside 2001::/23.
const V6_EXCEPT: [(u128, u8); 6] = [
    (0x2001_0001_0000_0000_0000_0000_0000_0001, 128), // 2001:1::1 PCP anycast
    (0x2001_0001_0000_0000_0000_0000_0000_0002, 127), // 2001:1::2-3 TURN, DNS-SD SRP anycast
    (0x2001_0003_0000_0000_0000_0000_0000_0000, 32),  // 2001:3::/32 AMT
    (0x2001_0004_0112_0000_0000_0000_0000_0000, 48),  // 2001:4:112::/48 AS112-v6
    (0x2001_0020_0000_0000_0000_0000_0000_0000, 28),  // 2001:20::/28 ORCHIDv2
    (0x2001_0030_0000_0000_0000_0000_0000_0000, 28),  // 2001:30::/28 drone remote ID
];

#[inline]
fn in_v4(ip: u32, (net, len): (u32, u8)) -> bool {
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    ip & mask == net
}

#[inline]
fn in_v6(ip: u128, (net, len): (u128, u8)) -> bool {
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    ip & mask == net
}

/// The prefix length of the special-purpose block holding `ip`, or `None` for an ordinary
/// address.
pub fn special_block(ip: IpAddr) -> Option<u8> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            // ::ffff:a.b.c.d is the IPv4 address a.b.c.d (the lookups treat it so too).
            Some(v4) => special_v4(v4).map(|len| len + 96),
            None => special_v6(v6),
        },
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<u8> {
    let ip = u32::from(ip);
    // Fast path for the enrichment of every event: most addresses share no first octet with a
    // block (keep in step with V4).
    if !matches!(
        ip >> 24,
        0 | 10 | 100 | 127 | 169 | 172 | 192 | 198 | 203 | 224..=255
    ) {
        return None;
    }
    if V4_EXCEPT.iter().any(|b| in_v4(ip, *b)) {
        return None;
    }
    // The widest block wins (192.0.0.170/31 is inside 192.0.0.0/24).
    V4.iter().filter(|b| in_v4(ip, **b)).map(|b| b.1).min()
}

fn special_v6(ip: Ipv6Addr) -> Option<u8> {
    let ip = u128::from(ip);
    // Fast path, as for IPv4: the first 16 bits of every block in V6.
    if !matches!(
        (ip >> 112) as u16,
        0 | 0x64 | 0x100 | 0x2001 | 0x2002 | 0x3fff | 0x5f00 | 0xfc00..=0xffff
    ) {
        return None;
    }
    if V6_EXCEPT.iter().any(|b| in_v6(ip, *b)) {
        return None;
    }
    V6.iter().filter(|b| in_v6(ip, **b)).map(|b| b.1).min()
}

/// True for an address in a special-purpose block (see the module documentation).
#[inline]
pub fn is_special_purpose(ip: IpAddr) -> bool {
    special_block(ip).is_some()
}

/// True for a network that lies wholly inside one special-purpose block.
pub fn network_is_special_purpose(net: IpNet) -> bool {
    special_block(net.network()).is_some_and(|block| block <= net.prefix_len())
        && special_block(net.broadcast()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn special(s: &str) -> bool {
        is_special_purpose(s.parse().unwrap())
    }

    #[test]
    fn the_registry_blocks_are_special_and_their_neighbours_are_not() {
        for ip in [
            "0.1.2.3",
            "10.0.0.1",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:10.1.2.3",
            "64:ff9b::1.2.3.4",
            "100::1",
            "2001::1",
            "2001:2::1",
            "2001:db8::53",
            "2002:c000:201::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(special(ip), "{ip} is special-purpose");
        }
        for ip in [
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "192.0.0.9",
            "192.0.0.10",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.1",
            "203.0.114.1",
            "223.255.255.255",
            "::2",
            "::ffff:8.8.8.8",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2001:200::1",
            "2001:4860::8888",
            "2003::1",
            "2a00:1450::1",
            "fec0::1",
        ] {
            assert!(!special(ip), "{ip} is an ordinary address");
        }
    }

    /// The fast path's first octets (and first 16 bits) cover every block.
    #[test]
    fn the_fast_path_lets_every_block_through() {
        for (net, len) in V4 {
            let last = net | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            for ip in [net, last] {
                assert!(
                    special_v4(Ipv4Addr::from(ip)).is_some(),
                    "{}",
                    Ipv4Addr::from(ip)
                );
            }
        }
        for (net, len) in V6 {
            let last = net | (u128::MAX.checked_shr(u32::from(len)).unwrap_or(0));
            for ip in [net, last] {
                assert!(
                    special_v6(Ipv6Addr::from(ip)).is_some(),
                    "{}",
                    Ipv6Addr::from(ip)
                );
            }
        }
    }

    #[test]
    fn a_network_is_special_only_inside_one_block() {
        let net = |s: &str| network_is_special_purpose(s.parse().unwrap());
        assert!(net("10.1.0.0/16"));
        assert!(net("10.0.0.0/8"));
        assert!(net("2001:db8:1::/48"));
        assert!(!net("8.0.0.0/6"), "holds 10/8 but also public space");
        assert!(!net("0.0.0.0/0"));
        assert!(!net("1.2.3.0/24"));
    }
}
