//! The hash-chained audit log in SQLite (the chain itself: `crate::audit_chain`).

use super::SqliteStore;
use super::incidents::err;
use crate::Result;
use crate::audit_chain::{
    Anchor, AuditKey, COLUMNS, GENESIS, Keying, RawEntry, Verifier, entry_hash, to_entry,
};
use crate::incidents::{AuditEntry, AuditFilter, AuditLog, AuditVerification};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

/// Appends to the chain inside the caller's transaction. Keeps the head in memory so a batch of
/// entries reads it once.
pub struct Chain {
    last_id: i64,
    last_hash: String,
    key: Option<AuditKey>,
}

impl Chain {
    /// `key` from `SqliteStore::audit_key()`, taken before the transaction starts.
    pub fn load(conn: &Connection, key: Option<AuditKey>) -> rusqlite::Result<Chain> {
        let head: Option<(i64, String)> = conn
            .query_row(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (last_id, last_hash) = head.unwrap_or((0, GENESIS.to_string()));
        Ok(Chain {
            last_id,
            last_hash,
            key,
        })
    }

    pub fn append(
        &mut self,
        conn: &Connection,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> rusqlite::Result<AuditEntry> {
        let id = self.last_id + 1;
        let at = jiff::Timestamp::now().to_string();
        let before_text = before.map(Value::to_string);
        let after_text = after.map(Value::to_string);
        let hash = entry_hash(
            self.key.as_ref(),
            id,
            &at,
            actor,
            action,
            subject,
            before_text.as_deref(),
            after_text.as_deref(),
            &self.last_hash,
        );
        conn.prepare_cached(
            "INSERT INTO audit_log (id, at, actor, action, subject, before, after, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            id,
            at,
            actor,
            action,
            subject,
            before_text,
            after_text,
            self.last_hash,
            hash
        ])?;
        let entry = AuditEntry {
            id,
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            before: before.cloned(),
            after: after.cloned(),
            prev_hash: std::mem::replace(&mut self.last_hash, hash.clone()),
            hash,
        };
        self.last_id = id;
        Ok(entry)
    }
}

fn raw(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawEntry> {
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
}

impl AuditLog for SqliteStore {
    fn audit_append(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<AuditEntry> {
        let key = self.audit_key()?;
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err("starting an audit entry"))?;
        let entry = Chain::load(&tx, key)
            .and_then(|mut c| c.append(&tx, actor, action, subject, before, after))
            .map_err(err("writing an audit entry"))?;
        tx.commit().map_err(err("committing an audit entry"))?;
        Ok(entry)
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let conn = self.reader()?;
        let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(s) = &filter.subject {
            args.push(s.clone().into());
            sql.push_str(&format!(" AND subject = ?{}", args.len()));
        }
        if let Some(a) = &filter.action {
            args.push(a.clone().into());
            sql.push_str(&format!(" AND action = ?{}", args.len()));
        }
        if let Some(after) = filter.after_id {
            args.push(after.into());
            sql.push_str(&format!(" AND id > ?{}", args.len()));
        }
        if let Some(before) = filter.before_id {
            args.push(before.into());
            sql.push_str(&format!(" AND id < ?{}", args.len()));
        }
        if let Some(actor) = &filter.actor {
            args.push((actor.clone()).into());
            sql.push_str(&format!(" AND actor = ?{}", args.len()));
        }
        if let Some(since) = &filter.since {
            args.push(AuditFilter::bound(since).into());
            sql.push_str(&format!(" AND at >= ?{}", args.len()));
        }
        if let Some(until) = &filter.until {
            args.push(AuditFilter::bound(until).into());
            sql.push_str(&format!(" AND at < ?{}", args.len()));
        }
        sql.push_str(if filter.newest_first {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id"
        });
        if let Some(limit) = filter.limit {
            args.push((limit as i64).into());
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        let mut stmt = conn.prepare(&sql).map_err(err("listing the audit log"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args), raw)
            .map_err(err("listing the audit log"))?;
        rows.map(|r| r.map(to_entry))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(err("listing the audit log"))
    }

    fn audit_latest(&self, action: &str, subject: &str) -> Result<Option<AuditEntry>> {
        let conn = self.reader()?;
        conn.query_row(
            &format!(
                "SELECT {COLUMNS} FROM audit_log WHERE action = ?1 AND subject = ?2 ORDER BY id DESC LIMIT 1"
            ),
            params![action, subject],
            raw,
        )
        .optional()
        .map(|r| r.map(to_entry))
        .map_err(err("reading the audit log"))
    }

    fn audit_verify_anchored(&self, anchor: Option<&Anchor>) -> Result<AuditVerification> {
        let mut verifier = Verifier::new(&self.audit_key.keying(), anchor)?;
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY id"))
            .map_err(err("verifying the audit log"))?;
        let mut rows = stmt.query([]).map_err(err("verifying the audit log"))?;
        while let Some(row) = rows.next().map_err(err("verifying the audit log"))? {
            // A row whose columns no longer have the right types was edited by hand: that is a
            // verdict about the chain, not a storage failure.
            let id: Option<i64> = row.get(0).ok();
            match raw(row) {
                Ok(e) => {
                    if !verifier.check(e) {
                        break;
                    }
                }
                Err(e) => return Ok(verifier.unreadable(id, e)),
            }
        }
        Ok(verifier.finish())
    }

    fn audit_head(&self) -> Result<Option<(i64, String)>> {
        self.reader()?
            .query_row(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(err("reading the audit log"))
    }

    fn set_audit_keying(&self, keying: Keying) {
        self.audit_key.set(keying);
    }

    fn audit_keying(&self) -> Keying {
        self.audit_key.keying()
    }
}
