//! The range tables against the obvious, slow definitions.

use focal_enrich::{AsnTable, Constituency, RangeMap};
use focal_model::Constituent;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Naive longest-prefix match: the longest prefix containing the address; among equal
/// prefixes, the first listed.
fn naive_lpm(prefixes: &[(IpNet, u32)], ip: IpAddr) -> Option<u32> {
    prefixes
        .iter()
        .enumerate()
        .filter(|(_, (net, _))| net.contains(&ip))
        .max_by_key(|(i, (net, _))| (net.prefix_len(), std::cmp::Reverse(*i)))
        .map(|(_, (_, v))| *v)
}

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    // Addresses clustered in a small space so that prefixes nest and collide often.
    (0u32..4096, 8u8..=32).prop_map(|(x, len)| {
        let addr = 0x0a00_0000 | (x << 12) | (x & 0xfff);
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), len).unwrap().trunc())
    })
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (0u128..4096, 16u8..=128).prop_map(|(x, len)| {
        let addr = (0x2001_0db8u128 << 96) | (x << 80) | x;
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), len).unwrap().trunc())
    })
}

fn probe_v4() -> impl Strategy<Value = IpAddr> {
    (0u32..4096, any::<u16>()).prop_map(|(x, low)| {
        IpAddr::V4(Ipv4Addr::from(
            0x0a00_0000 | (x << 12) | (low as u32 & 0xfff),
        ))
    })
}

fn probe_v6() -> impl Strategy<Value = IpAddr> {
    (0u128..4096, any::<u64>()).prop_map(|(x, low)| {
        IpAddr::V6(Ipv6Addr::from(
            (0x2001_0db8u128 << 96) | (x << 80) | low as u128,
        ))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Constituency netblocks (nested, overlapping, duplicated) resolve like a naive scan.
    #[test]
    fn constituency_netblocks_match_naive_lpm(
        prefixes in prop::collection::vec(prop_oneof![v4_prefix(), v6_prefix()], 1..60),
        probes in prop::collection::vec(prop_oneof![probe_v4(), probe_v6()], 1..200),
    ) {
        let orgs: Vec<Constituent> = prefixes
            .iter()
            .enumerate()
            .map(|(i, net)| Constituent {
                id: format!("org-{i}"),
                name: String::new(),
                abuse_email: String::new(),
                asns: vec![],
                netblocks: vec![*net],
                domains: vec![],
                language: None,
                also_notify: Vec::new(),
            })
            .collect();
        let table = Constituency::new(&orgs);
        let tagged: Vec<(IpNet, u32)> = prefixes.iter().enumerate().map(|(i, n)| (*n, i as u32)).collect();
        // Every prefix's own first and last address are probed too: the boundaries are where
        // flattening goes wrong.
        let edges = prefixes.iter().flat_map(|n| [n.network(), n.broadcast()]);
        for ip in probes.into_iter().chain(edges) {
            let want = naive_lpm(&tagged, ip).map(|i| format!("org-{i}"));
            let got = table.assign(Some(ip), None, None, None).map(|a| a.id.to_string());
            prop_assert_eq!(got, want, "address {}", ip);
        }
    }

    /// Disjoint ranges (the ASN file shape) resolve like a linear scan, including the index edges.
    #[test]
    fn disjoint_ranges_match_linear_scan(
        mut cuts in prop::collection::vec(any::<u32>(), 2..400),
        probes in prop::collection::vec(any::<u32>(), 1..300),
    ) {
        cuts.sort();
        cuts.dedup();
        // Every other gap between cuts is a range, so there are holes between ranges.
        let ranges: Vec<(u32, u32, usize)> = cuts
            .windows(2)
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(i, w)| (w[0], w[1] - 1, i))
            .filter(|(s, e, _)| s <= e)
            .collect();
        let map = RangeMap::from_disjoint(ranges.clone()).unwrap();
        let boundary_probes = ranges.iter().flat_map(|(s, e, _)| [*s, *e, s.wrapping_sub(1), e.wrapping_add(1)]);
        for ip in probes.into_iter().chain(boundary_probes) {
            let want = ranges.iter().find(|(s, e, _)| *s <= ip && ip <= *e).map(|r| r.2);
            prop_assert_eq!(map.get(ip).copied(), want, "key {}", ip);
        }
    }

    /// Overlapping ranges resolve to the narrowest covering range, like a scan.
    #[test]
    fn overlapping_ranges_pick_the_narrowest(
        raw in prop::collection::vec((0u32..100_000, 0u32..20_000), 1..80),
        probes in prop::collection::vec(0u32..130_000, 1..300),
    ) {
        let ranges: Vec<(u32, u32, usize, u32)> = raw.iter().enumerate().map(|(i, (s, len))| (*s, s + len, i, *len)).collect();
        let map = RangeMap::from_overlapping(ranges.clone());
        for ip in probes {
            let want = ranges
                .iter()
                .filter(|(s, e, _, _)| *s <= ip && ip <= *e)
                .min_by_key(|(_, _, i, size)| (*size, *i))
                .map(|r| r.2);
            prop_assert_eq!(map.get(ip).copied(), want, "key {}", ip);
        }
    }
}

#[test]
fn asn_csv_answers_match_a_scan_of_the_rows() {
    let csv = include_str!("../../../tests/fixtures/workload/asn-ipv4.csv");
    let table = AsnTable::from_reader(csv.as_bytes(), "fixture").unwrap();
    let rows: Vec<(u32, u32, u32)> = csv
        .lines()
        .map(|l| {
            let mut f = l.splitn(4, ',');
            let s: Ipv4Addr = f.next().unwrap().parse().unwrap();
            let e: Ipv4Addr = f.next().unwrap().parse().unwrap();
            (
                u32::from(s),
                u32::from(e),
                f.next().unwrap().parse().unwrap(),
            )
        })
        .collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for (s, e, _) in rows.iter().step_by(7) {
        for ip in [*s, *e, s.wrapping_sub(1), e.wrapping_add(1)] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let probes = [ip, (x as u32)];
            for p in probes {
                let want = rows
                    .iter()
                    .filter(|(s, e, _)| *s <= p && p <= *e)
                    .min_by_key(|(s, e, _)| e - s)
                    .map(|r| r.2);
                assert_eq!(
                    table.asn(IpAddr::V4(Ipv4Addr::from(p))),
                    want,
                    "{}",
                    Ipv4Addr::from(p)
                );
            }
        }
    }
}
