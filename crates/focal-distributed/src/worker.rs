//! `focal worker`: pull chunks, run the embedded pipeline's batch code on them, write each chunk
//! in one transaction, and acknowledge only after the commit.

use crate::chunk::decode;
use crate::queue::{CHUNK_HEADER, JOB_HEADER, QueueConfig};
use crate::{DistributedError, Result};
use async_nats::jetstream::{AckKind, Message};
use focal_enrich::Enricher;
use focal_feeds::Feed;
use focal_feeds::definition::CsvLayout;
use focal_pipeline::{layout_from_header, prepare_batch};
use focal_store::{ChunkOutcome, ChunkWrite, QuarantineEntry, RunContext, Store, StoreError};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Chunks processed at once (each on its own thread and database connection).
    pub concurrency: usize,
    /// Recorded with each chunk it writes.
    pub name: String,
    /// Stop after this long with nothing to do (for batch use and benchmarks); `None`: run until
    /// stopped.
    pub exit_when_idle: Option<Duration>,
}

/// What a worker did, reported when it stops.
#[derive(Debug, Default, serde::Serialize)]
pub struct WorkerStats {
    pub chunks_written: u64,
    /// Redelivered chunks an earlier delivery had already written.
    pub chunks_already_done: u64,
    /// Chunks whose message could not be read, marked failed.
    pub chunks_failed: u64,
    /// Chunks handed back for redelivery after a transient failure (the database was away).
    pub chunks_retried: u64,
    pub events_stored: u64,
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    already_done: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    events: AtomicU64,
}

/// What every chunk of a job shares, built once per job.
struct JobContext {
    feed: Feed,
    layout: Option<CsvLayout>,
    run: RunContext,
}

/// Why a chunk was not written.
enum ChunkError {
    /// It can never be processed: the message or its job is unreadable.
    Permanent(String),
    /// Try again later (another delivery).
    Transient(String),
}

impl From<StoreError> for ChunkError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            ChunkError::Transient(e.to_string())
        } else {
            // A database error that is not a lost connection or a lost race is unexpected;
            // it is retried rather than dropped, and logged each time.
            ChunkError::Transient(format!("unexpected database error: {e}"))
        }
    }
}

struct Shared {
    store: Arc<dyn Store>,
    enricher: Arc<Enricher>,
    jobs: Mutex<HashMap<i64, Arc<JobContext>>>,
    counters: Counters,
    name: String,
    ack_wait: Duration,
}

/// Runs until `shutdown` resolves (or, with `exit_when_idle`, until there is nothing to do);
/// chunks in progress are finished first.
pub async fn run_worker(
    store: Arc<dyn Store>,
    enricher: Arc<Enricher>,
    queue: &QueueConfig,
    options: &WorkerOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<WorkerStats> {
    if store.jobs().is_none() {
        return Err(DistributedError::Invalid(format!(
            "workers need PostgreSQL, and the store is {}: pass --database postgres://...",
            store.describe()
        )));
    }
    let (_client, js) = queue.connect().await?;
    let consumer = queue.consumer(&js).await?;
    let shared = Arc::new(Shared {
        store,
        enricher,
        jobs: Mutex::new(HashMap::new()),
        counters: Counters::default(),
        name: options.name.clone(),
        ack_wait: queue.ack_wait,
    });
    let concurrency = options.concurrency.max(1);
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut last_work = Instant::now();
    let mut backoff = Duration::from_millis(200);
    tracing::info!(worker = %options.name, stream = %queue.stream, concurrency, "Worker started.");
    tokio::pin!(shutdown);
    loop {
        while tasks.try_join_next().is_some() {}
        if let Some(idle) = options.exit_when_idle
            && tasks.is_empty()
            && last_work.elapsed() >= idle
        {
            tracing::info!("Nothing to do; stopping.");
            break;
        }
        // Wait for a free slot (or shutdown) before asking for more chunks.
        let free = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => {
                drop(permit);
                permits.available_permits()
            }
        };
        let fetch = consumer
            .fetch()
            .max_messages(free.max(1))
            .expires(Duration::from_secs(1))
            .messages();
        let mut batch = tokio::select! {
            _ = &mut shutdown => break,
            batch = fetch => match batch {
                Ok(b) => { backoff = Duration::from_millis(200); b }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "Cannot fetch chunks from NATS; retrying.");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            }
        };
        while let Some(message) = batch.next().await {
            match message {
                Ok(message) => {
                    last_work = Instant::now();
                    let permit = permits.clone().acquire_owned().await;
                    let shared = shared.clone();
                    tasks.spawn(async move {
                        let _permit = permit;
                        handle(&shared, message).await;
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Receiving a chunk failed.");
                    break;
                }
            }
        }
        if !tasks.is_empty() {
            last_work = Instant::now();
        }
    }
    while tasks.join_next().await.is_some() {}
    let c = &shared.counters;
    Ok(WorkerStats {
        chunks_written: c.written.load(Ordering::Relaxed),
        chunks_already_done: c.already_done.load(Ordering::Relaxed),
        chunks_failed: c.failed.load(Ordering::Relaxed),
        chunks_retried: c.retried.load(Ordering::Relaxed),
        events_stored: c.events.load(Ordering::Relaxed),
    })
}

fn header_number<T: std::str::FromStr>(message: &Message, name: &str) -> Option<T> {
    message.headers.as_ref()?.get(name)?.as_str().parse().ok()
}

async fn handle(shared: &Arc<Shared>, message: Message) {
    let (Some(job_id), Some(chunk_no)) = (
        header_number::<i64>(&message, JOB_HEADER),
        header_number::<u32>(&message, CHUNK_HEADER),
    ) else {
        tracing::error!(subject = %message.subject, "A message without Focal-Job and Focal-Chunk headers is not a chunk; discarding it.");
        let _ = message.ack_with(AckKind::Term).await;
        return;
    };
    let work = {
        let shared = shared.clone();
        let payload = message.payload.clone();
        tokio::task::spawn_blocking(move || process(&shared, job_id, chunk_no, &payload))
    };
    tokio::pin!(work);
    // Tell NATS the chunk is still being worked on, so a slow chunk is not redelivered.
    let mut ticker = tokio::time::interval((shared.ack_wait / 3).max(Duration::from_millis(500)));
    ticker.tick().await;
    let result = loop {
        tokio::select! {
            r = &mut work => break r,
            _ = ticker.tick() => { let _ = message.ack_with(AckKind::Progress).await; }
        }
    };
    let result = result.unwrap_or_else(|e| {
        Err(ChunkError::Transient(format!(
            "the chunk's thread stopped: {e}"
        )))
    });
    let c = &shared.counters;
    match result {
        Ok(outcome) => {
            match outcome {
                ChunkOutcome::Written {
                    events_stored,
                    job_completed,
                } => {
                    c.written.fetch_add(1, Ordering::Relaxed);
                    c.events.fetch_add(events_stored, Ordering::Relaxed);
                    tracing::debug!(
                        job = job_id,
                        chunk = chunk_no,
                        events_stored,
                        "Chunk written."
                    );
                    if job_completed {
                        tracing::info!(job = job_id, "Job completed.");
                    }
                }
                ChunkOutcome::AlreadyDone => {
                    c.already_done.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        job = job_id,
                        chunk = chunk_no,
                        "Chunk was already written by an earlier delivery."
                    );
                }
            }
            // If this acknowledgement is lost, the redelivery finds the chunk done.
            if let Err(e) = message.double_ack().await {
                tracing::warn!(job = job_id, chunk = chunk_no, error = %e, "Acknowledging a written chunk failed; its redelivery will be skipped.");
            }
        }
        Err(ChunkError::Permanent(reason)) => {
            c.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(job = job_id, chunk = chunk_no, %reason, "Chunk cannot be processed; marking it failed.");
            let store = shared.store.clone();
            let why = reason.clone();
            let marked = tokio::task::spawn_blocking(move || match store.jobs() {
                Some(jobs) => jobs.fail_chunk(job_id, chunk_no, &why),
                None => Ok(()),
            })
            .await;
            if matches!(marked, Ok(Ok(()))) {
                let _ = message.ack_with(AckKind::Term).await;
            } else {
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(5))))
                    .await;
            }
        }
        Err(ChunkError::Transient(reason)) => {
            c.retried.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(job = job_id, chunk = chunk_no, %reason, "Chunk not written; it will be redelivered.");
            let _ = message
                .ack_with(AckKind::Nak(Some(Duration::from_secs(2))))
                .await;
        }
    }
}

fn job_context(shared: &Shared, job_id: i64) -> Result<Arc<JobContext>, ChunkError> {
    if let Some(ctx) = shared
        .jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get(&job_id)
    {
        return Ok(ctx.clone());
    }
    let jobs = shared
        .store
        .jobs()
        .ok_or_else(|| ChunkError::Permanent("the store has no job table".into()))?;
    let job = jobs
        .job(job_id)?
        .ok_or_else(|| ChunkError::Permanent(format!("job {job_id} does not exist")))?;
    let source = format!("the feed definition of job {job_id}");
    let feed = Feed::from_toml(&job.feed_definition, &source)
        .map_err(|e| ChunkError::Permanent(e.to_string()))?;
    let layout = layout_from_header(&feed, job.header.as_ref(), &job.file_name)
        .map_err(|e| ChunkError::Permanent(e.to_string()))?;
    let observed = jiff::Timestamp::from_microsecond(job.observed)
        .map_err(|e| ChunkError::Permanent(format!("job {job_id}: bad observation time: {e}")))?;
    let ctx = Arc::new(JobContext {
        run: RunContext {
            feed_name: feed.name.clone(),
            feed_provider: job.feed_provider.as_deref().map(Into::into),
            feed_url: job.feed_url.as_deref().map(Into::into),
            observed,
        },
        feed,
        layout,
    });
    shared
        .jobs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(job_id, ctx.clone());
    Ok(ctx)
}

fn process(
    shared: &Shared,
    job_id: i64,
    chunk_no: u32,
    payload: &[u8],
) -> Result<ChunkOutcome, ChunkError> {
    let ctx = job_context(shared, job_id)?;
    let batch = decode(payload).map_err(|reason| {
        ChunkError::Permanent(format!("chunk {chunk_no} of job {job_id}: {reason}"))
    })?;
    let mut scratch = ctx.feed.scratch();
    let (events, rejections) = prepare_batch(
        &ctx.feed,
        &shared.enricher,
        ctx.layout.as_ref(),
        &ctx.run,
        &batch,
        &mut scratch,
    );
    let rejections: Vec<QuarantineEntry> = rejections
        .into_iter()
        .map(|r| QuarantineEntry {
            line: r.line,
            kind: r.kind.as_str().to_string(),
            field: r.field,
            reason: r.reason,
            raw: r.raw,
        })
        .collect();
    let jobs = shared
        .store
        .jobs()
        .ok_or_else(|| ChunkError::Permanent("the store has no job table".into()))?;
    Ok(jobs.write_chunk(&ChunkWrite {
        job_id,
        chunk_no,
        worker: &shared.name,
        events: &events,
        rejections: &rejections,
        rows_read: batch.lines.len() as u64,
    })?)
}
