//! `focal library`: the cyber-policy library: import and export its JSON, search it, show an
//! entity or an item.

use super::advisories::read_bounded;
use super::audit::actor;
use super::table::{Table, col, num};
use super::{open, print_json};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_awareness::library::{self, ItemType, LibraryFile, SearchRequest};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum LibraryCommand {
    /// Import a library file (docs/AWARENESS.md): each entity replaces the stored one with its
    /// id; the whole file or nothing.
    Import { file: PathBuf },
    /// Write the library (or some entities) as a library file.
    Export {
        /// Only this entity (repeat).
        #[arg(long = "entity")]
        entities: Vec<String>,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Full-text search with filters; prints hits and facet counts.
    Search(SearchArgs),
    /// Show an entity (`un`) or one item (`un/a-res-57-239`).
    Show { id: String },
    /// List the entities.
    List,
}

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Words (all required), "quoted phrases", symbols like 57/239. Empty: filters only.
    #[arg(default_value = "")]
    pub query: String,
    /// Item type (repeat): strategy, law, resolution, report, standard, guideline, meeting, programme, body.
    #[arg(long = "type", value_parser = ItemType::parse)]
    pub types: Vec<ItemType>,
    /// Issuing or organising body, exactly as stored (repeat).
    #[arg(long = "body")]
    pub bodies: Vec<String>,
    /// Country code of the entity (repeat).
    #[arg(long = "country")]
    pub countries: Vec<String>,
    /// Only this entity.
    #[arg(long)]
    pub entity: Option<String>,
    /// Only this year (same as --from-year Y --to-year Y).
    #[arg(long, conflicts_with_all = ["from_year", "to_year"])]
    pub year: Option<i32>,
    #[arg(long)]
    pub from_year: Option<i32>,
    #[arg(long)]
    pub to_year: Option<i32>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

pub fn run(data: &Path, cmd: LibraryCommand, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let lib = store.awareness();
    match cmd {
        LibraryCommand::Import { file } => {
            let bytes = read_bounded(&file, library::MAX_FILE_BYTES)?;
            let parsed = library::parse(&bytes, &file.display().to_string())?;
            let summary =
                lib.import_library(&parsed.entities, actor(), &file.display().to_string())?;
            if json {
                return print_json(&serde_json::json!({"file": file, "summary": summary}));
            }
            println!(
                "Imported {} entities ({} items) from {}: {} added, {} updated, {} unchanged.",
                summary.entities,
                summary.items,
                file.display(),
                summary.added,
                summary.updated,
                summary.unchanged
            );
            Ok(())
        }
        LibraryCommand::Export { entities, output } => {
            let file = LibraryFile::new(lib.library_entities(&entities)?);
            let text = serde_json::to_string_pretty(&file)? + "\n";
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display())),
                None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
            }
        }
        LibraryCommand::Search(args) => {
            let (from, to) = match args.year {
                Some(y) => (Some(y), Some(y)),
                None => (args.from_year, args.to_year),
            };
            let results = lib.search_library(&SearchRequest {
                query: args.query.clone(),
                types: args.types,
                bodies: args.bodies,
                countries: args.countries,
                entity: args.entity,
                year_from: from,
                year_to: to,
                limit: args.limit,
                offset: args.offset,
            })?;
            if json {
                return print_json(&results);
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "{} matches", results.total)?;
            let mut t = Table::new(&[
                col("item").max(48),
                col("type"),
                col("date"),
                col("symbol").max(24),
                col("title"),
            ]);
            for h in &results.hits {
                t.row(
                    &mut out,
                    vec![
                        format!("{}/{}", h.entity, h.item),
                        h.item_type.to_string(),
                        h.date.as_deref().unwrap_or("-").into(),
                        h.symbol.as_deref().unwrap_or("-").into(),
                        h.title.to_string(),
                    ],
                )?;
            }
            if !results.hits.is_empty() || results.total > 0 {
                t.finish(&mut out, "(no items on this page: see --offset)")?;
            }
            let line = |name: &str, facets: &[library::Facet]| -> String {
                let parts: Vec<String> = facets
                    .iter()
                    .take(10)
                    .map(|f| format!("{} ({})", f.value, f.count))
                    .collect();
                format!("{name}: {}", parts.join(", "))
            };
            writeln!(out, "{}", line("type", &results.facets.types))?;
            writeln!(out, "{}", line("body", &results.facets.body))?;
            writeln!(out, "{}", line("country", &results.facets.country))?;
            writeln!(out, "{}", line("year", &results.facets.year))?;
            Ok(())
        }
        LibraryCommand::Show { id } => match id.split_once('/') {
            Some((entity, item)) => {
                let item = lib.library_item(entity, item)?;
                if json {
                    return print_json(&item);
                }
                println!(
                    "{}{}",
                    item.title,
                    item.symbol
                        .as_deref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default()
                );
                println!(
                    "type {}, {}, {}",
                    item.item_type.as_str(),
                    item.bodies.join("; "),
                    item.date.as_deref().unwrap_or("undated")
                );
                for point in &item.summary {
                    println!("  • {point}");
                }
                for r in &item.relations {
                    println!("  {:?} {}", r.kind, r.target);
                }
                Ok(())
            }
            None => {
                let entity = lib.library_entities(std::slice::from_ref(&id))?.remove(0);
                if json {
                    return print_json(&entity);
                }
                println!("{} (last updated {})", entity.name, entity.last_updated);
                let mut out = std::io::stdout().lock();
                let mut t =
                    Table::new(&[col("place"), col("item").max(48), col("date"), col("title")]);
                for (place, item) in entity.items() {
                    t.row(
                        &mut out,
                        vec![
                            place.to_string(),
                            format!("{}/{}", entity.id, item.id),
                            item.date.as_deref().unwrap_or("-").into(),
                            item.title.to_string(),
                        ],
                    )?;
                }
                t.finish(&mut out, "It holds no items.")?;
                Ok(())
            }
        },
        LibraryCommand::List => {
            let list = lib.library_summaries()?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                bail!("the library is empty; import one with `focal library import FILE`");
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                col("entity"),
                col("name").max(60),
                num("items"),
                col("last updated"),
            ]);
            for e in &list {
                t.row(
                    &mut out,
                    vec![
                        e.id.to_string(),
                        e.name.to_string(),
                        e.items.to_string(),
                        e.last_updated.to_string(),
                    ],
                )?;
            }
            t.finish(&mut out, "")?;
            Ok(())
        }
    }
}

/// `focal stats public`: what the public statistics page will show.
pub fn public_stats(
    data: &Path,
    k: Option<u64>,
    since: Option<&str>,
    until: Option<&str>,
    json: bool,
) -> Result<()> {
    let (dir, store) = open(data)?;
    let k = k.unwrap_or(dir.config.awareness.public_k);
    if k < focal_awareness::config::MIN_K {
        bail!(
            "--k {k} is below {}: nothing would be suppressed",
            focal_awareness::config::MIN_K
        );
    }
    let time = |t: Option<&str>, flag: &str| -> Result<Option<jiff::Timestamp>> {
        t.map(|t| {
            t.parse::<jiff::Timestamp>()
                .or_else(|_| {
                    t.parse::<jiff::civil::Date>()
                        .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC))
                        .map(|z| z.timestamp())
                })
                .map_err(|_| {
                    anyhow::anyhow!("{flag} {t:?} is not a date (2026-11-23) or an RFC 3339 time")
                })
        })
        .transpose()
    };
    let window = focal_awareness::stats::StatsWindow {
        since: time(since, "--since")?,
        until: time(until, "--until")?,
    };
    let stats = focal_awareness::stats::public_stats(store.awareness(), k, window)?;
    if json {
        return print_json(&stats);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "Public statistics (TLP:CLEAR only; no figure below k = {k})"
    )?;
    let t = &stats.events_per_week;
    writeln!(
        out,
        "events per type per week: total {}",
        t.total.map_or("withheld".into(), |n| n.to_string())
    )?;
    for c in &t.cells {
        writeln!(
            out,
            "  {} {:<24} {}",
            c.key.week, c.key.classification_type, c.count
        )?;
    }
    if let Some(o) = t.other {
        writeln!(out, "  other (withheld cells together)   {o}")?;
    }
    let h = &stats.infected_hosts;
    writeln!(
        out,
        "infected hosts: total {}",
        h.total.map_or("withheld".into(), |n| n.to_string())
    )?;
    for c in &h.countries {
        writeln!(out, "  {} {}", c.country, c.hosts)?;
        for a in &c.asns.cells {
            writeln!(out, "    {} {}", a.key.asn, a.count)?;
        }
        if let Some(o) = c.asns.other {
            writeln!(out, "    other ASNs {o}")?;
        }
    }
    if let Some(o) = h.other {
        writeln!(out, "  other countries {o}")?;
    }
    if stats.time_to_resolution.available {
        writeln!(out, "median time to resolution (hours):")?;
        for w in &stats.time_to_resolution.weeks {
            writeln!(
                out,
                "  {} {:>6.1} h over {} incidents",
                w.week, w.median_hours, w.incidents
            )?;
        }
    } else {
        writeln!(
            out,
            "median time to resolution: not available on this store (no incidents)"
        )?;
    }
    Ok(())
}
