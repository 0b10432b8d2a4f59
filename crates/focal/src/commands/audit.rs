//! `focal audit`, and the audit entries commands write for configuration. (Constituent imports
//! are audited by the store, in the import's own transaction: `Store::save_constituents`.)

use super::print_json;
use crate::config::DataDir;
use anyhow::{Result, bail};
use clap::Subcommand;
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
    /// Recompute the hash chain; fails naming the first entry that was edited or removed.
    Verify,
}

static ACTOR: OnceLock<String> = OnceLock::new();

/// Records who runs this process: `--actor`, else $USER, else `unknown`.
pub fn set_actor(actor: Option<String>) {
    let actor = actor
        .filter(|a| !a.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let _ = ACTOR.set(actor);
}

pub fn actor() -> &'static str {
    ACTOR.get().map(String::as_str).unwrap_or("unknown")
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
        AuditCommand::Verify => {
            let v = store.audit_verify()?;
            if json {
                print_json(&v)?;
            } else if v.ok {
                println!(
                    "The audit log verifies: {} entries, head {}.",
                    v.entries,
                    v.head.as_deref().unwrap_or("(empty)")
                );
                println!(
                    "Keep the head hash outside this database to detect removal of the newest entries."
                );
            }
            if !v.ok {
                bail!(
                    "the audit log does not verify: {}",
                    v.problem.as_deref().unwrap_or("unknown problem")
                );
            }
            Ok(())
        }
    }
}
