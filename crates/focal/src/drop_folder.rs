//! Watched drop folders (`[drop]` in a definition, `focal feeds watch`): files delivered by rsync
//! or scp into `DATA/drop/<feed>/` are ingested once they are complete, then moved to `done/`
//! (or `failed/`, with a `.reason` file beside them).
//!
//! Complete means: not a dotfile (rsync writes `.name.XXXXXX` and renames it when whole), and
//! the same size and modification time in two scans at least `drop.quiet` apart (scp writes in
//! place). Restart-safe without state of its own: a file is moved only after its ingest
//! finished, and an ingest is keyed by the file's SHA-256, so a file whose ingest was killed
//! midway is resumed by the next scan (the store's interrupted run), and one ingested but not yet
//! moved is found already ingested and only moved.

use crate::commands::ingest::{enricher, ingest_files};
use crate::config::DataDir;
use crate::progress::Progress;
use anyhow::{Context, Result};
use focal_enrich::Enricher;
use focal_feeds::{Feed, Registry};
use focal_pipeline::IngestOptions;
use focal_store::{RunStatus, Store};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Directory entries looked at per folder and scan: a folder flooded with files is worked
/// through a bounded slice at a time.
pub const MAX_ENTRIES: usize = 10_000;

/// What became of one file.
#[derive(Debug, Serialize)]
pub struct Taken {
    pub feed: String,
    pub file: String,
    /// `done`, `failed` or `already_ingested` (moved to done/ without new events).
    pub outcome: String,
    pub run_id: Option<i64>,
    /// The interrupted run this ingest resumed (a file whose earlier ingest was killed).
    pub resumed_from: Option<i64>,
    pub events_stored: Option<u64>,
    pub reason: Option<String>,
    pub moved_to: String,
}

/// Remembers what each scan saw, to take only files that stayed unchanged.
#[derive(Default)]
pub struct Watcher {
    seen: HashMap<PathBuf, (u64, SystemTime, Instant)>,
}

/// `DATA/drop/<feed>/`.
pub fn folder(dir: &DataDir, feed: &str) -> PathBuf {
    dir.root.join("drop").join(feed)
}

/// `dir/name`, or `dir/name.<n>` when that is taken.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{name}.{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

fn move_to(path: &Path, dir: &Path) -> Result<PathBuf> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = free_name(dir, &name);
    std::fs::rename(path, &target)
        .with_context(|| format!("moving {} to {}", path.display(), target.display()))?;
    Ok(target)
}

impl Watcher {
    /// One scan of every registered feed with `[drop]`: notes what changed, ingests what is
    /// complete. Returns what was taken.
    pub fn scan(&mut self, dir: &DataDir, store: &dyn Store) -> Result<Vec<Taken>> {
        self.scan_until(dir, store, None)
    }

    /// [`Watcher::scan`], with a flag that stops an ingest at its next batch (committed, and
    /// resumed by a later scan) and takes no further file.
    pub fn scan_until(
        &mut self,
        dir: &DataDir,
        store: &dyn Store,
        stop: Option<Arc<AtomicBool>>,
    ) -> Result<Vec<Taken>> {
        let registry = Registry::new(&dir.root);
        let mut taken = Vec::new();
        let mut present = std::collections::HashSet::new();
        let mut enrich: Option<Enricher> = None;
        for entry in registry.list()? {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "A registered definition is not usable; its drop folder is not watched.");
                    continue;
                }
            };
            let feed = &entry.feed;
            let Some(settings) = feed.drop.clone() else {
                continue;
            };
            let name = feed.name.to_string();
            let folder = folder(dir, &name);
            for sub in ["done", "failed"] {
                std::fs::create_dir_all(folder.join(sub))
                    .with_context(|| format!("creating {}", folder.join(sub).display()))?;
            }
            // One watcher per folder at a time (across processes).
            let Some(_lock) = crate::pull::lock_folder(&folder)? else {
                continue;
            };
            let now = Instant::now();
            let quiet = Duration::from_secs(settings.quiet_secs);
            let mut ready = Vec::new();
            let listing = std::fs::read_dir(&folder)
                .with_context(|| format!("reading {}", folder.display()))?;
            for item in listing.take(MAX_ENTRIES) {
                let item = item.with_context(|| format!("reading {}", folder.display()))?;
                let file_name = item.file_name().to_string_lossy().into_owned();
                // Dotfiles are transfers in progress (rsync) or ours (.lock).
                if file_name.starts_with('.') {
                    continue;
                }
                let path = item.path();
                let meta = match std::fs::symlink_metadata(&path) {
                    Ok(m) => m,
                    Err(_) => continue,
                };
                if meta.file_type().is_symlink() {
                    taken.push(fail(
                        &folder,
                        &name,
                        &path,
                        "a symbolic link: only files delivered into the folder are ingested",
                    )?);
                    continue;
                }
                if !meta.is_file() {
                    continue;
                }
                present.insert(path.clone());
                let state = (
                    meta.len(),
                    meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                );
                match self.seen.get(&path) {
                    Some((len, mtime, since))
                        if (*len, *mtime) == state && now.duration_since(*since) >= quiet =>
                    {
                        ready.push(path)
                    }
                    Some((len, mtime, _)) if (*len, *mtime) == state => {}
                    _ => {
                        self.seen.insert(path, (state.0, state.1, now));
                    }
                }
            }
            ready.sort();
            ready.truncate(settings.max_files);
            for path in ready {
                if stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
                    break;
                }
                if let Some(sqlite) = crate::commands::as_sqlite(store)
                    && sqlite.ingest_busy()?
                {
                    tracing::info!(feed = %name, "Another ingest is running; the drop folder waits for the next scan.");
                    break;
                }
                if enrich.is_none() {
                    enrich = Some(enricher(dir, store, &[], None)?);
                }
                let enricher = enrich.as_ref().context("the enrichment tables")?;
                self.seen.remove(&path);
                if let Some(t) = take(dir, store, enricher, feed, &folder, &path, stop.clone())? {
                    taken.push(t);
                }
            }
        }
        self.seen.retain(|p, _| present.contains(p));
        Ok(taken)
    }
}

fn fail(folder: &Path, feed: &str, path: &Path, reason: &str) -> Result<Taken> {
    let target = move_to(path, &folder.join("failed"))?;
    let reason_file = PathBuf::from(format!("{}.reason", target.display()));
    std::fs::write(&reason_file, format!("{reason}\n"))
        .with_context(|| format!("writing {}", reason_file.display()))?;
    tracing::warn!(feed, file = %path.display(), reason, "A dropped file failed.");
    Ok(Taken {
        feed: feed.to_string(),
        file: path.display().to_string(),
        outcome: "failed".into(),
        run_id: None,
        resumed_from: None,
        events_stored: None,
        reason: Some(reason.to_string()),
        moved_to: target.display().to_string(),
    })
}

/// Ingests one complete file and moves it. `None`: stopped midway, left for the next scan.
fn take(
    dir: &DataDir,
    store: &dyn Store,
    enricher: &Enricher,
    feed: &Feed,
    folder: &Path,
    path: &Path,
    stop: Option<Arc<AtomicBool>>,
) -> Result<Option<Taken>> {
    let name = feed.name.to_string();
    let options = IngestOptions {
        stop,
        ..IngestOptions::default()
    };
    match ingest_files(
        store,
        enricher,
        feed,
        &[path.to_path_buf()],
        &options,
        &Progress::log(),
    ) {
        Ok(mut summaries) => {
            let s = summaries.pop().context("the ingest reported no file")?;
            if let Err(e) = crate::commands::incidents::group_after_ingest(dir, store) {
                tracing::warn!(error = %format!("{e:#}"), "Stored, but grouping the new events into incidents failed (the next ingest or `focal incidents group` does it).");
            }
            let target = move_to(path, &folder.join("done"))?;
            let outcome = if s.status == RunStatus::AlreadyIngested {
                "already_ingested"
            } else {
                "done"
            };
            tracing::info!(feed = %name, file = %path.display(), outcome, run = s.run_id, "Dropped file ingested.");
            Ok(Some(Taken {
                feed: name,
                file: path.display().to_string(),
                outcome: outcome.into(),
                run_id: Some(s.run_id),
                resumed_from: s.resumed_from,
                events_stored: Some(s.events_stored),
                reason: None,
                moved_to: target.display().to_string(),
            }))
        }
        Err(e) => {
            let stopped = e.chain().any(|c| {
                matches!(
                    c.downcast_ref(),
                    Some(focal_pipeline::IngestError::Stopped { .. })
                )
            });
            // Stopped: resumed by a later scan. Gone (taken away while it was read): nothing to
            // move.
            if stopped || !path.exists() {
                return Ok(None);
            }
            fail(folder, &name, path, &format!("{e:#}")).map(Some)
        }
    }
}
