//! Turning an [`EventFilter`] into SQL conditions, once for both backends.
//!
//! Each condition is SQL text with `?` where a value goes, plus the values. The backends only
//! differ in how they number placeholders (`?1` in SQLite, `$1` in PostgreSQL), so [`Where`]
//! renders the numbering and the values are always bound, never pasted into the text.

use crate::EventFilter;
use crate::encode::ip_bytes;
use ipnet::IpNet;
use std::net::IpAddr;

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// How a backend spells its placeholders.
#[derive(Debug, Clone, Copy)]
pub enum Placeholder {
    /// `?1`, `?2`, ... (SQLite)
    Question,
    /// `$1`, `$2`, ... (PostgreSQL)
    Dollar,
}

/// A WHERE clause under construction: conditions joined by AND, values in placeholder order.
pub struct Where {
    pub sql: String,
    pub args: Vec<Param>,
    style: Placeholder,
}

impl Where {
    pub fn new(style: Placeholder) -> Where {
        Where {
            sql: String::new(),
            args: Vec::new(),
            style,
        }
    }

    /// The placeholder for a value about to be pushed onto `args`.
    pub fn next_placeholder(&self) -> String {
        match self.style {
            Placeholder::Question => format!("?{}", self.args.len() + 1),
            Placeholder::Dollar => format!("${}", self.args.len() + 1),
        }
    }

    /// Adds `clause`, where each `?` takes the next of `values`.
    pub fn and(&mut self, clause: &str, values: Vec<Param>) {
        self.sql.push_str(if self.sql.is_empty() {
            " WHERE "
        } else {
            " AND "
        });
        let mut values = values.into_iter();
        for (i, part) in clause.split('?').enumerate() {
            if i > 0 {
                let placeholder = self.next_placeholder();
                if let Some(v) = values.next() {
                    self.args.push(v);
                }
                self.sql.push_str(&placeholder);
            }
            self.sql.push_str(part);
        }
    }

    /// Appends ` LIMIT <placeholder>` bound to `limit`.
    pub fn limit(&mut self, limit: usize) {
        let placeholder = self.next_placeholder();
        self.sql.push_str(&format!(" LIMIT {placeholder}"));
        self.args.push(Param::Int(limit as i64));
    }
}

/// The conditions of an event filter, on the `events AS e` table of either backend.
pub fn event_conditions(f: &EventFilter, w: &mut Where) {
    if let Some(c) = &f.constituent {
        w.and("e.constituent = ?", vec![Param::Text(c.clone())]);
    }
    if f.unassigned {
        w.and("e.constituent IS NULL", vec![]);
    }
    if let Some(net) = &f.network {
        let bytes = |ip: IpAddr| Param::Blob(ip_bytes(ip).to_vec());
        // An address inside the range, or a listed network that overlaps it.
        let (first, last) = (bytes(net.network()), bytes(net.broadcast()));
        match w.style {
            // SQLite will not combine two indexes for an OR, and to return seq order it prefers
            // scanning the table: seconds for one address among millions. As a set of seqs
            // from the two indexes, read back in seq order, it takes a millisecond. A wide
            // network can match millions of events, which would all be gathered first, so
            // those stay on the scan, which fills a page quickly when matches are dense.
            Placeholder::Question if !is_wide(net) => w.and(
                "e.seq IN (SELECT seq FROM events WHERE source_ip BETWEEN ? AND ? \
                 UNION ALL SELECT seq FROM events WHERE source_net_first <= ? AND source_net_last >= ?)",
                vec![first.clone(), last.clone(), last, first],
            ),
            // PostgreSQL combines the indexes itself (a bitmap OR), guided by its statistics.
            _ => w.and(
                "(e.source_ip BETWEEN ? AND ? OR (e.source_net_first <= ? AND e.source_net_last >= ?))",
                vec![first.clone(), last.clone(), last, first],
            ),
        }
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
        w.and("e.source_asn = ?", vec![Param::Int(i64::from(asn))]);
    }
    if let Some(cc) = &f.country {
        w.and(
            "e.source_cc = ?",
            vec![Param::Text(cc.to_ascii_uppercase())],
        );
    }
    if let Some(t) = &f.classification_type {
        w.and("e.classification_type = ?", vec![Param::Text(t.clone())]);
    }
    if let Some(feed) = &f.feed {
        w.and(
            "e.run_id IN (SELECT id FROM runs WHERE feed = ?)",
            vec![Param::Text(feed.clone())],
        );
    }
    if let Some(since) = f.since {
        w.and(
            "e.time_event >= ?",
            vec![Param::Int(since.as_microsecond())],
        );
    }
    if let Some(until) = f.until {
        w.and("e.time_event < ?", vec![Param::Int(until.as_microsecond())]);
    }
    if let Some(after) = f.after_seq {
        w.and("e.seq > ?", vec![Param::Int(after)]);
    }
}

/// Networks wider than an IPv4 /16 or an IPv6 /32 (see `event_conditions`): up to 65,536
/// IPv4 addresses.
fn is_wide(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() < 16,
        IpNet::V6(n) => n.prefix_len() < 32,
    }
}

/// The SELECT both backends use to read events back with their run's shared values.
pub const EVENT_SELECT: &str = "SELECT e.seq, e.id, e.time_source, e.source_ip, e.source_port, e.source_asn, a.name,
    e.source_network, e.source_cc, e.source_fqdn, e.destination_ip, e.destination_port,
    e.protocol_transport, e.malware_name, e.classification_type, e.tlp, e.constituent, e.detail,
    e.raw, r.feed, r.feed_provider, r.feed_url, r.observed
  FROM events AS e JOIN runs AS r ON r.id = e.run_id LEFT JOIN as_names AS a ON a.asn = e.source_asn";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_value_order_for_each_backend() {
        let f = EventFilter {
            constituent: Some("org-1".into()),
            asn: Some(64500),
            ..Default::default()
        };
        for (style, first, second) in [
            (Placeholder::Question, "?1", "?2"),
            (Placeholder::Dollar, "$1", "$2"),
        ] {
            let mut w = Where::new(style);
            event_conditions(&f, &mut w);
            w.limit(5);
            assert!(
                w.sql.contains(&format!("e.constituent = {first}")),
                "{}",
                w.sql
            );
            assert!(
                w.sql.contains(&format!("e.source_asn = {second}")),
                "{}",
                w.sql
            );
            assert_eq!(
                w.args,
                vec![
                    Param::Text("org-1".into()),
                    Param::Int(64500),
                    Param::Int(5)
                ]
            );
        }
    }
}
