//! The feed definitions shipped in `feeds/` load, and read their synthetic samples in
//! `feeds/samples/` exactly as intended: which lines become events, which are quarantined and why,
//! and what the events say.

use focal_feeds::read::RecordReader;
use focal_feeds::{Feed, Format, RejectKind, Rejection};
use focal_model::{ClassificationType, Event, Field, Taxonomy, Tlp};
use jiff::Timestamp;
use std::fs::File;
use std::path::PathBuf;

fn feeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../feeds")
}

fn observed() -> Timestamp {
    "2026-01-15T12:00:00Z".parse().unwrap()
}

struct Run {
    feed: Feed,
    /// The line the CSV header was read from, for a feed with a header.
    header_line: Option<u64>,
    /// Records handed to the parser (blank and comment lines are not records).
    records: usize,
    events: Vec<Event>,
    rejections: Vec<Rejection>,
}

/// Loads a definition and reads its sample the way the pipeline does (header first for CSV, then
/// batches). The batch size is small so that the sample spans several batches.
fn run(definition: &str, sample: &str) -> Run {
    let dir = feeds_dir();
    let feed = Feed::load(&dir.join(definition)).unwrap_or_else(|e| panic!("{definition}: {e}"));
    let path = dir.join("samples").join(sample);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut scratch = feed.scratch();
    let mut reader = RecordReader::new(file, feed.skip_rules(), 0, 1);
    let mut header_line = None;
    let layout = match feed.format() {
        Format::Csv => {
            let header = if feed.definition.csv.header {
                let (line, bytes) = reader
                    .read_first_record()
                    .unwrap()
                    .expect("the sample has a header line");
                header_line = Some(line);
                Some(feed.split_header(&bytes, &mut scratch).unwrap())
            } else {
                None
            };
            Some(
                feed.csv_layout(header.as_deref())
                    .unwrap_or_else(|e| panic!("{definition}: {e}")),
            )
        }
        _ => None,
    };
    let (mut records, mut events, mut rejections) = (0, Vec::new(), Vec::new());
    while let Some(batch) = reader.next_batch(3).unwrap() {
        records += batch.lines.len();
        feed.parse_batch(
            layout.as_ref(),
            &batch,
            observed(),
            &mut scratch,
            &mut events,
            &mut rejections,
        );
    }
    Run {
        feed,
        header_line,
        records,
        events,
        rejections,
    }
}

fn lines_and_kinds(rejections: &[Rejection]) -> Vec<(u64, RejectKind)> {
    rejections.iter().map(|r| (r.line, r.kind)).collect()
}

fn text(event: &Event, field: &str) -> Option<String> {
    event
        .get_text(&field.parse::<Field>().unwrap())
        .map(|t| t.into_owned())
}

fn networks(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            e.source_network
                .expect("an event of a DROP feed has a network")
                .to_string()
        })
        .collect()
}

/// Whether the pipeline would give every event its own id (none collapse as duplicates).
fn all_ids_distinct(feed: &Feed, events: &[Event]) -> bool {
    let mut buf = Vec::new();
    let ids: std::collections::HashSet<_> = events
        .iter()
        .map(|e| feed.dedup.event_id(e, &mut buf))
        .collect();
    ids.len() == events.len()
}

fn common_checks(run: &Run, name: &str, provider: &str, url: &str, type_: ClassificationType) {
    for e in &run.events {
        assert_eq!(&*e.feed_name, name);
        assert_eq!(e.feed_provider.as_deref(), Some(provider));
        assert_eq!(e.feed_url.as_deref(), Some(url));
        assert_eq!(e.classification_type, type_);
        assert_eq!(e.tlp, Tlp::Clear);
        assert_eq!(e.time_observation, observed());
        assert!(e.raw.is_some(), "raw is kept as evidence");
    }
    for r in &run.rejections {
        assert!(
            !r.raw.is_empty(),
            "line {}: a rejection keeps the record's bytes",
            r.line
        );
        assert!(!r.reason.is_empty());
    }
    assert!(
        all_ids_distinct(&run.feed, &run.events),
        "{name}: distinct sample records must not collapse into one event"
    );
}

#[test]
fn spamhaus_drop_text() {
    let run = run("spamhaus-drop.toml", "spamhaus-drop.txt");
    assert_eq!(run.feed.format(), Format::List);
    // Lines 1-3 are ';' comments and line 6 is blank: not records.
    assert_eq!(run.records, 7);
    assert_eq!(run.events.len(), 5);
    assert_eq!(run.rejections.len(), 2);
    assert_eq!(
        run.events.len() + run.rejections.len(),
        run.records,
        "every record comes out exactly once"
    );
    assert_eq!(
        lines_and_kinds(&run.rejections),
        vec![(8, RejectKind::Ip), (9, RejectKind::Ip)]
    );
    // Line 8 has host bits set (203.0.113.7/24): refused rather than truncated.
    assert_eq!(run.rejections[0].field.as_deref(), Some("source.network"));
    assert_eq!(run.rejections[0].raw, b"203.0.113.7/24 ; SBL900004");
    assert_eq!(run.rejections[1].raw, b"198.51.100.0/33 ; SBL900005");
    common_checks(
        &run,
        "spamhaus-drop",
        "Spamhaus",
        "https://www.spamhaus.org/drop/drop.txt",
        ClassificationType::Blacklist,
    );

    assert_eq!(
        networks(&run.events),
        [
            "192.0.2.0/24",
            "198.51.100.0/25",
            "203.0.113.64/26",
            "2001:db8:4000::/34",
            "203.0.113.128/25"
        ]
    );
    let first = &run.events[0];
    assert_eq!(text(first, "extra.sbl_id").as_deref(), Some("SBL900001"));
    assert_eq!(
        first.extra.get("sbl_id"),
        Some(&serde_json::json!("SBL900001"))
    );
    assert_eq!(first.extra.len(), 1);
    assert_eq!(
        first.source_ip, None,
        "the indicator is the network, not an address"
    );
    assert_eq!(first.time_source, None, "DROP has no per-record times");
    assert_eq!(first.taxonomy(), Taxonomy::Other);
    assert_eq!(first.raw.as_deref(), Some(&b"192.0.2.0/24 ; SBL900001"[..]));
    let v6 = &run.events[3];
    assert_eq!(text(v6, "extra.sbl_id").as_deref(), Some("SBL900006"));

    // De-duplication: per netblock and feed, per UTC day.
    assert_eq!(
        run.feed.dedup.parts,
        vec![vec![Field::SourceNetwork], vec![Field::FeedName]]
    );
    assert_eq!(run.feed.dedup.window_secs, Some(86_400));
    let mut buf = Vec::new();
    let mut later = first.clone();
    later.time_observation = "2026-01-15T23:59:59Z".parse().unwrap();
    later
        .extra
        .insert("sbl_id".into(), serde_json::json!("SBL999999"));
    assert_eq!(
        run.feed.dedup.event_id(first, &mut buf),
        run.feed.dedup.event_id(&later, &mut buf),
        "same block, same day"
    );
    later.time_observation = "2026-01-16T00:00:00Z".parse().unwrap();
    assert_ne!(
        run.feed.dedup.event_id(first, &mut buf),
        run.feed.dedup.event_id(&later, &mut buf),
        "next day, new event"
    );
}

#[test]
fn spamhaus_drop_json_lines() {
    let run = run("spamhaus-drop-json.toml", "spamhaus-drop-json.json");
    assert_eq!(run.feed.format(), Format::Jsonl);
    // Line 5 is blank; line 9 is the metadata trailer, read as a record and skipped by skip_where.
    assert_eq!(run.records, 8);
    assert_eq!(run.events.len(), 4);
    assert_eq!(run.rejections.len(), 3);
    assert_eq!(
        run.events.len() + run.rejections.len() + 1,
        run.records,
        "all but the metadata line come out"
    );
    assert_eq!(
        lines_and_kinds(&run.rejections),
        vec![
            (3, RejectKind::Ip),
            (6, RejectKind::Json),
            (7, RejectKind::Missing)
        ]
    );
    assert_eq!(run.rejections[0].field.as_deref(), Some("source.network"));
    assert!(
        run.rejections[0].reason.contains("203.0.113.9/24"),
        "{}",
        run.rejections[0].reason
    );
    assert_eq!(
        run.rejections[2].field.as_deref(),
        Some("source.network"),
        "a record without cidr"
    );
    common_checks(
        &run,
        "spamhaus-drop-json",
        "Spamhaus",
        "https://www.spamhaus.org/drop/drop_v4.json",
        ClassificationType::Blacklist,
    );

    assert_eq!(
        networks(&run.events),
        [
            "192.0.2.0/24",
            "198.51.100.0/25",
            "203.0.113.128/25",
            "203.0.113.0/26"
        ]
    );
    let first = &run.events[0];
    assert_eq!(text(first, "extra.sbl_id").as_deref(), Some("SBL900101"));
    assert_eq!(text(first, "extra.rir").as_deref(), Some("arin"));
    assert_eq!(first.time_source, None);
    let last = &run.events[3];
    assert_eq!(text(last, "extra.sbl_id").as_deref(), Some("SBL900107"));
    assert_eq!(text(last, "extra.rir").as_deref(), Some("afrinic"));
    assert!(
        run.events
            .iter()
            .all(|e| !e.extra.contains_key("type") && e.extra.len() == 2),
        "only the mapped keys are kept"
    );
    assert_eq!(
        run.feed.dedup.parts,
        vec![vec![Field::SourceNetwork], vec![Field::FeedName]]
    );
    assert_eq!(run.feed.dedup.window_secs, Some(86_400));
}

#[test]
fn abusech_feodo_ipblocklist() {
    let run = run(
        "abusech-feodo-ipblocklist.toml",
        "abusech-feodo-ipblocklist.csv",
    );
    assert_eq!(run.feed.format(), Format::Csv);
    // Lines 1-7 are the '#' banner; the quoted header on line 8 is not commented in the real file.
    assert_eq!(run.header_line, Some(8));
    // Line 11 is blank and line 18 the '# END' trailer.
    assert_eq!(run.records, 8);
    assert_eq!(run.events.len(), 4);
    assert_eq!(run.rejections.len(), 4);
    assert_eq!(
        lines_and_kinds(&run.rejections),
        vec![
            (13, RejectKind::Ip),
            (14, RejectKind::Port),
            (15, RejectKind::Columns),
            (16, RejectKind::Timestamp)
        ]
    );
    assert_eq!(run.rejections[0].field.as_deref(), Some("source.ip"));
    assert_eq!(run.rejections[1].field.as_deref(), Some("source.port"));
    assert!(
        run.rejections[2]
            .reason
            .contains("expected 6 columns, found 5"),
        "{}",
        run.rejections[2].reason
    );
    assert_eq!(run.rejections[3].field.as_deref(), Some("time.source"));
    assert_eq!(
        run.rejections[3].raw,
        br#""05/01/2026 12:00","192.0.2.42","443","online","2026-01-15","QakBot""#.to_vec()
    );
    common_checks(
        &run,
        "abusech-feodo-ipblocklist",
        "abuse.ch",
        "https://feodotracker.abuse.ch/downloads/ipblocklist.csv",
        ClassificationType::C2Server,
    );

    let first = &run.events[0];
    assert_eq!(
        first.time_source,
        Some("2025-11-02T08:15:30Z".parse().unwrap()),
        "first_seen_utc is UTC"
    );
    assert_eq!(first.source_ip, Some("192.0.2.10".parse().unwrap()));
    assert_eq!(first.source_port, Some(443));
    assert_eq!(
        first.malware_name.as_deref(),
        Some("qakbot"),
        "malware names are lower-cased"
    );
    assert_eq!(first.classification_type, ClassificationType::C2Server);
    assert_eq!(first.taxonomy(), Taxonomy::MaliciousCode);
    assert_eq!(text(first, "extra.c2_status").as_deref(), Some("online"));
    assert_eq!(
        text(first, "extra.last_online").as_deref(),
        Some("2026-01-15")
    );
    assert_eq!(
        first.destination_ip, None,
        "dst_ip is the C2 server, mapped to source.ip"
    );
    assert_eq!(first.destination_port, None);
    assert_eq!(
        first.raw.as_deref(),
        Some(&br#""2025-11-02 08:15:30","192.0.2.10","443","online","2026-01-15","QakBot""#[..])
    );

    let second = &run.events[1];
    assert_eq!(
        second.time_source,
        Some("2025-12-01T17:45:00Z".parse().unwrap())
    );
    assert_eq!(second.source_ip, Some("198.51.100.20".parse().unwrap()));
    assert_eq!(second.source_port, Some(8080));
    assert_eq!(second.malware_name.as_deref(), Some("emotet"));
    assert_eq!(text(second, "extra.c2_status").as_deref(), Some("offline"));

    let v6 = &run.events[3];
    assert_eq!(v6.source_ip, Some("2001:db8::c2".parse().unwrap()));
    assert_eq!(v6.source_port, Some(995));
    assert_eq!(
        v6.time_source,
        Some("2026-01-06T09:30:00Z".parse().unwrap())
    );
    assert_eq!(v6.malware_name.as_deref(), Some("trickbot"));

    assert_eq!(
        run.feed.dedup.parts,
        vec![
            vec![Field::SourceIp],
            vec![Field::SourcePort],
            vec![Field::MalwareName],
            vec![Field::FeedName]
        ]
    );
    // The same C2 endpoint on another port is another event.
    let mut buf = Vec::new();
    let mut other_port = first.clone();
    other_port.source_port = Some(2222);
    assert_ne!(
        run.feed.dedup.event_id(first, &mut buf),
        run.feed.dedup.event_id(&other_port, &mut buf)
    );
    // The same row ingested again later (same first_seen_utc) is the same event.
    let mut again = first.clone();
    again.time_observation = "2026-02-01T00:00:00Z".parse().unwrap();
    assert_eq!(
        run.feed.dedup.event_id(first, &mut buf),
        run.feed.dedup.event_id(&again, &mut buf)
    );
}

#[test]
fn blocklist_de_all() {
    let run = run("blocklist-de.toml", "blocklist-de-all.txt");
    assert_eq!(run.feed.format(), Format::List);
    // Line 1 is a comment and line 5 blank.
    assert_eq!(run.records, 9);
    assert_eq!(run.events.len(), 6);
    assert_eq!(run.rejections.len(), 3);
    assert_eq!(run.events.len() + run.rejections.len(), run.records);
    assert_eq!(
        lines_and_kinds(&run.rejections),
        vec![
            (8, RejectKind::Ip),
            (9, RejectKind::Ip),
            (10, RejectKind::Ip)
        ]
    );
    let raws: Vec<&[u8]> = run.rejections.iter().map(|r| r.raw.as_slice()).collect();
    assert_eq!(
        raws,
        [&b"192.0.2.256"[..], b"198.51.100.0/24", b"2001:db8::1::2"]
    );
    assert!(
        run.rejections
            .iter()
            .all(|r| r.field.as_deref() == Some("source.ip"))
    );
    common_checks(
        &run,
        "blocklist-de-all",
        "blocklist.de",
        "https://lists.blocklist.de/lists/all.txt",
        ClassificationType::Blacklist,
    );

    let ips: Vec<String> = run
        .events
        .iter()
        .map(|e| e.source_ip.unwrap().to_string())
        .collect();
    assert_eq!(
        ips,
        [
            "192.0.2.1",
            "192.0.2.77",
            "198.51.100.14",
            "203.0.113.250",
            "2001:db8::25",
            "203.0.113.99"
        ]
    );
    for e in &run.events {
        assert_eq!(e.time_source, None, "all.txt has no timestamps");
        assert_eq!(e.effective_time(), observed());
        assert_eq!(e.source_network, None);
        assert!(e.extra.is_empty());
    }
    assert_eq!(run.events[0].raw.as_deref(), Some(&b"192.0.2.1"[..]));
    assert_eq!(run.feed.dedup.window_secs, Some(86_400));
}

#[test]
fn spamhaus_asndrop_json_lines() {
    let run = run("spamhaus-asndrop.toml", "spamhaus-asndrop.json");
    // Seven lines, the last the metadata line, which is skipped without a trace.
    assert_eq!(run.records, 7);
    assert_eq!(
        lines_and_kinds(&run.rejections),
        vec![
            (3, RejectKind::Value),
            (5, RejectKind::Value),
            (6, RejectKind::Missing)
        ]
    );
    assert_eq!(
        run.rejections[0].field.as_deref(),
        Some("source.geolocation.cc")
    );
    assert_eq!(run.rejections[1].field.as_deref(), Some("source.asn"));
    common_checks(
        &run,
        "spamhaus-asndrop",
        "Spamhaus",
        "https://www.spamhaus.org/drop/asndrop.json",
        ClassificationType::Blacklist,
    );
    let asns: Vec<Option<u32>> = run.events.iter().map(|e| e.source_asn).collect();
    assert_eq!(
        asns,
        [Some(64496), Some(64497), Some(64499)],
        "\"AS64499\" reads too"
    );
    let first = &run.events[0];
    assert_eq!(first.source_as_name.as_deref(), Some("EXAMPLE-AS-1"));
    assert_eq!(text(first, "source.geolocation.cc").as_deref(), Some("NL"));
    assert_eq!(text(first, "extra.domain").as_deref(), Some("example.net"));
    assert_eq!(
        (first.source_ip, first.source_network),
        (None, None),
        "the ASN alone is the indicator"
    );
    assert_eq!(
        run.feed.dedup.parts,
        vec![vec![Field::SourceAsn], vec![Field::FeedName]]
    );
}

#[test]
fn dataplane() {
    let run = run("dataplane.toml", "dataplane.txt");
    assert_eq!(run.records, 7, "comment lines are not records");
    assert_eq!(
        lines_and_kinds(&run.rejections),
        vec![
            (11, RejectKind::Ip),
            (12, RejectKind::Timestamp),
            (13, RejectKind::Columns)
        ]
    );
    for e in &run.events {
        assert_eq!(&*e.feed_name, "dataplane");
        assert_eq!(e.tlp, Tlp::Clear);
    }
    assert!(all_ids_distinct(&run.feed, &run.events));
    /// Address, ASN, AS name, type, identifier.
    type Row<'a> = (
        String,
        Option<u32>,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
    );
    let got: Vec<Row> = run
        .events
        .iter()
        .map(|e| {
            (
                e.source_ip.unwrap().to_string(),
                e.source_asn,
                e.source_as_name.as_deref(),
                e.classification_type.as_str(),
                e.classification_identifier.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "192.0.2.7".into(),
                Some(64496),
                Some("EXAMPLE-AS-1, NL"),
                "brute-force",
                Some("sshpwauth")
            ),
            (
                "198.51.100.9".into(),
                Some(64497),
                Some("EXAMPLE|PIPE-AS, US"),
                "scanner",
                Some("sshclient")
            ),
            (
                "203.0.113.5".into(),
                None,
                None,
                "brute-force",
                Some("telnetlogin")
            ),
            (
                "2001:db8::23".into(),
                Some(64498),
                Some("EXAMPLE-AS-3, DE"),
                "scanner",
                Some("vncrfb")
            ),
        ]
    );
    assert_eq!(
        run.events[0].time_source,
        Some("2026-01-15T08:00:00Z".parse().unwrap())
    );
}
