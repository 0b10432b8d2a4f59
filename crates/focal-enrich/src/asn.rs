//! IP → origin ASN and AS name, from range CSVs (`range_start,range_end,asn,as_organisation`,
//! inclusive, IPv4 or IPv6: the format of the ip-location-db / RouteViews + DB-IP exports).

use crate::ranges::{IpRangeMap, RangeMap};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

/// A problem in an ASN range file, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Row {
        path: String,
        line: u64,
        message: String,
    },
}

/// One row's answer: the origin AS and the network around the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsnHit<'a> {
    pub asn: u32,
    pub name: &'a Arc<str>,
    /// The largest CIDR block that holds the address and lies inside the announced range. Range
    /// files are not prefix-aligned, so this is the honest `source.network` they can give.
    pub network: IpNet,
}

/// The loaded table. AS names are interned: 412k ranges share about 80k names.
#[derive(Debug, Clone, Default)]
pub struct AsnTable {
    map: IpRangeMap<u32>,
    entries: Vec<(u32, Arc<str>)>,
    /// Rows that overlapped an earlier row; resolved by "the narrower range wins".
    pub overlapping_rows: usize,
}

impl AsnTable {
    /// Loads and merges one or more range files (typically an IPv4 and an IPv6 file).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Self, LoadError> {
        let mut builder = Builder::default();
        for path in paths {
            let path = path.as_ref();
            let name = path.display().to_string();
            let file = std::fs::File::open(path).map_err(|source| LoadError::Io {
                path: name.clone(),
                source,
            })?;
            builder.read(std::io::BufReader::with_capacity(1 << 20, file), &name)?;
        }
        Ok(builder.finish())
    }

    /// Loads from any reader; `name` is used in error messages.
    pub fn from_reader<R: Read>(reader: R, name: &str) -> Result<Self, LoadError> {
        let mut builder = Builder::default();
        builder.read(reader, name)?;
        Ok(builder.finish())
    }

    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<AsnHit<'_>> {
        let (asn, name, network) = match ip {
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => {
                let key = u128::from(v6);
                let (s, e, idx) = self.map.v6.get_range(key)?;
                let (asn, name) = &self.entries[*idx as usize];
                (*asn, name, IpNet::V6(widest_v6(key, s, e)))
            }
            other => {
                let v4 = match other {
                    IpAddr::V4(a) => a,
                    IpAddr::V6(a) => a.to_ipv4_mapped()?,
                };
                let key = u32::from(v4);
                let (s, e, idx) = self.map.v4.get_range(key)?;
                let (asn, name) = &self.entries[*idx as usize];
                (*asn, name, IpNet::V4(widest_v4(key, s, e)))
            }
        };
        Some(AsnHit { asn, name, network })
    }

    /// Just the ASN: the hot path for constituency matching and benchmarks.
    #[inline]
    pub fn asn(&self, ip: IpAddr) -> Option<u32> {
        self.map.get(ip).map(|idx| self.entries[*idx as usize].0)
    }

    pub fn ranges(&self) -> usize {
        self.map.len()
    }

    /// Every distinct (ASN, name) pair.
    pub fn names(&self) -> &[(u32, Arc<str>)] {
        &self.entries
    }
}

fn widest_v4(ip: u32, start: u32, end: u32) -> Ipv4Net {
    for len in 0..=32u8 {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let net = ip & mask;
        let last = net | !mask;
        if net >= start && last <= end {
            return Ipv4Net::new(Ipv4Addr::from(net), len).unwrap_or_default();
        }
    }
    Ipv4Net::new(Ipv4Addr::from(ip), 32).unwrap_or_default()
}

fn widest_v6(ip: u128, start: u128, end: u128) -> Ipv6Net {
    for len in 0..=128u8 {
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len)
        };
        let net = ip & mask;
        let last = net | !mask;
        if net >= start && last <= end {
            return Ipv6Net::new(Ipv6Addr::from(net), len).unwrap_or_default();
        }
    }
    Ipv6Net::new(Ipv6Addr::from(ip), 128).unwrap_or_default()
}

#[derive(Default)]
struct Builder {
    v4: Vec<(u32, u32, u32)>,
    v6: Vec<(u128, u128, u32)>,
    entries: Vec<(u32, Arc<str>)>,
    interned: HashMap<(u32, String), u32>,
}

impl Builder {
    fn read<R: Read>(&mut self, reader: R, name: &str) -> Result<(), LoadError> {
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(reader);
        let mut record = csv::StringRecord::new();
        loop {
            let line = csv.position().line();
            let more = csv.read_record(&mut record).map_err(|e| LoadError::Row {
                path: name.to_string(),
                line: e.position().map(|p| p.line()).unwrap_or(line),
                message: e.to_string(),
            })?;
            if !more {
                break;
            }
            let line = record.position().map(|p| p.line()).unwrap_or(line);
            let err = |message: String| LoadError::Row {
                path: name.to_string(),
                line,
                message,
            };
            if record.len() < 3 {
                return Err(err(format!(
                    "expected range_start,range_end,asn[,as_name], found {} columns",
                    record.len()
                )));
            }
            let start: IpAddr = record[0]
                .trim()
                .parse()
                .map_err(|_| err(format!("range_start {:?} is not an IP address", &record[0])))?;
            let end: IpAddr = record[1]
                .trim()
                .parse()
                .map_err(|_| err(format!("range_end {:?} is not an IP address", &record[1])))?;
            let asn: u32 = record[2]
                .trim()
                .parse()
                .map_err(|_| err(format!("asn {:?} is not a number", &record[2])))?;
            let as_name = record.get(3).unwrap_or("").trim();
            let key = (asn, as_name.to_string());
            let next = self.entries.len() as u32;
            let idx = *self.interned.entry(key).or_insert_with(|| next);
            if idx == next {
                self.entries.push((asn, as_name.into()));
            }
            match (start, end) {
                (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => self.v4.push((s.into(), e.into(), idx)),
                (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => self.v6.push((s.into(), e.into(), idx)),
                _ => {
                    return Err(err(format!(
                        "range {start}–{end} is empty or mixes IPv4 and IPv6"
                    )));
                }
            }
        }
        Ok(())
    }

    fn finish(self) -> AsnTable {
        let mut overlapping_rows = 0;
        let v4 = build(self.v4, &mut overlapping_rows);
        let v6 = build(self.v6, &mut overlapping_rows);
        AsnTable {
            map: IpRangeMap { v4, v6 },
            entries: self.entries,
            overlapping_rows,
        }
    }
}

fn build<K: crate::ranges::Key + std::ops::Sub<Output = K>>(
    mut rows: Vec<(K, K, u32)>,
    overlapping: &mut usize,
) -> RangeMap<K, u32> {
    rows.sort_by_key(|r| r.0);
    let overlaps = rows.windows(2).filter(|w| w[1].0 <= w[0].1).count();
    if overlaps == 0 {
        return RangeMap::from_disjoint(rows).unwrap_or_default();
    }
    // Real registry exports contain a few overlapping rows; the narrower range is the more specific
    // announcement, so it wins where they overlap.
    *overlapping += overlaps;
    RangeMap::from_overlapping(rows.into_iter().map(|(s, e, v)| (s, e, v, e - s)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
        1.0.128.0,1.0.196.255,23969,TOT Public Company Limited\n\
        214.95.0.0,215.0.255.255,749,DoD\n\
        215.0.0.0,215.1.3.255,721,DoD NIC\n\
        2001:200::,2001:200:1b9:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n";

    #[test]
    fn looks_up_both_families_and_resolves_overlap_to_the_narrower_range() {
        let t = AsnTable::from_reader(SAMPLE.as_bytes(), "sample").unwrap();
        let hit = t.lookup("1.0.0.7".parse().unwrap()).unwrap();
        assert_eq!((hit.asn, hit.name.as_ref()), (13335, "Cloudflare, Inc."));
        assert_eq!(hit.network.to_string(), "1.0.0.0/24");
        // 1.0.128.0–1.0.196.255 is not a prefix: the network is the widest block inside it.
        let hit = t.lookup("1.0.196.1".parse().unwrap()).unwrap();
        assert_eq!(hit.network.to_string(), "1.0.196.0/24");
        assert_eq!(t.asn("1.0.1.0".parse().unwrap()), None);
        assert_eq!(t.asn("215.0.0.1".parse().unwrap()), Some(721));
        assert_eq!(t.asn("214.100.0.1".parse().unwrap()), Some(749));
        assert_eq!(t.asn("215.1.0.1".parse().unwrap()), Some(721));
        assert_eq!(t.overlapping_rows, 1);
        assert_eq!(t.asn("2001:200:1::1".parse().unwrap()), Some(2500));
        assert_eq!(t.asn("::ffff:1.0.0.1".parse().unwrap()), Some(13335));
    }

    #[test]
    fn a_bad_row_names_the_file_and_line() {
        let err = AsnTable::from_reader(
            "1.0.0.0,1.0.0.255,1,a\n1.0.1.0,1.0.1.x,2,b\n".as_bytes(),
            "asn.csv",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "asn.csv, line 2: range_end \"1.0.1.x\" is not an IP address"
        );
    }
}
