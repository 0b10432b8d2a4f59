//! One function per command. Each prints a human summary, or JSON with `--json`.

pub mod accounts;
pub mod advisories;
pub mod assess;
pub mod audit;
mod demo;
mod distributed;
mod events;
pub mod feeds;
pub mod incidents;
pub mod ingest;
pub mod library;
pub mod notify;
pub mod peers;
pub mod risks;
pub mod serve;
pub mod share;
pub mod table;
pub mod users;

use crate::cli::{Cli, Command, ConstituentsCommand, InitArgs, QuarantineArgs, RunsArgs};
use crate::config::{Config, DataDir, Enrichment};
use anyhow::{Context, Result, bail};
use focal_store::{QuarantineFilter, Store};
use std::io::Write;
use std::path::{Path, PathBuf};
use table::{Table, col, num};

pub fn run(cli: Cli) -> Result<()> {
    let data = cli.data.clone().unwrap_or_else(|| {
        PathBuf::from(if matches!(cli.command, Command::Demo(_)) {
            "focal-demo"
        } else {
            "focal-data"
        })
    });
    let json = cli.json;
    if let Some(url) = &cli.database {
        // Set once, before any command runs; `open` reads it.
        let _ = DATABASE.set(url.clone());
    }
    // Nobody named: the demo's changes are its admin's (an account the demo makes), anything
    // else is recorded as `user:unknown`.
    let fallback = if matches!(cli.command, Command::Demo(_)) {
        demo::ADMIN
    } else {
        "unknown"
    };
    audit::set_actor(cli.actor.clone(), fallback);
    match cli.command {
        Command::Init(args) => init(&data, &args, json, false),
        Command::Constituents(ConstituentsCommand::Import { file }) => {
            import_constituents(&data, &file, json)
        }
        Command::Constituents(ConstituentsCommand::List) => list_constituents(&data, json),
        Command::Ingest(args) => ingest::run(&data, &args, json),
        Command::Feeds(cmd) => feeds::run(&data, cmd, json),
        Command::Events(args) => events::run(&data, &args, json),
        Command::Quarantine(args) => quarantine(&data, &args, json),
        Command::Runs(args) => runs(&data, &args, json),
        Command::Stats(crate::cli::StatsArgs { public: None }) => stats(&data, json),
        Command::Stats(crate::cli::StatsArgs {
            public: Some(crate::cli::StatsCommand::Public { k, since, until }),
        }) => library::public_stats(&data, k, since.as_deref(), until.as_deref(), json),
        Command::Advisories(cmd) => advisories::run(&data, cmd, json),
        Command::Library(cmd) => library::run(&data, cmd, json),
        Command::Demo(args) => demo::run(&data, &args, json),
        Command::Submit(args) => distributed::submit(&data, &args, json),
        Command::Worker(args) => distributed::worker(&data, &args, json),
        Command::Jobs(args) => distributed::jobs(&data, &args, json),
        Command::Incidents(args) => incidents::run(&data, &args, json),
        Command::Notify(args) => notify::run(&data, &args, json),
        Command::Audit(cmd) => audit::run(&data, &cmd, json),
        Command::Share(cmd) => share::run(&data, cmd, json),
        Command::Peers(cmd) => peers::run(&data, cmd, json),
        Command::Users(cmd) => users::run(&data, cmd, json),
        Command::Serve(args) => serve::run(&data, &args, json),
        Command::Frameworks(cmd) => assess::frameworks(&data, cmd, json),
        Command::Assess(cmd) => assess::run(&data, cmd, json),
        Command::Risks(cmd) => risks::risks(&data, cmd, json),
        Command::Vulns(cmd) => risks::vulns(&data, cmd, json),
    }
}

/// The global `--database` flag. A process-wide value rather than a parameter of every command:
/// it is set once from the command line and only `open` reads it.
static DATABASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Opens the data folder and its store (SQLite in the folder, or the configured PostgreSQL),
/// with the audit chain's key (made on first use: `crate::audit_key`).
pub fn open(data: &Path) -> Result<(DataDir, Box<dyn Store>)> {
    let dir = DataDir::open(data)?;
    let location = dir.location(DATABASE.get().map(String::as_str));
    let store = focal_store::open(&location).with_context(|| match &location {
        focal_store::Location::Sqlite(path) => format!("opening {}", path.display()),
        focal_store::Location::Postgres { url, .. } => {
            format!("opening {}", focal_store::redact_url(url))
        }
    })?;
    crate::audit_key::attach(&dir, store.audit()).context("the audit log's key")?;
    Ok((dir, store))
}

/// The store as the SQLite backend, for features that exist there only so far.
pub fn as_sqlite(store: &dyn Store) -> Option<&focal_store::SqliteStore> {
    store.as_any().downcast_ref::<focal_store::SqliteStore>()
}

/// Opens the data folder's store for a feature that exists on SQLite only so far, or says so.
pub fn open_sqlite(data: &Path, feature: &str) -> Result<(DataDir, focal_store::SqliteStore)> {
    let (dir, store) = open(data)?;
    let shown = store.describe();
    match store.into_any().downcast::<focal_store::SqliteStore>() {
        Ok(sqlite) => Ok((dir, *sqlite)),
        Err(_) => bail!(
            "{feature} works on the embedded SQLite store only so far, and this data folder's              store is {shown}; use a data folder without a PostgreSQL URL"
        ),
    }
}

pub fn print_json<T: serde::Serialize>(value: &T) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Creates a data folder. `quiet` suppresses the summary (the demo prints its own).
pub fn init(data: &Path, args: &InitArgs, json: bool, quiet: bool) -> Result<()> {
    init_with(data, args, json, quiet, Config::default(), &[])
}

/// As [`init`], from `base` settings (enrichment and database come from `args`), with comments
/// above some sections of focal.toml (see `DataDir::write_config`).
pub fn init_with(
    data: &Path,
    args: &InitArgs,
    json: bool,
    quiet: bool,
    base: Config,
    notes: &[(&str, &str)],
) -> Result<()> {
    // A folder another Focal process is using is never initialised again under it (whatever
    // is or is not in it right now).
    const DOING: &str = "initialising it";
    let lock = if data.exists() {
        Some(crate::folder_lock::exclusive(data, DOING)?)
    } else {
        None
    };
    if data.join(crate::config::CONFIG_FILE).exists() {
        bail!(
            "{} is already a Focal data folder; nothing was changed",
            data.display()
        );
    }
    // `--database` can name another folder's database, which the folder lock above does not
    // cover: init would add an admin to a live database (an attacker pass did, beside a
    // running server). Init makes a database; it never takes one over.
    if let Some(url) = DATABASE.get()
        && let focal_store::Location::Sqlite(path) = focal_store::Location::parse(url)
        && std::fs::metadata(&path).is_ok_and(|m| m.len() > 0)
    {
        bail!(
            "{}: the database already exists; `init` makes a new database and never takes over \
             another (it may be another data folder's, in use); nothing was changed",
            path.display()
        );
    }
    for path in args.asn.iter().chain(args.country.iter()) {
        if !path.exists() {
            bail!("{}: no such file", path.display());
        }
    }
    std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
    let _lock = match lock {
        Some(held) => held,
        None => crate::folder_lock::exclusive(data, DOING)?,
    };
    let absolute = |p: &PathBuf| std::path::absolute(p).unwrap_or_else(|_| p.clone());
    let config = Config {
        enrichment: Enrichment {
            asn: args.asn.iter().map(absolute).collect(),
            country: args.country.as_ref().map(absolute),
        },
        database: crate::config::Database {
            url: args.postgres.clone(),
        },
        ..base
    };
    DataDir::write_config(data, &config, notes)?;
    let (dir, store) = open(data)?;
    audit::record_config(&dir, store.audit())?;
    let mut admin = None;
    if let Some(sqlite) = as_sqlite(&*store) {
        // The node's STIX identity (random id, made now) and its default collection.
        focal_sharing::settings::load(sqlite)?;
        // The demo makes its own accounts; a plain init always makes the first admin.
        if !quiet || args.admin_password.is_some() {
            admin = Some(accounts::create_first_admin(
                sqlite,
                &args.admin_name,
                args.admin_password.as_deref(),
            )?);
        }
    }
    let version = store.schema_version()?;
    if quiet {
        return Ok(());
    }
    if json {
        print_json(&serde_json::json!({
            "data": dir.root, "database": store.describe(), "schema_version": version, "config": config,
            "admin": admin,
        }))
    } else {
        if let Some(a) = &admin {
            match &a.generated_password {
                Some(p) => println!(
                    "Created the admin account {:?} with the password {p} (shown only now; sign in at /login after `focal serve`).",
                    a.name
                ),
                None => println!("Created the admin account {:?}.", a.name),
            }
        }
        println!(
            "Initialised {} (database {}, schema version {version}).",
            dir.root.display(),
            store.describe()
        );
        if config.enrichment.asn.is_empty() {
            println!(
                "No ASN data configured: pass --asn FILE to `ingest`, or edit {}.",
                dir.root.join(crate::config::CONFIG_FILE).display()
            );
        }
        Ok(())
    }
}

fn import_constituents(data: &Path, file: &Path, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let reader =
        std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let list = focal_enrich::parse_constituents(
        std::io::BufReader::new(reader),
        &file.display().to_string(),
    )?;
    let source = file.display().to_string();
    let summary = store.save_constituents(
        &list,
        &focal_store::ConstituentSave {
            actor: audit::actor(),
            mode: focal_store::SaveMode::Import,
            source: Some(&source),
        },
    )?;
    if json {
        print_json(&serde_json::json!({"file": file, "rows": list.len(), "summary": summary}))
    } else {
        println!(
            "Imported {} constituents from {}: {} added, {} updated, {} unchanged.",
            list.len(),
            file.display(),
            summary.added,
            summary.updated,
            summary.unchanged
        );
        Ok(())
    }
}

fn list_constituents(data: &Path, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let list = store.constituents()?;
    if json {
        return print_json(&list);
    }
    let mut out = std::io::stdout().lock();
    let mut t = Table::new(&[
        col("id"),
        col("name"),
        col("abuse email"),
        col("asns"),
        col("netblocks"),
        col("domains"),
    ]);
    for c in &list {
        let asns: Vec<String> = c.asns.iter().map(|a| format!("AS{a}")).collect();
        let nets: Vec<String> = c.netblocks.iter().map(|n| n.to_string()).collect();
        t.row(
            &mut out,
            vec![
                c.id.to_string(),
                c.name.clone(),
                c.abuse_email.to_string(),
                asns.join(" "),
                nets.join(" "),
                c.domains.join(" "),
            ],
        )?;
    }
    t.finish(
        &mut out,
        "No constituents yet: import them with `focal constituents import FILE`.",
    )?;
    Ok(())
}

fn quarantine(data: &Path, args: &QuarantineArgs, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let records = store.quarantine(&QuarantineFilter {
        run_id: args.run,
        kind: args.kind.clone(),
        feed: args.feed.clone(),
        limit: (args.limit > 0).then_some(args.limit),
    })?;
    if json {
        return print_json(&records);
    }
    let mut out = std::io::stdout().lock();
    let mut t = Table::new(&[
        col("file").max(48).keep_end(),
        num("line"),
        col("kind"),
        col("reason").max(60),
        col("raw line"),
    ]);
    for q in &records {
        let mut raw: String = q.raw.chars().take(120).collect();
        if q.raw.chars().count() > 120 {
            raw.push('…');
        }
        t.row(
            &mut out,
            vec![
                q.file_name.to_string(),
                q.line.to_string(),
                q.kind.to_string(),
                q.reason.to_string(),
                raw.escape_debug().to_string(),
            ],
        )?;
    }
    t.finish(&mut out, "The quarantine is empty.")?;
    Ok(())
}

fn runs(data: &Path, args: &RunsArgs, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let runs = store.runs(args.limit)?;
    if json {
        return print_json(&runs);
    }
    let mut out = std::io::stdout().lock();
    let mut t = Table::new(&[
        num("#"),
        col("status"),
        col("feed").max(28),
        num("rows"),
        num("stored"),
        num("dup"),
        num("quarantined"),
        col("started"),
        col("file"),
    ]);
    for r in &runs {
        t.row(
            &mut out,
            vec![
                r.id.to_string(),
                r.status.as_str().to_string(),
                r.feed.to_string(),
                r.progress.rows_read.to_string(),
                r.progress.events_stored.to_string(),
                r.progress.duplicates.to_string(),
                r.progress.quarantined.to_string(),
                r.started_at.to_string(),
                r.file_name.to_string(),
            ],
        )?;
    }
    t.finish(&mut out, "No ingest runs yet.")?;
    Ok(())
}

fn stats(data: &Path, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let stats = store.stats()?;
    if json {
        return print_json(&stats);
    }
    print_stats(&stats)
}

pub fn print_stats(stats: &focal_store::Stats) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "events        {}", stats.events)?;
    writeln!(out, "quarantined   {}", stats.quarantined)?;
    writeln!(out, "unassigned    {}", stats.unassigned)?;
    writeln!(
        out,
        "constituents  {} ({} with events)",
        stats.constituents, stats.constituents_with_events
    )?;
    let mut top: Vec<_> = stats.per_constituent.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    if !top.is_empty() {
        writeln!(out, "top constituents:")?;
        for (id, n) in top.iter().take(10) {
            writeln!(out, "  {id:<14} {n}")?;
        }
    }
    if !stats.by_type.is_empty() {
        writeln!(out, "by type:")?;
        for (t, n) in &stats.by_type {
            writeln!(out, "  {t:<24} {n}")?;
        }
    }
    if !stats.quarantined_by_kind.is_empty() {
        writeln!(out, "quarantined by kind:")?;
        for (k, n) in &stats.quarantined_by_kind {
            writeln!(out, "  {k:<16} {n}")?;
        }
    }
    Ok(())
}
