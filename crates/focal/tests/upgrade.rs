//! Upgrading (issue 13, item 6): a data folder made by the previous release (SQLite schema
//! version 6, `tests/data/v6-folder.tar.gz`, made as `tests/data/v6-folder.md` says) opens with
//! this build, which migrates it, and every row is intact: what this build shows about the
//! folder is what the old release showed (`shown-by-the-old-release/`), field by field; the
//! audit chain the old release wrote still verifies; the old accounts and API token still work
//! on the web API and TAXII.

mod web;

use reqwest::header::AUTHORIZATION;
use serde_json::Value;
use std::path::{Path, PathBuf};
use web::*;

/// The API token `focal users token analyst1` printed when the old release made the folder.
const OLD_TOKEN: &str = "focal_ffd66d00697f142467c5c8d9103cb9831d6740b0020fd489cbab4207b7faf4c6";

/// Unpacks the fixture; returns the data folder and the folder of what the old release showed.
fn unpack(into: &Path) -> (PathBuf, PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/v6-folder.tar.gz");
    let file = std::fs::File::open(&fixture).unwrap();
    tar::Archive::new(flate2::read::GzDecoder::new(file))
        .unpack(into)
        .unwrap();
    let data = into.join("folder");
    // The old checkout named its ASN tables by absolute paths; the folder moved, so point them
    // at the same files in this repository.
    let toml = data.join("focal.toml");
    let demo = focal_testkit::workspace_root().join("data/demo");
    let text = std::fs::read_to_string(&toml)
        .unwrap()
        .replace("/work/wt-old/data/demo", &demo.display().to_string());
    std::fs::write(&toml, text).unwrap();
    (data, into.join("shown-by-the-old-release"))
}

fn old(shown: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(shown.join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Every field the old release showed has the same value now (new fields may be added).
fn same_fields(what: &str, old: &Value, new: &Value, except: &[&str]) {
    let (Some(o), Some(n)) = (old.as_object(), new.as_object()) else {
        assert_eq!(old, new, "{what}");
        return;
    };
    for (k, v) in o {
        if except.contains(&k.as_str()) {
            continue;
        }
        assert_eq!(Some(v), n.get(k), "{what}: field {k}");
    }
}

/// The rows of a list keyed by `key`, so order does not matter.
fn by(list: &Value, key: &str) -> std::collections::BTreeMap<String, Value> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|row| (row[key].to_string(), row.clone()))
        .collect()
}

fn same_rows(what: &str, old: &Value, new: &Value, key: &str, except: &[&str]) {
    let (old, new) = (by(old, key), by(new, key));
    assert_eq!(
        old.keys().collect::<Vec<_>>(),
        new.keys().collect::<Vec<_>>(),
        "{what}: the same rows"
    );
    for (id, row) in &old {
        same_fields(&format!("{what} {id}"), row, &new[id], except);
    }
}

#[test]
fn a_folder_of_the_previous_release_opens_with_every_row_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, shown) = unpack(tmp.path());

    // The first command migrates the database (schema 6 to this build's).
    let events = focal_json(&data, &["events", "--limit", "0"]);
    assert_eq!(events.as_array().unwrap().len(), 346);
    same_rows(
        "event",
        &old(&shown, "events"),
        &events,
        "extra.focal_event_id",
        &[],
    );
    // Incidents: `breached` depends on the clock, everything else must match.
    same_rows(
        "incident",
        &old(&shown, "incidents"),
        &focal_json(&data, &["incidents", "--limit", "0"]),
        "id",
        &["breached"],
    );
    for id in ["1", "2", "3"] {
        let before = old(&shown, &format!("incident-{id}"));
        let now = focal_json(&data, &["incidents", "show", id]);
        same_fields(
            &format!("incident {id}"),
            &before["incident"],
            &now["incident"],
            &["breached"],
        );
        assert_eq!(
            before["timeline"], now["timeline"],
            "incident {id}'s timeline"
        );
    }
    for (name, key) in [
        ("users", "name"),
        ("runs", "id"),
        ("quarantine", "id"),
        ("constituents", "id"),
    ] {
        let args: &[&str] = match name {
            "users" => &["users", "list"],
            "constituents" => &["constituents", "list"],
            other => &[other],
        };
        same_rows(name, &old(&shown, name), &focal_json(&data, args), key, &[]);
    }
    let stats = focal_json(&data, &["stats"]);
    for k in [
        "events",
        "quarantined",
        "unassigned",
        "per_constituent",
        "by_type",
        "by_feed",
    ] {
        assert_eq!(old(&shown, "stats")[k], stats[k], "stats {k}");
    }

    // The audit chain: the old entries are unchanged, first, and the whole chain verifies.
    let before = old(&shown, "audit");
    let now = focal_json(&data, &["audit", "list", "--limit", "0"]);
    let before = before.as_array().unwrap();
    assert_eq!(&now.as_array().unwrap()[..before.len()], &before[..]);
    focal(&data, &["audit", "verify"]);

    // The accounts and the API token the old release made still work.
    let server = Site::at(&data).serve("127.0.0.1:0");
    let base = server.base.clone();
    let api = client()
        .get(format!("{base}/api/v1/events?limit=1"))
        .header(AUTHORIZATION, format!("Bearer {OLD_TOKEN}"))
        .send()
        .unwrap();
    assert_eq!(api.status(), 200, "the old read token");
    let signed_in = login_response(&base, "analyst1", "old-analyst-pw");
    assert_eq!(signed_in.status(), 303, "the old analyst's password");
    let taxii = client()
        .get(format!("{base}/taxii2/root/collections/"))
        .basic_auth("cert-x", Some("old-peer-pw-123"))
        .header("accept", "application/taxii+json;version=2.1")
        .send()
        .unwrap();
    assert_eq!(taxii.status(), 200, "the old peer account on TAXII");
    let collections: Value = taxii.json().unwrap();
    assert!(
        !collections["collections"].as_array().unwrap().is_empty(),
        "{collections}"
    );
}
