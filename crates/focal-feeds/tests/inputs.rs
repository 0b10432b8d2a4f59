//! Inputs beyond plain lines (docs/FEEDS.md): JSON documents addressed by JSON Pointer, gzip,
//! zip and tar.gz files read as streams and bounded, and `time.source` from a header line or the
//! file's name. Every file goes through `focal_feeds::input::open`, as `focal ingest` reads it.

use focal_feeds::read::RecordReader;
use focal_feeds::{Feed, Format, Rejection, input};
use focal_model::Event;
use proptest::prelude::*;
use std::io::Write;
use std::path::{Path, PathBuf};

fn feed(toml: &str) -> Feed {
    Feed::from_toml(toml, "t.toml").unwrap_or_else(|e| panic!("{e}"))
}

/// Reads a whole file with the feed, as the ingest does (the file's own time applied).
fn run(feed: &Feed, path: &Path) -> std::io::Result<(Vec<Event>, Vec<Rejection>)> {
    let timed;
    let feed = match feed.file_time(path)? {
        Some(t) => {
            timed = feed.with_source_time(t);
            &timed
        }
        None => feed,
    };
    let mut scratch = feed.scratch();
    let mut reader = RecordReader::new(input::open(feed, path)?, feed.skip_rules(), 0, 1);
    let layout = if feed.format() == Format::Csv && feed.definition.csv.header {
        // An empty file has no header and no records; a header that does not fit the definition
        // is the ingest's error, not a panic (arbitrary bytes reach here in the property test).
        let Some((_, header)) = reader.read_first_record()? else {
            return Ok((Vec::new(), Vec::new()));
        };
        let names = feed
            .split_header(&header, &mut scratch)
            .map_err(|e| std::io::Error::other(format!("the header: {e:?}")))?;
        Some(
            feed.csv_layout(Some(&names))
                .map_err(|e| std::io::Error::other(format!("the header: {e:?}")))?,
        )
    } else if feed.format() == Format::Csv {
        Some(feed.csv_layout(None).unwrap())
    } else {
        None
    };
    let (mut events, mut rejections) = (Vec::new(), Vec::new());
    while let Some(batch) = reader.next_batch(100)? {
        feed.parse_batch(
            layout.as_ref(),
            &batch,
            jiff::Timestamp::UNIX_EPOCH,
            &mut scratch,
            &mut events,
            &mut rejections,
        );
    }
    Ok((events, rejections))
}

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "focal-inputs-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ips(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.source_ip.map(|i| i.to_string()).unwrap_or_default())
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

fn tar(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in members {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *bytes).unwrap();
    }
    builder.into_inner().unwrap()
}

fn zip(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in members {
        w.start_file(*name, options).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

const JSON_FEED: &str = "name='j'\nformat='json'\n[json]\nrecords='/data/items'\n[fields]\n'/ip'='source.ip'\n'/attributes/family'='malware.name'\n'/attributes/seen~1at'='time.source'\n";

#[test]
fn a_json_document_is_read_record_by_record_with_json_pointers() {
    let d = Dir::new("json");
    let doc = br#"{"meta": {"count": 2}, "data": {"items": [
        {"ip": "192.0.2.1", "attributes": {"family": "mirai", "seen/at": "2026-12-01T10:00:00Z"}},
        {"ip": "192.0.2.2", "attributes": {"family": "gafgyt"}}
    ]}}"#;
    let path = d.write("doc.json", doc);
    let (events, rejections) = run(&feed(JSON_FEED), &path).unwrap();
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(ips(&events), ["192.0.2.1", "192.0.2.2"]);
    assert_eq!(events[0].malware_name.as_deref(), Some("mirai"));
    assert_eq!(
        events[0].time_source.map(|t| t.to_string()).as_deref(),
        Some("2026-12-01T10:00:00Z")
    );
    assert_eq!(events[1].malware_name.as_deref(), Some("gafgyt"));
    // A record keeps its own bytes as evidence.
    assert!(
        events[0]
            .raw
            .as_deref()
            .is_some_and(|r| String::from_utf8_lossy(r).contains("mirai"))
    );
}

#[test]
fn a_top_level_array_and_the_records_that_are_not_objects() {
    let d = Dir::new("array");
    let path = d.write(
        "list.json",
        br#"[{"ip": "192.0.2.1"}, 17, {"ip": "192.0.2.2"}, ["x"]]"#,
    );
    let f = feed("name='a'\nformat='json'\n[fields]\n'/ip'='source.ip'\n");
    let (events, rejections) = run(&f, &path).unwrap();
    assert_eq!(ips(&events), ["192.0.2.1", "192.0.2.2"]);
    let got: Vec<(u64, &str)> = rejections
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "record 1 (/1) is a number, not an object"),
            (4, "record 3 (/3) is an array, not an object"),
        ]
    );
    assert_eq!(rejections[0].kind.as_str(), "json");
    assert_eq!(rejections[0].raw, b"17");
}

#[test]
fn a_malformed_document_is_one_quarantined_record_with_the_reason() {
    let d = Dir::new("bad");
    let f = feed(JSON_FEED);
    for (bytes, want) in [
        (
            &br#"{"data": {"items": [{"ip": "192.0.2.1"},"#[..],
            "not a JSON document",
        ),
        (
            &br#"{"data": {"things": []}}"#[..],
            "\"/data/items\" is not in the document",
        ),
        (
            &br#"{"data": {"items": "none"}}"#[..],
            "is a string, not an array",
        ),
    ] {
        let path = d.write("doc.json", bytes);
        let (events, rejections) = run(&f, &path).unwrap();
        assert!(events.is_empty());
        assert_eq!(rejections.len(), 1, "{rejections:?}");
        assert!(rejections[0].reason.contains(want), "{rejections:?}");
        // The evidence is the document itself (its start), not the marker.
        assert!(
            rejections[0].raw.starts_with(b"{\"data\""),
            "{rejections:?}"
        );
    }
}

#[test]
fn a_document_over_the_limit_is_refused_not_loaded() {
    let d = Dir::new("big");
    let mut doc = b"[".to_vec();
    for i in 0..200 {
        doc.extend(format!("{{\"ip\": \"192.0.2.{}\"}},", i % 250).into_bytes());
    }
    doc.extend(b"{\"ip\": \"192.0.2.1\"}]");
    let path = d.write("big.json", &doc);
    let f = feed("name='a'\nformat='json'\n[json]\nmax_bytes=1000\n[fields]\nip='source.ip'\n");
    let e = run(&f, &path).expect_err("refused");
    assert!(
        e.to_string()
            .contains("over the limit of 1000 bytes (json.max_bytes)"),
        "{e}"
    );
    // The same file within the limit is read.
    let f = feed("name='a'\nformat='json'\n[fields]\nip='source.ip'\n");
    assert_eq!(run(&f, &path).unwrap().0.len(), 201);
}

#[test]
fn jsonl_keeps_working_and_takes_pointers_too() {
    let d = Dir::new("jsonl");
    let path = d.write(
        "x.jsonl",
        b"{\"a\": {\"ip\": \"192.0.2.1\"}}\n{\"a\": {\"ip\": \"192.0.2.2\"}}\n",
    );
    let dotted = feed("name='l'\nformat='jsonl'\n[fields]\n'a.ip'='source.ip'\n");
    let pointer = feed("name='l'\nformat='jsonl'\n[fields]\n'/a/ip'='source.ip'\n");
    assert_eq!(
        ips(&run(&dotted, &path).unwrap().0),
        ["192.0.2.1", "192.0.2.2"]
    );
    assert_eq!(
        ips(&run(&pointer, &path).unwrap().0),
        ["192.0.2.1", "192.0.2.2"]
    );
}

#[test]
fn json_settings_are_checked_when_the_definition_is_read() {
    for (toml, setting) in [
        (
            "name='a'\nformat='json'\n[json]\nrecords='data'\n[fields]\nip='source.ip'\n",
            "json.records",
        ),
        (
            "name='a'\nformat='csv'\n[fields]\n'/ip'='source.ip'\n",
            "JSON Pointer",
        ),
        (
            "name='a'\nformat='csv'\n[input]\ncompression='rar'\n[fields]\nip='source.ip'\n",
            "input.compression",
        ),
        (
            "name='a'\nformat='csv'\n[input]\nmax_bytes='5GiB'\n[fields]\nip='source.ip'\n",
            "input.max_bytes",
        ),
        (
            "name='a'\nformat='csv'\n[time]\nheader='Generated: .*'\n[fields]\nip='source.ip'\n",
            "time.header",
        ),
    ] {
        let e = Feed::from_toml(toml, "t.toml").expect_err("refused");
        assert!(e.to_string().contains(setting), "{toml}: {e}");
    }
}

const CSV_FEED: &str = "name='c'\nformat='csv'\n[csv]\ncomment='#'\n[fields]\nip='source.ip'\n";

#[test]
fn gzip_is_recognised_by_its_magic_bytes() {
    let d = Dir::new("gz");
    let path = d.write("feed.csv", &gzip(b"ip\n192.0.2.1\n192.0.2.2\n"));
    let (events, rejections) = run(&feed(CSV_FEED), &path).unwrap();
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(ips(&events), ["192.0.2.1", "192.0.2.2"]);
    // Resuming at an offset of the decompressed stream reads exactly the rest.
    let mut rest = String::new();
    std::io::Read::read_to_string(
        &mut input::open_at(&feed(CSV_FEED), &path, 3).unwrap(),
        &mut rest,
    )
    .unwrap();
    assert_eq!(rest, "192.0.2.1\n192.0.2.2\n");
}

#[test]
fn zip_and_tar_gz_members_are_read_in_turn_each_with_its_header() {
    let d = Dir::new("archives");
    let a: &[u8] = b"ip\n192.0.2.1\n192.0.2.2";
    let b: &[u8] = b"# second day\nip\n192.0.2.3\n";
    let readme: &[u8] = b"not a feed\n";
    let zipped = d.write(
        "feeds.zip",
        &zip(&[("a.csv", a), ("b.csv", b), ("README", readme)]),
    );
    let tgz = d.write(
        "feeds.tar.gz",
        &gzip(&tar(&[("a.csv", a), ("b.csv", b), ("README", readme)])),
    );
    let only_csv = format!("{CSV_FEED}[input]\nmembers='\\.csv$'\n");
    for path in [&zipped, &tgz] {
        let (events, rejections) = run(&feed(&only_csv), path).unwrap();
        assert!(rejections.is_empty(), "{path:?}: {rejections:?}");
        assert_eq!(
            ips(&events),
            ["192.0.2.1", "192.0.2.2", "192.0.2.3"],
            "{path:?}"
        );
        // Without a member pattern the README is read too: its only line is taken as its
        // header, so it adds nothing.
        let (events, _) = run(&feed(CSV_FEED), path).unwrap();
        assert_eq!(events.len(), 3, "{path:?}");
    }
    // Declared instead of recognised: a plain tar.
    let plain_tar = d.write("feeds.bin", &tar(&[("a.csv", a)]));
    let declared = format!("{CSV_FEED}[input]\ncompression='tar'\n");
    assert_eq!(
        ips(&run(&feed(&declared), &plain_tar).unwrap().0),
        ["192.0.2.1", "192.0.2.2"]
    );
}

#[test]
fn a_decompression_bomb_is_stopped_at_the_limit() {
    let d = Dir::new("bomb");
    // 64 MiB of one repeated line packs into a few dozen KiB.
    let line = b"192.0.2.1\n";
    let big: Vec<u8> = line.iter().copied().cycle().take(64 << 20).collect();
    let limited = format!("{CSV_FEED}[input]\nmax_bytes='1MiB'\n");
    for (name, bytes) in [
        ("bomb.gz", gzip(&[b"ip\n".as_slice(), &big].concat())),
        (
            "bomb.zip",
            zip(&[("a.csv", &[b"ip\n".as_slice(), &big].concat())]),
        ),
    ] {
        assert!(bytes.len() < 1 << 20, "{name} packs small");
        let path = d.write(name, &bytes);
        let e = run(&feed(&limited), &path).expect_err("refused");
        assert!(
            e.to_string()
                .contains("over the limit of 1048576 bytes (input.max_bytes)"),
            "{name}: {e}"
        );
    }
}

#[test]
fn a_gzipped_json_document() {
    let d = Dir::new("gzjson");
    let path = d.write(
        "doc.json.gz",
        &gzip(br#"{"data": {"items": [{"ip": "192.0.2.9"}]}}"#),
    );
    assert_eq!(ips(&run(&feed(JSON_FEED), &path).unwrap().0), ["192.0.2.9"]);
}

#[test]
fn time_from_a_header_line_when_rows_have_none() {
    let d = Dir::new("header");
    let path = d.write(
        "drop.txt",
        b"; Spamhaus DROP\n; Last-Modified: 2026-12-01 06:30:00\n192.0.2.0/24 ; SBL1\n",
    );
    let f = feed(
        "name='d'\nformat='list'\nrequired=['time.source']\n[list]\nfield='source.network'\nseparator=';'\nrest_field='extra.sbl'\n[time]\nheader='^; Last-Modified: (?P<time>.+)$'\nheader_format='%Y-%m-%d %H:%M:%S'\n",
    );
    let (events, rejections) = run(&f, &path).unwrap();
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(
        events[0].time_source.map(|t| t.to_string()).as_deref(),
        Some("2026-12-01T06:30:00Z")
    );
    // Without the header line the time is missing, and `required` quarantines the record.
    let path = d.write("drop2.txt", b"192.0.2.0/24 ; SBL1\n");
    let (events, rejections) = run(&f, &path).unwrap();
    assert!(events.is_empty());
    assert_eq!(rejections[0].kind.as_str(), "missing");
    // A header time that does not parse is an error, not a silent fallback.
    let path = d.write("drop3.txt", b"; Last-Modified: yesterday\n192.0.2.0/24\n");
    let e = run(&f, &path).expect_err("refused");
    assert!(e.to_string().contains("time.header"), "{e}");
}

#[test]
fn time_from_the_file_name_and_a_rows_own_time_wins() {
    let d = Dir::new("name");
    let f = feed(
        "name='n'\nformat='csv'\n[fields]\nip='source.ip'\nts='time.source'\n[time]\nfile_name='(?P<time>\\d{4}-\\d{2}-\\d{2})'\nfile_name_format='%Y-%m-%d'\n",
    );
    let path = d.write(
        "2026-11-30-scan.csv",
        b"ip,ts\n192.0.2.1,\n192.0.2.2,2026-11-29T08:00:00Z\n",
    );
    let (events, rejections) = run(&f, &path).unwrap();
    assert!(rejections.is_empty(), "{rejections:?}");
    let times: Vec<String> = events
        .iter()
        .map(|e| e.time_source.map(|t| t.to_string()).unwrap_or_default())
        .collect();
    assert_eq!(times, ["2026-11-30T00:00:00Z", "2026-11-29T08:00:00Z"]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Arbitrary bytes behind a gzip or zip magic, or as a JSON document, never panic: the
    /// reader gives records or an error.
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..2048), kind in 0..4usize) {
        let d = Dir::new("prop");
        let (name, bytes, toml) = match kind {
            0 => ("a.gz", [&[0x1f, 0x8b][..], &body].concat(), CSV_FEED.to_string()),
            1 => ("a.zip", [&b"PK\x03\x04"[..], &body].concat(), CSV_FEED.to_string()),
            2 => ("a.json", body.clone(), JSON_FEED.to_string()),
            _ => ("a.tgz", gzip(&body), format!("{CSV_FEED}[input]\ncompression='tar.gz'\n")),
        };
        let path = d.write(name, &bytes);
        let _ = run(&feed(&toml), &path);
    }

    /// Any gzip of a list of addresses reads exactly like the list itself.
    #[test]
    fn gzip_reads_like_the_plain_file(n in proptest::collection::vec((0u8..=255, 1u8..=254), 0..50)) {
        let d = Dir::new("propgz");
        let text: String = n.iter().map(|(a, b)| format!("198.{a}.100.{b}\n")).collect();
        let f = feed("name='l'\nformat='list'\n");
        let plain = d.write("a.txt", text.as_bytes());
        let packed = d.write("a.gz", &gzip(text.as_bytes()));
        prop_assert_eq!(ips(&run(&f, &plain).unwrap().0), ips(&run(&f, &packed).unwrap().0));
    }

    /// Any array of records reads as that many events, in order.
    #[test]
    fn every_record_of_an_array_comes_out(addrs in proptest::collection::vec(1u8..=254, 0..40)) {
        let d = Dir::new("proparr");
        let doc = serde_json::Value::Array(
            addrs.iter().map(|a| serde_json::json!({"ip": format!("198.51.100.{a}")})).collect(),
        );
        let path = d.write("a.json", doc.to_string().as_bytes());
        let f = feed("name='a'\nformat='json'\n[fields]\n'/ip'='source.ip'\n");
        let want: Vec<String> = addrs.iter().map(|a| format!("198.51.100.{a}")).collect();
        prop_assert_eq!(ips(&run(&f, &path).unwrap().0), want);
    }
}
