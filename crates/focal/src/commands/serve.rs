//! `focal serve`: the HTTP server: web UI, REST API under /api/v1, TAXII 2.1 under /taxii2/.

use super::open_sqlite;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Also sync every peer every this many seconds (0: only with `focal peers sync`).
    #[arg(long, default_value_t = 0)]
    pub sync_every: u64,
}

pub fn run(data: &Path, args: &ServeArgs, json: bool) -> Result<()> {
    let (_, store) = open_sqlite(data, "sharing")?;
    let settings = focal_sharing::settings::load(&store)?;
    let store = Arc::new(store);
    let state = focal_server::AppState::new(store.clone(), settings.clone())
        .for_listen_address(&args.listen);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Bring the dashboard's rollup up to date now rather than on the first page view (after a
    // large ingest that is a scan of the new events).
    let rollup = store.clone();
    rt.spawn_blocking(move || {
        if let Err(e) = focal_store::web::WebStore::refresh_rollup(rollup.as_ref(), 10_000) {
            tracing::warn!(error = %e, "the dashboard rollup could not be refreshed");
        }
    });
    if args.sync_every > 0 {
        rt.spawn(sync_loop(store, settings, args.sync_every));
    }
    rt.block_on(focal_server::serve(args.listen, state, |addr| {
        // One line on stdout, flushed, so scripts and tests learn the bound address.
        let mut out = std::io::stdout().lock();
        let _ = if json {
            writeln!(out, "{}", serde_json::json!({"listening": addr.to_string(), "url": format!("http://{addr}/"), "taxii": format!("http://{addr}/taxii2/")}))
        } else {
            writeln!(out, "Listening on http://{addr}/ (web UI; API at /api/v1/, TAXII at http://{addr}/taxii2/)")
        };
        let _ = out.flush();
    }))
    .with_context(|| format!("serving on {}", args.listen))
}

/// Pulls from and pushes to every peer on a schedule. Each round runs on a blocking thread
/// with its own small runtime, because the store is synchronous.
async fn sync_loop(
    store: Arc<focal_store::SqliteStore>,
    settings: focal_sharing::settings::NodeSettings,
    every: u64,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (store, settings) = (store.clone(), settings.clone());
        let round = tokio::task::spawn_blocking(move || -> Result<()> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            for mut peer in focal_store::sharing::SharingStore::peers(store.as_ref())? {
                match rt.block_on(super::peers::sync_and_store(&store, &settings, &mut peer)) {
                    Ok((report, events)) => tracing::info!(peer = %peer.name, pulled = report.pulled, pushed = report.pushed, events, "synced"),
                    Err(e) => tracing::warn!(peer = %peer.name, error = %e, "sync failed"),
                }
            }
            Ok(())
        })
        .await;
        if let Ok(Err(e)) | Err(e) = round.map_err(anyhow::Error::from) {
            tracing::warn!(error = %e, "a sync round failed");
        }
    }
}
