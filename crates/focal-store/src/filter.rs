//! Turning an [`EventFilter`] into SQL conditions, once for both backends.
//!
//! Each condition is SQL text with `?` where a value goes, plus the values. The backends only
//! differ in how they number placeholders (`?1` in SQLite, `$1` in PostgreSQL), so [`Where`]
//! renders the numbering and the values are always bound, never pasted into the text.

use crate::EventFilter;
use crate::encode::ip_bytes;
use ipnet::{IpNet, Ipv6Net};
use std::net::{IpAddr, Ipv6Addr};

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
        // (On SQLite the paged search answers narrow networks from its index instead: see
        // sqlite/search.rs.)
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
    if let Some(before) = f.before_seq {
        w.and("e.seq < ?", vec![Param::Int(before)]);
    }
}

/// `ASC` or `DESC`, as the filter asks for the events' order.
pub fn direction(f: &EventFilter) -> &'static str {
    if f.newest_first { "DESC" } else { "ASC" }
}

/// Networks wider than an IPv4 /16 or an IPv6 /32 (see below for IPv6 networks holding IPv4
/// addresses). Searches for those are not driven by the
/// search index: they can match millions of events, which would all be gathered and sorted,
/// while a scan in storage order fills a page quickly when matches are that dense.
pub fn is_wide(net: &IpNet) -> bool {
    match net {
        IpNet::V4(n) => n.prefix_len() < 16,
        IpNet::V6(n) => {
            // IPv4 is stored IPv4-mapped (::ffff:0:0/96), so an IPv6 network is measured by the
            // IPv4 it covers: one holding the whole mapped block (like ::/64) spans every IPv4
            // event, and one inside it is an IPv4 network of prefix - 96.
            let mapped = Ipv6Net::new(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0), 96);
            match mapped {
                Ok(m) if n.contains(&m) => true,
                Ok(m) if m.contains(n) => n.prefix_len() < 96 + 16,
                _ => n.prefix_len() < 32,
            }
        }
    }
}

/// The SELECT both backends use to read events back with their run's shared values.
pub const EVENT_SELECT: &str = "SELECT e.seq, e.id, e.time_source, e.source_ip, e.source_port, e.source_asn, a.name,
    e.source_network, e.source_cc, e.source_fqdn, e.destination_ip, e.destination_port,
    e.protocol_transport, e.malware_name, e.classification_type, e.tlp, e.constituent, e.detail,
    e.raw, r.feed, r.feed_provider, r.feed_url, r.observed
  FROM events AS e JOIN runs AS r ON r.id = e.run_id LEFT JOIN as_names AS a ON a.asn = e.source_asn";

/// [`EVENT_SELECT`] with the event's `run_id` as a last column.
pub const EVENT_SELECT_WITH_RUN: &str = "SELECT e.seq, e.id, e.time_source, e.source_ip, e.source_port, e.source_asn, a.name,
    e.source_network, e.source_cc, e.source_fqdn, e.destination_ip, e.destination_port,
    e.protocol_transport, e.malware_name, e.classification_type, e.tlp, e.constituent, e.detail,
    e.raw, r.feed, r.feed_provider, r.feed_url, r.observed, e.run_id
  FROM events AS e JOIN runs AS r ON r.id = e.run_id LEFT JOIN as_names AS a ON a.asn = e.source_asn";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn width_counts_the_ipv4_an_ipv6_network_covers() {
        let wide = |s: &str| is_wide(&s.parse().unwrap());
        assert!(!wide("198.51.100.0/24") && !wide("10.1.0.0/16") && wide("10.0.0.0/8"));
        assert!(!wide("2001:db8::/32") && wide("2001::/16"));
        // Holding the whole IPv4-mapped block: every IPv4 event.
        assert!(wide("::/64") && wide("::ffff:0:0/96") && wide("::/0"));
        // Inside it: an IPv4 network of prefix - 96.
        assert!(!wide("::ffff:198.51.100.0/120") && wide("::ffff:10.0.0.0/104"));
    }

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
