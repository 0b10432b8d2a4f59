//! The audit log's hash chain, shared by both backends: how an entry is hashed, and how a
//! chain read back in id order is verified.
//!
//! Each entry's hash is SHA-256 over a JSON array of its id, time, actor, action, subject, the
//! stored before/after text and the previous entry's hash. Hashing the stored text (not a
//! re-serialisation) keeps verification independent of JSON formatting. Entry ids are dense, so
//! a removed entry shows as a gap as well as a broken link.

use crate::incidents::{AuditEntry, AuditVerification};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    id: i64,
    at: &str,
    actor: &str,
    action: &str,
    subject: &str,
    before: Option<&str>,
    after: Option<&str>,
    prev_hash: &str,
) -> String {
    let canonical = serde_json::json!([id, at, actor, action, subject, before, after, prev_hash]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// One stored row: id, at, actor, action, subject, before, after, prev_hash, hash.
pub type RawEntry = (
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

pub const COLUMNS: &str = "id, at, actor, action, subject, before, after, prev_hash, hash";

pub fn to_entry(e: RawEntry) -> AuditEntry {
    // Unparsable JSON (a hand-edited row) is shown as a string rather than hidden; `verify`
    // reports the row anyway because its hash no longer matches.
    let json = |t: Option<String>| t.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)));
    AuditEntry {
        id: e.0,
        at: e.1,
        actor: e.2,
        action: e.3,
        subject: e.4,
        before: json(e.5),
        after: json(e.6),
        prev_hash: e.7,
        hash: e.8,
    }
}

/// Walks the chain in id order and reports the first entry that was changed or follows a gap.
#[derive(Default)]
pub struct Verifier {
    entries: u64,
    expected_prev: Option<String>,
    expected_id: i64,
    bad: Option<(i64, String)>,
}

impl Verifier {
    pub fn new() -> Verifier {
        Verifier {
            expected_prev: Some(GENESIS.to_string()),
            expected_id: 1,
            ..Verifier::default()
        }
    }

    /// Checks the next entry; returns false once a bad entry is found (stop reading).
    pub fn check(&mut self, e: RawEntry) -> bool {
        if self.bad.is_some() {
            return false;
        }
        self.entries += 1;
        let (id, at, actor, action, subject, before, after, prev, hash) = e;
        let expected_prev = self.expected_prev.clone().unwrap_or_default();
        let problem = if id != self.expected_id {
            Some(format!(
                "entry {id} follows entry {}: entries {}..{} were removed",
                self.expected_id - 1,
                self.expected_id,
                id - 1
            ))
        } else if prev != expected_prev {
            Some(format!(
                "entry {id} does not link to entry {}: its prev_hash is {prev}, but that entry's hash is {expected_prev}",
                id - 1
            ))
        } else {
            let actual = entry_hash(
                id,
                &at,
                &actor,
                &action,
                &subject,
                before.as_deref(),
                after.as_deref(),
                &prev,
            );
            (actual != hash).then(|| {
                format!(
                    "entry {id} was changed after it was written: its content hashes to {actual}, not the recorded {hash}"
                )
            })
        };
        if let Some(problem) = problem {
            self.bad = Some((id, problem));
            return false;
        }
        self.expected_prev = Some(hash);
        self.expected_id += 1;
        true
    }

    /// The verdict when a row cannot even be read as an entry (its columns were edited into the
    /// wrong types): a bad entry, not a storage failure.
    pub fn unreadable(self, id: Option<i64>, error: impl std::fmt::Display) -> AuditVerification {
        let entries = self.entries + 1;
        AuditVerification {
            entries,
            ok: false,
            head: None,
            first_bad_id: id,
            problem: Some(format!(
                "entry {} cannot be read as an audit entry ({error}): it was edited",
                id.map(|i| i.to_string()).unwrap_or_else(|| "?".into())
            )),
        }
    }

    pub fn finish(self) -> AuditVerification {
        match self.bad {
            Some((id, problem)) => AuditVerification {
                entries: self.entries,
                ok: false,
                head: None,
                first_bad_id: Some(id),
                problem: Some(problem),
            },
            None => AuditVerification {
                entries: self.entries,
                ok: true,
                head: (self.entries > 0).then_some(self.expected_prev.unwrap_or_default()),
                first_bad_id: None,
                problem: None,
            },
        }
    }
}
