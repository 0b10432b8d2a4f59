//! The SQLite incident store's atomicity guarantees, below the rules of focal-incidents.

use focal_store::SqliteStore;
use focal_store::incidents::*;

fn assignment(seq: i64, key: &str, tlp: &str) -> GroupAssignment {
    GroupAssignment {
        seq,
        key: key.into(),
        constituent: "org-1".into(),
        classification_type: "scanner".into(),
        time_event: 1_700_000_000_000_000 + seq,
        tlp: tlp.into(),
        severity: "low".into(),
        sla_micros: 3_600_000_000,
    }
}

#[test]
fn grouping_batches_chain_on_the_cursor_and_a_stale_one_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let first = GroupingBatch {
        from_cursor: 0,
        to_cursor: 10,
        assignments: vec![assignment(3, "k", "GREEN"), assignment(7, "k", "AMBER")],
    };
    let out = store.apply_grouping(&first, "t").unwrap();
    assert_eq!(
        (out.incidents_created, out.events_grouped, out.cursor),
        (1, 2, 10)
    );
    assert_eq!(store.grouping_cursor().unwrap(), 10);

    // The same batch again (as a second grouping process would send it) is refused whole.
    let err = store.apply_grouping(&first, "t").unwrap_err().to_string();
    assert!(err.contains("cursor is at event 10, not 0"), "{err}");
    let list = store.incidents(&IncidentFilter::default()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].event_count, 2);

    let second = GroupingBatch {
        from_cursor: 10,
        to_cursor: 20,
        assignments: vec![assignment(15, "k", "RED"), assignment(16, "other", "CLEAR")],
    };
    let out = store.apply_grouping(&second, "t").unwrap();
    assert_eq!((out.incidents_created, out.incidents_extended), (1, 1));
    let k = &store.incidents(&IncidentFilter::default()).unwrap()[0];
    assert_eq!(
        (k.event_count, k.tlp.as_str()),
        (3, "RED"),
        "TLP is the highest"
    );
    // Two incidents created, one batch extension.
    let v = store.audit_verify().unwrap();
    assert!(v.ok);
    assert_eq!(v.entries, 3);
}

#[test]
fn a_transition_is_compare_and_set_on_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    let batch = GroupingBatch {
        from_cursor: 0,
        to_cursor: 1,
        assignments: vec![assignment(1, "k", "AMBER")],
    };
    store.apply_grouping(&batch, "t").unwrap();
    let stale = IncidentChange::Transition {
        from: "acknowledged".into(),
        to: "notified".into(),
        reason: None,
    };
    let err = store
        .change_incident(1, &stale, "t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("incident 1 is now new, not acknowledged"),
        "{err}"
    );
    assert_eq!(store.incident(1).unwrap().unwrap().state, "new");
    assert_eq!(
        store.incident_timeline(1).unwrap().len(),
        1,
        "only `created`"
    );
    let ok = IncidentChange::Transition {
        from: "new".into(),
        to: "false_positive".into(),
        reason: None,
    };
    let after = store.change_incident(1, &ok, "t").unwrap();
    assert_eq!(after.state, "false_positive");
    assert!(after.closed_at.is_some());
    // A closed incident's key is free: the next event with it opens a new incident.
    let batch = GroupingBatch {
        from_cursor: 1,
        to_cursor: 2,
        assignments: vec![assignment(2, "k", "AMBER")],
    };
    assert_eq!(
        store.apply_grouping(&batch, "t").unwrap().incidents_created,
        1
    );
}
