//! Storage: the [`Store`] trait every backend implements, and the embedded SQLite backend.
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
//!   unique index, for speed: see `sqlite/migrations/0001_initial.sql` and BENCHMARKS.md.)
//!
//! The trait is synchronous on purpose: ingestion runs on dedicated threads and a database
//! write is blocking work either way. Async callers (the web server) use `spawn_blocking`.

mod encode;
pub mod sharing;
pub mod sqlite;
mod types;

pub use encode::{
    EncodedEvent, RunContext, StoredRow, decode as decode_event, ip_bytes, ip_from_bytes,
};
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
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

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
}
