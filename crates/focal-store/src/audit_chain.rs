//! The audit log's chain, shared by both backends: how an entry is sealed, and how a chain read
//! back in id order is verified.
//!
//! Each entry's `hash` is a MAC over a JSON array of its id, time, actor, action, subject, the
//! stored before/after text and the previous entry's `hash`: HMAC-SHA-256 with the data
//! folder's [`AuditKey`], which is kept outside the database, so that someone who can rewrite
//! the database but not read the key cannot recompute the chain after changing an entry.
//! Entries written before a data folder had a key (before Focal keyed its chains) are plain
//! SHA-256 of the same array; the key records the first keyed entry (`keyed_from`), and every
//! entry from there on must carry a MAC. Hashing the stored text (not a re-serialisation) keeps
//! verification independent of JSON formatting. Entry ids are dense, so a removed entry shows as
//! a gap as well as a broken link; removing the newest entries shows against an [`Anchor`], a
//! (sequence, MAC) pair recorded outside the database.

use crate::incidents::{AuditEntry, AuditVerification};
use crate::{Result, StoreError};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::sync::RwLock;

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The audit chain's secret: 32 bytes, and the id of the first entry sealed with it.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditKey {
    key: [u8; 32],
    keyed_from: i64,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AuditKey {{ fingerprint: {}, keyed_from: {} }}",
            self.fingerprint(),
            self.keyed_from
        )
    }
}

impl AuditKey {
    pub fn new(key: [u8; 32], keyed_from: i64) -> AuditKey {
        AuditKey {
            key,
            keyed_from: keyed_from.max(1),
        }
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.key
    }

    /// Entries with this id or a later one are sealed with the key.
    pub fn keyed_from(&self) -> i64 {
        self.keyed_from
    }

    /// Names the key without revealing it (16 hex digits of a MAC of a fixed text).
    pub fn fingerprint(&self) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes a key of any length");
        mac.update(b"focal audit key fingerprint");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// Whether a store's chain is sealed with a key.
#[derive(Debug, Clone, Default)]
pub enum Keying {
    /// No key: plain SHA-256 (stores opened by libraries and tests without a data folder).
    #[default]
    Unkeyed,
    Keyed(AuditKey),
    /// The chain is keyed but this process does not have the right key: nothing may be appended
    /// and nothing can be verified; the text says why and what to do.
    Unavailable(String),
}

/// Where a store keeps its [`Keying`].
#[derive(Debug, Default)]
pub struct KeySlot(RwLock<Keying>);

impl KeySlot {
    pub fn set(&self, keying: Keying) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = keying;
    }

    pub fn keying(&self) -> Keying {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The key to seal new entries with (`None`: unkeyed), or why there is none to use.
    pub fn for_append(&self) -> Result<Option<AuditKey>> {
        match self.keying() {
            Keying::Unkeyed => Ok(None),
            Keying::Keyed(k) => Ok(Some(k)),
            Keying::Unavailable(why) => Err(StoreError::AuditKey(why)),
        }
    }
}

/// A point of the chain recorded outside the database: entry `entry` had this MAC.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchor {
    pub entry: i64,
    pub mac: String,
    /// When the anchor was taken (RFC 3339).
    pub at: String,
    /// The fingerprint of the key the chain was sealed with, if any.
    pub key: Option<String>,
}

/// The seal of an entry: HMAC-SHA-256 with `key` if the entry is at or after its `keyed_from`,
/// else (an entry from before the chain was keyed, or an unkeyed store) SHA-256.
#[allow(clippy::too_many_arguments)]
pub fn entry_hash(
    key: Option<&AuditKey>,
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
    match key.filter(|k| id >= k.keyed_from) {
        Some(k) => {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&k.key)
                .expect("HMAC takes a key of any length");
            mac.update(canonical.to_string().as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        None => hex::encode(Sha256::digest(canonical.to_string().as_bytes())),
    }
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

/// Walks the chain in id order and reports the first entry that was changed or follows a gap,
/// and, given an anchor, whether the anchored entry is still there with its MAC.
#[derive(Default)]
pub struct Verifier {
    entries: u64,
    expected_prev: Option<String>,
    expected_id: i64,
    bad: Option<(i64, String)>,
    key: Option<AuditKey>,
    anchor: Option<Anchor>,
}

impl Verifier {
    /// A verifier for a store's chain: fails at once if the chain is keyed and the key is not
    /// available.
    pub fn new(keying: &Keying, anchor: Option<&Anchor>) -> Result<Verifier> {
        let key = match keying {
            Keying::Unkeyed => None,
            Keying::Keyed(k) => Some(k.clone()),
            Keying::Unavailable(why) => return Err(StoreError::AuditKey(why.clone())),
        };
        Ok(Verifier {
            expected_prev: Some(GENESIS.to_string()),
            expected_id: 1,
            key,
            anchor: anchor.cloned(),
            ..Verifier::default()
        })
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
                self.key.as_ref(),
                id,
                &at,
                &actor,
                &action,
                &subject,
                before.as_deref(),
                after.as_deref(),
                &prev,
            );
            if actual != hash {
                Some(match &self.key {
                    Some(k) if id >= k.keyed_from => format!(
                        "entry {id} was changed after it was written, or sealed without this data folder's audit key (key {}, entries from {} on are keyed): its MAC is {actual}, not the recorded {hash}",
                        k.fingerprint(),
                        k.keyed_from
                    ),
                    _ => format!(
                        "entry {id} was changed after it was written: its content hashes to {actual}, not the recorded {hash}"
                    ),
                })
            } else {
                match &self.anchor {
                    Some(a) if a.entry == id && a.mac != hash => Some(format!(
                        "entry {id} is not the entry anchored at {}: the anchor records the MAC {}, the log has {hash}",
                        a.at, a.mac
                    )),
                    _ => None,
                }
            }
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
            head_id: None,
            keyed_from: self.key.as_ref().map(AuditKey::keyed_from),
            key: self.key.as_ref().map(AuditKey::fingerprint),
            first_bad_id: id,
            problem: Some(format!(
                "entry {} cannot be read as an audit entry ({error}): it was edited",
                id.map(|i| i.to_string()).unwrap_or_else(|| "?".into())
            )),
        }
    }

    pub fn finish(mut self) -> AuditVerification {
        let last_id = self.expected_id - 1;
        if self.bad.is_none()
            && let Some(a) = &self.anchor
            && a.entry > last_id
        {
            self.bad = Some((
                last_id + 1,
                format!(
                    "entries from {} on were removed: the anchor taken at {} records entry {}, and the log ends at entry {last_id}",
                    last_id + 1,
                    a.at,
                    a.entry
                ),
            ));
        }
        let keyed_from = self.key.as_ref().map(AuditKey::keyed_from);
        let key = self.key.as_ref().map(AuditKey::fingerprint);
        match self.bad {
            Some((id, problem)) => AuditVerification {
                entries: self.entries,
                ok: false,
                head: None,
                head_id: None,
                keyed_from,
                key,
                first_bad_id: Some(id),
                problem: Some(problem),
            },
            None => AuditVerification {
                entries: self.entries,
                ok: true,
                head: (self.entries > 0).then_some(self.expected_prev.unwrap_or_default()),
                head_id: (self.entries > 0).then_some(last_id),
                keyed_from,
                key,
                first_bad_id: None,
                problem: None,
            },
        }
    }
}
