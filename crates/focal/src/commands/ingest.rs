//! `focal ingest`: load the enrichment tables once, then read each file.

use super::{open, print_json};
use crate::cli::IngestArgs;
use crate::config::DataDir;
use crate::progress::Progress;
use anyhow::{Context, Result};
use focal_enrich::{AsnTable, Constituency, CountryDb, Enricher};
use focal_feeds::Feed;
use focal_pipeline::{FileSummary, IngestOptions, ingest_file};
use focal_store::Store;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Builds the enricher from the configuration, with command-line overrides.
pub fn enricher(
    dir: &DataDir,
    store: &dyn Store,
    asn: &[PathBuf],
    country: Option<&Path>,
) -> Result<Enricher> {
    let started = Instant::now();
    let asn_paths: Vec<PathBuf> = if asn.is_empty() {
        dir.config
            .enrichment
            .asn
            .iter()
            .map(|p| dir.resolve(p))
            .collect()
    } else {
        asn.to_vec()
    };
    let asn = if asn_paths.is_empty() {
        None
    } else {
        Some(AsnTable::load(&asn_paths)?)
    };
    let country_path = country.map(Path::to_path_buf).or_else(|| {
        dir.config
            .enrichment
            .country
            .as_ref()
            .map(|p| dir.resolve(p))
    });
    let country = country_path.as_deref().map(CountryDb::open).transpose()?;
    let constituents = store.constituents()?;
    let enricher = Enricher {
        asn,
        country,
        constituency: Constituency::new(&constituents),
    };
    tracing::info!(
        asn_ranges = enricher.asn.as_ref().map(|a| a.ranges()).unwrap_or(0),
        overlapping_asn_rows = enricher
            .asn
            .as_ref()
            .map(|a| a.overlapping_rows)
            .unwrap_or(0),
        country_db = enricher.country.is_some(),
        constituents = constituents.len(),
        seconds = started.elapsed().as_secs_f64(),
        "Enrichment tables loaded."
    );
    if enricher.asn.is_none() {
        tracing::warn!(
            "No ASN data: events get no source.asn, and constituents are matched by netblock and domain only."
        );
    }
    Ok(enricher)
}

pub fn run(data: &Path, args: &IngestArgs, json: bool) -> Result<()> {
    let (dir, store) = open(data)?;
    let feed = Feed::load(&args.feed)?;
    for file in &args.files {
        if !file.is_file() {
            anyhow::bail!("{}: no such file", file.display());
        }
    }
    let enricher = enricher(&dir, &*store, &args.asn, args.country.as_deref())?;
    let options = IngestOptions {
        batch_size: args.batch_size.max(1),
        commit_rows: args.commit_rows.max(1),
        workers: args.workers,
        force: args.force,
        stop: None,
    };
    let summaries = ingest_files(
        &*store,
        &enricher,
        &feed,
        &args.files,
        &options,
        &Progress::new(),
    )?;
    if !args.no_group {
        super::incidents::group_after_ingest(&dir, &*store)?;
    }
    if json {
        print_json(&serde_json::json!({ "files": summaries }))?;
    } else {
        for s in &summaries {
            print_summary(s);
        }
    }
    let max_share = args.max_quarantined / 100.0;
    let too_many: Vec<&FileSummary> = summaries
        .iter()
        .filter(|s| s.rows_read > 0 && s.quarantined as f64 / s.rows_read as f64 > max_share)
        .collect();
    if too_many.is_empty() {
        return Ok(());
    }
    let candidates = candidates(&dir, &feed);
    let mut message = String::new();
    for s in too_many {
        message.push_str(&format!(
            "{}: {} of {} records ({:.0} %) were quarantined with feed {} (more than {} %): the definition probably does not fit the file. ",
            s.file,
            s.quarantined,
            s.rows_read,
            100.0 * s.quarantined as f64 / s.rows_read as f64,
            s.feed,
            args.max_quarantined
        ));
        message.push_str(&suggestion(&candidates, Path::new(&s.file), max_share));
        message.push_str(&format!(
            " Try a definition with `focal feeds test DEF {}`.\n",
            s.file
        ));
    }
    anyhow::bail!("{}", message.trim_end())
}

/// Definitions to try on a file that did not fit: the shipped ones and the data folder's
/// registered ones, except the one that was used.
pub fn candidates(dir: &DataDir, used: &Feed) -> Vec<Feed> {
    let mut feeds = focal_feeds::shipped::feeds();
    if let Ok(list) = focal_feeds::Registry::new(&dir.root).list() {
        feeds.extend(list.into_iter().filter_map(|r| r.ok()).map(|r| r.feed));
    }
    feeds.retain(|f| f.name != used.name);
    feeds
}

/// "Definitions that read its first records: ..." or "No shipped or registered definition ...".
pub fn suggestion(candidates: &[Feed], file: &Path, max_share: f64) -> String {
    const ROWS: u64 = 50;
    let fits = focal_pipeline::probe::suggest(candidates, file, ROWS, max_share);
    if fits.is_empty() {
        return "No shipped or registered definition reads its first records either.".into();
    }
    let named: Vec<String> = fits
        .iter()
        .map(|(feed, p)| {
            format!(
                "{} ({}: {} of {} records quarantined)",
                feed.name, feed.source, p.quarantined, p.records
            )
        })
        .collect();
    format!(
        "Definitions that read its first {ROWS} records: {}.",
        named.join(", ")
    )
}

pub fn ingest_files(
    store: &dyn Store,
    enricher: &Enricher,
    feed: &Feed,
    files: &[PathBuf],
    options: &IngestOptions,
    progress: &Progress,
) -> Result<Vec<FileSummary>> {
    files
        .iter()
        .map(|file| {
            ingest_file(store, enricher, feed, file, options, progress)
                .with_context(|| format!("ingesting {} with feed {}", file.display(), feed.name))
        })
        .collect()
}

pub fn print_summary(s: &FileSummary) {
    if s.status == focal_store::RunStatus::AlreadyIngested {
        println!(
            "{}: already ingested for feed {} (same SHA-256); no new events.",
            s.file, s.feed
        );
        return;
    }
    let resumed = s
        .resumed_from
        .map(|r| format!(" (resumed run #{r})"))
        .unwrap_or_default();
    println!(
        "{}{resumed}: {} rows read, {} events stored, {} duplicates, {} quarantined in {:.2}s [run #{}]",
        s.file, s.rows_read, s.events_stored, s.duplicates, s.quarantined, s.seconds, s.run_id
    );
    for (kind, n) in &s.quarantined_by_kind {
        println!("  quarantined {kind}: {n}");
    }
}
