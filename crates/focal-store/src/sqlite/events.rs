//! Writing and reading the `events` table.

use crate::encode::{decode, ip_bytes};
use crate::{EncodedEvent, EventFilter, Result, StoreError};
use focal_model::Event;
use ipnet::IpNet;
use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, params};
use std::net::IpAddr;

fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

const INSERT: &str = "INSERT OR IGNORE INTO events (
    id, run_id, time_event, feed_name, source_ip, source_net_first, source_net_last, source_asn,
    source_cc, classification_type, malware_name, tlp, constituent, detail, raw)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Inserts events, skipping ids already present. Returns how many were new.
pub fn insert(conn: &Connection, run_id: i64, events: &[EncodedEvent]) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(INSERT)?;
    let mut inserted = 0;
    // In id order, consecutive inserts land on neighbouring pages of the unique index instead of
    // random ones, so those pages stay hot in the cache.
    let mut order: Vec<&EncodedEvent> = events.iter().collect();
    order.sort_unstable_by_key(|e| e.id);
    for e in order {
        inserted += stmt.execute(params![
            &e.id[..],
            run_id,
            e.time_event,
            &*e.feed_name,
            e.source_ip.as_ref().map(|b| &b[..]),
            e.source_net.as_ref().map(|n| &n.0[..]),
            e.source_net.as_ref().map(|n| &n.1[..]),
            e.source_asn,
            e.source_cc,
            e.classification_type,
            e.malware_name,
            e.tlp,
            e.constituent.as_deref(),
            e.detail,
            e.raw,
        ])? as u64;
    }
    Ok(inserted)
}

const SELECT: &str =
    "SELECT seq, id, feed_name, source_ip, source_asn, source_cc, classification_type,
    malware_name, tlp, constituent, detail, raw FROM events";

/// A WHERE clause built from conditions whose values are always bound parameters.
#[derive(Default)]
struct Where {
    sql: String,
    args: Vec<Value>,
}

impl Where {
    /// Adds `clause`, where each `?` takes the next of `values`.
    fn and(&mut self, clause: &str, values: Vec<Value>) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        let mut values = values.into_iter();
        for (i, part) in clause.split('?').enumerate() {
            if i > 0 {
                if let Some(v) = values.next() {
                    self.args.push(v);
                }
                self.sql.push_str(&format!("?{}", self.args.len()));
            }
            self.sql.push_str(part);
        }
    }
}

/// Streams matching events to `visit`.
pub fn query(
    conn: &Connection,
    f: &EventFilter,
    visit: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    let mut w = Where::default();
    if let Some(c) = &f.constituent {
        w.and("constituent = ?", vec![c.clone().into()]);
    }
    if f.unassigned {
        w.and("constituent IS NULL", vec![]);
    }
    if let Some(net) = &f.network {
        let bytes = |ip: IpAddr| Value::Blob(ip_bytes(ip).to_vec());
        // An address inside the range, or a listed network that overlaps it.
        let (first, last) = (bytes(net.network()), bytes(net.broadcast()));
        w.and(
            "(source_ip BETWEEN ? AND ? OR (source_net_first <= ? AND source_net_last >= ?))",
            vec![first.clone(), last.clone(), last, first],
        );
        // IPv4 is stored IPv4-mapped; an IPv6 network that spans the mapped block (like ::/0)
        // means IPv6 addresses, so that block is cut out.
        if let Ok(mapped) = "::ffff:0:0/96".parse::<IpNet>()
            && matches!(net, IpNet::V6(_))
            && net.contains(&mapped)
        {
            w.and(
                "COALESCE(source_ip, source_net_first) NOT BETWEEN ? AND ?",
                vec![bytes(mapped.network()), bytes(mapped.broadcast())],
            );
        }
    }
    if let Some(asn) = f.asn {
        w.and("source_asn = ?", vec![i64::from(asn).into()]);
    }
    if let Some(cc) = &f.country {
        w.and("source_cc = ?", vec![cc.to_ascii_uppercase().into()]);
    }
    if let Some(t) = &f.classification_type {
        w.and("classification_type = ?", vec![t.clone().into()]);
    }
    if let Some(feed) = &f.feed {
        w.and("feed_name = ?", vec![feed.clone().into()]);
    }
    if let Some(since) = f.since {
        w.and("time_event >= ?", vec![micros(since).into()]);
    }
    if let Some(until) = f.until {
        w.and("time_event < ?", vec![micros(until).into()]);
    }
    if let Some(after) = f.after_seq {
        w.and("seq > ?", vec![after.into()]);
    }
    let mut sql = format!("{SELECT}{} ORDER BY seq", w.sql);
    let mut args = w.args;
    if let Some(limit) = f.limit {
        args.push((limit as i64).into());
        sql.push_str(&format!(" LIMIT ?{}", args.len()));
    }
    let e = |source| StoreError::Sqlite {
        context: "listing events",
        source,
    };
    let mut stmt = conn.prepare(&sql).map_err(e)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(e)?;
    while let Some(row) = rows.next().map_err(e)? {
        visit(event_from_row(row).map_err(e)?)?;
    }
    Ok(())
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let id: Vec<u8> = r.get(1)?;
    let type_: String = r.get(6)?;
    let tlp: String = r.get(8)?;
    let detail: String = r.get(10)?;
    decode(
        &id,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        &type_,
        r.get(7)?,
        &tlp,
        r.get(9)?,
        &detail,
        r.get(11)?,
    )
    .map_err(|message| {
        rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, message.into())
    })
}
