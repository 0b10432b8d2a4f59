//! The hash-chained audit log on PostgreSQL (the chain itself: `crate::audit_chain`).

use super::{PostgresStore, err};
use crate::Result;
use crate::audit_chain::{
    Anchor, AuditKey, COLUMNS, GENESIS, Keying, RawEntry, Verifier, entry_hash, to_entry,
};
use crate::incidents::{AuditEntry, AuditFilter, AuditLog, AuditVerification};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use serde_json::Value;

/// Names the audit chain's advisory lock: appends from any process take it, so ids stay dense
/// and each entry links to the one before.
const AUDIT_LOCK: i64 = 0x466f_6361_6c41_7564; // "FocalAud"

fn raw(r: &postgres::Row) -> std::result::Result<RawEntry, postgres::Error> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
    ))
}

/// Appends to the chain inside the caller's transaction, which [`Chain::lock`] made the only
/// appender until it ends.
pub(super) struct Chain {
    last_id: i64,
    last_hash: String,
    key: Option<AuditKey>,
}

impl Chain {
    /// Takes the chain's lock for the rest of the transaction and reads its head. `key` is
    /// `PostgresStore::audit_key()`.
    pub fn lock(tx: &mut postgres::Transaction<'_>, key: Option<AuditKey>) -> Result<Chain> {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
            .map_err(err("locking the audit log"))?;
        let head = tx
            .query_opt(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                &[],
            )
            .map_err(err("reading the audit log"))?;
        let (last_id, last_hash) = match head {
            Some(r) => (r.get(0), r.get(1)),
            None => (0, GENESIS.to_string()),
        };
        Ok(Chain {
            last_id,
            last_hash,
            key,
        })
    }

    pub fn append(
        &mut self,
        tx: &mut postgres::Transaction<'_>,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<AuditEntry> {
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
        tx.execute(
            "INSERT INTO audit_log (id, at, actor, action, subject, before, after, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &id,
                &at,
                &actor,
                &action,
                &subject,
                &before_text,
                &after_text,
                &self.last_hash,
                &hash,
            ],
        )
        .map_err(err("writing an audit entry"))?;
        self.last_id = id;
        Ok(AuditEntry {
            id,
            at,
            actor: actor.to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            before: before.cloned(),
            after: after.cloned(),
            prev_hash: std::mem::replace(&mut self.last_hash, hash.clone()),
            hash,
        })
    }
}

impl AuditLog for PostgresStore {
    fn audit_append(
        &self,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<AuditEntry> {
        let key = self.audit_key.for_append()?;
        let mut conn = self.conn("writing an audit entry")?;
        let mut tx = conn.transaction().map_err(err("starting an audit entry"))?;
        let entry =
            Chain::lock(&mut tx, key)?.append(&mut tx, actor, action, subject, before, after)?;
        tx.commit().map_err(err("committing an audit entry"))?;
        Ok(entry)
    }

    fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut conn = self.conn("listing the audit log")?;
        let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE true");
        let mut args: Vec<Box<dyn ToSql + Sync>> = Vec::new();
        if let Some(s) = &filter.subject {
            args.push(Box::new(s.clone()));
            sql.push_str(&format!(" AND subject = ${}", args.len()));
        }
        if let Some(a) = &filter.action {
            args.push(Box::new(a.clone()));
            sql.push_str(&format!(" AND action = ${}", args.len()));
        }
        if let Some(after) = filter.after_id {
            args.push(Box::new(after));
            sql.push_str(&format!(" AND id > ${}", args.len()));
        }
        if let Some(before) = filter.before_id {
            args.push(Box::new(before));
            sql.push_str(&format!(" AND id < ${}", args.len()));
        }
        if let Some(actor) = &filter.actor {
            args.push(Box::new(actor.clone()));
            sql.push_str(&format!(" AND actor = ${}", args.len()));
        }
        if let Some(since) = &filter.since {
            args.push(Box::new(AuditFilter::bound(since)));
            sql.push_str(&format!(" AND at >= ${}", args.len()));
        }
        if let Some(until) = &filter.until {
            args.push(Box::new(AuditFilter::bound(until)));
            sql.push_str(&format!(" AND at < ${}", args.len()));
        }
        sql.push_str(if filter.newest_first {
            " ORDER BY id DESC"
        } else {
            " ORDER BY id"
        });
        if let Some(limit) = filter.limit {
            args.push(Box::new(limit as i64));
            sql.push_str(&format!(" LIMIT ${}", args.len()));
        }
        let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
        let rows = conn
            .query(&sql, &refs)
            .map_err(err("listing the audit log"))?;
        rows.iter()
            .map(|r| raw(r).map(to_entry).map_err(err("listing the audit log")))
            .collect()
    }

    fn audit_latest(&self, action: &str, subject: &str) -> Result<Option<AuditEntry>> {
        let mut conn = self.conn("reading the audit log")?;
        let row = conn
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM audit_log WHERE action = $1 AND subject = $2 ORDER BY id DESC LIMIT 1"
                ),
                &[&action, &subject],
            )
            .map_err(err("reading the audit log"))?;
        row.as_ref()
            .map(|r| raw(r).map(to_entry))
            .transpose()
            .map_err(err("reading the audit log"))
    }

    fn audit_verify_anchored(&self, anchor: Option<&Anchor>) -> Result<AuditVerification> {
        let mut verifier = Verifier::new(&self.audit_key.keying(), anchor)?;
        let mut conn = self.conn("verifying the audit log")?;
        let params: [&(dyn ToSql + Sync); 0] = [];
        let mut rows = conn
            .query_raw(
                &format!("SELECT {COLUMNS} FROM audit_log ORDER BY id"),
                params,
            )
            .map_err(err("verifying the audit log"))?;
        while let Some(row) = rows.next().map_err(err("verifying the audit log"))? {
            let id: Option<i64> = row.try_get(0).ok();
            match raw(&row) {
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
        let mut conn = self.conn("reading the audit log")?;
        let row = conn
            .query_opt(
                "SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1",
                &[],
            )
            .map_err(err("reading the audit log"))?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    fn set_audit_keying(&self, keying: Keying) {
        self.audit_key.set(keying);
    }

    fn audit_keying(&self) -> Keying {
        self.audit_key.keying()
    }
}
