//! Hostile input, as a property test that runs with every `cargo test`: whatever the bytes, every
//! record comes out exactly once (as an event or a rejection), nothing panics, and rejections
//! point at real lines. The coverage-guided fuzz targets in `fuzz/` check the same invariant for
//! much longer; this keeps it checked on every change.

use focal_feeds::read::RecordReader;
use focal_feeds::{Feed, Format};
use proptest::prelude::*;

const CSV: &str = r##"
name = "t-csv"
format = "csv"
required = ["source.ip"]
[csv]
comment = "#"
[fields]
timestamp = "time.source"
ip = "source.ip"
port = "source.port"
malware = "malware.name"
host = "source.fqdn"
[constants]
"classification.type" = "infected-system"
"##;

/// Every transform of the definition language at once, on a multi-character delimiter.
const RICH: &str = r##"
name = "t-rich"
format = "csv"
empty = ["NA", "-", "?"]
default_url_scheme = "http"
[csv]
delimiter = "  |  "
[fields]
url = "source.url"
asn = "source.asn"
[[map]]
from = "category"
to = "classification.type"
values = { ssh = "brute-force", "vnc" = "scanner" }
default = "undetermined"
[[split]]
from = "hostport"
into = ["source.ip", "source.port"]
separator = ":"
[[join]]
from = ["start", "len"]
into = "source.network"
separator = "/"
[[pairs]]
from = "url"
separator = ";"
assign = "="
fields = { port = "source.port" }
[[capture]]
from = "category"
pattern = '^(?P<a>[a-z]+)-(?P<p>[0-9]+)$'
fields = { a = "malware.name", p = "destination.port" }
[[when]]
from = "asn"
is = ["AS64500"]
set = { "classification.identifier" = "listed" }
"##;

const LIST: &str = r##"
name = "t-list"
format = "list"
[list]
field = "source.network"
separator = ";"
rest_field = "extra.sbl_id"
[constants]
"classification.type" = "blacklist"
"##;

const JSONL: &str = r##"
name = "t-jsonl"
format = "jsonl"
[jsonl]
skip_where = { type = "metadata" }
[fields]
cidr = "source.network"
ip = "source.ip"
"when.seen" = "time.source"
[constants]
"classification.type" = "scanner"
"##;

/// Runs the whole read → parse path and checks the invariant.
fn check(feed: &Feed, input: &[u8]) {
    let mut scratch = feed.scratch();
    let mut reader = RecordReader::new(input, feed.skip_rules(), 0, 1);
    let layout = if feed.format() == Format::Csv {
        let Some((_, header)) = reader.read_first_record().unwrap() else {
            return;
        };
        let Ok(names) = feed.split_header(&header, &mut scratch) else {
            return;
        };
        match feed.csv_layout(Some(&names)) {
            Ok(layout) => Some(layout),
            Err(_) => return, // A file whose header lacks the mapped columns is refused whole.
        }
    } else {
        None
    };
    let now = jiff::Timestamp::UNIX_EPOCH;
    let mut total_lines = 0;
    while let Some(batch) = reader.next_batch(7).unwrap() {
        let (mut events, mut rejections) = (Vec::new(), Vec::new());
        feed.parse_batch(
            layout.as_ref(),
            &batch,
            now,
            &mut scratch,
            &mut events,
            &mut rejections,
        );
        // Only JSON objects with "type": "metadata" may be skipped without a trace.
        let skipped = if feed.format() == Format::Jsonl {
            batch
                .lines
                .iter()
                .filter(|l| {
                    serde_json::from_slice::<serde_json::Value>(batch.line_bytes(l))
                        .is_ok_and(|v| v.get("type").and_then(|t| t.as_str()) == Some("metadata"))
                })
                .count()
        } else {
            0
        };
        assert_eq!(
            events.len() + rejections.len() + skipped,
            batch.lines.len(),
            "every record comes out once"
        );
        for r in &rejections {
            assert!(
                batch.lines.iter().any(|l| l.line == r.line),
                "rejection line {} is a line of the batch",
                r.line
            );
            assert!(!r.reason.is_empty());
        }
        for e in &events {
            assert!(
                e.source_ip.is_some()
                    || e.source_network.is_some()
                    || e.source_fqdn.is_some()
                    || e.source_url.is_some()
                    || e.source_asn.is_some()
            );
        }
        total_lines += batch.lines.len();
    }
    assert!(total_lines <= input.len() + 1);
}

fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let cell = prop_oneof![
        Just(b"2026-11-23T10:00:00Z".to_vec()),
        Just(b"198.51.100.7".to_vec()),
        Just(b"2001:db8::1".to_vec()),
        Just(b"\"quoted,\"\"cell\"".to_vec()),
        Just(b"\"unterminated".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        Just(b"70000".to_vec()),
        Just(b"host.example".to_vec()),
        Just(b"#".to_vec()),
        Just(b"\r".to_vec()),
        prop::collection::vec(any::<u8>(), 0..12),
    ];
    let row = prop::collection::vec(cell, 0..8).prop_map(|cells| cells.join(&b","[..]));
    prop::collection::vec(row, 0..20).prop_map(|rows| {
        let mut out = b"timestamp,ip,port,malware,host\n".to_vec();
        out.extend(rows.join(&b"\n"[..]));
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn csv_never_loses_a_record(input in csvish()) {
        check(&Feed::from_toml(CSV, "csv").unwrap(), &input);
    }

    #[test]
    fn a_long_delimiter_never_loses_a_record(rows in prop::collection::vec(
        prop::collection::vec(prop_oneof![
            Just("192.0.2.1:80".to_string()),
            Just("[2001:db8::1]:443".to_string()),
            Just("\"quoted  |  cell\"".to_string()),
            Just("\"unterminated".to_string()),
            Just("NA".to_string()),
            Just("ssh".to_string()),
            Just("198.51.100.0".to_string()),
            Just("24".to_string()),
            Just("AS64500".to_string()),
            Just("www.example.com/x".to_string()),
            Just("port=80; x=y".to_string()),
            Just("mirai-99999".to_string()),
            ".{0,10}",
        ], 0..8).prop_map(|cells| cells.join("  |  ")),
        0..20,
    )) {
        let mut input = "url  |  asn  |  category  |  hostport  |  start  |  len\n".to_string();
        input.push_str(&rows.join("\n"));
        check(&Feed::from_toml(RICH, "rich").unwrap(), input.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..400)) {
        for def in [CSV, LIST, JSONL, RICH] {
            check(&Feed::from_toml(def, "t").unwrap(), &input);
        }
    }

    #[test]
    fn json_lines_never_lose_a_record(lines in prop::collection::vec(prop_oneof![
        Just(r#"{"cidr":"192.0.2.0/24","ip":"192.0.2.9"}"#.to_string()),
        Just(r#"{"type":"metadata","records":3}"#.to_string()),
        Just(r#"{"cidr":"192.0.2.1/24"}"#.to_string()),
        Just(r#"{"when":{"seen":"2026-11-23T10:00:00Z"},"ip":"2001:db8::2"}"#.to_string()),
        Just(r#"[1,2,3]"#.to_string()),
        Just(r#"{"ip":{"nested":true}}"#.to_string()),
        Just("[".repeat(300)),
        ".{0,40}",
    ], 0..30)) {
        check(&Feed::from_toml(JSONL, "jsonl").unwrap(), lines.join("\n").as_bytes());
    }

    #[test]
    fn feed_definitions_never_panic(text in ".{0,300}") {
        let _ = Feed::from_toml(&text, "arbitrary.toml");
    }
}
