//! Plain data passed to and from a [`crate::Store`].

use ipnet::IpNet;
use jiff::Timestamp;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// Which ids [`crate::Store::save_constituents`] may add or change, and the audit action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveMode {
    /// Add new ids, update known ones: a CSV import (`constituent.import`).
    Import,
    /// Add or replace one (`constituent.create` or `constituent.update`, as it turns out).
    Upsert,
    /// Add only; an id that exists is refused and nothing is written (`constituent.create`).
    Create,
    /// Replace only; an id that does not exist is refused and nothing is written
    /// (`constituent.update`).
    Update,
}

/// Who saves constituents, how, and what the audit entries say about where they came from.
#[derive(Debug, Clone, Copy)]
pub struct ConstituentSave<'a> {
    /// The audit entries' actor (`user:alice`, or the CLI's `--actor`).
    pub actor: &'a str,
    pub mode: SaveMode,
    /// Recorded as `imported_from` in each entry's `after` (a file name, an upload).
    pub source: Option<&'a str>,
}

impl SaveMode {
    /// The audit action for a constituent that was `added` (else changed).
    pub fn action(self, added: bool) -> &'static str {
        match self {
            SaveMode::Import => "constituent.import",
            _ if added => "constituent.create",
            _ => "constituent.update",
        }
    }
}

/// The state of an ingestion run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started and not finished: it was interrupted, or is still going.
    Running,
    Completed,
    /// The file's content had already been ingested completely for this feed; nothing was read.
    AlreadyIngested,
    Failed,
    /// Stopped before the end (killed, or failed); a later run of the same file continued it.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Completed => "completed",
            RunStatus::AlreadyIngested => "already_ingested",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(text: &str) -> RunStatus {
        match text {
            "completed" => RunStatus::Completed,
            "already_ingested" => RunStatus::AlreadyIngested,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            _ => RunStatus::Running,
        }
    }
}

/// Counters of a run, and where it got to. Saved with every committed batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunProgress {
    /// Records read (blank and comment lines are not records).
    pub rows_read: u64,
    /// New events written.
    pub events_stored: u64,
    /// Valid records that were the same event as one already seen or stored.
    pub duplicates: u64,
    /// Malformed records quarantined.
    pub quarantined: u64,
    /// Byte offset just after the last committed record.
    pub offset: u64,
    /// Line number of the last committed record.
    pub line: u64,
}

#[derive(Debug, Clone)]
pub struct NewRun {
    pub feed: String,
    pub feed_provider: Option<String>,
    pub feed_url: Option<String>,
    /// `time.observation` of the run's events.
    pub observed: Timestamp,
    pub file_name: String,
    pub sha256: String,
    pub size: u64,
    /// Carry-over from an interrupted run being resumed.
    pub resumed_from: Option<i64>,
    pub progress: RunProgress,
    pub status: RunStatus,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    pub id: i64,
    pub feed: String,
    pub file_name: String,
    pub sha256: String,
    pub size: u64,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub resumed_from: Option<i64>,
    #[serde(flatten)]
    pub progress: RunProgress,
}

/// A malformed record to quarantine.
#[derive(Debug, Clone)]
pub struct QuarantineEntry {
    pub line: u64,
    pub kind: String,
    pub field: Option<String>,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// A quarantined record as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuarantineRecord {
    pub id: i64,
    pub run_id: i64,
    pub feed: String,
    pub file_name: String,
    pub line: u64,
    pub kind: String,
    pub field: Option<String>,
    pub reason: String,
    /// The raw bytes, lossily decoded for display; `raw_hex` is exact.
    pub raw: String,
    pub raw_hex: String,
    pub quarantined_at: String,
}

#[derive(Debug, Clone, Default)]
pub struct QuarantineFilter {
    pub run_id: Option<i64>,
    pub kind: Option<String>,
    pub feed: Option<String>,
    pub limit: Option<usize>,
}

/// Which events to list. Every condition present must hold.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub constituent: Option<String>,
    /// Only events without a constituent.
    pub unassigned: bool,
    /// A single address is a /32 or /128 network.
    pub network: Option<IpNet>,
    pub asn: Option<u32>,
    pub country: Option<String>,
    pub classification_type: Option<String>,
    pub feed: Option<String>,
    /// On `time.source` (or `time.observation` where the feed gave none), inclusive.
    pub since: Option<Timestamp>,
    /// Exclusive.
    pub until: Option<Timestamp>,
    pub limit: Option<usize>,
    /// Only events stored after this sequence number (for paging).
    pub after_seq: Option<i64>,
    /// Only events stored before this sequence number (for paging newest first).
    pub before_seq: Option<i64>,
    /// Newest (highest seq) first rather than in storage order (`Store::events` on both
    /// backends, and the paged web search).
    pub newest_first: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    pub events: u64,
    pub quarantined: u64,
    pub unassigned: u64,
    pub per_constituent: BTreeMap<String, u64>,
    pub constituents: u64,
    pub constituents_with_events: u64,
    pub by_type: BTreeMap<String, u64>,
    pub by_feed: BTreeMap<String, u64>,
    pub quarantined_by_kind: BTreeMap<String, u64>,
    pub runs: u64,
}

/// How an attempt to pull a feed ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PullResult {
    /// Downloaded and ingested: a completed run.
    Ok,
    /// Nothing new: the server said 304 Not Modified, or the content had been ingested before.
    Unchanged,
    /// Not downloaded or not ingested; `error` says why.
    Failed,
}

impl PullResult {
    pub const ALL: [PullResult; 3] = [PullResult::Ok, PullResult::Unchanged, PullResult::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            PullResult::Ok => "ok",
            PullResult::Unchanged => "unchanged",
            PullResult::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> PullResult {
        match text {
            "ok" => PullResult::Ok,
            "unchanged" => PullResult::Unchanged,
            _ => PullResult::Failed,
        }
    }
}

/// One attempt to pull a feed, to record. Request headers are never part of it (they may hold
/// keys), nor is the URL itself (it may carry one in its query): only its SHA-256, to know
/// whether the validators of an earlier pull apply to the same address.
#[derive(Debug, Clone)]
pub struct NewPull {
    pub feed: String,
    /// What asked for it: `schedule`, `cli:<actor>`, `web:<user>`.
    pub requested_by: String,
    pub started_at: jiff::Timestamp,
    pub finished_at: jiff::Timestamp,
    pub result: PullResult,
    /// The HTTP status of the response (none for a `file://` URL or when no response came).
    pub http_status: Option<u16>,
    /// Bytes received (for a stopped download, how far it got).
    pub bytes: Option<u64>,
    pub run_id: Option<i64>,
    pub error: Option<String>,
    pub url_sha256: Option<String>,
    /// The response's validators, sent back on the next pull (conditional GET).
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// SHA-256 of the downloaded content.
    pub sha256: Option<String>,
}

/// A recorded pull, with the counts of the run it made (if any).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PullRecord {
    pub id: i64,
    pub feed: String,
    pub requested_by: String,
    pub started_at: String,
    pub finished_at: String,
    pub result: PullResult,
    pub http_status: Option<u16>,
    pub bytes: Option<u64>,
    pub run_id: Option<i64>,
    pub error: Option<String>,
    #[serde(skip)]
    pub url_sha256: Option<String>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub sha256: Option<String>,
    /// The run's status and counters, when the pull made a run.
    pub run: Option<PullRun>,
}

/// The parts of a run shown with a pull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PullRun {
    pub status: RunStatus,
    pub rows_read: u64,
    pub events_stored: u64,
    pub duplicates: u64,
    pub quarantined: u64,
}
