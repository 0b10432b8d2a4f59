//! What both backends do alike when saving constituents: decide, per record, whether it adds,
//! changes or leaves one alone (and whether the mode allows it), and shape the audit entry.

use crate::{ConstituentSave, Result, SaveMode, StoreError};
use focal_model::Constituent;
use serde_json::Value;

/// The stored columns of a constituent as text (JSON lists), the way both schemas keep them.
pub(crate) struct StoredColumns {
    pub name: String,
    pub abuse_email: String,
    pub asns: String,
    pub netblocks: String,
    pub domains: String,
    pub language: Option<String>,
    /// JSON list of addresses.
    pub also_notify: String,
}

impl StoredColumns {
    pub fn decode(self, id: &str) -> Result<Constituent> {
        let bad = |what: &str| {
            StoreError::Invalid(format!(
                "constituent {id}: stored {what} are not valid JSON"
            ))
        };
        Ok(Constituent {
            id: id.to_string(),
            asns: serde_json::from_str(&self.asns).map_err(|_| bad("ASNs"))?,
            netblocks: serde_json::from_str(&self.netblocks).map_err(|_| bad("netblocks"))?,
            domains: serde_json::from_str(&self.domains).map_err(|_| bad("domains"))?,
            also_notify: serde_json::from_str(&self.also_notify)
                .map_err(|_| bad("also_notify addresses"))?,
            name: self.name,
            abuse_email: self.abuse_email,
            language: self.language,
        })
    }
}

/// The lists of a constituent as the JSON text both schemas store.
pub(crate) fn list_columns(c: &Constituent) -> (String, String, String, String) {
    let text = |v: serde_json::Result<String>| v.unwrap_or_else(|_| "[]".into());
    (
        text(serde_json::to_string(&c.asns)),
        text(serde_json::to_string(&c.netblocks)),
        text(serde_json::to_string(&c.domains)),
        text(serde_json::to_string(&c.also_notify)),
    )
}

/// What saving a record does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Added,
    Updated,
    Unchanged,
}

/// Decides the outcome of saving `c` over `existing`, refusing what `mode` does not allow.
pub(crate) fn decide(
    c: &Constituent,
    existing: Option<&Constituent>,
    mode: SaveMode,
) -> Result<Outcome> {
    match (existing, mode) {
        (Some(_), SaveMode::Create) => Err(StoreError::Invalid(format!(
            "id: a constituent {:?} already exists",
            c.id
        ))),
        (None, SaveMode::Update) => Err(StoreError::Invalid(format!(
            "id: there is no constituent {:?}",
            c.id
        ))),
        (Some(old), _) if old == c => Ok(Outcome::Unchanged),
        (Some(_), _) => Ok(Outcome::Updated),
        (None, _) => Ok(Outcome::Added),
    }
}

/// The audit entry for a saved record: (action, subject, before, after).
pub(crate) fn audit_entry(
    c: &Constituent,
    before: Option<&Constituent>,
    how: &ConstituentSave<'_>,
) -> Result<(&'static str, String, Option<Value>, Value)> {
    let json = |c: &Constituent| {
        serde_json::to_value(c)
            .map_err(|e| StoreError::Invalid(format!("constituent {}: {e}", c.id)))
    };
    let mut after = json(c)?;
    if let (Some(source), Value::Object(m)) = (how.source, &mut after) {
        m.insert("imported_from".into(), source.into());
    }
    Ok((
        how.mode.action(before.is_none()),
        format!("constituent:{}", c.id),
        before.map(json).transpose()?,
        after,
    ))
}
