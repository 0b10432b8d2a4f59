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
pub mod special;

pub use asn::AsnTable;
pub use constituency::{
    Assignment, Constituency, ImportError, MatchedBy, parse_csv as parse_constituents,
    parse_csv_all as parse_constituents_all,
};
pub use country::CountryDb;
pub use ranges::{IpRangeMap, RangeMap};
pub use special::{is_special_purpose, network_is_special_purpose};

use focal_model::Event;

/// Everything needed to enrich an event. Each part is optional: a focal point without a country
/// database still gets ASNs and owners.
#[derive(Default)]
pub struct Enricher {
    pub asn: Option<AsnTable>,
    pub country: Option<CountryDb>,
    pub constituency: Constituency,
}

/// Where the value that lost a disagreement is kept: `extra.enrichment.<field>` holds the
/// lookup's value when the feed's won, `extra.feed.<field>` the feed's when the lookup's won
/// (`overwrite = true`).
pub const LOOKUP_PREFIX: &str = "enrichment.";
pub const FEED_PREFIX: &str = "feed.";

impl Enricher {
    /// [`Enricher::enrich_with`] with the feed's values winning (`overwrite = false`).
    pub fn enrich(&self, event: &mut Event) {
        self.enrich_with(event, false);
    }

    /// Fills `source.asn`, `source.as_name`, `source.network`, `source.geolocation.cc` and the
    /// constituent.
    ///
    /// A value the feed gave wins and the lookup only fills what is missing; where both have a
    /// value and they differ, the lookup's is kept in `extra.enrichment.<field>`. With
    /// `overwrite` (IntelMQ's setting of that name) the lookup's value wins instead and the feed's
    /// is kept in `extra.feed.<field>`. Two networks disagree only when neither holds the other:
    /// the table's network is the widest block of a range, not the feed's announcement.
    /// Special-purpose addresses ([`special`]) are not looked up at all: they get no country and
    /// no AS (what the feed said stays).
    pub fn enrich_with(&self, event: &mut Event, overwrite: bool) {
        let special = match (event.source_ip, event.source_network) {
            (Some(ip), _) => is_special_purpose(ip),
            (None, Some(net)) => network_is_special_purpose(net),
            (None, None) => true,
        };
        let lookup_ip = event
            .source_ip
            .or_else(|| event.source_network.map(|n| n.network()));
        if let Some(ip) = lookup_ip.filter(|_| !special) {
            if let Some(table) = &self.asn
                && let Some(hit) = table.lookup(ip)
            {
                let same_as = event.source_asn.is_none_or(|a| a == hit.asn);
                match event.source_asn {
                    None => event.source_asn = Some(hit.asn),
                    Some(given) if given != hit.asn => {
                        let (kept, lost) = if overwrite {
                            event.source_asn = Some(hit.asn);
                            (FEED_PREFIX, given)
                        } else {
                            (LOOKUP_PREFIX, hit.asn)
                        };
                        keep(event, kept, "source.asn", lost.into());
                    }
                    Some(_) => {}
                }
                match &event.source_as_name {
                    // The table's name belongs to the table's AS: it fills a name only when the
                    // feed gave none and no other AS.
                    None if same_as || overwrite => event.source_as_name = Some(hit.name.clone()),
                    None => keep(
                        event,
                        LOOKUP_PREFIX,
                        "source.as_name",
                        hit.name.as_ref().into(),
                    ),
                    Some(given) if given != hit.name => {
                        let given = given.clone();
                        let (kept, lost) = if overwrite {
                            event.source_as_name = Some(hit.name.clone());
                            (FEED_PREFIX, given.as_ref().into())
                        } else {
                            (LOOKUP_PREFIX, hit.name.as_ref().into())
                        };
                        keep(event, kept, "source.as_name", lost);
                    }
                    Some(_) => {}
                }
                match event.source_network {
                    None => event.source_network = Some(hit.network),
                    Some(given)
                        if !given.contains(&hit.network) && !hit.network.contains(&given) =>
                    {
                        let (kept, lost) = if overwrite {
                            event.source_network = Some(hit.network);
                            (FEED_PREFIX, given)
                        } else {
                            (LOOKUP_PREFIX, hit.network)
                        };
                        keep(event, kept, "source.network", lost.to_string().into());
                    }
                    Some(_) => {}
                }
            }
            if let Some(db) = &self.country
                && let Some(found) = db.lookup(ip)
            {
                match event.source_cc {
                    None => event.source_cc = Some(found),
                    Some(given) if given != found => {
                        let (kept, lost) = if overwrite {
                            event.source_cc = Some(found);
                            (FEED_PREFIX, given)
                        } else {
                            (LOOKUP_PREFIX, found)
                        };
                        keep(
                            event,
                            kept,
                            "source.geolocation.cc",
                            lost.to_string().into(),
                        );
                    }
                    Some(_) => {}
                }
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

/// Records the losing value of a disagreement (allocates only then, never on the common path).
#[cold]
fn keep(event: &mut Event, prefix: &str, field: &str, value: serde_json::Value) {
    event.extra.insert(format!("{prefix}{field}"), value);
}
