//! A pull killed after its objects were stored but before their events were: replaying the page
//! makes the missing events, once; objects the node had from elsewhere do not become events.

use focal_sharing::import::{default_collection_id, derive_events, inbound_items, store_objects};
use focal_store::{EventFilter, SqliteStore, Store};
use serde_json::json;

fn indicator(n: u32) -> serde_json::Value {
    json!({"type": "indicator", "spec_version": "2.1", "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
           "created": "2026-11-23T10:00:00.000Z", "modified": "2026-11-23T10:00:00.000Z",
           "pattern": format!("[ipv4-addr:value = '198.51.100.{n}']"), "pattern_type": "stix",
           "valid_from": "2026-11-23T10:00:00Z", "labels": ["c2-server"]})
}

fn event_count(store: &SqliteStore) -> usize {
    let mut n = 0;
    store
        .events(&EventFilter::default(), &mut |_| {
            n += 1;
            Ok(())
        })
        .unwrap();
    n
}

#[test]
fn replayed_pages_make_missing_events_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let shared = default_collection_id(&store).unwrap();
    let shared = shared.as_str();
    // Our own indicator, stored locally, later echoed back by the peer.
    let own = inbound_items(vec![indicator(1)], false);
    store_objects(&store, shared, &own, None).unwrap();
    // The first attempt stores the peer's page, then "dies" before deriving events.
    let page = inbound_items(vec![indicator(1), indicator(2), indicator(3)], true);
    let first = store_objects(&store, shared, &page, Some("peer-a")).unwrap();
    assert_eq!(first.added.len(), 2);
    assert_eq!(event_count(&store), 0);
    // The replay finds everything present, and still makes the two events that were missing.
    let replay = store_objects(&store, shared, &page, Some("peer-a")).unwrap();
    assert!(replay.added.is_empty());
    assert_eq!(
        derive_events(&store, &page, &replay, Some("peer-a"), "test").unwrap(),
        2
    );
    assert_eq!(event_count(&store), 2);
    // A third time adds nothing.
    assert_eq!(
        derive_events(&store, &page, &replay, Some("peer-a"), "test").unwrap(),
        0
    );
    assert_eq!(event_count(&store), 2);
}
