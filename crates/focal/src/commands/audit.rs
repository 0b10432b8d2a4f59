//! `focal audit` (list, verify, anchor), and the audit entries commands write for
//! configuration. (Constituent imports
//! are audited by the store, in the import's own transaction: `Store::save_constituents`.)

use super::print_json;
use crate::config::DataDir;
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use focal_store::audit_chain::Anchor;
use focal_store::incidents::{AuditFilter, AuditLog};
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List entries, oldest first.
    List {
        /// Only entries about this subject (e.g. `incident:12`, `constituent:org-1`, `focal.toml`).
        #[arg(long)]
        subject: Option<String>,
        /// Only this action (e.g. `incident.transition`).
        #[arg(long)]
        action: Option<String>,
        /// Only entries after this id.
        #[arg(long)]
        after: Option<i64>,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Recompute the chain (HMAC with the data folder's audit key); fails naming the first
    /// entry that was edited, removed, or sealed without the key.
    Verify {
        /// An anchor from `focal audit anchor`: also fails if its entry is gone or differs, so
        /// entries removed from the end since it was taken show.
        #[arg(long)]
        anchor: Option<std::path::PathBuf>,
    },
    /// Write the chain's head (entry id and MAC) as JSON, to keep outside this machine;
    /// `verify --anchor FILE` checks the log against it later.
    Anchor {
        /// Write it to this file (replaced) rather than to stdout.
        #[arg(long)]
        output: Option<std::path::PathBuf>,
    },
}

static ACTOR: OnceLock<String> = OnceLock::new();

/// The one way a person is named in the audit log and in timelines, whichever way they act:
/// `user:<name>`, as the web and the API write for a signed-in account (`--actor alice` and
/// `--actor user:alice` are the same person).
pub fn user_actor(name: &str) -> String {
    let name = name.trim();
    let name = name.strip_prefix("user:").unwrap_or(name);
    format!("user:{name}")
}

/// Records who runs this process: `--actor` (or `FOCAL_ACTOR`), else $USER, else $LOGNAME,
/// else `fallback`, as `user:<name>`.
pub fn set_actor(actor: Option<String>, fallback: &str) {
    let env = |k: &str| std::env::var(k).ok().filter(|u| !u.trim().is_empty());
    let name = actor
        .filter(|a| !a.trim().is_empty() && a.trim() != "user:")
        .or_else(|| env("USER"))
        .or_else(|| env("LOGNAME"))
        .unwrap_or_else(|| fallback.into());
    let _ = ACTOR.set(user_actor(&name));
}

/// Who runs this process, as recorded: `user:<name>`.
pub fn actor() -> &'static str {
    ACTOR.get().map(String::as_str).unwrap_or("user:unknown")
}

/// The name alone (`alice` for `user:alice`), for labels such as a pull's `cli:<name>`.
pub fn actor_name() -> &'static str {
    let a = actor();
    a.strip_prefix("user:").unwrap_or(a)
}

/// Appends a `config.change` entry when `focal.toml` differs from the last one recorded.
/// Configuration is edited by hand, so the change is noticed the next time a command that
/// writes the store runs (and at `init`).
pub fn record_config(dir: &DataDir, store: &dyn AuditLog) -> Result<()> {
    let now = serde_json::to_value(&dir.config)?;
    let last = store.audit_latest("config.change", "focal.toml")?;
    let before = last.and_then(|e| e.after);
    if before.as_ref() != Some(&now) {
        store.audit_append(
            actor(),
            "config.change",
            "focal.toml",
            before.as_ref(),
            Some(&now),
        )?;
    }
    Ok(())
}

pub fn run(data: &Path, cmd: &AuditCommand, json: bool) -> Result<()> {
    // The audit log is kept on both backends.
    let (dir, store) = super::open(data)?;
    let store = store.audit();
    match cmd {
        AuditCommand::List {
            subject,
            action,
            after,
            limit,
        } => {
            record_config(&dir, store)?;
            let entries = store.audit_entries(&AuditFilter {
                subject: subject.clone(),
                action: action.clone(),
                after_id: *after,
                limit: (*limit > 0).then_some(*limit),
                ..AuditFilter::default()
            })?;
            if json {
                return print_json(&entries);
            }
            let mut out = std::io::stdout().lock();
            for e in &entries {
                writeln!(
                    out,
                    "#{:<6} {}  {:<12} {:<22} {}",
                    e.id, e.at, e.actor, e.action, e.subject
                )?;
                if let Some(b) = &e.before {
                    writeln!(out, "        before {b}")?;
                }
                if let Some(a) = &e.after {
                    writeln!(out, "        after  {a}")?;
                }
            }
            Ok(())
        }
        AuditCommand::Verify { anchor } => {
            let anchor = anchor
                .as_deref()
                .map(|path| -> Result<Anchor> {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    serde_json::from_str(&text)
                        .with_context(|| format!("{}: not an audit anchor", path.display()))
                })
                .transpose()?;
            let v = store.audit_verify_anchored(anchor.as_ref())?;
            if json {
                print_json(&v)?;
            } else if v.ok {
                println!(
                    "The audit log verifies: {} entries, head entry {} with MAC {}.",
                    v.entries,
                    v.head_id
                        .map(|i| i.to_string())
                        .unwrap_or_else(|| "-".into()),
                    v.head.as_deref().unwrap_or("(empty)")
                );
                match (&v.key, v.keyed_from) {
                    (Some(key), Some(1)) => {
                        println!("Every entry is sealed with the audit key {key}.")
                    }
                    (Some(key), Some(from)) => println!(
                        "Entries from {from} on are sealed with the audit key {key}; older ones (written before the log was keyed) are plain SHA-256."
                    ),
                    _ => println!("The log is not keyed."),
                }
                match &anchor {
                    Some(a) => println!("Entry {} is still the one anchored at {}.", a.entry, a.at),
                    None => println!(
                        "Keep an anchor (`focal audit anchor`) outside this machine to detect removal of the newest entries."
                    ),
                }
            }
            if !v.ok {
                bail!(
                    "the audit log does not verify: {}",
                    v.problem.as_deref().unwrap_or("unknown problem")
                );
            }
            Ok(())
        }
        AuditCommand::Anchor { output } => {
            // An anchor of a chain that does not verify would vouch for the tampering.
            let v = store.audit_verify()?;
            if !v.ok {
                bail!(
                    "the audit log does not verify, so no anchor was written: {}",
                    v.problem.as_deref().unwrap_or("unknown problem")
                );
            }
            let (entry, mac) = store
                .audit_head()?
                .context("the audit log is empty: there is nothing to anchor")?;
            let anchor = Anchor {
                entry,
                mac,
                at: jiff::Timestamp::now().to_string(),
                key: v.key.clone(),
            };
            let text = serde_json::to_string_pretty(&anchor)? + "\n";
            match output {
                Some(path) => {
                    std::fs::write(path, &text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    if json {
                        print_json(&anchor)?;
                    } else {
                        println!(
                            "Anchored entry {entry} in {}: keep a copy outside this machine.",
                            path.display()
                        );
                    }
                }
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}
