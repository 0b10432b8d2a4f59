//! Notifications end to end: the real binary, a real SQLite store, and a real SMTP server
//! (aiosmtpd from the pytools virtualenv) on loopback. What the server received is read back
//! with Python's email package, not with Focal's code.

mod support;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};
use support::*;

/// Event ids per constituent, from `focal events`.
fn events_by_constituent(data: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in all_events(data) {
        if let Some(c) = e["extra.constituent"].as_str() {
            out.entry(c.to_string())
                .or_default()
                .insert(e["extra.focal_event_id"].as_str().unwrap().to_string());
        }
    }
    out
}

fn abuse_addresses() -> HashMap<String, String> {
    std::fs::read_to_string(fixture("constituents.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[2].to_string())
        })
        .collect()
}

/// What one received message says, checked for internal consistency: the CSV and the IntelMQ
/// attachment list the same events, all of one constituent.
struct Received {
    constituent: String,
    message_id: String,
    rcpt_to: String,
    subject: String,
    body: String,
    event_ids: Vec<String>,
}

fn received(m: &Value) -> Received {
    let csv = m["attachments"]["events.csv"].as_str().expect("events.csv");
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(header[0], "focal.event_id");
    assert!(header.contains(&"source.ip") && header.contains(&"tlp"));
    let csv_ids: Vec<String> = rows
        .map(|r| r.split(',').next().unwrap().to_string())
        .collect();
    let jsonl = m["attachments"]["events-intelmq.jsonl"]
        .as_str()
        .expect("events-intelmq.jsonl");
    let mut constituents = BTreeSet::new();
    let mut json_ids = Vec::new();
    for line in jsonl.lines() {
        let e: Value = serde_json::from_str(line).expect("one JSON object per line");
        assert_eq!(e["__type"], "Event");
        constituents.insert(e["extra.constituent"].as_str().unwrap().to_string());
        json_ids.push(e["extra.focal_event_id"].as_str().unwrap().to_string());
    }
    assert_eq!(csv_ids, json_ids, "both attachments list the same events");
    assert_eq!(constituents.len(), 1, "one constituent per message");
    Received {
        constituent: constituents.into_iter().next().unwrap(),
        message_id: m["message_id"].as_str().unwrap().to_string(),
        rcpt_to: m["rcpt_to"].as_str().unwrap().to_string(),
        subject: m["subject"].as_str().unwrap().to_string(),
        body: m["body"].as_str().unwrap().to_string(),
        event_ids: csv_ids,
    }
}

/// The reference constituency, with org-00121 (which has events) reading German.
fn constituents_with_a_german_one(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fixture("constituents.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push_str(match i {
            0 => ",language",
            _ if line.starts_with("org-00121,") => ",de",
            _ => ",",
        });
        out.push('\n');
    }
    let path = dir.join("constituents-de.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn each_constituent_gets_one_digest_with_exactly_its_events() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, data) = ingested_with(&constituents_with_a_german_one(tmp.path()));
    let server = SmtpServer::start(tmp.path());
    let expected = expected();
    let with_events = expected["constituents_with_events"].as_u64().unwrap() as usize;

    // The preview sends and records nothing.
    let preview = json(&data, &["notify", "--dry-run"]);
    assert_eq!(preview["messages"].as_array().unwrap().len(), with_events);
    let previewed: serde_json::Map<String, Value> = preview["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let csv_rows = p["digest"]["csv"].as_str().unwrap().lines().count() - 1;
            assert_eq!(p["digest"]["events"].as_u64().unwrap() as usize, csv_rows);
            (
                p["message"]["constituent"].as_str().unwrap().to_string(),
                Value::from(csv_rows),
            )
        })
        .collect();
    assert_eq!(Value::Object(previewed), expected["per_constituent"]);
    assert_eq!(server.count(), 0);
    assert_eq!(json(&data, &["notify", "--outbox"]), Value::Array(vec![]));

    let report = json(&data, &["notify", "--smtp", &server.address()]);
    assert_eq!(
        report["report"]["sent"].as_u64().unwrap() as usize,
        with_events
    );
    assert_eq!(report["report"]["failed"], 0);

    let stored = events_by_constituent(&data);
    let addresses = abuse_addresses();
    let messages: Vec<Received> = server.messages().iter().map(received).collect();
    assert_eq!(messages.len(), with_events);
    let mut per_constituent = BTreeMap::new();
    for m in &messages {
        assert_eq!(
            m.rcpt_to, addresses[&m.constituent],
            "sent to the abuse address"
        );
        assert!(m.subject.starts_with("[TLP:AMBER]"), "{}", m.subject);
        let ids: BTreeSet<String> = m.event_ids.iter().cloned().collect();
        assert_eq!(ids.len(), m.event_ids.len(), "an event listed twice");
        assert_eq!(&ids, &stored[&m.constituent], "{}'s events", m.constituent);
        assert!(m.body.contains(&format!("{} ", m.event_ids.len())));
        if m.constituent == "org-00121" {
            assert!(m.body.contains("Sehr geehrtes"), "German: {}", m.body);
            assert!(m.body.contains("TLP:AMBER: Sie dürfen"), "{}", m.body);
        } else {
            assert!(m.body.contains("TLP:AMBER: you may share"), "{}", m.body);
        }
        per_constituent.insert(m.constituent.clone(), Value::from(m.event_ids.len()));
    }
    assert_eq!(per_constituent.len(), with_events, "one message each");
    assert_eq!(
        Value::Object(per_constituent.into_iter().collect()),
        expected["per_constituent"]
    );

    // Nothing new: nothing is sent again. Every incident told about is now `notified`.
    let again = json(&data, &["notify", "--smtp", &server.address()]);
    assert_eq!(again["claimed"], 0);
    assert_eq!(again["report"]["sent"], 0);
    assert_eq!(server.count(), with_events);
    let still_new = json(&data, &["incidents", "--state", "new", "--limit", "0"]);
    assert_eq!(still_new, Value::Array(vec![]));

    // The documented repeat window: a sender killed after the server accepted message 1 but
    // before recording it leaves it `sending`. The next run sends it again, identical and with
    // the same Message-ID, so the recipient can drop the copy.
    let db = rusqlite::Connection::open(data.join("focal.db")).unwrap();
    db.execute("UPDATE outbox SET state = 'sending' WHERE id = 1", [])
        .unwrap();
    drop(db);
    let resent = json(&data, &["notify", "--smtp", &server.address()]);
    assert_eq!(resent["report"]["sent"], 1);
    let messages: Vec<Received> = server.messages().iter().map(received).collect();
    assert_eq!(messages.len(), with_events + 1);
    let mut by_id: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for m in &messages {
        by_id.entry(&m.message_id).or_default().push(m);
    }
    assert_eq!(by_id.len(), with_events, "the copy reuses its Message-ID");
    let copies: Vec<_> = by_id.values().filter(|v| v.len() > 1).collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0][0].event_ids, copies[0][1].event_ids);
    assert_eq!(copies[0][0].body, copies[0][1].body);
}

/// The reference constituency with an `also_notify` column: org-00121 has two further
/// recipients, org-00212 one.
fn constituents_with_copies(dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(fixture("constituents.csv")).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        out.push_str(line);
        out.push_str(match i {
            0 => ",also_notify",
            _ if line.starts_with("org-00121,") => ",soc@org121.example; noc@org121.example",
            _ if line.starts_with("org-00212,") => ",cert@org212.example",
            _ => ",",
        });
        out.push('\n');
    }
    let path = dir.join("constituents-cc.csv");
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn also_notify_addresses_get_the_digest_in_copy_checked_again_at_send_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, data) = ingested_with(&constituents_with_copies(tmp.path()));
    let listed = json(&data, &["constituents", "list"]);
    let org121 = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "org-00121")
        .unwrap();
    assert_eq!(
        org121["also_notify"],
        serde_json::json!(["soc@org121.example", "noc@org121.example"])
    );
    // A value stored before the rules existed (written into the database directly) is not
    // trusted: the message fails rather than go to another address than the one shown.
    let db = rusqlite::Connection::open(data.join("focal.db")).unwrap();
    db.execute(
        "UPDATE constituents SET also_notify = ?1 WHERE id = 'org-00212'",
        [r#"["Evil<evil@evil.example>"]"#],
    )
    .unwrap();
    drop(db);
    let server = SmtpServer::start(tmp.path());
    let expected = expected();
    let with_events = expected["constituents_with_events"].as_u64().unwrap() as usize;
    // The run says that a message failed for good (and exits non-zero), having sent the rest.
    let out = focal(&data, &["--json", "notify", "--smtp", &server.address()]);
    assert!(!out.status.success());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["failed"], 1, "{report}");
    let failed: Vec<&Value> = report["report"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["outcome"] == "failed")
        .collect();
    assert_eq!(failed[0]["constituent"], "org-00212");
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("also_notify entry 1") && detail.contains("display name"),
        "{detail}"
    );
    assert_eq!(
        report["report"]["sent"].as_u64().unwrap() as usize,
        with_events - 1
    );

    let addresses = abuse_addresses();
    let messages = server.messages();
    assert_eq!(messages.len(), with_events - 1);
    let mut copied = 0;
    for m in &messages {
        let r = received(m);
        assert_ne!(r.constituent, "org-00212");
        assert!(!r.rcpt_to.contains("evil"), "{}", r.rcpt_to);
        let envelope: BTreeSet<&str> = r.rcpt_to.split(", ").collect();
        assert_eq!(m["to"], addresses[&r.constituent].as_str());
        if r.constituent == "org-00121" {
            // The SMTP envelope names all three; the copies are in Cc, not To.
            let want: BTreeSet<&str> = [
                addresses["org-00121"].as_str(),
                "soc@org121.example",
                "noc@org121.example",
            ]
            .into();
            assert_eq!(envelope, want);
            let cc = m["cc"].as_str().expect("a Cc header");
            assert!(
                cc.contains("soc@org121.example") && cc.contains("noc@org121.example"),
                "{cc}"
            );
            copied += 1;
        } else {
            assert_eq!(envelope, [addresses[&r.constituent].as_str()].into());
            assert!(m["cc"].is_null(), "{m}");
        }
    }
    assert_eq!(copied, 1);
}

#[test]
fn sigkill_mid_batch_then_restart_reports_each_event_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, data) = ingested();
    let server = SmtpServer::start(tmp.path());
    set_notify(
        &data,
        &[
            ("max_events_per_message", "25"),
            ("max_messages_per_hour", "0"),
        ],
    );
    let stored = events_by_constituent(&data);
    let total: usize = stored.values().map(|ids| ids.len().div_ceil(25)).sum();

    let mut sender = focal_command(
        &data,
        &["notify", "--smtp", &server.address(), "--pause-ms", "40"],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let started = Instant::now();
    while server.count() < 20 {
        assert!(
            sender.try_wait().unwrap().is_none(),
            "the sender finished before it could be killed"
        );
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no messages arrived"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    sender.kill().unwrap(); // SIGKILL
    let status = sender.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let at_kill = server.count();
    assert!(at_kill < total, "killed mid-batch ({at_kill} of {total})");
    let outbox = json(&data, &["notify", "--outbox"]);
    assert_eq!(
        outbox.as_array().unwrap().len(),
        total,
        "all claimed at once"
    );
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["state"] != "sent"),
        "work was left"
    );

    ok(&data, &["notify", "--smtp", &server.address()]);
    let outbox = json(&data, &["notify", "--outbox"]);
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "sent")
    );

    let messages: Vec<Received> = server.messages().iter().map(received).collect();
    // By Message-ID: each outbox message arrived; at most the one in flight at the kill
    // arrived twice, as an identical copy (see the delivery guarantee in focal-incidents).
    let mut by_id: BTreeMap<&str, Vec<&Received>> = BTreeMap::new();
    for m in &messages {
        by_id.entry(&m.message_id).or_default().push(m);
    }
    assert_eq!(by_id.len(), total);
    let repeated: Vec<_> = by_id.values().filter(|v| v.len() > 1).collect();
    assert!(repeated.len() <= 1, "{} messages repeated", repeated.len());
    for copies in &repeated {
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[0].event_ids, copies[1].event_ids);
    }
    // Every constituent received each of its events exactly once.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for copies in by_id.values() {
        let m = copies[0];
        seen.entry(m.constituent.clone())
            .or_default()
            .extend(m.event_ids.iter().cloned());
    }
    assert_eq!(seen.len(), stored.len());
    for (c, ids) in &seen {
        let unique: BTreeSet<String> = ids.iter().cloned().collect();
        assert_eq!(unique.len(), ids.len(), "{c} was told about an event twice");
        assert_eq!(&unique, &stored[c], "{c} missed events");
    }
}

#[test]
fn failed_sends_are_retried_with_backoff_then_given_up_and_recorded() {
    let (_dir, data) = ingested();
    // A port nobody listens on: connection refused, a temporary failure. (Port 9, discard, is
    // below the ephemeral range, so a server of a test running beside this one cannot take it
    // as it could a port picked free and released.)
    let closed = "127.0.0.1:9".to_string();
    assert!(
        std::net::TcpStream::connect(&closed).is_err(),
        "something listens on {closed}"
    );
    set_notify(
        &data,
        &[("retry_base_seconds", "3600"), ("max_attempts", "2")],
    );
    let first = json(&data, &["notify", "--smtp", &closed]);
    let n = first["claimed"].as_u64().unwrap();
    assert!(n > 0);
    assert_eq!(first["report"]["retry"].as_u64().unwrap(), n);
    let outbox = json(&data, &["notify", "--outbox"]);
    for m in outbox.as_array().unwrap() {
        assert_eq!(m["state"], "pending");
        assert_eq!(m["attempts"], 1);
        let at = |k: &str| m[k].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
        assert!(at("next_attempt_at").as_second() - at("created_at").as_second() >= 3600);
        assert!(m["last_error"].as_str().unwrap().contains("attempt 1"));
    }
    // Not due yet: nothing is tried.
    let second = json(&data, &["notify", "--smtp", &closed]);
    assert_eq!(second["report"]["retry"], 0);
    assert_eq!(second["report"]["failed"], 0);

    // An hour later (moved in the database), the last attempt fails for good.
    let db = rusqlite::Connection::open(data.join("focal.db")).unwrap();
    db.execute("UPDATE outbox SET next_attempt_at = 0", [])
        .unwrap();
    let err = fails(&data, &["notify", "--smtp", &closed]);
    assert!(
        err.contains(&format!("{n} messages failed for good")),
        "{err}"
    );
    let outbox = json(&data, &["notify", "--outbox"]);
    assert!(
        outbox
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["state"] == "failed"
                && m["last_error"].as_str().unwrap().contains("attempt 2"))
    );
    let count = |outcome: &str| -> i64 {
        db.query_row(
            "SELECT COUNT(*) FROM deliveries WHERE outcome = ?1",
            [outcome],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(
        (count("retry"), count("failed"), count("sent")),
        (n as i64, n as i64, 0)
    );
    let listed = json(&data, &["notify", "--deliveries"]);
    assert_eq!(listed.as_array().unwrap().len() as u64, 2 * n);
}

#[test]
fn the_rate_limit_holds_back_a_constituents_further_messages() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, data) = ingested();
    let server = SmtpServer::start(tmp.path());
    set_notify(
        &data,
        &[
            ("max_events_per_message", "100"),
            ("max_messages_per_hour", "1"),
        ],
    );
    let stored = events_by_constituent(&data);
    let total: usize = stored.values().map(|ids| ids.len().div_ceil(100)).sum();
    let report = json(&data, &["notify", "--smtp", &server.address()]);
    assert_eq!(
        report["report"]["sent"].as_u64().unwrap() as usize,
        stored.len()
    );
    assert_eq!(
        report["report"]["rate_limited"].as_u64().unwrap() as usize,
        total - stored.len()
    );
    let messages: Vec<Received> = server.messages().iter().map(received).collect();
    let big: Vec<_> = messages
        .iter()
        .filter(|m| m.constituent == "org-00121")
        .collect();
    assert_eq!(big.len(), 1);
    assert_eq!(big[0].event_ids.len(), 100);
    let outbox = json(&data, &["notify", "--outbox"]);
    let states: Vec<&str> = outbox
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["constituent"] == "org-00121")
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["sent", "pending", "pending", "pending"]);
    // Still within the hour: the rest keep waiting.
    let again = json(&data, &["notify", "--smtp", &server.address()]);
    assert_eq!(again["report"]["sent"], 0);
    assert_eq!(server.count(), stored.len());
}

/// Reassessment reminders (issue 16) go through the same relay as the digests: an assessment whose
/// reassessment is overdue gets exactly one reminder, to its constituent's abuse address, however
/// often `focal notify` runs; one due in decades gets none.
#[test]
fn an_overdue_reassessment_is_reminded_once_through_the_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let (_dir, data) = ingested_with(&fixture("constituents.csv"));
    let server = SmtpServer::start(tmp.path());
    let addresses = abuse_addresses();
    let org = "org-00121";
    let completed = |subject: &str, due: &str| -> i64 {
        let new = json(
            &data,
            &[
                "assess",
                "new",
                "--framework",
                "un-ares-57-239",
                "--subject",
                subject,
                "--constituent",
                org,
                "--blank",
            ],
        );
        let id = new["assessment"]["id"].as_i64().unwrap();
        ok(
            &data,
            &["assess", "complete", &id.to_string(), "--due", due],
        );
        id
    };
    let late = completed("Reminded Org", "2020-01-31");
    completed("Far Future Org", "2099-01-31");
    let reminders = |server: &SmtpServer| -> Vec<Value> {
        server
            .messages()
            .into_iter()
            .filter(|m| m["subject"].as_str().unwrap().starts_with("Reassessment"))
            .collect()
    };

    let first = json(&data, &["notify", "--smtp", &server.address()]);
    assert_eq!(first["reminders"]["queued"], 1, "{first}");
    assert_eq!(first["reminders"]["sent"], 1, "{first}");
    let got = reminders(&server);
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["rcpt_to"].as_str().unwrap(), addresses[org]);
    assert_eq!(
        m["subject"].as_str().unwrap(),
        "Reassessment overdue: Reminded Org against un-ares-57-239"
    );
    let body = m["body"].as_str().unwrap();
    assert!(
        body.contains("2020-01-31") && body.contains(&format!("/assessments/{late}")),
        "{body}"
    );
    assert!(
        m["message_id"]
            .as_str()
            .unwrap()
            .contains(&format!("reassess.{late}.2020-01-31")),
        "{m}"
    );

    // Again: the same due date is never reminded twice.
    let again = json(&data, &["notify", "--smtp", &server.address()]);
    assert_eq!(again["reminders"]["queued"], 0, "{again}");
    assert_eq!(again["reminders"]["sent"], 0, "{again}");
    assert_eq!(reminders(&server).len(), 1);
    // Queued and sent are audited, each once.
    for action in ["assessment.reminder_queued", "assessment.reminder_sent"] {
        let entries = json(
            &data,
            &["audit", "list", "--action", action, "--limit", "0"],
        );
        assert_eq!(entries.as_array().unwrap().len(), 1, "{action}: {entries}");
        assert_eq!(entries[0]["subject"], format!("assessment:{late}"));
    }
}
