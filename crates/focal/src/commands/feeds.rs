//! `focal feeds`: the registry of feed definitions in DATA/feeds/ (add, list, show, remove) and
//! pulling them now (`pull`). Changes to the registry are written to the audit log.

use super::audit::actor;
use super::table::{Table, col};
use super::{open, print_json};
use crate::pull::{self, Attempt};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use focal_feeds::{Registered, Registry};
use focal_store::{PullRecord, PullResult, Store};
use serde::Serialize;
use sha2::Digest;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Subcommand, Debug)]
pub enum FeedsCommand {
    /// Validate a feed definition and copy it into the registry (DATA/feeds/NAME.toml).
    Add {
        /// The definition (TOML).
        file: PathBuf,
        /// Replace the definition of a feed already registered under the same name.
        #[arg(long)]
        replace: bool,
    },
    /// The registered feeds, with their schedule and last pull.
    List,
    /// One registered feed: its settings, its definition and its recent pulls.
    Show {
        name: String,
        /// How many recent pulls to show.
        #[arg(long, default_value_t = 20)]
        pulls: usize,
    },
    /// Remove a feed from the registry (its events, runs, pulls and downloads stay).
    Remove { name: String },
    /// Download now and ingest: one feed, or every registered feed with a [pull] url.
    Pull { name: Option<String> },
    /// Try a definition on a file, storing nothing: how the first records map to fields, what
    /// would be quarantined and why, and (when much is) which definitions fit better.
    Test {
        /// The definition (TOML file, or the name of a registered feed).
        definition: PathBuf,
        /// The feed file.
        file: PathBuf,
        /// How many records to show in full.
        #[arg(long, default_value_t = 10)]
        rows: usize,
        /// Suggest other definitions when more than this percentage is quarantined.
        #[arg(long, default_value_t = 50.0)]
        max_quarantined: f64,
    },
    /// Watch the drop folders (DATA/drop/NAME/) of the feeds with [drop]: ingest each file once
    /// it is complete, then move it to done/ (or failed/, with a .reason file).
    Watch {
        /// One pass: look, wait the longest drop.quiet, look again, take what stayed unchanged.
        #[arg(long)]
        once: bool,
        /// Seconds between scans.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        every: u64,
    },
    /// Convert an IntelMQ runtime configuration (runtime.yaml) into feed definitions: each
    /// collector -> parser pair Focal can express, and what it cannot, with the reason.
    /// Without --out or --register it only prints what it would write.
    ImportIntelmq {
        /// IntelMQ's runtime.yaml (IntelMQ 3.x).
        file: PathBuf,
        /// Write each definition to DIR/NAME.toml (existing files are refused).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Register each definition in the data folder (DATA/feeds/), audited like `feeds add`.
        #[arg(long)]
        register: bool,
    },
}

/// A registered feed as `list` and `show` print it.
#[derive(Debug, Serialize)]
pub struct FeedView {
    pub name: String,
    pub file: String,
    pub provider: Option<String>,
    pub format: String,
    pub tlp: String,
    /// `feed.url` (the feed's home, for people).
    pub url: Option<String>,
    pub pull: Option<PullView>,
    pub last_pull: Option<PullRecord>,
    /// When the scheduler in `focal serve` pulls it next (for a feed with `every`).
    pub next_pull_due: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PullView {
    /// Without its user, password and query, which may be secrets.
    pub url: String,
    pub every_secs: Option<u64>,
    pub max_bytes: u64,
    pub timeout_secs: u64,
    pub keep: usize,
    /// Header names only: values may be secrets.
    pub headers: Vec<String>,
    /// (header, environment variable).
    pub headers_from_env: Vec<(String, String)>,
}

pub fn view(entry: &Registered, last: Option<&PullRecord>) -> FeedView {
    let f = &entry.feed;
    let d = &f.definition;
    let next = f.pull.as_ref().and_then(|p| {
        let at = last.and_then(|l| l.finished_at.parse::<jiff::Timestamp>().ok());
        p.next_due(at, jiff::Timestamp::now())
    });
    FeedView {
        name: f.name.to_string(),
        file: entry.path.display().to_string(),
        provider: d.provider.clone(),
        format: format!("{:?}", d.format).to_lowercase(),
        tlp: f.tlp().to_string(),
        url: d.url.clone(),
        pull: f.pull.as_ref().map(|p| PullView {
            url: focal_feeds::redact::url(&p.url),
            every_secs: p.every_secs,
            max_bytes: p.max_bytes,
            timeout_secs: p.timeout_secs,
            keep: p.keep,
            headers: p.headers.iter().map(|(k, _)| k.clone()).collect(),
            headers_from_env: p.headers_from_env.clone(),
        }),
        last_pull: last.cloned(),
        next_pull_due: next.map(|t| t.to_string()),
    }
}

pub fn run(data: &Path, cmd: FeedsCommand, json: bool) -> Result<()> {
    if let FeedsCommand::Test {
        definition,
        file,
        rows,
        max_quarantined,
    } = &cmd
    {
        return test(data, definition, file, *rows, *max_quarantined, json);
    }
    if let FeedsCommand::ImportIntelmq {
        file,
        out,
        register,
    } = &cmd
    {
        return import_intelmq(data, file, out.as_deref(), *register, json);
    }
    let (dir, store) = open(data)?;
    let registry = Registry::new(&dir.root);
    match cmd {
        FeedsCommand::Add { file, replace } => add(&dir, &registry, &*store, &file, replace, json),
        FeedsCommand::List => list(&registry, &*store, json),
        FeedsCommand::Show { name, pulls } => show(&registry, &*store, &name, pulls, json),
        FeedsCommand::Remove { name } => remove(&registry, &*store, &name, json),
        FeedsCommand::Pull { name } => pull_now(dir, store, &registry, name.as_deref(), json),
        FeedsCommand::Watch { once, every } => watch(&dir, &*store, &registry, once, every, json),
        FeedsCommand::Test { .. } | FeedsCommand::ImportIntelmq { .. } => Ok(()),
    }
}

/// `focal feeds test`: needs no store, and writes nothing anywhere. A data folder, when there is
/// one, only lends its registered definitions (by name, and as suggestions).
fn test(
    data: &Path,
    definition: &Path,
    file: &Path,
    rows: usize,
    max_quarantined: f64,
    json: bool,
) -> Result<()> {
    if !(0.0..=100.0).contains(&max_quarantined) {
        bail!("--max-quarantined {max_quarantined}: a percentage from 0 to 100");
    }
    let registry = Registry::new(data);
    let feed = if definition.is_file() {
        focal_feeds::Feed::load(definition)?
    } else {
        let name = definition.to_string_lossy();
        registry
            .get(&name)
            .map(|r| r.feed)
            .with_context(|| format!("{name}: neither a definition file nor a registered feed"))?
    };
    if !file.is_file() {
        bail!("{}: no such file", file.display());
    }
    let probe = focal_pipeline::probe::probe(&feed, file, None, rows)?;
    let max_share = max_quarantined / 100.0;
    let misfit = probe.layout_error.is_some() || probe.quarantined_share() > max_share;
    let suggestion = misfit.then(|| {
        let mut candidates = focal_feeds::shipped::feeds();
        if let Ok(list) = registry.list() {
            candidates.extend(list.into_iter().filter_map(|r| r.ok()).map(|r| r.feed));
        }
        candidates.retain(|f| f.name != feed.name);
        super::ingest::suggestion(&candidates, file, max_share)
    });
    if json {
        let mut value = serde_json::to_value(&probe)?;
        value["stored"] = false.into();
        value["suggestion"] = suggestion.into();
        return print_json(&value);
    }
    if let Some(e) = &probe.layout_error {
        println!(
            "{}: feed {} cannot read this file: {e}",
            probe.file, probe.feed
        );
    } else {
        println!(
            "{}: feed {}: {} records, {} events, {} quarantined ({:.0} %); nothing stored.",
            probe.file,
            probe.feed,
            probe.records,
            probe.events,
            probe.quarantined,
            100.0 * probe.quarantined_share()
        );
    }
    for row in &probe.rows {
        println!();
        println!("line {}: {}", row.line, row.raw);
        match &row.outcome {
            focal_pipeline::probe::Outcome::Event { fields } => {
                for (k, v) in fields {
                    if k != "__type" {
                        let v = v.as_str().map(str::to_string).unwrap_or(v.to_string());
                        println!("  {k} = {v}");
                    }
                }
            }
            focal_pipeline::probe::Outcome::Quarantined {
                kind,
                field,
                reason,
            } => {
                let field = field.as_deref().unwrap_or("-");
                println!("  QUARANTINED ({kind}, field {field}): {reason}");
            }
        }
    }
    if !probe.quarantined_by_kind.is_empty() {
        println!();
        for (kind, n) in &probe.quarantined_by_kind {
            println!("quarantined {kind}: {n}");
        }
    }
    if let Some(s) = suggestion {
        println!();
        println!("{s}");
    }
    Ok(())
}

/// `focal feeds watch`: scans the drop folders until killed (restart-safe: see
/// `crate::drop_folder`), or with `once` twice, the longest `drop.quiet` apart.
fn watch(
    dir: &crate::config::DataDir,
    store: &dyn Store,
    registry: &Registry,
    once: bool,
    every: u64,
    json: bool,
) -> Result<()> {
    let mut watcher = crate::drop_folder::Watcher::default();
    let report = |taken: &[crate::drop_folder::Taken]| -> Result<()> {
        if json {
            return print_json(&serde_json::json!({ "taken": taken }));
        }
        for t in taken {
            match &t.reason {
                Some(r) => println!(
                    "{} ({}): failed, moved to {}: {r}",
                    t.file, t.feed, t.moved_to
                ),
                None => println!(
                    "{} ({}): {} (run #{}, {} events stored), moved to {}",
                    t.file,
                    t.feed,
                    t.outcome,
                    t.run_id.unwrap_or(0),
                    t.events_stored.unwrap_or(0),
                    t.moved_to
                ),
            }
        }
        Ok(())
    };
    if once {
        let quiet = registry
            .list()?
            .into_iter()
            .filter_map(|r| r.ok())
            .filter_map(|r| r.feed.drop.map(|d| d.quiet_secs))
            .max();
        let Some(quiet) = quiet else {
            bail!("no registered feed has a [drop] table: nothing to watch (see docs/FEEDS.md)");
        };
        watcher.scan(dir, store)?;
        std::thread::sleep(std::time::Duration::from_secs(quiet));
        let taken = watcher.scan(dir, store)?;
        return report(&taken);
    }
    loop {
        // A scan that fails (a file vanished, the store unavailable) is reported; the next one
        // goes on.
        match watcher.scan(dir, store) {
            Ok(taken) if !taken.is_empty() => report(&taken)?,
            Ok(_) => {}
            Err(e) => eprintln!("warning: a drop-folder scan failed; trying again: {e:#}"),
        }
        std::thread::sleep(std::time::Duration::from_secs(every));
    }
}

/// `focal feeds import-intelmq`: converts, then writes into `out` and/or registers. Every
/// target is checked before anything is written, so a name already taken changes nothing.
fn import_intelmq(
    data: &Path,
    file: &Path,
    out: Option<&Path>,
    register_them: bool,
    json: bool,
) -> Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if size > crate::intelmq_import::MAX_BYTES {
        bail!(
            "{}: larger than {} bytes; a runtime configuration is a short file",
            file.display(),
            crate::intelmq_import::MAX_BYTES
        );
    }
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading {} (YAML is UTF-8 text)", file.display()))?;
    let source = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.display().to_string());
    let import = crate::intelmq_import::convert(&text, &source)?;
    let mut written = Vec::new();
    if let Some(dir) = out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let taken: Vec<String> = import
            .converted
            .iter()
            .map(|c| dir.join(format!("{}.toml", c.name)))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !taken.is_empty() {
            bail!("{}: already there; nothing was written", taken.join(", "));
        }
        for c in &import.converted {
            let path = dir.join(format!("{}.toml", c.name));
            std::fs::write(&path, &c.toml)
                .with_context(|| format!("writing {}", path.display()))?;
            written.push(path.display().to_string());
        }
    }
    let mut registered = Vec::new();
    if register_them {
        let (dir, store) = open(data)?;
        let registry = Registry::new(&dir.root);
        let taken: Vec<&str> = import
            .converted
            .iter()
            .filter(|c| registry.get(&c.name).is_ok())
            .map(|c| c.name.as_str())
            .collect();
        if !taken.is_empty() {
            bail!(
                "feeds {} are already registered; nothing was registered (remove them, or write the definitions with --out and add them one by one)",
                taken.join(", ")
            );
        }
        for c in &import.converted {
            register(&dir, &registry, &*store, c.toml.clone(), file, false).with_context(|| {
                format!("feed {} (from {} -> {})", c.name, c.collector, c.parser)
            })?;
            registered.push(c.name.clone());
        }
    }
    if json {
        let mut value = serde_json::to_value(&import)?;
        value["written"] = written.into();
        value["registered"] = registered.into();
        return print_json(&value);
    }
    println!(
        "{}: {} feed definitions, {} pairs not converted, {} bots ignored.",
        file.display(),
        import.converted.len(),
        import.unconverted.len(),
        import.ignored.len()
    );
    for c in &import.converted {
        let from = match &c.shipped {
            Some(s) => format!("copy of shipped {s}"),
            None => "generated".into(),
        };
        println!("  {}  <- {} -> {} ({from})", c.name, c.collector, c.parser);
        for n in &c.notes {
            println!("      note: {n}");
        }
    }
    if !import.unconverted.is_empty() {
        println!("Not converted:");
        for u in &import.unconverted {
            println!("  {} ({}): {}", u.bots.join(" -> "), u.module, u.reason);
        }
    }
    for i in &import.ignored {
        println!("Ignored {} ({}): {}", i.bot, i.module, i.reason);
    }
    if !written.is_empty() {
        println!(
            "Wrote {} definitions into {}.",
            written.len(),
            out.map(|d| d.display().to_string()).unwrap_or_default()
        );
    }
    if !registered.is_empty() {
        println!("Registered {}.", registered.join(", "));
    }
    if written.is_empty() && registered.is_empty() && !import.converted.is_empty() {
        println!(
            "Nothing written: use --out DIR to write the definitions, or --register to add them to the data folder."
        );
    }
    Ok(())
}

/// What the audit log keeps of a definition: where it came from, the file's SHA-256, and the
/// file with its secrets redacted (the log is hash-chained: what goes in can never be taken out).
fn audited(toml: &str, from: Option<&Path>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "sha256": hex::encode(sha2::Sha256::digest(toml.as_bytes())),
        "definition": focal_feeds::redact::definition(toml),
    });
    if let Some(f) = from {
        v["from"] = f.display().to_string().into();
    }
    v
}

/// Registers a definition (validated; a feed of the same name only with `replace`) and
/// records it in the audit log, with the definition it replaced. The entry is written before the
/// definition is renamed into place, so a feed is never registered unrecorded.
pub fn register(
    dir: &crate::config::DataDir,
    registry: &Registry,
    store: &dyn Store,
    toml: String,
    from: &Path,
    replace: bool,
) -> Result<focal_feeds::registry::Added> {
    let staged = registry.stage(toml, &from.display().to_string(), replace)?;
    let added = staged.added();
    let name = added.entry.name().to_string();
    // A file:// URL only from `[feeds] file_dirs` (checked again before every pull).
    if let Some(pull) = &added.entry.feed.pull {
        dir.file_source(&pull.url)
            .with_context(|| format!("{}: feed {name} was not registered", from.display()))?;
    }
    let before = added.replaced.as_deref().map(|t| audited(t, None));
    store
        .audit()
        .audit_append(
            actor(),
            if before.is_some() {
                "feed.replace"
            } else {
                "feed.add"
            },
            &format!("feed:{name}"),
            before.as_ref(),
            Some(&audited(&added.entry.toml, Some(from))),
        )
        .with_context(|| {
            format!("recording the change in the audit log; feed {name} was not changed")
        })?;
    Ok(staged.commit()?)
}

fn add(
    dir: &crate::config::DataDir,
    registry: &Registry,
    store: &dyn Store,
    file: &Path,
    replace: bool,
    json: bool,
) -> Result<()> {
    let size = std::fs::metadata(file)
        .with_context(|| format!("reading {}", file.display()))?
        .len();
    if size > focal_feeds::registry::MAX_DEFINITION_BYTES {
        bail!(
            "{}: larger than {} bytes; a feed definition is a short file",
            file.display(),
            focal_feeds::registry::MAX_DEFINITION_BYTES
        );
    }
    let toml = std::fs::read_to_string(file).with_context(|| {
        format!(
            "reading {} (a feed definition is UTF-8 text)",
            file.display()
        )
    })?;
    let added = register(dir, registry, store, toml, file, replace)?;
    let name = added.entry.name().to_string();
    if json {
        return print_json(&serde_json::json!({
            "added": view(&added.entry, None),
            "replaced": added.replaced.is_some(),
        }));
    }
    let what = if added.replaced.is_some() {
        "Replaced"
    } else {
        "Registered"
    };
    let schedule = match added.entry.feed.pull.as_ref() {
        None => "no [pull] table: ingest its files with `focal ingest`".to_string(),
        Some(p) => match p.every_secs {
            Some(s) => format!("pulled every {} by `focal serve`", duration(s)),
            None => "pulled on request (`focal feeds pull`)".to_string(),
        },
    };
    println!(
        "{what} feed {name} as {} ({schedule}).",
        added.entry.path.display()
    );
    Ok(())
}

/// Every registered feed with its last pull; definitions that do not validate are reported on
/// stderr (and in JSON as `problems`) rather than hidden.
fn views(registry: &Registry, store: &dyn Store) -> Result<(Vec<FeedView>, Vec<String>)> {
    let last = store.latest_pulls()?;
    let mut feeds = Vec::new();
    let mut problems = Vec::new();
    for entry in registry.list()? {
        match entry {
            Ok(e) => {
                let l = last.iter().find(|p| p.feed == e.name());
                feeds.push(view(&e, l));
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    Ok((feeds, problems))
}

fn list(registry: &Registry, store: &dyn Store, json: bool) -> Result<()> {
    let (feeds, problems) = views(registry, store)?;
    if json {
        return print_json(&serde_json::json!({"feeds": feeds, "problems": problems}));
    }
    let mut out = std::io::stdout().lock();
    for p in &problems {
        eprintln!("warning: not usable: {p}");
    }
    if feeds.is_empty() {
        writeln!(
            out,
            "No feeds are registered in {}; add one with `focal feeds add FILE`.",
            registry.dir().display()
        )?;
        return Ok(());
    }
    let mut t = Table::new(&[
        col("feed"),
        col("format"),
        col("schedule"),
        col("next due"),
        col("last pull"),
    ]);
    for f in &feeds {
        t.row(
            &mut out,
            vec![
                f.name.to_string(),
                f.format.to_string(),
                schedule(f),
                f.next_pull_due.as_deref().unwrap_or("-").into(),
                f.last_pull
                    .as_ref()
                    .map(pull_line)
                    .unwrap_or_else(|| "never".into()),
            ],
        )?;
    }
    t.finish(&mut out, "No feeds.")?;
    Ok(())
}

fn schedule(f: &FeedView) -> String {
    match &f.pull {
        None => "not pulled".into(),
        Some(p) => match p.every_secs {
            Some(s) => format!("every {}", duration(s)),
            None => "on request".into(),
        },
    }
}

/// `3600` → `1h`, `90` → `90s`.
pub fn duration(secs: u64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= n && secs.is_multiple_of(n) {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

fn pull_line(p: &PullRecord) -> String {
    let detail = match (&p.run, &p.error) {
        (_, Some(e)) => format!(": {e}"),
        (Some(r), None) => format!(
            " (run #{}: {} stored, {} quarantined)",
            p.run_id.unwrap_or(0),
            r.events_stored,
            r.quarantined
        ),
        (None, None) => String::new(),
    };
    format!("{} {}{detail}", p.result.as_str(), p.finished_at)
}

fn show(
    registry: &Registry,
    store: &dyn Store,
    name: &str,
    limit: usize,
    json: bool,
) -> Result<()> {
    let entry = registry.get(name)?;
    let pulls = store.pulls(name, 0, limit.max(1))?;
    let v = view(&entry, pulls.first());
    if json {
        return print_json(&serde_json::json!({
            "feed": v, "definition": entry.shown(), "pulls": pulls,
        }));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "feed       {}", v.name)?;
    writeln!(out, "file       {}", v.file)?;
    writeln!(out, "provider   {}", v.provider.as_deref().unwrap_or("-"))?;
    writeln!(out, "format     {}", v.format)?;
    writeln!(out, "tlp        {}", v.tlp)?;
    writeln!(out, "schedule   {}", schedule(&v))?;
    if let Some(p) = &v.pull {
        writeln!(out, "pull url   {}", p.url)?;
        writeln!(out, "max bytes  {}", p.max_bytes)?;
        writeln!(out, "timeout    {}", duration(p.timeout_secs))?;
    }
    writeln!(
        out,
        "next due   {}",
        v.next_pull_due.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "\npulls (newest first):")?;
    if pulls.is_empty() {
        writeln!(out, "  none yet")?;
    }
    for p in &pulls {
        writeln!(
            out,
            "  #{:<5} {:<9} {:<20} http {:<4} {:>10} bytes  {}",
            p.id,
            p.result.as_str(),
            p.requested_by,
            p.http_status
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            p.bytes.unwrap_or(0),
            pull_line(p)
        )?;
    }
    writeln!(
        out,
        "\ndefinition (secrets redacted):\n{}",
        entry.shown().trim_end()
    )?;
    Ok(())
}

fn remove(registry: &Registry, store: &dyn Store, name: &str, json: bool) -> Result<()> {
    // Recorded first, so a feed is never removed unrecorded.
    let toml = registry.read(name)?;
    store
        .audit()
        .audit_append(
            actor(),
            "feed.remove",
            &format!("feed:{name}"),
            Some(&audited(&toml, None)),
            None,
        )
        .with_context(|| {
            format!("recording the change in the audit log; feed {name} was not removed")
        })?;
    registry.remove(name)?;
    if json {
        return print_json(&serde_json::json!({"removed": name}));
    }
    println!("Removed feed {name} from the registry; its events, runs and downloads stay.");
    Ok(())
}

#[derive(Serialize)]
struct PullOut {
    feed: String,
    /// `ok`, `unchanged`, `failed`, or `deferred` (not attempted; see `reason`).
    result: String,
    reason: Option<String>,
    pull: Option<PullRecord>,
    summary: Option<focal_pipeline::FileSummary>,
}

fn pull_now(
    dir: crate::config::DataDir,
    store: Box<dyn Store>,
    registry: &Registry,
    name: Option<&str>,
    json: bool,
) -> Result<()> {
    let entries: Vec<Registered> = match name {
        Some(n) => vec![registry.get(n)?],
        None => {
            let mut list = Vec::new();
            for e in registry.list()? {
                match e {
                    Ok(e) if e.feed.pull.is_some() => list.push(e),
                    Ok(_) => {}
                    Err(e) => eprintln!("warning: not usable: {e}"),
                }
            }
            if list.is_empty() {
                bail!(
                    "no registered feed has a [pull] url (see `focal feeds list` and docs/FEEDS.md)"
                );
            }
            list
        }
    };
    let ctx = pull::Context {
        dir: Arc::new(dir),
        store: Arc::from(store),
        quiet: json,
        stop: None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let by = format!("cli:{}", super::audit::actor_name());
    let mut outs = Vec::new();
    for entry in &entries {
        let out = match rt
            .block_on(pull::pull(&ctx, entry, &by))
            .with_context(|| format!("pulling feed {}", entry.name()))?
        {
            Attempt::Done(done) => PullOut {
                feed: entry.name().to_string(),
                result: done.record.result.as_str().into(),
                reason: done.record.error.clone(),
                pull: Some(done.record),
                summary: done.summary,
            },
            Attempt::Deferred(reason) => PullOut {
                feed: entry.name().to_string(),
                result: "deferred".into(),
                reason: Some(reason),
                pull: None,
                summary: None,
            },
        };
        if !json {
            match (&out.pull, &out.summary) {
                (Some(p), Some(s)) if p.result != PullResult::Failed => {
                    print!("{}: {} — ", out.feed, p.result.as_str());
                    super::ingest::print_summary(s);
                }
                (Some(p), _) if p.result == PullResult::Unchanged => println!(
                    "{}: unchanged (HTTP {}: the server has nothing new).",
                    out.feed,
                    p.http_status.unwrap_or(304)
                ),
                _ => println!(
                    "{}: {}: {}",
                    out.feed,
                    out.result,
                    out.reason.as_deref().unwrap_or("")
                ),
            }
        }
        outs.push(out);
    }
    if json {
        print_json(&serde_json::json!({"pulls": outs}))?;
    }
    let failed: Vec<&str> = outs
        .iter()
        .filter(|o| o.result == "failed" || o.result == "deferred")
        .map(|o| o.feed.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "not pulled: {} (see `focal feeds show NAME`)",
            failed.join(", ")
        );
    }
    Ok(())
}
