//! The background workers of `focal serve`: scheduled feed pulls, notifications, peer sync and
//! drop folders.
//!
//! Each worker is a task on the server's runtime that does its blocking work on blocking
//! threads. A round that fails is logged and counted (`focal_worker_failures_total`) and the
//! worker carries on: nothing a worker meets stops the server. Every worker watches the shutdown
//! signal and returns as soon as it changes, also in the middle of a round; what it leaves is
//! safe by construction (a download is a `.part` file until complete, an ingest resumes from its
//! last commit, a notification in `sending` is sent again with the same Message-ID).

use crate::commands::audit::actor;
use crate::config::DataDir;
use crate::pull::{self, Attempt};
use anyhow::{Context as _, Result};
use focal_feeds::Registry;
use focal_store::{PullResult, SqliteStore};
use jiff::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Intervals in seconds; 0: the worker does not run.
#[derive(Debug, Clone, Copy)]
pub struct Intervals {
    pub feeds: u64,
    pub notify: u64,
    pub sync: u64,
    pub drop: u64,
}

/// Starts the workers whose interval is not 0. Returns their handles and, when scheduled feed
/// pulls run, the way to hand the scheduler a feed to pull now.
pub fn start(
    rt: &tokio::runtime::Runtime,
    dir: Arc<DataDir>,
    store: Arc<SqliteStore>,
    settings: focal_sharing::settings::NodeSettings,
    every: Intervals,
    shutdown: watch::Receiver<bool>,
) -> (
    Vec<JoinHandle<()>>,
    Option<mpsc::Sender<focal_server::PullNow>>,
) {
    let mut handles = Vec::new();
    let mut pull_now = None;
    if every.feeds > 0 {
        let (tx, rx) = mpsc::channel(16);
        pull_now = Some(tx);
        // The ingest checks a flag between batches (it runs on a plain thread); raise it when
        // shutdown is signalled.
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (raise, mut signal) = (flag.clone(), shutdown.clone());
        rt.spawn(async move {
            let _ = signal.changed().await;
            raise.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        let ctx = pull::Context {
            dir: dir.clone(),
            store: store.clone(),
            quiet: true,
            stop: Some(pull::Stop {
                flag,
                signal: shutdown.clone(),
            }),
        };
        handles.push(rt.spawn(feeds(ctx, every.feeds, rx, shutdown.clone())));
    }
    if every.notify > 0 {
        handles.push(rt.spawn(notify(
            dir.clone(),
            store.clone(),
            every.notify,
            shutdown.clone(),
        )));
    }
    if every.drop > 0 {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (raise, mut signal) = (flag.clone(), shutdown.clone());
        rt.spawn(async move {
            let _ = signal.changed().await;
            raise.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        handles.push(rt.spawn(drops(
            dir.clone(),
            store.clone(),
            every.drop,
            flag,
            shutdown.clone(),
        )));
    }
    if every.sync > 0 {
        handles.push(rt.spawn(sync(store, settings, every.sync, shutdown)));
    }
    tracing::info!(
        feeds_every = every.feeds,
        notify_every = every.notify,
        sync_every = every.sync,
        drop_every = every.drop,
        "Background workers started (0: off)."
    );
    (handles, pull_now)
}

fn counted(worker: &'static str, ok: bool) {
    metrics::counter!("focal_worker_runs_total", "worker" => worker).increment(1);
    if !ok {
        metrics::counter!("focal_worker_failures_total", "worker" => worker).increment(1);
    }
}

/// True once shutdown has been asked for (or its sender is gone).
fn stopping(shutdown: &watch::Receiver<bool>) -> bool {
    *shutdown.borrow() || shutdown.has_changed().is_err()
}

/// The feed scheduler: re-reads the registry at least every `scan_every` seconds, pulls each feed
/// whose `[pull] every` has passed since its last attempt (never pulled: at once), and pulls a feed
/// handed to it by the web UI. One pull at a time.
async fn feeds(
    ctx: pull::Context,
    scan_every: u64,
    mut requests: mpsc::Receiver<focal_server::PullNow>,
    mut shutdown: watch::Receiver<bool>,
) {
    let registry = Registry::new(&ctx.dir.root);
    let scan = Duration::from_secs(scan_every);
    let scan_span = seconds(scan_every);
    // Feeds put off (another ingest ran, or the round failed) and when to try them again, so a
    // long `focal ingest` is not polled every second and is reported once, not every round.
    let mut later: BTreeMap<String, Timestamp> = BTreeMap::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    while !stopping(&shutdown) {
        let now = Timestamp::now();
        let mut wake = now.checked_add(scan_span).unwrap_or(Timestamp::MAX);
        match due_feeds(&ctx, &registry, &mut reported).await {
            Err(e) => {
                counted("feeds", false);
                tracing::error!(error = %format!("{e:#}"), "The feed scheduler could not read the registry or the store; trying again.");
            }
            Ok(schedule) => {
                for (entry, due) in schedule {
                    let name = entry.name().to_string();
                    let retry = later.get(&name).copied();
                    let due = retry.map_or(due, |r| r.max(due));
                    if due > Timestamp::now() {
                        wake = wake.min(due);
                        continue;
                    }
                    // Not raced against shutdown: a pull stops by itself then (see
                    // `pull::Context::stop`), and records how far it got.
                    let outcome = pull::pull(&ctx, &entry, "schedule").await;
                    let retry_at = Timestamp::now()
                        .checked_add(scan_span)
                        .unwrap_or(Timestamp::MAX);
                    match outcome {
                        Ok(Attempt::Done(done)) => {
                            later.remove(&name);
                            counted("feeds", done.record.result != PullResult::Failed);
                            // The next one is `every` after this attempt.
                            if let Some(next) = entry.feed.pull.as_ref().and_then(|p| {
                                p.next_due(done.record.finished_at.parse().ok(), Timestamp::now())
                            }) {
                                wake = wake.min(next);
                            }
                        }
                        Ok(Attempt::Deferred(reason)) => {
                            metrics::counter!("focal_feed_pulls_deferred_total", "feed" => name.clone())
                                .increment(1);
                            if !later.contains_key(&name) {
                                tracing::info!(feed = %name, reason = %reason, retry_in_secs = scan_every, "A scheduled pull is due but put off: trying again at the next tick.");
                            }
                            later.insert(name, retry_at);
                            wake = wake.min(retry_at);
                        }
                        Err(e) => {
                            counted("feeds", false);
                            tracing::error!(feed = %name, error = %format!("{e:#}"), "A scheduled pull failed and could not be recorded; trying again at the next tick.");
                            later.insert(name, retry_at);
                            wake = wake.min(retry_at);
                        }
                    }
                    if stopping(&shutdown) {
                        return;
                    }
                }
            }
        }
        // At least a second between rounds, so a store that keeps failing is not hammered.
        let wait = (wake - Timestamp::now())
            .try_into()
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_secs(1), scan.max(Duration::from_secs(1)));
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            Some(req) = requests.recv() => requested(&ctx, &registry, req).await,
            _ = shutdown.changed() => return,
        }
    }
}

/// Every registered feed with a schedule, and when it is due.
async fn due_feeds(
    ctx: &pull::Context,
    registry: &Registry,
    reported: &mut BTreeSet<String>,
) -> Result<Vec<(focal_feeds::Registered, Timestamp)>> {
    let entries = registry.list()?;
    let store = ctx.store.clone();
    let last = tokio::task::spawn_blocking(move || store.latest_pulls())
        .await
        .context("reading the last pulls")??;
    let now = Timestamp::now();
    let mut out = Vec::new();
    let mut problems = BTreeSet::new();
    for entry in entries {
        match entry {
            Ok(e) => {
                let last = last
                    .iter()
                    .find(|p| p.feed == e.name())
                    .and_then(|p| p.finished_at.parse::<Timestamp>().ok());
                if let Some(due) = e.feed.pull.as_ref().and_then(|p| p.next_due(last, now)) {
                    out.push((e, due));
                }
            }
            Err(e) => {
                let text = e.to_string();
                if !reported.contains(&text) {
                    tracing::warn!(problem = %text, "A registered feed definition is not usable; it is not pulled until it is fixed.");
                }
                problems.insert(text);
            }
        }
    }
    // Reported once while broken; again if it breaks again after a fix.
    *reported = problems;
    Ok(out)
}

async fn requested(ctx: &pull::Context, registry: &Registry, req: focal_server::PullNow) {
    let entry = match registry.get(&req.feed) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(feed = %req.feed, error = %e, "A pull asked for in the web UI cannot be made.");
            return;
        }
    };
    match pull::pull(ctx, &entry, &req.requested_by).await {
        Ok(Attempt::Done(done)) => counted("feeds", done.record.result != PullResult::Failed),
        Ok(Attempt::Deferred(reason)) => {
            tracing::warn!(feed = %req.feed, reason = %reason, requested_by = %req.requested_by, "A pull asked for in the web UI was not made now.")
        }
        Err(e) => {
            counted("feeds", false);
            tracing::error!(feed = %req.feed, error = %format!("{e:#}"), "A pull asked for in the web UI failed.");
        }
    }
}

/// `secs` as a span of time (intervals are checked against `MAX_INTERVAL_SECS` when read; this
/// saturates rather than wraps all the same).
fn seconds(secs: u64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_secs(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// A tick every `every` seconds, the first one `every` seconds from now: a server that starts
/// does not send mail or call peers before anyone has looked at it.
fn ticker(every: u64) -> tokio::time::Interval {
    let period = Duration::from_secs(every.clamp(1, crate::config::MAX_INTERVAL_SECS));
    let now = tokio::time::Instant::now();
    // The period is bounded, so this holds; were it not, an early first tick beats a panic.
    let first = now.checked_add(period).unwrap_or(now);
    let mut tick = tokio::time::interval_at(first, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

/// Claims new events into the outbox and sends the due digests, as `focal notify` does.
async fn notify(
    dir: Arc<DataDir>,
    store: Arc<SqliteStore>,
    every: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = ticker(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (dir, store) = (dir.clone(), store.clone());
        let round = tokio::select! {
            r = tokio::task::spawn_blocking(move || notify_round(&dir, &store)) => r,
            _ = shutdown.changed() => return,
        };
        match round.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(None) => {
                tracing::info!(
                    "Another sender holds the notification lock; sending at the next tick."
                );
            }
            Ok(Some(report)) => {
                counted("notify", report.failed == 0);
                for (outcome, n) in [
                    ("sent", report.sent),
                    ("retry", report.retry),
                    ("failed", report.failed),
                ] {
                    metrics::counter!("focal_worker_notifications_total", "outcome" => outcome)
                        .increment(n);
                }
                if report.sent + report.retry + report.failed > 0 {
                    tracing::info!(
                        sent = report.sent,
                        retry = report.retry,
                        failed = report.failed,
                        "Notifications sent."
                    );
                }
                if report.failed > 0 {
                    tracing::warn!(
                        failed = report.failed,
                        "Some notifications failed for good (see `focal notify --outbox`)."
                    );
                }
            }
            Err(e) => {
                counted("notify", false);
                tracing::error!(error = %format!("{e:#}"), "A notification round failed; trying again at the next tick.");
            }
        }
    }
}

/// One claim-and-send round; `None` when another sender holds the data folder's notification
/// lock (`focal notify` running by hand).
fn notify_round(
    dir: &DataDir,
    store: &SqliteStore,
) -> Result<Option<focal_incidents::notify::SendReport>> {
    let lock_path = dir.database().with_extension("notify-lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        return Ok(None);
    }
    let mut cfg = dir.config.notify.clone();
    cfg.templates = cfg.templates.as_deref().map(|p| dir.resolve(p));
    let claimed = focal_incidents::notify::claim(store, &cfg, true)?;
    for (id, n) in &claimed.no_address {
        tracing::debug!(constituent = %id, events = n, "New events wait for an abuse address.");
    }
    let report = focal_incidents::notify::send_due(
        store,
        &cfg,
        actor(),
        &focal_incidents::notify::SendOptions::default(),
    )?;
    let reminders = crate::reminders::remind(store, &cfg, actor())?;
    if reminders.queued + reminders.sent + reminders.failed > 0 {
        tracing::info!(
            queued = reminders.queued,
            sent = reminders.sent,
            failed = reminders.failed,
            "Reassessment reminders."
        );
    }
    Ok(Some(report))
}

/// Scans the drop folders, as `focal feeds watch` does; an ingest in progress stops at its next
/// batch on shutdown and is resumed by the next scan after a restart.
async fn drops(
    dir: Arc<DataDir>,
    store: Arc<SqliteStore>,
    every: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let watcher = Arc::new(std::sync::Mutex::new(crate::drop_folder::Watcher::default()));
    let mut tick = ticker(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (dir, store, watcher, stop) =
            (dir.clone(), store.clone(), watcher.clone(), stop.clone());
        let round =
            tokio::task::spawn_blocking(move || -> Result<Vec<crate::drop_folder::Taken>> {
                let mut w = watcher
                    .lock()
                    .map_err(|_| anyhow::anyhow!("an earlier drop-folder round panicked"))?;
                w.scan_until(&dir, store.as_ref(), Some(stop))
            });
        let round = tokio::select! {
            r = round => r,
            _ = shutdown.changed() => return,
        };
        match round.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(taken) => counted("drop", taken.iter().all(|t| t.outcome != "failed")),
            Err(e) => {
                counted("drop", false);
                tracing::warn!(error = %format!("{e:#}"), "A drop-folder scan failed; trying again at the next tick.");
            }
        }
    }
}

/// Pulls from and pushes to every peer that is not paused, as `focal peers sync` does. Each round runs on a
/// blocking thread with its own small runtime, because the store is synchronous.
async fn sync(
    store: Arc<SqliteStore>,
    settings: focal_sharing::settings::NodeSettings,
    every: u64,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tick = ticker(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        let (store, settings) = (store.clone(), settings.clone());
        let round = tokio::task::spawn_blocking(move || -> Result<usize> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut failed = 0;
            // Paused peers (web UI, `focal peers pause`) wait until they are resumed.
            for mut peer in focal_sharing::manage::active_peers(store.as_ref())? {
                match rt.block_on(crate::commands::peers::sync_and_store(
                    &store, &settings, &mut peer,
                )) {
                    Ok((report, events)) => {
                        tracing::info!(peer = %peer.name, pulled = report.pulled, pushed = report.pushed, events, "Synced.")
                    }
                    Err(e) => {
                        failed += 1;
                        tracing::warn!(peer = %peer.name, error = %e, "Sync failed.");
                    }
                }
            }
            Ok(failed)
        });
        let round = tokio::select! {
            r = round => r,
            _ = shutdown.changed() => return,
        };
        match round.map_err(anyhow::Error::from).and_then(|r| r) {
            Ok(failed) => counted("sync", failed == 0),
            Err(e) => {
                counted("sync", false);
                tracing::warn!(error = %format!("{e:#}"), "A sync round failed; trying again at the next tick.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn any_interval_makes_a_ticker_and_a_span() {
        for every in [0, 1, crate::config::MAX_INTERVAL_SECS, u64::MAX] {
            let tick = ticker(every);
            assert!(tick.period() >= Duration::from_secs(1), "{every}");
            assert!(seconds(every) >= jiff::SignedDuration::ZERO, "{every}");
        }
    }
}
