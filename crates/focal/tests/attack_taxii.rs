//! The TAXII write failures of issue 11, replayed against a real `focal serve` (each passed for
//! the attacker on the code before the fix):
//!
//! - A peer with write rights could probe for and delete objects it may not read: GET answered
//!   404 and DELETE 200 on the id of a TLP:RED object, unaudited.
//! - Two objects with one id (and version) in one request were both reported as successes,
//!   though only one could be stored.
//! - TAXII POST and DELETE left nothing in the audit log.

mod sharing;

use reqwest::blocking::{Client, Response};
use serde_json::{Value, json};
use sharing::*;

const TAXII: &str = "application/taxii+json;version=2.1";

fn client() -> Client {
    Client::builder().build().unwrap()
}

struct Peer<'a> {
    api_root: String,
    name: &'a str,
    password: &'a str,
}

impl Peer<'_> {
    fn get(&self, path: &str) -> Response {
        client()
            .get(format!("{}{path}", self.api_root))
            .header("accept", TAXII)
            .basic_auth(self.name, Some(self.password))
            .send()
            .unwrap()
    }
    fn delete(&self, collection: &str, id: &str) -> Response {
        client()
            .delete(format!(
                "{}collections/{collection}/objects/{id}/",
                self.api_root
            ))
            .header("accept", TAXII)
            .basic_auth(self.name, Some(self.password))
            .send()
            .unwrap()
    }
    fn post(&self, collection: &str, objects: Vec<Value>) -> Response {
        client()
            .post(format!(
                "{}collections/{collection}/objects/",
                self.api_root
            ))
            .header("accept", TAXII)
            .header("content-type", TAXII)
            .basic_auth(self.name, Some(self.password))
            .body(json!({ "objects": objects }).to_string())
            .send()
            .unwrap()
    }
    fn collection(&self, alias: &str) -> String {
        let v: Value = self.get("collections/").json().unwrap();
        v["collections"]
            .as_array()
            .unwrap_or_else(|| panic!("collections: {v}"))
            .iter()
            .find(|c| c["alias"] == alias)
            .unwrap_or_else(|| panic!("no collection {alias}: {v}"))["id"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn audit(node: &Node, action: &str) -> Vec<Value> {
    node.json(&["audit", "list", "--action", action, "--limit", "0"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn stored_ids(node: &Node) -> Vec<String> {
    node.objects()
        .iter()
        .filter_map(|o| o["id"].as_str().map(str::to_string))
        .collect()
}

/// A node whose "shared" collection holds GREEN, AMBER and RED indicators, a `writer` peer
/// that may read and write it, and a `dropbox` peer that may only write.
fn node() -> (Node, Vec<Value>) {
    let node = Node::new("Node A");
    let objects = vec![
        indicator(0xa, 1, GREEN),
        indicator(0xa, 2, GREEN),
        indicator(0xa, 3, AMBER),
        indicator(0xa, 4, RED),
    ];
    let file = node.write_file("seed.json", &bundle(objects.clone()));
    node.ok(&["share", "import", file.to_str().unwrap()]);
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
    node.ok(&[
        "users",
        "add",
        "dropbox",
        "--role",
        "peer",
        "--password",
        "dropbox-pass",
        "--write",
        "shared",
    ]);
    (node, objects)
}

/// A 404's TAXII error resource with the object id taken out, to compare answers.
fn not_found_shape(resp: Response, id: &str) -> Value {
    assert_eq!(resp.status(), 404);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/taxii+json")
    );
    let text = resp.text().unwrap().replace(id, "ID");
    serde_json::from_str(&text).unwrap()
}

#[test]
fn delete_answers_an_unreadable_object_exactly_like_a_missing_one_and_is_audited() {
    let (node, objects) = node();
    let server = node.serve();
    let writer = Peer {
        api_root: server.api_root(),
        name: "writer",
        password: "writer-pass",
    };
    let dropbox = Peer {
        api_root: server.api_root(),
        name: "dropbox",
        password: "dropbox-pass",
    };
    let shared = writer.collection("shared");
    let id = |n: usize| objects[n]["id"].as_str().unwrap().to_string();
    let (green, amber, red) = (id(0), id(2), id(3));
    let missing = "indicator--0000000a-0000-4000-8000-00000000ffff";

    // The attack: GET hides the RED object, DELETE must not confirm or remove it.
    assert_eq!(
        writer
            .get(&format!("collections/{shared}/objects/{red}/"))
            .status(),
        404
    );
    let absent = not_found_shape(writer.delete(&shared, missing), missing);
    assert_eq!(
        not_found_shape(writer.delete(&shared, &red), &red),
        absent,
        "a RED object answers as one that does not exist"
    );
    // AMBER is above the writer's clearance (the default policy is GREEN).
    assert_eq!(
        not_found_shape(writer.delete(&shared, &amber), &amber),
        absent
    );
    // A peer that may only write reads nothing, so deletes nothing.
    assert_eq!(
        not_found_shape(dropbox.delete(&shared, &green), &green),
        absent
    );
    let ids = stored_ids(&node);
    for kept in [&green, &amber, &red] {
        assert!(ids.contains(kept), "{kept} is still stored: {ids:?}");
    }
    assert!(
        audit(&node, "taxii.delete").is_empty(),
        "refused deletes change nothing"
    );

    // What the writer may read, it may delete; audited with who, where and what.
    assert_eq!(writer.delete(&shared, &green).status(), 200);
    assert!(!stored_ids(&node).contains(&green));
    assert_eq!(
        not_found_shape(writer.delete(&shared, &green), &green),
        absent
    );
    let deletes = audit(&node, "taxii.delete");
    assert_eq!(deletes.len(), 1, "{deletes:?}");
    assert_eq!(deletes[0]["actor"], "user:writer");
    assert_eq!(deletes[0]["subject"], format!("collection:{shared}"));
    assert_eq!(deletes[0]["after"]["id"], green.as_str());
    assert_eq!(
        deletes[0]["after"]["versions"].as_array().map(Vec::len),
        Some(1)
    );
}

#[test]
fn one_object_twice_in_a_request_is_refused_with_its_index_and_posts_are_audited() {
    let (node, _) = node();
    let server = node.serve();
    let writer = Peer {
        api_root: server.api_root(),
        name: "writer",
        password: "writer-pass",
    };
    let shared = writer.collection("shared");
    let before = stored_ids(&node).len();

    let a = indicator(0xb, 1, GREEN);
    let mut twin = a.clone();
    twin["name"] = json!("the same id and version, other content");
    let resp = writer.post(&shared, vec![indicator(0xb, 2, GREEN), a.clone(), twin]);
    assert_eq!(resp.status(), 422);
    let err: Value = resp.json().unwrap();
    assert_eq!(err["details"]["index"], 2, "{err}");
    assert_eq!(err["details"]["id"], a["id"], "{err}");
    assert_eq!(stored_ids(&node).len(), before, "nothing was stored");
    assert!(
        audit(&node, "taxii.add").is_empty(),
        "a refused post adds nothing"
    );

    // Two versions of one object are a history, not a duplicate.
    let mut newer = a.clone();
    newer["modified"] = json!("2026-11-24T10:00:00.000Z");
    let resp = writer.post(&shared, vec![a.clone(), newer]);
    assert_eq!(resp.status(), 202);
    let status: Value = resp.json().unwrap();
    assert_eq!(status["success_count"], 2, "{status}");

    let adds = audit(&node, "taxii.add");
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!(adds[0]["actor"], "user:writer");
    assert_eq!(adds[0]["subject"], format!("collection:{shared}"));
    assert_eq!(adds[0]["after"]["count"], 2);
    assert_eq!(adds[0]["after"]["ids"], json!([a["id"], a["id"]]));
    let verified = node.run(&["audit", "verify"]);
    assert!(verified.status.success(), "the chain still verifies");
}

/// A peer that may write but not read an object used to hide it from everyone: it posted a
/// newer version marked above the readers' clearance (or dated 2099), that version became the
/// object's last, and readers allowed the original got 404. A reader's last version is now the
/// last one it may see, and a version dated ahead of now is refused.
#[test]
fn a_writer_cannot_hide_an_object_it_may_not_read_behind_a_newer_version() {
    let (node, objects) = node();
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
    let server = node.serve();
    let writer = Peer {
        api_root: server.api_root(),
        name: "writer",
        password: "writer-pass",
    };
    let reader = Peer {
        api_root: server.api_root(),
        name: "reader",
        password: "reader-pass",
    };
    let shared = reader.collection("shared");
    let amber = objects[2]["id"].as_str().unwrap().to_string();
    let read = |peer: &Peer| {
        let resp = peer.get(&format!("collections/{shared}/objects/{amber}/"));
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().unwrap_or(Value::Null))
    };
    assert_eq!(read(&reader).0, 200);
    assert_eq!(
        read(&writer).0,
        404,
        "AMBER is above the writer's clearance"
    );

    let mut shadow = objects[2].clone();
    shadow["modified"] = json!("2026-11-24T10:00:00.000Z");
    shadow["pattern"] = json!("[ipv4-addr:value = '6.6.6.6']");
    shadow["object_marking_refs"] = json!([RED]);
    let resp = writer.post(&shared, vec![shadow.clone()]);
    assert_eq!(resp.status(), 202, "{}", resp.text().unwrap());
    let (status, body) = read(&reader);
    assert_eq!(status, 200, "the version the reader may see still answers");
    let versions = body["objects"].as_array().unwrap();
    assert_eq!(versions.len(), 1, "{body}");
    assert_eq!(versions[0]["modified"], objects[2]["modified"]);
    assert_eq!(versions[0]["pattern"], objects[2]["pattern"]);
    let listed: Value = reader
        .get(&format!("collections/{shared}/objects/?match[id]={amber}"))
        .json()
        .unwrap();
    assert_eq!(
        listed["objects"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // Dated ahead, a version would stay the last one until 2099: refused with its field.
    shadow["modified"] = json!("2099-01-01T00:00:00.000Z");
    shadow["object_marking_refs"] = json!([GREEN]);
    let resp = writer.post(&shared, vec![shadow]);
    assert_eq!(resp.status(), 422);
    let error: Value = resp.json().unwrap();
    assert_eq!(error["details"]["field"], "modified", "{error}");
    assert_eq!(
        read(&reader).1["objects"][0]["modified"],
        objects[2]["modified"]
    );
}

/// A second attacker pass: a peer with write rights posted a newer version of this node's AMBER
/// indicator (a second later, marked GREEN, another pattern) and readers cleared for AMBER were
/// served the forgery as this node's own. Only an object's creator versions it: a version that
/// names this node as its creator and that it never made is refused from a peer; a version it
/// holds (relayed back by a ring of peers) is still taken.
#[test]
fn a_peer_cannot_make_new_versions_of_this_nodes_objects() {
    let (node, _) = node();
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
    node.ok(&["share", "policy", "writer", "--max-tlp", "AMBER"]);
    let node_id = node.json(&["share", "settings"])["identity"]
        .as_str()
        .unwrap()
        .to_string();
    let mut own = indicator(0xc, 1, AMBER);
    own["created_by_ref"] = json!(node_id);
    // With the node's identity beside it, so readers get the indicator (its creator is held).
    let exported: Value =
        serde_json::from_str(&node.ok(&["share", "export", "--max-tlp", "CLEAR"])).unwrap();
    let identity = exported["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == node_id.as_str())
        .expect("the export holds the node's identity")
        .clone();
    let file = node.write_file("own.json", &bundle(vec![identity, own.clone()]));
    node.ok(&["share", "import", file.to_str().unwrap()]);
    let server = node.serve();
    let peer = |name: &'static str, password: &'static str| Peer {
        api_root: server.api_root(),
        name,
        password,
    };
    let (writer, reader) = (peer("writer", "writer-pass"), peer("reader", "reader-pass"));
    let shared = reader.collection("shared");
    let id = own["id"].as_str().unwrap().to_string();
    let served: Value = reader
        .get(&format!("collections/{shared}/objects/{id}/"))
        .json()
        .unwrap();
    assert_eq!(served["objects"][0]["pattern"], own["pattern"], "{served}");

    // The same version relayed back: taken (it is already held).
    let resp = writer.post(&shared, vec![own.clone()]);
    assert_eq!(resp.status(), 202, "{}", resp.text().unwrap());

    let mut forged = own.clone();
    forged["modified"] = json!("2026-11-23T10:00:01.000Z");
    forged["pattern"] = json!("[ipv4-addr:value = '1.1.1.1']");
    forged["object_marking_refs"] = json!([GREEN]);
    let resp = writer.post(&shared, vec![forged]);
    assert_eq!(resp.status(), 422);
    let error: Value = resp.json().unwrap();
    assert_eq!(error["details"]["field"], "created_by_ref", "{error}");
    assert_eq!(error["details"]["index"], 0, "{error}");
    let served: Value = reader
        .get(&format!("collections/{shared}/objects/{id}/"))
        .json()
        .unwrap();
    assert_eq!(served["objects"][0]["pattern"], own["pattern"], "{served}");
    assert_eq!(
        served["objects"][0]["modified"], own["modified"],
        "{served}"
    );

    // A new object claiming this node as creator is refused too.
    let mut claimed = indicator(0xc, 2, GREEN);
    claimed["created_by_ref"] = json!(node_id);
    assert_eq!(writer.post(&shared, vec![claimed]).status(), 422);
}
