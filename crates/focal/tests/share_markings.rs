//! Markings fail closed, through the real binary and `focal serve`: custom marking-definitions
//! that say TLP:RED in their body (`definition_type: "tlp"`, OpenCTI's `"TLP"` type, a statement
//! naming TLP:RED), markings of an unknown kind and references to definitions the node does not
//! hold make an object TLP:RED for sharing: kept, never served to a reader cleared for AMBER,
//! and counted in `/metrics`. Markings Focal understands are relayed unchanged.

mod sharing;

use serde_json::{Value, json};
use sharing::*;

fn get(url: &str, user: &str, password: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::new()
        .get(url)
        .basic_auth(user, Some(password))
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .expect("the server answers")
}

fn marking(n: u32, name: &str, definition_type: &str, definition: Value) -> Value {
    json!({
        "type": "marking-definition", "spec_version": "2.1",
        "id": format!("marking-definition--{}", uuid_from(0x3a, n)),
        "created": "2026-11-01T00:00:00.000Z", "name": name,
        "definition_type": definition_type, "definition": definition,
    })
}

#[test]
fn a_marking_that_says_red_in_its_body_or_cannot_be_read_is_never_served() {
    let node = Node::new("CERT Marks");
    let red_tlp = marking(1, "custom red", "tlp", json!({"tlp": "red"}));
    let red_opencti = marking(2, "TLP:RED", "TLP", json!({"TLP": "TLP:RED"}));
    let red_statement = marking(
        3,
        "internal",
        "statement",
        json!({"statement": "TLP:RED - for the named recipients only"}),
    );
    let pap = marking(4, "PAP:RED", "PAP", json!({"PAP": "PAP:RED"}));
    let cases_pap_marking = pap.clone();
    let amber_statement = marking(
        5,
        "TLP:AMBER",
        "statement",
        json!({"statement": "TLP:AMBER"}),
    );
    let copyright = marking(
        6,
        "copyright",
        "statement",
        json!({"statement": "Copyright 2026, Example CERT"}),
    );
    let missing = format!("marking-definition--{}", uuid_from(0x3a, 99));
    let id = |m: &Value| m["id"].as_str().unwrap().to_string();
    // (indicator, must it reach an AMBER-cleared reader?)
    let cases = [
        (indicator(0x3b, 1, &id(&red_tlp)), false),
        (indicator(0x3b, 2, &id(&red_opencti)), false),
        (indicator(0x3b, 3, &id(&red_statement)), false),
        (indicator(0x3b, 4, &id(&pap)), false),
        (indicator(0x3b, 5, &missing), false),
        (indicator(0x3b, 6, &id(&amber_statement)), true),
        (indicator(0x3b, 7, AMBER), true),
        (indicator(0x3b, 8, &id(&copyright)), true),
    ];
    let mut objects = vec![
        red_tlp,
        red_opencti,
        red_statement,
        pap,
        amber_statement,
        copyright,
    ];
    objects.extend(cases.iter().map(|c| c.0.clone()));
    let file = node.write_file("marked.json", &bundle(objects));
    node.ok(&["share", "import", file.to_str().unwrap()]);

    // Kept and visible to staff, as TLP:RED.
    let stored = node.objects();
    for (i, served) in &cases {
        let row = stored
            .iter()
            .find(|o| o["id"] == i["id"])
            .unwrap_or_else(|| panic!("{} was not kept: {stored:?}", i["id"]));
        if !served {
            assert_eq!(row["tlp"], "RED", "{row}");
        }
    }

    // `share show` says why an object is held back.
    let shown = node.json(&["share", "show", cases[3].0["id"].as_str().unwrap()]);
    assert_eq!(
        shown[0]["uninterpreted_markings"],
        json!([id(&cases_pap_marking)])
    );

    node.ok(&[
        "users",
        "add",
        "reader",
        "--role",
        "peer",
        "--password",
        "reader-pass",
        "--read",
        "shared",
    ]);
    node.ok(&["share", "policy", "reader", "--max-tlp", "AMBER"]);
    node.ok(&[
        "users",
        "add",
        "boss",
        "--role",
        "admin",
        "--password",
        "boss-pass-long-enough",
    ]);
    let server = node.serve();
    let url = format!(
        "{}collections/shared/objects/?limit=1000",
        server.api_root()
    );
    let resp = get(&url, "reader", "reader-pass");
    assert_eq!(resp.status(), 200);
    let envelope: Value = resp.json().unwrap();
    let served: Vec<&Value> = envelope["objects"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    for (i, must) in &cases {
        let got = served.iter().find(|o| o["id"] == i["id"]);
        assert_eq!(
            got.is_some(),
            *must,
            "{} (markings {}): served {}",
            i["id"],
            i["object_marking_refs"],
            got.is_some()
        );
        // Relayed unchanged: the received marking references, not a rewritten TLP.
        if let Some(o) = got {
            assert_eq!(o["object_marking_refs"], i["object_marking_refs"]);
        }
    }

    // Counted in /metrics: the objects with a marking Focal could not interpret (PAP, and a
    // definition the node does not hold); the RED ones were interpreted, as RED.
    let token = node.json(&["users", "token", "boss"])["token"]
        .as_str()
        .expect("a token")
        .to_string();
    let resp = reqwest::blocking::Client::new()
        .get(format!("http://{}/metrics", server.addr))
        .bearer_auth(token)
        .send()
        .expect("the server answers");
    assert_eq!(resp.status(), 200);
    let text = resp.text().unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("focal_sharing_objects_uninterpreted_markings "))
        .unwrap_or_else(|| panic!("no gauge in /metrics:\n{text}"));
    assert_eq!(line, "focal_sharing_objects_uninterpreted_markings 2");
}

/// A GREEN reader paging a collection that is mostly AMBER gets full pages: what it may see is
/// selected in SQL, not filtered out of pages afterwards.
#[test]
fn a_filtered_reader_gets_full_pages() {
    let node = Node::new("CERT Pages");
    let mut objects = Vec::new();
    for n in 0..420u32 {
        let marking = if n % 21 == 0 { GREEN } else { AMBER };
        objects.push(indicator(0x3c, n, marking));
    }
    let file = node.write_file("mostly-amber.json", &bundle(objects));
    node.ok(&["share", "settings", "--max-objects", "10000"]);
    node.ok(&["share", "import", file.to_str().unwrap()]);
    node.ok(&[
        "users",
        "add",
        "green",
        "--role",
        "peer",
        "--password",
        "green-pass",
        "--read",
        "shared",
    ]);
    let server = node.serve();
    let base = format!("{}collections/shared/objects/?limit=7", server.api_root());
    let mut sizes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let url = match &next {
            Some(n) => format!("{base}&next={n}"),
            None => base.clone(),
        };
        let resp = get(&url, "green", "green-pass");
        assert_eq!(resp.status(), 200);
        let envelope: Value = resp.json().unwrap();
        sizes.push(envelope["objects"].as_array().map_or(0, Vec::len));
        match (envelope["more"].as_bool(), envelope["next"].as_str()) {
            (Some(true), Some(n)) => next = Some(n.to_string()),
            _ => break,
        }
        assert!(sizes.len() < 100, "paging does not end: {sizes:?}");
    }
    assert_eq!(sizes.iter().sum::<usize>(), 20, "{sizes:?}");
    assert_eq!(sizes, vec![7, 7, 6], "every page but the last is full");
}
