//! The awareness storage (issue 17) on every backend: advisories as compare-and-set saves with
//! insert-only revisions, the advisory mail outbox, the policy library with its full-text
//! search and facets, and the TLP:CLEAR figures behind the public statistics.

use super::{Backend, event, write_run};
use focal_awareness::advisory::distribution::{MailOutcome, QueuedMail};
use focal_awareness::advisory::{Advisory, AdvisoryContent, AdvisoryState, Product};
use focal_awareness::library::{self, Entity, ItemType, SearchRequest};
use focal_awareness::stats::StatsWindow;
use focal_awareness::store::*;
use focal_model::Tlp;
use focal_store::incidents::AuditFilter;

fn content(title: &str) -> AdvisoryContent {
    AdvisoryContent {
        title: title.into(),
        summary: "Summary.".into(),
        products: vec![Product::parse("Acme/Router/2.1").unwrap()],
        cves: vec!["CVE-2026-0001".into()],
        cvss: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H".into()),
        remediation: None,
        tlp: Tlp::Clear,
        references: vec![],
    }
}

fn record(action: &str, id: &str) -> AuditRecord {
    AuditRecord {
        actor: "alice".into(),
        action: action.into(),
        subject: format!("advisory:{id}"),
        before: None,
        after: Some(serde_json::json!({"id": id})),
    }
}

pub fn advisories_are_saved_compare_and_set_with_insert_only_revisions(b: &Backend) {
    let store = b.store.awareness();
    let now = "2026-11-01T10:00:00Z".parse().unwrap();
    let mut a = Advisory::create("T-2026-0001", content("First"), "alice", now).unwrap();
    store
        .insert_advisory(&a, &record("advisory.create", &a.id))
        .unwrap();
    assert!(matches!(
        store.insert_advisory(&a, &record("advisory.create", &a.id)),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(store.advisory(&a.id).unwrap(), a);
    assert!(matches!(
        store.advisory("T-2026-0404"),
        Err(StorageError::NotFound(_))
    ));

    // Submit and publish, each a compare-and-set on row_version.
    a.submit("alice", now).unwrap();
    store
        .update_advisory(&a, 0, &record("advisory.submit", &a.id))
        .unwrap();
    a.row_version = 1;
    a.publish("bob", now).unwrap();
    // A save that read an older version loses.
    assert!(matches!(
        store.update_advisory(&a, 0, &record("advisory.publish", &a.id)),
        Err(StorageError::Conflict(_))
    ));
    store
        .update_advisory(&a, 1, &record("advisory.publish", &a.id))
        .unwrap();
    a.row_version = 2;
    let back = store.advisory(&a.id).unwrap();
    assert_eq!(back, a);
    assert_eq!(back.state, AdvisoryState::Published);
    assert_eq!(back.revisions.len(), 1);

    // A published revision cannot be rewritten or dropped.
    let mut forged = back.clone();
    forged.revisions[0].content.title = "Rewritten history".into();
    assert!(matches!(
        store.update_advisory(&forged, 2, &record("advisory.edit", &a.id)),
        Err(StorageError::Conflict(_))
    ));
    let mut dropped = back.clone();
    dropped.revisions.clear();
    assert!(matches!(
        store.update_advisory(&dropped, 2, &record("advisory.edit", &a.id)),
        Err(StorageError::Conflict(_))
    ));
    assert_eq!(
        store.advisory(&a.id).unwrap(),
        a,
        "refused saves changed nothing"
    );
    let mut missing = a.clone();
    missing.id = "T-2026-0404".into();
    assert!(matches!(
        store.update_advisory(&missing, 2, &record("advisory.edit", "T-2026-0404")),
        Err(StorageError::NotFound(_))
    ));

    let list = store.advisory_list(&AdvisoryFilter::default()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].revision, list[0].state),
        (1, AdvisoryState::Published)
    );
    assert_eq!(store.published_advisories(10).unwrap(), vec![a.clone()]);
    assert_eq!(
        store.advisory_ids().unwrap(),
        vec!["T-2026-0001".to_string()]
    );

    // Every stored change has its audit entry, and only those.
    let entries = b
        .store
        .audit()
        .audit_entries(&AuditFilter {
            subject: Some("advisory:T-2026-0001".into()),
            ..Default::default()
        })
        .unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["advisory.create", "advisory.submit", "advisory.publish"]
    );
    assert!(b.store.audit().audit_verify().unwrap().ok);
}

pub fn advisory_mail_is_queued_once_and_moves_through_its_states(b: &Backend) {
    let store = b.store.awareness();
    let now = "2026-11-01T10:00:00Z".parse().unwrap();
    let a = Advisory::create("T-2026-0002", content("Mail"), "alice", now).unwrap();
    store
        .insert_advisory(&a, &record("advisory.create", &a.id))
        .unwrap();
    let mail = |c: &str| QueuedMail {
        advisory_id: a.id.clone(),
        revision: 1,
        constituent: c.into(),
        recipient: format!("abuse@{c}.example"),
        message_id: format!("<advisory.{c}@test>"),
    };
    let queued = store
        .queue_advisory_mail(&[mail("one"), mail("two")], &record("advisory.send", &a.id))
        .unwrap();
    assert_eq!(queued, 2);
    let again = store
        .queue_advisory_mail(
            &[mail("one"), mail("three")],
            &record("advisory.send", &a.id),
        )
        .unwrap();
    assert_eq!(again, 1, "one, already queued, is not queued twice");
    let due = store.advisory_mail_due(jiff::Timestamp::now(), 10).unwrap();
    assert_eq!(due.len(), 3);
    store
        .advisory_mail_mark(due[0].id, &MailOutcome::Sending)
        .unwrap();
    store
        .advisory_mail_mark(due[0].id, &MailOutcome::Sent("250 OK".into()))
        .unwrap();
    let later = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    store
        .advisory_mail_mark(
            due[1].id,
            &MailOutcome::Retry {
                detail: "421 busy".into(),
                at: later,
            },
        )
        .unwrap();
    store
        .advisory_mail_mark(due[2].id, &MailOutcome::Sending)
        .unwrap();
    // A message left `sending` (a stopped sender) is due again; one waiting for its retry is not.
    let due: Vec<i64> = store
        .advisory_mail_due(jiff::Timestamp::now(), 10)
        .unwrap()
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(due, vec![store.advisory_mail_list(None).unwrap()[2].id]);
    let all = store.advisory_mail_list(Some(&a.id)).unwrap();
    assert_eq!(
        all.iter().map(|m| m.state.as_str()).collect::<Vec<_>>(),
        ["sent", "pending", "sending"]
    );
    assert_eq!(all[0].answer.as_deref(), Some("250 OK"));
    assert_eq!(all[1].last_error.as_deref(), Some("421 busy"));
    assert_eq!(all[1].attempts, 1);
    assert!(matches!(
        store.advisory_mail_mark(999_999, &MailOutcome::Sending),
        Err(StorageError::NotFound(_))
    ));
}

fn shipped_library() -> Vec<Entity> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../data/library/un-cyber-policy.json"
    );
    library::parse(&std::fs::read(path).unwrap(), path)
        .unwrap()
        .entities
}

fn search(b: &Backend, request: SearchRequest) -> focal_awareness::library::SearchResults {
    b.store.awareness().search_library(&request).unwrap()
}

fn query(q: &str) -> SearchRequest {
    SearchRequest {
        query: q.into(),
        limit: 50,
        ..Default::default()
    }
}

/// A country entity, so the country facet has something to count.
fn country_entity() -> Entity {
    library::parse(
        br#"{"format":"focal-policy-library","version":1,"entities":[{"id":"nl","name":"Netherlands","kind":"country","country":"NL","last_updated":"2026-11","policy":{"strategy_documents":[{"id":"strategy-2022","title":"Cybersecurity strategy","type":"strategy","bodies":["Government"],"date":"2022-10","summary":["Protects critical information infrastructure and builds awareness."]}]}}]}"#,
        "nl.json",
    )
    .unwrap()
    .entities
    .remove(0)
}

pub fn the_library_is_imported_whole_and_searched_with_facets(b: &Backend) {
    let store = b.store.awareness();
    let mut entities = shipped_library();
    entities.push(country_entity());
    let summary = store.import_library(&entities, "alice", "test").unwrap();
    assert_eq!(summary.added as usize, entities.len());
    let again = store.import_library(&entities, "alice", "test").unwrap();
    assert_eq!(
        (again.added, again.updated, again.unchanged),
        (0, 0, entities.len() as u64)
    );
    let audited = b
        .store
        .audit()
        .audit_entries(&AuditFilter {
            action: Some("library.import".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        audited.len(),
        entities.len(),
        "an unchanged entity leaves no entry"
    );

    // By symbol: 57/239 is A/RES/57/239, ranked first.
    let r = search(b, query("57/239"));
    assert_eq!(r.hits[0].symbol.as_deref(), Some("A/RES/57/239"));
    assert!(r.hits[0].symbol_match);
    // By phrase, stemmed: the plural in the resolutions' titles matches.
    let r = search(b, query("\"critical information infrastructure\""));
    let symbols: Vec<_> = r.hits.iter().filter_map(|h| h.symbol.as_deref()).collect();
    assert!(
        symbols.contains(&"A/RES/64/211") && symbols.contains(&"A/RES/58/199"),
        "{symbols:?}"
    );
    assert!(r.hits.iter().any(|h| h.entity == "nl"));
    // The words of the phrase in another order are not the phrase.
    let r2 = search(b, query("\"infrastructure information critical\""));
    assert!(r2.total < r.total, "{} vs {}", r2.total, r.total);
    // Filters by type and year, with facets over all matches.
    let r = search(
        b,
        SearchRequest {
            types: vec![ItemType::Resolution],
            year_from: Some(2002),
            year_to: Some(2002),
            ..query("")
        },
    );
    let mut symbols: Vec<_> = r.hits.iter().filter_map(|h| h.symbol.clone()).collect();
    symbols.sort();
    assert_eq!(
        symbols,
        ["A/RES/57/239", "A/RES/57/53", "Resolution 130 (2002)"]
    );
    assert_eq!(
        r.facets.year,
        vec![library::Facet {
            value: "2002".into(),
            count: 3
        }]
    );
    let un_only = search(
        b,
        SearchRequest {
            entity: Some("un".into()),
            types: vec![ItemType::Resolution],
            year_from: Some(2002),
            year_to: Some(2002),
            ..query("")
        },
    );
    assert_eq!(un_only.total, 2);
    let r = search(b, query("cybercrime"));
    let type_total: u64 = r.facets.types.iter().map(|f| f.count).sum();
    assert_eq!(type_total, r.total, "every match has one type");
    assert!(r.facets.body.iter().any(|f| f.value == "UNODC"));
    let unodc = search(
        b,
        SearchRequest {
            bodies: vec!["UNODC".into()],
            ..query("cybercrime")
        },
    );
    assert_eq!(
        Some(unodc.total),
        r.facets
            .body
            .iter()
            .find(|f| f.value == "UNODC")
            .map(|f| f.count)
    );
    let nl = search(
        b,
        SearchRequest {
            countries: vec!["NL".into()],
            ..query("")
        },
    );
    assert_eq!(nl.total, 1);
    assert_eq!(
        nl.facets.country,
        vec![library::Facet {
            value: "NL".into(),
            count: 1
        }]
    );
    // Paging.
    let page2 = search(
        b,
        SearchRequest {
            limit: 2,
            offset: 2,
            ..query("resolution")
        },
    );
    let page1 = search(
        b,
        SearchRequest {
            limit: 4,
            ..query("resolution")
        },
    );
    assert_eq!(page2.hits[..], page1.hits[2..4]);
    // Query syntax of the engine cannot be injected; a bad query is refused, not run.
    assert_eq!(search(b, query("NEAR(a b) OR * -x")).total, 0);
    assert!(matches!(
        store.search_library(&query("\"open")),
        Err(StorageError::Invalid(_))
    ));

    // Show and export.
    let item = store.library_item("un", "a-res-57-239").unwrap();
    assert_eq!(item.symbol.as_deref(), Some("A/RES/57/239"));
    assert!(matches!(
        store.library_item("un", "nope"),
        Err(StorageError::NotFound(_))
    ));
    let exported = store.library_entities(&["un".into()]).unwrap();
    assert_eq!(exported[0], entities[0]);
    assert!(matches!(
        store.library_entities(&["nope".into()]),
        Err(StorageError::NotFound(_))
    ));

    // An import that fails part-way stores nothing of it.
    let mut changed = entities[0].clone();
    changed.name = "Changed".into();
    let mut broken = country_entity();
    broken.id = "xx".into();
    let twin = broken.policy.strategy_documents[0].clone();
    broken.policy.strategy_documents.push(twin);
    assert!(
        store
            .import_library(&[changed, broken], "alice", "test")
            .is_err()
    );
    assert_eq!(
        store.library_entities(&["un".into()]).unwrap()[0].name,
        entities[0].name
    );
    assert!(
        store
            .library_summaries()
            .unwrap()
            .iter()
            .all(|s| s.id != "xx")
    );
    // Re-importing a changed entity replaces its items in the index.
    let mut smaller = country_entity();
    smaller.policy.strategy_documents[0].title = "National cyber plan".into();
    store.import_library(&[smaller], "alice", "test").unwrap();
    assert_eq!(
        search(b, query("strategy"))
            .hits
            .iter()
            .filter(|h| h.entity == "nl")
            .count(),
        0
    );
    assert_eq!(search(b, query("plan")).hits[0].entity, "nl");
}

pub fn public_figures_come_from_clear_events_only(b: &Backend) {
    let mut events = Vec::new();
    // Six infected hosts, all TLP:CLEAR but one; host .1 seen twice, last in DE.
    for (n, ip, cc, tlp) in [
        (1u128, "192.0.2.1", "NL", Tlp::Clear),
        (2, "192.0.2.2", "NL", Tlp::Clear),
        (3, "192.0.2.3", "NL", Tlp::Clear),
        (4, "192.0.2.4", "BE", Tlp::Clear),
        (5, "192.0.2.5", "NL", Tlp::Amber),
        (6, "192.0.2.1", "DE", Tlp::Clear),
    ] {
        let mut e = event(n, ip, None);
        e.tlp = tlp;
        e.set_text(&"source.geolocation.cc".parse().unwrap(), cc)
            .unwrap();
        e.set_text(
            &"time.source".parse().unwrap(),
            &format!("2026-11-{}T10:00:00Z", 16 + n % 4),
        )
        .unwrap();
        events.push(e);
    }
    write_run(&*b.store, "stats", &events);
    let store = b.store.awareness();
    let counts = store.clear_event_counts(&StatsWindow::default()).unwrap();
    assert_eq!(counts.len(), 1);
    assert_eq!(
        counts[0].week.to_string(),
        "2026-11-16",
        "the Monday of the week"
    );
    assert_eq!(
        (counts[0].classification_type.as_str(), counts[0].count),
        ("infected-system", 5)
    );
    let mut hosts: Vec<(Option<String>, u64)> = store
        .clear_infected_hosts(&StatsWindow::default())
        .unwrap()
        .into_iter()
        .map(|h| (h.country, h.hosts))
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        vec![
            (Some("BE".into()), 1),
            (Some("DE".into()), 1),
            (Some("NL".into()), 2)
        ],
        "each host once, in the country of its latest event; AMBER left out"
    );
    let window = StatsWindow {
        since: Some("2026-11-18T00:00:00Z".parse().unwrap()),
        until: None,
    };
    let later: u64 = store
        .clear_event_counts(&window)
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum();
    assert_eq!(later, 3, "the window bounds the events");
    let stats = focal_awareness::stats::public_stats(store, 2, StatsWindow::default()).unwrap();
    assert_eq!(stats.infected_hosts.total, Some(4));
    assert_eq!(
        stats.infected_hosts.countries.len(),
        1,
        "only NL has 2 or more"
    );
    assert_eq!(stats.infected_hosts.other, Some(2));
}
