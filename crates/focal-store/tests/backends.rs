//! The store test suite, run against every backend: the embedded SQLite file and a real
//! PostgreSQL (127.0.0.1:5432, database `test`). Each PostgreSQL test works in a schema of its
//! own, dropped at the end, so the tests run in parallel without seeing each other's rows.

use focal_model::{ClassificationType, Constituent, Event, Tlp};
use focal_store::*;
use std::sync::atomic::{AtomicU32, Ordering};

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

impl Backend {
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
    feed_pulls_are_recorded_with_their_runs_and_validators,
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
        })
        .unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(
        entries[1].prev_hash, entries[0].hash,
        "each entry links to the one before"
    );
    let latest = log.audit_latest("test.change", "thing:3").unwrap().unwrap();
    assert_eq!(latest.id, entries[3].id);
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
