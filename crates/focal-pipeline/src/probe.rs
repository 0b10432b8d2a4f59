//! Trying a feed definition on a file without storing anything: how the first records map to
//! fields, what would be quarantined and why (`focal feeds test`), and which of several
//! definitions fits a file best (the hint after an ingest that quarantined too much).

use crate::ingest::{IngestError, read_layout};
use focal_feeds::Feed;
use focal_feeds::parse::Rejection;
use focal_feeds::read::RecordReader;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;

/// What became of one record.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The fields the record maps to, by IntelMQ name (before enrichment).
    Event { fields: Map<String, Value> },
    /// The record would be quarantined.
    Quarantined {
        kind: String,
        field: Option<String>,
        reason: String,
    },
}

/// One record shown in full.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub line: u64,
    /// The record as read (invalid UTF-8 shown as U+FFFD).
    pub raw: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The result of trying a definition on a file.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub feed: String,
    pub file: String,
    /// Why the file cannot be read with this definition at all (a CSV header that lacks a mapped
    /// column, ...); then nothing else is filled in.
    pub layout_error: Option<String>,
    pub records: u64,
    pub events: u64,
    pub quarantined: u64,
    pub quarantined_by_kind: BTreeMap<String, u64>,
    /// The first records, each with its outcome.
    pub rows: Vec<Row>,
}

impl Probe {
    /// The share of records quarantined (0 for a file without records).
    pub fn quarantined_share(&self) -> f64 {
        if self.records == 0 {
            0.0
        } else {
            self.quarantined as f64 / self.records as f64
        }
    }
}

/// Parses up to `limit` records of `path` with `feed` (all of them with `None`), showing the
/// first `show` in full. Nothing is enriched or stored.
pub fn probe(
    feed: &Feed,
    path: &Path,
    limit: Option<u64>,
    show: usize,
) -> Result<Probe, IngestError> {
    let file_name = path.display().to_string();
    let io = |source| IngestError::Io {
        path: file_name.clone(),
        source,
    };
    // A Shadowserver feed reads each file with the definition of its report type.
    let resolved = match feed.for_file(path) {
        Ok(f) => f,
        Err(e) => {
            return Ok(Probe {
                feed: feed.name.to_string(),
                file: file_name.clone(),
                layout_error: Some(e.message),
                records: 0,
                events: 0,
                quarantined: 0,
                quarantined_by_kind: BTreeMap::new(),
                rows: Vec::new(),
            });
        }
    };
    let feed: &Feed = &resolved;
    let mut probe = Probe {
        feed: feed.name.to_string(),
        file: file_name.clone(),
        layout_error: None,
        records: 0,
        events: 0,
        quarantined: 0,
        quarantined_by_kind: BTreeMap::new(),
        rows: Vec::new(),
    };
    let timed;
    let feed = match feed.file_time(path).map_err(io)? {
        Some(time) => {
            timed = feed.with_source_time(time);
            &timed
        }
        None => feed,
    };
    let layout = match read_layout(feed, path, &file_name) {
        Ok(l) => l,
        Err(IngestError::Layout { message, .. }) => {
            probe.layout_error = Some(message);
            return Ok(probe);
        }
        Err(e) => return Err(e),
    };
    if feed.format() == focal_feeds::Format::Csv && layout.layout.is_none() {
        // A header is expected and the file is empty: nothing to read.
        return Ok(probe);
    }
    let file = focal_feeds::input::open_at(feed, path, layout.header_end).map_err(io)?;
    let mut reader = RecordReader::new(
        BufReader::new(file),
        feed.skip_rules(),
        layout.header_end,
        layout.header_line,
    );
    let mut scratch = feed.scratch();
    let observed = jiff::Timestamp::now();
    let (mut events, mut rejections) = (Vec::new(), Vec::<Rejection>::new());
    loop {
        let left = limit.map(|l| l.saturating_sub(probe.records));
        if left == Some(0) {
            break;
        }
        // One record at a time while rows are shown, so each outcome is tied to its line.
        let want = if probe.rows.len() < show {
            1
        } else {
            left.unwrap_or(4096).min(4096) as usize
        };
        let Some(batch) = reader.next_batch(want).map_err(io)? else {
            break;
        };
        events.clear();
        rejections.clear();
        feed.parse_batch(
            layout.layout.as_ref(),
            &batch,
            observed,
            &mut scratch,
            &mut events,
            &mut rejections,
        );
        probe.records += batch.lines.len() as u64;
        probe.events += events.len() as u64;
        probe.quarantined += rejections.len() as u64;
        for r in &rejections {
            *probe
                .quarantined_by_kind
                .entry(r.kind.as_str().to_string())
                .or_default() += 1;
        }
        if want == 1 && probe.rows.len() < show {
            // A comment or a skipped JSON line gives neither event nor rejection.
            let Some(meta) = batch.lines.first() else {
                continue;
            };
            let raw = String::from_utf8_lossy(batch.line_bytes(meta)).into_owned();
            let outcome = if let Some(r) = rejections.first() {
                Outcome::Quarantined {
                    kind: r.kind.as_str().to_string(),
                    field: r.field.clone(),
                    reason: r.reason.clone(),
                }
            } else if let Some(e) = events.first() {
                let mut fields = focal_model::intelmq::to_json(e);
                // Filled in by the ingest itself, not by the record: noise here.
                fields.remove("time.observation");
                fields.remove("raw");
                Outcome::Event { fields }
            } else {
                continue;
            };
            probe.rows.push(Row {
                line: meta.line,
                raw,
                outcome,
            });
        }
    }
    Ok(probe)
}

/// Definitions (name, compiled feed) that read the first `rows` records of `path` with at most
/// `max_share` of them quarantined, best first (fewest quarantined, then most events). A
/// definition that reads nothing at all (no records, or no events) is not suggested.
pub fn suggest<'a>(
    candidates: &'a [Feed],
    path: &Path,
    rows: u64,
    max_share: f64,
) -> Vec<(&'a Feed, Probe)> {
    let mut fits: Vec<(&Feed, Probe)> = candidates
        .iter()
        .filter_map(|feed| {
            let p = probe(feed, path, Some(rows), 0).ok()?;
            (p.layout_error.is_none() && p.events > 0 && p.quarantined_share() <= max_share)
                .then_some((feed, p))
        })
        .collect();
    fits.sort_by(|a, b| {
        a.1.quarantined_share()
            .total_cmp(&b.1.quarantined_share())
            .then(b.1.events.cmp(&a.1.events))
    });
    fits
}
