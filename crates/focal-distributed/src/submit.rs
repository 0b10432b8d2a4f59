//! `focal submit`: cut a feed file into chunks, record them, and publish them to the queue.

use crate::chunk::{Chunk, Chunker};
use crate::queue::{CHUNK_HEADER, JOB_HEADER, QueueConfig};
use crate::{DistributedError, Result};
use focal_feeds::{Feed, RecordReader};
use focal_pipeline::{read_layout, sha256_file};
use focal_store::{ChunkSpec, JobRecord, JobStore, NewJob, NewRun, RunProgress, RunStatus, Store};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// At most this many records per chunk.
    pub chunk_records: u32,
    /// At most this many bytes per chunk message; `None`: as much as the NATS server accepts.
    pub chunk_bytes: Option<u32>,
    /// Submit even if the same content was already ingested for this feed.
    pub force: bool,
    /// How long to keep retrying a publication while NATS is unreachable.
    pub publish_timeout: Duration,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        SubmitOptions {
            chunk_records: 20_000,
            chunk_bytes: None,
            force: false,
            publish_timeout: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct SubmitOutcome {
    pub file: String,
    pub feed: String,
    pub sha256: String,
    /// The completed run that already holds this content, when nothing was submitted.
    pub already_ingested: Option<i64>,
    pub job: Option<JobRecord>,
    /// Whether an unfinished job for the same content was continued.
    pub resumed: bool,
    pub chunks_published: u32,
    /// Chunks of a resumed job that were already done.
    pub chunks_skipped: u32,
}

/// Submits one file. Chunk records are written before each publication, so a submitter killed
/// half-way is resumed by running it again: done chunks are skipped, the rest republished.
pub async fn submit(
    store: Arc<dyn Store>,
    queue: &QueueConfig,
    feed_path: &Path,
    file: &Path,
    options: &SubmitOptions,
) -> Result<SubmitOutcome> {
    if store.jobs().is_none() {
        return Err(DistributedError::Invalid(format!(
            "the distributed pipeline needs PostgreSQL, and the store is {}: pass \
             --database postgres://...",
            store.describe()
        )));
    }
    let (client, js) = queue.connect().await?;
    let server_max = client.server_info().max_payload as u32;
    let chunk_bytes = options
        .chunk_bytes
        .unwrap_or(server_max.saturating_sub(4096))
        .min(server_max.saturating_sub(1024))
        .min(8 << 20);
    let handle = tokio::runtime::Handle::current();
    let queue = queue.clone();
    let (feed_path, file, options) = (feed_path.to_path_buf(), file.to_path_buf(), options.clone());
    tokio::task::spawn_blocking(move || {
        let publish = |id: &str, spec: &ChunkSpec, payload: Vec<u8>| {
            handle.block_on(publish_chunk(
                &js,
                &queue,
                id,
                spec,
                payload,
                options.publish_timeout,
            ))
        };
        submit_blocking(&*store, &feed_path, &file, &options, chunk_bytes, &publish)
    })
    .await
    .map_err(|e| DistributedError::Invalid(format!("the submitter stopped: {e}")))?
}

async fn publish_chunk(
    js: &async_nats::jetstream::Context,
    queue: &QueueConfig,
    message_id: &str,
    spec: &ChunkSpec,
    payload: Vec<u8>,
    timeout: Duration,
) -> Result<()> {
    let payload = bytes::Bytes::from(payload);
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(JOB_HEADER, spec.job_id.to_string().as_str());
        headers.insert(CHUNK_HEADER, spec.chunk_no.to_string().as_str());
        // JetStream drops a second publication with the same id (within the duplicate window).
        headers.insert("Nats-Msg-Id", message_id);
        let attempt = async {
            js.publish_with_headers(queue.subject(spec.job_id), headers, payload.clone())
                .await
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())
        };
        match attempt.await {
            Ok(_ack) => return Ok(()),
            Err(e) if started.elapsed() < timeout => {
                tracing::warn!(job = spec.job_id, chunk = spec.chunk_no, error = %e, retry_in_ms = delay.as_millis() as u64, "Publishing a chunk failed; retrying.");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(queue.error(
                    &format!(
                        "publishing chunk {} of job {} (gave up after {:?})",
                        spec.chunk_no, spec.job_id, timeout
                    ),
                    e,
                ));
            }
        }
    }
}

/// Publishes one chunk: (message id, chunk, payload).
type Publisher<'a> = dyn Fn(&str, &ChunkSpec, Vec<u8>) -> Result<()> + 'a;

fn submit_blocking(
    store: &dyn Store,
    feed_path: &Path,
    file: &Path,
    options: &SubmitOptions,
    chunk_bytes: u32,
    publish: &Publisher<'_>,
) -> Result<SubmitOutcome> {
    let jobs: &dyn JobStore = store
        .jobs()
        .ok_or_else(|| DistributedError::Invalid("the store has no job table".into()))?;
    let file_name = file.display().to_string();
    let io = |source| focal_pipeline::IngestError::Io {
        path: file_name.clone(),
        source,
    };
    let definition_text =
        std::fs::read_to_string(feed_path).map_err(|source| focal_pipeline::IngestError::Io {
            path: feed_path.display().to_string(),
            source,
        })?;
    let feed = Feed::from_toml(&definition_text, &feed_path.display().to_string())
        .map_err(|e| DistributedError::Invalid(e.to_string()))?;
    let feed_name = feed.name.to_string();
    // Workers compile the definition text alone and never see the file, so a time taken from
    // the file's header or name would be lost: refused rather than silently dropped.
    if feed.file_time(file).map_err(io)?.is_some() {
        return Err(DistributedError::Invalid(format!(
            "{file_name}: the definition takes time.source from the file (time.header or time.file_name), which distributed ingest does not carry yet; use focal ingest"
        )));
    }
    let (sha256, size) = sha256_file(file).map_err(io)?;
    let mut outcome = SubmitOutcome {
        file: file_name.clone(),
        feed: feed_name.clone(),
        sha256: sha256.clone(),
        already_ingested: None,
        job: None,
        resumed: false,
        chunks_published: 0,
        chunks_skipped: 0,
    };
    if !options.force
        && let Some(run) = store.find_run(&sha256, &feed_name)?
        && run.status == RunStatus::Completed
    {
        tracing::info!(file = %file_name, run = run.id, "File already ingested for this feed; nothing to submit.");
        outcome.already_ingested = Some(run.id);
        return Ok(outcome);
    }

    let layout = read_layout(&feed, file, &file_name)?;
    let existing = if options.force {
        None
    } else {
        jobs.unfinished_job(&sha256, &feed_name)?
    };
    let job = match existing {
        Some(job) => {
            outcome.resumed = true;
            tracing::info!(job = job.id, "Continuing an unfinished job for this file.");
            job
        }
        None => jobs.create_job(&NewJob {
            run: NewRun {
                feed: feed_name.clone(),
                feed_provider: feed.definition.provider.clone(),
                feed_url: feed.definition.url.clone(),
                observed: jiff::Timestamp::now(),
                file_name: file_name.clone(),
                sha256: sha256.clone(),
                size,
                resumed_from: None,
                progress: RunProgress::default(),
                status: RunStatus::Running,
            },
            feed_definition: definition_text.clone(),
            header: layout.header.clone(),
            chunk_records: options.chunk_records.max(1),
            chunk_bytes,
        })?,
    };
    let done: HashMap<u32, String> = jobs
        .chunks(job.id)?
        .into_iter()
        .map(|c| (c.chunk_no, c.status))
        .collect();

    let handle = focal_feeds::input::open_at(&feed, file, layout.header_end).map_err(io)?;
    let mut reader = RecordReader::new(
        handle,
        feed.skip_rules(),
        layout.header_end,
        layout.header_line,
    );
    // A resumed job is cut exactly as it was the first time, so chunk numbers mean the same.
    let mut chunker = Chunker::new(job.chunk_records, job.chunk_bytes as usize);
    let mut chunk_no = 0u32;
    let mut send = |chunk: Chunk| -> Result<()> {
        let spec = ChunkSpec {
            job_id: job.id,
            chunk_no,
            first_line: chunk.first_line,
            last_line: chunk.last_line,
            records: chunk.records,
            bytes: chunk.payload.len() as u32,
        };
        chunk_no += 1;
        if done.get(&spec.chunk_no).is_some_and(|s| s != "queued") {
            outcome.chunks_skipped += 1;
            return Ok(());
        }
        jobs.record_chunk(&spec)?;
        // Unique across databases sharing the stream (job ids restart in each), stable across a
        // resumed submit of the same job.
        let message_id = format!(
            "{}-{}-{}-{}",
            job.sha256, job.id, job.created_at, spec.chunk_no
        );
        publish(&message_id, &spec, chunk.payload)?;
        outcome.chunks_published += 1;
        if outcome.chunks_published.is_multiple_of(50) {
            tracing::info!(
                job = job.id,
                chunks = outcome.chunks_published,
                "Chunks published."
            );
        }
        Ok(())
    };
    while let Some(batch) = reader.next_batch(16_384).map_err(io)? {
        chunker.add(&batch, &mut send)?;
    }
    if let Some(last) = chunker.finish() {
        send(last)?;
    }
    let total = chunk_no;
    outcome.job = Some(jobs.chunks_published(job.id, total)?);
    Ok(outcome)
}

/// Waits until the job is completed, calling `progress` with its state about twice a second.
pub async fn wait_for_job(
    store: Arc<dyn Store>,
    job_id: i64,
    progress: &(dyn Fn(&JobRecord) + Sync),
) -> Result<JobRecord> {
    loop {
        let s = store.clone();
        let job = tokio::task::spawn_blocking(move || match s.jobs() {
            Some(jobs) => jobs.job(job_id),
            None => Ok(None),
        })
        .await
        .map_err(|e| DistributedError::Invalid(e.to_string()))??
        .ok_or_else(|| DistributedError::Invalid(format!("job {job_id} does not exist")))?;
        progress(&job);
        if job.status == focal_store::JobStatus::Completed {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The path of a file, made absolute for the job record when possible.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
