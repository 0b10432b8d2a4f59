//! Shadowserver's reports read natively (docs/FEEDS.md, "Shadowserver reports"): one definition
//! with `[shadowserver]`, the report type recognised from the file's name or its header, and each
//! record mapped by the schema field by field.
//!
//! The schema below is written for this test in the format of Shadowserver's IntelMQ schema
//! (`intelmq.json`), with a few columns of each report type in Shadowserver's column names and
//! order; Focal ships no copy of Shadowserver's own file.

use focal_feeds::read::RecordReader;
use focal_feeds::shadowserver::{Schema, report_in_file_name};
use focal_feeds::{Feed, Rejection, input};
use focal_model::{Event, Field};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SCHEMA: &str = r#"{
  "_meta": {"date_created": "2026-12-01T00:00:00Z"},
  "scan_http": {
    "constant_fields": {"classification.identifier": "accessible-http", "classification.taxonomy": "other",
                        "classification.type": "other", "protocol.application": "http"},
    "feed_name": "Accessible-HTTP", "file_name": "scan_http",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip", "validate_ip"],
                        ["source.port", "port", "convert_int"]],
    "optional_fields": [["severity", "severity", "validate_to_none"], ["protocol.transport", "protocol"],
                        ["source.reverse_dns", "hostname"], ["extra.", "tag", "validate_to_none"],
                        ["source.asn", "asn", "invalidate_zero"], ["source.geolocation.cc", "geo"],
                        ["source.geolocation.region", "region"], ["source.geolocation.city", "city"],
                        ["extra.source.naics", "naics", "invalidate_zero"], ["extra.", "http_code", "convert_int"],
                        ["extra.", "server", "validate_to_none"], ["product.vulnerabilities", "tag", "extract_cve_from_tag"]],
    "url": "https://www.shadowserver.org/what-we-do/network-reporting/accessible-http-report/"
  },
  "scan6_http": {
    "constant_fields": {"classification.identifier": "accessible-http", "classification.taxonomy": "other",
                        "classification.type": "other", "protocol.application": "http"},
    "feed_name": "Accessible-HTTP IPv6", "file_name": "scan6_http",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip", "validate_ip"],
                        ["source.port", "port", "convert_int"]],
    "optional_fields": [["severity", "severity", "validate_to_none"], ["protocol.transport", "protocol"],
                        ["source.reverse_dns", "hostname"], ["extra.", "tag", "validate_to_none"],
                        ["source.asn", "asn", "invalidate_zero"], ["source.geolocation.cc", "geo"],
                        ["source.geolocation.region", "region"], ["source.geolocation.city", "city"],
                        ["extra.source.naics", "naics", "invalidate_zero"], ["extra.", "http_code", "convert_int"],
                        ["extra.", "server", "validate_to_none"], ["product.vulnerabilities", "tag", "extract_cve_from_tag"]]
  },
  "scan_ssl_poodle": {
    "constant_fields": {"classification.identifier": "ssl-poodle", "classification.taxonomy": "vulnerable",
                        "classification.type": "weak-crypto", "protocol.application": "https"},
    "feed_name": "SSL-POODLE-Vulnerable-Servers IPv4", "file_name": "scan_ssl_poodle",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip", "validate_ip"],
                        ["source.port", "port", "convert_int"]],
    "optional_fields": [["severity", "severity", "validate_to_none"], ["protocol.transport", "protocol"],
                        ["source.reverse_dns", "hostname"], ["extra.", "tag", "validate_to_none"],
                        ["source.asn", "asn", "invalidate_zero"], ["source.geolocation.cc", "geo"],
                        ["extra.", "handshake", "validate_to_none"], ["extra.", "cipher_suite", "validate_to_none"],
                        ["extra.", "ssl_poodle", "convert_bool"], ["extra.", "subject_common_name", "validate_to_none"]]
  },
  "event_sinkhole": {
    "constant_fields": {"classification.taxonomy": "malicious-code", "classification.type": "infected-system"},
    "feed_name": "Sinkhole-Events IPv4", "file_name": "event4_sinkhole",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "src_ip", "validate_ip"],
                        ["source.port", "src_port", "convert_int"]],
    "optional_fields": [["classification.identifier", "infection", "validate_to_none"],
                        ["malware.name", "infection", "validate_to_none"], ["extra.", "tag", "validate_to_none"],
                        ["protocol.transport", "protocol"], ["source.asn", "src_asn", "invalidate_zero"],
                        ["source.geolocation.cc", "src_geo"], ["severity", "severity", "validate_to_none"],
                        ["destination.ip", "dst_ip", "validate_ip"], ["destination.port", "dst_port", "convert_int"],
                        ["destination.asn", "dst_asn", "invalidate_zero"], ["extra.", "event_id", "validate_to_none"]]
  },
  "blocklist": {
    "constant_fields": {"classification.identifier": "blacklisted-ip", "classification.taxonomy": "other",
                        "classification.type": "blacklist"},
    "feed_name": "Blocklist", "file_name": "blocklist",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip", "validate_ip"]],
    "optional_fields": [["source.network", "ip", "validate_network"], ["extra.source_name", "source", "validate_to_none"],
                        ["extra.", "reason", "validate_to_none"], ["source.asn", "asn", "invalidate_zero"],
                        ["source.geolocation.cc", "geo"], ["source.reverse_dns", "hostname"]]
  },
  "scan_dns": {
    "constant_fields": {"classification.identifier": "dns-open-resolver", "classification.taxonomy": "vulnerable",
                        "classification.type": "vulnerable-system", "protocol.application": "dns"},
    "feed_name": "DNS-Open-Resolvers", "file_name": "scan_dns",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip", "validate_ip"],
                        ["source.port", "port", "convert_int"]],
    "optional_fields": [["extra.", "min_amplification", "convert_float"], ["protocol.transport", "protocol"],
                        ["source.asn", "asn", "invalidate_zero"], ["source.geolocation.cc", "geo"],
                        ["extra.", "dns_version", "validate_to_none"]]
  },
  "compromised_website": {
    "constant_fields": {"classification.identifier": "compromised-website", "classification.taxonomy": "intrusions",
                        "classification.type": "system-compromise"},
    "feed_name": "Compromised-Website", "file_name": "compromised_website",
    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip", "validate_ip"],
                        ["source.port", "port", "convert_int"]],
    "optional_fields": [["protocol.application", "application", "validate_to_none"],
                        ["source.url", "url", "convert_http_host_and_url", true],
                        ["source.fqdn", "http_host", "validate_fqdn"],
                        ["event_description.text", "category", "category_or_detail", true],
                        ["malware.name", "family", "validate_to_none"], ["protocol.transport", "protocol"],
                        ["source.asn", "asn", "invalidate_zero"], ["source.geolocation.cc", "geo"],
                        ["extra.", "tag"], ["extra.", "detected_since", "validate_to_none"]]
  }
}"#;

const DEFINITION: &str = r#"
name = "shadowserver"
provider = "Shadowserver Foundation"
format = "csv"
tlp = "AMBER"

[shadowserver]
schema = "schema.json"
"#;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Dir {
        let p = std::env::temp_dir().join(format!(
            "focal-shadowserver-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
    /// The `[shadowserver]` definition, with the test schema beside it.
    fn feed(&self, definition: &str) -> Feed {
        self.write("schema.json", SCHEMA);
        let path = self.write("shadowserver.toml", definition);
        Feed::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads a whole file as the ingest does: the file picks the definition, then every record.
fn run(umbrella: &Feed, path: &Path) -> (String, Vec<Event>, Vec<Rejection>) {
    let feed = umbrella
        .for_file(path)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_owned();
    let mut scratch = feed.scratch();
    let mut reader = RecordReader::new(input::open(&feed, path).unwrap(), feed.skip_rules(), 0, 1);
    let (_, header) = reader.read_first_record().unwrap().expect("a header");
    let names = feed.split_header(&header, &mut scratch).unwrap();
    let layout = feed
        .csv_layout(Some(&names))
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut events, mut rejections) = (Vec::new(), Vec::new());
    while let Some(batch) = reader.next_batch(100).unwrap() {
        feed.parse_batch(
            Some(&layout),
            &batch,
            jiff::Timestamp::UNIX_EPOCH,
            &mut scratch,
            &mut events,
            &mut rejections,
        );
    }
    (feed.name.to_string(), events, rejections)
}

/// Every field an event has, by harmonised name (not `time.observation`, `raw` and `tlp`).
fn fields(event: &Event) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in Field::known_names() {
        if ["time.observation", "raw", "tlp"].contains(&name) {
            continue;
        }
        let field: Field = name.parse().unwrap();
        if let Some(v) = event.get_text(&field) {
            out.insert(name.to_string(), v.into_owned());
        }
    }
    for (k, v) in &event.extra {
        let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
        out.insert(format!("extra.{k}"), v);
    }
    out
}

struct Case {
    report: &'static str,
    header: &'static str,
    row: &'static str,
    want: &'static [(&'static str, &'static str)],
}

const COMMON: &[(&str, &str)] = &[
    ("feed.provider", "Shadowserver Foundation"),
    ("time.source", "2026-12-01T00:00:03+00:00"),
];

const CASES: &[Case] = &[
    Case {
        report: "scan_http",
        header: "timestamp,ip,protocol,port,hostname,tag,asn,geo,region,city,naics,http_code,server,severity",
        row: "2026-12-01 00:00:03,192.0.2.10,tcp,8080,host.example.net,http;cve-2021-0001,64500,AT,WIEN,VIENNA,0,200,nginx,medium",
        want: &[
            ("feed.name", "shadowserver-scan_http"),
            ("source.ip", "192.0.2.10"),
            ("source.port", "8080"),
            ("protocol.transport", "tcp"),
            ("protocol.application", "http"),
            ("source.asn", "64500"),
            ("source.geolocation.cc", "AT"),
            ("classification.taxonomy", "other"),
            ("classification.type", "other"),
            ("classification.identifier", "accessible-http"),
            ("extra.hostname", "host.example.net"),
            ("extra.tag", "http;cve-2021-0001"),
            ("extra.region", "WIEN"),
            ("extra.city", "VIENNA"),
            ("extra.http_code", "200"),
            ("extra.server", "nginx"),
            ("extra.severity", "medium"),
        ],
    },
    Case {
        report: "scan_ssl_poodle",
        header: "timestamp,ip,protocol,port,hostname,tag,asn,geo,handshake,cipher_suite,ssl_poodle,subject_common_name,severity",
        row: "2026-12-01 00:00:03,198.51.100.7,tcp,443,,ssl-poodle,64501,DE,SSLv3,TLS_RSA_WITH_RC4_128_SHA,Y,www.example.org,low",
        want: &[
            ("feed.name", "shadowserver-scan_ssl_poodle"),
            ("source.ip", "198.51.100.7"),
            ("source.port", "443"),
            ("protocol.transport", "tcp"),
            ("protocol.application", "https"),
            ("source.asn", "64501"),
            ("source.geolocation.cc", "DE"),
            ("classification.taxonomy", "vulnerable"),
            ("classification.type", "weak-crypto"),
            ("classification.identifier", "ssl-poodle"),
            ("extra.tag", "ssl-poodle"),
            ("extra.handshake", "SSLv3"),
            ("extra.cipher_suite", "TLS_RSA_WITH_RC4_128_SHA"),
            ("extra.ssl_poodle", "Y"),
            ("extra.subject_common_name", "www.example.org"),
            ("extra.severity", "low"),
        ],
    },
    Case {
        report: "event4_sinkhole",
        header: "timestamp,protocol,src_ip,src_port,src_asn,src_geo,dst_ip,dst_port,dst_asn,infection,tag,event_id,severity",
        row: "2026-12-01 00:00:03,tcp,203.0.113.5,49152,64502,NL,192.0.2.200,80,64511,Andromeda,botnet,abc-123,high",
        want: &[
            ("feed.name", "shadowserver-event4_sinkhole"),
            ("source.ip", "203.0.113.5"),
            ("source.port", "49152"),
            ("source.asn", "64502"),
            ("source.geolocation.cc", "NL"),
            ("destination.ip", "192.0.2.200"),
            ("destination.port", "80"),
            ("protocol.transport", "tcp"),
            ("malware.name", "andromeda"),
            ("classification.taxonomy", "malicious-code"),
            ("classification.type", "infected-system"),
            ("classification.identifier", "andromeda"),
            ("extra.dst_asn", "64511"),
            ("extra.tag", "botnet"),
            ("extra.event_id", "abc-123"),
            ("extra.severity", "high"),
        ],
    },
    Case {
        report: "blocklist",
        header: "timestamp,ip,hostname,source,reason,asn,geo",
        row: "2026-12-01 00:00:03,192.0.2.0/24,,spamhaus-drop,hijacked netblock,0,US",
        want: &[
            ("feed.name", "shadowserver-blocklist"),
            ("source.network", "192.0.2.0/24"),
            ("source.geolocation.cc", "US"),
            ("classification.taxonomy", "other"),
            ("classification.type", "blacklist"),
            ("classification.identifier", "blacklisted-ip"),
            ("extra.source", "spamhaus-drop"),
            ("extra.reason", "hijacked netblock"),
        ],
    },
    Case {
        report: "scan_dns",
        header: "timestamp,ip,protocol,port,asn,geo,min_amplification,dns_version",
        row: "2026-12-01 00:00:03,198.51.100.53,udp,53,64503,FR,28.5,9.16.1",
        want: &[
            ("feed.name", "shadowserver-scan_dns"),
            ("source.ip", "198.51.100.53"),
            ("source.port", "53"),
            ("protocol.transport", "udp"),
            ("protocol.application", "dns"),
            ("source.asn", "64503"),
            ("source.geolocation.cc", "FR"),
            ("classification.taxonomy", "vulnerable"),
            ("classification.type", "vulnerable-system"),
            ("classification.identifier", "dns-open-resolver"),
            ("extra.min_amplification", "28.5"),
            ("extra.dns_version", "9.16.1"),
        ],
    },
    Case {
        report: "compromised_website",
        header: "timestamp,ip,port,protocol,http_host,url,application,category,family,asn,geo,tag,detected_since",
        row: "2026-12-01 00:00:03,203.0.113.80,80,tcp,shop.example.com,/wp-content/x.php,http,defacement,webshell,64504,IT,wordpress,2026-11-30",
        want: &[
            ("feed.name", "shadowserver-compromised_website"),
            ("source.ip", "203.0.113.80"),
            ("source.port", "80"),
            ("protocol.transport", "tcp"),
            ("protocol.application", "http"),
            ("source.fqdn", "shop.example.com"),
            ("source.url", "http://shop.example.com/wp-content/x.php"),
            ("malware.name", "webshell"),
            ("source.asn", "64504"),
            ("source.geolocation.cc", "IT"),
            ("classification.taxonomy", "intrusions"),
            ("classification.type", "system-compromise"),
            ("classification.identifier", "compromised-website"),
            ("extra.category", "defacement"),
            ("extra.tag", "wordpress"),
            ("extra.detected_since", "2026-11-30"),
        ],
    },
];

#[test]
fn each_report_type_is_recognised_by_name_and_by_header_and_read_field_by_field() {
    let dir = Dir::new("cases");
    let umbrella = dir.feed(DEFINITION);
    assert!(umbrella.is_shadowserver());
    for case in CASES {
        let text = format!("{}\n{}\n", case.header, case.row);
        let by_name = dir.write(
            &format!("2026-12-01-{}-country-geo.csv", case.report),
            &text,
        );
        let by_header = dir.write(
            &format!("{}-export.csv", case.report.replace('_', "")),
            &text,
        );
        assert_eq!(
            report_in_file_name(&by_name.display().to_string()),
            Some(case.report)
        );
        assert_eq!(report_in_file_name(&by_header.display().to_string()), None);
        let want: BTreeMap<String, String> = COMMON
            .iter()
            .chain(case.want)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for path in [&by_name, &by_header] {
            let (name, events, rejections) = run(&umbrella, path);
            let how = path.display();
            assert_eq!(name, format!("shadowserver-{}", case.report), "{how}");
            assert!(rejections.is_empty(), "{how}: {rejections:?}");
            assert_eq!(events.len(), 1, "{how}");
            let got = fields(&events[0]);
            for (k, v) in &want {
                assert_eq!(got.get(k), Some(v), "{how}: field {k}");
            }
            let unexpected: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
            assert!(
                unexpected.is_empty(),
                "{how}: unexpected fields {unexpected:?}"
            );
        }
    }
}

#[test]
fn an_unknown_report_type_in_the_file_name_is_an_error_naming_the_file() {
    let dir = Dir::new("unknown");
    let umbrella = dir.feed(DEFINITION);
    let path = dir.write(
        "2026-12-01-scan_nonesuch-asn.csv",
        &format!("{}\n{}\n", CASES[0].header, CASES[0].row),
    );
    let e = umbrella.for_file(&path).unwrap_err();
    assert_eq!(e.file, path.display().to_string());
    let schema = dir.0.join("schema.json").display().to_string();
    assert_eq!(
        e.message,
        format!(
            "report type \"scan_nonesuch\" (from the file name) is not in the Shadowserver schema {schema} (7 report types); a newer schema may know it"
        )
    );
    assert!(e.to_string().starts_with(&format!("{}: ", path.display())));
    // A fixed report type that the schema does not know is refused alike.
    let fixed = dir.feed(&format!("{DEFINITION}report = \"scan_gone\"\n"));
    let e = fixed.for_file(&path).unwrap_err();
    assert!(
        e.message.contains("\"scan_gone\" (shadowserver.report)"),
        "{e}"
    );
}

#[test]
fn the_address_family_of_the_first_record_tells_identical_headers_apart() {
    let dir = Dir::new("family");
    let umbrella = dir.feed(DEFINITION);
    let header = CASES[0].header;
    let v6 = dir.write(
        "export-v6.csv",
        &format!("{header}\n2026-12-01 00:00:03,2001:db8::10,tcp,80,,,64500,AT,,,,200,,\n"),
    );
    let (name, events, rejections) = run(&umbrella, &v6);
    assert_eq!(name, "shadowserver-scan6_http");
    assert!(rejections.is_empty(), "{rejections:?}");
    assert_eq!(events[0].source_ip.unwrap().to_string(), "2001:db8::10");
    // Without a record there is nothing to tell them apart by: the error names both.
    let empty = dir.write("export-empty.csv", &format!("{header}\n"));
    let e = umbrella.for_file(&empty).unwrap_err();
    assert!(
        e.message.contains("equally (scan6_http, scan_http)"),
        "{}",
        e.message
    );
    // A header that fits nothing.
    let odd = dir.write("odd.csv", "when,what\n2026-12-01,x\n");
    let e = umbrella.for_file(&odd).unwrap_err();
    assert!(e.message.contains("fits no report type"), "{}", e.message);
    // `shadowserver.report` fixes the type whatever the name and header.
    let fixed = dir.feed(&format!("{DEFINITION}report = \"scan6_http\"\n"));
    let (name, _, _) = run(
        &fixed,
        &dir.write("2026-12-01-scan_http-x.csv", &format!("{header}\n")),
    );
    assert_eq!(name, "shadowserver-scan6_http");
}

#[test]
fn schema_rules_become_the_definition_language() {
    let dir = Dir::new("rules");
    let umbrella = dir.feed(DEFINITION);
    // ASN 0 means "unknown"; a column the schema does not know goes to extra; a row without the
    // required port is quarantined naming the field; a time not in Shadowserver's form too.
    let path = dir.write(
        "2026-12-01-scan_dns-asn.csv",
        "timestamp,ip,protocol,port,asn,geo,min_amplification,dns_version,brand_new\n\
         2026-12-01 00:00:03,198.51.100.53,udp,53,0,FR,1,x,yes\n\
         2026-12-01 00:00:04,198.51.100.54,udp,,64500,FR,1,x,no\n\
         2026-12-01T00:00:05,198.51.100.55,udp,53,64500,FR,1,x,no\n",
    );
    let (_, events, rejections) = run(&umbrella, &path);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].source_asn, None);
    assert_eq!(events[0].extra["brand_new"], "yes");
    assert_eq!(rejections.len(), 2);
    assert_eq!(rejections[0].line, 3);
    assert_eq!(rejections[0].field.as_deref(), Some("source.port"));
    assert_eq!(rejections[1].line, 4);
    assert_eq!(rejections[1].field.as_deref(), Some("time.source"));
    // The umbrella definition reads nothing by itself, and takes no columns of its own.
    assert!(umbrella.csv_layout(Some(&["ip".to_string()][..])).is_err());
    let e = Feed::from_toml(
        &format!("{DEFINITION}[fields]\nip = \"source.ip\"\n"),
        "x.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("x.toml: shadowserver: the schema maps the columns"),
        "{e}"
    );
    // A schema that is not one is refused naming the file and the report.
    let bad = Schema::from_json(
        r#"{"scan_x": {"required_fields": [["time.source"]]}}"#,
        "s.json",
    )
    .unwrap_err();
    assert_eq!(
        bad,
        "Shadowserver schema s.json: report \"scan_x\": required_fields[0] is not [field, column, ...]"
    );
    // A missing schema file names it.
    std::fs::remove_file(dir.0.join("schema.json")).unwrap();
    let e = umbrella.for_file(&path).unwrap_err();
    assert!(e.message.starts_with("Shadowserver schema "), "{e}");
    assert!(e.message.contains("schema.json"), "{e}");
}

#[test]
fn a_registered_definition_names_its_schema_by_an_absolute_path() {
    let dir = Dir::new("registry");
    dir.feed(DEFINITION);
    let registry = focal_feeds::Registry::new(&dir.0.join("data"));
    let relative = dir.0.join("shadowserver.toml");
    let e = registry.add(&relative, false).unwrap_err().to_string();
    assert!(
        e.contains(
            "shadowserver.schema: \"schema.json\": a registered definition needs an absolute path"
        ),
        "{e}"
    );
    let schema = dir.0.join("schema.json");
    let absolute = dir.write(
        "absolute.toml",
        &DEFINITION.replace(
            "\"schema.json\"",
            &format!("{:?}", schema.display().to_string()),
        ),
    );
    registry
        .add(&absolute, false)
        .unwrap_or_else(|e| panic!("{e}"));
    let feed = registry.get("shadowserver").unwrap().feed;
    let path = dir.write(
        "2026-12-01-scan_dns-asn.csv",
        &format!("{}\n{}\n", CASES[4].header, CASES[4].row),
    );
    let (name, events, _) = run(&feed, &path);
    assert_eq!(name, "shadowserver-scan_dns");
    assert_eq!(events.len(), 1);
}
