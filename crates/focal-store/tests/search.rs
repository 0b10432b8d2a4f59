//! The paged event search (`WebStore::events_page`) on SQLite returns exactly the events a
//! plain filter over all events returns, in seq order, page after page, whether the events are
//! indexed for search, not indexed, or indexed only in part (an ingest after the last indexing).
//! The expected answer is computed here in Rust from the events written, independently of SQL.

use focal_model::{ClassificationType, Event, Tlp};
use focal_store::web::{Scope, WebStore};
use focal_store::*;
use ipnet::IpNet;

fn observed() -> jiff::Timestamp {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

/// A small deterministic generator (xorshift), so a failure reproduces.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.next().is_multiple_of(n)
    }
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

/// What a test event is, kept to compute the expected answers.
#[derive(Clone, Debug)]
struct Made {
    id: u128,
    ip: Option<std::net::IpAddr>,
    network: Option<IpNet>,
    asn: Option<u32>,
    cc: Option<String>,
    kind: String,
    constituent: Option<String>,
    tlp: Tlp,
}

const TYPES: [&str; 4] = ["infected-system", "scanner", "c2-server", "phishing"];

fn make(rng: &mut Rng, n: u128) -> (Event, Made) {
    let kind = rng.pick(&TYPES);
    let mut e = Event::new(
        "f".into(),
        observed(),
        kind.parse::<ClassificationType>().unwrap(),
    );
    e.id = uuid::Uuid::from_u128(n);
    let mut made = Made {
        id: n,
        ip: None,
        network: None,
        asn: None,
        cc: None,
        kind: kind.into(),
        constituent: None,
        tlp: Tlp::Amber,
    };
    // Mostly addresses in a few /24s and an IPv6 /64, some network indicators, a few with
    // neither value set for AS or country.
    if rng.one_in(10) {
        let net: IpNet = rng
            .pick(&["198.51.100.0/28", "203.0.113.0/24", "2001:db8:1::/48"])
            .parse()
            .unwrap();
        e.source_network = Some(net);
        made.network = Some(net);
    } else {
        let ip = match rng.next() % 4 {
            0 => format!("2001:db8::{:x}", rng.next() % 40),
            1 => format!("198.51.100.{}", rng.next() % 40),
            2 => format!("192.0.2.{}", rng.next() % 250),
            _ => format!(
                "10.{}.{}.{}",
                rng.next() % 3,
                rng.next() % 3,
                rng.next() % 200
            ),
        };
        e.set_text(&"source.ip".parse().unwrap(), &ip).unwrap();
        made.ip = Some(ip.parse().unwrap());
    }
    if !rng.one_in(5) {
        let asn = [64500u32, 64501, 64502, 65000][(rng.next() % 4) as usize];
        e.set_text(&"source.asn".parse().unwrap(), &asn.to_string())
            .unwrap();
        made.asn = Some(asn);
    }
    if !rng.one_in(6) {
        let cc = rng.pick(&["NL", "DE", "LU", "IS"]);
        e.set_text(&"source.geolocation.cc".parse().unwrap(), cc)
            .unwrap();
        made.cc = Some(cc.into());
    }
    if rng.one_in(3) {
        let c = rng.pick(&["org-a", "org-b"]);
        e.constituent = Some(c.into());
        made.constituent = Some(c.into());
    }
    if rng.one_in(7) {
        e.tlp = Tlp::Red;
        made.tlp = Tlp::Red;
    }
    e.set_text(&"time.source".parse().unwrap(), "2026-11-24T10:00:00Z")
        .unwrap();
    (e, made)
}

fn write(store: &SqliteStore, sha: &str, events: &[Event]) {
    let run = store
        .begin_run(&NewRun {
            feed: "f".into(),
            feed_provider: None,
            feed_url: None,
            observed: observed(),
            file_name: "f.csv".into(),
            sha256: sha.into(),
            size: 1,
            resumed_from: None,
            progress: RunProgress::default(),
            status: RunStatus::Running,
        })
        .unwrap();
    let context = RunContext {
        feed_name: "f".into(),
        feed_provider: None,
        feed_url: None,
        observed: observed(),
    };
    let encoded: Vec<EncodedEvent> = events
        .iter()
        .map(|e| EncodedEvent::new(e.clone(), (86_400, 20_416), &context))
        .collect();
    let mut writer = store.run_writer(run.id).unwrap();
    let n = writer.write(&encoded, &[]).unwrap();
    assert_eq!(n, events.len() as u64, "every test event is new");
    writer
        .commit(&RunProgress {
            rows_read: n,
            events_stored: n,
            ..Default::default()
        })
        .unwrap();
}

fn matches(m: &Made, f: &EventFilter, scope: &Scope) -> bool {
    if let Some(org) = scope.organisation()
        && (m.constituent.as_deref() != Some(org) || m.tlp == Tlp::Red)
    {
        return false;
    }
    if let Some(net) = &f.network {
        let inside = m.ip.is_some_and(|ip| net.contains(&ip));
        let overlaps = m
            .network
            .is_some_and(|n| n.network() <= net.broadcast() && n.broadcast() >= net.network());
        if !(inside || overlaps) {
            return false;
        }
    }
    f.asn.is_none_or(|a| m.asn == Some(a))
        && f.country
            .as_ref()
            .is_none_or(|c| m.cc.as_deref() == Some(c))
        && f.classification_type.as_ref().is_none_or(|t| m.kind == *t)
        && f.constituent
            .as_ref()
            .is_none_or(|c| m.constituent.as_deref() == Some(c))
}

/// Pages through the search with a small page size; returns the ids in the order received.
fn paged(store: &SqliteStore, f: &EventFilter, scope: &Scope) -> Vec<u128> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .events_page(
                &EventFilter {
                    after_seq: after,
                    limit: Some(7),
                    ..f.clone()
                },
                scope,
            )
            .unwrap();
        let seqs: Vec<i64> = page.iter().map(|(s, _)| *s).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seq order: {seqs:?}");
        out.extend(page.iter().map(|(_, e)| e.id.as_u128()));
        if page.len() < 7 {
            return out;
        }
        after = seqs.last().copied();
    }
}

fn filters() -> Vec<EventFilter> {
    let net = |s: &str| EventFilter {
        network: Some(s.parse().unwrap()),
        ..Default::default()
    };
    let mut list = vec![
        EventFilter::default(),
        net("198.51.100.7/32"),
        net("198.51.100.0/24"),
        net("198.51.100.8/29"),
        net("203.0.113.77/32"),
        net("2001:db8::/64"),
        net("2001:db8:1::5/128"),
        net("10.0.0.0/8"),
        net("0.0.0.0/0"),
        net("::/0"),
    ];
    for asn in [64500, 65000, 1] {
        list.push(EventFilter {
            asn: Some(asn),
            ..Default::default()
        });
    }
    for cc in ["NL", "IS", "FR"] {
        list.push(EventFilter {
            country: Some(cc.into()),
            ..Default::default()
        });
    }
    for t in TYPES {
        list.push(EventFilter {
            classification_type: Some(t.into()),
            ..Default::default()
        });
    }
    // Combinations: the index drives one key, the rest are conditions.
    list.push(EventFilter {
        network: Some("198.51.100.0/24".parse().unwrap()),
        asn: Some(64501),
        classification_type: Some("scanner".into()),
        ..Default::default()
    });
    list.push(EventFilter {
        country: Some("LU".into()),
        classification_type: Some("c2-server".into()),
        constituent: Some("org-a".into()),
        ..Default::default()
    });
    list
}

fn check_all(store: &SqliteStore, made: &[Made], state: &str) {
    let scopes = [Scope::All, Scope::Organisation("org-b".into())];
    for f in filters() {
        for scope in &scopes {
            let expected: Vec<u128> = made
                .iter()
                .filter(|m| matches(m, &f, scope))
                .map(|m| m.id)
                .collect();
            assert_eq!(
                paged(store, &f, scope),
                expected,
                "{state}: filter {f:?}, scope {scope:?}"
            );
        }
    }
}

#[test]
fn the_paged_search_is_exact_whether_events_are_indexed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let mut rng = Rng(0x5eed_f0ca1);
    let (first, mut made): (Vec<Event>, Vec<Made>) = (1..=1500).map(|n| make(&mut rng, n)).unzip();
    write(&store, "a", &first);
    check_all(&store, &made, "nothing indexed");

    // Small batches, so the indexing runs several transactions.
    assert!(store.index_events(1000, 400).unwrap());
    check_all(&store, &made, "all indexed");

    let (second, more): (Vec<Event>, Vec<Made>) = (1501..=2300).map(|n| make(&mut rng, n)).unzip();
    write(&store, "b", &second);
    made.extend(more);
    check_all(&store, &made, "the second run not indexed");

    assert!(store.index_events(1000, 400).unwrap());
    check_all(&store, &made, "all indexed again");
    // Indexing again finds nothing to do and changes nothing.
    assert!(store.index_events(1000, 400).unwrap());
    check_all(&store, &made, "after a no-op indexing");
}
