//! Writing and reading the `events` table.

use crate::encode::{StoredRow, decode, ip_bytes};
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

const INSERT: &str = "INSERT INTO events (
    id, run_id, time_event, time_source, source_ip, source_net_first, source_net_last, source_port,
    source_asn, source_network, source_cc, source_fqdn, destination_ip, destination_port,
    protocol_transport, malware_name, classification_type, tlp, constituent, detail, raw)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)";

/// Inserts events (already known to be new). Returns how many rows were written.
pub fn insert(conn: &Connection, run_id: i64, events: &[&EncodedEvent]) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare_cached(INSERT)?;
    let mut inserted = 0;
    for e in events {
        inserted += stmt.execute(params![
            &e.id[..],
            run_id,
            e.time_event,
            e.time_source,
            e.source_ip.as_ref().map(|b| &b[..]),
            e.source_net.as_ref().map(|n| &n.0[..]),
            e.source_net.as_ref().map(|n| &n.1[..]),
            e.source_port,
            e.source_asn,
            e.source_network,
            e.source_cc,
            e.source_fqdn,
            e.destination_ip.as_ref().map(|b| &b[..]),
            e.destination_port,
            e.protocol_transport,
            e.malware_name,
            e.classification_type,
            e.tlp,
            e.constituent.as_deref(),
            e.detail,
            e.raw,
        ])? as u64;
    }
    Ok(inserted)
}

pub(super) const SELECT: &str = "SELECT e.seq, e.id, e.time_source, e.source_ip, e.source_port, e.source_asn, a.name,
    e.source_network, e.source_cc, e.source_fqdn, e.destination_ip, e.destination_port,
    e.protocol_transport, e.malware_name, e.classification_type, e.tlp, e.constituent, e.detail,
    e.raw, r.feed, r.feed_provider, r.feed_url, r.observed
  FROM events AS e JOIN runs AS r ON r.id = e.run_id LEFT JOIN as_names AS a ON a.asn = e.source_asn";

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
        w.and("e.constituent = ?", vec![c.clone().into()]);
    }
    if f.unassigned {
        w.and("e.constituent IS NULL", vec![]);
    }
    if let Some(net) = &f.network {
        let bytes = |ip: IpAddr| Value::Blob(ip_bytes(ip).to_vec());
        // An address inside the range, or a listed network that overlaps it.
        let (first, last) = (bytes(net.network()), bytes(net.broadcast()));
        w.and(
            "(e.source_ip BETWEEN ? AND ? OR (e.source_net_first <= ? AND e.source_net_last >= ?))",
            vec![first.clone(), last.clone(), last, first],
        );
        // IPv4 is stored IPv4-mapped; an IPv6 network that spans the mapped block (like ::/0)
        // means IPv6 addresses, so that block is cut out.
        if let Ok(mapped) = "::ffff:0:0/96".parse::<IpNet>()
            && matches!(net, IpNet::V6(_))
            && net.contains(&mapped)
        {
            w.and(
                "COALESCE(e.source_ip, e.source_net_first) NOT BETWEEN ? AND ?",
                vec![bytes(mapped.network()), bytes(mapped.broadcast())],
            );
        }
    }
    if let Some(asn) = f.asn {
        w.and("e.source_asn = ?", vec![i64::from(asn).into()]);
    }
    if let Some(cc) = &f.country {
        w.and("e.source_cc = ?", vec![cc.to_ascii_uppercase().into()]);
    }
    if let Some(t) = &f.classification_type {
        w.and("e.classification_type = ?", vec![t.clone().into()]);
    }
    if let Some(feed) = &f.feed {
        w.and(
            "e.run_id IN (SELECT id FROM runs WHERE feed = ?)",
            vec![feed.clone().into()],
        );
    }
    if let Some(since) = f.since {
        w.and("e.time_event >= ?", vec![micros(since).into()]);
    }
    if let Some(until) = f.until {
        w.and("e.time_event < ?", vec![micros(until).into()]);
    }
    if let Some(after) = f.after_seq {
        w.and("e.seq > ?", vec![after.into()]);
    }
    let mut sql = format!("{SELECT}{} ORDER BY e.seq", w.sql);
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

pub(super) fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let row = StoredRow {
        id: r.get(1)?,
        time_source: r.get(2)?,
        source_ip: r.get(3)?,
        source_port: r.get(4)?,
        source_asn: r.get(5)?,
        source_as_name: r.get(6)?,
        source_network: r.get(7)?,
        source_cc: r.get(8)?,
        source_fqdn: r.get(9)?,
        destination_ip: r.get(10)?,
        destination_port: r.get(11)?,
        protocol_transport: r.get(12)?,
        malware_name: r.get(13)?,
        classification_type: r.get(14)?,
        tlp: r.get(15)?,
        constituent: r.get(16)?,
        detail: r.get(17)?,
        raw: r.get(18)?,
        feed_name: r.get(19)?,
        feed_provider: r.get(20)?,
        feed_url: r.get(21)?,
        observed: r.get(22)?,
    };
    decode(row).map_err(|message| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, message.into())
    })
}
