//! The event search index (`event_search`, migration 0006) and the paged search that uses it.
//!
//! The index is filled after the ingest, from the cursor `search`, in batches sorted by key (see
//! the migration for why). A page is then read in two parts, in seq order: the indexed events
//! (seq ≤ cursor) through the index, driven by the most selective key the filter has; then, if
//! the page is not full, the events above the cursor by scanning only those. The two parts never
//! overlap and together are exactly what the plain query returns, indexed or not.

use super::SqliteStore;
use super::events::{bound, event_from_row};
use super::incidents::{cursor, err};
use crate::encode::ip_bytes;
use crate::filter::{
    EVENT_SELECT, Param, Placeholder, Where, direction, event_conditions, is_wide,
};
use crate::{EventFilter, Result};
use focal_model::Event;
use rusqlite::{Connection, params};

/// The cursor naming the last event seq in the index.
pub const CURSOR: &str = "search";

/// Events indexed per write transaction.
pub const BATCH: i64 = 200_000;

pub fn asn_key(asn: u32) -> String {
    format!("asn:{asn}")
}
pub fn cc_key(cc: &str) -> String {
    format!("cc:{}", cc.to_ascii_uppercase())
}
pub fn type_key(t: &str) -> String {
    format!("type:{t}")
}

impl SqliteStore {
    /// Indexes the events stored since the last call, in batches of `batch`, each in its own
    /// write transaction with the cursor. Waits at most `wait_ms` for the write lock at each
    /// batch; returns false if it was busy (the rest is indexed next time), true when up to date.
    pub fn index_events(&self, wait_ms: u32, batch: i64) -> Result<bool> {
        // Its own connection: it writes with a busy timeout of its own.
        let mut conn = self.dedicated()?;
        let newest_seen: i64 = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(err("reading the newest event"))?;
        if cursor(&conn, CURSOR).map_err(err("reading a cursor"))? >= newest_seen {
            return Ok(true);
        }
        conn.busy_timeout(std::time::Duration::from_millis(wait_ms as u64))
            .map_err(err("setting the lock wait"))?;
        loop {
            // IMMEDIATE: with the write lock held no uncommitted event can later appear
            // below the cursor.
            let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            {
                Ok(tx) => tx,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(err("starting the search indexing")(e)),
            };
            let e = err("indexing events for search");
            let from = cursor(&tx, CURSOR).map_err(e)?;
            let newest: i64 = tx
                .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
                .map_err(e)?;
            let to = newest.min(from.saturating_add(batch.max(1)));
            if to <= from {
                return Ok(true);
            }
            // One statement per key kind, sorted by key in SQL: each insert lands next to the
            // previous one, so B-tree pages are touched once per batch rather than once per
            // row, and no row crosses into Rust.
            for select in [
                "SELECT source_ip, seq FROM events \
                 WHERE seq > ?1 AND seq <= ?2 AND source_ip IS NOT NULL",
                "SELECT 'asn:' || source_asn, seq FROM events \
                 WHERE seq > ?1 AND seq <= ?2 AND source_asn IS NOT NULL",
                "SELECT 'cc:' || upper(source_cc), seq FROM events \
                 WHERE seq > ?1 AND seq <= ?2 AND source_cc IS NOT NULL",
                "SELECT 'type:' || classification_type, seq FROM events \
                 WHERE seq > ?1 AND seq <= ?2",
            ] {
                tx.execute(
                    &format!("INSERT OR IGNORE INTO event_search (k, seq) {select} ORDER BY 1, 2"),
                    params![from, to],
                )
                .map_err(e)?;
            }
            super::incidents::set_cursor(&tx, CURSOR, to).map_err(e)?;
            tx.commit().map_err(e)?;
            if to >= newest {
                return Ok(true);
            }
            // Let a waiting writer (an ingest) in between batches.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// How the index can answer a filter: the key (or address range) that drives the page.
enum Driver {
    /// An address range (a network no wider than /16 or /32): addresses inside it from the
    /// index, and listed networks overlapping it from `events_by_source_net`.
    Range(Vec<u8>, Vec<u8>),
    /// One key; its rows are read in seq order.
    Key(String),
}

/// The most selective key the filter has, in the order analysts' values usually narrow most:
/// an address range, an AS, a country, a type.
fn driver(f: &EventFilter) -> Option<Driver> {
    if let Some(net) = &f.network
        && !is_wide(net)
    {
        return Some(Driver::Range(
            ip_bytes(net.network()).to_vec(),
            ip_bytes(net.broadcast()).to_vec(),
        ));
    }
    if let Some(asn) = f.asn {
        return Some(Driver::Key(asn_key(asn)));
    }
    if let Some(cc) = &f.country {
        return Some(Driver::Key(cc_key(cc)));
    }
    f.classification_type
        .as_ref()
        .map(|t| Driver::Key(type_key(t)))
}

fn run(conn: &Connection, sql: &str, args: Vec<Param>) -> Result<Vec<(i64, Event)>> {
    let e = err("searching events");
    let mut stmt = conn.prepare(sql).map_err(e)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(bound(args)), |r| {
            Ok((r.get::<_, i64>(0)?, event_from_row(r)?))
        })
        .map_err(e)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(e)
}

/// A page of events matching `f` and the extra conditions `extra` (the caller's scope), in seq
/// order (newest first if `f.newest_first`), after `f.after_seq` and before `f.before_seq`, at
/// most `f.limit` (100 if unset).
pub fn page(
    conn: &Connection,
    f: &EventFilter,
    extra: &dyn Fn(&mut Where),
) -> Result<Vec<(i64, Event)>> {
    let limit = f.limit.unwrap_or(100);
    let after = f.after_seq.unwrap_or(0);
    let indexed_to = cursor(conn, CURSOR).map_err(err("reading a cursor"))?;
    let Some(driver) = driver(f).filter(|_| indexed_to > after) else {
        return plain(conn, f, extra, limit);
    };
    // The indexed events are those up to the cursor (and below `before`); the rest are scanned.
    let upper = f
        .before_seq
        .map_or(indexed_to, |b| b.saturating_sub(1).min(indexed_to));
    let mut tail = f.clone();
    tail.after_seq = Some(after.max(indexed_to));
    if f.newest_first {
        // The events not indexed yet are the newest: they come first.
        let mut rows = plain(conn, &tail, extra, limit)?;
        if rows.len() < limit && upper > after {
            rows.extend(indexed(
                conn,
                f,
                extra,
                &driver,
                (after, upper),
                limit - rows.len(),
            )?);
        }
        return Ok(rows);
    }
    let mut rows = if upper > after {
        indexed(conn, f, extra, &driver, (after, upper), limit)?
    } else {
        Vec::new()
    };
    if rows.len() < limit {
        rows.extend(plain(conn, &tail, extra, limit - rows.len())?);
    }
    Ok(rows)
}

/// The indexed events with `after < seq <= upper` matching `f`, through the index, in the
/// filter's order.
fn indexed(
    conn: &Connection,
    f: &EventFilter,
    extra: &dyn Fn(&mut Where),
    driver: &Driver,
    (after, upper): (i64, i64),
    limit: usize,
) -> Result<Vec<(i64, Event)>> {
    let (from, order, w) = indexed_query(f, extra, driver, (after, upper), EVENT_SELECT);
    let mut w = w;
    w.sql
        .push_str(&format!(" ORDER BY {order} {}", direction(f)));
    w.limit(limit);
    run(conn, &format!("{from}{}", w.sql), w.args)
}

/// The FROM part, the column to order by and the conditions of a query through the index.
fn indexed_query(
    f: &EventFilter,
    extra: &dyn Fn(&mut Where),
    driver: &Driver,
    (after, upper): (i64, i64),
    select: &str,
) -> (String, &'static str, Where) {
    let mut w = Where::new(Placeholder::Question);
    let mut rest = f.clone();
    rest.after_seq = None;
    rest.before_seq = None;
    let (from, order) = match driver {
        Driver::Range(first, last) => {
            rest.network = None;
            w.and(
                "e.seq IN (SELECT seq FROM event_search WHERE k BETWEEN ? AND ? \
                 UNION ALL SELECT seq FROM events \
                 WHERE source_net_first <= ? AND source_net_last >= ?)",
                vec![
                    Param::Blob(first.clone()),
                    Param::Blob(last.clone()),
                    Param::Blob(last.clone()),
                    Param::Blob(first.clone()),
                ],
            );
            w.and(
                "e.seq > ? AND e.seq <= ?",
                vec![Param::Int(after), Param::Int(upper)],
            );
            (select.to_string(), "e.seq")
        }
        Driver::Key(k) => {
            // CROSS JOIN makes the index the outer loop: its rows for the key come in seq
            // order, so the page ends after `limit` matches without sorting.
            w.and(
                "s.k = ? AND s.seq > ? AND s.seq <= ?",
                vec![Param::Text(k.clone()), Param::Int(after), Param::Int(upper)],
            );
            (
                select.replacen(
                    "FROM events AS e",
                    "FROM event_search AS s CROSS JOIN events AS e ON e.seq = s.seq",
                    1,
                ),
                "s.seq",
            )
        }
    };
    event_conditions(&rest, &mut w);
    extra(&mut w);
    (from, order, w)
}

/// The query without the index: conditions on `events`, in the filter's order.
fn plain(
    conn: &Connection,
    f: &EventFilter,
    extra: &dyn Fn(&mut Where),
    limit: usize,
) -> Result<Vec<(i64, Event)>> {
    let mut w = Where::new(Placeholder::Question);
    event_conditions(f, &mut w);
    extra(&mut w);
    w.sql.push_str(&format!(" ORDER BY e.seq {}", direction(f)));
    w.limit(limit);
    run(conn, &format!("{EVENT_SELECT}{}", w.sql), w.args)
}

/// How many events match `f` and `extra`, exactly (`after_seq`, `before_seq` and `limit` are
/// ignored): through the index for the indexed events where the filter has a key, by
/// scanning the rest.
pub fn count(conn: &Connection, f: &EventFilter, extra: &dyn Fn(&mut Where)) -> Result<u64> {
    const COUNT: &str = "SELECT COUNT(*) FROM events AS e";
    let mut f = f.clone();
    f.after_seq = None;
    f.before_seq = None;
    f.limit = None;
    let e = err("counting events");
    let one = |sql: &str, args: Vec<Param>| -> Result<u64> {
        conn.query_row(sql, rusqlite::params_from_iter(bound(args)), |r| {
            r.get::<_, i64>(0)
        })
        .map(|n| n.max(0) as u64)
        .map_err(e)
    };
    let indexed_to = cursor(conn, CURSOR).map_err(err("reading a cursor"))?;
    let Some(driver) = driver(&f).filter(|_| indexed_to > 0) else {
        let mut w = Where::new(Placeholder::Question);
        event_conditions(&f, &mut w);
        extra(&mut w);
        return one(&format!("{COUNT}{}", w.sql), w.args);
    };
    let (from, _, w) = indexed_query(&f, extra, &driver, (0, indexed_to), COUNT);
    let head = one(&format!("{from}{}", w.sql), w.args)?;
    let mut tail = f.clone();
    tail.after_seq = Some(indexed_to);
    let mut w = Where::new(Placeholder::Question);
    event_conditions(&tail, &mut w);
    extra(&mut w);
    Ok(head + one(&format!("{COUNT}{}", w.sql), w.args)?)
}
