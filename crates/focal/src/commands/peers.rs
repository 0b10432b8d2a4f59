//! `focal peers`: remote nodes (TAXII 2.1 servers: another Focal, medallion, MISP, OpenCTI) to
//! pull from and push to.

use super::table::{Table, col, num};
use super::{open_sqlite, print_json};
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use focal_sharing::{manage, settings};
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
    /// Stop syncing a peer (its cursors are kept) until it is resumed.
    Pause {
        /// The peer's name.
        name: String,
    },
    /// Sync a paused peer again, from where it stopped.
    Resume {
        /// The peer's name.
        name: String,
    },
}

/// A refusal of `manage` in the words of the command line (fields as flags).
pub fn flag_error(e: manage::ManageError) -> String {
    match e {
        manage::ManageError::Invalid { reason, .. }
            if reason.starts_with("--") || reason.starts_with("say ") =>
        {
            reason
        }
        manage::ManageError::Invalid { field, reason } => {
            let sep = if reason.starts_with('"') { " " } else { ": " };
            format!("--{field}{sep}{reason}")
        }
        other => other.to_string(),
    }
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// The peer's name here (its policy and provenance are kept under it).
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
            let draft = manage::PeerDraft {
                name: a.name.clone(),
                url: a.url.clone(),
                collection: a.collection.clone(),
                user: a.user.clone(),
                credential: match (&a.password, &a.token) {
                    (_, Some(t)) => manage::PeerCredential::Bearer(t.clone()),
                    (Some(p), None) => manage::PeerCredential::Basic(p.clone()),
                    (None, None) => manage::PeerCredential::None,
                },
                pull: a.pull,
                push: a.push,
                local_collection: a.local_collection.clone(),
            };
            let (peer, _) = manage::save_peer(&store, super::audit::actor(), &draft)
                .map_err(|e| anyhow::anyhow!("{}", flag_error(e)))?;
            if let Some(t) = &a.max_tlp {
                let mut p = settings::policy_for(&store, &a.name)?;
                p.max_tlp = super::share::parse_tlp("max-tlp", t)?;
                manage::save_policy(&store, super::audit::actor(), &a.name, &p)?;
            }
            if json {
                print_json(&peer)
            } else {
                let direction = match (peer.pull, peer.push) {
                    (true, true) => "pulls from it and pushes to it",
                    (true, false) => "pulls from it",
                    (false, true) => "pushes to it",
                    (false, false) => "neither pulls from it nor pushes to it",
                };
                println!(
                    "Peer {} saved ({}, collection {}): Focal {direction}.",
                    peer.name,
                    focal_store::redact_url(&peer.api_root),
                    peer.collection
                );
                Ok(())
            }
        }
        PeersCommand::List | PeersCommand::Status => {
            let peers = store.peers()?;
            if json {
                return print_json(&peers);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                col("peer").max(24),
                col("state"),
                col("api root").max(48),
                col("collection").max(36),
                col("pull"),
                col("push"),
                num("pulled"),
                num("pushed"),
                col("cursor").max(28),
                col("last sync").max(28),
                col("last error"),
            ]);
            let yes = |b: bool| if b { "yes" } else { "no" }.to_string();
            for p in &peers {
                let paused = manage::pause_of(&store, &p.name)?.is_some();
                t.row(
                    &mut out,
                    vec![
                        p.name.clone(),
                        if paused { "paused" } else { "syncing" }.into(),
                        focal_store::redact_url(&p.api_root),
                        p.collection.to_string(),
                        yes(p.pull),
                        yes(p.push),
                        p.pulled.to_string(),
                        p.pushed.to_string(),
                        p.pull_cursor.as_deref().unwrap_or("-").into(),
                        p.last_sync_at.as_deref().unwrap_or("never").into(),
                        p.last_error.as_deref().unwrap_or("-").into(),
                    ],
                )?;
            }
            t.finish(
                &mut out,
                "No peers yet: add one with `focal peers add NAME --url URL --collection ID`.",
            )?;
            Ok(())
        }
        PeersCommand::Pause { name } => pause_or_resume(&store, &name, true, json),
        PeersCommand::Resume { name } => pause_or_resume(&store, &name, false, json),
        PeersCommand::Sync { name } => {
            let mut peers = store.peers()?;
            if let Some(n) = &name {
                peers.retain(|p| &p.name == n);
                if peers.is_empty() {
                    bail!("no peer named {n:?} (see `focal peers list`)");
                }
                if manage::pause_of(&store, n)?.is_some() {
                    bail!("peer {n:?} is paused (`focal peers resume {n}` to sync it again)");
                }
            } else {
                peers = manage::active_peers(&store)?;
                if peers.is_empty() && !json {
                    println!(
                        "No peers to sync: none is configured, or all are paused (see `focal peers status`)."
                    );
                    return Ok(());
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

fn pause_or_resume(
    store: &focal_store::SqliteStore,
    name: &str,
    pause: bool,
    json: bool,
) -> Result<()> {
    let changed = manage::set_paused(store, super::audit::actor(), name, pause)?;
    let state = if pause { "paused" } else { "syncing" };
    if json {
        print_json(&serde_json::json!({"peer": name, "paused": pause, "changed": changed}))
    } else {
        println!(
            "Peer {name} {}{state}.",
            if changed { "is now " } else { "was already " }
        );
        Ok(())
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
