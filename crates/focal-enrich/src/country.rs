//! IP → country from a MaxMind DB file (the `maxminddb` crate).
//!
//! Two record shapes are understood: ip-location-db's `{"country_code": "AU"}` and MaxMind's
//! GeoIP2/GeoLite2 `{"country": {"iso_code": "AU"}}`.

use crate::ranges::{IpRangeMap, Key, RangeMap};
use focal_model::CountryCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

#[derive(serde::Deserialize)]
struct Record<'a> {
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(borrow, default)]
    country: Option<Iso<'a>>,
}

#[derive(serde::Deserialize)]
struct Iso<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
}

/// A country database, flattened at load time into range tables.
///
/// Why flatten: a MaxMind lookup walks up to 128 tree nodes spread over a multi-megabyte file and
/// decodes a record, which on the reference workload cost more than every other enrichment step
/// together (cache misses on two parse threads). The tree's leaves are disjoint networks, so
/// the whole database becomes one sorted table of ranges, searched like the ASN table.
pub struct CountryDb {
    map: IpRangeMap<CountryCode>,
    database_type: String,
}

/// The database could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: not a readable MaxMind DB: {source}")]
pub struct OpenError {
    pub path: String,
    pub source: maxminddb::MaxMindDbError,
}

impl CountryDb {
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let wrap = |source| OpenError {
            path: path.display().to_string(),
            source,
        };
        let reader = maxminddb::Reader::open_readfile(path).map_err(wrap)?;
        Self::flatten(&reader).map_err(wrap)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, OpenError> {
        let wrap = |source| OpenError {
            path: "<memory>".into(),
            source,
        };
        let reader = maxminddb::Reader::from_source(bytes).map_err(wrap)?;
        Self::flatten(&reader).map_err(wrap)
    }

    fn flatten(reader: &maxminddb::Reader<Vec<u8>>) -> Result<Self, maxminddb::MaxMindDbError> {
        // Many networks share one record; decode each record once.
        let mut decoded: HashMap<usize, Option<CountryCode>> = HashMap::new();
        let mut v4: Vec<(u32, u32, CountryCode)> = Vec::new();
        let mut v6: Vec<(u128, u128, CountryCode)> = Vec::new();
        for item in reader.networks(maxminddb::WithinOptions::default())? {
            let hit = item?;
            let Some(offset) = hit.offset() else { continue };
            let country = match decoded.get(&offset) {
                Some(c) => *c,
                None => {
                    let c = hit.decode::<Record<'_>>()?.and_then(|r| {
                        r.country_code
                            .or(r.country.and_then(|c| c.iso_code))
                            .and_then(|c| c.parse().ok())
                    });
                    decoded.insert(offset, c);
                    c
                }
            };
            let Some(country) = country else { continue };
            match hit.network()? {
                ipnetwork::IpNetwork::V4(n) => {
                    v4.push((u32::from(n.network()), u32::from(n.broadcast()), country))
                }
                ipnetwork::IpNetwork::V6(n) => match n.network().to_ipv4_mapped() {
                    // IPv4 inside an IPv6 tree (::ffff:0:0/96) is kept with IPv4.
                    Some(a) if n.prefix() >= 96 => {
                        let first = u32::from(a);
                        let size = 1u64 << (128 - n.prefix() as u32);
                        v4.push((first, (first as u64 + size - 1) as u32, country));
                    }
                    _ => v6.push((u128::from(n.network()), u128::from(n.broadcast()), country)),
                },
            }
        }
        let map = IpRangeMap {
            v4: merge(v4),
            v6: merge(v6),
        };
        Ok(CountryDb {
            map,
            database_type: reader.metadata().database_type.clone(),
        })
    }

    /// `database_type` from the file's metadata (e.g. `country`, `GeoLite2-Country`).
    pub fn database_type(&self) -> &str {
        &self.database_type
    }

    /// Number of ranges after flattening.
    pub fn ranges(&self) -> usize {
        self.map.len()
    }

    /// The country of an address, or `None` when the database has no answer.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<CountryCode> {
        self.map.get(ip).copied()
    }
}

/// Sorts networks and joins neighbours of the same country into one range.
fn merge<K: Key>(mut ranges: Vec<(K, K, CountryCode)>) -> RangeMap<K, CountryCode> {
    ranges.sort_by_key(|r| r.0);
    let mut out: Vec<(K, K, CountryCode)> = Vec::with_capacity(ranges.len());
    for (s, e, c) in ranges {
        if let Some(last) = out.last_mut() {
            if last.2 == c && last.1.checked_next() == Some(s) {
                last.1 = e;
                continue;
            }
            if s <= last.1 {
                // Leaves of an MMDB tree never overlap; skip rather than trust a corrupt file.
                continue;
            }
        }
        out.push((s, e, c));
    }
    RangeMap::from_disjoint(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(reader: &maxminddb::Reader<Vec<u8>>, ip: IpAddr) -> Option<CountryCode> {
        let r: Record<'_> = reader.lookup(ip).ok()?.decode().ok()??;
        r.country_code
            .or(r.country.and_then(|c| c.iso_code))?
            .parse()
            .ok()
    }

    /// The flattened table answers exactly like a tree lookup in the file, for IPv4 and IPv6.
    #[test]
    fn flattened_table_matches_the_mmdb_tree() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../data/ipdb/geo-whois-asn-country.mmdb");
        let db = CountryDb::open(&path).unwrap();
        let reader = maxminddb::Reader::open_readfile(&path).unwrap();
        assert_eq!(db.database_type(), reader.metadata().database_type);
        let mut x: u64 = 0x853c_49e6_748f_ea9b;
        let mut found = 0;
        for i in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ip = if i % 4 == 0 {
                // Mostly inside 2000::/3, where IPv6 space is allocated.
                IpAddr::V6(std::net::Ipv6Addr::from(
                    ((0x2000u128 | (x as u128 & 0x1fff)) << 112) | (x as u128) << 48,
                ))
            } else {
                IpAddr::V4(std::net::Ipv4Addr::from(x as u32))
            };
            let want = direct(&reader, ip);
            found += want.is_some() as u32;
            assert_eq!(db.lookup(ip), want, "{ip}");
        }
        assert!(found > 100_000, "most probes have a country ({found})");
        let mapped: IpAddr = "::ffff:1.0.0.1".parse().unwrap();
        assert_eq!(db.lookup(mapped), db.lookup("1.0.0.1".parse().unwrap()));
    }
}
