//! Validated STIX objects → the store, with provenance; and indicators → Focal events.
//!
//! Everything an inbound path accepts (`focal share import`, a TAXII POST, a pull from a peer)
//! comes through [`store_objects`]: one transaction, so a request is stored whole or not at all,
//! and versions already held (or received from the same peer before) are skipped, so nothing is
//! imported twice.

use crate::export::event_objects;
use crate::policy::{ShareMeta, Shareable};
use crate::stix::{self, Identity};
use focal_model::{ClassificationType, Event, Tlp};
use focal_store::sharing::{AddOutcome, Collection, NewObject, SharingStore, parse_timestamp_us};
use serde_json::Value;
use std::str::FromStr;

/// The collection every node has: what it shares by default and where pulls land by default.
pub const DEFAULT_COLLECTION: &str = "2a6e53e9-5c0e-4f0f-9d5b-6f3c1f0b7a11";

/// Creates the default collection if it is missing.
pub fn ensure_default_collection(store: &dyn SharingStore) -> focal_store::Result<()> {
    if store.collection(DEFAULT_COLLECTION)?.is_none() {
        store.put_collection(&Collection {
            id: DEFAULT_COLLECTION.into(),
            title: "Focal shared indicators".into(),
            description: Some("Indicators and sightings this node shares with its peers".into()),
            alias: Some("shared".into()),
            max_tlp: None,
        })?;
    }
    Ok(())
}

/// The policy metadata of an object received from elsewhere: its TLP from its markings (TLP:AMBER,
/// Focal's default, when it has none) and an RSIT type if its labels name one.
pub fn inbound_meta(o: &Value) -> ShareMeta {
    let classification_type = o
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|l| ClassificationType::from_str(l).ok())
        .map(|t| t.as_str().to_string());
    ShareMeta {
        tlp: stix::object_tlp(o).unwrap_or(UNMARKED_TLP),
        classification_type,
        constituent: None,
        sensitive: Vec::new(),
        foreign: false,
    }
}

/// The row for one object version.
pub fn new_object(item: &Shareable) -> NewObject {
    let o = &item.object;
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let version = s("modified").or_else(|| s("created"));
    NewObject {
        id: s("id").unwrap_or_default(),
        type_: s("type").unwrap_or_default(),
        version_us: version.as_deref().and_then(parse_timestamp_us),
        version,
        spec_version: s("spec_version").unwrap_or_else(|| "2.1".into()),
        tlp: item.meta.tlp.as_str().to_string(),
        meta: serde_json::to_string(&item.meta).unwrap_or_else(|_| "{}".into()),
        body: o.to_string(),
    }
}

/// Stores objects in a collection in one transaction. `origin` is the peer or user they came
/// from (`None` for objects made on this node).
pub fn store_objects(
    store: &dyn SharingStore,
    collection: &str,
    items: &[Shareable],
    origin: Option<&str>,
) -> focal_store::Result<AddOutcome> {
    let rows: Vec<NewObject> = items.iter().map(new_object).collect();
    store.add_objects(collection, &rows, origin)
}

/// Inbound objects (already validated) with the metadata they carry. `foreign`: they come from
/// another organisation (a peer), which limits how far TLP:AMBER may travel on.
pub fn inbound_items(objects: Vec<Value>, foreign: bool) -> Vec<Shareable> {
    objects
        .into_iter()
        .map(|o| {
            let mut meta = inbound_meta(&o);
            meta.foreign = foreign;
            Shareable { meta, object: o }
        })
        .collect()
}

/// Publishes events into a collection as STIX objects (with the node identity and the TLP
/// markings), for the TAXII server and pushes to serve. Returns the outcome of the add.
pub fn publish_events(
    store: &dyn SharingStore,
    collection: &str,
    node: &Identity,
    events: &[Event],
) -> focal_store::Result<AddOutcome> {
    let mut items = crate::export::node_objects(node);
    for e in events {
        items.extend(event_objects(e, node));
    }
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.object["id"].to_string()));
    store_objects(store, collection, &items, None)
}

/// A simple comparison of a pattern: `[type:value = 'v']` (or a file hash), the shape peers
/// use for atomic indicators. Anything more complex stays a STIX object only.
fn simple_comparisons(pattern: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in pattern.split(" OR ") {
        let p = part
            .trim()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .trim();
        let Some((path, value)) = p.split_once(" = ") else {
            continue;
        };
        let value = value.trim();
        if value.len() < 2 || !value.starts_with('\'') || !value.ends_with('\'') {
            continue;
        }
        let inner = &value[1..value.len() - 1];
        if inner.contains('\'') || inner.contains('\\') {
            continue;
        }
        out.push((path.trim().to_string(), inner.to_string()));
    }
    out
}

/// Events for the indicators among `objects`: one per indicator whose pattern is a simple
/// address, network, domain or URL comparison. The feed is `peer:<name>`, the time
/// `valid_from`, the type from the labels (else `undetermined`), the TLP from the markings.
pub fn events_from_objects(objects: &[Value], peer: &str, observed: jiff::Timestamp) -> Vec<Event> {
    let mut out = Vec::new();
    let feed: std::sync::Arc<str> = format!("peer:{peer}").into();
    for o in objects.iter().filter(|o| o["type"] == "indicator") {
        let Some(pattern) = o.get("pattern").and_then(Value::as_str) else {
            continue;
        };
        if o.get("pattern_type").and_then(Value::as_str) != Some("stix") {
            continue;
        }
        let meta = inbound_meta(o);
        let type_ = meta
            .classification_type
            .as_deref()
            .and_then(|t| t.parse().ok())
            .unwrap_or(ClassificationType::Undetermined);
        let mut e = Event::new(feed.clone(), observed, type_);
        e.tlp = meta.tlp;
        e.time_source = o
            .get("valid_from")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok());
        let mut any = false;
        for (path, value) in simple_comparisons(pattern) {
            let field = match path.as_str() {
                "ipv4-addr:value" | "ipv6-addr:value" if value.contains('/') => {
                    focal_model::Field::SourceNetwork
                }
                "ipv4-addr:value" | "ipv6-addr:value" => focal_model::Field::SourceIp,
                "domain-name:value" => focal_model::Field::SourceFqdn,
                "url:value" => focal_model::Field::SourceUrl,
                _ => continue,
            };
            if !e.has(&field) && e.set_text(&field, &value).is_ok() {
                any = true;
            }
        }
        if let Some(id) = o.get("id").and_then(Value::as_str) {
            e.extra
                .insert("stix.indicator_id".into(), Value::String(id.to_string()));
        }
        if let Some(name) = o.get("name").and_then(Value::as_str) {
            e.comment = Some(
                name.chars()
                    .take(focal_model::event::MAX_FIELD_BYTES / 4)
                    .collect(),
            );
        }
        if any {
            e.id = focal_model::DedupKey::default().event_id(&e, &mut Vec::new());
            out.push(e);
        }
    }
    out
}

/// TLP of objects without a marking when they arrive (Focal's default for feed data).
pub const UNMARKED_TLP: Tlp = Tlp::Amber;

/// Stores events made from inbound indicators as one completed run of their feed
/// (`peer:<name>`), so they are listed, counted and filtered like any other. Event ids are
/// deterministic, so storing the same indicators again adds nothing. Returns the events stored.
pub fn store_events(
    store: &dyn focal_store::Store,
    events: Vec<Event>,
    source: &str,
    sha256: &str,
) -> focal_store::Result<u64> {
    use focal_store::{EncodedEvent, NewRun, RunContext, RunProgress, RunStatus};
    let Some(first) = events.first() else {
        return Ok(0);
    };
    let observed = first.time_observation;
    let feed = first.feed_name.clone();
    let run = store.begin_run(&NewRun {
        feed: feed.to_string(),
        feed_provider: None,
        feed_url: None,
        observed,
        file_name: source.to_string(),
        sha256: sha256.to_string(),
        size: 0,
        resumed_from: None,
        progress: RunProgress::default(),
        status: RunStatus::Running,
    })?;
    let ctx = RunContext {
        feed_name: feed,
        feed_provider: None,
        feed_url: None,
        observed,
    };
    let key = focal_model::DedupKey::default();
    let n = events.len() as u64;
    let encoded: Vec<EncodedEvent> = events
        .into_iter()
        .map(|e| {
            let bucket = key.bucket(&e);
            EncodedEvent::new(e, bucket, &ctx)
        })
        .collect();
    let progress = {
        let mut writer = store.run_writer(run.id)?;
        let stored = writer.write(&encoded, &[])?;
        let progress = RunProgress {
            rows_read: n,
            events_stored: stored,
            duplicates: n - stored,
            ..RunProgress::default()
        };
        writer.commit(&progress)?;
        progress
    };
    store.finish_run(run.id, &progress, RunStatus::Completed)?;
    Ok(progress.events_stored)
}

/// The references an SRO cannot do without. They must point at an object in the same request
/// or one this node already holds: a relationship or sighting of nothing is refused.
const REQUIRED_REFS: [&str; 3] = ["source_ref", "target_ref", "sighting_of_ref"];

/// Every inbound path's gate: [`crate::validate::parse_objects`] (shape and limits), then the
/// references of relationships and sightings resolved against the request and the store.
pub fn accept(
    store: &dyn SharingStore,
    collection: &str,
    bytes: &[u8],
    limits: &crate::validate::Limits,
) -> Result<Vec<Value>, AcceptError> {
    let objects = crate::validate::parse_objects(bytes, limits)?;
    let in_request: std::collections::HashSet<&str> =
        objects.iter().filter_map(|o| o["id"].as_str()).collect();
    let mut wanted: Vec<(usize, &str, String)> = Vec::new();
    for (index, o) in objects.iter().enumerate() {
        for key in REQUIRED_REFS {
            if let Some(r) = o.get(key).and_then(Value::as_str)
                && !in_request.contains(r)
            {
                wanted.push((index, key, r.to_string()));
            }
        }
    }
    if !wanted.is_empty() {
        let ids: Vec<String> = wanted.iter().map(|w| w.2.clone()).collect();
        let known = store.known_ids(collection, &ids)?;
        if let Some((index, key, r)) = wanted.into_iter().find(|w| !known.contains(&w.2)) {
            return Err(AcceptError::Inbound(
                crate::validate::InboundError::Object {
                    index,
                    id: objects[index]["id"].as_str().unwrap_or("no id").to_string(),
                    field: key.to_string(),
                    reason: format!(
                        "refers to {r}, which is neither in this request nor in this collection"
                    ),
                },
            ));
        }
    }
    Ok(objects)
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error(transparent)]
    Inbound(#[from] crate::validate::InboundError),
    #[error(transparent)]
    Store(#[from] focal_store::StoreError),
}

/// The objects of an inbound request that should become events: those just stored, and those
/// already stored from the same origin (the same request replayed after a process died between
/// storing the objects and their events). Event ids are deterministic, so the replayed ones add
/// nothing twice; objects this node already had from elsewhere (its own, echoed back by a peer)
/// are not turned into events again.
pub fn event_candidates(
    store: &dyn SharingStore,
    items: &[Shareable],
    outcome: &AddOutcome,
    origin: Option<&str>,
) -> focal_store::Result<Vec<Value>> {
    let mut wanted: std::collections::HashSet<(String, String)> = outcome
        .added
        .iter()
        .map(|a| (a.0.clone(), a.1.clone()))
        .collect();
    if let Some(origin) = origin {
        for (id, version) in &outcome.already_present {
            let Some(us) = parse_timestamp_us(version) else {
                continue;
            };
            if store.provenance(id, us)?.iter().any(|p| p == origin) {
                wanted.insert((id.clone(), version.clone()));
            }
        }
    }
    Ok(items
        .iter()
        .filter(|i| {
            let id = i.object["id"].as_str().unwrap_or_default().to_string();
            let version = ["modified", "created"]
                .iter()
                .find_map(|k| i.object[*k].as_str());
            match version {
                Some(v) => wanted.contains(&(id, v.to_string())),
                None => wanted.iter().any(|w| w.0 == id),
            }
        })
        .map(|i| i.object.clone())
        .collect())
}

/// Turns the indicators of an inbound request into events (feed `peer:<origin>`) and stores them.
/// Returns the events stored.
pub fn derive_events<S: SharingStore + focal_store::Store>(
    store: &S,
    items: &[Shareable],
    outcome: &AddOutcome,
    origin: Option<&str>,
    source: &str,
) -> focal_store::Result<u64> {
    let candidates = event_candidates(store, items, outcome, origin)?;
    let now = jiff::Timestamp::now();
    let events = events_from_objects(&candidates, origin.unwrap_or("file"), now);
    let sha = crate::users::token_hash(&format!("{source}@{now}"));
    store_events(store, events, source, &sha)
}
