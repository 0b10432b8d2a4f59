//! Public statistics: aggregated, non-identifying figures from TLP:CLEAR data, with every figure
//! below k suppressed, including figures that could be worked out from the published ones.
//!
//! **The rule** (docs/AWARENESS.md repeats it):
//! 1. Only TLP:CLEAR events and incidents are read ([`ClearStatsSource`]).
//! 2. A table is a set of cells that add up to its total. A table whose total is below k is
//!    withheld whole.
//! 3. Primary suppression: every cell below k is withheld.
//! 4. Complementary suppression: the withheld cells are published as one "other" figure, so the
//!    total minus the published cells reveals nothing new. When that remainder is between 1 and
//!    k - 1, the smallest published cells are withheld as well until it reaches k.
//! 5. Infected hosts form one hierarchy: countries, and within each published country its ASNs
//!    (each host counted once, in the country and ASN of its latest event, so the cells
//!    partition the hosts exactly). Each level is a table under rules 2-4; the ASNs of a
//!    withheld country are never published. Because the only sums are those of the tree, every
//!    figure that can be derived from the published ones is a published figure or an "other"
//!    remainder, all at least k.
//! 6. Median time to resolution is published per week only for weeks with at least k incidents.
//!
//! So every number in [`PublicStats`], and every difference of its sums, is 0 or at least k.
//! What this does not cover: publishing the host tables for overlapping windows lets a reader
//! subtract one from another, so the server should publish them for one fixed window (whole
//! weeks, all time or a rolling year) only.

use crate::store::{ClearStatsSource, StorageError};
use jiff::Timestamp;
use jiff::civil::Date;
use serde::Serialize;
use std::collections::BTreeMap;

/// Which period the statistics cover (by event time); open ends are unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsWindow {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// TLP:CLEAR events of one type in one ISO week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearEventCounts {
    /// The Monday (UTC) the week starts on.
    pub week: Date,
    pub classification_type: String,
    pub count: u64,
}

/// Infected hosts whose latest event has this country and ASN (either may be unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCell {
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub hosts: u64,
}

/// One resolved incident.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResolvedIncident {
    pub resolved_at: Timestamp,
    pub hours: f64,
}

/// A table after suppression. `total` is `None` when the whole table is withheld.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table<K> {
    pub total: Option<u64>,
    pub cells: Vec<Cell<K>>,
    /// The sum of the withheld cells (at least k), when any were withheld.
    pub other: Option<u64>,
    /// How many cells were withheld (their number reveals no figure).
    pub withheld_cells: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell<K> {
    #[serde(flatten)]
    pub key: K,
    pub count: u64,
}

/// Applies rules 2-4 to the cells of one table (counts of 0 are dropped first).
pub fn suppress<K: Ord + Clone>(cells: Vec<(K, u64)>, k: u64) -> Table<K> {
    let mut cells: Vec<(K, u64)> = cells.into_iter().filter(|c| c.1 > 0).collect();
    let total: u64 = cells.iter().map(|c| c.1).sum();
    if total < k {
        return Table {
            total: None,
            cells: Vec::new(),
            other: None,
            withheld_cells: cells.len() as u64,
        };
    }
    // Smallest first (ties by key), so complementary suppression takes the smallest cells.
    cells.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut withheld = cells.iter().take_while(|c| c.1 < k).count();
    let mut other: u64 = cells[..withheld].iter().map(|c| c.1).sum();
    while other > 0 && other < k && withheld < cells.len() {
        other += cells[withheld].1;
        withheld += 1;
    }
    let mut published: Vec<Cell<K>> = cells[withheld..]
        .iter()
        .map(|(key, count)| Cell {
            key: key.clone(),
            count: *count,
        })
        .collect();
    published.sort_by(|a, b| a.key.cmp(&b.key));
    Table {
        total: Some(total),
        cells: published,
        other: (other > 0).then_some(other),
        withheld_cells: withheld as u64,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct WeekType {
    pub week: String,
    #[serde(rename = "type")]
    pub classification_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CountryKey {
    /// Two letters, or `unknown`.
    pub country: String,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct AsnKey {
    /// `AS64500`, or `unknown`.
    pub asn: String,
}

/// A published country with its ASNs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountryHosts {
    pub country: String,
    pub hosts: u64,
    pub asns: Table<AsnKey>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostsTable {
    pub total: Option<u64>,
    pub countries: Vec<CountryHosts>,
    pub other: Option<u64>,
    pub withheld_cells: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeeklyMedian {
    pub week: String,
    pub incidents: u64,
    pub median_hours: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resolution {
    /// False on a backend without incidents.
    pub available: bool,
    pub weeks: Vec<WeeklyMedian>,
    pub withheld_weeks: u64,
}

/// What may be published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicStats {
    pub k: u64,
    pub tlp: &'static str,
    pub generated_at: Timestamp,
    pub window: StatsWindow,
    pub rule: &'static str,
    pub events_per_week: Table<WeekType>,
    pub infected_hosts: HostsTable,
    pub time_to_resolution: Resolution,
}

pub const RULE: &str = "TLP:CLEAR data only. A table whose total is below k is withheld; cells below k are withheld and published only as one 'other' sum, and further cells are withheld until that sum is at least k, so no published or derivable figure is below k. Hosts: countries, then ASNs within published countries, each host counted once. Median time to resolution only for weeks with at least k incidents.";

fn monday(t: Timestamp) -> Date {
    let date = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let back = i64::from(date.weekday().to_monday_zero_offset());
    date.checked_sub(jiff::Span::new().days(back))
        .unwrap_or(date)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// Builds the public statistics from raw figures (rules above).
pub fn build(
    k: u64,
    window: StatsWindow,
    events: Vec<ClearEventCounts>,
    hosts: Vec<HostCell>,
    resolved: Option<Vec<ResolvedIncident>>,
    now: Timestamp,
) -> PublicStats {
    let k = k.max(crate::config::MIN_K);
    let mut weekly: BTreeMap<WeekType, u64> = BTreeMap::new();
    for e in events {
        *weekly
            .entry(WeekType {
                week: e.week.to_string(),
                classification_type: e.classification_type,
            })
            .or_default() += e.count;
    }
    let events_per_week = suppress(weekly.into_iter().collect(), k);

    let mut by_country: BTreeMap<String, BTreeMap<AsnKey, u64>> = BTreeMap::new();
    for h in hosts {
        let country = h.country.unwrap_or_else(|| "unknown".into());
        let asn = AsnKey {
            asn: h.asn.map_or_else(|| "unknown".into(), |a| format!("AS{a}")),
        };
        *by_country
            .entry(country)
            .or_default()
            .entry(asn)
            .or_default() += h.hosts;
    }
    let countries = suppress(
        by_country
            .iter()
            .map(|(c, asns)| (CountryKey { country: c.clone() }, asns.values().sum()))
            .collect(),
        k,
    );
    let infected_hosts = HostsTable {
        total: countries.total,
        countries: countries
            .cells
            .iter()
            .map(|c| CountryHosts {
                country: c.key.country.clone(),
                hosts: c.count,
                asns: suppress(
                    by_country
                        .get(&c.key.country)
                        .map(|a| a.iter().map(|(k, v)| (k.clone(), *v)).collect())
                        .unwrap_or_default(),
                    k,
                ),
            })
            .collect(),
        other: countries.other,
        withheld_cells: countries.withheld_cells,
    };

    let time_to_resolution = match resolved {
        None => Resolution {
            available: false,
            weeks: Vec::new(),
            withheld_weeks: 0,
        },
        Some(list) => {
            let mut per_week: BTreeMap<Date, Vec<f64>> = BTreeMap::new();
            for r in list {
                per_week
                    .entry(monday(r.resolved_at))
                    .or_default()
                    .push(r.hours);
            }
            let mut weeks = Vec::new();
            let mut withheld_weeks = 0;
            for (week, mut hours) in per_week {
                if (hours.len() as u64) < k {
                    withheld_weeks += 1;
                    continue;
                }
                weeks.push(WeeklyMedian {
                    week: week.to_string(),
                    incidents: hours.len() as u64,
                    median_hours: (median(&mut hours) * 10.0).round() / 10.0,
                });
            }
            Resolution {
                available: true,
                weeks,
                withheld_weeks,
            }
        }
    };
    PublicStats {
        k,
        tlp: "TLP:CLEAR",
        generated_at: now,
        window,
        rule: RULE,
        events_per_week,
        infected_hosts,
        time_to_resolution,
    }
}

/// The public statistics over a store: the function the public page and API will call.
pub fn public_stats<S: ClearStatsSource + ?Sized>(
    store: &S,
    k: u64,
    window: StatsWindow,
) -> Result<PublicStats, StorageError> {
    Ok(build(
        k,
        window,
        store.clear_event_counts(&window)?,
        store.clear_infected_hosts(&window)?,
        store.clear_resolved_incidents(&window)?,
        Timestamp::now(),
    ))
}

/// Every figure a reader can see or derive by subtracting published sums: the totals, the
/// cells, the "other" remainders and each total minus its published cells. Used by the tests
/// (and usable by a publisher's own check) to show none is between 1 and k - 1.
pub fn visible_figures(stats: &PublicStats) -> Vec<u64> {
    fn table<K>(t: &Table<K>, out: &mut Vec<u64>) {
        out.extend(t.total);
        out.extend(t.cells.iter().map(|c| c.count));
        out.extend(t.other);
        if let Some(total) = t.total {
            out.push(total - t.cells.iter().map(|c| c.count).sum::<u64>());
        }
    }
    let mut out = Vec::new();
    table(&stats.events_per_week, &mut out);
    let h = &stats.infected_hosts;
    out.extend(h.total);
    out.extend(h.other);
    if let Some(total) = h.total {
        out.push(total - h.countries.iter().map(|c| c.hosts).sum::<u64>());
    }
    for c in &h.countries {
        out.push(c.hosts);
        table(&c.asns, &mut out);
    }
    out.extend(stats.time_to_resolution.weeks.iter().map(|w| w.incidents));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_single_small_cell_takes_a_neighbour_with_it() {
        // Without complementary suppression, 3 = 53 - 50 would be derivable.
        let t = suppress(vec![("a", 3), ("b", 50), ("c", 40)], 10);
        assert_eq!(t.total, Some(93));
        assert_eq!(t.other, Some(43), "the smallest published cell joins the 3");
        assert_eq!(t.cells.len(), 1);
        assert_eq!(t.cells[0].key, "b");
        let t = suppress(vec![("a", 3), ("b", 4)], 10);
        assert_eq!(t.total, None, "a table under k is withheld whole");
        assert!(t.cells.is_empty() && t.other.is_none());
    }

    #[test]
    fn weeks_start_on_monday() {
        assert_eq!(
            monday("2026-11-26T23:00:00Z".parse().unwrap()).to_string(),
            "2026-11-23"
        );
        assert_eq!(
            monday("2026-11-23T00:00:00Z".parse().unwrap()).to_string(),
            "2026-11-23"
        );
    }

    fn hosts_strategy() -> impl Strategy<Value = Vec<HostCell>> {
        prop::collection::vec(
            (
                prop::option::of(prop::sample::select(vec!["NL", "DE", "FR", "BR"])),
                prop::option::of(64500u32..64506),
                1u64..40,
            ),
            0..40,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(c, asn, hosts)| HostCell {
                    country: c.map(String::from),
                    asn,
                    hosts,
                })
                .collect()
        })
    }

    fn events_strategy() -> impl Strategy<Value = Vec<ClearEventCounts>> {
        prop::collection::vec(
            (
                0i16..6,
                prop::sample::select(vec!["infected-system", "scanner", "ddos", "spam"]),
                1u64..30,
            ),
            0..40,
        )
        .prop_map(|v| {
            v.into_iter()
                .map(|(w, t, count)| ClearEventCounts {
                    week: Date::new(2026, 1, 5)
                        .unwrap()
                        .checked_add(jiff::Span::new().weeks(w))
                        .unwrap(),
                    classification_type: t.into(),
                    count,
                })
                .collect()
        })
    }

    fn resolved_strategy() -> impl Strategy<Value = Vec<ResolvedIncident>> {
        prop::collection::vec((0i64..(60 * 86_400), 0.1f64..500.0), 0..80).prop_map(|v| {
            v.into_iter()
                .map(|(s, hours)| ResolvedIncident {
                    resolved_at: Timestamp::from_second(1_767_571_200 + s).unwrap(),
                    hours,
                })
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn no_published_or_derivable_figure_is_below_k(
            k in 2u64..15,
            events in events_strategy(),
            hosts in hosts_strategy(),
            resolved in resolved_strategy(),
        ) {
            let true_events: u64 = events.iter().map(|e| e.count).sum();
            let true_hosts: u64 = hosts.iter().map(|h| h.hosts).sum();
            let stats = build(k, StatsWindow::default(), events, hosts, Some(resolved), Timestamp::now());
            for figure in visible_figures(&stats) {
                prop_assert!(figure == 0 || figure >= k, "figure {} is below k = {}", figure, k);
            }
            // Nothing is invented or lost: what is published adds up to the truth.
            if let Some(total) = stats.events_per_week.total {
                prop_assert_eq!(total, true_events);
                let cells: u64 = stats.events_per_week.cells.iter().map(|c| c.count).sum();
                prop_assert_eq!(cells + stats.events_per_week.other.unwrap_or(0), total);
            } else {
                prop_assert!(true_events < k);
            }
            if let Some(total) = stats.infected_hosts.total {
                prop_assert_eq!(total, true_hosts);
                for c in &stats.infected_hosts.countries {
                    prop_assert_eq!(c.asns.total, Some(c.hosts));
                    let asns: u64 = c.asns.cells.iter().map(|a| a.count).sum();
                    prop_assert_eq!(asns + c.asns.other.unwrap_or(0), c.hosts);
                }
            } else {
                prop_assert!(true_hosts < k);
            }
        }
    }
}
