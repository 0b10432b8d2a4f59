//! Enrichment: who announces an address (ASN, AS name, network), where it is (country), and which
//! constituent must act on it.
//!
//! Tables are loaded once from files ([`AsnTable::load`], [`CountryDb::open`],
//! [`Constituency::new`]) and then only read. **Architecture invariant:** after loading, no lookup
//! does I/O, allocates, or takes a lock, so one [`Enricher`] can be shared by every parser thread.

pub mod asn;
pub mod constituency;
pub mod country;
pub mod ranges;

pub use asn::AsnTable;
pub use constituency::{
    Assignment, Constituency, ImportError, MatchedBy, parse_csv as parse_constituents,
    parse_csv_all as parse_constituents_all,
};
pub use country::CountryDb;
pub use ranges::{IpRangeMap, RangeMap};

use focal_model::Event;

/// Everything needed to enrich an event. Each part is optional: a focal point without a country
/// database still gets ASNs and owners.
#[derive(Default)]
pub struct Enricher {
    pub asn: Option<AsnTable>,
    pub country: Option<CountryDb>,
    pub constituency: Constituency,
}

impl Enricher {
    /// Fills `source.asn`, `source.as_name`, `source.network`, `source.geolocation.cc` and the
    /// constituent. A value the table knows replaces what the feed said; where the table is silent,
    /// the feed's value stays (feeds such as Shadowserver's carry their own ASN).
    pub fn enrich(&self, event: &mut Event) {
        let lookup_ip = event
            .source_ip
            .or_else(|| event.source_network.map(|n| n.network()));
        if let Some(ip) = lookup_ip {
            if let Some(table) = &self.asn
                && let Some(hit) = table.lookup(ip)
            {
                event.source_asn = Some(hit.asn);
                event.source_as_name = Some(hit.name.clone());
                if event.source_network.is_none() {
                    event.source_network = Some(hit.network);
                }
            }
            if event.source_cc.is_none()
                && let Some(db) = &self.country
            {
                event.source_cc = db.lookup(ip);
            }
        }
        event.constituent = self
            .constituency
            .assign(
                event.source_ip,
                event.source_network,
                event.source_asn,
                event.source_fqdn.as_deref(),
            )
            .map(|a| a.id);
    }
}
