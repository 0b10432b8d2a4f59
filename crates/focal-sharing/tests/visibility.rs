//! Who may read which stored STIX version is decided in SQL on columns kept with each version
//! (TLP, foreign origin, constituent; migration 0013), so a filtered reader's pages are full:
//! a store that is mostly AMBER, read by a GREEN peer, an AMBER peer and a constituent, in small
//! pages. Half the versions are written as a store at schema 12 wrote them (the policy metadata
//! only in `meta`) and then upgraded, so the backfill is what the readers see.

use focal_model::Tlp;
use focal_sharing::import::store_objects;
use focal_sharing::policy::{Policy, ShareMeta, Shareable, visibility};
use focal_store::SqliteStore;
use focal_store::sharing::{
    DEFAULT_API_ROOT, ObjectQuery, SharingStore, VersionMatch, parse_timestamp_us,
};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

const COLLECTION: &str = "c-visibility";
const LIMIT: usize = 7;

#[derive(Debug, Clone)]
struct Version {
    id: String,
    version: String,
    tlp: Tlp,
    foreign: bool,
    constituent: Option<String>,
}

impl Version {
    fn meta(&self) -> ShareMeta {
        ShareMeta {
            tlp: self.tlp,
            foreign: self.foreign,
            constituent: self.constituent.clone(),
            ..ShareMeta::clear()
        }
    }

    fn body(&self) -> serde_json::Value {
        json!({
            "type": "indicator", "spec_version": "2.1", "id": self.id,
            "created": "2026-01-01T00:00:00.000Z", "modified": self.version,
            "pattern": "[ipv4-addr:value = '192.0.2.1']", "pattern_type": "stix",
            "valid_from": "2026-01-01T00:00:00Z",
        })
    }
}

/// `n` versions of one kind, ids numbered from `first`.
fn kind(first: u32, n: u32, tlp: Tlp, foreign: bool, constituent: Option<&str>) -> Vec<Version> {
    (first..first + n)
        .map(|i| Version {
            id: format!("indicator--00000000-0000-4000-8000-{i:012}"),
            version: "2026-01-02T00:00:00.000Z".into(),
            tlp,
            foreign,
            constituent: constituent.map(str::to_string),
        })
        .collect()
}

/// The whole store: mostly AMBER made here, and a few of every other kind the rules tell apart.
fn versions() -> Vec<Version> {
    let mut all = Vec::new();
    all.extend(kind(0, 150, Tlp::Amber, false, None));
    all.extend(kind(200, 9, Tlp::Green, false, None));
    all.extend(kind(300, 3, Tlp::Clear, false, None));
    all.extend(kind(400, 6, Tlp::Green, true, None));
    all.extend(kind(500, 8, Tlp::Amber, true, None));
    all.extend(kind(600, 5, Tlp::AmberStrict, false, Some("a")));
    all.extend(kind(700, 7, Tlp::AmberStrict, false, Some("b")));
    all.extend(kind(800, 4, Tlp::AmberStrict, true, Some("a")));
    all.extend(kind(900, 3, Tlp::Red, false, None));
    all.extend(kind(1000, 99, Tlp::Amber, false, None));
    // An object whose later version is AMBER and earlier GREEN: a GREEN reader gets the GREEN
    // one as its last, an AMBER reader the AMBER one.
    let mut twice = kind(1200, 1, Tlp::Green, false, None);
    let mut later = twice[0].clone();
    later.version = "2026-01-05T00:00:00.000Z".into();
    later.tlp = Tlp::Amber;
    twice.push(later);
    all.extend(twice);
    // Interleave the kinds, so the visible versions are spread along the collection.
    let mut spread: Vec<Version> = Vec::new();
    for (i, v) in all.into_iter().enumerate() {
        let at = (i * 37) % (spread.len() + 1);
        spread.insert(at, v);
    }
    spread
}

/// What a reader may see, written out here from TLP 2.0 and Focal's rules (not from the
/// policy code): RED never; nothing above the clearance; AMBER from a peer only to
/// constituents; AMBER+STRICT never from a peer, else only to the constituent it concerns.
fn may_see(max: Tlp, constituent: Option<&str>, v: &Version) -> bool {
    let rank = |t: Tlp| match t {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    };
    match v.tlp {
        Tlp::Red => false,
        t if rank(t) > rank(max) => false,
        Tlp::Amber => !v.foreign || constituent.is_some(),
        Tlp::AmberStrict => !v.foreign && v.constituent.as_deref() == constituent,
        _ => true,
    }
}

/// The (id, version) pairs a reader gets: of each object, the last version it may see.
fn expected(all: &[Version], max: Tlp, constituent: Option<&str>) -> BTreeSet<(String, String)> {
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for v in all.iter().filter(|v| may_see(max, constituent, v)) {
        let e = last.entry(v.id.clone()).or_default();
        if v.version > *e {
            *e = v.version.clone();
        }
    }
    last.into_iter().collect()
}

/// Pages through the collection as the TAXII server does, `LIMIT` at a time; returns what it
/// got and the size of each page.
fn read_all(store: &SqliteStore, policy: &Policy) -> (Vec<(String, String)>, Vec<usize>) {
    let mut q = ObjectQuery {
        versions: VersionMatch::Last,
        limit: LIMIT,
        visible: Some(visibility(policy)),
        ..Default::default()
    };
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let page = store.objects(COLLECTION, &q).unwrap();
        sizes.push(page.objects.len());
        got.extend(
            page.objects
                .iter()
                .map(|o| (o.id.clone(), o.version.clone())),
        );
        q.after_added = page.objects.last().map(|o| o.date_added);
        if !page.more {
            break;
        }
        assert!(sizes.len() < 1000, "paging does not end: {sizes:?}");
    }
    (got, sizes)
}

#[test]
fn filtered_readers_get_full_pages_of_exactly_what_they_may_see_after_the_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("focal.db");
    let all = versions();
    let (old, new) = all.split_at(all.len() / 2);

    // A store as schema 12 left it, with rows written as it wrote them: meta only.
    SqliteStore::migrate_to(&path, 12).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        for c in [COLLECTION, "elsewhere"] {
            conn.execute(
                "INSERT INTO taxii_collections (id, title, created_at, api_root) VALUES (?1, 'v', '2026-01-01T00:00:00Z', ?2)",
                rusqlite::params![c, DEFAULT_API_ROOT],
            )
            .unwrap();
        }
        for (n, v) in old.iter().enumerate() {
            conn.execute(
                "INSERT INTO stix_objects (collection_id, object_id, object_type, version, version_us, \
                 spec_version, date_added, tlp, meta, origin, body) \
                 VALUES (?1, ?2, 'indicator', ?3, ?4, '2.1', ?5, ?6, ?7, ?8, ?9)",
                rusqlite::params![
                    COLLECTION,
                    v.id,
                    v.version,
                    parse_timestamp_us(&v.version).unwrap(),
                    n as i64 + 1,
                    v.tlp.as_str(),
                    serde_json::to_string(&v.meta()).unwrap(),
                    v.foreign.then_some("peer-x"),
                    v.body().to_string(),
                ],
            )
            .unwrap();
        }
        // Rows the upgrade must not stumble on: meta without the keys, and meta that is not JSON.
        for (n, meta) in ["{}", "not json"].iter().enumerate() {
            conn.execute(
                "INSERT INTO stix_objects (collection_id, object_id, object_type, version, version_us, \
                 spec_version, date_added, tlp, meta, origin, body) \
                 VALUES ('elsewhere', ?1, 'indicator', '2026-01-01T00:00:00.000Z', 0, '2.1', ?2, 'GREEN', ?3, NULL, '{}')",
                rusqlite::params![format!("indicator--odd-{n}"), n as i64 + 1, meta],
            )
            .unwrap();
        }
    }

    // Opening it applies migration 0013, which backfills the columns from meta.
    let store = SqliteStore::open(&path).unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare("SELECT foreign_origin, constituent FROM stix_objects WHERE collection_id = ?1 AND object_id = ?2 AND version = ?3")
            .unwrap();
        for v in old {
            let (foreign, constituent): (bool, Option<String>) = stmt
                .query_row(rusqlite::params![COLLECTION, v.id, v.version], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            assert_eq!(
                (foreign, constituent),
                (v.foreign, v.constituent.clone()),
                "backfill of {v:?}"
            );
        }
        let odd: Vec<(bool, Option<String>)> = conn
            .prepare("SELECT foreign_origin, constituent FROM stix_objects WHERE collection_id = 'elsewhere' ORDER BY object_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(odd, vec![(false, None), (false, None)]);
    }

    // The other half the way this release writes them, through the import path.
    for foreign in [false, true] {
        let items: Vec<Shareable> = new
            .iter()
            .filter(|v| v.foreign == foreign)
            .map(|v| Shareable {
                object: v.body(),
                meta: v.meta(),
            })
            .collect();
        let out = store_objects(&store, COLLECTION, &items, foreign.then_some("peer-x")).unwrap();
        assert_eq!(out.added.len(), items.len(), "{:?}", out.already_present);
    }

    let readers: [(&str, Tlp, Option<&str>); 4] = [
        ("GREEN peer", Tlp::Green, None),
        ("AMBER peer", Tlp::Amber, None),
        ("constituent a", Tlp::AmberStrict, Some("a")),
        ("constituent b, GREEN", Tlp::Green, Some("b")),
    ];
    for (name, max_tlp, constituent) in readers {
        let policy = Policy {
            max_tlp,
            constituent: constituent.map(str::to_string),
            ..Policy::default()
        };
        let (got, sizes) = read_all(&store, &policy);
        let want = expected(&all, max_tlp, constituent);
        let (last, full) = sizes.split_last().unwrap();
        assert!(
            full.iter().all(|&n| n == LIMIT) && *last <= LIMIT && (*last > 0 || full.is_empty()),
            "{name}: every page but the last holds {LIMIT}: {sizes:?}"
        );
        let got_set: BTreeSet<(String, String)> = got.iter().cloned().collect();
        assert_eq!(got.len(), got_set.len(), "{name}: a version came twice");
        assert_eq!(got_set, want, "{name}: not exactly what it may see");
    }
    // The GREEN peer's view is small against the whole, so the check above is about pages
    // that had AMBER versions to skip, not a collection it could see all of.
    assert!(expected(&all, Tlp::Green, None).len() * 10 < all.len());
}
