//! `focal peers`: remote nodes (TAXII 2.1 servers: another Focal, medallion, MISP, OpenCTI) to
//! pull from and push to.

use super::{open_sqlite, print_json};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_sharing::settings;
use focal_store::sharing::{Peer, SharingStore};
use std::path::Path;

#[derive(Subcommand, Debug)]
pub enum PeersCommand {
    /// Add (or change) a remote node.
    Add(AddArgs),
    /// List the remote nodes.
    List,
    /// Pull from and/or push to one peer, or all, now.
    Sync {
        /// Only this peer.
        name: Option<String>,
    },
    /// Last sync, cursors, counts and last error of each peer.
    Status,
}

#[derive(Args, Debug)]
pub struct AddArgs {
    pub name: String,
    /// The remote TAXII API root URL, e.g. https://peer.example/taxii2/root/.
    #[arg(long)]
    pub url: String,
    /// The remote collection id.
    #[arg(long)]
    pub collection: String,
    /// User name for HTTP Basic.
    #[arg(long)]
    pub user: Option<String>,
    /// Password for HTTP Basic (or FOCAL_PEER_PASSWORD).
    #[arg(long, env = "FOCAL_PEER_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// A bearer token instead of Basic.
    #[arg(long, conflicts_with = "password")]
    pub token: Option<String>,
    /// Pull the remote collection into the local one.
    #[arg(long)]
    pub pull: bool,
    /// Push the local collection to the remote one.
    #[arg(long)]
    pub push: bool,
    /// The local collection (id or alias; default: the shared collection).
    #[arg(long)]
    pub local_collection: Option<String>,
    /// Highest TLP this peer receives (sets its policy; RED never leaves).
    #[arg(long)]
    pub max_tlp: Option<String>,
}

pub fn run(data: &Path, cmd: PeersCommand, json: bool) -> Result<()> {
    let (_, store) = open_sqlite(data, "sharing")?;
    let node = settings::load(&store)?;
    match cmd {
        PeersCommand::Add(a) => {
            if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
                bail!("--url {:?}: expected an http:// or https:// URL", a.url);
            }
            if !a.pull && !a.push {
                bail!("say --pull, --push or both");
            }
            let local = a
                .local_collection
                .as_deref()
                .unwrap_or(focal_sharing::import::DEFAULT_COLLECTION);
            let local = store
                .collection(local)?
                .with_context(|| format!("no local collection {local:?}"))?;
            let old = store.peer(&a.name)?;
            let (auth, secret) = match (&a.password, &a.token) {
                (_, Some(t)) => ("bearer", Some(t.clone())),
                (Some(p), None) => ("basic", Some(p.clone())),
                (None, None) if a.user.is_some() => {
                    bail!("--user needs --password (or FOCAL_PEER_PASSWORD)")
                }
                (None, None) => ("none", None),
            };
            let peer = Peer {
                name: a.name.clone(),
                api_root: a.url.clone(),
                collection: a.collection.clone(),
                local_collection: local.id,
                username: a.user.clone(),
                secret,
                auth: auth.into(),
                pull: a.pull,
                push: a.push,
                pull_cursor: old.as_ref().and_then(|o| o.pull_cursor.clone()),
                push_cursor: old.as_ref().map(|o| o.push_cursor).unwrap_or(0),
                last_sync_at: None,
                last_error: None,
                pulled: old.as_ref().map(|o| o.pulled).unwrap_or(0),
                pushed: old.as_ref().map(|o| o.pushed).unwrap_or(0),
            };
            store.put_peer(&peer)?;
            if let Some(t) = &a.max_tlp {
                let mut p = settings::policy_for(&store, &a.name)?;
                p.max_tlp = super::share::parse_tlp("max-tlp", t)?;
                store.set_policy(&a.name, &serde_json::to_string(&p)?)?;
            }
            if json {
                print_json(&peer)
            } else {
                println!(
                    "Peer {} saved ({}{}).",
                    peer.name,
                    if peer.pull { "pull " } else { "" },
                    if peer.push { "push" } else { "" }
                );
                Ok(())
            }
        }
        PeersCommand::List | PeersCommand::Status => {
            let peers = store.peers()?;
            if json {
                return print_json(&peers);
            }
            for p in &peers {
                println!(
                    "{:<16} {} collection {} pull={} push={} pulled {} pushed {} cursor {} last sync {} {}",
                    p.name,
                    p.api_root,
                    p.collection,
                    p.pull,
                    p.push,
                    p.pulled,
                    p.pushed,
                    p.pull_cursor.as_deref().unwrap_or("-"),
                    p.last_sync_at.as_deref().unwrap_or("never"),
                    p.last_error
                        .as_deref()
                        .map(|e| format!("ERROR {e}"))
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
        PeersCommand::Sync { name } => {
            let mut peers = store.peers()?;
            if let Some(n) = &name {
                peers.retain(|p| &p.name == n);
                if peers.is_empty() {
                    bail!("no peer named {n:?} (see `focal peers list`)");
                }
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let mut reports = Vec::new();
            let mut failed = Vec::new();
            for mut peer in peers {
                match rt.block_on(sync_and_store(&store, &node, &mut peer)) {
                    Ok((report, stored)) => {
                        if !json {
                            println!(
                                "{}: pulled {}, already present {}, pushed {}, withheld {}, events {}.",
                                report.peer,
                                report.pulled,
                                report.already_present,
                                report.pushed,
                                report.withheld,
                                stored
                            );
                        }
                        reports
                            .push(serde_json::json!({"report": report, "events_stored": stored}));
                    }
                    Err(e) => {
                        eprintln!("{}: sync failed: {e}", peer.name);
                        failed.push(peer.name.clone());
                    }
                }
            }
            if json {
                print_json(&serde_json::json!({"synced": reports, "failed": failed}))?;
            }
            if !failed.is_empty() {
                bail!("sync failed for {}", failed.join(", "));
            }
            Ok(())
        }
    }
}

/// Syncs one peer (the indicators it pulls become events of the feed `peer:<name>`).
pub async fn sync_and_store(
    store: &focal_store::SqliteStore,
    node: &focal_sharing::settings::NodeSettings,
    peer: &mut Peer,
) -> Result<(focal_sharing::client::SyncReport, u64)> {
    let report = focal_sharing::client::sync(store, node, peer).await?;
    let events = report.events_stored;
    Ok((report, events))
}
