//! `focal share` end to end: bundles exported from ingested events pass the OASIS
//! stix2-validator at every clearance and honour the policy; hostile bundles are refused with a
//! reason naming the object and the property, and nothing of them is stored.

mod sharing;

use serde_json::{Value, json};
use sharing::*;
use std::process::Command;

fn fixture(name: &str) -> String {
    repo()
        .join("tests/fixtures/workload")
        .join(name)
        .to_str()
        .unwrap()
        .to_string()
}

/// A node with the reference workload ingested (first 400 lines, to keep the validator quick).
fn ingested() -> Node {
    let node = Node::new("CERT Test");
    let bytes = std::fs::read(fixture("feed.csv")).unwrap();
    let head: Vec<u8> = bytes
        .split_inclusive(|b| *b == b'\n')
        .take(400)
        .flatten()
        .copied()
        .collect();
    let feed = node.dir.path().join("feed.csv");
    std::fs::write(&feed, head).unwrap();
    node.ok(&["constituents", "import", &fixture("constituents.csv")]);
    let feed_def = repo().join("bench/reference-feed.toml");
    node.ok(&[
        "ingest",
        "--feed",
        feed_def.to_str().unwrap(),
        "--asn",
        &fixture("asn-ipv4.csv"),
        "--asn",
        &fixture("asn-ipv6.csv"),
        feed.to_str().unwrap(),
    ]);
    node
}

fn validate(path: &std::path::Path) {
    let out = Command::new(focal_testkit::pytool("stix2_validator"))
        .args(["--version", "2.1"])
        .arg(path)
        .output()
        .expect("stix2_validator runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !text.contains("[X]"),
        "{} is not valid STIX 2.1:\n{text}",
        path.display()
    );
}

fn tlp_of(o: &Value) -> Option<&str> {
    o["object_marking_refs"].as_array()?.first()?.as_str()
}

#[test]
fn exports_are_valid_stix_and_follow_the_policy() {
    let node = ingested();
    let mut previous = 0;
    for tlp in ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"] {
        let bundle: Value =
            serde_json::from_str(&node.ok(&["share", "export", "--max-tlp", tlp])).unwrap();
        let path = node.write_file(&format!("export-{tlp}.json"), &bundle);
        validate(&path);
        let objects = bundle["objects"].as_array().unwrap();
        assert!(
            objects.len() >= previous,
            "a wider clearance exported fewer objects"
        );
        previous = objects.len();
        assert!(
            !objects.iter().any(|o| tlp_of(o) == Some(RED)),
            "TLP:RED exported at {tlp}"
        );
    }
    assert!(
        previous > 100,
        "the fixture exported only {previous} objects"
    );
    // A pseudonymising policy for a peer: no source address of any event survives.
    node.ok(&[
        "share",
        "policy",
        "abroad",
        "--max-tlp",
        "AMBER",
        "--redact",
        "source.ip=pseudonymise",
        "--redact",
        "source.fqdn=drop",
    ]);
    let text = node.ok(&["share", "export", "--peer", "abroad"]);
    let events = node.json(&["events", "--format", "json", "--limit", "0"]);
    let mut checked = 0;
    for e in events.as_array().unwrap() {
        for field in ["source.ip", "source.fqdn"] {
            if let Some(v) = e[field].as_str() {
                assert!(
                    !text.contains(&format!("'{v}'")) && !text.contains(&format!("\"{v}\"")),
                    "{field} {v} leaked"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 100);
    assert!(text.contains(".pseudonym.invalid"));
    let path = node.write_file("export-abroad.json", &serde_json::from_str(&text).unwrap());
    validate(&path);
    // A report over the events (an incident) is valid too.
    let report: Value = serde_json::from_str(&node.ok(&[
        "share",
        "export",
        "--max-tlp",
        "AMBER",
        "--report",
        "Incident 42",
        "--limit",
        "20",
    ]))
    .unwrap();
    assert!(
        report["objects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["type"] == "report")
    );
    validate(&node.write_file("report.json", &report));
}

#[test]
fn an_incident_exports_as_a_valid_report_of_its_own_events() {
    let node = ingested();
    // Ingest grouped the events into incidents; take the largest.
    let incidents = node.json(&["incidents", "--limit", "1000"]);
    let incident = incidents
        .as_array()
        .unwrap()
        .iter()
        .max_by_key(|i| i["event_count"].as_u64().unwrap_or(0))
        .expect("the fixture makes incidents")
        .clone();
    let id = incident["id"].as_i64().unwrap().to_string();
    let bundle: Value = serde_json::from_str(&node.ok(&[
        "share",
        "export",
        "--incident",
        &id,
        "--max-tlp",
        "AMBER+STRICT",
    ]))
    .unwrap();
    validate(&node.write_file("incident.json", &bundle));
    let objects = bundle["objects"].as_array().unwrap();
    let reports: Vec<&Value> = objects.iter().filter(|o| o["type"] == "report").collect();
    assert_eq!(reports.len(), 1, "one report for the incident");
    let report = reports[0];
    assert!(
        report["name"]
            .as_str()
            .unwrap()
            .contains(&format!("Incident {id}")),
        "{report}"
    );
    // Who the victim is never leaves the node.
    let constituent = incident["constituent"].as_str().unwrap();
    assert!(
        !bundle.to_string().contains(constituent),
        "the constituent {constituent} appears in the export"
    );
    // The report refers only to objects in the bundle, and to one indicator per event at least.
    let refs = report["object_refs"].as_array().unwrap();
    let ids: Vec<&str> = objects.iter().filter_map(|o| o["id"].as_str()).collect();
    assert!(refs.iter().all(|r| ids.contains(&r.as_str().unwrap())));
    let indicators = objects.iter().filter(|o| o["type"] == "indicator").count();
    assert!(indicators > 0);
    assert!(indicators as u64 <= incident["event_count"].as_u64().unwrap());
    // An unknown incident is refused with its number.
    let out = node.run(&["share", "export", "--incident", "999999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("999999"));
}

#[test]
fn hostile_bundles_are_refused_whole() {
    let node = Node::new("CERT Test");
    let good = indicator(0xc, 1, GREEN);
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "bad id",
            json!({"id": "indicator--123"}),
            "object 1 (indicator--123): id",
        ),
        (
            "bad timestamp",
            json!({"modified": "next tuesday"}),
            "modified",
        ),
        (
            "unknown type",
            json!({"type": "evil-thing", "id": "evil-thing--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}),
            "type",
        ),
        (
            "reference to nothing",
            json!({"created_by_ref": "nothing"}),
            "created_by_ref",
        ),
        (
            "huge pattern",
            json!({"pattern": format!("[url:value = '{}']", "a".repeat(20_000))}),
            "pattern",
        ),
    ];
    for (what, patch, expected) in cases {
        let mut bad = indicator(0xc, 2, GREEN);
        for (k, v) in patch.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let file = node.write_file("hostile.json", &bundle(vec![good.clone(), bad]));
        let out = node.run(&["share", "import", file.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(
            err.contains(expected) && err.contains("nothing stored"),
            "{what}: {err}"
        );
        assert!(node.objects().is_empty(), "{what}: something was stored");
    }
    // A relationship to nothing (neither in the bundle nor on the node) is refused too.
    let dangling = json!({"type": "relationship", "spec_version": "2.1", "id": format!("relationship--{}", uuid_from(0xc, 5)),
        "created": "2026-11-23T10:00:00.000Z", "modified": "2026-11-23T10:00:00.000Z", "relationship_type": "indicates",
        "source_ref": good["id"], "target_ref": format!("malware--{}", uuid_from(0xc, 6))});
    let file = node.write_file("dangling.json", &bundle(vec![good.clone(), dangling]));
    let out = node.run(&["share", "import", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("object 1")
            && err.contains("target_ref")
            && err.contains("neither in this request"),
        "{err}"
    );
    assert!(node.objects().is_empty());
    // Nesting and size limits hold before parsing.
    let deep = format!(
        "{{\"objects\": [{}{}]}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let path = node.dir.path().join("deep.json");
    std::fs::write(&path, deep).unwrap();
    let out = node.run(&["share", "import", path.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nested deeper"));
    node.ok(&["share", "settings", "--max-body-bytes", "1000"]);
    let file = node.write_file(
        "big.json",
        &bundle((0..20).map(|n| indicator(0xc, n, GREEN)).collect()),
    );
    let out = node.run(&["share", "import", file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("over the limit"));
    assert!(node.objects().is_empty());
    // And the same bundle, once allowed, goes in whole; a second import adds nothing.
    node.ok(&["share", "settings", "--max-body-bytes", "1000000"]);
    let first = node.json(&["share", "import", file.to_str().unwrap()]);
    assert_eq!(first["added"], 20);
    let again = node.json(&["share", "import", file.to_str().unwrap()]);
    assert_eq!(
        (again["added"].as_u64(), again["already_present"].as_u64()),
        (Some(0), Some(20))
    );
}
