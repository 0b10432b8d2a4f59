//! The storage this domain needs, as traits the backends in `focal-store` implement (SQLite and
//! PostgreSQL, tested by one suite on both).
//!
//! Every change is written together with its audit entry ([`AuditRecord`]) in one transaction:
//! a change that is stored is audited, and one that cannot be audited is not stored.

use crate::advisory::distribution::{AdvisoryMail, MailOutcome, QueuedMail};
use crate::advisory::{Advisory, AdvisoryState, AdvisorySummary};
use crate::library::{Entity, EntitySummary, ImportSummary, Item, SearchRequest, SearchResults};
use crate::stats::{ClearEventCounts, HostCell, ResolvedIncident, StatsWindow};
use jiff::Timestamp;

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{0} was not found")]
    NotFound(String),
    /// Someone else changed or created it first (an optimistic-concurrency or uniqueness loss).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// An audit entry to write in the same transaction as the change it describes.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Which advisories to list, newest change first.
#[derive(Debug, Clone, Default)]
pub struct AdvisoryFilter {
    pub state: Option<AdvisoryState>,
    pub limit: Option<usize>,
}

/// Advisories and their revisions. Published revisions are insert-only: a save that would
/// change or drop a stored revision is refused ([`StorageError::Conflict`]).
pub trait AdvisoryStore {
    /// Stores a new advisory; [`StorageError::Conflict`] if its id exists.
    fn insert_advisory(&self, advisory: &Advisory, audit: &AuditRecord) -> Result<()>;
    /// Saves a changed advisory if its stored `row_version` is still `expected`
    /// ([`StorageError::Conflict`] otherwise, [`StorageError::NotFound`] if it is gone), storing
    /// `row_version` as `expected + 1` and any new revisions.
    fn update_advisory(
        &self,
        advisory: &Advisory,
        expected: u64,
        audit: &AuditRecord,
    ) -> Result<()>;
    /// One advisory with all its revisions, or [`StorageError::NotFound`].
    fn advisory(&self, id: &str) -> Result<Advisory>;
    fn advisory_list(&self, filter: &AdvisoryFilter) -> Result<Vec<AdvisorySummary>>;
    /// Every advisory with a published revision, with its revisions (the feed's input).
    fn published_advisories(&self, limit: usize) -> Result<Vec<Advisory>>;
    /// Every advisory id (for numbering new ones).
    fn advisory_ids(&self) -> Result<Vec<String>>;
}

/// The advisory mail outbox.
pub trait AdvisoryOutbox {
    /// Queues messages (one per advisory, revision and constituent; already queued ones are
    /// left as they are) with the audit entry, in one transaction. Returns how many were new.
    fn queue_advisory_mail(&self, mails: &[QueuedMail], audit: &AuditRecord) -> Result<u64>;
    /// Pending messages due by `now` and messages left `sending` by a stopped sender.
    fn advisory_mail_due(&self, now: Timestamp, limit: usize) -> Result<Vec<AdvisoryMail>>;
    fn advisory_mail_mark(&self, id: i64, outcome: &MailOutcome) -> Result<()>;
    fn advisory_mail_list(&self, advisory_id: Option<&str>) -> Result<Vec<AdvisoryMail>>;
}

/// The policy library: entities stored whole, their items indexed for full-text search.
pub trait LibraryStore {
    /// Replaces each entity by id (items included) and writes one audit entry per entity added
    /// or changed, all in one transaction: an import is stored whole or not at all.
    fn import_library(
        &self,
        entities: &[Entity],
        actor: &str,
        source: &str,
    ) -> Result<ImportSummary>;
    /// Entities by id, all when `ids` is empty, in id order.
    fn library_entities(&self, ids: &[String]) -> Result<Vec<Entity>>;
    fn library_summaries(&self) -> Result<Vec<EntitySummary>>;
    /// One item of an entity, or [`StorageError::NotFound`].
    fn library_item(&self, entity: &str, item: &str) -> Result<Item>;
    /// Ranked full-text search with filters and facet counts.
    fn search_library(&self, request: &SearchRequest) -> Result<SearchResults>;
}

/// The raw figures public statistics are made from, read from TLP:CLEAR data only. The
/// suppression rules are applied afterwards by [`crate::stats::public_stats`]; nothing here is
/// fit to publish as it is.
pub trait ClearStatsSource {
    /// Events labelled TLP:CLEAR per ISO week (Monday, UTC) of `time.source` (else
    /// observation) and `classification.type`.
    fn clear_event_counts(&self, window: &StatsWindow) -> Result<Vec<ClearEventCounts>>;
    /// Distinct source addresses of TLP:CLEAR `infected-system` events, each counted once in
    /// the (country, ASN) of its latest event.
    fn clear_infected_hosts(&self, window: &StatsWindow) -> Result<Vec<HostCell>>;
    /// TLP:CLEAR incidents resolved or closed (not false positives), with how long they took;
    /// `None` on a backend without incidents.
    fn clear_resolved_incidents(
        &self,
        window: &StatsWindow,
    ) -> Result<Option<Vec<ResolvedIncident>>>;
}
