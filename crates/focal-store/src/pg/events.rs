//! Writing events with `COPY` and reading them back.

use crate::encode::{StoredRow, decode};
use crate::filter::{EVENT_SELECT, Param, Placeholder, Where, event_conditions};
use crate::{EncodedEvent, EventFilter, Result, StoreError};
use focal_model::Event;
use postgres::Client;
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};

/// A per-connection staging table: `COPY` cannot skip conflicting rows, so events are copied
/// here first and moved with `INSERT ... ON CONFLICT DO NOTHING`, which does.
const STAGING: &str = "CREATE TEMP TABLE IF NOT EXISTS events_staging (
    ord INTEGER NOT NULL, id BYTEA NOT NULL, time_event BIGINT NOT NULL, time_source BIGINT,
    source_ip BYTEA, source_net_first BYTEA, source_net_last BYTEA, source_port INTEGER,
    source_asn BIGINT, source_network TEXT, source_cc TEXT, source_fqdn TEXT,
    destination_ip BYTEA, destination_port INTEGER, protocol_transport TEXT, malware_name TEXT,
    classification_type TEXT NOT NULL, tlp TEXT NOT NULL, constituent TEXT, detail TEXT, raw BYTEA
) ON COMMIT DELETE ROWS";

const COLUMNS: &str = "id, time_event, time_source, source_ip, source_net_first, source_net_last, \
    source_port, source_asn, source_network, source_cc, source_fqdn, destination_ip, \
    destination_port, protocol_transport, malware_name, classification_type, tlp, constituent, \
    detail, raw";

const TYPES: [Type; 21] = [
    Type::INT4,
    Type::BYTEA,
    Type::INT8,
    Type::INT8,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
    Type::INT4,
    Type::INT8,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
];

fn err(context: &'static str) -> impl FnOnce(postgres::Error) -> StoreError {
    move |source| StoreError::Postgres { context, source }
}

/// Inserts the events that are not stored yet, inside the caller's open transaction, and
/// returns how many were new. Within the batch the first record of each id (in the given order)
/// wins. Rows are inserted in id order: two workers inserting overlapping ids then always take
/// the same locks in the same order and cannot deadlock.
pub fn insert(client: &mut Client, run_id: i64, events: &[EncodedEvent]) -> Result<u64> {
    if events.is_empty() {
        return Ok(0);
    }
    client
        .batch_execute(STAGING)
        .map_err(err("preparing the staging table"))?;
    client
        .batch_execute("TRUNCATE events_staging")
        .map_err(err("preparing the staging table"))?;
    let sink = client
        .copy_in(&format!(
            "COPY events_staging (ord, {COLUMNS}) FROM STDIN (FORMAT binary)"
        ))
        .map_err(err("copying events"))?;
    let mut writer = BinaryCopyInWriter::new(sink, &TYPES);
    for (ord, e) in events.iter().enumerate() {
        let ord = ord as i32;
        let port = e.source_port.map(i32::from);
        let asn = e.source_asn.map(i64::from);
        let dport = e.destination_port.map(i32::from);
        let row: [&(dyn ToSql + Sync); 21] = [
            &ord,
            &&e.id[..],
            &e.time_event,
            &e.time_source,
            &e.source_ip.as_ref().map(|b| &b[..]),
            &e.source_net.as_ref().map(|n| &n.0[..]),
            &e.source_net.as_ref().map(|n| &n.1[..]),
            &port,
            &asn,
            &e.source_network,
            &e.source_cc,
            &e.source_fqdn,
            &e.destination_ip.as_ref().map(|b| &b[..]),
            &dport,
            &e.protocol_transport,
            &e.malware_name,
            &e.classification_type,
            &e.tlp,
            &e.constituent.as_deref(),
            &e.detail,
            &e.raw,
        ];
        writer.write(&row).map_err(err("copying events"))?;
    }
    writer.finish().map_err(err("copying events"))?;
    let inserted = client
        .execute(
            &format!(
                "INSERT INTO events (run_id, {COLUMNS})
                 SELECT $1, {COLUMNS} FROM (
                     SELECT DISTINCT ON (id) * FROM events_staging ORDER BY id, ord
                 ) AS first_of_each
                 ORDER BY id
                 ON CONFLICT (id) DO NOTHING"
            ),
            &[&run_id],
        )
        .map_err(err("writing events"))?;
    Ok(inserted)
}

/// Streams matching events to `visit`, without loading the result into memory.
pub fn query(
    client: &mut Client,
    f: &EventFilter,
    visit: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    let mut w = Where::new(Placeholder::Dollar);
    event_conditions(f, &mut w);
    w.sql
        .push_str(&format!(" ORDER BY e.seq {}", crate::filter::direction(f)));
    if let Some(limit) = f.limit {
        w.limit(limit);
    }
    let sql = format!("{EVENT_SELECT}{}", w.sql);
    let args: Vec<Box<dyn ToSql + Sync>> = w
        .args
        .into_iter()
        .map(|p| -> Box<dyn ToSql + Sync> {
            match p {
                Param::Int(i) => Box::new(i),
                Param::Text(t) => Box::new(t),
                Param::Blob(b) => Box::new(b),
            }
        })
        .collect();
    let e = err("listing events");
    let mut rows = client
        .query_raw(&sql, args.iter().map(|a| a.as_ref()))
        .map_err(e)?;
    while let Some(row) = rows.next().map_err(err("listing events"))? {
        let stored = stored_row(&row).map_err(err("reading an event"))?;
        let event = decode(stored)
            .map_err(|m| StoreError::Invalid(format!("a stored event cannot be read: {m}")))?;
        visit(event)?;
    }
    Ok(())
}

fn stored_row(r: &postgres::Row) -> std::result::Result<StoredRow, postgres::Error> {
    Ok(StoredRow {
        id: r.try_get(1)?,
        time_source: r.try_get(2)?,
        source_ip: r.try_get(3)?,
        source_port: r.try_get::<_, Option<i32>>(4)?.map(|p| p as u16),
        source_asn: r.try_get::<_, Option<i64>>(5)?.map(|a| a as u32),
        source_as_name: r.try_get(6)?,
        source_network: r.try_get(7)?,
        source_cc: r.try_get(8)?,
        source_fqdn: r.try_get(9)?,
        destination_ip: r.try_get(10)?,
        destination_port: r.try_get::<_, Option<i32>>(11)?.map(|p| p as u16),
        protocol_transport: r.try_get(12)?,
        malware_name: r.try_get(13)?,
        classification_type: r.try_get(14)?,
        tlp: r.try_get(15)?,
        constituent: r.try_get(16)?,
        detail: r.try_get(17)?,
        raw: r.try_get(18)?,
        feed_name: r.try_get(19)?,
        feed_provider: r.try_get(20)?,
        feed_url: r.try_get(21)?,
        observed: r.try_get(22)?,
    })
}
