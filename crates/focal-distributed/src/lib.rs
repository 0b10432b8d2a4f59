//! The distributed pipeline: a feed file cut into chunks on a NATS JetStream work queue, and any
//! number of workers, on any machines, that parse, enrich, de-duplicate and write the chunks to
//! PostgreSQL.
//!
//! ```text
//!  focal submit ──► job + chunk rows (PostgreSQL) ──► chunk messages (JetStream work queue)
//!                                                          │  one durable pull consumer,
//!                                                          ▼  shared by every worker
//!  focal worker × N: decode ─► prepare_batch (the embedded ingest's code) ─► write_chunk ─► ack
//! ```
//!
//! **Exactly once, in effect.** The submitter records each chunk in the job table before
//! publishing it, with a message id JetStream uses to drop re-publications. A worker writes a
//! chunk's events, its quarantined records and the chunk's result in one transaction and only
//! then acknowledges the message. If it dies before the commit, nothing was written and the
//! message is redelivered; if it dies between commit and acknowledgement, the redelivered chunk
//! is found done and only acknowledged. Event ids are deterministic and unique in the database,
//! so even two deliveries racing each other store each event once.

pub mod chunk;
pub mod queue;
pub mod submit;
pub mod worker;

pub use queue::QueueConfig;
pub use submit::{SubmitOptions, SubmitOutcome, submit};
pub use worker::{WorkerOptions, WorkerStats, run_worker};

/// A failure of the distributed pipeline. Messages say what was being done.
#[derive(Debug, thiserror::Error)]
pub enum DistributedError {
    #[error("NATS at {url}: {message}")]
    Nats { url: String, message: String },
    #[error(transparent)]
    Store(#[from] focal_store::StoreError),
    #[error(transparent)]
    Ingest(#[from] focal_pipeline::IngestError),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = DistributedError> = std::result::Result<T, E>;
