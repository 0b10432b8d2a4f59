//! The constituency: which organisation is responsible for an address or host name.
//!
//! Matching order, first hit wins: the most specific netblock that holds the address; then the
//! organisation that lists the address's origin ASN; then the longest listed domain that is a
//! suffix of `source.fqdn` on a label boundary (`example.org` matches `www.example.org`, not
//! `badexample.org`).

use crate::ranges::{IpRangeMap, RangeMap};
use focal_model::{Constituent, ConstituentDraft};
use ipnet::IpNet;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read;
use std::net::IpAddr;
use std::sync::Arc;

/// How an event was matched to its constituent, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    Netblock,
    Asn,
    Domain,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub id: Arc<str>,
    pub by: MatchedBy,
}

/// Lookup tables over a list of constituents.
#[derive(Debug, Clone, Default)]
pub struct Constituency {
    ids: Vec<Arc<str>>,
    netblocks: IpRangeMap<u32>,
    exact_netblocks: HashMap<IpNet, u32>,
    by_asn: HashMap<u32, u32>,
    by_domain: HashMap<String, u32>,
}

impl Constituency {
    /// Builds the tables. Where two constituents list the same netblock, ASN or domain, the one
    /// listed first keeps it (imports are ordered, so the result is deterministic).
    pub fn new(constituents: &[Constituent]) -> Self {
        let mut c = Constituency::default();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (idx, org) in constituents.iter().enumerate() {
            let idx = idx as u32;
            c.ids.push(org.id.as_str().into());
            for net in &org.netblocks {
                let net = net.trunc();
                c.exact_netblocks.entry(net).or_insert(idx);
                match net {
                    IpNet::V4(n) => {
                        let (s, e) = (u32::from(n.network()), u32::from(n.broadcast()));
                        v4.push((s, e, idx, (32 - n.prefix_len(), idx)));
                    }
                    IpNet::V6(n) => {
                        let (s, e) = (u128::from(n.network()), u128::from(n.broadcast()));
                        v6.push((s, e, idx, (128 - n.prefix_len(), idx)));
                    }
                }
            }
            for asn in &org.asns {
                c.by_asn.entry(*asn).or_insert(idx);
            }
            for domain in &org.domains {
                c.by_domain
                    .entry(domain.trim_end_matches('.').to_ascii_lowercase())
                    .or_insert(idx);
            }
        }
        c.netblocks = IpRangeMap {
            v4: RangeMap::from_overlapping(v4),
            v6: RangeMap::from_overlapping(v6),
        };
        c
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The constituent responsible for an event's indicator.
    #[inline]
    pub fn assign(
        &self,
        ip: Option<IpAddr>,
        network: Option<IpNet>,
        asn: Option<u32>,
        fqdn: Option<&str>,
    ) -> Option<Assignment> {
        let hit = |idx: u32, by| {
            Some(Assignment {
                id: self.ids[idx as usize].clone(),
                by,
            })
        };
        if let Some(ip) = ip {
            if let Some(idx) = self.netblocks.get(ip) {
                return hit(*idx, MatchedBy::Netblock);
            }
        } else if let Some(net) = network
            && let Some(idx) = self.netblock_covering(net)
        {
            return hit(idx, MatchedBy::Netblock);
        }
        if let Some(idx) = asn.and_then(|a| self.by_asn.get(&a)) {
            return hit(*idx, MatchedBy::Asn);
        }
        if let Some(name) = fqdn
            && let Some(idx) = self.domain_suffix(name)
        {
            return hit(idx, MatchedBy::Domain);
        }
        None
    }

    /// The most specific listed netblock that contains the whole of `net`.
    fn netblock_covering(&self, net: IpNet) -> Option<u32> {
        let max = net.max_prefix_len();
        (0..=net.prefix_len()).rev().find_map(|len| {
            let candidate = IpNet::new(net.network(), len).ok()?.trunc();
            debug_assert!(len <= max);
            self.exact_netblocks.get(&candidate).copied()
        })
    }

    fn domain_suffix(&self, name: &str) -> Option<u32> {
        let name = name.trim_end_matches('.');
        let mut rest = name;
        loop {
            // Listed domains are lower case; feeds' host names were lower-cased on parsing.
            if let Some(idx) = self.by_domain.get(rest) {
                return Some(*idx);
            }
            rest = &rest[rest.find('.')? + 1..];
        }
    }
}

/// A constituency file could not be imported. Nothing is imported when any row is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}, line {line}: {message}")]
    Row {
        file: String,
        line: u64,
        message: String,
    },
    #[error("{file}, line {line}, field {field}: {message}")]
    Field {
        file: String,
        line: u64,
        field: &'static str,
        message: String,
    },
}

const HEADER: [&str; 6] = ["id", "name", "abuse_email", "asns", "netblocks", "domains"];

/// Most errors [`parse_csv_all`] reports; a file with more is wrong throughout, and the first
/// ones say how.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// Reads `id,name,abuse_email,asns,netblocks,domains` (lists space-separated, any may be empty),
/// validating every value. An optional `language` column (a BCP 47 tag like `de` or `pt-BR`)
/// chooses the notification language, and an optional `also_notify` column holds further
/// recipients of notifications, separated by `;` (each one addr-spec, at most 10: see
/// `focal_model::constituent::also_notify`); files without them import as before. `file` is
/// used in error messages.
/// Stops at the first error; [`parse_csv_all`] reports them all.
pub fn parse_csv<R: Read>(reader: R, file: &str) -> Result<Vec<Constituent>, ImportError> {
    parse_csv_all(reader, file).map_err(|mut errors| errors.swap_remove(0))
}

/// Like [`parse_csv`], but goes on after a bad row, so every bad row and field is reported
/// (up to [`MAX_REPORTED_ERRORS`]; the error list is never empty). Nothing is returned unless
/// every row is good: an import is all or nothing.
pub fn parse_csv_all<R: Read>(reader: R, file: &str) -> Result<Vec<Constituent>, Vec<ImportError>> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let row_err = |line: u64, message: String| ImportError::Row {
        file: file.to_string(),
        line,
        message,
    };
    let headers = csv
        .headers()
        .map_err(|e| vec![row_err(1, e.to_string())])?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h.trim() == name);
    let mut positions = [0usize; 6];
    for (slot, name) in positions.iter_mut().zip(HEADER) {
        *slot = column(name).ok_or_else(|| {
            vec![row_err(
                1,
                format!(
                    "missing column {name:?}; the header must name {}",
                    HEADER.join(",")
                ),
            )]
        })?;
    }
    let language_column = column("language");
    let also_notify_column = column("also_notify");
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashMap::new();
    for record in csv.records() {
        if errors.len() >= MAX_REPORTED_ERRORS {
            errors.truncate(MAX_REPORTED_ERRORS);
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                errors.push(row_err(line, e.to_string()));
                // A row the reader cannot split (bad UTF-8, a stray quote) may leave it
                // unable to find the next row either; stop rather than report noise.
                break;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let field_err = |field: &'static str, message: String| ImportError::Field {
            file: file.to_string(),
            line,
            field,
            message,
        };
        let get = |i: usize| record.get(positions[i]).unwrap_or("");
        let draft = ConstituentDraft {
            id: get(0),
            name: get(1),
            abuse_email: get(2),
            asns: get(3),
            netblocks: get(4),
            domains: get(5),
            language: language_column.and_then(|i| record.get(i)).unwrap_or(""),
            also_notify: also_notify_column.and_then(|i| record.get(i)).unwrap_or(""),
        };
        let id = draft.id.trim();
        let mut duplicate = None;
        if !id.is_empty() {
            match seen.entry(id.to_string()) {
                Entry::Occupied(first) => {
                    duplicate = Some(field_err(
                        "id",
                        format!("{id:?} already appears on line {}", first.get()),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert(line);
                }
            }
        }
        match draft.validate() {
            Ok(c) if duplicate.is_none() => out.push(c),
            Ok(_) => errors.extend(duplicate),
            Err(fields) => {
                errors.extend(duplicate);
                errors.extend(fields.into_iter().map(|f| field_err(f.field, f.message)));
            }
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CSV: &str = "id,name,abuse_email,asns,netblocks,domains\n\
        org-a,Alpha ISP,abuse@alpha.example,64500 64501,,alpha.example\n\
        net-b,Beta University,cert@beta.example,,198.51.100.0/24 2001:db8:1::/48,beta.example\n\
        net-c,Beta Lab,lab@beta.example,,198.51.100.128/25,lab.beta.example\n";

    #[test]
    fn netblock_then_asn_then_domain() {
        let orgs = parse_csv(CSV.as_bytes(), "c.csv").unwrap();
        let c = Constituency::new(&orgs);
        let ip = |s: &str| Some(s.parse().unwrap());
        let a = c
            .assign(ip("198.51.100.200"), None, Some(64500), None)
            .unwrap();
        assert_eq!((a.id.as_ref(), a.by), ("net-c", MatchedBy::Netblock));
        let a = c
            .assign(ip("198.51.100.20"), None, Some(64500), None)
            .unwrap();
        assert_eq!((a.id.as_ref(), a.by), ("net-b", MatchedBy::Netblock));
        let a = c
            .assign(ip("203.0.113.1"), None, Some(64501), Some("x.beta.example"))
            .unwrap();
        assert_eq!((a.id.as_ref(), a.by), ("org-a", MatchedBy::Asn));
        let a = c
            .assign(ip("203.0.113.1"), None, Some(1), Some("x.lab.beta.example"))
            .unwrap();
        assert_eq!((a.id.as_ref(), a.by), ("net-c", MatchedBy::Domain));
        assert!(
            c.assign(None, None, None, Some("notbeta.example"))
                .is_none()
        );
        let a = c.assign(ip("2001:db8:1:ff::1"), None, None, None).unwrap();
        assert_eq!(a.id.as_ref(), "net-b");
        let net = "198.51.100.128/26".parse().ok();
        assert_eq!(
            c.assign(None, net, None, None).unwrap().id.as_ref(),
            "net-c"
        );
        let wide = "198.51.0.0/16".parse().ok();
        assert!(c.assign(None, wide, None, None).is_none());
    }

    #[test]
    fn import_errors_name_line_and_field() {
        let bad = "id,name,abuse_email,asns,netblocks,domains\nx,X,a@x.example,,10.0.0.0/33,\n";
        let err = parse_csv(bad.as_bytes(), "c.csv").unwrap_err().to_string();
        assert!(err.starts_with("c.csv, line 2, field netblocks:"), "{err}");
        let dup = "id,name,abuse_email,asns,netblocks,domains\nx,X,,,,\nx,Y,,,,\n";
        let err = parse_csv(dup.as_bytes(), "c.csv").unwrap_err().to_string();
        assert!(
            err.contains("line 3, field id") && err.contains("line 2"),
            "{err}"
        );
        let err = parse_csv("id,name\n".as_bytes(), "c.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing column \"abuse_email\""), "{err}");
        let err = parse_csv(
            "id,name,abuse_email,asns,netblocks,domains\nx,X,,AS12x,,\n".as_bytes(),
            "c.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("field asns"), "{err}");
    }

    #[test]
    fn every_bad_row_and_field_is_reported_and_nothing_is_returned() {
        let bad = "id,name,abuse_email,asns,netblocks,domains\n\
            ok,Fine,a@ok.example,,192.0.2.0/24,\n\
            x,X,not-mail,AS1x,10.0.0.0/33,\n\
            ok,Again,,,,\n\
            y,Y,,,,bad domain!\n";
        let errors = parse_csv_all(bad.as_bytes(), "c.csv").unwrap_err();
        let said: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            said.iter()
                .map(|s| s.split(':').next().unwrap())
                .collect::<Vec<_>>(),
            [
                "c.csv, line 3, field abuse_email",
                "c.csv, line 3, field asns",
                "c.csv, line 3, field netblocks",
                "c.csv, line 4, field id",
                "c.csv, line 5, field domains",
            ],
            "{said:?}"
        );
        assert!(said[2].contains("10.0.0.0/33"), "{said:?}");
        assert!(said[3].contains("already appears on line 2"), "{said:?}");
        // The first-error form says the same first thing.
        let first = parse_csv(bad.as_bytes(), "c.csv").unwrap_err().to_string();
        assert_eq!(first, said[0]);
    }

    #[test]
    fn a_spreadsheet_export_with_a_byte_order_mark_and_crlf_reads() {
        let text = "\u{feff}id,name,abuse_email,asns,netblocks,domains\r\nx,X,a@x.example,,192.0.2.0/24,\r\n";
        let orgs = parse_csv(text.as_bytes(), "c.csv").unwrap();
        assert_eq!(orgs[0].id, "x");
    }

    #[test]
    fn language_column_is_optional_and_checked() {
        let orgs = parse_csv(CSV.as_bytes(), "c.csv").unwrap();
        assert!(orgs.iter().all(|o| o.language.is_none()));
        let with = "id,name,abuse_email,asns,netblocks,domains,language\nx,X,,,,,de\ny,Y,,,,,pt-BR\nz,Z,,,,,\n";
        let orgs = parse_csv(with.as_bytes(), "c.csv").unwrap();
        let langs: Vec<_> = orgs.iter().map(|o| o.language.as_deref()).collect();
        assert_eq!(langs, [Some("de"), Some("pt-BR"), None]);
        let bad = "id,name,abuse_email,asns,netblocks,domains,language\nx,X,,,,,../../etc\n";
        let err = parse_csv(bad.as_bytes(), "c.csv").unwrap_err().to_string();
        assert!(err.contains("line 2, field language"), "{err}");
    }

    #[test]
    fn also_notify_column_is_optional_and_each_address_checked() {
        let with = "id,name,abuse_email,asns,netblocks,domains,also_notify\n\
            x,X,a@x.example,,,,soc@x.example;noc@x.example\n\
            y,Y,,,,,\n";
        let orgs = parse_csv(with.as_bytes(), "c.csv").unwrap();
        assert_eq!(orgs[0].also_notify, ["soc@x.example", "noc@x.example"]);
        assert!(orgs[1].also_notify.is_empty());
        let bad = "id,name,abuse_email,asns,netblocks,domains,also_notify\n\
            x,X,,,,,ok@x.example;Evil<evil@evil.example>\n";
        let err = parse_csv(bad.as_bytes(), "c.csv").unwrap_err().to_string();
        assert!(err.contains("line 2, field also_notify"), "{err}");
        assert!(err.contains("entry 2"), "{err}");
    }
}
