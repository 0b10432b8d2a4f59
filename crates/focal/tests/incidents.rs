//! Incidents and the audit log, end to end: the real binary on a real SQLite store.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use support::*;

fn incidents(data: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["incidents", "list", "--limit", "0"];
    args.extend_from_slice(extra);
    match json(data, &args) {
        Value::Array(list) => list,
        other => panic!("incidents --json printed {other}"),
    }
}

/// The default rule computed independently from the stored events: constituent × type × UTC
/// day of time.source (the reference feed always has one).
fn expected_groups(data: &Path) -> BTreeMap<String, u64> {
    let mut groups = BTreeMap::new();
    for e in all_events(data) {
        let Some(c) = e["extra.constituent"].as_str() else {
            continue;
        };
        let day = &e["time.source"].as_str().expect("time.source")[..10];
        let key = format!(
            "{c}|{}|{day}",
            e["classification.type"].as_str().expect("type")
        );
        *groups.entry(key).or_insert(0) += 1;
    }
    groups
}

#[test]
fn ingest_groups_the_workload_by_constituent_type_and_day() {
    let (_dir, data) = ingested();
    let list = incidents(&data, &[]);
    let got: BTreeMap<String, u64> = list
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["event_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), list.len(), "two incidents share a key");
    assert_eq!(got, expected_groups(&data));
    let total: u64 = got.values().sum();
    assert_eq!(total, expected()["assigned_events"].as_u64().unwrap());
    for i in &list {
        assert_eq!(i["state"], "new");
        assert_eq!(i["severity"], "high", "infected-system is malicious code");
        assert_eq!(i["tlp"], "AMBER");
        assert_eq!(i["breached"], false);
    }
    // Grouping again finds nothing new: exactly-once.
    let again = json(&data, &["incidents", "group"]);
    assert_eq!(again["events_read"], 0);
    assert_eq!(incidents(&data, &[]).len(), list.len());
}

/// A feed file with one row, for an address whose constituent is known.
fn one_row_feed(dir: &Path, name: &str, time: &str, ip: &str, malware: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "timestamp,ip,port,protocol,hostname,malware,dst_ip,dst_port\n{time},{ip},1234,tcp,,{malware},,\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn new_events_join_the_open_incident_and_a_resolved_one_is_not_reopened() {
    let (dir, data) = ingested();
    let first = incidents(&data, &[]).remove(0);
    let id = first["id"].as_i64().unwrap().to_string();
    let count = first["event_count"].as_u64().unwrap();
    let shown = json(&data, &["incidents", "show", &id, "--events", "1"]);
    let ip = shown["events"][0]["source.ip"]
        .as_str()
        .unwrap()
        .to_string();
    let day = &first["key"]
        .as_str()
        .unwrap()
        .rsplit('|')
        .next()
        .unwrap()
        .to_string();
    let feed = repo().join("bench/reference-feed.toml");

    let f = one_row_feed(
        dir.path(),
        "more.csv",
        &format!("{day}T12:00:00Z"),
        &ip,
        "newmal",
    );
    ok(&data, &["ingest", "--feed", s(&feed), s(&f)]);
    let after = json(&data, &["incidents", "show", &id, "--events", "0"]);
    assert_eq!(
        after["incident"]["event_count"].as_u64().unwrap(),
        count + 1
    );
    let before_total = incidents(&data, &[]).len();

    for state in ["acknowledged", "notified", "resolved"] {
        ok(&data, &["incidents", "transition", &id, state]);
    }
    let f = one_row_feed(
        dir.path(),
        "later.csv",
        &format!("{day}T13:00:00Z"),
        &ip,
        "othermal",
    );
    ok(&data, &["ingest", "--feed", s(&feed), s(&f)]);
    let list = incidents(&data, &[]);
    assert_eq!(
        list.len(),
        before_total + 1,
        "a resolved incident stays closed"
    );
    let newest = list.last().unwrap();
    assert_eq!(newest["key"], first["key"]);
    assert_eq!(newest["state"], "new");
    assert_eq!(newest["event_count"], 1);
    let resolved = json(&data, &["incidents", "show", &id, "--events", "0"]);
    assert_eq!(
        resolved["incident"]["event_count"].as_u64().unwrap(),
        count + 1
    );
    assert!(resolved["incident"]["closed_at"].is_string());
}

#[test]
fn illegal_transitions_are_refused_with_the_state_and_the_allowed_ones() {
    let (_dir, data) = ingested();
    let err = fails(&data, &["incidents", "transition", "1", "resolved"]);
    assert!(
        err.contains("cannot go from new to resolved")
            && err.contains("acknowledged, notified, false_positive"),
        "{err}"
    );
    let err = fails(&data, &["incidents", "transition", "1", "done"]);
    assert!(err.contains("unknown incident state \"done\""), "{err}");
    assert_eq!(
        json(&data, &["incidents", "show", "1"])["incident"]["state"],
        "new"
    );
    ok(&data, &["incidents", "transition", "1", "false-positive"]);
    ok(&data, &["incidents", "transition", "1", "closed"]);
    let err = fails(&data, &["incidents", "transition", "1", "in_progress"]);
    assert!(
        err.contains("from closed") && err.contains("final"),
        "{err}"
    );
    let err = fails(
        &data,
        &["incidents", "transition", "999999", "acknowledged"],
    );
    assert!(err.contains("no incident 999999"), "{err}");
}

#[test]
fn assignment_comments_severity_and_sla_are_tracked() {
    let (_dir, data) = ingested();
    ok(
        &data,
        &["--actor", "alice", "incidents", "assign", "2", "bob"],
    );
    ok(
        &data,
        &[
            "--actor",
            "alice",
            "incidents",
            "comment",
            "2",
            "phoned their NOC",
        ],
    );
    let before = json(&data, &["incidents", "show", "2"]);
    let high_due = before["incident"]["due_at"].as_str().unwrap().to_string();
    ok(&data, &["incidents", "severity", "2", "critical"]);
    let shown = json(&data, &["incidents", "show", "2"]);
    let i = &shown["incident"];
    assert_eq!(i["assignee"], "bob");
    assert_eq!(i["severity"], "critical");
    assert_eq!(i["severity_override"], true);
    let secs = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_second();
    let created = secs(i["created_at"].as_str().unwrap());
    assert_eq!(
        secs(i["due_at"].as_str().unwrap()) - created,
        4 * 3600,
        "critical: 4 hours by default"
    );
    assert_eq!(secs(&high_due) - created, 24 * 3600);
    let kinds: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "assigned", "comment", "severity"]);
    assert_eq!(shown["timeline"][2]["actor"], "user:alice");
    assert_eq!(shown["timeline"][2]["detail"]["text"], "phoned their NOC");
    assert_eq!(
        incidents(&data, &["--assignee", "bob"]).len(),
        1,
        "the assignee filter"
    );
    ok(&data, &["incidents", "severity", "2", "--reset"]);
    assert_eq!(
        json(&data, &["incidents", "show", "2"])["incident"]["due_at"],
        high_due.as_str()
    );

    // An SLA of 0 hours is due at creation, so every open incident is breached; closed ones not.
    let path = data.join("focal.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("critical = 4", "critical = 0");
    std::fs::write(&path, text).unwrap();
    ok(&data, &["incidents", "severity", "3", "critical"]);
    let breached = incidents(&data, &["--breached"]);
    assert_eq!(breached.len(), 1);
    assert_eq!(breached[0]["id"], 3);
    assert_eq!(breached[0]["breached"], true);
    ok(&data, &["incidents", "transition", "3", "false_positive"]);
    assert!(incidents(&data, &["--breached"]).is_empty());
}

fn sqlite(data: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(data.join("focal.db")).expect("opening the store")
}

#[test]
fn the_audit_chain_verifies_and_detects_an_edited_entry() {
    let (_dir, data) = ingested();
    ok(
        &data,
        &[
            "--actor",
            "carol",
            "incidents",
            "transition",
            "1",
            "acknowledged",
        ],
    );
    let v = json(&data, &["audit", "verify"]);
    assert_eq!(v["ok"], true);
    let entries = v["entries"].as_u64().unwrap();
    // At init: the audit key's entry, the config and the first admin; then 400 constituents
    // imported, one per incident created, the transition.
    let incidents_made = incidents(&data, &[]).len() as u64;
    assert_eq!(entries, 3 + 400 + incidents_made + 1);
    let list = json(&data, &["audit", "list", "--subject", "incident:1"]);
    let last = list.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "user:carol");
    assert_eq!(last["action"], "incident.transition");
    assert_eq!(last["before"]["state"], "new");
    assert_eq!(last["after"]["state"], "acknowledged");

    // Rewrite who did it, by hand, in the database file.
    let id = last["id"].as_i64().unwrap();
    sqlite(&data)
        .execute("UPDATE audit_log SET actor = 'mallory' WHERE id = ?1", [id])
        .unwrap();
    let err = fails(&data, &["audit", "verify"]);
    assert!(
        err.contains(&format!("entry {id} was changed after it was written")),
        "{err}"
    );
    // Putting it back makes it verify again: the check is on content, not on a flag.
    sqlite(&data)
        .execute(
            "UPDATE audit_log SET actor = 'user:carol' WHERE id = ?1",
            [id],
        )
        .unwrap();
    assert_eq!(json(&data, &["audit", "verify"])["ok"], true);
}

#[test]
fn the_audit_chain_detects_a_removed_entry_even_with_ids_renumbered() {
    let (_dir, data) = ingested();
    sqlite(&data)
        .execute("DELETE FROM audit_log WHERE id = 5", [])
        .unwrap();
    let err = fails(&data, &["audit", "verify"]);
    assert!(err.contains("entry 6") && err.contains("removed"), "{err}");
    // A forger who also renumbers the later entries still breaks the hash links.
    let conn = sqlite(&data);
    conn.execute("UPDATE audit_log SET id = id - 1 WHERE id > 5", [])
        .unwrap();
    drop(conn);
    let v = focal(&data, &["--json", "audit", "verify"]);
    assert!(!v.status.success());
    let v: Value = serde_json::from_slice(&v.stdout).unwrap();
    assert_eq!(v["first_bad_id"], 5);
}

#[test]
fn constituent_and_configuration_changes_are_audited() {
    let (dir, data) = ingested();
    let changed = dir.path().join("changed.csv");
    let text = std::fs::read_to_string(fixture("constituents.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    lines[0].push_str(",language");
    for l in lines.iter_mut().skip(1) {
        l.push(',');
    }
    lines[1] = lines[1].replacen("abuse@", "soc@", 1);
    lines[2].push_str("de");
    std::fs::write(&changed, lines.join("\n") + "\n").unwrap();
    ok(
        &data,
        &["--actor", "dave", "constituents", "import", s(&changed)],
    );
    let entries = json(
        &data,
        &[
            "audit",
            "list",
            "--action",
            "constituent.import",
            "--limit",
            "0",
        ],
    );
    let by_dave: Vec<&Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "user:dave")
        .collect();
    assert_eq!(by_dave.len(), 2, "only the two changed constituents");
    assert!(
        by_dave[0]["before"]["abuse_email"]
            .as_str()
            .unwrap()
            .starts_with("abuse@")
    );
    assert!(
        by_dave[0]["after"]["abuse_email"]
            .as_str()
            .unwrap()
            .starts_with("soc@")
    );
    assert!(by_dave[1]["before"]["language"].is_null());
    assert_eq!(by_dave[1]["after"]["language"], "de");
    let listed = json(&data, &["constituents", "list"]);
    assert_eq!(listed[1]["language"], "de");

    set_notify(&data, &[("max_messages_per_hour", "3")]);
    ok(&data, &["--actor", "erin", "incidents", "group"]);
    let config = json(&data, &["audit", "list", "--subject", "focal.toml"]);
    let config = config.as_array().unwrap();
    assert_eq!(config.len(), 2, "init, then the edit");
    assert_eq!(config[1]["actor"], "user:erin");
    assert_eq!(config[1]["before"]["notify"]["max_messages_per_hour"], 10);
    assert_eq!(config[1]["after"]["notify"]["max_messages_per_hour"], 3);
    assert_eq!(json(&data, &["audit", "verify"])["ok"], true);
}

#[test]
fn ingest_no_group_leaves_grouping_to_the_group_command_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init", "--asn", s(&fixture("asn-ipv4.csv"))]);
    ok(
        &data,
        &["constituents", "import", s(&fixture("constituents.csv"))],
    );
    let feed = repo().join("bench/reference-feed.toml");
    ok(
        &data,
        &[
            "ingest",
            "--no-group",
            "--feed",
            s(&feed),
            s(&fixture("feed.csv")),
        ],
    );
    assert!(incidents(&data, &[]).is_empty());
    // Small batches: incidents span batches, so later batches extend open incidents.
    let outcome = json(&data, &["incidents", "group", "--batch", "500"]);
    assert_eq!(outcome["events_read"], expected()["unique_events"]);
    assert!(outcome["incidents_extended"].as_u64().unwrap() > 0);
    let got: BTreeMap<String, u64> = incidents(&data, &[])
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["event_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, expected_groups(&data));
    assert_eq!(json(&data, &["audit", "verify"])["ok"], true);
}
