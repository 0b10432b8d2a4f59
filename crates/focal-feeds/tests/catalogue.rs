//! The shipped catalogue, data-driven: every definition in `feeds/*.toml` reads its synthetic
//! sample `feeds/samples/<name>.<ext>` (`<name>` is the definition's `name`) into exactly the
//! events and quarantined records written in `feeds/samples/<name>.expected.jsonl`.
//!
//! The expected file has one JSON object per line: first each event, in order (its harmonised
//! fields except `time.observation` and the feed's provider and URL, its TLP, its `extra.*` and
//! its raw record as text), then each quarantined record (`quarantined`: its line number, `kind`,
//! `field`, `reason`). Any difference fails the test, naming the definition and the first line
//! that differs; every definition without a sample or an expected file is named too.
//!
//! After changing a definition or a sample, write the expected file again with
//! `FOCAL_BLESS=1 cargo test -p focal-feeds --test catalogue` and READ the diff: the test only
//! guards what was checked by hand once.

use focal_feeds::read::RecordReader;
use focal_feeds::{Feed, Format, Rejection, input};
use focal_model::{Event, Field};
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

fn feeds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../feeds")
}

/// The ingest time every event gets (the samples carry their own `time.source` where the feed has one).
fn observed() -> jiff::Timestamp {
    "2026-01-15T12:00:00Z".parse().unwrap()
}

/// Every shipped definition file, sorted.
fn definitions() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(feeds_dir())
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

/// Reads a whole file with the feed, as `focal ingest` does: decompressed, the file's own time
/// applied, header first for CSV, then batches (small, so that a sample spans several).
fn run(feed: &Feed, path: &Path) -> Result<(Vec<Event>, Vec<Rejection>), String> {
    let timed;
    let feed = match feed.file_time(path).map_err(|e| e.to_string())? {
        Some(t) => {
            timed = feed.with_source_time(t);
            &timed
        }
        None => feed,
    };
    let mut scratch = feed.scratch();
    let stream = input::open(feed, path).map_err(|e| e.to_string())?;
    let mut reader = RecordReader::new(stream, feed.skip_rules(), 0, 1);
    let layout = match feed.format() {
        Format::Csv if feed.definition.csv.header => {
            let (_, header) = reader
                .read_first_record()
                .map_err(|e| e.to_string())?
                .ok_or("the sample has no header line")?;
            let names = feed.split_header(&header, &mut scratch)?;
            Some(feed.csv_layout(Some(&names))?)
        }
        Format::Csv => Some(feed.csv_layout(None)?),
        _ => None,
    };
    let (mut events, mut rejections) = (Vec::new(), Vec::new());
    while let Some(batch) = reader.next_batch(3).map_err(|e| e.to_string())? {
        feed.parse_batch(
            layout.as_ref(),
            &batch,
            observed(),
            &mut scratch,
            &mut events,
            &mut rejections,
        );
    }
    Ok((events, rejections))
}

/// The fields of an event that the expected file records.
const FIELDS: &[&str] = &[
    "feed.name",
    "time.source",
    "classification.taxonomy",
    "classification.type",
    "classification.identifier",
    "source.ip",
    "source.port",
    "source.network",
    "source.asn",
    "source.as_name",
    "source.geolocation.cc",
    "source.fqdn",
    "source.url",
    "destination.ip",
    "destination.port",
    "destination.fqdn",
    "protocol.transport",
    "protocol.application",
    "malware.name",
    "comment",
];

fn event_json(event: &Event) -> Value {
    let mut out = Map::new();
    for name in FIELDS {
        let field: Field = name.parse().unwrap();
        if let Some(text) = event.get_text(&field) {
            out.insert((*name).into(), text.into_owned().into());
        }
    }
    out.insert("tlp".into(), event.tlp.label().into());
    for (key, value) in &event.extra {
        out.insert(format!("extra.{key}"), value.clone());
    }
    if let Some(raw) = &event.raw {
        out.insert(
            "raw".into(),
            String::from_utf8_lossy(raw).into_owned().into(),
        );
    }
    Value::Object(out)
}

fn rejection_json(r: &Rejection) -> Value {
    json!({
        "quarantined": r.line,
        "kind": r.kind.as_str(),
        "field": r.field,
        "reason": r.reason,
    })
}

/// The sample of the feed called `name`: `samples/<name>.<ext>`, the expected file aside.
fn sample_of(name: &str) -> Result<PathBuf, String> {
    let dir = feeds_dir().join("samples");
    let prefix = format!("{name}.");
    let found: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let file = p.file_name().unwrap().to_string_lossy();
            file.starts_with(&prefix) && !file.ends_with(".expected.jsonl")
        })
        .collect();
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("no sample samples/{name}.<ext>")),
        many => Err(format!("several samples for {name}: {many:?}")),
    }
}

/// Checks one definition; `Err` says what is wrong.
fn check(definition: &Path, bless: bool) -> Result<usize, String> {
    let text = std::fs::read_to_string(definition).map_err(|e| e.to_string())?;
    let feed = Feed::load(definition).map_err(|e| e.to_string())?;
    let name = feed.name.to_string();
    let d = &feed.definition;
    let provider = d.provider.as_deref().ok_or("no provider")?;
    let documentation = d.documentation.as_deref().ok_or("no documentation URL")?;
    if !text
        .lines()
        .any(|l| l.trim_start().starts_with('#') && l.contains(documentation))
    {
        return Err(format!(
            "the documentation URL {documentation} is not in a comment"
        ));
    }
    if !text.contains("\"classification.type\"") {
        return Err("no classification.type (a constant, a map or a when)".into());
    }
    let sample = sample_of(&name)?;
    let (events, rejections) = run(&feed, &sample).map_err(|e| format!("{sample:?}: {e}"))?;
    if events.is_empty() {
        return Err(format!("{}: no events", sample.display()));
    }
    if rejections.is_empty() {
        return Err(format!(
            "{}: no quarantined record (each sample has a malformed one)",
            sample.display()
        ));
    }
    for e in &events {
        if *e.feed_name != *name || e.feed_provider.as_deref() != Some(provider) {
            return Err(format!(
                "an event has feed {} / {:?}",
                e.feed_name, e.feed_provider
            ));
        }
    }
    let mut buf = Vec::new();
    let ids: HashSet<_> = events
        .iter()
        .map(|e| feed.dedup.event_id(e, &mut buf))
        .collect();
    if ids.len() != events.len() {
        return Err("distinct sample records collapse into one event (dedup key)".into());
    }
    let got: Vec<Value> = events
        .iter()
        .map(event_json)
        .chain(rejections.iter().map(rejection_json))
        .collect();
    let expected_path = feeds_dir()
        .join("samples")
        .join(format!("{name}.expected.jsonl"));
    if bless {
        let mut out = String::new();
        for v in &got {
            out.push_str(&serde_json::to_string(v).unwrap());
            out.push('\n');
        }
        std::fs::write(&expected_path, out).map_err(|e| e.to_string())?;
        return Ok(events.len());
    }
    let expected = std::fs::read_to_string(&expected_path)
        .map_err(|e| format!("no expected file samples/{name}.expected.jsonl: {e}"))?;
    let expected: Vec<Value> = expected
        .lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{name}.expected.jsonl line {}: {e}", i + 1))
        })
        .collect::<Result<_, _>>()?;
    for (i, (want, have)) in expected.iter().zip(&got).enumerate() {
        if want != have {
            return Err(format!(
                "{name}.expected.jsonl line {}:\n  expected {want}\n  got      {have}",
                i + 1
            ));
        }
    }
    if expected.len() != got.len() {
        return Err(format!(
            "{name}.expected.jsonl has {} lines, the sample gives {}",
            expected.len(),
            got.len()
        ));
    }
    Ok(events.len())
}

#[test]
fn every_definition_reads_its_sample_as_expected() {
    let bless = std::env::var_os("FOCAL_BLESS").is_some();
    let mut failures = Vec::new();
    let mut names = HashSet::new();
    for definition in definitions() {
        let file = definition
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        match Feed::load(&definition) {
            Ok(feed) if !names.insert(feed.name.to_string()) => {
                failures.push(format!("{file}: feed name {} is used twice", feed.name))
            }
            _ => {}
        }
        if let Err(e) = check(&definition, bless) {
            failures.push(format!("{file}: {e}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} definitions fail:\n{}",
        failures.len(),
        definitions().len(),
        failures.join("\n")
    );
}

#[test]
fn every_sample_and_expected_file_belongs_to_a_definition() {
    let names: HashSet<String> = definitions()
        .iter()
        .map(|p| Feed::load(p).unwrap().name.to_string())
        .collect();
    let mut strays = Vec::new();
    for entry in std::fs::read_dir(feeds_dir().join("samples")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let stem = file.split('.').next().unwrap_or_default();
        if !names.contains(stem) {
            strays.push(file);
        }
    }
    assert!(strays.is_empty(), "samples of no definition: {strays:?}");
}

/// Issue 14, item 7: the catalogue holds at least 60 definitions (feeds/README.md lists them).
#[test]
fn the_catalogue_holds_at_least_60_definitions() {
    let n = definitions().len();
    assert!(n >= 60, "only {n} definitions in feeds/");
}
