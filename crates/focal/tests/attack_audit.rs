//! The audit log attacked by someone who can write the database but not read the data folder's
//! audit key (a stolen database file, a database administrator, a backup restored elsewhere):
//! `focal audit verify` must fail after (a) editing a row, (b) rewriting a row and recomputing
//! the chain as the unkeyed chain was computed (SHA-256), (c) deleting the newest entries, when
//! given an anchor taken before. Before issue 11, (b) and (c) verified.
//!
//! Also: a data folder made before the chain was keyed keeps verifying, and is keyed from then
//! on (its older entries cannot be rewritten either, since the keyed entries link to them).

mod support;

use rusqlite::Connection;
use serde_json::Value;
use sha2::Digest;
use std::path::Path;
use support::*;

fn db(data: &Path) -> Connection {
    Connection::open(data.join("focal.db")).unwrap()
}

/// One row: (id, at, actor, action, subject, before, after, prev_hash, hash).
type Row = (
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

fn rows(data: &Path) -> Vec<Row> {
    let c = db(data);
    let mut stmt = c
        .prepare("SELECT id, at, actor, action, subject, before, after, prev_hash, hash FROM audit_log ORDER BY id")
        .unwrap();
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

fn put_back(data: &Path, saved: &[Row]) {
    let c = db(data);
    for r in saved {
        c.execute(
            "UPDATE audit_log SET actor = ?1, prev_hash = ?2, hash = ?3 WHERE id = ?4",
            rusqlite::params![r.2, r.7, r.8, r.0],
        )
        .unwrap();
    }
}

/// Changes entry `id`'s actor and recomputes every seal from there on the way the unkeyed chain
/// was sealed (SHA-256 over the JSON array of the entry), so every link matches again: all a
/// forger without the key can do.
fn rewrite_without_key(data: &Path, id: i64, actor: &str) {
    let mut all = rows(data);
    let mut prev = all
        .iter()
        .find(|r| r.0 == id - 1)
        .map(|r| r.8.clone())
        .unwrap_or_else(|| "0".repeat(64));
    for r in all.iter_mut().filter(|r| r.0 >= id) {
        if r.0 == id {
            r.2 = actor.to_string();
        }
        r.7 = prev.clone();
        let canonical = serde_json::json!([r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7]).to_string();
        r.8 = hex::encode(sha2::Sha256::digest(canonical.as_bytes()));
        prev = r.8.clone();
    }
    put_back(data, &all);
}

fn add_users(data: &Path, names: &[&str]) {
    for n in names {
        ok(
            data,
            &[
                "users",
                "add",
                n,
                "--role",
                "analyst",
                "--password",
                "a long password",
            ],
        );
    }
}

#[test]
fn verify_fails_after_an_edit_a_keyless_rewrite_or_dropping_entries_past_an_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init", "--admin-password", "a long password"]);

    // The key: outside the database, readable by its owner only, made at init.
    let key_file = data.join("audit.key");
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    assert!(
        key_text.starts_with("focal-audit-key v1 keyed_from=1 key="),
        "{key_text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key_hex = key_text.trim().rsplit('=').next().unwrap().to_string();
    let db_bytes = std::fs::read(data.join("focal.db")).unwrap();
    assert!(
        !db_bytes
            .windows(key_hex.len())
            .any(|w| w == key_hex.as_bytes()),
        "the key is not in the database"
    );

    add_users(&data, &["a", "b", "c"]);
    let verified = json(&data, &["audit", "verify"]);
    assert_eq!(verified["ok"], true);
    assert_eq!(verified["keyed_from"], 1);
    let anchor_file = dir.path().join("anchor.json");
    ok(
        &data,
        &["audit", "anchor", "--output", anchor_file.to_str().unwrap()],
    );
    let anchor: Value =
        serde_json::from_str(&std::fs::read_to_string(&anchor_file).unwrap()).unwrap();
    let anchored = anchor["entry"].as_i64().unwrap();
    assert_eq!(anchored, verified["head_id"].as_i64().unwrap());
    assert_eq!(anchor["mac"], verified["head"]);
    // The anchor also goes to stdout, for piping to an external record.
    let printed: Value = serde_json::from_str(&ok(&data, &["audit", "anchor"])).unwrap();
    assert_eq!(printed["entry"], anchor["entry"]);
    add_users(&data, &["d", "e"]);
    let anchor_arg = anchor_file.to_str().unwrap();
    ok(&data, &["audit", "verify", "--anchor", anchor_arg]);
    let saved = rows(&data);
    let target = anchored - 1;

    // (a) An edited row.
    db(&data)
        .execute(
            "UPDATE audit_log SET actor = 'mallory' WHERE id = ?1",
            [target],
        )
        .unwrap();
    let err = fails(&data, &["audit", "verify"]);
    assert!(err.contains(&format!("entry {target}")), "{err}");
    put_back(&data, &saved);
    ok(&data, &["audit", "verify", "--anchor", anchor_arg]);

    // (b) A row rewritten and the whole chain after it recomputed, without the key.
    rewrite_without_key(&data, target, "mallory");
    let err = fails(&data, &["audit", "verify"]);
    assert!(
        err.contains(&format!("entry {target}")) && err.contains("audit key"),
        "{err}"
    );
    put_back(&data, &saved);
    ok(&data, &["audit", "verify", "--anchor", anchor_arg]);

    // (c) The newest entries deleted, back past the anchor: the shorter chain still links up,
    // but not against the anchor.
    db(&data)
        .execute("DELETE FROM audit_log WHERE id >= ?1", [anchored - 1])
        .unwrap();
    ok(&data, &["audit", "verify"]);
    let err = fails(&data, &["audit", "verify", "--anchor", anchor_arg]);
    assert!(
        err.contains("removed") && err.contains(&format!("entry {anchored}")),
        "{err}"
    );

    // Without the key the log can be read but neither verified nor written, and the message
    // says which key to bring.
    let fingerprint = verified["key"].as_str().unwrap().to_string();
    std::fs::rename(&key_file, dir.path().join("elsewhere.key")).unwrap();
    let err = fails(&data, &["audit", "verify"]);
    assert!(
        err.contains(&fingerprint) && err.contains("audit.key"),
        "{err}"
    );
    let err = fails(&data, &["users", "add", "f", "--role", "analyst"]);
    assert!(err.contains("audit key"), "{err}");
    assert!(
        !key_file.exists(),
        "no second key was made for a keyed chain"
    );
    // Another key (a forger's own) does not verify the chain either.
    let forged = format!("focal-audit-key v1 keyed_from=1 key={}", "ab".repeat(32));
    let out = focal_command(&data, &["audit", "verify"])
        .env("FOCAL_AUDIT_KEY", &forged)
        .output()
        .unwrap();
    assert!(!out.status.success());
    // The right key from the environment does.
    let right = std::fs::read_to_string(dir.path().join("elsewhere.key")).unwrap();
    let out = focal_command(&data, &["audit", "verify"])
        .env("FOCAL_AUDIT_KEY", right.trim())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_chain_from_before_keying_keeps_verifying_and_is_keyed_from_then_on() {
    use focal_store::incidents::AuditLog;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&data, &["init", "--admin-password", "a long password"]);
    // What an older Focal left: the same folder, a chain of plain SHA-256 entries, no key.
    std::fs::remove_file(data.join("audit.key")).unwrap();
    for f in ["focal.db", "focal.db-wal", "focal.db-shm"] {
        let _ = std::fs::remove_file(data.join(f));
    }
    {
        let old = focal_store::SqliteStore::open(&data.join("focal.db")).unwrap();
        for n in 0..3 {
            old.audit_append(
                "old-focal",
                "incident.create",
                &format!("incident:{n}"),
                None,
                Some(&serde_json::json!({"n": n})),
            )
            .unwrap();
        }
    }
    let v = json(&data, &["audit", "verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["keyed_from"], 4, "keyed after the three old entries: {v}");
    let key_text = std::fs::read_to_string(data.join("audit.key")).unwrap();
    assert!(key_text.contains("keyed_from=4"), "{key_text}");
    let keyed = json(&data, &["audit", "list", "--action", "audit.keyed"]);
    assert_eq!(keyed[0]["id"], 4);
    assert_eq!(keyed[0]["after"]["keyed_from"], 4);
    add_users(&data, &["a"]);
    ok(&data, &["audit", "verify"]);

    // An old entry rewritten, and everything after it recomputed without the key: the keyed
    // entries no longer verify.
    let saved = rows(&data);
    rewrite_without_key(&data, 2, "mallory");
    let err = fails(&data, &["audit", "verify"]);
    assert!(err.contains("entry 4"), "{err}");
    put_back(&data, &saved);
    ok(&data, &["audit", "verify"]);
    // Claiming in the database that keying began later, or with another key, gains nothing:
    // where keying began is recorded with the key, and a store whose chain names another key
    // refuses to append or verify.
    db(&data)
        .execute(
            "UPDATE audit_log SET after = '{\"key\":\"x\",\"keyed_from\":99}' WHERE action = 'audit.keyed'",
            [],
        )
        .unwrap();
    let err = fails(&data, &["audit", "verify"]);
    assert!(err.contains("audit key"), "{err}");
    let err = fails(&data, &["users", "add", "b", "--role", "analyst"]);
    assert!(err.contains("audit key"), "{err}");
}
