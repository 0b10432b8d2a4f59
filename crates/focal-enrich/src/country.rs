//! IP → country from a MaxMind DB file (the `maxminddb` crate).
//!
//! Two record shapes are understood: ip-location-db's `{"country_code": "AU"}` and MaxMind's
//! GeoIP2/GeoLite2 `{"country": {"iso_code": "AU"}}`.

use focal_model::CountryCode;
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

/// An open country database, held in memory (the file is read once; a country DB is a few MB).
pub struct CountryDb {
    reader: maxminddb::Reader<Vec<u8>>,
}

/// The database could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{path}: not a readable MaxMind DB: {source}")]
pub struct OpenError {
    pub path: String,
    pub source: maxminddb::MaxMindDbError,
}

impl CountryDb {
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let reader = maxminddb::Reader::open_readfile(path).map_err(|source| OpenError {
            path: path.display().to_string(),
            source,
        })?;
        Ok(CountryDb { reader })
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, OpenError> {
        let reader = maxminddb::Reader::from_source(bytes).map_err(|source| OpenError {
            path: "<memory>".into(),
            source,
        })?;
        Ok(CountryDb { reader })
    }

    /// `database_type` from the file's metadata (e.g. `country`, `GeoLite2-Country`).
    pub fn database_type(&self) -> &str {
        &self.reader.metadata().database_type
    }

    /// The country of an address, or `None` when the database has no (valid) answer. A corrupt
    /// record is treated as no answer: enrichment must never fail an otherwise good event.
    #[inline]
    pub fn lookup(&self, ip: IpAddr) -> Option<CountryCode> {
        let result = self.reader.lookup(ip).ok()?;
        let record: Record<'_> = result.decode().ok()??;
        let code = record
            .country_code
            .or(record.country.and_then(|c| c.iso_code))?;
        code.parse().ok()
    }
}
