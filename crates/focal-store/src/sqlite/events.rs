//! Writing and reading the `events` table.

use crate::{EventFilter, Result, StoreError};
use focal_model::{CountryCode, Event};
use ipnet::IpNet;
use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, params};
use std::net::{IpAddr, Ipv6Addr};

/// Addresses are stored as 16 bytes, IPv4 as IPv4-mapped IPv6, so one range covers any CIDR.
fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    let arr: [u8; 16] = bytes.try_into().ok()?;
    let v6 = Ipv6Addr::from(arr);
    Some(v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)))
}

fn micros(ts: Timestamp) -> i64 {
    ts.as_microsecond()
}

fn from_micros(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH)
}

const INSERT: &str = "INSERT OR IGNORE INTO events (
    id, run_id, time_event, time_source, time_observation, feed_name, feed_provider, feed_url,
    source_ip, source_port, source_asn, source_as_name, source_network, source_cc, source_fqdn,
    source_url, destination_ip, destination_port, destination_fqdn, protocol_transport,
    protocol_application, malware_name, classification_type, classification_identifier, comment,
    tlp, constituent, extra, raw)
  VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
          ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)";

/// Inserts events, skipping ids already present. Returns how many were new.
pub fn insert(tx: &Transaction<'_>, run_id: i64, events: &[Event]) -> rusqlite::Result<u64> {
    let mut stmt = tx.prepare_cached(INSERT)?;
    let mut inserted = 0;
    for e in events {
        let extra = if e.extra.is_empty() { None } else { serde_json::to_string(&e.extra).ok() };
        let network = e.source_network.map(|n| n.to_string());
        let transport = e.protocol_transport.map(|t| t.to_string());
        inserted += stmt.execute(params![
            &e.id.as_bytes()[..],
            run_id,
            micros(e.effective_time()),
            e.time_source.map(micros),
            micros(e.time_observation),
            &*e.feed_name,
            e.feed_provider.as_deref(),
            e.feed_url.as_deref(),
            e.source_ip.map(ip_bytes),
            e.source_port,
            e.source_asn,
            e.source_as_name.as_deref(),
            network,
            e.source_cc.as_ref().map(|c| c.as_str()),
            e.source_fqdn,
            e.source_url,
            e.destination_ip.map(ip_bytes),
            e.destination_port,
            e.destination_fqdn,
            transport,
            e.protocol_application,
            e.malware_name,
            e.classification_type.as_str(),
            e.classification_identifier,
            e.comment,
            e.tlp.as_str(),
            e.constituent.as_deref(),
            extra,
            e.raw,
        ])? as u64;
    }
    Ok(inserted)
}

const SELECT: &str = "SELECT seq, id, time_source, time_observation, feed_name, feed_provider, feed_url,
    source_ip, source_port, source_asn, source_as_name, source_network, source_cc, source_fqdn,
    source_url, destination_ip, destination_port, destination_fqdn, protocol_transport,
    protocol_application, malware_name, classification_type, classification_identifier, comment,
    tlp, constituent, extra, raw FROM events";

/// Streams matching events to `visit`.
pub fn query(conn: &Connection, f: &EventFilter, visit: &mut dyn FnMut(Event) -> Result<()>) -> Result<()> {
    let mut sql = String::from(SELECT);
    let mut args: Vec<Value> = Vec::new();
    let mut cond = |sql: &mut String, clause: &str, value: Value| {
        args.push(value);
        sql.push_str(if args.len() == 1 { " WHERE " } else { " AND " });
        sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
    };
    if let Some(c) = &f.constituent {
        cond(&mut sql, "constituent = ?", c.clone().into());
    }
    if f.unassigned {
        cond(&mut sql, "constituent IS ? ", Value::Null);
    }
    if let Some(net) = &f.network {
        let (lo, hi) = match net {
            IpNet::V4(n) => (IpAddr::V4(n.network()), IpAddr::V4(n.broadcast())),
            IpNet::V6(n) => (IpAddr::V6(n.network()), IpAddr::V6(n.broadcast())),
        };
        cond(&mut sql, "source_ip >= ?", ip_bytes(lo).to_vec().into());
        cond(&mut sql, "source_ip <= ?", ip_bytes(hi).to_vec().into());
    }
    if let Some(asn) = f.asn {
        cond(&mut sql, "source_asn = ?", i64::from(asn).into());
    }
    if let Some(cc) = &f.country {
        cond(&mut sql, "source_cc = ?", cc.to_ascii_uppercase().into());
    }
    if let Some(t) = &f.classification_type {
        cond(&mut sql, "classification_type = ?", t.clone().into());
    }
    if let Some(feed) = &f.feed {
        cond(&mut sql, "feed_name = ?", feed.clone().into());
    }
    if let Some(since) = f.since {
        cond(&mut sql, "time_event >= ?", micros(since).into());
    }
    if let Some(until) = f.until {
        cond(&mut sql, "time_event < ?", micros(until).into());
    }
    if let Some(after) = f.after_seq {
        cond(&mut sql, "seq > ?", after.into());
    }
    sql.push_str(" ORDER BY seq");
    if let Some(limit) = f.limit {
        args.push((limit as i64).into());
        sql.push_str(&format!(" LIMIT ?{}", args.len()));
    }
    let e = |source| StoreError::Sqlite { context: "listing events", source };
    let mut stmt = conn.prepare(&sql).map_err(e)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(e)?;
    while let Some(row) = rows.next().map_err(e)? {
        visit(event_from_row(row).map_err(e)?)?;
    }
    Ok(())
}

fn event_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Event> {
    let bad = |col: usize, what: &str| {
        rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, what.to_string().into())
    };
    let type_: String = r.get(21)?;
    let mut e = Event::new(
        r.get::<_, String>(4)?.into(),
        from_micros(r.get(3)?),
        type_.parse().map_err(|_| bad(21, "unknown classification type"))?,
    );
    let id: Vec<u8> = r.get(1)?;
    e.id = uuid::Uuid::from_slice(&id).map_err(|_| bad(1, "event id is not 16 bytes"))?;
    e.time_source = r.get::<_, Option<i64>>(2)?.map(from_micros);
    e.feed_provider = r.get::<_, Option<String>>(5)?.map(Into::into);
    e.feed_url = r.get::<_, Option<String>>(6)?.map(Into::into);
    e.source_ip = r.get::<_, Option<Vec<u8>>>(7)?.and_then(|b| ip_from_bytes(&b));
    e.source_port = r.get(8)?;
    e.source_asn = r.get(9)?;
    e.source_as_name = r.get::<_, Option<String>>(10)?.map(Into::into);
    e.source_network = r.get::<_, Option<String>>(11)?.and_then(|s| s.parse().ok());
    e.source_cc = r.get::<_, Option<String>>(12)?.and_then(|s| s.parse::<CountryCode>().ok());
    e.source_fqdn = r.get(13)?;
    e.source_url = r.get(14)?;
    e.destination_ip = r.get::<_, Option<Vec<u8>>>(15)?.and_then(|b| ip_from_bytes(&b));
    e.destination_port = r.get(16)?;
    e.destination_fqdn = r.get(17)?;
    e.protocol_transport = r.get::<_, Option<String>>(18)?.and_then(|s| s.parse().ok());
    e.protocol_application = r.get(19)?;
    e.malware_name = r.get(20)?;
    e.classification_identifier = r.get(22)?;
    e.comment = r.get(23)?;
    e.tlp = r.get::<_, String>(24)?.parse().map_err(|_| bad(24, "unknown TLP"))?;
    e.constituent = r.get::<_, Option<String>>(25)?.map(Into::into);
    if let Some(extra) = r.get::<_, Option<String>>(26)? {
        e.extra = serde_json::from_str(&extra).map_err(|_| bad(26, "extra is not a JSON object"))?;
    }
    e.raw = r.get(27)?;
    Ok(e)
}
