//! The distributed pipeline's bookkeeping: jobs (one file of one feed) and their chunks.
//!
//! A submitter splits a file into chunks, records each chunk here *before* publishing it to the
//! queue, and workers write each chunk's events together with the chunk's result in one
//! transaction ([`JobStore::write_chunk`]). That transaction is what makes delivery
//! exactly-once in effect: a chunk delivered twice finds itself already done and is only
//! acknowledged, and a worker killed before its commit leaves nothing behind.

use crate::{EncodedEvent, NewRun, QuarantineEntry, Result, RunProgress};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// The submitter is still splitting and publishing the file.
    Publishing,
    /// Every chunk is published; workers are processing them.
    Queued,
    /// Every chunk is done.
    Completed,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Publishing => "publishing",
            JobStatus::Queued => "queued",
            JobStatus::Completed => "completed",
        }
    }

    pub fn parse(text: &str) -> JobStatus {
        match text {
            "queued" => JobStatus::Queued,
            "completed" => JobStatus::Completed,
            _ => JobStatus::Publishing,
        }
    }
}

/// A job to create: its run, and what a worker needs to parse its chunks without the file.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub run: NewRun,
    /// The feed definition as TOML.
    pub feed_definition: String,
    /// The CSV header record and its line number, for feeds with a header.
    pub header: Option<(Vec<u8>, u64)>,
    /// At most this many records, and about this many bytes, per chunk.
    pub chunk_records: u32,
    pub chunk_bytes: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRecord {
    pub id: i64,
    pub run_id: i64,
    pub feed: String,
    pub file_name: String,
    pub sha256: String,
    pub size: u64,
    pub status: JobStatus,
    /// `None` while still publishing.
    pub chunks_total: Option<u32>,
    pub chunks_done: u32,
    /// Sums over the chunks done so far (`offset` and `line` are unused here).
    #[serde(flatten)]
    pub progress: RunProgress,
    pub created_at: String,
    pub finished_at: Option<String>,
    #[serde(skip)]
    pub feed_definition: String,
    #[serde(skip)]
    pub header: Option<(Vec<u8>, u64)>,
    #[serde(skip)]
    pub chunk_records: u32,
    #[serde(skip)]
    pub chunk_bytes: u32,
    /// `time.observation` of the job's events, Unix microseconds.
    #[serde(skip)]
    pub observed: i64,
    #[serde(skip)]
    pub feed_provider: Option<String>,
    #[serde(skip)]
    pub feed_url: Option<String>,
}

/// Where a chunk lies in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChunkSpec {
    pub job_id: i64,
    pub chunk_no: u32,
    /// Line numbers of the chunk's first and last record.
    pub first_line: u64,
    pub last_line: u64,
    pub records: u32,
    /// Size of the published message.
    pub bytes: u32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChunkRecord {
    pub job_id: i64,
    pub chunk_no: u32,
    pub first_line: u64,
    pub last_line: u64,
    pub records: u32,
    pub bytes: u32,
    /// `queued`, `done`, or `failed` (with `error`).
    pub status: String,
    pub error: Option<String>,
    pub rows_read: u64,
    pub events_stored: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// The worker that wrote it.
    pub worker: Option<String>,
    pub finished_at: Option<String>,
}

/// A chunk's parsed content, ready to write.
pub struct ChunkWrite<'a> {
    pub job_id: i64,
    pub chunk_no: u32,
    pub worker: &'a str,
    pub events: &'a [EncodedEvent],
    pub rejections: &'a [QuarantineEntry],
    /// Records read (valid and malformed).
    pub rows_read: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChunkOutcome {
    /// Written now: this many new events.
    Written {
        events_stored: u64,
        job_completed: bool,
    },
    /// An earlier delivery already wrote it; nothing was written.
    AlreadyDone,
}

/// Jobs and chunks, on backends that serve several processes (PostgreSQL).
pub trait JobStore: Send + Sync {
    /// Creates the job's run (status `running`) and the job (status `publishing`).
    fn create_job(&self, job: &NewJob) -> Result<JobRecord>;
    /// The latest job for this content and feed that is not completed, to resume publishing it.
    fn unfinished_job(&self, sha256: &str, feed: &str) -> Result<Option<JobRecord>>;
    /// Records a chunk before it is published (a no-op if it is already recorded).
    fn record_chunk(&self, chunk: &ChunkSpec) -> Result<()>;
    /// Marks the job fully published with `total` chunks (completing it if all are done).
    fn chunks_published(&self, job_id: i64, total: u32) -> Result<JobRecord>;
    fn job(&self, job_id: i64) -> Result<Option<JobRecord>>;
    fn jobs(&self, limit: usize) -> Result<Vec<JobRecord>>;
    fn chunks(&self, job_id: i64) -> Result<Vec<ChunkRecord>>;
    /// Writes a chunk's events, quarantined records and result in one transaction, unless an
    /// earlier delivery already did; completes the job and its run when it was the last chunk.
    fn write_chunk(&self, chunk: &ChunkWrite<'_>) -> Result<ChunkOutcome>;
    /// Marks a chunk that can never be processed (its message is unreadable), with the reason.
    fn fail_chunk(&self, job_id: i64, chunk_no: u32, error: &str) -> Result<()>;
}
