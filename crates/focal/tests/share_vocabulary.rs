//! The wider STIX vocabulary through the real binary: several TAXII API roots, one per trust
//! community, each with its own collections and rights (over HTTP against `focal serve`); STIX
//! 2.0 bundles and bare objects through `focal share import`, the conversion shown by
//! `focal share show`; patterns checked on TAXII POST.

mod sharing;

use serde_json::{Value, json};
use sharing::*;

fn get(url: &str, user: &str, password: &str) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .get(url)
        .basic_auth(user, Some(password))
        .header("Accept", "application/taxii+json;version=2.1")
        .send()
        .expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn post(url: &str, user: &str, password: &str, body: &Value) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .post(url)
        .basic_auth(user, Some(password))
        .header("Accept", "application/taxii+json;version=2.1")
        .header("Content-Type", "application/taxii+json;version=2.1")
        .body(body.to_string())
        .send()
        .expect("the server answers");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

#[test]
fn each_trust_community_has_its_own_api_root_collections_and_rights() {
    let node = Node::new("CERT Roots");
    let out = node.run(&[
        "share",
        "collection",
        "c-isac",
        "--title",
        "ISAC",
        "--api-root",
        "isac",
    ]);
    assert!(
        !out.status.success(),
        "a collection under a root that does not exist"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no API root \"isac\""));
    node.ok(&[
        "share",
        "api-root",
        "isac",
        "--title",
        "Energy ISAC",
        "--description",
        "the energy sector's community",
    ]);
    node.ok(&[
        "share",
        "collection",
        "c-isac",
        "--title",
        "ISAC indicators",
        "--alias",
        "isac-shared",
        "--api-root",
        "isac",
    ]);
    let out = node.run(&["share", "api-root", "Bad Name", "--title", "x"]);
    assert!(!out.status.success());
    // Changing a collection's title leaves it in its root.
    node.ok(&[
        "share",
        "collection",
        "c-isac",
        "--title",
        "ISAC indicators",
        "--alias",
        "isac-shared",
    ]);
    let roots = node.json(&["share", "api-roots"]);
    assert_eq!(roots[0]["name"], "root", "the default root first: {roots}");
    assert_eq!(roots[1]["name"], "isac");
    assert_eq!(roots[1]["collections"][0]["id"], "c-isac");
    node.ok(&[
        "users",
        "add",
        "member",
        "--role",
        "peer",
        "--password",
        "member-pass",
        "--read",
        "isac-shared",
        "--write",
        "isac-shared",
    ]);
    node.ok(&[
        "users",
        "add",
        "outsider",
        "--role",
        "peer",
        "--password",
        "outsider-pass",
    ]);
    let server = node.serve();
    let base = format!("http://{}", server.addr);

    // Discovery lists the community's root to its member only; the default root to both.
    let (status, d) = get(&format!("{base}/taxii2/"), "member", "member-pass");
    assert_eq!(status, 200);
    assert_eq!(
        d["api_roots"],
        json!([
            format!("{base}/taxii2/root/"),
            format!("{base}/taxii2/isac/")
        ])
    );
    let (_, d) = get(&format!("{base}/taxii2/"), "outsider", "outsider-pass");
    assert_eq!(d["api_roots"], json!([format!("{base}/taxii2/root/")]));
    let (status, info) = get(&format!("{base}/taxii2/isac/"), "member", "member-pass");
    assert_eq!((status, info["title"].as_str()), (200, Some("Energy ISAC")));
    assert_eq!(
        get(&format!("{base}/taxii2/isac/"), "outsider", "outsider-pass").0,
        404
    );
    assert_eq!(
        get(&format!("{base}/taxii2/nowhere/"), "member", "member-pass").0,
        404
    );

    // Each root has its own collections; a collection answers only under its own root.
    let (_, cols) = get(
        &format!("{base}/taxii2/isac/collections/"),
        "member",
        "member-pass",
    );
    let ids: Vec<&str> = cols["collections"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["c-isac"]);
    assert_eq!(
        get(
            &format!("{base}/taxii2/root/collections/c-isac/"),
            "member",
            "member-pass"
        )
        .0,
        404
    );
    let (_, cols) = get(
        &format!("{base}/taxii2/root/collections/"),
        "outsider",
        "outsider-pass",
    );
    assert!(
        cols["collections"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["id"] != "c-isac"),
        "{cols}"
    );
    assert_eq!(
        get(
            &format!("{base}/taxii2/isac/collections/c-isac/objects/"),
            "outsider",
            "outsider-pass"
        )
        .0,
        404
    );

    // The member writes and reads its community's collection; patterns are checked on POST.
    let objects_url = format!("{base}/taxii2/isac/collections/c-isac/objects/");
    let good = indicator(0x15ac, 1, GREEN);
    let (status, st) = post(
        &objects_url,
        "member",
        "member-pass",
        &json!({"objects": [good.clone()]}),
    );
    assert_eq!(
        (status, st["success_count"].as_u64()),
        (202, Some(1)),
        "{st}"
    );
    let (_, page) = get(&objects_url, "member", "member-pass");
    assert_eq!(page["objects"][0]["id"], good["id"]);
    let mut bad = indicator(0x15ac, 2, GREEN);
    bad["pattern"] = json!("[ipv4-addr:value = ]");
    let (status, err) = post(
        &objects_url,
        "member",
        "member-pass",
        &json!({"objects": [indicator(0x15ac, 3, GREEN), bad]}),
    );
    assert_eq!(status, 422, "{err}");
    assert_eq!(
        (
            err["details"]["index"].as_u64(),
            err["details"]["field"].as_str()
        ),
        (Some(1), Some("pattern")),
        "{err}"
    );
    // TAXII 2.1 carries STIX 2.1: a 2.0 bundle is refused there (the CLI converts it).
    let old = json!({"type": "bundle", "id": format!("bundle--{}", uuid_from(0x20, 1)), "spec_version": "2.0", "objects": []});
    assert_eq!(post(&objects_url, "member", "member-pass", &old).0, 400);
    let (_, page) = get(&objects_url, "member", "member-pass");
    assert_eq!(
        page["objects"].as_array().unwrap().len(),
        1,
        "nothing of the refused posts was stored"
    );
}

/// The STIX 2.0 example "indicator-to-campaign-relationship" of the OASIS stix2-validator
/// (its 2.0 example folder), as a fact to import.
fn stix20_bundle() -> Value {
    json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "spec_version": "2.0", "objects": [
        {"type": "indicator", "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
         "created": "2016-04-06T20:03:48.000Z", "modified": "2016-04-06T20:03:48.000Z", "labels": ["malicious-activity"],
         "name": "Poison Ivy Malware", "description": "This file is part of Poison Ivy",
         "pattern": "[ file:hashes.'SHA-256' = '4bac27393bdd9777ce02453256c5577cd02275510b2227f473d03f533924f877' ]",
         "valid_from": "2016-01-01T00:00:00Z"},
        {"type": "campaign", "id": "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
         "created": "2016-04-06T20:03:00Z", "modified": "2016-04-06T20:03:00Z", "name": "Green Group Attacks Against Finance",
         "description": "Campaign by Green Group against a series of targets in the financial services sector."},
        {"type": "relationship", "id": "relationship--44298a74-ba52-4f0c-87a3-1824e67d7fad", "created_by_ref": "identity--f431f809-377b-45e0-aa1c-6a4751cae5ff",
         "created": "2016-04-06T20:06:37.000Z", "modified": "2016-04-06T20:06:37.000Z", "relationship_type": "indicates",
         "source_ref": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", "target_ref": "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}
    ]})
}

#[test]
fn stix_2_0_bundles_and_bare_objects_import_and_the_conversion_is_kept() {
    let node = Node::new("CERT Old");
    let file = node.write_file("old.json", &stix20_bundle());
    let out = node.json(&["share", "import", file.to_str().unwrap()]);
    assert_eq!(
        (
            out["added"].as_u64(),
            out["converted_from_stix_2_0"].as_u64()
        ),
        (Some(3), Some(3)),
        "{out}"
    );
    let shown = node.json(&[
        "share",
        "show",
        "campaign--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    ]);
    let campaign = &shown[0];
    assert_eq!(campaign["object"]["spec_version"], "2.1");
    // 2.1 wants milliseconds in created and modified.
    assert_eq!(campaign["object"]["created"], "2016-04-06T20:03:00.000Z");
    assert_eq!(campaign["conversion"]["from"], "2.0");
    assert_eq!(
        campaign["conversion"]["original"],
        stix20_bundle()["objects"][1]
    );
    let indicator = &node.json(&[
        "share",
        "show",
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    ])[0]["object"];
    assert_eq!(indicator["indicator_types"], json!(["malicious-activity"]));
    assert_eq!(indicator["pattern_type"], "stix");
    assert!(indicator.get("labels").is_none());
    let text = node.ok(&[
        "share",
        "show",
        "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    ]);
    assert!(
        text.contains("converted from STIX 2.0") && text.contains("labels → indicator_types"),
        "{text}"
    );
    // Importing it again stores nothing new.
    let again = node.json(&["share", "import", file.to_str().unwrap()]);
    assert_eq!(
        (again["added"].as_u64(), again["already_present"].as_u64()),
        (Some(0), Some(3)),
        "{again}"
    );

    // A bare STIX 2.1 object (the OASIS "interop-objectmarking-test" shape) is a document too.
    let bare = json!({"type": "campaign", "spec_version": "2.1", "id": format!("campaign--{}", uuid_from(0xba, 1)),
        "created": "2016-05-12T08:17:27.000Z", "modified": "2016-05-12T08:17:27.000Z", "name": "Spear Phishing"});
    let file = node.write_file("bare.json", &bare);
    let out = node.json(&["share", "import", file.to_str().unwrap()]);
    assert_eq!(
        (
            out["added"].as_u64(),
            out["converted_from_stix_2_0"].as_u64()
        ),
        (Some(1), Some(0)),
        "{out}"
    );
    let shown = node.json(&["share", "show", bare["id"].as_str().unwrap()]);
    assert_eq!(shown[0]["object"], bare);
    assert!(shown[0]["conversion"].is_null());
    // A 2.0 object that cannot be stepped is refused with its index and field.
    let mut broken = stix20_bundle();
    broken["objects"][0]["pattern"] = json!("[file:name = ");
    let file = node.write_file("broken.json", &broken);
    let out = node.run(&["share", "import", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("object 0") && err.contains("STIX 2.0 → 2.1"),
        "{err}"
    );
}
