//! Enrichment respects the feed: its values win (or, with `overwrite`, the lookup's), the loser of
//! a disagreement is kept in `extra`, and special-purpose addresses get no country and no AS.

use focal_enrich::{AsnTable, CountryDb, Enricher};
use focal_model::{ClassificationType, CountryCode, Event};
use proptest::prelude::*;
use serde_json::json;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// A table that answers for every address, special-purpose ones included, so that only the
/// special-purpose rule can keep an AS off them. The lower half of IPv4 is AS64500, the upper
/// AS64501, IPv6 AS64502.
const EVERYTHING: &str = "0.0.0.0,127.255.255.255,64500,Lower\n\
    128.0.0.0,255.255.255.255,64501,Upper\n\
    ::,ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff,64502,Six\n";

fn enricher() -> &'static Enricher {
    static E: OnceLock<Enricher> = OnceLock::new();
    E.get_or_init(|| {
        let mmdb = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/ipdb/geo-whois-asn-country.mmdb");
        Enricher {
            asn: Some(AsnTable::from_reader(EVERYTHING.as_bytes(), "everything").unwrap()),
            country: Some(CountryDb::open(&mmdb).unwrap()),
            constituency: Default::default(),
        }
    })
}

/// The table's answer, worked out without the table.
fn table_asn(ip: IpAddr) -> (u32, &'static str) {
    match ip {
        IpAddr::V4(a) if u32::from(a) < 0x8000_0000 => (64500, "Lower"),
        IpAddr::V4(_) => (64501, "Upper"),
        IpAddr::V6(_) => (64502, "Six"),
    }
}

fn event(ip: IpAddr) -> Event {
    let mut e = Event::new(
        "t".into(),
        jiff::Timestamp::UNIX_EPOCH,
        ClassificationType::Undetermined,
    );
    e.source_ip = Some(ip);
    e
}

/// Special-purpose blocks (a sample from both registries) as (first address, prefix length).
const SPECIAL: [(&str, u8); 16] = [
    ("0.0.0.0", 8),
    ("10.0.0.0", 8),
    ("100.64.0.0", 10),
    ("127.0.0.0", 8),
    ("169.254.0.0", 16),
    ("172.16.0.0", 12),
    ("192.0.2.0", 24),
    ("192.168.0.0", 16),
    ("198.18.0.0", 15),
    ("198.51.100.0", 24),
    ("203.0.113.0", 24),
    ("240.0.0.0", 4),
    ("2001:db8::", 32),
    ("fc00::", 7),
    ("fe80::", 10),
    ("64:ff9b::", 96),
];

fn special_ip() -> impl Strategy<Value = IpAddr> {
    (0..SPECIAL.len(), any::<u128>()).prop_map(|(i, bits)| {
        let (net, len) = SPECIAL[i];
        match net.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => {
                let host = (bits as u32) & (u32::MAX >> len);
                IpAddr::V4(Ipv4Addr::from(u32::from(a) | host))
            }
            IpAddr::V6(a) => {
                let host = bits & (u128::MAX >> len);
                IpAddr::V6(Ipv6Addr::from(u128::from(a) | host))
            }
        }
    })
}

/// Public unicast addresses: IPv4 in 1.0.0.0–9.255.255.255 and 11–99 (none special), IPv6 in
/// 2400::/6 (allocated to RIRs).
fn public_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0x0100_0000u32..0x0a00_0000).prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        (0x0b00_0000u32..0x6400_0000).prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        (0x8000_0000u32..0xa9fe_0000).prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>()
            .prop_map(|x| IpAddr::V6(Ipv6Addr::from((0x2400u128 << 112) | (x & (u128::MAX >> 6))))),
    ]
}

fn country() -> impl Strategy<Value = Option<CountryCode>> {
    prop_oneof![
        Just(None),
        Just(Some("DE".parse().unwrap())),
        Just(Some("US".parse().unwrap())),
        Just(Some("JP".parse().unwrap())),
    ]
}

fn asn() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![
        Just(None),
        Just(Some(64500)),
        Just(Some(64501)),
        Just(Some(64502)),
        Just(Some(12635))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// For an ordinary address: the winner's value is the field, the loser's is in `extra`, and
    /// where the feed was silent the lookup fills in.
    #[test]
    fn the_winner_is_stored_and_the_loser_kept(
        ip in public_ip(),
        feed_asn in asn(),
        feed_cc in country(),
        overwrite in any::<bool>(),
    ) {
        let e = enricher();
        let mut ev = event(ip);
        ev.source_asn = feed_asn;
        ev.source_cc = feed_cc;
        e.enrich_with(&mut ev, overwrite);
        let (lookup_asn, lookup_name) = table_asn(ip);
        let lookup_cc = e.country.as_ref().unwrap().lookup(ip);
        let (won, lost_at) = if overwrite { ("lookup", "feed.") } else { ("feed", "enrichment.") };
        match feed_asn {
            None => {
                prop_assert_eq!(ev.source_asn, Some(lookup_asn));
                prop_assert_eq!(ev.source_as_name.as_deref(), Some(lookup_name));
            }
            Some(given) if given == lookup_asn => {
                prop_assert_eq!(ev.source_asn, Some(given));
                prop_assert_eq!(ev.source_as_name.as_deref(), Some(lookup_name));
            }
            Some(given) => {
                let (kept, lost) = if won == "feed" { (given, lookup_asn) } else { (lookup_asn, given) };
                prop_assert_eq!(ev.source_asn, Some(kept));
                prop_assert_eq!(&ev.extra[&format!("{lost_at}source.asn")], &json!(lost));
                // The table's AS name is never put beside another AS's number.
                if won == "feed" {
                    prop_assert_eq!(ev.source_as_name.as_deref(), None);
                    prop_assert_eq!(&ev.extra["enrichment.source.as_name"], &json!(lookup_name));
                } else {
                    prop_assert_eq!(ev.source_as_name.as_deref(), Some(lookup_name));
                }
            }
        }
        match (feed_cc, lookup_cc) {
            (None, found) => prop_assert_eq!(ev.source_cc, found),
            (Some(given), None) => prop_assert_eq!(ev.source_cc, Some(given)),
            (Some(given), Some(found)) if given == found => prop_assert_eq!(ev.source_cc, Some(given)),
            (Some(given), Some(found)) => {
                let (kept, lost) = if won == "feed" { (given, found) } else { (found, given) };
                prop_assert_eq!(ev.source_cc, Some(kept));
                prop_assert_eq!(
                    &ev.extra[&format!("{lost_at}source.geolocation.cc")],
                    &json!(lost.to_string())
                );
            }
        }
        // Nothing else is written to extra: exactly the disagreements.
        let disagreements = usize::from(feed_asn.is_some_and(|a| a != lookup_asn)) * 2
            - usize::from(overwrite && feed_asn.is_some_and(|a| a != lookup_asn))
            + usize::from(matches!((feed_cc, lookup_cc), (Some(a), Some(b)) if a != b));
        prop_assert_eq!(ev.extra.len(), disagreements, "{:?}", ev.extra);
    }

    /// A special-purpose address gets no AS, no network and no country, whatever the tables say,
    /// and the feed's own values stay.
    #[test]
    fn special_purpose_addresses_get_no_country_and_no_as(
        ip in special_ip(),
        feed_asn in asn(),
        feed_cc in country(),
        overwrite in any::<bool>(),
    ) {
        let mut ev = event(ip);
        ev.source_asn = feed_asn;
        ev.source_cc = feed_cc;
        enricher().enrich_with(&mut ev, overwrite);
        prop_assert_eq!(ev.source_asn, feed_asn);
        prop_assert_eq!(ev.source_cc, feed_cc);
        prop_assert_eq!(ev.source_as_name, None);
        prop_assert_eq!(ev.source_network, None);
        prop_assert!(ev.extra.is_empty());
    }
}

/// The cases: the shipped country database places these in AU and JP, and the feed's
/// AS12635 was replaced by the table's.
#[test]
fn the_reported_cases() {
    let e = enricher();
    for ip in [
        "172.16.5.4",
        "192.168.1.1",
        "198.51.100.7",
        "203.0.113.9",
        "2001:db8::1",
    ] {
        let mut ev = event(ip.parse().unwrap());
        e.enrich(&mut ev);
        assert_eq!((ev.source_cc, ev.source_asn), (None, None), "{ip}");
    }
    // Checked first: the database itself does answer for some of them.
    let db = e.country.as_ref().unwrap();
    assert!(
        ["172.16.5.4", "198.51.100.7", "203.0.113.9", "2001:db8::1"]
            .iter()
            .any(|ip| db.lookup(ip.parse().unwrap()).is_some())
    );
    let mut ev = event("8.8.8.8".parse().unwrap());
    ev.source_asn = Some(12635);
    ev.source_as_name = Some(Arc::from("FEED AS"));
    e.enrich(&mut ev);
    assert_eq!(ev.source_asn, Some(12635));
    assert_eq!(ev.source_as_name.as_deref(), Some("FEED AS"));
    assert_eq!(ev.extra["enrichment.source.asn"], json!(64500));
    assert_eq!(ev.extra["enrichment.source.as_name"], json!("Lower"));
    let mut ev = event("8.8.8.8".parse().unwrap());
    ev.source_asn = Some(12635);
    e.enrich_with(&mut ev, true);
    assert_eq!(ev.source_asn, Some(64500));
    assert_eq!(ev.source_as_name.as_deref(), Some("Lower"));
    assert_eq!(ev.extra["feed.source.asn"], json!(12635));
}
