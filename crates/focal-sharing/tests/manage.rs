//! Peer and policy changes (`focal_sharing::manage`), as the CLI and the web UI make them:
//! refusals name the field and change nothing, every change is audited once, a paused peer is
//! left out of sync rounds until resumed, and the store lists policies and received objects.

use focal_sharing::import::{default_collection_id, inbound_items, store_objects};
use focal_sharing::manage::{self, ManageError, PeerCredential, PeerDraft};
use focal_store::SqliteStore;
use focal_store::incidents::{AuditFilter, AuditLog};
use focal_store::sharing::SharingStore;
use serde_json::json;

fn draft(name: &str, url: &str) -> PeerDraft {
    PeerDraft {
        name: name.into(),
        url: url.into(),
        collection: "remote".into(),
        user: None,
        credential: PeerCredential::None,
        pull: true,
        push: false,
        local_collection: None,
    }
}

fn actions(store: &SqliteStore) -> Vec<(String, String, String)> {
    store
        .audit_entries(&AuditFilter::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("peer.") || e.action == "sharing.policy")
        .map(|e| (e.actor, e.action, e.subject))
        .collect()
}

#[test]
fn peers_and_policies_are_checked_audited_and_paused() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let shared = default_collection_id(&store).unwrap();

    // Refused, naming the field; nothing stored or audited.
    for (d, field) in [
        (draft("a", "ftp://x.example/"), "url"),
        (draft("", "https://x.example/"), "name"),
        (
            PeerDraft {
                user: Some("u".into()),
                ..draft("a", "https://x.example/")
            },
            "password",
        ),
        (
            PeerDraft {
                pull: false,
                ..draft("a", "https://x.example/")
            },
            "pull/push",
        ),
        (
            PeerDraft {
                local_collection: Some("nowhere".into()),
                ..draft("a", "https://x.example/")
            },
            "local-collection",
        ),
    ] {
        match manage::save_peer(&store, "user:t", &d) {
            Err(ManageError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert!(store.peers().unwrap().is_empty());
    assert!(actions(&store).is_empty());

    // Added, then changed keeping its secret and cursors.
    let basic = PeerDraft {
        user: Some("us".into()),
        credential: PeerCredential::Basic("pw".into()),
        ..draft("a", "https://x.example/taxii2/root/")
    };
    let (_, new) = manage::save_peer(&store, "user:t", &basic).unwrap();
    assert!(new);
    let mut stored = store.peer("a").unwrap().unwrap();
    stored.push_cursor = 42;
    store.put_peer(&stored).unwrap();
    let (peer, new) = manage::save_peer(
        &store,
        "user:t",
        &PeerDraft {
            credential: PeerCredential::Keep,
            push: true,
            ..basic.clone()
        },
    )
    .unwrap();
    assert!(!new);
    assert_eq!(
        (peer.secret.as_deref(), peer.auth.as_str(), peer.push_cursor),
        (Some("pw"), "basic", 42)
    );
    assert_eq!(store.peer("a").unwrap().unwrap(), peer);
    assert_eq!(peer.local_collection, shared);

    // Paused: left out of sync rounds; pausing again changes nothing; resumed: back.
    manage::save_peer(&store, "user:t", &draft("b", "https://y.example/")).unwrap();
    assert!(manage::set_paused(&store, "user:t", "a", true).unwrap());
    assert!(!manage::set_paused(&store, "user:t", "a", true).unwrap());
    let active: Vec<String> = manage::active_peers(&store)
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(active, ["b"]);
    let pause = manage::pause_of(&store, "a").unwrap().unwrap();
    assert_eq!(pause.by, "user:t");
    assert!(manage::set_paused(&store, "user:t", "a", false).unwrap());
    assert!(manage::pause_of(&store, "a").unwrap().is_none());
    assert_eq!(manage::active_peers(&store).unwrap().len(), 2);
    assert!(matches!(
        manage::set_paused(&store, "user:t", "nobody", true),
        Err(ManageError::NoPeer(_))
    ));

    // Policies: refused parts named; an unchanged policy is not audited again.
    let bad = manage::policy_from_parts("AMBER", None, &["source.ip=blur".into()], &[]);
    assert!(matches!(bad, Err(ManageError::Invalid { field, .. }) if field == "redact"));
    let bad = manage::policy_from_parts("PURPLE", None, &[], &[]);
    assert!(matches!(bad, Err(ManageError::Invalid { field, .. }) if field == "max-tlp"));
    let p = manage::policy_from_parts(
        "AMBER",
        Some(""),
        &["source.ip=pseudonymise".into(), "".into()],
        &["malicious-code".into(), " ".into()],
    )
    .unwrap();
    assert_eq!(p.constituent, None);
    assert_eq!(p.redact.len(), 1);
    manage::save_policy(&store, "user:t", "a", &p).unwrap();
    manage::save_policy(&store, "user:t", "a", &p).unwrap();
    assert_eq!(store.policies().unwrap().len(), 1);
    assert_eq!(store.policies().unwrap()[0].0, "a");

    let t = |a: &str, s: &str| ("user:t".to_string(), a.to_string(), s.to_string());
    assert_eq!(
        actions(&store),
        vec![
            t("peer.add", "peer:a"),
            t("peer.update", "peer:a"),
            t("peer.add", "peer:b"),
            t("peer.pause", "peer:a"),
            t("peer.resume", "peer:a"),
            t("sharing.policy", "policy:a"),
        ]
    );
}

#[test]
fn received_objects_are_those_from_elsewhere_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let shared = default_collection_id(&store).unwrap();
    let indicator = |n: u32| {
        json!({"type": "indicator", "spec_version": "2.1",
            "id": format!("indicator--00000000-0000-4000-8000-{n:012}"),
            "created": "2026-11-23T10:00:00.000Z", "modified": "2026-11-23T10:00:00.000Z",
            "pattern": format!("[ipv4-addr:value = '198.51.100.{n}']"), "pattern_type": "stix",
            "valid_from": "2026-11-23T10:00:00Z"})
    };
    store_objects(
        &store,
        &shared,
        &inbound_items(vec![indicator(1)], false),
        None,
    )
    .unwrap();
    store_objects(
        &store,
        &shared,
        &inbound_items(vec![indicator(2), indicator(3)], true),
        Some("peer-a"),
    )
    .unwrap();
    store_objects(
        &store,
        &shared,
        &inbound_items(vec![indicator(4)], false),
        None,
    )
    .unwrap();
    let got = store.received_objects(&shared, None, 10).unwrap();
    let ids: Vec<&str> = got.iter().map(|o| &o.id[o.id.len() - 1..]).collect();
    assert_eq!(ids, ["3", "2"]);
    assert!(got.iter().all(|o| o.origin.as_deref() == Some("peer-a")));
    let older = store
        .received_objects(&shared, Some(got[0].date_added), 10)
        .unwrap();
    assert_eq!(older.len(), 1);
    assert_eq!(store.received_objects(&shared, None, 1).unwrap().len(), 1);
}
