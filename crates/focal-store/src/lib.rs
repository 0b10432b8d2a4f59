//! Storage: the [`Store`] trait every backend implements, and the embedded SQLite backend.
//!
//! **Architecture invariants.**
//! - This is the only crate that knows SQL. Every value reaches the database as a bound
//!   parameter; no query is built by pasting values into text.
//! - A batch of events, its quarantined records and the run's progress are committed in one
//!   transaction ([`Store::commit_batch`]), so a process killed at any instant leaves a
//!   consistent store, and the run's saved offset says exactly where to resume.
//! - Event ids are deterministic and unique in the table, so writing the same event twice is a
//!   no-op: re-ingestion and redelivery cannot double anything.
//!
//! The trait is synchronous on purpose: ingestion runs on dedicated threads and a database
//! write is blocking work either way. Async callers (the web server) use `spawn_blocking`.

pub mod sqlite;
mod types;

pub use sqlite::SqliteStore;
pub use types::*;

use focal_model::{Constituent, Event};

/// A storage failure. Messages say what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error while {context}: {source}")]
    Sqlite { context: &'static str, source: rusqlite::Error },
    #[error("{0}")]
    Invalid(String),
    #[error("the database at {path} was written by a newer Focal (schema version {found}, this build knows up to {known})")]
    TooNew { path: String, found: i64, known: i64 },
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// What every storage backend provides.
pub trait Store: Send + Sync {
    /// Inserts or updates constituents by `id`; returns how many were new and how many changed.
    fn import_constituents(&self, constituents: &[Constituent]) -> Result<ImportSummary>;
    fn constituents(&self) -> Result<Vec<Constituent>>;

    /// The most recent run of this file content (by SHA-256) for this feed.
    fn find_run(&self, sha256: &str, feed: &str) -> Result<Option<RunRecord>>;
    fn begin_run(&self, run: &NewRun) -> Result<RunRecord>;
    /// Writes one batch and the run's progress in a single transaction. Events whose id already
    /// exists are skipped; quarantined records already stored for the same file and line too.
    /// `progress` is called with the number of events actually inserted and returns the run's
    /// progress to save with the batch, so the saved counters are exact at every commit.
    fn commit_batch(
        &self,
        run_id: i64,
        events: &[Event],
        rejections: &[QuarantineEntry],
        progress: &dyn Fn(u64) -> RunProgress,
    ) -> Result<BatchResult>;
    fn finish_run(&self, run_id: i64, progress: &RunProgress, status: RunStatus) -> Result<()>;
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>>;

    /// Calls `visit` for each event matching the filter, in storage order.
    fn events(&self, filter: &EventFilter, visit: &mut dyn FnMut(Event) -> Result<()>) -> Result<()>;
    fn quarantine(&self, filter: &QuarantineFilter) -> Result<Vec<QuarantineRecord>>;
    fn stats(&self) -> Result<Stats>;
}
