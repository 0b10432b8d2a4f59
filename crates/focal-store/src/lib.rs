//! Storage: the [`Store`] trait every backend implements, the embedded SQLite backend, and the
//! PostgreSQL backend for deployments with several processes or machines.
//!
//! **Architecture invariants.**
//! - This is the only crate that knows SQL. Every value reaches the database as a bound
//!   parameter; no query is built by pasting values into text.
//! - A batch of events, its quarantined records and the run's progress are committed in one
//!   transaction ([`Store::commit_batch`]), so a process killed at any instant leaves a
//!   consistent store, and the run's saved offset says exactly where to resume.
//! - Event ids are deterministic, and a store never keeps two events with the same id: writing
//!   the same event twice is a no-op, so re-ingestion and redelivery cannot double anything. (The
//!   SQLite backend enforces this with per-window id sets and an ingest lock rather than a
//!   unique index, for speed: see `sqlite/migrations/0001_initial.sql` and BENCHMARKS.md. The
//!   PostgreSQL backend, which has many concurrent writers, keeps a real unique constraint.)
//! - Each backend has its own migrations (`sqlite/migrations/`, `pg/migrations/`); a change to
//!   the schema is a new migration in both.
//!
//! The trait is synchronous on purpose: ingestion runs on dedicated threads and a database
//! write is blocking work either way. Async callers (the web server) use `spawn_blocking`.

pub mod assess;
pub mod audit_chain;
mod awareness;
mod constituents;
mod encode;
pub mod filter;
pub mod incidents;
pub mod jobs;
mod location;
pub mod pg;
pub mod sharing;
pub mod sqlite;
mod types;
pub mod web;

pub use encode::{
    EncodedEvent, RunContext, StoredRow, decode as decode_event, ip_bytes, ip_from_bytes,
};
pub use jobs::*;
pub use location::{Location, open, redact_url};
pub use pg::PostgresStore;
pub use sqlite::SqliteStore;
pub use types::*;

use focal_model::{Constituent, Event};

/// A storage failure. Messages say what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Sqlite {
        context: &'static str,
        source: rusqlite::Error,
    },
    #[error("PostgreSQL error while {context}: {}", postgres_message(source))]
    Postgres {
        context: &'static str,
        source: ::postgres::Error,
    },
    #[error("cannot reach PostgreSQL at {url} while {context}: {source}")]
    Connect {
        context: &'static str,
        url: String,
        source: r2d2::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the database at {path} was written by a newer Focal (schema version {found}, this build knows up to {known})"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    /// The audit chain is keyed and this process cannot use the key.
    #[error("{0}")]
    AuditKey(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The server's own message and SQLSTATE code where there is one: `postgres::Error`'s Display
/// says only "db error".
fn postgres_message(e: &::postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl StoreError {
    /// True when retrying the same work later may succeed: the database was unreachable, or a
    /// concurrent transaction won a deadlock or serialization conflict. The distributed worker
    /// uses this to leave a chunk unacknowledged (to be redelivered) rather than fail it.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Postgres { source, .. } => match source.code() {
                Some(code) => {
                    let c = code.code();
                    // 40001 serialization_failure, 40P01 deadlock_detected, class 08 connection
                    // exceptions, 57P01-03 admin shutdown / cannot connect now.
                    c == "40001" || c == "40P01" || c.starts_with("08") || c.starts_with("57P")
                }
                None => source.is_closed() || source.as_db_error().is_none(),
            },
            _ => false,
        }
    }
}

/// Every storage trait of `focal-awareness`, as one object.
pub trait AwarenessStore:
    focal_awareness::store::AdvisoryStore
    + focal_awareness::store::AdvisoryOutbox
    + focal_awareness::store::LibraryStore
    + focal_awareness::store::ClearStatsSource
    + Send
    + Sync
{
}

impl<T> AwarenessStore for T where
    T: focal_awareness::store::AdvisoryStore
        + focal_awareness::store::AdvisoryOutbox
        + focal_awareness::store::LibraryStore
        + focal_awareness::store::ClearStatsSource
        + Send
        + Sync
{
}

/// Streams one run's events and quarantined records into the store.
///
/// Dropping a writer without committing rolls back what was written since the last commit.
pub trait RunWriter {
    /// Writes events, skipping ids already present, and quarantined records, skipping those
    /// already stored for the same file content and line. Returns the number of new events.
    fn write(&mut self, events: &[EncodedEvent], rejections: &[QuarantineEntry]) -> Result<u64>;
    /// Commits everything written so far together with the run's progress.
    fn commit(&mut self, progress: &RunProgress) -> Result<()>;
}

/// What every storage backend provides.
pub trait Store: Send + Sync {
    /// Inserts or updates constituents by `id`; returns how many were new and how many changed.
    fn import_constituents(&self, constituents: &[Constituent]) -> Result<ImportSummary>;
    /// Like [`Store::import_constituents`], and in the same transaction one audit entry per
    /// constituent added or changed (subject `constituent:<id>`, the stored record before, none
    /// when added, and after). Unchanged ones leave no entry. [`SaveMode::Create`] and
    /// [`SaveMode::Update`] refuse, writing nothing, an id that exists or does not
    /// ([`StoreError::Invalid`], the message starting with `id:`).
    fn save_constituents(
        &self,
        constituents: &[Constituent],
        how: &ConstituentSave<'_>,
    ) -> Result<ImportSummary>;
    fn constituents(&self) -> Result<Vec<Constituent>>;

    /// The most recent run of this file content (by SHA-256) for this feed.
    fn find_run(&self, sha256: &str, feed: &str) -> Result<Option<RunRecord>>;
    fn begin_run(&self, run: &NewRun) -> Result<RunRecord>;
    /// Opens the writer for a run. Writes go into an open transaction; [`RunWriter::commit`]
    /// saves them together with the run's progress, atomically.
    fn run_writer(&self, run_id: i64) -> Result<Box<dyn RunWriter + '_>>;
    fn finish_run(&self, run_id: i64, progress: &RunProgress, status: RunStatus) -> Result<()>;
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>>;

    /// Calls `visit` for each event matching the filter, in storage order.
    fn events(
        &self,
        filter: &EventFilter,
        visit: &mut dyn FnMut(Event) -> Result<()>,
    ) -> Result<()>;
    fn quarantine(&self, filter: &QuarantineFilter) -> Result<Vec<QuarantineRecord>>;
    fn stats(&self) -> Result<Stats>;

    /// Records one attempt to pull a feed; returns its id.
    fn record_pull(&self, pull: &NewPull) -> Result<i64>;
    /// A feed's pulls, newest first, with `id < before` (0: from the newest).
    fn pulls(&self, feed: &str, before: i64, limit: usize) -> Result<Vec<PullRecord>>;
    /// The newest pull of every feed that has been pulled.
    fn latest_pulls(&self) -> Result<Vec<PullRecord>>;
    /// The newest pull of `feed` from the URL with this SHA-256 that ended `ok` or `unchanged`:
    /// its validators make the next request conditional.
    fn last_good_pull(&self, feed: &str, url_sha256: &str) -> Result<Option<PullRecord>>;
    /// How many pulls ended each way, per feed: (feed, result, count).
    fn pull_counts(&self) -> Result<Vec<(String, PullResult, u64)>>;

    /// The schema version (the number of the last applied migration).
    fn schema_version(&self) -> Result<i64>;
    /// Where the data lives, for messages: a file path, or a PostgreSQL URL without its password.
    fn describe(&self) -> String;
    /// The distributed pipeline's job table, on backends that have one (PostgreSQL).
    fn jobs(&self) -> Option<&dyn JobStore> {
        None
    }
    /// The audit log, on every backend.
    fn audit(&self) -> &dyn incidents::AuditLog;
    /// Self-assessment, the risk register and vulnerability management, on every backend.
    fn assessment(&self) -> Box<dyn focal_assessment::store::Storage + '_>;
    /// Advisories, their mail, the policy library and public statistics' figures, on every
    /// backend (the traits are `focal-awareness`'s).
    fn awareness(&self) -> &dyn AwarenessStore;
    /// The concrete backend, for features that exist on one backend only so far (incidents,
    /// notifications, the audit log and sharing are SQLite-only until they are ported).
    fn as_any(&self) -> &dyn std::any::Any;
    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send + Sync>;
}
