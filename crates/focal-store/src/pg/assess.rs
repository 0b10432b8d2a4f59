//! The assessment domain's transactions on PostgreSQL (the shared logic: `crate::assess`).

use super::PostgresStore;
use super::audit::Chain;
use crate::assess::{Db, Row, Tx, Val};
use focal_assessment::store::{Result, StoreError};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use serde_json::Value;

fn backend(context: &str) -> impl FnOnce(postgres::Error) -> StoreError + '_ {
    move |e| {
        let detail = match e.as_db_error() {
            Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            None => e.to_string(),
        };
        StoreError::Backend(format!("PostgreSQL error while {context}: {detail}"))
    }
}

/// `?N` placeholders (the shared SQL) as PostgreSQL's `$N`.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(|n| n.is_ascii_digit()) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn param(v: &Val) -> &(dyn ToSql + Sync) {
    match v {
        Val::I(x) => x,
        Val::F(x) => x,
        Val::T(x) => x,
        Val::B(x) => x,
    }
}

struct PgTx<'a, 'b> {
    tx: &'a mut postgres::Transaction<'b>,
    chain: Option<Chain>,
    /// The audit chain's key, read before the transaction (None on reads and unkeyed stores).
    key: Option<crate::audit_chain::AuditKey>,
}

fn read_row(row: &postgres::Row, out: &mut Vec<Val>) -> Result<()> {
    out.clear();
    for (n, col) in row.columns().iter().enumerate() {
        let get = |e| backend("reading a column")(e);
        out.push(match *col.type_() {
            Type::INT8 => Val::I(row.try_get::<_, Option<i64>>(n).map_err(get)?),
            Type::INT4 => Val::I(
                row.try_get::<_, Option<i32>>(n)
                    .map_err(get)?
                    .map(i64::from),
            ),
            Type::FLOAT8 => Val::F(row.try_get(n).map_err(get)?),
            Type::BYTEA => Val::B(row.try_get(n).map_err(get)?),
            _ => Val::T(row.try_get(n).map_err(get)?),
        });
    }
    Ok(())
}

impl Tx for PgTx<'_, '_> {
    fn exec(&mut self, sql: &str, params: &[Val]) -> Result<u64> {
        let args: Vec<&(dyn ToSql + Sync)> = params.iter().map(param).collect();
        self.tx
            .execute(numbered(sql).as_str(), &args)
            .map_err(backend("writing"))
    }

    fn each(
        &mut self,
        sql: &str,
        params: &[Val],
        visit: &mut dyn FnMut(Row<'_>) -> Result<()>,
    ) -> Result<()> {
        let args: Vec<&(dyn ToSql + Sync)> = params.iter().map(param).collect();
        let mut rows = self
            .tx
            .query_raw(numbered(sql).as_str(), args)
            .map_err(backend("reading"))?;
        let mut vals = Vec::new();
        while let Some(row) = rows.next().map_err(backend("reading"))? {
            read_row(&row, &mut vals)?;
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
        let shown = |e: crate::StoreError| StoreError::Backend(e.to_string());
        if self.chain.is_none() {
            self.chain = Some(Chain::lock(self.tx, self.key.clone()).map_err(shown)?);
        }
        if let Some(chain) = &mut self.chain {
            chain
                .append(self.tx, actor, action, subject, before, after)
                .map_err(shown)?;
        }
        Ok(())
    }
}

impl Db for PostgresStore {
    fn write<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let key = self
            .audit_key
            .for_append()
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut conn = self
            .conn("writing")
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut tx = conn
            .transaction()
            .map_err(backend("starting a transaction"))?;
        let out = f(&mut PgTx {
            tx: &mut tx,
            chain: None,
            key,
        })?;
        tx.commit().map_err(backend("committing"))?;
        Ok(out)
    }

    fn read<T>(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
        let mut conn = self
            .conn("reading")
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        let mut tx = conn
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(backend("starting a read"))?;
        f(&mut PgTx {
            tx: &mut tx,
            chain: None,
            key: None,
        })
    }
}
