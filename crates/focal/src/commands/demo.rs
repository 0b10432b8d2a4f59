//! `focal demo`: the main job on bundled example data, from nothing to a summary.

use super::{open, print_json, print_stats};
use crate::cli::{DemoArgs, InitArgs};
use anyhow::{Context, Result, bail};
use focal_feeds::Feed;
use focal_pipeline::IngestOptions;
use std::path::{Path, PathBuf};

/// Where `cargo run` finds the bundled data: the source tree's `data/` and `feeds/`.
fn default_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn run(data: &Path, args: &DemoArgs, json: bool) -> Result<()> {
    let root = args.from.clone().unwrap_or_else(default_source);
    let root = root.canonicalize().unwrap_or(root);
    let demo = root.join("data/demo");
    if !demo.join("feed.csv").exists() {
        bail!(
            "{}: no bundled example data here; pass --from with the Focal source folder",
            demo.display()
        );
    }
    if data.exists() {
        if !data.join(crate::config::CONFIG_FILE).exists() {
            bail!(
                "{} exists and is not a Focal data folder; choose another with --data",
                data.display()
            );
        }
        // The demo always starts from a fresh folder, but only ever removes a Focal data folder.
        std::fs::remove_dir_all(data)
            .with_context(|| format!("removing the old demo folder {}", data.display()))?;
    }
    super::init(
        data,
        &InitArgs {
            postgres: None,
            asn: vec![demo.join("asn-ipv4.csv"), demo.join("asn-ipv6.csv")],
            country: Some(root.join("data/ipdb/geo-whois-asn-country.mmdb")),
        },
        json,
        true,
    )?;
    let (dir, store) = open(data)?;
    let file = demo.join("constituents.csv");
    let list =
        focal_enrich::parse_constituents(std::fs::File::open(&file)?, &file.display().to_string())?;
    focal_store::Store::import_constituents(&*store, &list)?;
    let enricher = super::ingest::enricher(&dir, &*store, &[], None)?;

    // The reference drone feed, then one sample of each shipped public feed format.
    let mut feeds: Vec<(PathBuf, PathBuf)> = vec![(
        root.join("bench/reference-feed.toml"),
        demo.join("feed.csv"),
    )];
    for (def, sample) in [
        ("spamhaus-drop.toml", "spamhaus-drop.txt"),
        ("spamhaus-drop-json.toml", "spamhaus-drop-v4.json"),
        ("abusech-feodo-ipblocklist.toml", "feodo-ipblocklist.csv"),
        ("blocklist-de.toml", "blocklist-de-all.txt"),
    ] {
        let (def, sample) = (
            root.join("feeds").join(def),
            root.join("feeds/samples").join(sample),
        );
        if def.exists() && sample.exists() {
            feeds.push((def, sample));
        }
    }
    let mut summaries = Vec::new();
    for (def, sample) in &feeds {
        let feed = Feed::load(def)?;
        summaries.extend(super::ingest::ingest_files(
            &*store,
            &enricher,
            &feed,
            std::slice::from_ref(sample),
            &IngestOptions::default(),
        )?);
    }
    super::incidents::group_after_ingest(&dir, &*store)?;
    let stats = focal_store::Store::stats(&*store)?;
    if json {
        return print_json(&serde_json::json!({"data": data, "files": summaries, "stats": stats}));
    }
    println!("Focal demo: a fresh data folder at {}", data.display());
    println!("Imported {} constituents.", list.len());
    for s in &summaries {
        super::ingest::print_summary(s);
    }
    println!();
    print_stats(&stats)?;
    println!();
    println!("Try next:");
    println!("  focal --data {} events --limit 5", data.display());
    println!(
        "  focal --data {} events --country NL --format csv",
        data.display()
    );
    println!("  focal --data {} quarantine --limit 5", data.display());
    println!("  focal --data {} stats --json", data.display());
    println!("  focal --data {} incidents --limit 5", data.display());
    println!("  focal --data {} notify --dry-run", data.display());
    Ok(())
}
