//! A pull from a peer is held to the rule a TAXII POST from a peer is: a peer may relay this
//! node's objects back, never make new versions of them. A peer serving a newer version of this
//! node's indicator (another pattern, marked GREEN) has its page refused, naming the object and
//! `created_by_ref`, with nothing of the page stored and the cursor left where it was; a page
//! relaying the node's own version unchanged is taken, also into a collection other than the
//! one the node published it in (the pull's local collection need not be that one).

use focal_sharing::client::{ClientError, SyncReport, pull};
use focal_sharing::import::{default_collection_id, inbound_items, store_objects};
use focal_sharing::settings::load;
use focal_store::SqliteStore;
use focal_store::sharing::{
    Collection, DEFAULT_API_ROOT, ObjectQuery, Peer, SharingStore, VersionMatch,
};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

const GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";
const AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";

fn indicator(n: u32, modified: &str, pattern: &str, marking: &str) -> Value {
    json!({
        "type": "indicator", "spec_version": "2.1",
        "id": format!("indicator--6b1c2a3e-0000-4000-8000-{n:012}"),
        "created": "2026-11-20T10:00:00.000Z", "modified": modified,
        "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-11-20T10:00:00Z",
        "object_marking_refs": [marking],
    })
}

/// A TAXII objects endpoint that answers every request with the envelope in `page`.
fn stub_server(page: Arc<Mutex<String>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let body = page.lock().unwrap().clone();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/taxii+json;version=2.1\r\n\
                 X-TAXII-Date-Added-Last: 2026-11-23T00:00:00.000000Z\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/api/")
}

fn peer(api_root: &str, local_collection: &str) -> Peer {
    Peer {
        name: "peer-x".into(),
        api_root: api_root.into(),
        collection: "remote".into(),
        local_collection: local_collection.into(),
        username: None,
        secret: None,
        auth: "none".into(),
        pull: true,
        push: false,
        pull_cursor: Some("2026-11-01T00:00:00.000000Z".into()),
        push_cursor: 0,
        last_sync_at: None,
        last_error: None,
        pulled: 0,
        pushed: 0,
    }
}

fn versions(store: &SqliteStore, collection: &str, id: &str) -> Vec<(String, Option<String>)> {
    store
        .objects(
            collection,
            &ObjectQuery {
                ids: vec![id.to_string()],
                versions: VersionMatch::All,
                limit: 100,
                ..Default::default()
            },
        )
        .unwrap()
        .objects
        .into_iter()
        .map(|o| (o.version, o.origin))
        .collect()
}

#[test]
fn a_pulled_page_cannot_version_this_nodes_objects() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let settings = load(&store).unwrap();
    let node_id = settings.node.common.id.clone();
    let shared = default_collection_id(&store).unwrap();
    store
        .put_collection(&Collection {
            id: "from-peers".into(),
            title: "pulled".into(),
            description: None,
            alias: None,
            max_tlp: None,
            api_root: DEFAULT_API_ROOT.into(),
        })
        .unwrap();

    // This node's AMBER indicator, made here.
    let mut own = indicator(
        1,
        "2026-11-20T10:00:00.000Z",
        "[ipv4-addr:value = '198.51.100.7']",
        AMBER,
    );
    own["created_by_ref"] = json!(node_id);
    let own_id = own["id"].as_str().unwrap().to_string();
    store_objects(
        &store,
        &shared,
        &inbound_items(vec![own.clone()], false),
        None,
    )
    .unwrap();

    let mut forged = own.clone();
    forged["modified"] = json!("2026-11-23T10:00:01.000Z");
    forged["pattern"] = json!("[ipv4-addr:value = '1.1.1.1']");
    forged["object_marking_refs"] = json!([GREEN]);
    let theirs = indicator(
        2,
        "2026-11-21T10:00:00.000Z",
        "[ipv4-addr:value = '203.0.113.9']",
        GREEN,
    );
    let theirs_id = theirs["id"].as_str().unwrap().to_string();
    let page = Arc::new(Mutex::new(
        json!({"more": false, "objects": [theirs.clone(), forged]}).to_string(),
    ));
    let root = stub_server(page.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    for local in [shared.as_str(), "from-peers"] {
        let mut p = peer(&root, local);
        let mut report = SyncReport::default();
        let refused = runtime.block_on(pull(&store, &settings, &mut p, &mut report));
        match refused {
            Err(ClientError::Refused { source, .. }) => {
                let text = source.to_string();
                assert!(
                    text.contains("created_by_ref") && text.contains(&own_id),
                    "the refusal names the object and the field: {text}"
                );
            }
            other => panic!("a forged version of this node's object was not refused: {other:?}"),
        }
        assert_eq!(
            p.pull_cursor.as_deref(),
            Some("2026-11-01T00:00:00.000000Z")
        );
        assert!(
            versions(&store, local, &theirs_id).is_empty(),
            "part of a refused page was stored"
        );
        assert_eq!(
            versions(&store, &shared, &own_id),
            vec![("2026-11-20T10:00:00.000Z".to_string(), None)],
            "the forged version was stored"
        );
    }

    // The node's own version relayed back unchanged is taken, whichever collection the pull
    // lands in, and so is the rest of the page.
    *page.lock().unwrap() = json!({"more": false, "objects": [theirs, own]}).to_string();
    for local in [shared.as_str(), "from-peers"] {
        let mut p = peer(&root, local);
        let mut report = SyncReport::default();
        runtime
            .block_on(pull(&store, &settings, &mut p, &mut report))
            .unwrap_or_else(|e| panic!("a relayed page into {local} was refused: {e}"));
        assert_eq!(
            p.pull_cursor.as_deref(),
            Some("2026-11-23T00:00:00.000000Z")
        );
    }
    // The peer's own indicator is stored once (the second pull finds it in the provenance).
    assert_eq!(
        versions(&store, &shared, &theirs_id),
        vec![(
            "2026-11-21T10:00:00.000Z".to_string(),
            Some("peer-x".to_string())
        )]
    );
    assert_eq!(
        versions(&store, &shared, &own_id),
        vec![("2026-11-20T10:00:00.000Z".to_string(), None)]
    );
}
