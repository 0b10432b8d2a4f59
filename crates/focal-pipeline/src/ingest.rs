//! Ingesting one file.

use crossbeam_channel::{Receiver, Sender, bounded};
use focal_enrich::Enricher;
use focal_feeds::definition::CsvLayout;
use focal_feeds::read::RecordReader;
use focal_feeds::{Feed, Format, RecordBatch, Rejection};
use focal_store::{
    EncodedEvent, NewRun, QuarantineEntry, RunContext, RunProgress, RunStatus, RunWriter, Store,
    StoreError,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Records per batch handed to a parse worker.
    pub batch_size: usize,
    /// Records per database transaction (several batches). Larger transactions write each index
    /// page fewer times; the run's progress is saved with every commit.
    pub commit_rows: usize,
    /// Parse workers; 0 means one per core.
    pub workers: usize,
    /// Read the file even if the same content was already ingested completely for this feed.
    pub force: bool,
    /// Set to stop early (a server shutting down): what was read so far is committed and the
    /// run stays `running`, to be resumed by the next ingest of the same content.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch_size: 16_384,
            commit_rows: 262_144,
            workers: 0,
            force: false,
            stop: None,
        }
    }
}

/// Receives progress as the file is read (a progress bar, or structured logs).
pub trait ProgressSink: Sync {
    fn start(&self, _file: &str, _total_bytes: u64, _resume_at: u64) {}
    fn advance(&self, _offset: u64, _progress: &RunProgress) {}
    fn finish(&self) {}
}

impl ProgressSink for () {}

/// What happened to one file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileSummary {
    pub file: String,
    pub feed: String,
    pub sha256: String,
    pub run_id: i64,
    pub status: RunStatus,
    /// The interrupted run this one continued, if any.
    pub resumed_from: Option<i64>,
    pub rows_read: u64,
    pub events_stored: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    /// Quarantined records of this invocation, by kind.
    pub quarantined_by_kind: BTreeMap<String, u64>,
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Layout { path: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("an ingest thread stopped unexpectedly: {0}")]
    Thread(String),
    #[error(
        "{path}: stopped before the end, as asked, after {rows_read} records; run #{run_id} resumes at the next ingest of the same content"
    )]
    Stopped {
        path: String,
        run_id: i64,
        rows_read: u64,
    },
}

/// SHA-256 of a file, read in 1 MiB blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// A batch after parsing, on its way to the writer.
struct Parsed {
    seq: u64,
    rows: u64,
    events: Vec<EncodedEvent>,
    rejections: Vec<Rejection>,
    end_offset: u64,
    end_line: u64,
}

/// Ingests one file into the store: see the crate documentation for the shape.
pub fn ingest_file(
    store: &dyn Store,
    enricher: &Enricher,
    feed: &Feed,
    path: &Path,
    options: &IngestOptions,
    progress: &dyn ProgressSink,
) -> Result<FileSummary, IngestError> {
    let started = Instant::now();
    let file_name = path.display().to_string();
    let io = |source| IngestError::Io {
        path: file_name.clone(),
        source,
    };
    // A Shadowserver feed reads each file with the definition of its report type.
    let resolved = feed.for_file(path).map_err(|e| IngestError::Layout {
        path: file_name.clone(),
        message: e.message,
    })?;
    let feed: &Feed = &resolved;
    let (sha256, size) = sha256_file(path).map_err(io)?;
    let feed_name = feed.name.to_string();
    // Every event of this run is observed now; the time is stored once, with the run.
    let context = RunContext {
        feed_name: feed.name.clone(),
        feed_provider: feed.definition.provider.as_deref().map(Into::into),
        feed_url: feed.definition.url.as_deref().map(Into::into),
        observed: jiff::Timestamp::now(),
    };
    let new_run = |status, resumed_from, progress| NewRun {
        feed: feed_name.clone(),
        feed_provider: feed.definition.provider.clone(),
        feed_url: feed.definition.url.clone(),
        observed: context.observed,
        file_name: file_name.clone(),
        sha256: sha256.clone(),
        size,
        resumed_from,
        progress,
        status,
    };

    // Decide between a fresh run, a resumed one, and nothing to do.
    let previous = store.find_run(&sha256, &feed_name)?;
    let mut start = RunProgress::default();
    let mut resumed_from = None;
    match &previous {
        Some(prev) if prev.status == RunStatus::Completed && !options.force => {
            let run = store.begin_run(&new_run(
                RunStatus::AlreadyIngested,
                None,
                RunProgress::default(),
            ))?;
            store.finish_run(run.id, &RunProgress::default(), RunStatus::AlreadyIngested)?;
            tracing::info!(file = %file_name, earlier_run = prev.id, "File already ingested for this feed; nothing to do.");
            return Ok(FileSummary {
                file: file_name,
                feed: feed_name,
                sha256,
                run_id: run.id,
                status: RunStatus::AlreadyIngested,
                resumed_from: None,
                rows_read: 0,
                events_stored: 0,
                duplicates: 0,
                quarantined: 0,
                quarantined_by_kind: BTreeMap::new(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        Some(prev) if prev.status == RunStatus::Running && !options.force => {
            // An interrupted run of the same content: carry its counters and continue after its
            // last committed batch.
            start = prev.progress;
            resumed_from = Some(prev.id);
            store.finish_run(prev.id, &prev.progress, RunStatus::Interrupted)?;
            tracing::info!(file = %file_name, run = prev.id, offset = start.offset, "Resuming an interrupted run.");
        }
        _ => {}
    }
    let run = store.begin_run(&new_run(RunStatus::Running, resumed_from, start))?;

    // A time from the file's header or name is every record's time.source unless it has one.
    let timed;
    let feed = match feed.file_time(path).map_err(io)? {
        Some(time) => {
            timed = feed.with_source_time(time);
            &timed
        }
        None => feed,
    };
    let FileLayout {
        layout,
        header_end,
        header_line,
        ..
    } = read_layout(feed, path, &file_name)?;
    let (offset, first_line) = if start.offset > header_end {
        (start.offset, start.line + 1)
    } else {
        (header_end, header_line)
    };
    // Plain, decompressed, or a JSON document's records one per line (focal_feeds::input).
    let file = focal_feeds::input::open_at(feed, path, offset).map_err(io)?;
    progress.start(&file_name, size, offset);

    let workers = if options.workers == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        options.workers
    };
    let mut state = Writer {
        sink: store.run_writer(run.id)?,
        commit_rows: options.commit_rows.max(1) as u64,
        progress: RunProgress { offset, ..start },
        uncommitted_rows: 0,
        by_kind: BTreeMap::new(),
        pending: HashMap::new(),
        next_seq: 0,
        progress_sink: progress,
    };

    let outcome: Result<bool, IngestError> = std::thread::scope(|scope| {
        // Small queues: enough to keep every thread busy, few enough to bound memory.
        let (batch_tx, batch_rx) = bounded::<RecordBatch>(workers);
        let (parsed_tx, parsed_rx) = bounded::<Parsed>(workers);
        let stop = options.stop.as_deref();
        let reader_handle = scope.spawn(move || -> Result<bool, std::io::Error> {
            let mut reader = RecordReader::new(file, feed.skip_rules(), offset, first_line);
            loop {
                // Checked between batches: the batches already handed on are still written
                // and committed, so the run ends at a clean offset.
                if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                    return Ok(true);
                }
                let Some(batch) = reader.next_batch(options.batch_size)? else {
                    return Ok(false);
                };
                if batch_tx.send(batch).is_err() {
                    return Ok(false); // The writer stopped; its error is reported there.
                }
            }
        });
        for _ in 0..workers {
            let (rx, tx) = (batch_rx.clone(), parsed_tx.clone());
            let layout = layout.as_ref();
            let context = &context;
            scope.spawn(move || parse_worker(feed, enricher, layout, context, rx, tx));
        }
        drop((batch_rx, parsed_tx));
        let written = state.write_all(parsed_rx);
        let read = reader_handle
            .join()
            .map_err(|_| IngestError::Thread("the reader panicked".into()))?;
        written?;
        read.map_err(io)
    });
    progress.finish();
    let Writer {
        sink,
        progress: p,
        by_kind,
        ..
    } = state;
    // Release the write connection (rolling back anything uncommitted on error).
    drop(sink);
    if outcome? {
        return Err(IngestError::Stopped {
            path: file_name,
            run_id: run.id,
            rows_read: p.rows_read,
        });
    }
    let status = RunStatus::Completed;
    store.finish_run(run.id, &p, status)?;
    Ok(FileSummary {
        file: file_name,
        feed: feed_name,
        sha256,
        run_id: run.id,
        status,
        resumed_from,
        rows_read: p.rows_read,
        events_stored: p.events_stored,
        duplicates: p.duplicates,
        quarantined: p.quarantined,
        quarantined_by_kind: by_kind,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a worker needs to parse a file's records: the CSV layout, and where records start.
pub struct FileLayout {
    /// `None` for formats without columns, and for an empty CSV file with a header expected.
    pub layout: Option<CsvLayout>,
    /// Byte offset and line number just after the header (0 and 1 without one).
    pub header_end: u64,
    pub header_line: u64,
    /// The header record's bytes and line number, to hand to workers elsewhere.
    pub header: Option<(Vec<u8>, u64)>,
}

/// Reads the CSV header (always from the top of the file, decompressed) and works out the layout.
pub fn read_layout(feed: &Feed, path: &Path, file_name: &str) -> Result<FileLayout, IngestError> {
    let io = |source| IngestError::Io {
        path: file_name.to_string(),
        source,
    };
    if feed.format() != Format::Csv {
        return Ok(FileLayout {
            layout: None,
            header_end: 0,
            header_line: 1,
            header: None,
        });
    }
    let file = focal_feeds::input::open(feed, path).map_err(io)?;
    let mut reader = RecordReader::new(file, feed.skip_rules(), 0, 1);
    let header = if feed.definition.csv.header {
        reader
            .read_first_record()
            .map_err(io)?
            .map(|(number, line)| (line, number))
    } else {
        None
    };
    let (end, line) = (reader.offset(), reader.next_line_number());
    let layout = layout_from_header(feed, header.as_ref(), file_name)?;
    Ok(FileLayout {
        layout,
        header_end: if header.is_some() { end } else { 0 },
        header_line: if header.is_some() { line } else { 1 },
        header,
    })
}

/// The CSV layout from a header record (its line number and bytes), as read by [`read_layout`]
/// or received with a distributed job. `None` when a header is expected but the file is empty.
pub fn layout_from_header(
    feed: &Feed,
    header: Option<&(Vec<u8>, u64)>,
    file_name: &str,
) -> Result<Option<CsvLayout>, IngestError> {
    if feed.format() != Format::Csv {
        return Ok(None);
    }
    let layout_error = |number: Option<u64>, message: String| IngestError::Layout {
        path: file_name.to_string(),
        message: match number {
            Some(n) => format!("line {n} (the header): {message}"),
            None => message,
        },
    };
    let names = match header {
        Some((line, number)) => {
            let mut scratch = feed.scratch();
            Some(
                feed.split_header(line, &mut scratch)
                    .map_err(|m| layout_error(Some(*number), m))?,
            )
        }
        None if feed.definition.csv.header => return Ok(None),
        None => None,
    };
    feed.csv_layout(names.as_deref())
        .map(Some)
        .map_err(|m| layout_error(header.map(|h| h.1), m))
}

/// Parses, enriches, identifies and encodes one batch of records: the work every path (the
/// embedded ingest's threads, a distributed worker) does on a batch before writing it.
pub fn prepare_batch(
    feed: &Feed,
    enricher: &Enricher,
    layout: Option<&CsvLayout>,
    context: &RunContext,
    batch: &RecordBatch,
    scratch: &mut focal_feeds::parse::Scratch,
) -> (Vec<EncodedEvent>, Vec<Rejection>) {
    let mut events = Vec::with_capacity(batch.lines.len());
    let mut rejections = Vec::new();
    feed.parse_batch(
        layout,
        batch,
        context.observed,
        scratch,
        &mut events,
        &mut rejections,
    );
    let mut key_buf = Vec::with_capacity(128);
    let encoded = events
        .into_iter()
        .map(|mut event| {
            enricher.enrich_with(&mut event, feed.definition.enrichment.overwrite);
            event.id = feed.dedup.event_id(&event, &mut key_buf);
            let bucket = feed.dedup.bucket(&event);
            EncodedEvent::new(event, bucket, context)
        })
        .collect();
    (encoded, rejections)
}

fn parse_worker(
    feed: &Feed,
    enricher: &Enricher,
    layout: Option<&CsvLayout>,
    context: &RunContext,
    rx: Receiver<RecordBatch>,
    tx: Sender<Parsed>,
) {
    let mut scratch = feed.scratch();
    for batch in rx {
        let (encoded, rejections) =
            prepare_batch(feed, enricher, layout, context, &batch, &mut scratch);
        let parsed = Parsed {
            seq: batch.seq,
            rows: batch.lines.len() as u64,
            events: encoded,
            rejections,
            end_offset: batch.end_offset,
            end_line: batch.end_line,
        };
        if tx.send(parsed).is_err() {
            return;
        }
    }
}

/// The writer's state: restores file order, drops in-run duplicates, streams rows into the open
/// transaction and commits every `commit_rows` records.
struct Writer<'a> {
    sink: Box<dyn RunWriter + 'a>,
    commit_rows: u64,
    /// Progress including uncommitted rows; saved with each commit.
    progress: RunProgress,
    uncommitted_rows: u64,
    by_kind: BTreeMap<String, u64>,
    /// Batches that arrived before their predecessors.
    pending: HashMap<u64, Parsed>,
    next_seq: u64,
    progress_sink: &'a dyn ProgressSink,
}

impl Writer<'_> {
    fn write_all(&mut self, rx: Receiver<Parsed>) -> Result<(), IngestError> {
        for parsed in rx {
            self.pending.insert(parsed.seq, parsed);
            while let Some(next) = self.pending.remove(&self.next_seq) {
                self.write(next)?;
                self.next_seq += 1;
                if self.uncommitted_rows >= self.commit_rows {
                    self.commit()?;
                }
            }
        }
        if !self.pending.is_empty() {
            return Err(IngestError::Thread(
                "a parse worker stopped before finishing its batches".into(),
            ));
        }
        self.commit()
    }

    fn write(&mut self, parsed: Parsed) -> Result<(), IngestError> {
        let valid = parsed.events.len() as u64;
        let quarantine: Vec<QuarantineEntry> = parsed
            .rejections
            .into_iter()
            .map(|r| {
                *self.by_kind.entry(r.kind.as_str().to_string()).or_default() += 1;
                QuarantineEntry {
                    line: r.line,
                    kind: r.kind.as_str().to_string(),
                    field: r.field,
                    reason: r.reason,
                    raw: r.raw,
                }
            })
            .collect();
        let inserted = self.sink.write(&parsed.events, &quarantine)?;
        let p = &mut self.progress;
        p.rows_read += parsed.rows;
        p.quarantined += quarantine.len() as u64;
        p.events_stored += inserted;
        // Valid records that did not become a new row are duplicates: of an earlier record in
        // this run, or of an event already stored (by an earlier, interrupted run).
        p.duplicates += valid - inserted;
        p.offset = parsed.end_offset;
        p.line = parsed.end_line;
        self.uncommitted_rows += parsed.rows;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), IngestError> {
        self.sink.commit(&self.progress)?;
        self.uncommitted_rows = 0;
        self.progress_sink
            .advance(self.progress.offset, &self.progress);
        Ok(())
    }
}
