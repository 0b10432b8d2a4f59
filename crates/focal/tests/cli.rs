//! End-to-end tests of the `focal` binary: real files in, a real SQLite store, numbers out.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/workload").join(name)
}

fn focal(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env("FOCAL_LOG", "warn")
        .output()
        .expect("the focal binary runs")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = focal(data, args);
    assert!(
        out.status.success(),
        "focal {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

fn json(data: &Path, args: &[&str]) -> Value {
    let mut with_json = vec!["--json"];
    with_json.extend_from_slice(args);
    let text = ok(data, &with_json);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("focal {args:?} printed invalid JSON ({e}): {text}"))
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

/// A data folder with the fixture's ASN tables, the country DB and the constituency.
fn prepared() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
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
    ok(
        &data,
        &["constituents", "import", s(&fixture("constituents.csv"))],
    );
    (dir, data)
}

/// A prepared data folder with the fixture workload ingested.
fn ingested() -> (tempfile::TempDir, PathBuf) {
    let (dir, data) = prepared();
    ok(
        &data,
        &[
            "ingest",
            "--feed",
            s(&reference_feed()),
            s(&fixture("feed.csv")),
        ],
    );
    (dir, data)
}

fn reference_feed() -> PathBuf {
    repo().join("bench/reference-feed.toml")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected.json")).unwrap()).unwrap()
}

fn assert_matches_expected(stats: &Value, expected: &Value) {
    assert_eq!(
        stats["events"], expected["unique_events"],
        "events after de-duplication"
    );
    assert_eq!(
        stats["quarantined"], expected["malformed_rows"],
        "quarantined rows"
    );
    assert_eq!(
        stats["unassigned"], expected["unassigned_events"],
        "unassigned events"
    );
    assert_eq!(
        stats["per_constituent"], expected["per_constituent"],
        "events per constituent"
    );
    assert_eq!(
        stats["constituents_with_events"],
        expected["constituents_with_events"]
    );
}

/// The acceptance check, on a workload made by the reference generator.
#[test]
fn reference_workload_gives_exactly_the_expected_figures() {
    let (_dir, data) = prepared();
    let summary = json(
        &data,
        &[
            "ingest",
            "--feed",
            s(&reference_feed()),
            s(&fixture("feed.csv")),
        ],
    );
    let file = &summary["files"][0];
    let e = expected();
    assert_eq!(file["rows_read"], e["rows"]);
    assert_eq!(file["events_stored"], e["unique_events"]);
    assert_eq!(file["quarantined"], e["malformed_rows"]);
    assert_eq!(
        file["duplicates"].as_u64().unwrap(),
        e["valid_rows"].as_u64().unwrap() - e["unique_events"].as_u64().unwrap()
    );
    assert_matches_expected(&json(&data, &["stats"]), &e);
}

/// Each malformed kind the generator makes is quarantined under its own reason, with line and raw bytes.
#[test]
fn every_malformed_kind_is_quarantined_with_file_line_and_reason() {
    let (_dir, data) = ingested();
    let stats = json(&data, &["stats"]);
    let e = expected();
    let by_kind = &stats["quarantined_by_kind"];
    // The generator's names for the kinds, and Focal's.
    for (theirs, ours) in [
        ("bad_ip", "ip"),
        ("empty_ip", "missing"),
        ("columns", "columns"),
        ("timestamp", "timestamp"),
        ("port", "port"),
        ("utf8", "encoding"),
        ("long", "field_too_long"),
    ] {
        assert_eq!(
            by_kind[ours], e["malformed_by_kind"][theirs],
            "kind {ours} (generator: {theirs})"
        );
    }
    let records = json(&data, &["quarantine", "--limit", "0"]);
    let records = records.as_array().unwrap();
    assert_eq!(records.len() as u64, e["malformed_rows"].as_u64().unwrap());
    let feed = std::fs::read(fixture("feed.csv")).unwrap();
    let lines: Vec<&[u8]> = feed.split(|b| *b == b'\n').collect();
    for q in records {
        let line = q["line"].as_u64().unwrap() as usize;
        // The stored raw bytes are exactly the file's line.
        let hex: String = lines[line - 1].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            q["raw_hex"].as_str().unwrap(),
            hex,
            "raw bytes of line {line}"
        );
        assert!(q["file_name"].as_str().unwrap().ends_with("feed.csv"));
        assert!(!q["reason"].as_str().unwrap().is_empty());
    }
    let port = records.iter().find(|q| q["kind"] == "port").unwrap();
    assert_eq!(port["field"], "source.port");
    assert!(port["reason"].as_str().unwrap().contains("70000"), "{port}");
    let long = records
        .iter()
        .find(|q| q["kind"] == "field_too_long")
        .unwrap();
    assert_eq!(long["field"], "source.fqdn");
    let columns = records.iter().find(|q| q["kind"] == "columns").unwrap();
    assert!(
        columns["reason"]
            .as_str()
            .unwrap()
            .contains("expected 8 columns, found 4"),
        "{columns}"
    );
}

/// Re-ingesting the same file adds nothing, whether skipped by checksum or read again.
#[test]
fn reingesting_the_same_file_adds_no_events() {
    let (_dir, data) = prepared();
    let feed = reference_feed();
    ok(
        &data,
        &["ingest", "--feed", s(&feed), s(&fixture("feed.csv"))],
    );
    let before = json(&data, &["stats"]);
    let again = json(
        &data,
        &["ingest", "--feed", s(&feed), s(&fixture("feed.csv"))],
    );
    assert_eq!(again["files"][0]["status"], "already_ingested");
    assert_eq!(again["files"][0]["events_stored"], 0);
    let forced = json(
        &data,
        &[
            "ingest",
            "--force",
            "--feed",
            s(&feed),
            s(&fixture("feed.csv")),
        ],
    );
    let f = &forced["files"][0];
    assert_eq!(f["status"], "completed");
    assert_eq!(f["events_stored"], 0, "every event already exists");
    assert_eq!(
        f["duplicates"].as_u64().unwrap() + f["quarantined"].as_u64().unwrap(),
        f["rows_read"].as_u64().unwrap()
    );
    let after = json(&data, &["stats"]);
    assert_eq!(before["events"], after["events"]);
    assert_eq!(
        before["quarantined"], after["quarantined"],
        "quarantine is keyed by file content and line"
    );
    assert_eq!(before["per_constituent"], after["per_constituent"]);
}

/// IPv6 addresses are parsed, enriched with ASN and country, assigned, and filterable by CIDR.
#[test]
fn ipv6_events_are_enriched_and_searchable() {
    let (_dir, data) = ingested();
    let events = json(&data, &["events", "--ip", "::/0", "--limit", "0"]);
    let events = events.as_array().unwrap();
    let v6: Vec<&Value> = events
        .iter()
        .filter(|e| e["source.ip"].as_str().unwrap().contains(':'))
        .collect();
    assert!(
        v6.len() > 50,
        "the fixture has IPv6 rows, found {}",
        v6.len()
    );
    assert_eq!(v6.len(), events.len(), "::/0 matches IPv6 addresses only");
    assert!(
        v6.iter().all(|e| e["source.asn"].is_u64()),
        "every fixture IPv6 address is in an announced range"
    );
    assert!(v6.iter().any(|e| e["source.geolocation.cc"].is_string()));
    assert!(v6.iter().any(|e| e["extra.constituent"].is_string()));
    // Narrowing to one address's /48 returns that address.
    let ip = v6[0]["source.ip"].as_str().unwrap();
    let addr: std::net::Ipv6Addr = ip.parse().unwrap();
    let net = ipnet::Ipv6Net::new(addr, 48).unwrap().trunc();
    let hits = json(&data, &["events", "--ip", &net.to_string(), "--limit", "0"]);
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .any(|e| e["source.ip"] == ip)
    );
    assert!(hits.as_array().unwrap().iter().all(|e| {
        net.contains(
            &e["source.ip"]
                .as_str()
                .unwrap()
                .parse::<std::net::Ipv6Addr>()
                .unwrap(),
        )
    }));
}

/// Filters agree with the statistics, and exports carry IntelMQ's field names.
#[test]
fn event_filters_and_exports() {
    let (_dir, data) = ingested();
    let stats = json(&data, &["stats"]);
    let (id, n) = stats["per_constituent"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    let mine = json(&data, &["events", "--constituent", id, "--limit", "0"]);
    assert_eq!(mine.as_array().unwrap().len() as u64, n.as_u64().unwrap());
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|e| e["extra.constituent"] == id.as_str())
    );
    let unassigned = json(&data, &["events", "--unassigned", "--limit", "0"]);
    assert_eq!(
        unassigned.as_array().unwrap().len() as u64,
        stats["unassigned"].as_u64().unwrap()
    );
    let day1 = json(&data, &["events", "--since", "2026-11-24", "--limit", "0"])
        .as_array()
        .unwrap()
        .len();
    let day0 = json(&data, &["events", "--until", "2026-11-24", "--limit", "0"])
        .as_array()
        .unwrap()
        .len();
    assert_eq!((day0 + day1) as u64, stats["events"].as_u64().unwrap());
    assert!(day0 > 0 && day1 > 0);
    let csv = ok(
        &data,
        &[
            "events",
            "--constituent",
            id,
            "--format",
            "csv",
            "--limit",
            "0",
        ],
    );
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("feed.name,feed.provider,feed.url,time.source,time.observation"),
        "{header}"
    );
    assert!(header.ends_with(",tlp,constituent"), "{header}");
    assert_eq!(lines.count() as u64, n.as_u64().unwrap());
    let intelmq = ok(&data, &["events", "--limit", "3", "--format", "intelmq"]);
    for line in intelmq.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["__type"], "Event");
        assert_eq!(v["classification.taxonomy"], "malicious-code");
        assert_eq!(v["classification.type"], "infected-system");
        assert_eq!(v["feed.name"], "reference-drones");
        assert!(v["raw"].is_string());
    }
    let bad = focal(&data, &["events", "--ip", "10.0.0.300/8"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--ip"));
}

/// Writes a synthetic drone feed big enough to kill mid-way, with duplicates and malformed rows.
fn big_feed(path: &Path, rows: u32) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "timestamp,ip,port,protocol,hostname,malware,dst_ip,dst_port"
    )
    .unwrap();
    let families = ["mirai", "qakbot", "emotet", "mozi"];
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for i in 0..rows {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if i % 997 == 0 {
            writeln!(
                f,
                "2026-11-23T10:00:00Z,999.1.1.1,80,tcp,,mirai,192.0.2.10,80"
            )
            .unwrap();
            continue;
        }
        // Every seventh row repeats an earlier address: a duplicate on the same day.
        let n = if i % 7 == 0 {
            (x % (i as u64 + 1)) as u32
        } else {
            i
        };
        let ip = if n % 20 == 0 {
            format!("2001:db8:{:x}::{:x}", n >> 16, n & 0xffff)
        } else {
            format!("10.{}.{}.{}", (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff)
        };
        let day = 23 + (n % 2);
        writeln!(
            f,
            "2026-11-{day}T{:02}:00:00Z,{ip},{},tcp,,{},192.0.2.10,80",
            n % 24,
            1024 + n % 60000,
            families[(n % 4) as usize]
        )
        .unwrap();
    }
}

fn runs(data: &Path) -> Vec<Value> {
    json(data, &["runs"]).as_array().unwrap().clone()
}

/// SIGKILL in the middle of an ingest leaves a consistent store; running the ingest again
/// finishes it, and the result equals an uninterrupted run: nothing lost, nothing doubled.
#[test]
fn killed_mid_ingest_resumes_with_nothing_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let feed_csv = dir.path().join("drones.csv");
    big_feed(&feed_csv, 400_000);
    let feed = reference_feed();

    let reference = dir.path().join("reference");
    ok(&reference, &["init"]);
    ok(&reference, &["ingest", "--feed", s(&feed), s(&feed_csv)]);
    let want = json(&reference, &["stats"]);

    let data = dir.path().join("killed");
    ok(&data, &["init"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_focal"))
        .args([
            "--data",
            s(&data),
            "ingest",
            "--commit-rows",
            "20000",
            "--batch-size",
            "5000",
            "--feed",
            s(&feed),
            s(&feed_csv),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until at least one batch is committed, then kill without warning.
    let started = std::time::Instant::now();
    loop {
        let committed = runs(&data)
            .first()
            .map(|r| r["rows_read"].as_u64().unwrap_or(0))
            .unwrap_or(0);
        if committed > 0 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the ingest finished before it could be killed; make the feed bigger"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no batch was committed within two minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL on Unix.
    child.wait().unwrap();
    let interrupted = runs(&data);
    assert_eq!(
        interrupted[0]["status"], "running",
        "the run was killed before it finished"
    );
    let partial = interrupted[0]["rows_read"].as_u64().unwrap();
    assert!(
        partial > 0 && partial < 400_000,
        "killed mid-way, after {partial} rows"
    );
    // The store is consistent right after the kill: what was counted is what is stored.
    let mid = json(&data, &["stats"]);
    assert_eq!(mid["events"], interrupted[0]["events_stored"]);
    assert_eq!(mid["quarantined"], interrupted[0]["quarantined"]);

    let resumed = json(&data, &["ingest", "--feed", s(&feed), s(&feed_csv)]);
    let r = &resumed["files"][0];
    assert_eq!(r["status"], "completed");
    assert_eq!(r["resumed_from"], interrupted[0]["id"]);
    assert_eq!(
        r["rows_read"], 400_000,
        "rows before and after the kill add up to the file"
    );
    let got = json(&data, &["stats"]);
    for key in [
        "events",
        "quarantined",
        "unassigned",
        "per_constituent",
        "by_type",
    ] {
        assert_eq!(got[key], want[key], "{key} after kill and resume");
    }
    assert_eq!(runs(&data)[1]["status"], "interrupted");
}

/// Errors name what was wrong and where, and exit non-zero.
#[test]
fn errors_say_what_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    let out = focal(&data, &["stats"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a Focal data folder"));
    ok(&data, &["init"]);
    let bad_feed = dir.path().join("bad.toml");
    std::fs::write(
        &bad_feed,
        "name = 'x'\nformat = 'csv'\n[fields]\nip = 'source.address'\n",
    )
    .unwrap();
    let csv = dir.path().join("f.csv");
    std::fs::write(&csv, "ip\n192.0.2.1\n").unwrap();
    let out = focal(&data, &["ingest", "--feed", s(&bad_feed), s(&csv)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.toml") && err.contains("fields.\"ip\"") && err.contains("source.address"),
        "{err}"
    );
    let bad_orgs = dir.path().join("orgs.csv");
    std::fs::write(&bad_orgs, "id,name,abuse_email,asns,netblocks,domains\na,A,abuse@a.example,64500,,\nb,B,abuse@b.example,,192.0.2.0/33,\n").unwrap();
    let out = focal(&data, &["constituents", "import", s(&bad_orgs)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("orgs.csv, line 3, field netblocks"), "{err}");
    assert!(
        json(&data, &["constituents", "list"])
            .as_array()
            .unwrap()
            .is_empty(),
        "a failed import imports nothing"
    );
    // A feed whose header lacks a mapped column stops with the file and the column named.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "address,when\n192.0.2.1,2026-11-23T00:00:00Z\n").unwrap();
    let out = focal(
        &data,
        &["ingest", "--feed", s(&reference_feed()), s(&other)],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.csv") && err.contains("\"timestamp\""),
        "{err}"
    );
}

/// A network indicator (Spamhaus DROP) is found by any address or network inside it.
#[test]
fn network_indicators_are_found_by_an_address_inside_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["init"]);
    let feeds = repo().join("feeds");
    ok(
        &data,
        &[
            "ingest",
            "--feed",
            s(&feeds.join("spamhaus-drop.toml")),
            s(&feeds.join("samples/spamhaus-drop.txt")),
        ],
    );
    let all = json(&data, &["events", "--limit", "0"]);
    let first = all
        .as_array()
        .unwrap()
        .first()
        .expect("the DROP sample has events")
        .clone();
    let net: ipnet::IpNet = first["source.network"].as_str().unwrap().parse().unwrap();
    let inside = net.hosts().nth(1).unwrap_or(net.network());
    let hits = json(
        &data,
        &["events", "--ip", &inside.to_string(), "--limit", "0"],
    );
    assert!(
        hits.as_array()
            .unwrap()
            .iter()
            .any(|e| e["source.network"] == first["source.network"]),
        "{inside} in {net}"
    );
    let outside = json(&data, &["events", "--ip", "203.0.113.255", "--limit", "0"]);
    assert!(outside.as_array().unwrap().iter().all(|e| {
        let n: ipnet::IpNet = e["source.network"].as_str().unwrap().parse().unwrap();
        n.contains(&"203.0.113.255".parse::<std::net::IpAddr>().unwrap())
    }));
}

/// README's first command: the demo builds a fresh data folder from the bundled data, and the
/// drone feed in it reaches the generator's expected figures.
#[test]
fn demo_runs_the_main_job_on_bundled_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    for _ in 0..2 {
        // Twice: a second demo replaces the first folder instead of adding to it.
        let out = json(&data, &["demo", "--no-serve"]);
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("data/demo/expected.json")).unwrap(),
        )
        .unwrap();
        let stats = &out["stats"];
        assert_eq!(
            stats["by_feed"]["reference-drones"],
            expected["unique_events"]
        );
        assert_eq!(stats["per_constituent"], expected["per_constituent"]);
        // Incidents in every state, and the demo accounts.
        let states: std::collections::BTreeSet<&str> = out["incidents_by_state"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(states.len(), 7, "incidents in every state: {states:?}");
        assert_eq!(out["accounts"].as_array().unwrap().len(), 3);
        // The policy library and one published TLP:CLEAR advisory (issue 17).
        assert_eq!(out["library"]["added"], 3);
        let advisory = out["advisory"].as_str().unwrap();
        let shown = json(&data, &["advisories", "show", advisory]);
        assert_eq!(shown["state"], "published");
        let hits = json(&data, &["library", "search", "57/239"]);
        assert_eq!(hits["hits"][0]["symbol"], "A/RES/57/239");
        let feeds: Vec<&str> = out["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["feed"].as_str().unwrap())
            .collect();
        assert_eq!(
            feeds.len(),
            5,
            "the drone feed and four shipped public feed formats: {feeds:?}"
        );
        assert!(
            out["files"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["events_stored"].as_u64().unwrap() > 0)
        );
    }
    // The demo refuses to delete a folder that is not a Focal data folder.
    let precious = dir.path().join("precious");
    std::fs::create_dir_all(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "keep me").unwrap();
    let out = focal(&precious, &["demo", "--no-serve"]);
    assert!(!out.status.success());
    assert!(precious.join("notes.txt").exists());
}

/// A feed delivered in several files (overlapping in time) is de-duplicated across them: the
/// ids stored by the first run are the ones the second run checks against.
#[test]
fn deduplication_spans_files_and_runs() {
    let (dir, data) = prepared();
    let text = std::fs::read(fixture("feed.csv")).unwrap();
    let lines: Vec<&[u8]> = text.split_inclusive(|b| *b == b'\n').collect();
    let (header, rows) = lines.split_first().unwrap();
    // Two overlapping parts: rows 0..60% and 40%..100%.
    let (a_end, b_start) = (rows.len() * 6 / 10, rows.len() * 4 / 10);
    let part = |name: &str, rows: &[&[u8]]| {
        let path = dir.path().join(name);
        let mut bytes = header.to_vec();
        rows.iter().for_each(|r| bytes.extend_from_slice(r));
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let a = part("a.csv", &rows[..a_end]);
    let b = part("b.csv", &rows[b_start..]);
    let out = json(
        &data,
        &["ingest", "--feed", s(&reference_feed()), s(&a), s(&b)],
    );
    let second = &out["files"][1];
    assert!(
        second["duplicates"].as_u64().unwrap() > 0,
        "the overlap is found in the second file: {second}"
    );
    let stats = json(&data, &["stats"]);
    let e = expected();
    assert_eq!(stats["events"], e["unique_events"]);
    assert_eq!(stats["per_constituent"], e["per_constituent"]);
    assert_eq!(stats["unassigned"], e["unassigned_events"]);
}

/// A header that does not fit the definition is reported with its real line number, after
/// the comment lines that precede it.
#[test]
fn header_errors_name_the_header_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["init"]);
    let file = dir.path().join("feodo.csv");
    std::fs::write(&file, "# banner\n# more banner\n\"first_seen\",\"dst_ip\"\n\"2026-01-01 00:00:00\",\"192.0.2.1\"\n").unwrap();
    let feed = repo().join("feeds/abusech-feodo-ipblocklist.toml");
    let out = focal(&data, &["ingest", "--feed", s(&feed), s(&file)]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("feodo.csv: line 3 (the header)") && err.contains("is not in the header"),
        "{err}"
    );
}

/// The character column at which `needle` starts in `line` (not the byte: "…" is three bytes).
fn column_of(line: &str, needle: &str) -> Option<usize> {
    line.find(needle).map(|b| line[..b].chars().count())
}

/// Every human table has a header row, and a long value (here a malware name of 90
/// characters) is cut with "…" rather than pushing the columns after it out of line.
#[test]
fn a_long_malware_name_keeps_the_events_table_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["init"]);
    let long = format!("long-malware-{}", "x".repeat(77));
    let csv = dir.path().join("drones.csv");
    std::fs::write(
        &csv,
        format!(
            "timestamp,ip,port,protocol,hostname,malware,dst_ip,dst_port\n\
             2026-11-24T00:50:47Z,192.0.2.1,1,tcp,,tinba,,\n\
             2026-11-24T00:50:48Z,192.0.2.2,1,tcp,,{long},,\n"
        ),
    )
    .unwrap();
    ok(&data, &["ingest", "--feed", s(&reference_feed()), s(&csv)]);
    let table = ok(&data, &["events"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "a header and two rows:\n{table}");
    let header = lines[0];
    let malware = column_of(header, "malware").expect("a malware column");
    let feed = column_of(header, "feed").expect("a feed column");
    for row in &lines[1..] {
        assert_eq!(
            column_of(row, "reference-drones"),
            Some(feed),
            "the feed column starts where its header does:\n{table}"
        );
        let m = column_of(row, "tinba").or(column_of(row, "long-malware-"));
        assert_eq!(m, Some(malware), "the malware column too:\n{table}");
    }
    assert!(
        table.contains('…') && !table.contains(&long),
        "the long name is cut with an ellipsis:\n{table}"
    );
    // --json is untouched: the whole name is there.
    let events = json(&data, &["events"]);
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["malware.name"] == long.as_str()),
        "{events}"
    );
}

/// A command with nothing to show says so, and `peers add` says what it set up.
#[test]
fn commands_say_what_they_did_even_when_there_is_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["init"]);
    let outbox = ok(&data, &["notify", "--outbox"]);
    assert!(outbox.contains("The outbox is empty"), "{outbox:?}");
    let peers = ok(&data, &["peers", "status"]);
    assert!(peers.contains("No peers yet"), "{peers:?}");
    let sync = ok(&data, &["peers", "sync"]);
    assert!(sync.contains("No peers to sync"), "{sync:?}");
    let added = ok(
        &data,
        &[
            "peers",
            "add",
            "cert-b",
            "--url",
            "https://cert-b.example/taxii2/root/",
            "--collection",
            "c1",
            "--pull",
        ],
    );
    assert!(
        added.contains("Peer cert-b saved") && added.contains("Focal pulls from it."),
        "{added:?}"
    );
    assert!(!added.contains("( "), "{added:?}");
    let status = ok(&data, &["peers", "status"]);
    let lines: Vec<&str> = status.lines().collect();
    assert_eq!(lines.len(), 2, "{status}");
    assert!(lines[0].starts_with("peer ") && lines[1].starts_with("cert-b "));
    assert_eq!(
        column_of(lines[0], "collection"),
        column_of(lines[1], "c1 "),
        "{status}"
    );
}

/// A missing file is named, and the operating system's reason is said once.
#[test]
fn a_missing_file_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["init"]);
    let missing = dir.path().join("no-such-feed.toml");
    let csv = dir.path().join("f.csv");
    std::fs::write(&csv, "ip\n192.0.2.1\n").unwrap();
    let out = focal(&data, &["ingest", "--feed", s(&missing), s(&csv)]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("no-such-feed.toml").count(), 1, "{err}");
    assert_eq!(err.matches("os error 2").count(), 1, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The command line names whoever acts as the web does (`user:<name>`), whether given as
/// `--actor alice`, `--actor user:alice` or taken from $USER.
#[test]
fn the_actor_of_a_cli_change_is_named_as_the_web_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d");
    ok(&data, &["init"]);
    let orgs = dir.path().join("orgs.csv");
    let import = |actor: Option<&str>, user: &str, row: &str| {
        std::fs::write(
            &orgs,
            format!("id,name,abuse_email,asns,netblocks,domains\n{row}\n"),
        )
        .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_focal"));
        cmd.arg("--data").arg(&data);
        if let Some(a) = actor {
            cmd.args(["--actor", a]);
        }
        let out = cmd
            .args(["constituents", "import", s(&orgs)])
            .env("FOCAL_LOG", "warn")
            .env_remove("FOCAL_ACTOR")
            .env("USER", user)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    import(Some("alice"), "root", "a,A,abuse@a.example,64500,,");
    import(Some("user:alice"), "root", "b,B,abuse@b.example,64501,,");
    import(None, "carol", "c,C,abuse@c.example,64502,,");
    let log = json(&data, &["audit", "list", "--action", "constituent.import"]);
    let actors: Vec<(&str, &str)> = log
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["subject"].as_str().unwrap_or_default(),
                e["actor"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for (subject, actor) in [
        ("constituent:a", "user:alice"),
        ("constituent:b", "user:alice"),
        ("constituent:c", "user:carol"),
    ] {
        assert!(
            actors.contains(&(subject, actor)),
            "{subject} by {actor}: {actors:?}"
        );
    }
    // The chain still verifies with the new entries.
    ok(&data, &["audit", "verify"]);
}

/// The demo records its changes as a person named the web's way: with nobody named ($USER
/// unset, no --actor), its own admin account, `user:admin`; never a bare `unknown` or `demo`.
#[test]
fn the_demo_names_its_actor_as_the_web_does() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_focal"))
        .arg("--data")
        .arg(&data)
        .args(["demo", "--no-serve"])
        .env("FOCAL_LOG", "warn")
        .env_remove("FOCAL_ACTOR")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let log = json(&data, &["audit", "list", "--limit", "100000"]);
    let actors: std::collections::BTreeSet<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["actor"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        actors,
        ["user:admin", "user:analyst"].into_iter().collect(),
        "the admin did the demo's changes and the analyst wrote its advisory"
    );
    ok(&data, &["audit", "verify"]);
}
