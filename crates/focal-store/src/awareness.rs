//! What the SQLite and PostgreSQL implementations of `focal-awareness`'s storage traits share:
//! how an advisory is split into its row and its revisions, what an import's audit entry
//! records, and the conversion of store errors into the domain's.

use crate::StoreError;
use focal_awareness::StorageError;
use focal_awareness::advisory::{Advisory, Revision};
use focal_awareness::library::{Entity, Facet};
use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

impl From<StoreError> for StorageError {
    fn from(e: StoreError) -> Self {
        StorageError::Backend(Box::new(e))
    }
}

/// The advisory row's JSON: everything but the revisions, which have their own table.
pub(crate) fn advisory_doc(a: &Advisory) -> Result<String, StorageError> {
    let mut bare = a.clone();
    bare.revisions.clear();
    serde_json::to_string(&bare).map_err(|e| StorageError::Invalid(e.to_string()))
}

pub(crate) fn revision_doc(r: &Revision) -> Result<String, StorageError> {
    serde_json::to_string(r).map_err(|e| StorageError::Invalid(e.to_string()))
}

fn corrupt(what: &str, e: serde_json::Error) -> StorageError {
    StorageError::Invalid(format!("the stored {what} cannot be read: {e}"))
}

/// An advisory read back from its row and its revisions (in number order).
pub(crate) fn advisory_from(doc: &str, revisions: &[String]) -> Result<Advisory, StorageError> {
    let mut a: Advisory = serde_json::from_str(doc).map_err(|e| corrupt("advisory", e))?;
    a.revisions = revisions
        .iter()
        .map(|r| serde_json::from_str(r).map_err(|e| corrupt("advisory revision", e)))
        .collect::<Result<_, _>>()?;
    Ok(a)
}

/// Checks that a save keeps every stored revision as it is, and returns those to insert.
pub(crate) fn new_revisions<'a>(
    a: &'a Advisory,
    stored: &[String],
) -> Result<&'a [Revision], StorageError> {
    if a.revisions.len() < stored.len() {
        return Err(StorageError::Conflict(format!(
            "advisory {} has {} published revisions; a save may not remove any",
            a.id,
            stored.len()
        )));
    }
    for (r, text) in a.revisions.iter().zip(stored) {
        if &revision_doc(r)? != text {
            return Err(StorageError::Conflict(format!(
                "revision {} of advisory {} is published and cannot be changed",
                r.number, a.id
            )));
        }
    }
    Ok(&a.revisions[stored.len()..])
}

pub(crate) fn micros(t: Timestamp) -> i64 {
    t.as_microsecond()
}

pub(crate) fn from_micros(m: i64) -> Result<Timestamp, StorageError> {
    Timestamp::from_microsecond(m)
        .map_err(|e| StorageError::Invalid(format!("stored time {m} is out of range: {e}")))
}

pub(crate) fn entity_doc(e: &Entity) -> Result<String, StorageError> {
    serde_json::to_string(e).map_err(|e| StorageError::Invalid(e.to_string()))
}

pub(crate) fn entity_from(doc: &str) -> Result<Entity, StorageError> {
    serde_json::from_str(doc).map_err(|e| corrupt("library entity", e))
}

/// What the audit log keeps of an entity: enough to see what changed, and the SHA-256 of the
/// whole stored document to prove which one it was.
pub(crate) fn entity_audit(e: &Entity, doc: &str) -> Value {
    json!({
        "id": e.id,
        "name": e.name,
        "last_updated": e.last_updated,
        "items": e.item_count(),
        "sha256": hex::encode(Sha256::digest(doc.as_bytes())),
    })
}

/// Facet values by count, then value; at most `max`.
pub(crate) fn facets(mut list: Vec<(String, i64)>, max: usize) -> Vec<Facet> {
    list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    list.into_iter()
        .take(max)
        .map(|(value, count)| Facet {
            value,
            count: count.max(0) as u64,
        })
        .collect()
}

/// The window's bounds in Unix microseconds (open ends as the extremes).
pub(crate) fn window_micros(w: &focal_awareness::stats::StatsWindow) -> (i64, i64) {
    (
        w.since.map_or(i64::MIN, micros),
        w.until.map_or(i64::MAX, micros),
    )
}
