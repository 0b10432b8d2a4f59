//! `focal notify`: claim each constituent's new events into the outbox and send the digests.

use super::audit::{actor, record_config};
use super::table::{Table, col, num};
use super::{open_sqlite, print_json};
use anyhow::{Context, Result};
use clap::Args;
use focal_incidents::notify::{self, SendOptions};
use focal_store::incidents::Outbox;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct NotifyArgs {
    /// Show what would be sent (messages waiting and new ones) without sending or recording.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: print each message's body too.
    #[arg(long, requires = "dry_run")]
    pub show_body: bool,
    /// List the outbox (every message and its state) instead of sending.
    #[arg(long, conflicts_with = "dry_run")]
    pub outbox: bool,
    /// List every delivery attempt (sent, retry, failed) instead of sending.
    #[arg(long, conflicts_with_all = ["dry_run", "outbox"])]
    pub deliveries: bool,
    /// The SMTP relay, host:port (overrides notify.smtp in focal.toml).
    #[arg(long)]
    pub smtp: Option<String>,
    /// The sender address (overrides notify.from).
    #[arg(long)]
    pub from: Option<String>,
    /// Send at most this many messages in this run (0: all due).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// Wait this many milliseconds after each message (to pace a slow relay).
    #[arg(long, default_value_t = 0)]
    pub pause_ms: u64,
    /// Only send what is already in the outbox; claim no new events.
    #[arg(long)]
    pub no_claim: bool,
}

pub fn run(data: &Path, args: &NotifyArgs, json: bool) -> Result<()> {
    let (dir, store) = open_sqlite(data, "notification")?;
    let mut cfg = dir.config.notify.clone();
    if let Some(smtp) = &args.smtp {
        cfg.smtp = smtp.clone();
    }
    if let Some(from) = &args.from {
        cfg.from = from.clone();
    }
    cfg.templates = cfg.templates.as_deref().map(|p| dir.resolve(p));
    if args.deliveries {
        let list = store.deliveries(None)?;
        if json {
            return print_json(&list);
        }
        let mut out = std::io::stdout().lock();
        let mut t = Table::new(&[
            col("at"),
            num("message"),
            col("outcome"),
            col("constituent").max(24),
            col("detail"),
        ]);
        for d in &list {
            t.row(
                &mut out,
                vec![
                    d.at.to_string(),
                    d.outbox_id.to_string(),
                    d.outcome.to_string(),
                    d.constituent.to_string(),
                    d.detail.to_string(),
                ],
            )?;
        }
        t.finish(&mut out, "No delivery attempts yet.")?;
        return Ok(());
    }
    if args.outbox {
        let list = store.outbox_list(None, None)?;
        if json {
            return print_json(&list);
        }
        let mut out = std::io::stdout().lock();
        let mut t = Table::new(&[
            num("#"),
            col("state"),
            col("constituent").max(24),
            col("recipient"),
            num("events"),
            num("attempts"),
            col("last error"),
        ]);
        for m in &list {
            t.row(
                &mut out,
                vec![
                    m.id.unwrap_or(0).to_string(),
                    m.state.to_string(),
                    m.constituent.to_string(),
                    m.recipient.to_string(),
                    m.range_events.to_string(),
                    m.attempts.to_string(),
                    m.last_error.as_deref().unwrap_or("-").into(),
                ],
            )?;
        }
        t.finish(
            &mut out,
            "The outbox is empty: no messages queued or sent yet.",
        )?;
        return Ok(());
    }
    if args.dry_run {
        return dry_run(&store, &cfg, args.show_body, json);
    }
    // One sender per database: a message in `sending` is either this run's or left by a killed
    // run, never another live sender's.
    let lock_path = dir.database().with_extension("notify-lock");
    let lock = std::fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    if lock.try_lock().is_err() {
        anyhow::bail!(
            "another `focal notify` is sending from this data folder ({} is locked); try again when it has finished",
            lock_path.display()
        );
    }
    record_config(&dir, &store)?;
    let claimed = if args.no_claim {
        Default::default()
    } else {
        notify::claim(&store, &cfg, true)?
    };
    let report = notify::send_due(
        &store,
        &cfg,
        actor(),
        &SendOptions {
            limit: args.limit,
            pause: Duration::from_millis(args.pause_ms),
        },
    )?;
    // Reassessment reminders go through the same relay, in the same locked run.
    let reminders = crate::reminders::remind(&store, &cfg, actor())?;
    if json {
        print_json(&serde_json::json!({
            "claimed": claimed.messages.len(),
            "no_address": claimed.no_address,
            "report": report,
            "reminders": reminders,
        }))?;
    } else {
        for (id, n) in &claimed.no_address {
            eprintln!(
                "warning: {id} has {n} new events but no abuse address; they wait until one is imported"
            );
        }
        println!(
            "{} new messages queued; {} sent, {} to retry, {} failed, {} held by the rate limit; {} incidents now notified.",
            claimed.messages.len(),
            report.sent,
            report.retry,
            report.failed,
            report.rate_limited,
            report.incidents_notified
        );
        if reminders.queued + reminders.sent + reminders.retry + reminders.failed > 0 {
            println!(
                "Reassessment reminders: {} queued; {} sent, {} to retry, {} failed.",
                reminders.queued, reminders.sent, reminders.retry, reminders.failed
            );
        }
        let problems: Vec<_> = report
            .attempts
            .iter()
            .filter(|a| a.outcome != "sent")
            .collect();
        for a in problems.iter().take(20) {
            println!(
                "  {} #{} {} ({}): {}",
                a.outcome, a.outbox_id, a.recipient, a.constituent, a.detail
            );
        }
        if problems.len() > 20 {
            println!(
                "  ... and {} more (see `focal notify --outbox`)",
                problems.len() - 20
            );
        }
    }
    if report.failed > 0 {
        anyhow::bail!(
            "{} messages failed for good (see `focal notify --outbox`)",
            report.failed
        );
    }
    Ok(())
}

/// Prints each message as it is rendered, so a large preview never sits in memory whole.
fn dry_run(
    store: &focal_store::SqliteStore,
    cfg: &focal_incidents::NotifyConfig,
    show_body: bool,
    json: bool,
) -> Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut count = 0usize;
    let io = focal_incidents::Error::Io;
    if json {
        write!(out, "{{\"messages\": [").map_err(io)?;
    }
    let summary = notify::preview(store, cfg, &mut |p| {
        if json {
            if count > 0 {
                out.write_all(b",").map_err(io)?;
            }
            serde_json::to_writer(&mut out, &p).map_err(|e| io(e.into()))?;
        } else {
            writeln!(
                out,
                "{} → {} ({}): {} events{}, {} [{}]",
                if p.message.id.is_some() {
                    "waiting"
                } else {
                    "new"
                },
                p.message.recipient,
                p.message.constituent,
                p.digest.events,
                if p.digest.withheld > 0 {
                    format!(" (+{} held back by TLP)", p.digest.withheld)
                } else {
                    String::new()
                },
                p.digest.tlp.label(),
                p.digest.subject
            )
            .map_err(io)?;
            if show_body {
                writeln!(out, "\n{}\n", p.digest.body).map_err(io)?;
            }
        }
        count += 1;
        Ok(())
    })?;
    if json {
        write!(out, "], \"no_address\": ").map_err(io)?;
        serde_json::to_writer(&mut out, &summary.no_address)?;
        writeln!(out, "}}")?;
        return Ok(out.flush()?);
    }
    for (id, n) in &summary.no_address {
        writeln!(
            out,
            "not sendable: {id} has {n} new events but no abuse address; they wait until one is imported"
        )?;
    }
    writeln!(
        out,
        "{count} messages would be sent (dry run: nothing was sent or recorded)."
    )?;
    Ok(out.flush()?)
}
