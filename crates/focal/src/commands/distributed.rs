//! `focal submit`, `focal worker`, `focal jobs`: the distributed pipeline's commands.

use super::table::{Table, col, num};
use super::{open, print_json};
use crate::cli::{JobsArgs, QueueArgs, SubmitArgs, WorkerArgs};
use anyhow::{Context, Result, bail};
use focal_distributed::{QueueConfig, SubmitOptions, WorkerOptions};
use focal_store::{JobRecord, Store};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn queue(args: &QueueArgs) -> Result<QueueConfig> {
    let mut q = QueueConfig::new(&args.nats, &args.stream)?;
    q.ack_wait = Duration::from_secs(args.ack_wait.max(1));
    Ok(q)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn open_shared(data: &Path) -> Result<(crate::config::DataDir, Arc<dyn Store>)> {
    let (dir, store) = open(data)?;
    if store.jobs().is_none() {
        bail!(
            "the distributed pipeline needs PostgreSQL, and this data folder's store is {}: \
             pass --database postgres://... or set [database] url in focal.toml",
            store.describe()
        );
    }
    Ok((dir, Arc::from(store)))
}

fn job_line(j: &JobRecord) -> String {
    let total = j
        .chunks_total
        .map(|t| t.to_string())
        .unwrap_or_else(|| "?".into());
    format!(
        "job #{:<4} {:<10} chunks {}/{}  rows {:>9}  stored {:>9}  dup {:>8}  quarantined {:>6}  {}",
        j.id,
        j.status.as_str(),
        j.chunks_done,
        total,
        j.progress.rows_read,
        j.progress.events_stored,
        j.progress.duplicates,
        j.progress.quarantined,
        j.file_name
    )
}

pub fn submit(data: &Path, args: &SubmitArgs, json: bool) -> Result<()> {
    let (_dir, store) = open_shared(data)?;
    for file in &args.files {
        if !file.is_file() {
            bail!("{}: no such file", file.display());
        }
    }
    let queue = queue(&args.queue)?;
    let options = SubmitOptions {
        chunk_records: args.chunk_records.max(1),
        force: args.force,
        ..Default::default()
    };
    let rt = runtime()?;
    let mut results = Vec::new();
    for file in &args.files {
        let outcome = rt
            .block_on(focal_distributed::submit(
                store.clone(),
                &queue,
                &args.feed,
                file,
                &options,
            ))
            .with_context(|| format!("submitting {}", file.display()))?;
        if !json {
            match (&outcome.already_ingested, &outcome.job) {
                (Some(run), _) => println!(
                    "{}: already ingested for feed {} (run #{run}); nothing submitted.",
                    outcome.file, outcome.feed
                ),
                (None, Some(job)) => println!(
                    "{}: job #{} {}: {} chunks published{}.",
                    outcome.file,
                    job.id,
                    if outcome.resumed {
                        "continued"
                    } else {
                        "queued"
                    },
                    outcome.chunks_published,
                    if outcome.chunks_skipped > 0 {
                        format!(", {} already done", outcome.chunks_skipped)
                    } else {
                        String::new()
                    }
                ),
                (None, None) => println!(
                    "{}: nothing submitted for feed {} (no job was made).",
                    outcome.file, outcome.feed
                ),
            }
        }
        let finished = match (&outcome.job, args.wait) {
            (Some(job), true) => {
                let quiet = json || !std::io::IsTerminal::is_terminal(&std::io::stderr());
                let show = move |j: &JobRecord| {
                    if !quiet {
                        eprint!("\r{}", job_line(j));
                    }
                };
                let done = rt.block_on(focal_distributed::submit::wait_for_job(
                    store.clone(),
                    job.id,
                    &show,
                ))?;
                if !quiet {
                    eprintln!();
                }
                if !json {
                    println!("{}", job_line(&done));
                }
                Some(done)
            }
            _ => None,
        };
        results.push(serde_json::json!({ "submitted": outcome, "finished": finished }));
    }
    if json {
        print_json(&serde_json::json!({ "files": results }))?;
    }
    Ok(())
}

pub fn worker(data: &Path, args: &WorkerArgs, json: bool) -> Result<()> {
    let (dir, store) = open_shared(data)?;
    let enricher = super::ingest::enricher(&dir, &*store, &args.asn, args.country.as_deref())?;
    let queue = queue(&args.queue)?;
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "worker".into());
    let options = WorkerOptions {
        concurrency: if args.concurrency == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        } else {
            args.concurrency
        },
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{host}-{}", std::process::id())),
        exit_when_idle: args.exit_when_idle.map(Duration::from_secs),
    };
    let rt = runtime()?;
    // The store's last reference is dropped here, outside the runtime: the PostgreSQL driver
    // runs its own runtime inside and may not be dropped from async code.
    let stats = rt.block_on(focal_distributed::run_worker(
        store.clone(),
        Arc::new(enricher),
        &queue,
        &options,
        shutdown_signal(),
    ))?;
    drop(rt);
    drop(store);
    if json {
        print_json(&stats)
    } else {
        println!(
            "Worker {} stopped: {} chunks written ({} events), {} already done, {} failed, {} retried.",
            options.name,
            stats.chunks_written,
            stats.events_stored,
            stats.chunks_already_done,
            stats.chunks_failed,
            stats.chunks_retried
        );
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM, so a worker stopped by its service manager finishes the chunks
/// it holds (SIGKILL is safe too: unacknowledged chunks are redelivered).
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = ctrl_c.await;
}

pub fn jobs(data: &Path, args: &JobsArgs, json: bool) -> Result<()> {
    let (_dir, store) = open_shared(data)?;
    let Some(jobs) = store.jobs() else {
        bail!("this store has no job table");
    };
    match args.id {
        None => {
            let list = jobs.jobs(args.limit)?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                num("job"),
                col("status"),
                num("chunks"),
                num("rows"),
                num("stored"),
                num("dup"),
                num("quarantined"),
                col("file"),
            ]);
            for j in &list {
                t.row(
                    &mut out,
                    vec![
                        j.id.to_string(),
                        j.status.as_str().into(),
                        format!(
                            "{}/{}",
                            j.chunks_done,
                            j.chunks_total
                                .map(|t| t.to_string())
                                .unwrap_or_else(|| "?".into())
                        ),
                        j.progress.rows_read.to_string(),
                        j.progress.events_stored.to_string(),
                        j.progress.duplicates.to_string(),
                        j.progress.quarantined.to_string(),
                        j.file_name.to_string(),
                    ],
                )?;
            }
            t.finish(&mut out, "No distributed jobs yet.")?;
            Ok(())
        }
        Some(id) => {
            let job = jobs
                .job(id)?
                .with_context(|| format!("there is no job #{id}"))?;
            let chunks = jobs.chunks(id)?;
            if json {
                return print_json(&serde_json::json!({ "job": job, "chunks": chunks }));
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", job_line(&job))?;
            let mut t = Table::new(&[
                num("chunk"),
                col("lines"),
                col("status"),
                num("rows"),
                num("stored"),
                num("dup"),
                num("quarantined"),
                col("worker"),
                col("error"),
            ]);
            for c in &chunks {
                t.row(
                    &mut out,
                    vec![
                        c.chunk_no.to_string(),
                        format!("{}-{}", c.first_line, c.last_line),
                        c.status.to_string(),
                        c.rows_read.to_string(),
                        c.events_stored.to_string(),
                        c.duplicates.to_string(),
                        c.quarantined.to_string(),
                        c.worker.as_deref().unwrap_or("-").into(),
                        c.error.as_deref().unwrap_or("-").into(),
                    ],
                )?;
            }
            t.finish(&mut out, "No chunks yet.")?;
            Ok(())
        }
    }
}
