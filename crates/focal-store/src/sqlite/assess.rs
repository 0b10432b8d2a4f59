//! The assessment domain's transactions on SQLite (the shared logic: `crate::assess`).

use super::SqliteStore;
use super::audit::Chain;
use crate::assess::{Db, Row, Tx, Val};
use focal_assessment::store::{Result, StoreError};
use rusqlite::types::{ToSqlOutput, ValueRef};
use serde_json::Value;

fn backend(context: &str) -> impl FnOnce(rusqlite::Error) -> StoreError + '_ {
    move |e| StoreError::Backend(format!("SQLite error while {context}: {e}"))
}

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::I(v) => v.to_sql()?,
            Val::F(v) => v.to_sql()?,
            Val::T(v) => v.to_sql()?,
            Val::B(v) => v.to_sql()?,
        })
    }
}

struct SqliteTx<'a> {
    conn: &'a rusqlite::Connection,
    chain: Option<Chain>,
    /// The audit chain's key, read before the transaction (None on reads and unkeyed stores).
    key: Option<crate::audit_chain::AuditKey>,
}

impl Tx for SqliteTx<'_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(params)))
            .map(|n| n as u64)
            .map_err(backend("writing"))
    }

    fn each(
        &mut self,
        sql: &str,
        params: &[Val],
        visit: &mut dyn FnMut(Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(backend("reading"))?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(backend("reading"))?;
        let mut vals = Vec::with_capacity(columns);
        while let Some(row) = rows.next().map_err(backend("reading"))? {
            vals.clear();
            for n in 0..columns {
                vals.push(match row.get_ref(n).map_err(backend("reading"))? {
                    ValueRef::Null => Val::T(None),
                    ValueRef::Integer(v) => Val::I(Some(v)),
                    ValueRef::Real(v) => Val::F(Some(v)),
                    ValueRef::Text(v) => Val::T(Some(String::from_utf8_lossy(v).into_owned())),
                    ValueRef::Blob(v) => Val::B(Some(v.to_vec())),
                });
            }
            visit(Row(&vals))?;
        }
        Ok(())
    }

    fn audit(
        &mut self,
        actor: &str,
        action: &str,
        subject: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()> {
        if self.chain.is_none() {
            self.chain = Some(
                Chain::load(self.conn, self.key.clone())
                    .map_err(backend("reading the audit log"))?,
            );
        }
        if let Some(chain) = &mut self.chain {
            chain
                .append(self.conn, actor, action, subject, before, after)
                .map_err(backend("writing an audit entry"))?;
        }
        Ok(())
    }
}

impl Db for SqliteStore {
    fn write<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let key = self
            .audit_key()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut conn = self.writer();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend("starting a transaction"))?;
        let out = f(&mut SqliteTx {
            conn: &tx,
            chain: None,
            key,
        })?;
        tx.commit().map_err(backend("committing"))?;
        Ok(out)
    }

    fn read<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut conn = self
            .reader()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        // One snapshot for the whole read.
        let tx = conn.transaction().map_err(backend("starting a read"))?;
        f(&mut SqliteTx {
            conn: &tx,
            chain: None,
            key: None,
        })
    }
}
