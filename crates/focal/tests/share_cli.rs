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
            // Issue 12: accepted with 202, stored and relayed before patterns were parsed.
            "pattern outside the grammar",
            json!({"pattern": "[ipv4-addr:value = ]"}),
            "pattern: not a STIX 2.1 pattern: at character 19",
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

#[test]
fn each_node_has_its_own_identity_and_collection_and_nothing_is_dated_1970() {
    let node = ingested();
    // Same name, another organisation: not the same identity or collection.
    let other = Node::new("CERT Test");
    let (mine, theirs) = (
        node.json(&["share", "settings"]),
        other.json(&["share", "settings"]),
    );
    assert_ne!(mine["identity"], theirs["identity"]);
    assert!(
        mine["identity_created"].as_str().unwrap() > "2026",
        "{mine}"
    );
    let shared_id = |n: &Node| {
        let roots = n.json(&["share", "api-roots"]);
        roots[0]["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["alias"] == "shared")
            .map(|c| c["id"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("no shared collection: {roots}"))
    };
    let (a, b) = (shared_id(&node), shared_id(&other));
    assert_ne!(a, b, "two nodes with one default collection id");
    assert_ne!(a, "2a6e53e9-5c0e-4f0f-9d5b-6f3c1f0b7a11");

    // The contact comes from the settings and versions the identity.
    node.ok(&["share", "settings", "--contact", "cert@example.org"]);
    let bundle: Value =
        serde_json::from_str(&node.ok(&["share", "export", "--max-tlp", "AMBER"])).unwrap();
    let objects = bundle["objects"].as_array().unwrap();
    assert!(
        objects.iter().any(|o| o["type"] == "malware"),
        "no malware object to check"
    );
    for o in objects {
        for k in ["created", "modified"] {
            if let Some(t) = o[k].as_str() {
                assert!(!t.starts_with("1970"), "{k} of {} is {t}", o["id"]);
            }
        }
    }
    let identity = objects
        .iter()
        .find(|o| o["id"] == mine["identity"])
        .expect("the node identity is exported");
    assert_eq!(identity["contact_information"], "cert@example.org");
    assert!(identity["modified"].as_str() > identity["created"].as_str());

    // `users grant` changes exactly the rights it names.
    node.ok(&[
        "users",
        "add",
        "p",
        "--role",
        "peer",
        "--password",
        "peer-pass",
    ]);
    let rights = |args: &[&str]| {
        let mut a = vec!["users", "grant", "p", "--collection", "shared"];
        a.extend_from_slice(args);
        let v = node.json(&a);
        (
            v["rights"]["can_read"].as_bool().unwrap(),
            v["rights"]["can_write"].as_bool().unwrap(),
        )
    };
    assert_eq!(rights(&["--write"]), (true, true), "--write removed read");
    assert_eq!(rights(&["--no-read"]), (false, true));
    assert_eq!(rights(&["--read", "--no-write"]), (true, false));
    let out = node.run(&["users", "grant", "p", "--collection", "shared"]);
    assert!(!out.status.success(), "a grant that names no right");
}

/// Object versions stored (every collection) and events on a node.
fn counts(node: &Node) -> (usize, u64) {
    (
        node.objects().len(),
        node.json(&["stats"])["events"]
            .as_u64()
            .expect("an event count"),
    )
}

#[test]
fn exchange_is_idempotent_and_a_node_knows_its_own_objects() {
    let a = ingested();
    a.ok(&["share", "publish"]);
    let published = counts(&a);
    assert!(
        a.objects().iter().any(|o| o["type"] == "ipv4-addr"),
        "no observables to check"
    );
    // Publishing again re-adds nothing, observables included.
    a.ok(&["share", "publish"]);
    assert_eq!(counts(&a), published, "a second publish stored something");

    // The node's own export, imported back: no new events (and nothing new stored).
    let export = a.ok(&["share", "export", "--max-tlp", "AMBER"]);
    let file = a.write_file("own.json", &serde_json::from_str(&export).unwrap());
    a.ok(&["share", "import", file.to_str().unwrap()]);
    let after_own = counts(&a);
    assert_eq!(after_own.1, published.1, "its own export made events");

    // Another node imports the same file twice: the second time stores nothing.
    let b = Node::new("CERT Other");
    b.ok(&[
        "share",
        "import",
        "--peer",
        "node-a",
        file.to_str().unwrap(),
    ]);
    let once = counts(&b);
    assert!(once.0 > 0);
    b.ok(&[
        "share",
        "import",
        "--peer",
        "node-a",
        file.to_str().unwrap(),
    ]);
    assert_eq!(counts(&b), once, "a re-import stored something");

    // A real pull, twice, with a publish in between: the second round stores nothing.
    a.ok(&[
        "users",
        "add",
        "node-c",
        "--role",
        "peer",
        "--password",
        "federation-pass",
        "--read",
        "shared",
    ]);
    a.ok(&["share", "policy", "node-c", "--max-tlp", "AMBER"]);
    let server = a.serve();
    let c = Node::new("CERT Third");
    let url = server.api_root();
    c.ok(&[
        "peers",
        "add",
        "node-a",
        "--url",
        &url,
        "--collection",
        "shared",
        "--user",
        "node-c",
        "--password",
        "federation-pass",
        "--pull",
    ]);
    c.ok(&["peers", "sync"]);
    let first = counts(&c);
    assert!(first.0 > 0, "nothing pulled");
    a.ok(&["share", "publish"]);
    c.ok(&["peers", "sync"]);
    assert_eq!(counts(&c), first, "the second pull stored something");
}

/// A node whose events are GREEN, AMBER and RED (the same feed under three TLPs: observables
/// such as a sinkhole address and malware families are shared across them).
fn mixed_tlp() -> Node {
    let node = Node::new("CERT Mixed");
    let bytes = std::fs::read(fixture("feed.csv")).unwrap();
    let lines: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
    let def = std::fs::read_to_string(repo().join("bench/reference-feed.toml")).unwrap();
    for (i, tlp) in ["GREEN", "AMBER", "RED"].iter().enumerate() {
        let feed_def = def
            .replace(
                "name = \"reference-drones\"",
                &format!("name = \"drones-{i}\""),
            )
            .replace("tlp = \"AMBER\"", &format!("tlp = \"{tlp}\""));
        let def_path = node.dir.path().join(format!("feed-{i}.toml"));
        std::fs::write(&def_path, feed_def).unwrap();
        let mut part: Vec<u8> = lines[0].to_vec();
        for l in lines.iter().skip(1 + i * 150).take(150) {
            part.extend_from_slice(l);
        }
        let feed = node.dir.path().join(format!("feed-{i}.csv"));
        std::fs::write(&feed, part).unwrap();
        node.ok(&[
            "ingest",
            "--feed",
            def_path.to_str().unwrap(),
            "--asn",
            &fixture("asn-ipv4.csv"),
            feed.to_str().unwrap(),
        ]);
    }
    node
}

#[test]
fn a_green_node_pulls_every_page_from_a_mixed_tlp_node_and_holds_no_dangling_reference() {
    let a = mixed_tlp();
    a.ok(&["share", "publish"]);
    a.ok(&[
        "users",
        "add",
        "node-b",
        "--role",
        "peer",
        "--password",
        "federation-pass",
        "--read",
        "shared",
    ]);
    a.ok(&["share", "policy", "node-b", "--max-tlp", "GREEN"]);
    let server = a.serve();
    let b = Node::new("CERT New");
    let url = server.api_root();
    b.ok(&[
        "peers",
        "add",
        "node-a",
        "--url",
        &url,
        "--collection",
        "shared",
        "--user",
        "node-b",
        "--password",
        "federation-pass",
        "--pull",
    ]);
    // Every page: a dangling reference would stop the pull with "neither in this request nor
    // in this collection".
    b.ok(&["peers", "sync"]);
    let status = b.json(&["peers", "status"]);
    assert!(status[0]["last_error"].is_null(), "{status}");
    let held = b.json(&["share", "list", "--limit", "1000000", "--bodies"]);
    let objects: Vec<Value> = held
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["object"].clone())
        .collect();
    assert!(
        objects.iter().any(|o| o["type"] == "relationship")
            && objects.iter().any(|o| o["type"] == "observed-data"),
        "the GREEN events' relationships and observed-data arrive"
    );
    for o in &objects {
        let tlp = stix_tlp(o);
        assert!(
            tlp.is_none_or(|t| t == "CLEAR" || t == "GREEN"),
            "{} above GREEN: {o}",
            o["id"]
        );
    }
    // The OASIS validator, resolving every reference within what B holds.
    let path = b.write_file("held.json", &bundle(objects));
    let out = Command::new(focal_testkit::pytool("stix2_validator"))
        .args(["--version", "2.1", "--enforce-refs"])
        .arg(&path)
        .output()
        .expect("stix2_validator runs");
    let text = String::from_utf8_lossy(&out.stdout);
    // --enforce-refs reports a relationship's missing endpoint as a warning, not an error.
    assert!(
        !text.contains("[X]") && !text.contains("enforce-relationship-refs"),
        "what B holds does not validate with --enforce-refs:\n{text}"
    );
    // A second round moves nothing.
    let before = b.objects().len();
    b.ok(&["peers", "sync"]);
    assert_eq!(b.objects().len(), before);
}

fn stix_tlp(o: &Value) -> Option<&'static str> {
    let refs = o["object_marking_refs"].as_array()?;
    let names = [
        (GREEN, "GREEN"),
        (AMBER, "AMBER"),
        (RED, "RED"),
        (
            "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487",
            "CLEAR",
        ),
        (
            "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003",
            "AMBER+STRICT",
        ),
    ];
    refs.iter()
        .filter_map(|r| names.iter().find(|n| r == n.0).map(|n| n.1))
        .max_by_key(|n| {
            ["CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"]
                .iter()
                .position(|x| x == n)
        })
}

/// The public catalogue objects (the node's identity and the malware families it names) are
/// TLP:CLEAR unless the node says otherwise (issue 12, item 1); a change makes new versions of
/// them, so peers replace what they hold, and a reader below the new TLP no longer gets them.
#[test]
fn catalogue_objects_are_clear_unless_configured() {
    const CLEAR: &str = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
    let node = ingested();
    let export = |tlp: &str| -> Vec<Value> {
        let bundle: Value =
            serde_json::from_str(&node.ok(&["share", "export", "--max-tlp", tlp])).unwrap();
        bundle["objects"].as_array().unwrap().clone()
    };
    let catalogue = |objects: &[Value]| -> Vec<Value> {
        objects
            .iter()
            .filter(|o| o["type"] == "malware" || o["type"] == "identity")
            .cloned()
            .collect()
    };
    let before = catalogue(&export("AMBER"));
    assert!(
        before.iter().any(|o| o["type"] == "malware"),
        "the fixture names malware families"
    );
    assert!(
        before.iter().all(|o| tlp_of(o) == Some(CLEAR)),
        "{before:?}"
    );
    assert_eq!(catalogue(&export("CLEAR")).len(), before.len());
    assert_eq!(node.json(&["share", "settings"])["catalogue_tlp"], "CLEAR");

    node.ok(&["share", "settings", "--catalogue-tlp", "GREEN"]);
    assert_eq!(node.json(&["share", "settings"])["catalogue_tlp"], "GREEN");
    let after = catalogue(&export("AMBER"));
    assert_eq!(after.len(), before.len());
    for o in &after {
        assert_eq!(tlp_of(o), Some(GREEN), "{o}");
        let old = before.iter().find(|b| b["id"] == o["id"]).unwrap();
        assert!(
            o["modified"].as_str() > old["modified"].as_str(),
            "a new version of {}",
            o["id"]
        );
    }
    assert!(
        catalogue(&export("CLEAR")).is_empty(),
        "a CLEAR reader no longer gets them"
    );
    let green = json!({"type": "bundle", "id": "bundle--5d2f6f6e-1111-4c3b-9d7e-000000000001", "objects": export("GREEN")});
    validate(&node.write_file("export-catalogue-green.json", &green));

    // Never higher than AMBER: everything the node shares refers to its identity.
    let out = node.run(&["share", "settings", "--catalogue-tlp", "RED"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("catalogue_tlp"), "{err}");
    assert_eq!(node.json(&["share", "settings"])["catalogue_tlp"], "GREEN");
}
