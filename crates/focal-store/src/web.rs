//! Storage for the web application: the paged, organisation-scoped reads behind the REST API and
//! the UI. (Sessions, tokens and throttling are identity's: `focal_identity::IdentityStore`.)
//!
//! A separate trait from [`crate::Store`] so backends can grow it independently. Every read that
//! a constituent can make takes a [`Scope`]: the organisation condition is part of the SQL, so
//! another organisation's rows are never read, rather than read and filtered out afterwards.
//! Every list is a page (keyset on an increasing id) with a bounded limit: nothing loads a whole
//! table.

use crate::incidents::{Incident, IncidentFilter};
use crate::{EventFilter, QuarantineRecord, Result, RunRecord};
use focal_model::Event;
use serde::Serialize;

/// Whose data a request may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Staff: every organisation.
    All,
    /// A constituent's user: only rows of this constituent id.
    Organisation(String),
}

impl Scope {
    pub fn organisation(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Organisation(o) => Some(o),
        }
    }
}

/// A constituent with what the UI shows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConstituentRow {
    pub id: String,
    pub name: String,
    pub abuse_email: String,
    pub asns: Vec<u32>,
    pub netblocks: Vec<String>,
    pub domains: Vec<String>,
    pub language: Option<String>,
    /// Further recipients of notifications (Cc).
    pub also_notify: Vec<String>,
}

/// (label, count) pairs, largest first.
pub type Counts = Vec<(String, u64)>;

/// What the dashboard shows, all computed in the store within the scope.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Dashboard {
    /// (UTC day `YYYY-MM-DD`, classification type, events), for the last days asked for.
    pub per_day: Vec<(String, String, u64)>,
    pub top_asns: Counts,
    pub top_countries: Counts,
    pub top_constituents: Counts,
    /// The AS name of each ASN in `top_asns` whose name is known (from `as_names`).
    pub asn_names: std::collections::BTreeMap<String, String>,
    /// The name of each constituent id in `top_constituents` that is registered.
    pub constituent_names: std::collections::BTreeMap<String, String>,
    pub incidents_by_state: Counts,
    /// Open incidents past their due time.
    pub sla_breaches: u64,
}

/// Running totals read by the Prometheus exporter.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Counters {
    pub runs: u64,
    pub rows_read: u64,
    pub events_stored: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub outbox_pending: u64,
    pub deliveries_sent: u64,
    pub deliveries_retry: u64,
    pub deliveries_failed: u64,
    /// Queue depths: work stored but not yet done by the stage after it.
    pub queues: QueueDepths,
}

/// How much work waits at each stage after the store, read from the stages' cursors.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct QueueDepths {
    /// Ingest runs not finished (in progress, or killed and waiting to be resumed).
    pub runs_running: u64,
    /// Events stored after the incident-grouping cursor.
    pub events_ungrouped: u64,
    /// Events stored after the dashboard rollup's cursor.
    pub events_not_in_rollup: u64,
    /// Events stored after the search index's cursor.
    pub events_not_indexed: u64,
    /// Incidents in an open state.
    pub incidents_open: u64,
    /// Open incidents past their SLA due time.
    pub incidents_breached: u64,
}

/// One event with what its page links to: the run that stored it and the incidents it belongs
/// to (within the scope).
#[derive(Debug, Clone)]
pub struct EventDetail {
    pub seq: i64,
    pub event: Event,
    pub run: RunRecord,
    /// Incident ids, in the reader's scope.
    pub incidents: Vec<i64>,
}

pub trait WebStore {
    /// A page of events as (seq, event), in seq order (newest first if
    /// `filter.newest_first`), after `filter.after_seq` and before `filter.before_seq`, at most
    /// `filter.limit` (required).
    fn events_page(&self, filter: &EventFilter, scope: &Scope) -> Result<Vec<(i64, Event)>>;
    /// How many events match the filter in the scope, exactly (paging fields ignored).
    fn events_count(&self, filter: &EventFilter, scope: &Scope) -> Result<u64>;
    /// The event stored as `seq`, if it is in the scope (a constituent: its own, never
    /// TLP:RED).
    fn event_in(&self, seq: i64, scope: &Scope) -> Result<Option<EventDetail>>;
    /// A page of incidents with `id > after`, in id order.
    fn incidents_page(
        &self,
        filter: &IncidentFilter,
        scope: &Scope,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Incident>>;
    fn incident_in(&self, id: i64, scope: &Scope) -> Result<Option<Incident>>;
    /// A page of constituents ordered by id, with `id > after`.
    fn constituents_page(
        &self,
        scope: &Scope,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ConstituentRow>>;
    fn constituent_in(&self, id: &str, scope: &Scope) -> Result<Option<ConstituentRow>>;
    /// The constituent's notification deliveries (sent, retried, failed), newest first.
    fn notification_history(
        &self,
        constituent: &str,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<crate::incidents::Delivery>>;
    /// Runs, newest first, with `id < before` (0: from the newest).
    fn runs_page(&self, before: i64, limit: usize) -> Result<Vec<RunRecord>>;
    /// The newest run of every feed, by feed name.
    fn latest_runs(&self) -> Result<Vec<RunRecord>>;
    /// Quarantined records, newest first, with `id < before` (0: from the newest).
    fn quarantine_page(
        &self,
        feed: Option<&str>,
        before: i64,
        limit: usize,
    ) -> Result<Vec<QuarantineRecord>>;
    /// Counts events added since the last refresh into the dashboard's daily rollup. Waits at
    /// most `wait_ms` for the write lock; false if it was busy (nothing changed).
    fn refresh_rollup(&self, wait_ms: u32) -> Result<bool>;
    /// The dashboard over the UTC days from `since_us` on (from the rollup, refreshed first
    /// when the write lock is free).
    fn dashboard(&self, scope: &Scope, since_us: i64, now_us: i64) -> Result<Dashboard>;
    fn counters(&self) -> Result<Counters>;
}
