//! Awareness end to end (issue 17), through the real binary on a real SQLite store: advisories
//! written, reviewed and published, their CSAF 2.0 documents checked by the BSI CSAF validator
//! library (the official schema, strict, and every mandatory test), the Atom feed read by
//! Python's feedparser, advisories mailed to a real SMTP server (aiosmtpd) with TLP enforced,
//! the policy library searched, and the public statistics checked against `focal events`.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

fn init(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    ok(
        &data,
        &["init", "--admin-password", "correct-horse-battery"],
    );
    data
}

fn as_actor(data: &Path, actor: &str, args: &[&str]) -> String {
    let mut full = vec!["--actor", actor];
    full.extend_from_slice(args);
    ok(data, &full)
}

/// Creates, submits (alice) and publishes (bob) an advisory; returns its id.
fn publish(data: &Path, extra: &[&str]) -> String {
    let mut args = vec!["--json", "advisories", "new"];
    args.extend_from_slice(extra);
    let created: Value = serde_json::from_str(&as_actor(data, "alice", &args)).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    as_actor(data, "alice", &["advisories", "submit", &id]);
    as_actor(data, "bob", &["advisories", "publish", &id]);
    id
}

const FULL: &[&str] = &[
    "--title",
    "Remote code execution in Acme Router",
    "--summary",
    "An unauthenticated attacker can run code on the router.",
    "--product",
    "Acme/Router/2.1",
    "--product",
    "Acme/Router/before 2.0",
    "--product",
    "Other Corp/Gateway",
    "--cve",
    "CVE-2026-12345",
    "--cve",
    "CVE-2026-23456",
    "--cvss",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "--remediation",
    "Update the firmware to 2.2.",
    "--reference",
    "https://acme.example/sa/2026-1 Vendor advisory",
    "--tlp",
    "CLEAR",
];

/// Runs the CSAF validator library on files; returns its report per file.
fn validate_csaf(files: &[PathBuf]) -> (bool, Vec<Value>) {
    let lib = focal_testkit::npmtools().join("node_modules/@secvisogram/csaf-validator-lib");
    let out = Command::new("node")
        .arg(repo().join("crates/focal/tests/support/csaf_validate.mjs"))
        .arg(&lib)
        .args(files)
        .output()
        .expect("node runs");
    let reports = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON report per line"))
        .collect::<Vec<Value>>();
    assert_eq!(
        reports.len(),
        files.len(),
        "validator: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), reports)
}

#[test]
fn csaf_documents_pass_the_official_schema_and_every_mandatory_test() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let full = publish(&data, FULL);
    // A second revision, after an edit with its change summary.
    as_actor(
        &data,
        "carol",
        &[
            "advisories",
            "edit",
            &full,
            "--change",
            "Second fixed version",
            "--remediation",
            "Update to 2.3.",
        ],
    );
    as_actor(&data, "carol", &["advisories", "submit", &full]);
    as_actor(&data, "alice", &["advisories", "publish", &full]);
    let strict = publish(
        &data,
        &[
            "--title",
            "Weak defaults in Example Gateway",
            "--summary",
            "Default credentials.",
            "--product",
            "Example/Gateway",
            "--tlp",
            "AMBER+STRICT",
        ],
    );
    let info = publish(
        &data,
        &[
            "--title",
            "Phishing campaign against universities",
            "--summary",
            "Be careful.",
            "--reference",
            "https://csirt.example/phishing",
            "--tlp",
            "GREEN",
        ],
    );
    let draft: Value = serde_json::from_str(&as_actor(
        &data,
        "alice",
        &[
            "--json",
            "advisories",
            "new",
            "--title",
            "Draft only",
            "--summary",
            "Not yet.",
            "--product",
            "Acme/Switch/1.0",
        ],
    ))
    .unwrap();
    let draft = draft["id"].as_str().unwrap().to_string();

    let mut files = Vec::new();
    for (id, extra) in [
        (&full, None),
        (&strict, None),
        (&info, None),
        (&draft, Some("--draft")),
        (&full, Some("--draft")),
    ] {
        let path = tmp.path().join(format!("{id}-{}.json", files.len()));
        let mut args = vec![
            "advisories",
            "export",
            id.as_str(),
            "--format",
            "csaf",
            "--output",
            s(&path),
        ];
        args.extend(extra);
        ok(&data, &args);
        files.push(path);
    }
    let (valid, reports) = validate_csaf(&files);
    assert!(valid, "{reports:#?}");
    assert!(
        reports.iter().all(|r| r["tests"].as_u64().unwrap() > 30),
        "schema and mandatory tests ran"
    );

    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let tracking = &doc["document"]["tracking"];
    assert_eq!(tracking["version"], "2");
    assert_eq!(tracking["status"], "final");
    assert_eq!(
        tracking["revision_history"][1]["summary"],
        "Second fixed version"
    );
    assert_eq!(doc["document"]["distribution"]["tlp"]["label"], "WHITE");
    assert_eq!(doc["vulnerabilities"].as_array().unwrap().len(), 2);
    let strict_doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
    assert_eq!(
        strict_doc["document"]["distribution"]["tlp"]["label"], "RED",
        "AMBER+STRICT never widens"
    );
    let draft_doc: Value =
        serde_json::from_str(&std::fs::read_to_string(&files[3]).unwrap()).unwrap();
    assert_eq!(draft_doc["document"]["tracking"]["status"], "draft");

    // The oracle is not a rubber stamp: a wrong score and an unknown property fail it.
    let mut broken = doc.clone();
    broken["vulnerabilities"][0]["scores"][0]["cvss_v3"]["baseScore"] = 5.0.into();
    broken["document"]["unexpected"] = "x".into();
    let bad = tmp.path().join("broken.json");
    std::fs::write(&bad, broken.to_string()).unwrap();
    let (valid, reports) = validate_csaf(&[bad]);
    assert!(!valid);
    let failed: Vec<&str> = reports[0]["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["test"].as_str().unwrap())
        .collect();
    assert!(
        failed.contains(&"mandatoryTest_6_1_9") && failed.contains(&"csaf_2_0_strict"),
        "{failed:?}"
    );

    // A published advisory without a published revision cannot be exported as published.
    let err = fails(&data, &["advisories", "export", &draft, "--format", "csaf"]);
    assert!(err.contains("no published revision"), "{err}");
}

#[test]
fn the_workflow_is_enforced_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let created: Value = serde_json::from_str(&as_actor(
        &data,
        "alice",
        &[
            "--json",
            "advisories",
            "new",
            "--title",
            "T",
            "--summary",
            "S",
            "--product",
            "Acme/Router",
            "--tlp",
            "CLEAR",
        ],
    ))
    .unwrap();
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("FOCAL-"), "{id}");
    let err = fails(&data, &["--actor", "bob", "advisories", "publish", id]);
    assert!(err.contains("draft"), "a draft is not published: {err}");
    as_actor(&data, "alice", &["advisories", "submit", id]);
    let err = fails(&data, &["--actor", "alice", "advisories", "publish", id]);
    assert!(err.contains("someone other than"), "{err}");
    as_actor(
        &data,
        "bob",
        &["advisories", "reject", id, "--reason", "needs a CVE"],
    );
    as_actor(
        &data,
        "alice",
        &["advisories", "edit", id, "--cve", "CVE-2026-0001"],
    );
    as_actor(&data, "alice", &["advisories", "submit", id]);
    as_actor(&data, "bob", &["advisories", "publish", id]);
    let err = fails(
        &data,
        &[
            "--actor",
            "alice",
            "advisories",
            "edit",
            id,
            "--summary",
            "New",
        ],
    );
    assert!(
        err.contains("change_summary"),
        "the next revision needs a summary: {err}"
    );
    let err = fails(
        &data,
        &[
            "advisories",
            "new",
            "--title",
            "",
            "--summary",
            "S",
            "--cve",
            "CVE-1",
            "--tlp",
            "CLEAR",
        ],
    );
    assert!(
        err.contains("title") && err.contains("cves[0]") && err.contains("references"),
        "{err}"
    );

    let audit = json(
        &data,
        &["audit", "list", "--subject", &format!("advisory:{id}")],
    );
    let actions: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("advisory.create", "user:alice"),
            ("advisory.submit", "user:alice"),
            ("advisory.reject", "user:bob"),
            ("advisory.edit", "user:alice"),
            ("advisory.submit", "user:alice"),
            ("advisory.publish", "user:bob"),
        ]
    );
    let shown = json(&data, &["advisories", "show", id]);
    assert_eq!(shown["revisions"].as_array().unwrap().len(), 1);
    assert_eq!(shown["revisions"][0]["published_by"], "user:bob");
}

#[test]
fn the_public_feed_parses_and_holds_only_clear_published_advisories() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let clear = publish(&data, FULL);
    let green = publish(
        &data,
        &[
            "--title",
            "Green one",
            "--summary",
            "S",
            "--product",
            "Acme/Router",
            "--tlp",
            "GREEN",
        ],
    );
    let unpublished: Value = serde_json::from_str(&as_actor(
        &data,
        "alice",
        &[
            "--json",
            "advisories",
            "new",
            "--title",
            "Not yet",
            "--summary",
            "S",
            "--product",
            "Acme/Router",
            "--tlp",
            "CLEAR",
        ],
    ))
    .unwrap();
    let feed = tmp.path().join("feed.atom");
    ok(
        &data,
        &[
            "advisories",
            "export",
            "--format",
            "atom",
            "--output",
            s(&feed),
        ],
    );
    let script = "import feedparser, json, sys\nf = feedparser.parse(sys.argv[1])\nprint(json.dumps({'bozo': f.bozo, 'version': f.version, 'title': f.feed.title, 'entries': [{'id': e.id, 'title': e.title, 'link': e.link, 'updated': e.updated} for e in f.entries]}))";
    let out = Command::new(focal_testkit::pytool("python"))
        .args(["-c", script, s(&feed)])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(parsed["bozo"], false, "a well-formed feed: {parsed}");
    assert_eq!(parsed["version"], "atom10");
    let entries = parsed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{parsed}");
    assert!(entries[0]["title"].as_str().unwrap().starts_with(&clear));
    assert!(
        entries[0]["link"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/advisories/{clear}"))
    );
    let text = std::fs::read_to_string(&feed).unwrap();
    assert!(!text.contains(&green) && !text.contains(unpublished["id"].as_str().unwrap()));
}

#[test]
fn advisories_are_mailed_to_constituents_and_red_never_is() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    ok(
        &data,
        &["constituents", "import", s(&fixture("constituents.csv"))],
    );
    let constituents = json(&data, &["constituents", "list"]);
    let with_address = constituents
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["abuse_email"].as_str().unwrap().is_empty())
        .count();
    let server = SmtpServer::start(tmp.path());
    let id = publish(&data, FULL);
    let dry = json(&data, &["advisories", "send", &id, "--dry-run"]);
    assert_eq!(dry["recipients"].as_array().unwrap().len(), with_address);
    assert_eq!(server.count(), 0, "a dry run sends nothing");
    let sent = json(
        &data,
        &["advisories", "send", &id, "--smtp", &server.address()],
    );
    assert_eq!(
        sent["report"]["sent"].as_u64().unwrap() as usize,
        with_address
    );
    let messages = server.messages();
    assert_eq!(messages.len(), with_address);
    let m = &messages[0];
    assert!(
        m["subject"]
            .as_str()
            .unwrap()
            .starts_with(&format!("[TLP:CLEAR] {id}:"))
    );
    assert!(m["body"].as_str().unwrap().contains("CVE-2026-12345"));
    let csaf: Value = serde_json::from_str(
        m["attachments"][format!("{}.json", id.to_lowercase())]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(csaf["document"]["tracking"]["id"], Value::from(id.clone()));
    // Sending again queues nothing new and sends nothing twice.
    let again = json(
        &data,
        &["advisories", "send", &id, "--smtp", &server.address()],
    );
    assert_eq!(again["queued"], 0);
    assert_eq!(server.count(), with_address);

    // TLP:RED is refused before anything is queued, whatever notify.max_tlp says.
    let red = publish(
        &data,
        &[
            "--title",
            "Red",
            "--summary",
            "S",
            "--product",
            "Acme/Router",
            "--tlp",
            "RED",
        ],
    );
    let err = fails(
        &data,
        &["advisories", "send", &red, "--smtp", &server.address()],
    );
    assert!(err.contains("TLP:RED is never sent"), "{err}");
    assert_eq!(server.count(), with_address);
    let audit = json(&data, &["audit", "list", "--action", "advisory.send"]);
    assert_eq!(
        audit.as_array().unwrap().len(),
        2,
        "each queuing is audited, the refusal queued nothing"
    );
}

/// An advisory that names products reaches only the constituents whose assets run them, from
/// the risk register's inventory; a product the inventory does not know goes to everyone.
#[test]
fn advisories_naming_products_go_to_the_constituents_running_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    ok(
        &data,
        &["constituents", "import", s(&fixture("constituents.csv"))],
    );
    let constituents = json(&data, &["constituents", "list"]);
    let with_address: Vec<String> = constituents
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !c["abuse_email"].as_str().unwrap().is_empty())
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert!(with_address.len() >= 3, "{constituents}");
    let (runs_router, runs_other) = (&with_address[0], &with_address[1]);
    let assets = tmp.path().join("assets.csv");
    std::fs::write(
        &assets,
        format!(
            "id,name,organisation,constituent,owner,criticality,software\n\
             gw-1,Edge router,Org A,{runs_router},noc,high,cpe:2.3:a:acme:router:2.1:*:*:*:*:*:*:*\n\
             web-1,Web server,Org B,{runs_other},ops,medium,cpe:2.3:a:nginx:nginx:1.24.0:*:*:*:*:*:*:*\n"
        ),
    )
    .unwrap();
    ok(&data, &["risks", "assets", "import", s(&assets)]);

    let recipients = |id: &str| -> (bool, Vec<String>) {
        let plan = json(&data, &["advisories", "send", id, "--dry-run"]);
        let mut to: Vec<String> = plan["recipients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["constituent"].as_str().unwrap().to_string())
            .collect();
        to.sort();
        (plan["targeted"].as_bool().unwrap(), to)
    };
    let router = publish(
        &data,
        &[
            "--title",
            "Router",
            "--summary",
            "S",
            "--product",
            "Acme/Router",
        ],
    );
    assert_eq!(recipients(&router), (true, vec![runs_router.clone()]));
    // Nobody in the inventory runs it: nobody is mailed.
    let unused = publish(
        &data,
        &[
            "--title",
            "Unused",
            "--summary",
            "S",
            "--product",
            "Nobody/Uses This",
        ],
    );
    assert_eq!(recipients(&unused), (true, vec![]));
    // No products: everyone with an address.
    let general = publish(
        &data,
        &[
            "--title",
            "General",
            "--summary",
            "S",
            "--reference",
            "https://cert.example/guidance Guidance",
        ],
    );
    let mut everyone = with_address.clone();
    everyone.sort();
    assert_eq!(recipients(&general), (false, everyone));
}

#[test]
fn the_shipped_library_is_searched_by_symbol_phrase_type_and_year() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    let imported = json(
        &data,
        &[
            "library",
            "import",
            s(&repo().join("data/library/un-cyber-policy.json")),
        ],
    );
    assert!(imported["summary"]["items"].as_u64().unwrap() > 50);
    let r = json(&data, &["library", "search", "57/239"]);
    assert_eq!(r["hits"][0]["symbol"], "A/RES/57/239");
    assert_eq!(r["hits"][0]["symbol_match"], true);
    let r = json(
        &data,
        &[
            "library",
            "search",
            "\"critical information infrastructure\"",
        ],
    );
    let symbols: Vec<&str> = r["hits"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["symbol"].as_str())
        .collect();
    assert!(
        symbols.contains(&"A/RES/64/211") && symbols.contains(&"A/RES/58/199"),
        "{symbols:?}"
    );
    let r = json(
        &data,
        &["library", "search", "--type", "report", "--year", "2013"],
    );
    let hits = r["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    assert!(
        hits.iter()
            .all(|h| h["type"] == "report" && h["year"] == 2013),
        "{r}"
    );
    assert_eq!(r["total"].as_u64().unwrap() as usize, hits.len());
    let item = json(&data, &["library", "show", "un/a-res-57-239"]);
    assert_eq!(
        item["relations"].as_array().unwrap().len(),
        7,
        "57/239 recalls seven resolutions"
    );

    // A bad file is refused with the path of the bad value, and nothing is imported.
    let bad = tmp.path().join("bad.json");
    std::fs::write(&bad, r#"{"format":"focal-policy-library","version":1,"entities":[{"id":"x","name":"X","kind":"organisation","last_updated":"2026","legislation":{"resolutions":[{"id":"r","title":"R","type":"decree"}]}}]}"#).unwrap();
    let err = fails(&data, &["library", "import", s(&bad)]);
    assert!(
        err.contains("entities[0].legislation.resolutions[0].type"),
        "{err}"
    );
    assert_eq!(
        json(&data, &["library", "list"]).as_array().unwrap().len(),
        3
    );
    let exported = tmp.path().join("export.json");
    ok(&data, &["library", "export", "--output", s(&exported)]);
    let again = json(&data, &["library", "import", s(&exported)]);
    assert_eq!(
        again["summary"]["unchanged"], 3,
        "an export imports back unchanged"
    );
}

#[test]
fn public_statistics_count_clear_events_only_and_show_nothing_below_k() {
    let tmp = tempfile::tempdir().unwrap();
    let data = init(tmp.path());
    ok(
        &data,
        &["constituents", "import", s(&fixture("constituents.csv"))],
    );
    let (v4, v6, feed) = (
        fixture("asn-ipv4.csv"),
        fixture("asn-ipv6.csv"),
        fixture("feed.csv"),
    );
    let asn = ["--asn", s(&v4), "--asn", s(&v6)];
    // The reference feed, once as AMBER (its own label) and once labelled CLEAR.
    let clear_feed = tmp.path().join("clear-feed.toml");
    let definition = std::fs::read_to_string(repo().join("bench/reference-feed.toml")).unwrap();
    std::fs::write(
        &clear_feed,
        definition
            .replace("tlp = \"AMBER\"", "tlp = \"CLEAR\"")
            .replace("name = \"reference-drones\"", "name = \"clear-drones\""),
    )
    .unwrap();
    let k = 5u64;
    let mut args = vec!["ingest", "--feed", s(&clear_feed)];
    args.extend(asn);
    args.push(s(&feed));
    ok(&data, &args);
    let stats = json(&data, &["stats", "public", "--k", &k.to_string()]);
    // Every number shown is 0 or at least k.
    fn walk(v: &Value, k: u64, path: &str) {
        match v {
            Value::Object(m) => {
                for (key, value) in m {
                    if key == "k"
                        || key == "withheld_cells"
                        || key == "withheld_weeks"
                        || key == "median_hours"
                    {
                        continue;
                    }
                    walk(value, k, &format!("{path}.{key}"));
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, k, &format!("{path}[{i}]"))),
            Value::Number(n) => {
                let n = n.as_f64().unwrap();
                assert!(n == 0.0 || n >= k as f64, "{path} = {n} is below k");
            }
            _ => {}
        }
    }
    walk(&stats, k, "");
    // The totals are the truth, counted independently from `focal events`.
    let events: Vec<Value> = all_events(&data);
    let clear: Vec<&Value> = events
        .iter()
        .filter(|e| e["tlp"] == "CLEAR" || e["tlp"] == "WHITE")
        .collect();
    assert!(!clear.is_empty());
    assert_eq!(
        stats["events_per_week"]["total"].as_u64().unwrap() as usize,
        clear.len()
    );
    let hosts: std::collections::BTreeSet<&str> = clear
        .iter()
        .filter(|e| e["classification.type"] == "infected-system")
        .filter_map(|e| e["source.ip"].as_str())
        .collect();
    assert_eq!(
        stats["infected_hosts"]["total"].as_u64().unwrap() as usize,
        hosts.len()
    );
    let published: u64 = stats["infected_hosts"]["countries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["hosts"].as_u64().unwrap())
        .sum();
    assert_eq!(
        published + stats["infected_hosts"]["other"].as_u64().unwrap_or(0),
        hosts.len() as u64
    );
    assert!(fails(&data, &["stats", "public", "--k", "1"]).contains("below"));
}
