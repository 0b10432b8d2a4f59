//! Writing and reading the `events` table.

use crate::encode::{StoredRow, decode};
use crate::filter::{EVENT_SELECT, Param, Placeholder, Where, event_conditions};
use crate::{EncodedEvent, EventFilter, Result, StoreError};
use focal_model::Event;
use rusqlite::types::Value;
use rusqlite::{Connection, params};

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

/// Filter values as SQLite binds them.
pub(super) fn bound(args: Vec<Param>) -> impl Iterator<Item = Value> {
    args.into_iter().map(|p| match p {
        Param::Int(i) => Value::Integer(i),
        Param::Text(t) => Value::Text(t),
        Param::Blob(b) => Value::Blob(b),
    })
}

/// Streams matching events to `visit`.
pub fn query(
    conn: &Connection,
    f: &EventFilter,
    visit: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    let mut w = Where::new(Placeholder::Question);
    event_conditions(f, &mut w);
    w.sql
        .push_str(&format!(" ORDER BY e.seq {}", crate::filter::direction(f)));
    if let Some(limit) = f.limit {
        w.limit(limit);
    }
    let sql = format!("{EVENT_SELECT}{}", w.sql);
    let args = bound(w.args);
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
