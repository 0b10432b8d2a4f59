//! What a feed definition can say, end to end through the `focal` binary: enrichment that respects
//! the feed, de-duplication per feed, `focal feeds test`, the definition language, and inputs
//! beyond plain lines (JSON documents, gzip and zip, a time from the header or the file name).

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{all_events, fails, fixture, json, ok, repo, s};

/// A data folder with the workload fixture's ASN tables and the shipped country database.
fn prepared(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let mmdb = repo().join("data/ipdb/geo-whois-asn-country.mmdb");
    ok(
        &data,
        &[
            "init",
            "--asn",
            s(&fixture("asn-ipv4.csv")),
            "--asn",
            s(&fixture("asn-ipv6.csv")),
            "--country",
            s(&mmdb),
        ],
    );
    data
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn by_ip<'a>(events: &'a [Value], ip: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["source.ip"] == ip)
        .unwrap_or_else(|| panic!("no event for {ip} in {events:?}"))
}

const ENRICH_FEED: &str = "name = 'asn-feed'\nformat = 'csv'\n\
    [fields]\nip = 'source.ip'\nasn = 'source.asn'\ncc = 'source.geolocation.cc'\n\
    [constants]\n'classification.type' = 'scanner'\n";

/// The feed's ASN and country win over the tables, the tables' answers are kept in `extra`, a
/// silent feed is filled in, and special-purpose addresses get nothing. With `overwrite = true`
/// the tables win and the feed's values are kept.
#[test]
fn enrichment_keeps_the_feeds_values_and_records_disagreements() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(dir.path());
    // 1.0.0.7 is AS13335 in the fixture table; the feed says AS12635.
    let csv = "ip,asn,cc\n1.0.0.7,12635,NL\n1.0.0.8,,\n192.168.1.1,,\n198.51.100.7,,\n\
               203.0.113.9,,\n172.16.5.4,,\n2001:db8::1,,\n10.1.2.3,64512,DE\n";
    let file = write(dir.path(), "feed.csv", csv);
    let feed = write(dir.path(), "feed.toml", ENRICH_FEED);
    ok(&data, &["ingest", "--feed", s(&feed), s(&file)]);
    let events = all_events(&data);
    assert_eq!(events.len(), 8);
    let given = by_ip(&events, "1.0.0.7");
    assert_eq!(given["source.asn"], 12635, "{given}");
    assert_eq!(given["source.geolocation.cc"], "NL");
    assert_eq!(given["extra.enrichment.source.asn"], 13335, "{given}");
    assert!(
        given.get("source.as_name").is_none_or(Value::is_null),
        "{given}"
    );
    assert_eq!(given["extra.enrichment.source.as_name"], "Cloudflare, Inc.");
    let filled = by_ip(&events, "1.0.0.8");
    assert_eq!(filled["source.asn"], 13335);
    assert_eq!(filled["source.as_name"], "Cloudflare, Inc.");
    assert!(filled.get("extra.enrichment.source.asn").is_none());
    for ip in [
        "192.168.1.1",
        "198.51.100.7",
        "203.0.113.9",
        "172.16.5.4",
        "2001:db8::1",
    ] {
        let e = by_ip(&events, ip);
        for field in ["source.asn", "source.geolocation.cc", "source.network"] {
            assert!(e.get(field).is_none_or(Value::is_null), "{ip}: {e}");
        }
    }
    let private = by_ip(&events, "10.1.2.3");
    assert_eq!(
        (&private["source.asn"], &private["source.geolocation.cc"]),
        (&Value::from(64512), &Value::from("DE")),
        "what the feed says about a special-purpose address stays"
    );

    // overwrite = true: the table's value replaces the feed's, which is kept.
    let data = prepared(&dir.path().join("o"));
    let feed = write(
        dir.path(),
        "overwrite.toml",
        &format!("{ENRICH_FEED}[enrichment]\noverwrite = true\n"),
    );
    ok(&data, &["ingest", "--feed", s(&feed), s(&file)]);
    let events = all_events(&data);
    let given = by_ip(&events, "1.0.0.7");
    assert_eq!(given["source.asn"], 13335, "{given}");
    assert_eq!(given["source.as_name"], "Cloudflare, Inc.");
    assert_eq!(given["extra.feed.source.asn"], 12635, "{given}");
    assert!(given.get("extra.enrichment.source.asn").is_none());
}

const TELNET: &str = "timestamp,ip,port,banner\n\
    2026-11-24T10:00:00Z,192.0.2.5,23,BusyBox v1.19 login:\n\
    2026-11-24T10:00:06Z,192.0.2.5,23,Welcome to Microsoft Telnet Service\n";

const TELNET_FEED: &str = "name = 'telnet-scan'\nformat = 'csv'\n\
    [fields]\ntimestamp = 'time.source'\nip = 'source.ip'\nport = 'source.port'\nbanner = 'extra.banner'\n\
    [constants]\n'classification.type' = 'vulnerable-system'\n'classification.identifier' = 'open-telnet'\n";

/// The de-duplication key and window are the definition's: with the default key, two scans of one
/// address 6 s apart are one event (the second banner lost); with the banner (or the time) in the
/// key, both are kept.
#[test]
fn deduplication_follows_the_definition() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "telnet.csv", TELNET);
    let ingest = |name: &str, dedup: &str| -> Vec<Value> {
        let data = prepared(&dir.path().join(name));
        let feed = write(
            dir.path(),
            &format!("{name}.toml"),
            &format!("{TELNET_FEED}{dedup}"),
        );
        ok(&data, &["ingest", "--feed", s(&feed), s(&file)]);
        all_events(&data)
    };
    assert_eq!(ingest("default", "").len(), 1, "today's rule merges them");
    let banners = |events: &[Value]| {
        let mut b: Vec<String> = events
            .iter()
            .map(|e| e["extra.banner"].as_str().unwrap().to_string())
            .collect();
        b.sort();
        b
    };
    let both = ingest(
        "banner",
        "[dedup]\nfields = ['source.ip', 'extra.banner', 'feed.name']\nwindow = '24h'\n",
    );
    assert_eq!(
        banners(&both),
        [
            "BusyBox v1.19 login:",
            "Welcome to Microsoft Telnet Service"
        ]
    );
    let by_time = ingest(
        "time",
        "[dedup]\nkey = ['source.ip', 'time.source', 'feed.name']\nwindow = '24h'\n",
    );
    assert_eq!(by_time.len(), 2);
    // A 1-minute window without the banner: the two scans share a window and merge again.
    let minute = ingest("minute", "[dedup]\nfields = ['source.ip']\nwindow = '1m'\n");
    assert_eq!(minute.len(), 1);
    assert_eq!(minute[0]["extra.banner"], "BusyBox v1.19 login:");
}

fn shipped(name: &str) -> PathBuf {
    repo().join("feeds").join(name)
}

fn sample(name: &str) -> PathBuf {
    repo().join("feeds/samples").join(name)
}

/// `focal feeds test` shows how records map to fields and why others would be quarantined, and
/// stores nothing (it does not even create the data folder).
#[test]
fn feeds_test_maps_the_first_rows_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-made");
    let feodo = sample("abusech-feodo-ipblocklist.csv");
    let p = json(
        &data,
        &[
            "feeds",
            "test",
            s(&shipped("abusech-feodo-ipblocklist.toml")),
            s(&feodo),
            "--rows",
            "5",
        ],
    );
    assert!(!data.exists(), "feeds test made {}", data.display());
    assert_eq!(p["stored"], false);
    assert_eq!(
        (p["records"].as_u64(), p["events"].as_u64()),
        (Some(8), Some(4))
    );
    assert_eq!(p["quarantined_by_kind"]["ip"], 1, "{p}");
    let rows = p["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["line"], 9);
    assert_eq!(rows[0]["outcome"], "event");
    assert_eq!(rows[0]["fields"]["source.ip"], "192.0.2.10");
    assert_eq!(rows[0]["fields"]["source.port"], 443);
    assert_eq!(rows[0]["fields"]["malware.name"], "qakbot", "{}", rows[0]);
    assert_eq!(
        rows[0]["fields"]["time.source"],
        "2025-11-02T08:15:30+00:00"
    );
    // The blank line 11 is no record: the third row shown is line 12, the fourth line 13.
    assert_eq!(rows[3]["line"], 13);
    assert_eq!(rows[3]["outcome"], "quarantined");
    assert_eq!(rows[3]["kind"], "ip");
    assert_eq!(rows[3]["field"], "source.ip");
    assert!(
        rows[3]["reason"]
            .as_str()
            .unwrap()
            .contains("203.0.113.300"),
        "{}",
        rows[3]
    );
    assert!(
        p["suggestion"].is_null(),
        "half quarantined is not more than half"
    );

    // The text form says the same.
    let text = ok(
        &data,
        &[
            "feeds",
            "test",
            s(&shipped("abusech-feodo-ipblocklist.toml")),
            s(&feodo),
        ],
    );
    assert!(
        text.contains("8 records, 4 events, 4 quarantined"),
        "{text}"
    );
    assert!(text.contains("  source.ip = 192.0.2.10"), "{text}");
    assert!(
        text.contains("QUARANTINED (port, field source.port)"),
        "{text}"
    );
    assert!(!data.exists());
}

/// The issue's case: the DROP definition on a Feodo CSV quarantined 9 of 9 rows and exited 0.
/// Now the ingest fails, naming the definition that fits; `feeds test` names it too.
#[test]
fn a_definition_that_does_not_fit_fails_the_ingest_and_names_one_that_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(dir.path());
    let feodo = sample("abusech-feodo-ipblocklist.csv");
    let drop = shipped("spamhaus-drop.toml");
    let out = support::focal(&data, &["ingest", "--feed", s(&drop), s(&feodo)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "exit 0 after quarantining everything"
    );
    assert!(stderr.contains("9 of 9 records (100 %)"), "{stderr}");
    assert!(stderr.contains("abusech-feodo-ipblocklist"), "{stderr}");
    assert!(
        !stderr.contains("blocklist-de-all") && !stderr.contains("spamhaus-drop-json"),
        "only definitions that read the file are named: {stderr}"
    );
    // The check can be turned off; the file was ingested all the same, so use --force.
    ok(
        &data,
        &[
            "ingest",
            "--max-quarantined",
            "100",
            "--force",
            "--feed",
            s(&drop),
            s(&feodo),
        ],
    );
    let p = json(&data, &["feeds", "test", s(&drop), s(&feodo)]);
    assert_eq!(p["quarantined"], 9);
    let hint = p["suggestion"].as_str().unwrap();
    assert!(
        hint.contains("abusech-feodo-ipblocklist (feeds/abusech-feodo-ipblocklist.toml: 4 of 8"),
        "{hint}"
    );
    // A CSV definition whose columns are not in the header cannot read the file at all.
    let p = json(
        &data,
        &[
            "feeds",
            "test",
            s(&shipped("abusech-feodo-ipblocklist.toml")),
            s(&sample("spamhaus-drop.txt")),
        ],
    );
    assert!(p["layout_error"].is_string(), "{p}");
    assert!(
        p["suggestion"].as_str().unwrap().contains("spamhaus-drop "),
        "{p}"
    );
}

/// The shipped dataplane and ASN-DROP definitions, through `focal ingest`: a `  |  ` delimiter
/// with `|` inside a value, `NA` as empty, a category mapped to type and identifier, and records
/// with an ASN and no address.
#[test]
fn the_definition_language_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(dir.path());
    let summary = json(
        &data,
        &[
            "ingest",
            "--feed",
            s(&shipped("dataplane.toml")),
            s(&sample("dataplane.txt")),
        ],
    );
    assert_eq!(summary["files"][0]["quarantined"], 3, "{summary}");
    let events = all_events(&data);
    assert_eq!(events.len(), 4);
    let e = by_ip(&events, "198.51.100.9");
    assert_eq!(e["source.as_name"], "EXAMPLE|PIPE-AS, US");
    assert_eq!(e["source.asn"], 64497);
    assert_eq!(e["classification.type"], "scanner");
    assert_eq!(e["classification.identifier"], "sshclient");
    let e = by_ip(&events, "203.0.113.5");
    assert!(e.get("source.asn").is_none_or(Value::is_null), "{e}");
    assert_eq!(e["classification.type"], "brute-force");

    ok(
        &data,
        &[
            "ingest",
            "--feed",
            s(&shipped("spamhaus-asndrop.toml")),
            s(&sample("spamhaus-asndrop.json")),
        ],
    );
    let mut asns: Vec<u64> = all_events(&data)
        .iter()
        .filter(|e| e["feed.name"] == "spamhaus-asndrop")
        .map(|e| e["source.asn"].as_u64().unwrap())
        .collect();
    asns.sort();
    assert_eq!(asns, [64496, 64497, 64499]);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// Through `focal ingest`: a gzipped JSON document whose records sit at `/data/items`, fields
/// addressed by JSON Pointer, a record that is not an object quarantined with its index; a zip
/// of two CSV files, each with its header, dated by the archive's name; a list dated by its
/// header line; and a gzip bomb refused, naming the file and the limit.
#[test]
fn json_documents_archives_and_file_times_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(dir.path());

    let json_feed = write(
        dir.path(),
        "doc.toml",
        "name = 'doc-feed'\nformat = 'json'\n[json]\nrecords = '/data/items'\n\
         [fields]\n'/ip' = 'source.ip'\n'/attributes/family' = 'malware.name'\n'/seen' = 'time.source'\n\
         [constants]\n'classification.type' = 'infected-system'\n",
    );
    let doc = br#"{"data": {"items": [
        {"ip": "192.0.2.10", "seen": "2026-12-01T10:00:00Z", "attributes": {"family": "mirai"}},
        "not a record",
        {"ip": "192.0.2.11", "seen": "2026-12-01T11:00:00Z", "attributes": {"family": "gafgyt"}}
    ]}}"#;
    let doc_path = dir.path().join("doc.json.gz");
    std::fs::write(&doc_path, gzip(doc)).unwrap();
    let summary = json(&data, &["ingest", "--feed", s(&json_feed), s(&doc_path)]);
    assert_eq!(summary["files"][0]["events_stored"], 2, "{summary}");
    assert_eq!(summary["files"][0]["quarantined"], 1, "{summary}");
    let events = all_events(&data);
    assert_eq!(by_ip(&events, "192.0.2.10")["malware.name"], "mirai");
    assert_eq!(by_ip(&events, "192.0.2.11")["malware.name"], "gafgyt");
    let quarantine = json(&data, &["quarantine", "--feed", "doc-feed"]).to_string();
    assert!(
        quarantine.contains("record 1 (/data/items/1) is a string, not an object"),
        "{quarantine}"
    );

    // A zip of two daily files, each with its own header; rows without a time take the date
    // in the archive's name.
    let zip_feed = write(
        dir.path(),
        "zip.toml",
        "name = 'zip-feed'\nformat = 'csv'\n[fields]\nip = 'source.ip'\nseen = 'time.source'\n\
         [constants]\n'classification.type' = 'scanner'\n\
         [time]\nfile_name = '(?P<time>\\d{4}-\\d{2}-\\d{2})'\nfile_name_format = '%Y-%m-%d'\n",
    );
    let zip_path = dir.path().join("scans-2026-11-30.zip");
    {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        w.start_file("monday.csv", options).unwrap();
        w.write_all(b"ip,seen\n192.0.2.20,\n").unwrap();
        w.start_file("tuesday.csv", options).unwrap();
        w.write_all(b"ip,seen\n192.0.2.21,2026-11-29T08:00:00Z\n")
            .unwrap();
        w.finish().unwrap();
    }
    let summary = json(&data, &["ingest", "--feed", s(&zip_feed), s(&zip_path)]);
    assert_eq!(summary["files"][0]["events_stored"], 2, "{summary}");
    assert_eq!(summary["files"][0]["quarantined"], 0, "{summary}");
    let events = all_events(&data);
    assert_eq!(
        by_ip(&events, "192.0.2.20")["time.source"],
        "2026-11-30T00:00:00+00:00"
    );
    assert_eq!(
        by_ip(&events, "192.0.2.21")["time.source"],
        "2026-11-29T08:00:00+00:00"
    );

    // A list dated by its header line.
    let list_feed = write(
        dir.path(),
        "list.toml",
        "name = 'list-feed'\nformat = 'list'\nrequired = ['time.source']\n\
         [constants]\n'classification.type' = 'blacklist'\n\
         [time]\nheader = '^# Generated: (?P<time>\\S+)'\n",
    );
    let list = write(
        dir.path(),
        "list.txt",
        "# Generated: 2026-12-01T00:00:00Z\n192.0.2.30\n",
    );
    ok(&data, &["ingest", "--feed", s(&list_feed), s(&list)]);
    let events = all_events(&data);
    assert_eq!(
        by_ip(&events, "192.0.2.30")["time.source"],
        "2026-12-01T00:00:00+00:00"
    );

    // 64 MiB of one line packs into a small gzip; the limit stops it.
    let bomb_feed = write(
        dir.path(),
        "bomb.toml",
        "name = 'bomb-feed'\nformat = 'list'\n[input]\nmax_bytes = '1MiB'\n",
    );
    let big: Vec<u8> = b"192.0.2.40\n"
        .iter()
        .copied()
        .cycle()
        .take(64 << 20)
        .collect();
    let bomb = dir.path().join("bomb.gz");
    std::fs::write(&bomb, gzip(&big)).unwrap();
    let message = fails(&data, &["ingest", "--feed", s(&bomb_feed), s(&bomb)]);
    assert!(message.contains("bomb.gz"), "{message}");
    assert!(
        message.contains("over the limit of 1048576 bytes (input.max_bytes)"),
        "{message}"
    );
}

/// A Shadowserver schema written for this test, in the format of Shadowserver's IntelMQ schema.
const SHADOWSERVER_SCHEMA: &str = r#"{
  "scan_http": {
    "constant_fields": {"classification.identifier": "accessible-http", "classification.taxonomy": "other",
                        "classification.type": "other", "protocol.application": "http"},
    "feed_name": "Accessible-HTTP", "file_name": "scan_http",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip", "validate_ip"],
                        ["source.port", "port", "convert_int"]],
    "optional_fields": [["protocol.transport", "protocol"], ["source.reverse_dns", "hostname"],
                        ["source.asn", "asn", "invalidate_zero"], ["extra.", "http_code", "convert_int"]]
  },
  "event_sinkhole": {
    "constant_fields": {"classification.taxonomy": "malicious-code", "classification.type": "infected-system"},
    "feed_name": "Sinkhole-Events IPv4", "file_name": "event4_sinkhole",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "src_ip", "validate_ip"],
                        ["source.port", "src_port", "convert_int"]],
    "optional_fields": [["classification.identifier", "infection"], ["malware.name", "infection"],
                        ["destination.ip", "dst_ip", "validate_ip"], ["destination.port", "dst_port", "convert_int"]]
  }
}"#;

/// One `[shadowserver]` definition ingests files of several report types, each recognised by
/// its name or its header; an unknown report type fails the file, naming it.
#[test]
fn shadowserver_reports_pick_their_type_per_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared(dir.path());
    write(dir.path(), "schema.json", SHADOWSERVER_SCHEMA);
    let feed = write(
        dir.path(),
        "shadowserver.toml",
        "name = 'shadowserver'\nformat = 'csv'\n[shadowserver]\nschema = 'schema.json'\n",
    );
    let http = write(
        dir.path(),
        "2026-12-01-scan_http-country-geo.csv",
        "timestamp,ip,protocol,port,hostname,asn,http_code\n\
         2026-12-01 00:00:03,192.0.2.10,tcp,8080,h.example.net,0,200\n\
         2026-12-01 00:00:04,192.0.2.11,tcp,80,,,401\n",
    );
    let sinkhole = write(
        dir.path(),
        "sinkhole-export.csv",
        "timestamp,src_ip,src_port,dst_ip,dst_port,infection\n\
         2026-12-01 01:00:00,198.51.100.5,49152,203.0.113.200,80,Andromeda\n",
    );
    ok(
        &data,
        &["ingest", "--feed", s(&feed), s(&http), s(&sinkhole)],
    );
    let events = all_events(&data);
    assert_eq!(events.len(), 3, "{events:?}");
    let e = by_ip(&events, "192.0.2.10");
    assert_eq!(e["feed.name"], "shadowserver-scan_http");
    assert_eq!(e["classification.identifier"], "accessible-http");
    assert_eq!(e["protocol.application"], "http");
    assert_eq!(e["source.port"], 8080);
    assert_eq!(e["extra.hostname"], "h.example.net");
    assert_eq!(e["extra.http_code"], "200");
    assert_eq!(e["time.source"], "2026-12-01T00:00:03+00:00");
    let e = by_ip(&events, "198.51.100.5");
    assert_eq!(e["feed.name"], "shadowserver-event4_sinkhole");
    assert_eq!(e["classification.type"], "infected-system");
    assert_eq!(e["classification.identifier"], "andromeda");
    assert_eq!(e["malware.name"], "andromeda");
    assert_eq!(e["destination.ip"], "203.0.113.200");

    let unknown = write(
        dir.path(),
        "2026-12-01-scan_nonesuch-asn.csv",
        "timestamp,ip,port\n2026-12-01 00:00:03,192.0.2.12,80\n",
    );
    let err = fails(&data, &["ingest", "--feed", s(&feed), s(&unknown)]);
    assert!(
        err.contains(&format!(
            "{}: report type \"scan_nonesuch\" (from the file name) is not in the Shadowserver schema",
            unknown.display()
        )),
        "{err}"
    );
    let p = json(&data, &["feeds", "test", s(&feed), s(&http)]);
    assert_eq!(p["feed"], "shadowserver-scan_http", "{p}");
    assert_eq!(
        (p["records"].as_u64(), p["events"].as_u64()),
        (Some(2), Some(2))
    );
    let p = json(&data, &["feeds", "test", s(&feed), s(&unknown)]);
    assert!(
        p["layout_error"]
            .as_str()
            .unwrap_or("")
            .contains("\"scan_nonesuch\""),
        "{p}"
    );
}
