//! `focal serve`: the HTTP server (web UI, REST API under /api/v1, TAXII 2.1 under /taxii2/)
//! and, in the same process, the background workers (see `crate::workers`).

use super::open_sqlite;
use crate::workers::{self, Intervals};
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Look for due feed pulls at least every this many seconds; each registered feed is pulled
    /// on its own `[pull] every` (0: no scheduled pulls) [default: workers.feeds_every in
    /// focal.toml, 10].
    #[arg(long, value_parser = crate::config::parse_interval)]
    pub feeds_every: Option<u64>,
    /// Claim and send notification digests every this many seconds (0: off) [default:
    /// workers.notify_every, 300].
    #[arg(long, value_parser = crate::config::parse_interval)]
    pub notify_every: Option<u64>,
    /// Sync every peer every this many seconds (0: off) [default: workers.sync_every, 900].
    #[arg(long, value_parser = crate::config::parse_interval)]
    pub sync_every: Option<u64>,
    /// Scan the drop folders of feeds with [drop] every this many seconds (0: off) [default:
    /// workers.drop_every, 5].
    #[arg(long, value_parser = crate::config::parse_interval)]
    pub drop_every: Option<u64>,
    /// Run no background workers: no scheduled pulls, notifications, peer syncs or drop folders.
    #[arg(long)]
    pub no_workers: bool,
}

/// How long a stopping server waits for its workers' blocking work (an ingest, a send) before it
/// exits anyway: what they leave is resumable (see `crate::workers`).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Threads for blocking work (store reads and writes, password hashing, the workers). Tokio's
/// default allows 512, and under 64 connections of read load it kept starting more (over 300
/// for TAXII reads alone), each with its own allocator heap: the server's memory followed the
/// thread count. Work beyond this many waits for a thread instead; the number of requests in
/// progress is bounded anyway (`[web] max_concurrent_requests`).
const BLOCKING_THREADS: usize = 32;

pub fn run(data: &Path, args: &ServeArgs, json: bool) -> Result<()> {
    let (mut dir, store) = open_sqlite(data, "sharing")?;
    // The folder stays held shared for the whole run, with this pid in the lock file, so a
    // `demo` or `init` that would replace it is refused and names this process.
    let folder_lock = dir.lock.take();
    if let Some(l) = &folder_lock {
        crate::folder_lock::announce(l).context("announcing this server in focal.lock")?;
    }
    // The notification worker sends with this configuration, so record it as `focal notify` does.
    super::audit::record_config(&dir, &store)?;
    let settings = focal_sharing::settings::load(&store)?;
    let store = Arc::new(store);
    let configured = &dir.config.workers;
    let every = if args.no_workers {
        Intervals {
            feeds: 0,
            notify: 0,
            sync: 0,
            drop: 0,
        }
    } else {
        Intervals {
            feeds: args.feeds_every.unwrap_or(configured.feeds_every),
            notify: args.notify_every.unwrap_or(configured.notify_every),
            sync: args.sync_every.unwrap_or(configured.sync_every),
            drop: args.drop_every.unwrap_or(configured.drop_every),
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()?;
    // Bring the dashboard's rollup up to date now rather than on the first page view (after a
    // large ingest that is a scan of the new events).
    let rollup = store.clone();
    rt.spawn_blocking(move || {
        if let Err(e) = focal_store::web::WebStore::refresh_rollup(rollup.as_ref(), 10_000) {
            tracing::warn!(error = %e, "the dashboard rollup could not be refreshed");
        }
    });
    let root = dir.root.clone();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The workers get a store of their own. A store's writes share one connection behind a
    // mutex, and a scheduled ingest holds it for its whole run: on the web's store, sign-ins and
    // every other write would wait minutes for a large feed. With two, SQLite's own lock
    // interleaves them at the ingest's commits.
    let (_, worker_store) = open_sqlite(data, "sharing")?;
    let worker_store = Arc::new(worker_store);
    // Tell the workers as soon as a stop signal arrives, not after the HTTP drain: an ingest
    // then stops at its next batch instead of delaying the exit.
    {
        let stop = stop.clone();
        rt.spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
    }
    // The server's state first: it installs the metrics recorder, which must be in place
    // before the workers count anything (a pull put off at once would otherwise go uncounted).
    let state = focal_server::AppState::new(store, settings.clone())
        .for_listen_address(&args.listen)
        .with_trusted_proxies(dir.config.web.proxies()?)
        .with_awareness(dir.config.awareness.clone())
        .with_incidents(dir.config.incidents.clone())
        .with_limits(
            dir.config.web.max_concurrent_requests,
            dir.config.web.max_body_bytes_in_flight,
        );
    let (header_read, body_read) = dir.config.web.timeouts();
    let state = state.with_timeouts(header_read, body_read);
    let (mut handles, pull_now) = workers::start(
        &rt,
        Arc::new(dir),
        worker_store.clone(),
        settings,
        every,
        stopped.clone(),
    );
    // Not a worker one would turn off: the event search reads events not yet indexed by
    // scanning them, so keeping the index up to date keeps searches fast. Always on.
    handles.push(rt.spawn(index_events(worker_store, stopped)));
    let state = state.with_feeds(focal_server::Feeds {
        data: root,
        pull_now,
    });
    let served = rt.block_on(focal_server::serve(args.listen, state, |addr| {
        // One line on stdout, flushed, so scripts and tests learn the bound address.
        let mut out = std::io::stdout().lock();
        let _ = if json {
            writeln!(out, "{}", serde_json::json!({"listening": addr.to_string(), "url": format!("http://{addr}/"), "taxii": format!("http://{addr}/taxii2/")}))
        } else {
            writeln!(out, "Listening on http://{addr}/ (web UI; API at /api/v1/, TAXII at http://{addr}/taxii2/)")
        };
        let _ = out.flush();
    }));
    // Stopped (SIGTERM, SIGINT) or failed: stop the workers, wait a little for them, and leave.
    let _ = stop.send(true);
    rt.block_on(async {
        let all = futures_join(handles);
        if tokio::time::timeout(STOP_GRACE, all).await.is_err() {
            tracing::warn!("Workers did not stop in time; their work resumes at the next start.");
        }
    });
    rt.shutdown_timeout(STOP_GRACE);
    drop(folder_lock);
    served.with_context(|| format!("serving on {}", args.listen))
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Keeps the event search index up to date: at start (after a large ingest that can be
/// minutes of work, in batches that let writers in), then every few seconds.
async fn index_events(
    store: Arc<focal_store::SqliteStore>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let s = store.clone();
        let done = tokio::task::spawn_blocking(move || {
            s.index_events(100, focal_store::sqlite::search::BATCH)
        })
        .await;
        match done {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "indexing events for search failed"),
            Err(e) => tracing::warn!(error = %e, "the search indexer stopped"),
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
            _ = stopped.changed() => return,
        }
    }
}

/// Waits for every task (their results are logged by the tasks themselves).
async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}
