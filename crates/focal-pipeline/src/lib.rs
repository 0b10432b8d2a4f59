//! The ingest pipeline: one feed file in, events and quarantined records out, in the store.
//!
//! ```text
//!  reader thread ──batches──▶ N parse workers ──parsed──▶ writer (this thread)
//!  (find lines,               (split fields, validate,   (restore file order; the store
//!   bounded memory)            enrich, compute ids,       drops known ids and commits rows
//!                              encode rows)               with the run's progress)
//! ```
//!
//! Channels are bounded, so a slow database slows the reader instead of filling memory
//! (backpressure). Batches are committed in file order with the run's byte offset, so a run
//! killed at any instant resumes exactly after its last committed batch; event ids are
//! deterministic, so anything written twice is ignored by the store.

mod ingest;
pub mod probe;

pub use ingest::{
    FileLayout, FileSummary, IngestError, IngestOptions, ProgressSink, ingest_file,
    layout_from_header, prepare_batch, read_layout, sha256_file,
};
