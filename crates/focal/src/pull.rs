//! Pulling a registered feed: download it (`focal-fetch`), ingest the file exactly as `focal
//! ingest` does (`focal_pipeline::ingest_file`, then incident grouping), record the attempt in
//! the store, and prune old downloads. `focal feeds pull` and the scheduler in `focal serve` both
//! call [`pull`].
//!
//! Store calls run on blocking threads: the PostgreSQL driver must not be called from an async
//! worker thread, and an ingest is long blocking work anyway.

use crate::commands::ingest::{enricher, ingest_files};
use crate::config::DataDir;
use crate::progress::Progress;
use anyhow::{Context as _, Result};
use focal_feeds::{Pull, Registered, Registry};
use focal_pipeline::{FileSummary, IngestOptions};
use focal_store::{NewPull, PullRecord, PullResult, RunStatus, Store};
use jiff::Timestamp;
use sha2::Digest;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What a pull works with.
#[derive(Clone)]
pub struct Context {
    pub dir: Arc<DataDir>,
    pub store: Arc<dyn Store>,
    /// Log lines instead of a progress bar (a server's background pulls).
    pub quiet: bool,
    /// A server's shutdown: a download in progress is abandoned and an ingest stops at its next
    /// batch, committed and resumable (see `IngestOptions::stop`).
    pub stop: Option<Stop>,
}

/// Rows per commit of a pulled feed's ingest (see where it is used).
const PULL_COMMIT_ROWS: usize = 16_384;

/// How a server tells a pull to stop.
#[derive(Clone)]
pub struct Stop {
    pub flag: Arc<AtomicBool>,
    pub signal: tokio::sync::watch::Receiver<bool>,
}

/// Resolves when `stop` says so; never without one.
async fn stopped(stop: Option<Stop>) {
    match stop {
        Some(mut s) => {
            while !*s.signal.borrow_and_update() {
                if s.signal.changed().await.is_err() {
                    return;
                }
            }
        }
        None => std::future::pending().await,
    }
}

/// What came of asking for a pull.
#[derive(Debug)]
pub enum Attempt {
    /// The attempt was made and recorded.
    Done(Box<Pulled>),
    /// Not attempted now, and why; nothing was recorded.
    Deferred(String),
}

/// A recorded pull, and the ingest's summary when it read a file.
#[derive(Debug)]
pub struct Pulled {
    pub record: PullRecord,
    pub summary: Option<FileSummary>,
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("a blocking task failed")?
}

fn url_sha256(url: &str) -> String {
    hex::encode(sha2::Sha256::digest(url.as_bytes()))
}

/// A sortable, file-name-safe time stamp with milliseconds (two pulls in one second get two
/// names).
fn stamp(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// Holds the feed's download folder for one pull at a time (across processes).
pub(crate) struct FolderLock {
    _file: std::fs::File,
}

pub(crate) fn lock_folder(dir: &Path) -> Result<Option<FolderLock>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(".lock");
    let file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    Ok(file
        .try_lock()
        .is_ok()
        .then_some(FolderLock { _file: file }))
}

/// Pulls one registered feed now. `requested_by` is recorded with the attempt.
pub async fn pull(ctx: &Context, entry: &Registered, requested_by: &str) -> Result<Attempt> {
    let feed = entry.feed.clone();
    let name = feed.name.to_string();
    let Some(settings) = feed.pull.clone() else {
        anyhow::bail!(
            "feed {name:?} has no [pull] table, so it is not downloaded: add one with a url (see docs/FEEDS.md), or ingest its files with `focal ingest`"
        );
    };
    let registry = Registry::new(&ctx.dir.root);
    let folder = registry.downloads(&name);
    let Some(_lock) = lock_folder(&folder)? else {
        return Ok(Attempt::Deferred(format!(
            "another pull of feed {name:?} is running"
        )));
    };
    if let Some(sqlite) = crate::commands::as_sqlite(&*ctx.store)
        && sqlite.ingest_busy()?
    {
        return Ok(Attempt::Deferred(
            "another ingest into this store is running; one ingest runs at a time".into(),
        ));
    }
    // Under the folder lock no other download runs here, so a .part file is a killed one's.
    focal_fetch::remove_partial(&folder);

    let started = Timestamp::now();
    let url_hash = url_sha256(&settings.url);
    let store = ctx.store.clone();
    let (feed_name, hash) = (name.clone(), url_hash.clone());
    let validators = blocking(move || Ok(store.last_good_pull(&feed_name, &hash)?)).await?;
    let mut record = NewPull {
        feed: name.clone(),
        requested_by: requested_by.to_string(),
        started_at: started,
        finished_at: started,
        result: PullResult::Failed,
        http_status: None,
        bytes: None,
        run_id: None,
        error: None,
        url_sha256: Some(url_hash),
        etag: None,
        last_modified: None,
        sha256: None,
    };
    let mut summary = None;
    let fetched = tokio::select! {
        r = download(&ctx.dir, &settings, &folder, validators.as_ref(), started) => r,
        // Dropping the download removes its .part file.
        _ = stopped(ctx.stop.clone()) => Err("stopped: the server is shutting down".to_string()),
    };
    match fetched {
        Err(e) => record.error = Some(e),
        Ok(Fetched::Failed(e)) => {
            record.http_status = e.http_status();
            record.bytes = e.received();
            record.error = Some(e.to_string());
        }
        Ok(Fetched::NotModified(status)) => {
            record.result = PullResult::Unchanged;
            record.http_status = Some(status);
            record.bytes = Some(0);
            // The validators still describe the content: keep them for the next request.
            if let Some(v) = &validators {
                record.etag = v.etag.clone();
                record.last_modified = v.last_modified.clone();
            }
        }
        Ok(Fetched::File(d)) => {
            record.http_status = d.status;
            record.bytes = Some(d.bytes);
            record.etag = d.etag.clone();
            record.last_modified = d.last_modified.clone();
            let (dir, store, quiet) = (ctx.dir.clone(), ctx.store.clone(), ctx.quiet);
            let (feed, path) = (feed.clone(), d.path.clone());
            let options = IngestOptions {
                stop: ctx.stop.as_ref().map(|s| s.flag.clone()),
                // An ingest holds SQLite's write lock from one commit to the next. Inside
                // `focal serve` the web writes too (sign-ins, incident changes), and waits at
                // most the busy timeout, so commit often enough that it never waits long.
                commit_rows: PULL_COMMIT_ROWS,
                ..IngestOptions::default()
            };
            let ingested = blocking(move || {
                let enricher = enricher(&dir, &*store, &[], None)?;
                let progress = if quiet {
                    Progress::log()
                } else {
                    Progress::new()
                };
                let mut s = ingest_files(&*store, &enricher, &feed, &[path], &options, &progress)?;
                let s = s.pop().context("the ingest reported no file")?;
                // The events are stored whatever grouping does; its cursor lets the next
                // grouping (the next ingest, or `focal incidents group`) catch up.
                let grouped = crate::commands::incidents::group_after_ingest(&dir, &*store)
                    .map_err(|e| {
                        format!(
                            "stored, but grouping the new events into incidents failed (the next ingest or `focal incidents group` does it): {e:#}"
                        )
                    });
                Ok((s, grouped.err()))
            })
            .await;
            match ingested {
                Ok((s, grouping)) => {
                    record.error = grouping;
                    record.result = if s.status == RunStatus::AlreadyIngested {
                        PullResult::Unchanged
                    } else {
                        PullResult::Ok
                    };
                    record.run_id = Some(s.run_id);
                    record.sha256 = Some(s.sha256.clone());
                    summary = Some(s);
                }
                Err(e) => {
                    // A run stopped at shutdown is kept and resumed; the pull links to it.
                    record.run_id = e.chain().find_map(|c| match c.downcast_ref() {
                        Some(focal_pipeline::IngestError::Stopped { run_id, .. }) => Some(*run_id),
                        _ => None,
                    });
                    record.error = Some(format!("{e:#}"));
                }
            }
        }
    }
    record.finished_at = Timestamp::now();
    if let Some(e) = &record.error {
        tracing::warn!(feed = %name, result = record.result.as_str(), error = %e, "The feed pull failed or is incomplete.");
    } else {
        tracing::info!(feed = %name, result = record.result.as_str(), bytes = record.bytes, "Feed pulled.");
    }
    let removed = focal_fetch::prune(&folder, settings.keep);
    if !removed.is_empty() {
        tracing::debug!(feed = %name, removed = removed.len(), "Old downloads removed.");
    }
    let store = ctx.store.clone();
    let (feed_name, saved) = (name.clone(), record.clone());
    let record = blocking(move || {
        let id = store.record_pull(&saved)?;
        store
            .pulls(&feed_name, id + 1, 1)?
            .pop()
            .context("the pull just recorded is not there")
    })
    .await?;
    Ok(Attempt::Done(Box::new(Pulled { record, summary })))
}

enum Fetched {
    NotModified(u16),
    File(focal_fetch::Download),
    Failed(focal_fetch::FetchError),
}

/// Downloads into the feed's folder. `Err` is a failure before any request (a missing
/// environment variable, an unwritable folder), as text for the record.
async fn download(
    dir: &DataDir,
    settings: &Pull,
    folder: &Path,
    validators: Option<&PullRecord>,
    started: Timestamp,
) -> Result<Fetched, String> {
    let mut headers = settings.headers.clone();
    for (header, var) in &settings.headers_from_env {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => headers.push((header.clone(), v)),
            _ => {
                return Err(format!(
                    "the environment variable {var} (for the header {header}) is not set in this process"
                ));
            }
        }
    }
    // Checked again now, with symlinks resolved: the file, or a link on its way, may have
    // changed since the feed was added, and a definition may have been put in the registry by
    // hand. The file is then read by the path just checked, not through the links.
    let url = match dir.file_source(&settings.url) {
        Ok(None) => settings.url.clone(),
        Ok(Some(real)) => focal_fetch::file_url(&real)
            .ok_or_else(|| format!("{}: no file URL for this path", real.display()))?,
        Err(e) => return Err(format!("{e:#}")),
    };
    let request = focal_fetch::Request {
        url,
        headers,
        max_bytes: settings.max_bytes,
        timeout: Duration::from_secs(settings.timeout_secs),
        etag: validators.and_then(|v| v.etag.clone()),
        last_modified: validators.and_then(|v| v.last_modified.clone()),
    };
    let name = focal_fetch::file_name(&settings.url, &stamp(started));
    Ok(match focal_fetch::fetch(&request, folder, &name).await {
        Ok(focal_fetch::Outcome::NotModified { status }) => Fetched::NotModified(status),
        Ok(focal_fetch::Outcome::Downloaded(d)) => Fetched::File(d),
        Err(e) => Fetched::Failed(e),
    })
}
