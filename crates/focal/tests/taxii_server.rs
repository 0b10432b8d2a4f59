//! The OASIS taxii2-client library against a real `focal serve` on loopback: discovery,
//! collections, paging with added_after, reading, adding, refusals (see
//! tests/taxii/taxii2_client_check.py).

mod sharing;

use sharing::*;
use std::process::Command;

#[test]
fn taxii2_client_discovers_pages_and_adds() {
    let node = Node::new("Node A");
    let mut objects: Vec<_> = (0..30).map(|n| indicator(0xa, n, GREEN)).collect();
    let red = indicator(0xa, 999, RED);
    let red_id = red["id"].as_str().unwrap().to_string();
    objects.insert(3, red);
    let file = node.write_file("seed.json", &bundle(objects.clone()));
    node.ok(&["share", "import", file.to_str().unwrap()]);
    node.ok(&[
        "users",
        "add",
        "reader",
        "--role",
        "peer",
        "--password",
        "reader-pass",
    ]);
    node.ok(&[
        "users",
        "add",
        "writer",
        "--role",
        "peer",
        "--password",
        "writer-pass",
        "--read",
        "shared",
        "--write",
        "shared",
    ]);
    let token = node.json(&["users", "token", "reader"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let expected: Vec<&str> = objects
        .iter()
        .filter_map(|o| o["id"].as_str())
        .filter(|id| *id != red_id)
        .collect();
    let expected_file = node.write_file("expected.json", &serde_json::json!(expected));

    // A small body limit, so the oversized-request check stays small.
    node.ok(&["share", "settings", "--max-body-bytes", "200000"]);
    let server = node.serve();
    let out = Command::new(focal_testkit::pytool("python"))
        .arg(repo().join("tests/taxii/taxii2_client_check.py"))
        .args([
            &server.discovery(),
            "reader",
            "reader-pass",
            "writer",
            "writer-pass",
        ])
        .arg(&expected_file)
        .arg(&red_id)
        .arg(&token)
        .output()
        .expect("running the taxii2-client script");
    assert!(
        out.status.success(),
        "taxii2-client checks failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    assert_eq!(seen["objects"], 30, "{seen}");
    // 30 visible objects in pages of 8 (8, 8, 8, 6): the withheld RED one does not shorten the
    // first page, which taxii2-client would take as the server's page size.
    assert_eq!(seen["pages"], 4, "{seen}");
    drop(server);

    // The three added objects are stored with the writer as their origin; the refused
    // envelope left nothing; the RED object is still there, only never served.
    let stored = node.objects();
    let added: Vec<&str> = seen["added"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    for id in &added {
        let row = stored
            .iter()
            .find(|o| o["id"] == *id)
            .unwrap_or_else(|| panic!("{id} not stored"));
        assert_eq!(row["origin"], "writer");
    }
    // 31 seeded, 3 added, 1 of them deleted.
    assert_eq!(stored.len(), 31 + 2);
    assert!(!stored.iter().any(|o| o["id"] == seen["deleted"]));
    assert!(stored.iter().any(|o| o["id"] == red_id.as_str()));
}
