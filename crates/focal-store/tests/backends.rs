//! The store test suite, run against every backend: the embedded SQLite file and a real
//! PostgreSQL (127.0.0.1:5432, database `test`). Each PostgreSQL test works in a schema of its
//! own, dropped at the end, so the tests run in parallel without seeing each other's rows.

use focal_model::{ClassificationType, Constituent, Event, Tlp};
use focal_store::*;
use std::sync::atomic::{AtomicU32, Ordering};

#[path = "backends/awareness.rs"]
mod awareness;
use awareness::*;

/// A store for one test, and whatever keeps its data alive (a temporary folder, a schema).
struct Backend {
    store: Box<dyn Store>,
    _guard: Guard,
}

enum Guard {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Schema(String),
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Schema(name) = self
            && let Ok(mut c) =
                postgres::Client::connect(focal_testkit::POSTGRES_URL, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"));
        }
    }
}

fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("focal.db")).unwrap();
    Backend {
        store: Box::new(store),
        _guard: Guard::Dir(dir),
    }
}

/// A schema name unique to this process and call.
fn fresh_schema(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        jiff::Timestamp::now().as_microsecond() % 1_000_000
    )
}

fn postgres() -> Backend {
    focal_testkit::require_postgres();
    let schema = fresh_schema("store_test");
    let store = PostgresStore::open(focal_testkit::POSTGRES_URL, Some(&schema)).unwrap();
    Backend {
        store: Box::new(store),
        _guard: Guard::Schema(schema),
    }
}

/// One audit row as stored: id, at, actor, action, subject, before, after, prev_hash, hash.
type AuditRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
);

impl Backend {
    /// Every audit row, in id order, read by hand.
    fn audit_rows(&self) -> Vec<AuditRow> {
        let sql = "SELECT id, at, actor, action, subject, before, after, prev_hash, hash FROM audit_log ORDER BY id";
        match &self._guard {
            Guard::Dir(dir) => {
                let c = rusqlite::Connection::open(dir.path().join("focal.db")).unwrap();
                let mut stmt = c.prepare(sql).unwrap();
                stmt.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                        r.get(8)?,
                    ))
                })
                .unwrap()
                .map(Result::unwrap)
                .collect()
            }
            Guard::Schema(schema) => {
                let mut c = postgres::Client::connect(focal_testkit::POSTGRES_URL, postgres::NoTls)
                    .unwrap();
                c.batch_execute(&format!("SET search_path = \"{schema}\""))
                    .unwrap();
                c.query(sql, &[])
                    .unwrap()
                    .iter()
                    .map(|r| {
                        (
                            r.get(0),
                            r.get(1),
                            r.get(2),
                            r.get(3),
                            r.get(4),
                            r.get(5),
                            r.get(6),
                            r.get(7),
                            r.get(8),
                        )
                    })
                    .collect()
            }
        }
    }

    /// What a forger who can write the database but has no key can do: change the actor of
    /// entry `id`, then recompute every seal from there on, as the unkeyed chain did (SHA-256
    /// of the entry's JSON array), so that every link matches again.
    fn rewrite_audit_without_key(&self, id: i64, actor: &str) {
        use sha2::Digest;
        let mut rows = self.audit_rows();
        let mut prev = rows
            .iter()
            .find(|r| r.0 == id - 1)
            .map(|r| r.8.clone())
            .unwrap_or_else(|| "0".repeat(64));
        for r in rows.iter_mut().filter(|r| r.0 >= id) {
            if r.0 == id {
                r.2 = actor.to_string();
            }
            r.7 = prev.clone();
            let canonical = serde_json::json!([r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7]).to_string();
            r.8 = hex::encode(sha2::Sha256::digest(canonical.as_bytes()));
            prev = r.8.clone();
        }
        let update = "UPDATE audit_log SET actor = $1, prev_hash = $2, hash = $3 WHERE id = $4";
        match &self._guard {
            Guard::Dir(dir) => {
                let c = rusqlite::Connection::open(dir.path().join("focal.db")).unwrap();
                for r in rows.iter().filter(|r| r.0 >= id) {
                    c.execute(
                        &update.replace('$', "?"),
                        rusqlite::params![r.2, r.7, r.8, r.0],
                    )
                    .unwrap();
                }
            }
            Guard::Schema(schema) => {
                let mut c = postgres::Client::connect(focal_testkit::POSTGRES_URL, postgres::NoTls)
                    .unwrap();
                c.batch_execute(&format!("SET search_path = \"{schema}\""))
                    .unwrap();
                for r in rows.iter().filter(|r| r.0 >= id) {
                    c.execute(update, &[&r.2, &r.7, &r.8, &r.0]).unwrap();
                }
            }
        }
    }

    /// Runs SQL on the backend's database directly, as someone editing it by hand would.
    fn exec_by_hand(&self, sql: &str) {
        match &self._guard {
            Guard::Dir(dir) => rusqlite::Connection::open(dir.path().join("focal.db"))
                .unwrap()
                .execute_batch(sql)
                .unwrap(),
            Guard::Schema(schema) => {
                let mut c = postgres::Client::connect(focal_testkit::POSTGRES_URL, postgres::NoTls)
                    .unwrap();
                c.batch_execute(&format!("SET search_path = \"{schema}\"; {sql}"))
                    .unwrap();
            }
        }
    }
}

/// Declares each test once per backend.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[test] fn $name() { super::$name(&super::sqlite()); } )* }
        mod on_postgres { $( #[test] fn $name() { super::$name(&super::postgres()); } )* }
    };
}

on_every_backend!(
    constituents_are_imported_and_updated,
    constituent_saves_are_audited_in_the_same_transaction,
    runs_are_recorded_found_and_finished,
    events_are_written_once_and_read_back_unchanged,
    uncommitted_writes_are_rolled_back,
    quarantine_keeps_each_bad_line_once,
    event_filters_select_the_right_events,
    statistics_count_what_is_stored,
    reopening_keeps_the_schema_version,
    the_audit_log_chains_entries_and_detects_edits_and_removals,
    a_keyed_audit_chain_cannot_be_rewritten_without_its_key_nor_cut_short_past_an_anchor,
    feed_pulls_are_recorded_with_their_runs_and_validators,
    advisories_are_saved_compare_and_set_with_insert_only_revisions,
    advisory_mail_is_queued_once_and_moves_through_its_states,
    the_library_is_imported_whole_and_searched_with_facets,
    public_figures_come_from_clear_events_only,
);

fn observed() -> jiff::Timestamp {
    "2026-11-24T12:00:00Z".parse().unwrap()
}

fn context() -> RunContext {
    RunContext {
        feed_name: "test-feed".into(),
        feed_provider: Some("Test Provider".into()),
        feed_url: None,
        observed: observed(),
    }
}

/// An event with a given id number, source address and owner.
fn event(n: u128, ip: &str, constituent: Option<&str>) -> Event {
    let mut e = Event::new(
        "test-feed".into(),
        observed(),
        ClassificationType::InfectedSystem,
    );
    e.id = uuid::Uuid::from_u128(n);
    for (field, value) in [
        ("feed.provider", "Test Provider"),
        ("source.ip", ip),
        ("source.port", "8080"),
        ("source.asn", "64500"),
        ("source.as_name", "EXAMPLE-AS"),
        ("source.geolocation.cc", "NL"),
        ("malware.name", "mirai"),
        ("time.source", "2026-11-24T10:00:00Z"),
        ("extra.note", "kept in detail"),
    ] {
        e.set_text(&field.parse().unwrap(), value).unwrap();
    }
    e.tlp = Tlp::Amber;
    e.constituent = constituent.map(Into::into);
    e.raw = Some(format!("{ip},8080").into_bytes());
    e
}

fn encoded(events: &[Event]) -> Vec<EncodedEvent> {
    events
        .iter()
        .map(|e| EncodedEvent::new(e.clone(), (86_400, 20_416), &context()))
        .collect()
}

fn new_run(sha: &str) -> NewRun {
    NewRun {
        feed: "test-feed".into(),
        feed_provider: Some("Test Provider".into()),
        feed_url: None,
        observed: observed(),
        file_name: "feed.csv".into(),
        sha256: sha.into(),
        size: 1234,
        resumed_from: None,
        progress: RunProgress::default(),
        status: RunStatus::Running,
    }
}

fn all_events(store: &dyn Store, filter: &EventFilter) -> Vec<Event> {
    let mut out = Vec::new();
    store
        .events(filter, &mut |e| {
            out.push(e);
            Ok(())
        })
        .unwrap();
    out
}

fn ids(events: &[Event]) -> Vec<u128> {
    let mut ids: Vec<u128> = events.iter().map(|e| e.id.as_u128()).collect();
    ids.sort();
    ids
}

/// Writes events in one committed run; returns the run id and how many events were new.
fn write_run(store: &dyn Store, sha: &str, events: &[Event]) -> (i64, u64) {
    let run = store.begin_run(&new_run(sha)).unwrap();
    let mut writer = store.run_writer(run.id).unwrap();
    let inserted = writer.write(&encoded(events), &[]).unwrap();
    writer
        .commit(&RunProgress {
            rows_read: events.len() as u64,
            events_stored: inserted,
            ..Default::default()
        })
        .unwrap();
    drop(writer);
    (run.id, inserted)
}

fn constituents_are_imported_and_updated(b: &Backend) {
    let org = |id: &str, email: &str| Constituent {
        id: id.into(),
        name: format!("Org {id}"),
        abuse_email: email.into(),
        asns: vec![64500, 64501],
        netblocks: vec![
            "192.0.2.0/24".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        domains: vec!["example.org".into()],
        language: (id == "a").then(|| "de".to_string()),
        also_notify: if id == "a" {
            vec!["soc@a.example".into(), "noc@a.example".into()]
        } else {
            Vec::new()
        },
    };
    let first = b
        .store
        .import_constituents(&[org("a", "abuse@a.example"), org("b", "abuse@b.example")])
        .unwrap();
    assert_eq!((first.added, first.updated, first.unchanged), (2, 0, 0));
    let second = b
        .store
        .import_constituents(&[org("a", "abuse@a.example"), org("b", "soc@b.example")])
        .unwrap();
    assert_eq!((second.added, second.updated, second.unchanged), (0, 1, 1));
    let listed = b.store.constituents().unwrap();
    assert_eq!(
        listed,
        vec![org("a", "abuse@a.example"), org("b", "soc@b.example")]
    );
    // A change of the further recipients alone is a change, stored on either backend.
    let mut changed = org("a", "abuse@a.example");
    changed.also_notify = vec!["cert@a.example".into()];
    let third = b.store.import_constituents(&[changed.clone()]).unwrap();
    assert_eq!((third.added, third.updated, third.unchanged), (0, 1, 0));
    assert_eq!(b.store.constituents().unwrap()[0], changed);
}

fn constituent_saves_are_audited_in_the_same_transaction(b: &Backend) {
    let org = |id: &str, email: &str| Constituent {
        id: id.into(),
        name: format!("Org {id}"),
        abuse_email: email.into(),
        asns: vec![64500],
        netblocks: vec!["192.0.2.0/24".parse().unwrap()],
        domains: vec![],
        language: None,
        also_notify: Vec::new(),
    };
    let how = |actor: &'static str, mode: SaveMode, source: Option<&'static str>| ConstituentSave {
        actor,
        mode,
        source,
    };
    let log = b.store.audit();
    let entries = || {
        log.audit_entries(&focal_store::incidents::AuditFilter::default())
            .unwrap()
    };
    // An import: one entry per added or changed record, none for an unchanged one.
    let s = b
        .store
        .save_constituents(
            &[org("a", "abuse@a.example"), org("b", "abuse@b.example")],
            &how("user:alice", SaveMode::Import, Some("orgs.csv")),
        )
        .unwrap();
    assert_eq!((s.added, s.updated, s.unchanged), (2, 0, 0));
    let s = b
        .store
        .save_constituents(
            &[org("a", "abuse@a.example"), org("b", "soc@b.example")],
            &how("user:alice", SaveMode::Import, Some("orgs2.csv")),
        )
        .unwrap();
    assert_eq!((s.added, s.updated, s.unchanged), (0, 1, 1));
    let e = entries();
    assert_eq!(e.len(), 3);
    assert_eq!(
        (e[0].action.as_str(), e[0].subject.as_str()),
        ("constituent.import", "constituent:a")
    );
    assert!(e[0].before.is_none());
    let last = &e[2];
    assert_eq!(last.subject, "constituent:b");
    assert_eq!(
        last.before.as_ref().unwrap()["abuse_email"],
        "abuse@b.example"
    );
    assert_eq!(last.after.as_ref().unwrap()["abuse_email"], "soc@b.example");
    assert_eq!(last.after.as_ref().unwrap()["imported_from"], "orgs2.csv");
    assert_eq!(last.after.as_ref().unwrap()["netblocks"][0], "192.0.2.0/24");

    // Create refuses an existing id and Update a missing one, writing nothing at all.
    for (mode, c) in [
        (SaveMode::Create, org("a", "new@a.example")),
        (SaveMode::Update, org("zz", "x@zz.example")),
    ] {
        let err = b
            .store
            .save_constituents(&[c], &how("user:bob", mode, None))
            .unwrap_err();
        assert!(err.to_string().starts_with("id: "), "{err}");
    }
    // A refusal in the middle of a batch rolls back the records before it too.
    let err = b
        .store
        .save_constituents(
            &[org("c", "c@c.example"), org("a", "again@a.example")],
            &how("user:bob", SaveMode::Create, None),
        )
        .unwrap_err();
    assert!(err.to_string().contains("\"a\" already exists"), "{err}");
    assert_eq!(b.store.constituents().unwrap().len(), 2);
    assert_eq!(entries().len(), 3);

    // An edit and a creation as a signed-in user: actions name what happened.
    let mut edited = org("a", "cert@a.example");
    edited.netblocks = vec!["198.51.100.0/24".parse().unwrap()];
    b.store
        .save_constituents(&[edited.clone()], &how("user:bob", SaveMode::Update, None))
        .unwrap();
    b.store
        .save_constituents(&[org("d", "")], &how("user:bob", SaveMode::Upsert, None))
        .unwrap();
    let e = entries();
    let (update, create) = (&e[3], &e[4]);
    assert_eq!(
        (update.actor.as_str(), update.action.as_str()),
        ("user:bob", "constituent.update")
    );
    assert_eq!(
        update.before.as_ref().unwrap()["netblocks"][0],
        "192.0.2.0/24"
    );
    assert_eq!(
        update.after.as_ref().unwrap()["netblocks"][0],
        "198.51.100.0/24"
    );
    assert!(
        update
            .after
            .as_ref()
            .unwrap()
            .get("imported_from")
            .is_none()
    );
    assert_eq!(create.action, "constituent.create");
    assert!(log.audit_verify().unwrap().ok);
    let listed = b.store.constituents().unwrap();
    assert_eq!(listed[0], edited);
    assert_eq!(listed.len(), 3);
}

fn runs_are_recorded_found_and_finished(b: &Backend) {
    assert!(b.store.find_run("abc", "test-feed").unwrap().is_none());
    let run = b.store.begin_run(&new_run("abc")).unwrap();
    assert_eq!(run.status, RunStatus::Running);
    let found = b.store.find_run("abc", "test-feed").unwrap().unwrap();
    assert_eq!(found.id, run.id);
    assert!(b.store.find_run("abc", "other-feed").unwrap().is_none());
    let progress = RunProgress {
        rows_read: 10,
        events_stored: 7,
        duplicates: 2,
        quarantined: 1,
        offset: 999,
        line: 11,
    };
    b.store
        .finish_run(run.id, &progress, RunStatus::Completed)
        .unwrap();
    let runs = b.store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Completed);
    assert_eq!(runs[0].progress, progress);
    assert!(runs[0].finished_at.is_some());
}

fn events_are_written_once_and_read_back_unchanged(b: &Backend) {
    let batch = vec![
        event(1, "192.0.2.1", Some("org-a")),
        event(2, "192.0.2.2", None),
        event(1, "192.0.2.1", Some("org-a")), // the same event again within the batch
    ];
    let (_, inserted) = write_run(&*b.store, "s1", &batch);
    assert_eq!(inserted, 2);
    // Another run repeating one stored event and adding one.
    let (_, inserted) = write_run(
        &*b.store,
        "s2",
        &[
            event(2, "192.0.2.2", None),
            event(3, "2001:db8::3", Some("org-b")),
        ],
    );
    assert_eq!(inserted, 1);
    let stored = all_events(&*b.store, &EventFilter::default());
    assert_eq!(ids(&stored), vec![1, 2, 3]);
    let original = event(3, "2001:db8::3", Some("org-b"));
    let back = stored.iter().find(|e| e.id == original.id).unwrap();
    assert_eq!(back, &original, "every field survives the round trip");
    // Newest first, and a page of it before a point.
    let in_order: Vec<u128> = stored.iter().map(|e| e.id.as_u128()).collect();
    let newest = all_events(
        &*b.store,
        &EventFilter {
            newest_first: true,
            ..EventFilter::default()
        },
    );
    let mut reversed = in_order.clone();
    reversed.reverse();
    assert_eq!(
        newest.iter().map(|e| e.id.as_u128()).collect::<Vec<_>>(),
        reversed
    );
    let first_two = all_events(
        &*b.store,
        &EventFilter {
            newest_first: true,
            limit: Some(2),
            ..EventFilter::default()
        },
    );
    assert_eq!(
        first_two.iter().map(|e| e.id.as_u128()).collect::<Vec<_>>(),
        reversed[..2]
    );
}

fn uncommitted_writes_are_rolled_back(b: &Backend) {
    let run = b.store.begin_run(&new_run("s")).unwrap();
    {
        let mut writer = b.store.run_writer(run.id).unwrap();
        writer
            .write(&encoded(&[event(1, "192.0.2.1", None)]), &[])
            .unwrap();
        writer.commit(&RunProgress::default()).unwrap();
        writer
            .write(&encoded(&[event(2, "192.0.2.2", None)]), &[])
            .unwrap();
        // Dropped without a commit, as when a process dies mid-batch.
    }
    assert_eq!(
        ids(&all_events(&*b.store, &EventFilter::default())),
        vec![1]
    );
    // The event that was rolled back can be written later.
    let (_, inserted) = write_run(&*b.store, "t", &[event(2, "192.0.2.2", None)]);
    assert_eq!(inserted, 1);
}

fn quarantine_keeps_each_bad_line_once(b: &Backend) {
    let bad = |line: u64, kind: &str| QuarantineEntry {
        line,
        kind: kind.into(),
        field: Some("source.ip".into()),
        reason: format!("line {line} is bad"),
        raw: vec![b'x', 0xff, b'\n'],
    };
    for _ in 0..2 {
        let run = b.store.begin_run(&new_run("same-content")).unwrap();
        let mut writer = b.store.run_writer(run.id).unwrap();
        writer
            .write(&[], &[bad(3, "bad_ip"), bad(9, "timestamp")])
            .unwrap();
        writer.commit(&RunProgress::default()).unwrap();
    }
    let all = b.store.quarantine(&QuarantineFilter::default()).unwrap();
    assert_eq!(
        all.len(),
        2,
        "re-reading the same file quarantines nothing twice"
    );
    assert_eq!(all[0].line, 3);
    assert_eq!(all[0].raw_hex, "78ff0a");
    assert_eq!(all[0].field.as_deref(), Some("source.ip"));
    let ips = b
        .store
        .quarantine(&QuarantineFilter {
            kind: Some("bad_ip".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ips.len(), 1);
    assert_eq!(ips[0].reason, "line 3 is bad");
}

fn event_filters_select_the_right_events(b: &Backend) {
    let mut late = event(4, "198.51.100.7", Some("org-b"));
    for (field, value) in [
        ("time.source", "2026-11-24T23:00:00Z"),
        ("source.asn", "64999"),
        ("source.geolocation.cc", "DE"),
    ] {
        late.set_text(&field.parse().unwrap(), value).unwrap();
    }
    late.classification_type = ClassificationType::Scanner;
    let mut network = event(5, "192.0.2.9", None);
    network.source_ip = None;
    network.source_network = Some("203.0.113.0/24".parse().unwrap());
    write_run(
        &*b.store,
        "f",
        &[
            event(1, "192.0.2.1", Some("org-a")),
            event(2, "192.0.2.200", Some("org-a")),
            event(3, "2001:db8::1", None),
            late,
            network,
        ],
    );
    let pick = |f: EventFilter| ids(&all_events(&*b.store, &f));
    let net = |cidr: &str| EventFilter {
        network: Some(cidr.parse().unwrap()),
        ..Default::default()
    };
    assert_eq!(pick(net("192.0.2.0/25")), vec![1]);
    assert_eq!(
        pick(net("203.0.113.77/32")),
        vec![5],
        "a listed network is found by an address inside it"
    );
    assert_eq!(pick(net("::/0")), vec![3], "::/0 means IPv6 addresses");
    // Narrow and wide networks take different query shapes on SQLite (see filter.rs): both
    // must find addresses inside and listed networks overlapping.
    assert_eq!(pick(net("198.51.100.7/32")), vec![4]);
    assert_eq!(pick(net("192.0.0.0/8")), vec![1, 2]);
    assert_eq!(
        pick(net("203.0.0.0/8")),
        vec![5],
        "a wide search finds a listed network"
    );
    assert_eq!(pick(net("0.0.0.0/0")), vec![1, 2, 4, 5]);
    assert_eq!(pick(net("2001:db8::/64")), vec![3]);
    assert_eq!(
        pick(EventFilter {
            constituent: Some("org-a".into()),
            ..Default::default()
        }),
        vec![1, 2]
    );
    assert_eq!(
        pick(EventFilter {
            unassigned: true,
            ..Default::default()
        }),
        vec![3, 5]
    );
    assert_eq!(
        pick(EventFilter {
            asn: Some(64999),
            ..Default::default()
        }),
        vec![4]
    );
    assert_eq!(
        pick(EventFilter {
            country: Some("de".into()),
            ..Default::default()
        }),
        vec![4]
    );
    assert_eq!(
        pick(EventFilter {
            classification_type: Some("scanner".into()),
            ..Default::default()
        }),
        vec![4]
    );
    assert_eq!(
        pick(EventFilter {
            since: Some("2026-11-24T12:00:00Z".parse().unwrap()),
            ..Default::default()
        }),
        vec![4]
    );
    assert_eq!(
        pick(EventFilter {
            until: Some("2026-11-24T12:00:00Z".parse().unwrap()),
            feed: Some("test-feed".into()),
            ..Default::default()
        }),
        vec![1, 2, 3, 5]
    );
    assert_eq!(
        pick(EventFilter {
            feed: Some("no-such-feed".into()),
            ..Default::default()
        }),
        Vec::<u128>::new()
    );
    // Paging by limit: each page is short, and together the pages hold every event once.
    let first = all_events(
        &*b.store,
        &EventFilter {
            limit: Some(2),
            ..Default::default()
        },
    );
    assert_eq!(first.len(), 2);
    let all = all_events(&*b.store, &EventFilter::default());
    assert_eq!(
        &all[..2],
        &first[..],
        "a limit takes the first events in storage order"
    );
}

fn statistics_count_what_is_stored(b: &Backend) {
    write_run(
        &*b.store,
        "f",
        &[
            event(1, "192.0.2.1", Some("org-a")),
            event(2, "192.0.2.2", Some("org-a")),
            event(3, "192.0.2.3", Some("org-b")),
            event(4, "192.0.2.4", None),
        ],
    );
    let stats = b.store.stats().unwrap();
    assert_eq!(stats.events, 4);
    assert_eq!(stats.unassigned, 1);
    assert_eq!(stats.constituents_with_events, 2);
    assert_eq!(stats.per_constituent.get("org-a"), Some(&2));
    assert_eq!(stats.per_constituent.get("org-b"), Some(&1));
    assert_eq!(stats.by_feed.get("test-feed"), Some(&4));
    assert_eq!(stats.by_type.get("infected-system"), Some(&4));
    assert_eq!(stats.runs, 1);
}

fn feed_pulls_are_recorded_with_their_runs_and_validators(b: &Backend) {
    let store = &*b.store;
    assert!(store.latest_pulls().unwrap().is_empty());
    let (run_id, _) = write_run(
        store,
        "pulled",
        &[event(1, "192.0.2.1", None), event(2, "192.0.2.2", None)],
    );
    store
        .finish_run(
            run_id,
            &RunProgress {
                rows_read: 3,
                events_stored: 2,
                quarantined: 1,
                ..Default::default()
            },
            RunStatus::Completed,
        )
        .unwrap();
    let at = |s: &str| -> jiff::Timestamp { format!("2026-11-24T12:00:{s}Z").parse().unwrap() };
    let pull = |feed: &str, result: PullResult, run: Option<i64>, etag: Option<&str>| NewPull {
        feed: feed.into(),
        requested_by: "schedule".into(),
        started_at: at("00"),
        finished_at: at("05"),
        result,
        http_status: Some(if result == PullResult::Failed {
            404
        } else {
            200
        }),
        bytes: Some(1234),
        run_id: run,
        error: (result == PullResult::Failed).then(|| "HTTP 404 Not Found".to_string()),
        url_sha256: Some("url-a".into()),
        etag: etag.map(str::to_string),
        last_modified: Some("Tue, 24 Nov 2026 11:00:00 GMT".into()),
        sha256: Some("pulled".into()),
    };
    let first = store
        .record_pull(&pull(
            "feed-a",
            PullResult::Ok,
            Some(run_id),
            Some("\"v1\""),
        ))
        .unwrap();
    let failed = store
        .record_pull(&pull("feed-a", PullResult::Failed, None, None))
        .unwrap();
    store
        .record_pull(&pull("feed-b", PullResult::Unchanged, None, Some("\"b\"")))
        .unwrap();
    assert!(failed > first);

    // Newest first, with the run's counters joined in.
    let list = store.pulls("feed-a", 0, 10).unwrap();
    assert_eq!(
        list.iter().map(|p| p.id).collect::<Vec<_>>(),
        vec![failed, first]
    );
    assert_eq!(list[0].result, PullResult::Failed);
    assert_eq!(list[0].error.as_deref(), Some("HTTP 404 Not Found"));
    assert_eq!(list[0].http_status, Some(404));
    assert_eq!(list[0].run, None);
    let run = list[1].run.expect("the ok pull's run");
    assert_eq!(
        (
            run.status,
            run.rows_read,
            run.events_stored,
            run.quarantined
        ),
        (RunStatus::Completed, 3, 2, 1)
    );
    assert_eq!(list[1].bytes, Some(1234));
    assert_eq!(list[1].started_at, at("00").to_string());
    // Keyset paging.
    assert_eq!(store.pulls("feed-a", failed, 10).unwrap()[0].id, first);
    assert!(store.pulls("feed-a", first, 10).unwrap().is_empty());

    // The newest per feed; the newest good one per feed and URL.
    let latest = store.latest_pulls().unwrap();
    assert_eq!(
        latest
            .iter()
            .map(|p| (p.feed.as_str(), p.result))
            .collect::<Vec<_>>(),
        vec![
            ("feed-a", PullResult::Failed),
            ("feed-b", PullResult::Unchanged)
        ]
    );
    let good = store.last_good_pull("feed-a", "url-a").unwrap().unwrap();
    assert_eq!((good.id, good.etag.as_deref()), (first, Some("\"v1\"")));
    assert!(store.last_good_pull("feed-a", "url-b").unwrap().is_none());

    let mut counts = store.pull_counts().unwrap();
    counts.sort_by(|a, b| (&a.0, a.1.as_str()).cmp(&(&b.0, b.1.as_str())));
    assert_eq!(
        counts,
        vec![
            ("feed-a".to_string(), PullResult::Failed, 1),
            ("feed-a".to_string(), PullResult::Ok, 1),
            ("feed-b".to_string(), PullResult::Unchanged, 1),
        ]
    );
}

fn reopening_keeps_the_schema_version(b: &Backend) {
    let version = b.store.schema_version().unwrap();
    assert!(version >= 1);
    assert!(!b.store.describe().is_empty());
}

/// The distributed pipeline's bookkeeping (PostgreSQL only).
mod jobs_on_postgres {
    use super::*;

    fn new_job(store: &dyn Store) -> JobRecord {
        store
            .jobs()
            .expect("PostgreSQL has a job table")
            .create_job(&NewJob {
                run: new_run("job-content"),
                feed_definition: "name = \"test-feed\"".into(),
                header: Some((b"ip,port".to_vec(), 1)),
                chunk_records: 2,
                chunk_bytes: 1 << 20,
            })
            .unwrap()
    }

    fn spec(job: i64, no: u32) -> ChunkSpec {
        ChunkSpec {
            job_id: job,
            chunk_no: no,
            first_line: 2 + 2 * u64::from(no),
            last_line: 3 + 2 * u64::from(no),
            records: 2,
            bytes: 100,
        }
    }

    fn write(store: &dyn Store, job: i64, no: u32, events: &[Event]) -> ChunkOutcome {
        store
            .jobs()
            .unwrap()
            .write_chunk(&ChunkWrite {
                job_id: job,
                chunk_no: no,
                worker: "t",
                events: &encoded(events),
                rejections: &[],
                rows_read: events.len() as u64,
            })
            .unwrap()
    }

    #[test]
    fn a_redelivered_chunk_is_written_once_and_the_last_chunk_completes_the_job() {
        let b = postgres();
        let store = &*b.store;
        let jobs = store.jobs().unwrap();
        let job = new_job(store);
        assert_eq!(job.status, JobStatus::Publishing);
        assert_eq!(job.header, Some((b"ip,port".to_vec(), 1)));
        for no in 0..2 {
            jobs.record_chunk(&spec(job.id, no)).unwrap();
        }
        // Chunk 1 finishes before chunk 0, and before publishing is over.
        let first = write(store, job.id, 1, &[event(3, "192.0.2.3", None)]);
        assert_eq!(
            first,
            ChunkOutcome::Written {
                events_stored: 1,
                job_completed: false
            }
        );
        assert_eq!(
            write(store, job.id, 1, &[event(3, "192.0.2.3", None)]),
            ChunkOutcome::AlreadyDone,
            "a second delivery writes nothing"
        );
        let published = jobs.chunks_published(job.id, 2).unwrap();
        assert_eq!(published.status, JobStatus::Queued);
        // The last chunk repeats an event of chunk 1: stored once, counted as a duplicate.
        let last = write(
            store,
            job.id,
            0,
            &[event(1, "192.0.2.1", None), event(3, "192.0.2.3", None)],
        );
        assert_eq!(
            last,
            ChunkOutcome::Written {
                events_stored: 1,
                job_completed: true
            }
        );
        let done = jobs.job(job.id).unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(done.chunks_done, 2);
        assert_eq!(
            (
                done.progress.rows_read,
                done.progress.events_stored,
                done.progress.duplicates
            ),
            (3, 2, 1)
        );
        let run = store.runs(1).unwrap().remove(0);
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.progress.events_stored, 2);
        assert_eq!(store.stats().unwrap().events, 2);
        assert!(
            jobs.unfinished_job("job-content", "test-feed")
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn racing_deliveries_of_overlapping_chunks_store_each_event_once() {
        let b = postgres();
        let job = new_job(&*b.store);
        let jobs = b.store.jobs().unwrap();
        let chunks = 8u32;
        for no in 0..chunks {
            jobs.record_chunk(&spec(job.id, no)).unwrap();
        }
        jobs.chunks_published(job.id, chunks).unwrap();
        // Every chunk holds events 0..50, so all of them collide with each other; each chunk is
        // also delivered twice, from two threads at once.
        let events: Vec<Event> = (0..50)
            .map(|n| event(n, &format!("192.0.2.{n}"), None))
            .collect();
        std::thread::scope(|scope| {
            for no in 0..chunks {
                for _ in 0..2 {
                    let (store, events) = (&*b.store, &events);
                    scope.spawn(move || write(store, job.id, no, events));
                }
            }
        });
        let done = jobs.job(job.id).unwrap().unwrap();
        assert_eq!(done.status, JobStatus::Completed);
        assert_eq!(done.progress.events_stored, 50);
        assert_eq!(done.progress.duplicates, 50 * u64::from(chunks) - 50);
        assert_eq!(b.store.stats().unwrap().events, 50);
    }

    #[test]
    fn a_failed_chunk_records_its_reason() {
        let b = postgres();
        let job = new_job(&*b.store);
        let jobs = b.store.jobs().unwrap();
        jobs.record_chunk(&spec(job.id, 0)).unwrap();
        jobs.fail_chunk(job.id, 0, "bad magic bytes").unwrap();
        let chunk = jobs.chunks(job.id).unwrap().remove(0);
        assert_eq!(chunk.status, "failed");
        assert_eq!(chunk.error.as_deref(), Some("bad magic bytes"));
        assert_eq!(
            write(&*b.store, job.id, 0, &[event(1, "192.0.2.1", None)]),
            ChunkOutcome::AlreadyDone,
            "a failed chunk is not written by a late delivery"
        );
    }

    #[test]
    fn the_sqlite_backend_has_no_job_table() {
        assert!(sqlite().store.jobs().is_none());
    }
}

fn the_audit_log_chains_entries_and_detects_edits_and_removals(b: &Backend) {
    let log = b.store.audit();
    let empty = log.audit_verify().unwrap();
    assert!(empty.ok && empty.entries == 0);
    for n in 0..4 {
        let after = serde_json::json!({ "n": n });
        log.audit_append(
            "alice",
            "test.change",
            &format!("thing:{n}"),
            None,
            Some(&after),
        )
        .unwrap();
    }
    let good = log.audit_verify().unwrap();
    assert!(good.ok, "{good:?}");
    assert_eq!(good.entries, 4);
    let entries = log
        .audit_entries(&focal_store::incidents::AuditFilter {
            subject: None,
            action: Some("test.change".into()),
            after_id: None,
            limit: None,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[1].prev_hash, entries[0].hash,
        "each entry links to the one before"
    );
    let latest = log.audit_latest("test.change", "thing:3").unwrap().unwrap();
    assert_eq!(latest.id, entries[3].id);
    // The audit page's filters: newest first, paged back, by actor and by time.
    log.audit_append("bob", "test.other", "thing:9", None, None)
        .unwrap();
    let list = |f: focal_store::incidents::AuditFilter| -> Vec<i64> {
        log.audit_entries(&f)
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect()
    };
    let ids: Vec<i64> = entries.iter().map(|e| e.id).collect();
    let newest = list(focal_store::incidents::AuditFilter {
        newest_first: true,
        limit: Some(3),
        ..Default::default()
    });
    assert_eq!(newest, vec![ids[3] + 1, ids[3], ids[2]]);
    let older = list(focal_store::incidents::AuditFilter {
        newest_first: true,
        before_id: Some(ids[2]),
        ..Default::default()
    });
    assert_eq!(older, vec![ids[1], ids[0]]);
    let by_bob = list(focal_store::incidents::AuditFilter {
        actor: Some("bob".into()),
        ..Default::default()
    });
    assert_eq!(by_bob, vec![ids[3] + 1]);
    let at: jiff::Timestamp = entries[0].at.parse().unwrap();
    let hour = jiff::SignedDuration::from_hours(1);
    let this_hour = list(focal_store::incidents::AuditFilter {
        since: Some(at - hour),
        until: Some(at + hour),
        ..Default::default()
    });
    assert_eq!(this_hour.len(), 5, "{this_hour:?}");
    let later = list(focal_store::incidents::AuditFilter {
        since: Some(at + hour),
        ..Default::default()
    });
    assert!(later.is_empty(), "{later:?}");
    let earlier = list(focal_store::incidents::AuditFilter {
        until: Some(at - hour),
        ..Default::default()
    });
    assert!(earlier.is_empty(), "{earlier:?}");
    // An edit by hand breaks the chain at that entry.
    b.exec_by_hand("UPDATE audit_log SET actor = 'mallory' WHERE id = 2");
    let edited = log.audit_verify().unwrap();
    assert!(!edited.ok);
    assert_eq!(edited.first_bad_id, Some(2), "{edited:?}");
    // So does a removal, even after the edit is undone.
    b.exec_by_hand("UPDATE audit_log SET actor = 'alice' WHERE id = 2");
    assert!(log.audit_verify().unwrap().ok);
    b.exec_by_hand("DELETE FROM audit_log WHERE id = 3");
    let removed = log.audit_verify().unwrap();
    assert!(!removed.ok);
    assert_eq!(removed.first_bad_id, Some(4), "{removed:?}");
}

/// The chain sealed with a key kept outside the database (HMAC-SHA-256): entries written before
/// the store was keyed keep verifying as they were (SHA-256); from `keyed_from` on, an edit, or
/// a rewrite that recomputes the chain without the key, fails; removing the newest entries shows
/// against an anchor taken before.
fn a_keyed_audit_chain_cannot_be_rewritten_without_its_key_nor_cut_short_past_an_anchor(
    b: &Backend,
) {
    use focal_store::audit_chain::{Anchor, AuditKey, Keying};
    let log = b.store.audit();
    let append = |n: i64| {
        log.audit_append(
            "alice",
            "test.change",
            &format!("thing:{n}"),
            None,
            Some(&serde_json::json!({ "n": n })),
        )
        .unwrap()
    };
    // Two entries from before the store was keyed (an existing data folder).
    append(1);
    append(2);
    let key = AuditKey::new([9u8; 32], 3);
    log.set_audit_keying(Keying::Keyed(key.clone()));
    for n in 3..=5 {
        append(n);
    }
    let v = log.audit_verify().unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!((v.entries, v.keyed_from), (5, Some(3)));
    assert_eq!(v.key.as_deref(), Some(key.fingerprint().as_str()));
    // The keyed entries are not plain SHA-256: without the key they do not verify.
    log.set_audit_keying(Keying::Unkeyed);
    assert_eq!(log.audit_verify().unwrap().first_bad_id, Some(3));
    // Nor with another key.
    log.set_audit_keying(Keying::Keyed(AuditKey::new([8u8; 32], 3)));
    assert_eq!(log.audit_verify().unwrap().first_bad_id, Some(3));
    log.set_audit_keying(Keying::Keyed(key.clone()));

    // An anchor of the head, then more entries: still verifies against it.
    let (entry, mac) = log.audit_head().unwrap().unwrap();
    assert_eq!(entry, 5);
    let anchor = Anchor {
        entry,
        mac,
        at: "2026-11-24T12:00:00Z".into(),
        key: Some(key.fingerprint()),
    };
    append(6);
    assert!(log.audit_verify_anchored(Some(&anchor)).unwrap().ok);

    // (a) An edited row fails.
    b.exec_by_hand("UPDATE audit_log SET actor = 'mallory' WHERE id = 4");
    assert_eq!(log.audit_verify().unwrap().first_bad_id, Some(4));
    b.exec_by_hand("UPDATE audit_log SET actor = 'alice' WHERE id = 4");
    assert!(log.audit_verify().unwrap().ok);

    // (b) A rewrite that recomputes the chain without the key fails, whether it starts at a
    // keyed entry or at one from before the key (whose successors are keyed).
    let untouched = b.audit_rows();
    b.rewrite_audit_without_key(4, "mallory");
    let rewritten = log.audit_verify().unwrap();
    assert!(!rewritten.ok);
    assert_eq!(rewritten.first_bad_id, Some(4), "{rewritten:?}");
    assert!(
        rewritten.problem.as_deref().unwrap().contains("audit key"),
        "{rewritten:?}"
    );
    b.rewrite_audit_without_key(1, "mallory");
    assert_eq!(log.audit_verify().unwrap().first_bad_id, Some(3));
    // Put back as it was (the seals recomputed here are SHA-256 again for entries 1 and 2).
    for r in &untouched {
        b.exec_by_hand(&format!(
            "UPDATE audit_log SET actor = '{}', prev_hash = '{}', hash = '{}' WHERE id = {}",
            r.2, r.7, r.8, r.0
        ));
    }
    assert!(log.audit_verify_anchored(Some(&anchor)).unwrap().ok);

    // (c) Removing the newest entries leaves a chain that verifies on its own, but not against
    // an anchor taken before the removal.
    b.exec_by_hand("DELETE FROM audit_log WHERE id >= 5");
    assert!(log.audit_verify().unwrap().ok, "a shorter chain links up");
    let cut = log.audit_verify_anchored(Some(&anchor)).unwrap();
    assert!(!cut.ok);
    assert_eq!(cut.first_bad_id, Some(5), "{cut:?}");
    assert!(
        cut.problem.as_deref().unwrap().contains("removed"),
        "{cut:?}"
    );
    // An anchor whose entry was replaced (same id, another MAC) fails too.
    append(5);
    let replaced = log.audit_verify_anchored(Some(&anchor)).unwrap();
    assert_eq!(replaced.first_bad_id, Some(5), "{replaced:?}");

    // A process without the right key may neither append nor verify.
    log.set_audit_keying(Keying::Unavailable("no key here".into()));
    assert!(matches!(
        log.audit_append("x", "test.change", "thing:9", None, None),
        Err(StoreError::AuditKey(_))
    ));
    assert!(matches!(log.audit_verify(), Err(StoreError::AuditKey(_))));
}

/// Self-assessment, the risk register and vulnerability management (`focal_assessment::store`).
mod assessment_domain {
    use super::*;
    use focal_assessment::assessment::*;
    use focal_assessment::matching::*;
    use focal_assessment::risk::*;
    use focal_assessment::store::StoreError as DomainError;
    use focal_assessment::store::*;

    fn framework() -> focal_assessment::Framework {
        focal_assessment::framework::builtin()
            .unwrap()
            .into_iter()
            .find(|f| f.id == "un-ares-57-239")
            .unwrap()
    }

    fn new_assessment(subject: &str) -> NewAssessment {
        NewAssessment {
            framework_id: "un-ares-57-239".into(),
            framework_version: "2002-12-20".into(),
            subject: Subject {
                kind: SubjectKind::Organisation,
                name: subject.into(),
                constituent: Some("org-1".into()),
            },
            based_on: None,
            answers: vec![],
        }
    }

    fn answer(item: &str, level: &str) -> Answer {
        Answer {
            item: item.into(),
            level: Some(level.into()),
            evidence: format!("evidence for {item}"),
            links: vec!["https://example.org/policy".into()],
            owner: Some("ciso".into()),
            ..Answer::default()
        }
    }

    pub fn assessments_are_answered_completed_and_then_frozen(b: &Backend) {
        let s = b.store.assessment();
        let h = s
            .create_assessment(&new_assessment("Ministry"), "alice")
            .unwrap();
        assert_eq!(h.status, Status::Draft);
        s.save_answer(h.id, &answer("a", "yes"), "alice").unwrap();
        s.save_answer(h.id, &answer("b", "partial"), "alice")
            .unwrap();
        // Replacing an answer keeps one row per item.
        s.save_answer(h.id, &answer("b", "yes"), "bob").unwrap();
        let file = s
            .add_evidence_file(h.id, "a", "policy.pdf", b"%PDF-1.4 test", "alice")
            .unwrap();
        let (meta, content) = s.evidence_file(file.id).unwrap();
        assert_eq!(content, b"%PDF-1.4 test");
        assert_eq!(meta.size, 13);
        let a = s.assessment(h.id).unwrap();
        assert_eq!(a.answers.len(), 2);
        assert_eq!(a.answer("b").unwrap().level.as_deref(), Some("yes"));
        assert_eq!(a.files.len(), 1);

        let due: jiff::civil::Date = "2027-01-31".parse().unwrap();
        let done = s
            .complete_assessment(h.id, due, &serde_json::json!({"overall": 22.2}), "alice")
            .unwrap();
        assert_eq!(done.status, Status::Completed);
        assert_eq!(done.due, Some(due));
        assert_eq!(done.completed_by.as_deref(), Some("alice"));
        // A completed assessment never changes again.
        assert!(matches!(
            s.save_answer(h.id, &answer("c", "yes"), "alice"),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            s.add_evidence_file(h.id, "c", "x.txt", b"x", "alice"),
            Err(DomainError::Conflict(_))
        ));
        assert!(matches!(
            s.complete_assessment(h.id, due, &serde_json::json!({}), "alice"),
            Err(DomainError::Conflict(_))
        ));
        assert_eq!(s.assessment(h.id).unwrap().answers.len(), 2);

        // One reminder per assessment and due date, however often it is queued.
        assert!(
            s.queue_reminder(h.id, due, "a@example.org", "<r1@x>", "alice")
                .unwrap()
        );
        assert!(
            !s.queue_reminder(h.id, due, "b@example.org", "<r2@x>", "alice")
                .unwrap()
        );
        let pending = s.reminders(Some("pending")).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (
                pending[0].assessment,
                pending[0].due,
                pending[0].recipient.as_str()
            ),
            (h.id, due, "a@example.org")
        );
        s.mark_reminder(pending[0].id, Err(("421 try later", false)), "alice")
            .unwrap();
        let still = s.reminders(Some("pending")).unwrap();
        assert_eq!((still.len(), still[0].attempts), (1, 1));
        s.mark_reminder(pending[0].id, Ok("250 ok"), "alice")
            .unwrap();
        assert!(s.reminders(Some("pending")).unwrap().is_empty());
        let sent = s.reminders(Some("sent")).unwrap();
        assert_eq!((sent.len(), sent[0].attempts), (1, 2));
        assert!(sent[0].sent_at.is_some());
        assert!(matches!(
            s.queue_reminder(h.id + 100, due, "a@example.org", "<r3@x>", "alice"),
            Err(DomainError::NotFound { .. })
        ));
        assert!(matches!(
            s.assessment(h.id + 100),
            Err(DomainError::NotFound { .. })
        ));

        // The next one starts from a copy.
        let (copied, dropped) = carry_over(&framework(), &s.assessment(h.id).unwrap());
        assert!(dropped.is_empty());
        let mut next = new_assessment("Ministry");
        next.based_on = Some(h.id);
        next.answers = copied;
        let h2 = s.create_assessment(&next, "alice").unwrap();
        assert_eq!(h2.based_on, Some(h.id));
        assert_eq!(s.assessment(h2.id).unwrap().answers.len(), 2);
        s.create_assessment(&new_assessment("Other"), "alice")
            .unwrap();
        let listed = s
            .assessments(&AssessmentFilter {
                subject: Some("Ministry".into()),
                ..AssessmentFilter::default()
            })
            .unwrap();
        assert_eq!(
            listed.iter().map(|h| h.id).collect::<Vec<_>>(),
            [h.id, h2.id]
        );
        let completed = s
            .assessments(&AssessmentFilter {
                status: Some(Status::Completed),
                ..AssessmentFilter::default()
            })
            .unwrap();
        assert_eq!(completed.len(), 1);

        // Every change is in the audit log, and the chain holds.
        let entries = b
            .store
            .audit()
            .audit_entries(&incidents::AuditFilter {
                subject: Some(format!("assessment:{}", h.id)),
                ..incidents::AuditFilter::default()
            })
            .unwrap();
        let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "assessment.create",
                "assessment.answer",
                "assessment.answer",
                "assessment.answer",
                "assessment.evidence_file",
                "assessment.complete",
                // The reminder: queued once, sent once (the retry is not an audited change).
                "assessment.reminder_queued",
                "assessment.reminder_sent"
            ]
        );
        assert_eq!(entries[3].actor, "bob");
        assert!(b.store.audit().audit_verify().unwrap().ok);
    }

    pub fn user_frameworks_are_added_once(b: &Backend) {
        let s = b.store.assessment();
        let mut f = framework();
        f.id = "my-own".into();
        assert!(s.add_framework(&f, "text", "alice").unwrap());
        assert!(!s.add_framework(&f, "text", "alice").unwrap());
        f.title = "Changed".into();
        assert!(matches!(
            s.add_framework(&f, "text", "alice"),
            Err(DomainError::Conflict(_))
        ));
        let stored = s.stored_frameworks().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].framework.id, "my-own");
        assert_ne!(stored[0].framework.title, "Changed");
    }

    fn asset(id: &str, org: &str, software: &str) -> Asset {
        Asset::from_text(&AssetText {
            id,
            name: &format!("{id} server"),
            organisation: org,
            owner: "ops",
            criticality: "high",
            software,
            ..AssetText::default()
        })
        .unwrap()
    }

    pub fn assets_risks_and_the_register(b: &Backend) {
        let s = b.store.assessment();
        let counts = s
            .save_assets(
                &[
                    asset(
                        "web-1",
                        "Org A",
                        "pkg:npm/elliptic@6.5.3 pkg:npm/left-pad@1.0.0",
                    ),
                    asset("web-2", "Org B", "pkg:npm/elliptic@6.5.4"),
                    asset(
                        "db-1",
                        "Org A",
                        "cpe:2.3:a:postgresql:postgresql:16.1:*:*:*:*:*:*:*",
                    ),
                ],
                "alice",
            )
            .unwrap();
        assert_eq!((counts.added, counts.updated, counts.unchanged), (3, 0, 0));
        let again = s
            .save_assets(
                &[
                    asset(
                        "web-1",
                        "Org A",
                        "pkg:npm/elliptic@6.5.3 pkg:npm/left-pad@1.0.0",
                    ),
                    asset("web-2", "Org B", "pkg:npm/elliptic@6.5.5"),
                ],
                "alice",
            )
            .unwrap();
        assert_eq!((again.added, again.updated, again.unchanged), (0, 1, 1));
        let mut found = s.installed_for_keys(&["pkg:npm/elliptic".into()]).unwrap();
        found.sort_by(|a, b| a.asset.cmp(&b.asset));
        assert_eq!(
            found
                .iter()
                .map(|i| (i.asset.as_str(), i.software.version.as_deref().unwrap()))
                .collect::<Vec<_>>(),
            [("web-1", "6.5.3"), ("web-2", "6.5.5")]
        );
        let mut all = 0;
        s.all_installed(&mut |_| {
            all += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(all, 4);
        assert_eq!(
            s.assets(&AssetFilter {
                organisation: Some("Org A".into()),
                ..AssetFilter::default()
            })
            .unwrap()
            .len(),
            2
        );
        s.remove_asset("db-1", "alice").unwrap();
        assert!(matches!(s.asset("db-1"), Err(DomainError::NotFound { .. })));
        assert!(
            s.installed_for_keys(&["cpe:a:postgresql:postgresql".into()])
                .unwrap()
                .is_empty()
        );

        let threat = s
            .add_entry(
                &RegisterEntry {
                    id: 0,
                    kind: EntryKind::Threat,
                    name: "Ransomware".into(),
                    description: String::new(),
                    asset: None,
                    reference: None,
                },
                "alice",
            )
            .unwrap();
        let draft = RiskDraft {
            title: "Web server compromised".into(),
            description: String::new(),
            asset: Some("web-1".into()),
            threat: Some(threat.id),
            vulnerability: None,
            likelihood: 4,
            impact: 4,
            acceptable: 6,
            treatment: Treatment::Mitigate,
            owner: Some("ciso".into()),
            review_due: Some("2026-06-30".parse().unwrap()),
            controls: vec![Control {
                framework: "nist-csf-2.0".into(),
                item: "PR.PS".into(),
            }],
        };
        let risk = s.create_risk(&draft, "alice").unwrap();
        assert_eq!(risk.draft.rating().level, 16);
        assert!(risk.draft.rating().exceeds_appetite);
        let mut lower = draft.clone();
        lower.likelihood = 1;
        lower.review_due = Some("2027-06-30".parse().unwrap());
        let updated = s.update_risk(risk.id, &lower, "bob").unwrap();
        assert_eq!(updated.draft.rating().level, 4);
        assert!(matches!(
            s.update_risk(risk.id + 50, &lower, "bob"),
            Err(DomainError::NotFound { .. })
        ));
        let mut bad = draft.clone();
        bad.impact = 9;
        assert!(matches!(
            s.create_risk(&bad, "bob"),
            Err(DomainError::Invalid(_))
        ));
        let due = s
            .risks(&RiskFilter {
                review_due_by: Some("2026-12-31".parse().unwrap()),
                ..RiskFilter::default()
            })
            .unwrap();
        assert!(due.is_empty());
        assert_eq!(s.risks(&RiskFilter::default()).unwrap().len(), 1);
        assert_eq!(s.entries(Some(EntryKind::Threat)).unwrap().len(), 1);
        assert!(
            s.entries(Some(EntryKind::Vulnerability))
                .unwrap()
                .is_empty()
        );
    }

    fn osv(name: &str) -> (Vec<u8>, focal_assessment::advisory::Advisory) {
        let bytes = std::fs::read(format!(
            "{}/../focal-assessment/tests/data/osv/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let a = focal_assessment::advisory::parse(name, &bytes)
            .unwrap()
            .remove(0);
        (bytes, a)
    }

    fn run_match(s: &dyn Storage, scope: MatchScope) -> SyncOutcome {
        let mut index = SoftwareIndex::new();
        s.all_installed(&mut |i| {
            index.insert(i);
            Ok(())
        })
        .unwrap();
        let mut records = Vec::new();
        s.all_records(&mut |r| {
            records.push(r);
            Ok(())
        })
        .unwrap();
        let found: Vec<FindingDraft> = match_all(&index, &records)
            .into_iter()
            .filter(|d| match &scope {
                MatchScope::Advisory(a) => d.advisory == *a,
                MatchScope::Asset(x) => d.asset == *x,
                MatchScope::All => true,
            })
            .collect();
        s.sync_findings(&scope, &found, "matcher").unwrap()
    }

    pub fn advisories_become_findings_tracked_to_closure(b: &Backend) {
        let s = b.store.assessment();
        s.save_assets(
            &[
                asset("web-1", "Org A", "pkg:npm/elliptic@6.5.3"),
                asset("web-2", "Org B", "pkg:npm/elliptic@6.5.4"),
            ],
            "alice",
        )
        .unwrap();
        let (_, ghsa) = osv("GHSA-r9p9-mrjm-926w.json");
        let (id, outcome) = s.import_advisory(&ghsa, "alice").unwrap();
        assert_eq!(outcome, ImportOutcome::Added);
        assert_eq!(
            s.import_advisory(&ghsa, "alice").unwrap(),
            (id, ImportOutcome::Unchanged)
        );
        let mut revised = ghsa.clone();
        revised.sha256 = "0".repeat(64);
        revised.revision = "2021-04-01T00:00:00Z".into();
        assert_eq!(
            s.import_advisory(&revised, "alice").unwrap(),
            (id, ImportOutcome::Replaced)
        );
        assert_eq!(s.advisory(id).unwrap().records.len(), 1);
        assert_eq!(
            s.advisories(10).unwrap()[0].advisory_ref,
            "GHSA-r9p9-mrjm-926w"
        );
        assert_eq!(
            s.records_for_keys(&["pkg:npm/elliptic".into()])
                .unwrap()
                .len(),
            1
        );
        assert!(
            s.records_for_keys(&["pkg:npm/other".into()])
                .unwrap()
                .is_empty()
        );

        let first = run_match(&*s, MatchScope::All);
        assert_eq!((first.opened, first.still_open, first.resolved), (1, 0, 0));
        let findings = s.findings(&FindingFilter::default()).unwrap();
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(
            (f.draft.asset.as_str(), f.draft.vuln_id.as_str()),
            ("web-1", "CVE-2020-28498")
        );
        assert_eq!(f.status, FindingStatus::Open);
        // The same run again changes nothing.
        let again = run_match(&*s, MatchScope::All);
        assert_eq!((again.opened, again.still_open, again.resolved), (0, 1, 0));

        // A person works on it; illegal moves are refused.
        let risk = s
            .create_risk(
                &RiskDraft {
                    title: "Key disclosure".into(),
                    description: String::new(),
                    asset: Some("web-1".into()),
                    threat: None,
                    vulnerability: None,
                    likelihood: 3,
                    impact: 4,
                    acceptable: 6,
                    treatment: Treatment::Mitigate,
                    owner: None,
                    review_due: None,
                    controls: vec![],
                },
                "alice",
            )
            .unwrap();
        let f = s
            .update_finding(
                f.id,
                &FindingChange {
                    status: Some(FindingStatus::InProgress),
                    add_risk: Some(risk.id),
                    add_incident: Some(42),
                    ..FindingChange::default()
                },
                "alice",
            )
            .unwrap();
        assert_eq!(f.risks, [risk.id]);
        assert_eq!(f.incidents, [42]);
        assert!(matches!(
            s.update_finding(
                f.id,
                &FindingChange {
                    add_risk: Some(risk.id + 9),
                    ..FindingChange::default()
                },
                "alice"
            ),
            Err(DomainError::NotFound { .. })
        ));

        // The asset is upgraded: the finding no longer matches and is resolved.
        s.save_assets(
            &[asset("web-1", "Org A", "pkg:npm/elliptic@6.5.4")],
            "alice",
        )
        .unwrap();
        let fixed = run_match(&*s, MatchScope::Asset("web-1".into()));
        assert_eq!(fixed.resolved, 1);
        let f = s.finding(f.id).unwrap();
        assert_eq!(f.status, FindingStatus::Resolved);
        assert!(f.closed_at.is_some());
        assert!(matches!(
            s.update_finding(
                f.id,
                &FindingChange {
                    status: Some(FindingStatus::InProgress),
                    ..FindingChange::default()
                },
                "alice"
            ),
            Err(DomainError::Conflict(_))
        ));
        // Rolled back to the vulnerable version: reopened, with its history.
        s.save_assets(
            &[asset("web-1", "Org A", "pkg:npm/elliptic@6.5.0")],
            "alice",
        )
        .unwrap();
        let back = run_match(&*s, MatchScope::Advisory(id));
        assert_eq!((back.reopened, back.opened), (1, 0));
        let f = s.finding(f.id).unwrap();
        assert_eq!(f.status, FindingStatus::Open);
        assert_eq!(f.draft.version.as_deref(), Some("6.5.0"));
        assert_eq!(f.risks, [risk.id]);
        // Accepted findings are a person's decision: the matcher leaves them alone.
        s.update_finding(
            f.id,
            &FindingChange {
                status: Some(FindingStatus::Accepted),
                resolution: Some("isolated network".into()),
                ..FindingChange::default()
            },
            "alice",
        )
        .unwrap();
        s.save_assets(
            &[asset("web-1", "Org A", "pkg:npm/elliptic@7.0.0")],
            "alice",
        )
        .unwrap();
        let after = run_match(&*s, MatchScope::All);
        assert_eq!(after.resolved, 0);
        assert_eq!(s.finding(f.id).unwrap().status, FindingStatus::Accepted);
        let open = s
            .findings(&FindingFilter {
                status: vec![FindingStatus::Open, FindingStatus::InProgress],
                ..FindingFilter::default()
            })
            .unwrap();
        assert!(open.is_empty());
        // Paging: pages of one, read by offset, are the whole list in its order; an offset
        // past the end (without a limit) gives nothing.
        let all: Vec<i64> = s
            .findings(&FindingFilter::default())
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect();
        assert!(!all.is_empty());
        let paged: Vec<i64> = (0..all.len())
            .flat_map(|k| {
                s.findings(&FindingFilter {
                    limit: Some(1),
                    offset: k,
                    ..FindingFilter::default()
                })
                .unwrap()
            })
            .map(|f| f.id)
            .collect();
        assert_eq!(paged, all);
        assert!(
            s.findings(&FindingFilter {
                offset: all.len(),
                ..FindingFilter::default()
            })
            .unwrap()
            .is_empty()
        );
        let actions: Vec<String> = b
            .store
            .audit()
            .audit_entries(&incidents::AuditFilter {
                subject: Some(format!("finding:{}", f.id)),
                ..incidents::AuditFilter::default()
            })
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                "finding.open",
                "finding.update",
                "finding.resolve",
                "finding.reopen",
                "finding.update"
            ]
        );
        assert!(b.store.audit().audit_verify().unwrap().ok);
    }
}
use assessment_domain::*;

mod assessment_on_every_backend {
    use super::*;
    on_every_backend!(
        assessments_are_answered_completed_and_then_frozen,
        user_frameworks_are_added_once,
        assets_risks_and_the_register,
        advisories_become_findings_tracked_to_closure,
    );
}
