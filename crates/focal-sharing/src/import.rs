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

/// The alias of the collection every node has: what it shares by default and where pulls land
/// by default. Its id is random, made with the node (`store.collection` takes ids or aliases).
pub const DEFAULT_COLLECTION: &str = "shared";

/// Creates the default collection if it is missing, with a random id of its own.
pub fn ensure_default_collection(store: &dyn SharingStore) -> focal_store::Result<()> {
    if store.collection(DEFAULT_COLLECTION)?.is_none() {
        store.put_collection(&Collection {
            id: stix::random_uuid().to_string(),
            title: "Focal shared indicators".into(),
            description: Some("Indicators and sightings this node shares with its peers".into()),
            alias: Some(DEFAULT_COLLECTION.into()),
            max_tlp: None,
            api_root: focal_store::sharing::DEFAULT_API_ROOT.into(),
        })?;
    }
    Ok(())
}

/// The id of the default collection (made if missing).
pub fn default_collection_id(store: &dyn SharingStore) -> focal_store::Result<String> {
    ensure_default_collection(store)?;
    Ok(store
        .collection(DEFAULT_COLLECTION)?
        .map(|c| c.id)
        .unwrap_or_else(|| DEFAULT_COLLECTION.to_string()))
}

/// The policy metadata of an object received from elsewhere, with only the official TLP
/// marking ids understood (any other marking makes it TLP:RED): see [`inbound_meta_with`].
pub fn inbound_meta(o: &Value) -> ShareMeta {
    inbound_meta_with(o, &|_| stix::MarkingSense::Unknown)
}

/// The policy metadata of an object received from elsewhere: its TLP from its markings, each
/// interpreted by `sense` (TLP:AMBER, Focal's default, when none names a level; TLP:RED when
/// one cannot be interpreted, so an unknown marking never lets an object travel further than
/// its sender meant), and an RSIT type if its labels name one.
pub fn inbound_meta_with(o: &Value, sense: &dyn Fn(&str) -> stix::MarkingSense) -> ShareMeta {
    let classification_type = o
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|l| ClassificationType::from_str(l).ok())
        .map(|t| t.as_str().to_string());
    let (tlp, uninterpreted_markings) = stix::interpreted_tlp(o, sense);
    ShareMeta {
        tlp: tlp.unwrap_or(UNMARKED_TLP),
        classification_type,
        constituent: None,
        sensitive: Vec::new(),
        foreign: false,
        uninterpreted_markings,
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
        // What decides who may read it, in columns of its own (see `policy::visibility`).
        foreign: item.meta.foreign,
        constituent: item.meta.constituent.clone(),
        body: o.to_string(),
        conversion: None,
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
    store_converted(store, collection, items, &[], origin)
}

/// As [`store_objects`], with the record of each object's conversion from STIX 2.0
/// (`conversions[i]` for `items[i]`; missing or `None`: not converted), kept with the object.
pub fn store_converted(
    store: &dyn SharingStore,
    collection: &str,
    items: &[Shareable],
    conversions: &[Option<crate::elevate::Conversion>],
    origin: Option<&str>,
) -> focal_store::Result<AddOutcome> {
    let rows: Vec<NewObject> = items
        .iter()
        .enumerate()
        .map(|(i, item)| NewObject {
            conversion: conversions
                .get(i)
                .and_then(Option::as_ref)
                .and_then(|c| serde_json::to_string(c).ok()),
            ..new_object(item)
        })
        .collect();
    store.add_objects(collection, &rows, origin)
}

/// Inbound objects (already validated) with the metadata they carry, markings interpreted from
/// the marking-definitions in the same request. `foreign`: they come from another organisation
/// (a peer), which limits how far TLP:AMBER may travel on.
pub fn inbound_items(objects: Vec<Value>, foreign: bool) -> Vec<Shareable> {
    let book = marking_book(&objects, std::collections::HashMap::new());
    items_with_book(objects, foreign, &book)
}

/// Takes out of `items` the `domain-name` observables that are this node's own pseudonyms
/// coming back (a peer relaying what this node released to it pseudonymised): they stand for
/// addresses the node holds in clear, so they are its own objects and, like its indicators
/// coming back, are not stored (stored, they would be relayed on as foreign objects and each
/// round would carry them further; found by the five-node star in
/// crates/focal/tests/federation_five.rs). Returns what to store and the ids taken out.
/// Only a request holding a pseudonym pays for it: one read of the node's own observables.
pub fn without_own_pseudonyms(
    store: &dyn SharingStore,
    collection: &str,
    key: &crate::policy::PseudonymKey,
    items: Vec<Shareable>,
) -> focal_store::Result<(Vec<Shareable>, Vec<String>)> {
    let pseudonym = |i: &Shareable| -> Option<String> {
        (i.object["type"] == "domain-name")
            .then(|| i.object["value"].as_str())
            .flatten()
            .filter(|v| v.ends_with(".pseudonym.invalid"))
            .map(str::to_string)
    };
    if !items.iter().any(|i| pseudonym(i).is_some()) {
        return Ok((items, Vec::new()));
    }
    let mut own = std::collections::HashSet::new();
    let mut q = focal_store::sharing::ObjectQuery {
        types: ["ipv4-addr", "ipv6-addr", "domain-name", "url"]
            .map(str::to_string)
            .to_vec(),
        versions: focal_store::sharing::VersionMatch::All,
        limit: 10_000,
        ..Default::default()
    };
    loop {
        let page = store.objects(collection, &q)?;
        for o in page.objects.iter().filter(|o| o.origin.is_none()) {
            if let Ok(v) = serde_json::from_str::<Value>(&o.body)
                && let Some(value) = v.get("value").and_then(Value::as_str)
            {
                own.insert(key.pseudonym(value));
            }
        }
        match page.objects.last() {
            Some(last) if page.more => q.after_added = Some(last.date_added),
            _ => break,
        }
    }
    let mut taken = Vec::new();
    let kept = items
        .into_iter()
        .filter(|i| match pseudonym(i) {
            Some(p) if own.contains(&p) => {
                taken.push(i.object["id"].as_str().unwrap_or("").to_string());
                false
            }
            _ => true,
        })
        .collect();
    Ok((kept, taken))
}

/// As [`inbound_items`], also interpreting marking-definitions this collection already holds
/// (a peer may have sent the definition on an earlier page).
pub fn inbound_items_in(
    store: &dyn SharingStore,
    collection: &str,
    objects: Vec<Value>,
    foreign: bool,
) -> focal_store::Result<Vec<Shareable>> {
    let in_request: std::collections::HashSet<&str> = objects
        .iter()
        .filter(|o| o["type"] == "marking-definition")
        .filter_map(|o| o["id"].as_str())
        .collect();
    let mut wanted: Vec<String> = objects
        .iter()
        .flat_map(stix::marking_refs)
        .filter(|r| stix::tlp_of_marking(r).is_none() && !in_request.contains(r))
        .map(str::to_string)
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut held = std::collections::HashMap::new();
    if !wanted.is_empty() {
        let page = store.objects(
            collection,
            &focal_store::sharing::ObjectQuery {
                ids: wanted.clone(),
                types: vec!["marking-definition".into()],
                limit: wanted.len(),
                ..Default::default()
            },
        )?;
        for s in page.objects {
            if let Ok(def) = serde_json::from_str::<Value>(&s.body) {
                held.insert(s.id, stix::interpret_marking(&def));
            }
        }
    }
    let book = marking_book(&objects, held);
    Ok(items_with_book(objects, foreign, &book))
}

/// The interpretation of every marking-definition in `objects`, added to `held`.
fn marking_book(
    objects: &[Value],
    mut held: std::collections::HashMap<String, stix::MarkingSense>,
) -> std::collections::HashMap<String, stix::MarkingSense> {
    for o in objects.iter().filter(|o| o["type"] == "marking-definition") {
        if let Some(id) = o["id"].as_str() {
            held.insert(id.to_string(), stix::interpret_marking(o));
        }
    }
    held
}

fn items_with_book(
    objects: Vec<Value>,
    foreign: bool,
    book: &std::collections::HashMap<String, stix::MarkingSense>,
) -> Vec<Shareable> {
    let sense = |r: &str| book.get(r).copied().unwrap_or(stix::MarkingSense::Unknown);
    objects
        .into_iter()
        .map(|o| {
            let mut meta = inbound_meta_with(&o, &sense);
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
    // Once per content: an observable from events of different TLPs is one copy per TLP (its
    // marking is part of its body), so a reader cleared for the lower one has it.
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert(i.object.to_string()));
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
pub fn events_from_objects(
    items: &[Shareable],
    peer: &str,
    observed: jiff::Timestamp,
) -> Vec<Event> {
    let mut out = Vec::new();
    let feed: std::sync::Arc<str> = format!("peer:{peer}").into();
    for item in items.iter().filter(|i| i.object["type"] == "indicator") {
        let o = &item.object;
        let Some(pattern) = o.get("pattern").and_then(Value::as_str) else {
            continue;
        };
        if o.get("pattern_type").and_then(Value::as_str) != Some("stix") {
            continue;
        }
        let meta = &item.meta;
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

/// Every inbound path's gate: [`crate::validate::parse_objects`] (shape and limits), then the
/// references an object cannot do without ([`crate::vocab::required_refs`]: a relationship's
/// ends, a sighting's subject, a language-content's object) resolved against the request and
/// the store: a relationship or sighting of nothing is refused.
pub fn accept(
    store: &dyn SharingStore,
    collection: &str,
    bytes: &[u8],
    limits: &crate::validate::Limits,
) -> Result<Vec<Value>, AcceptError> {
    Ok(accept_inbound(
        store,
        collection,
        bytes,
        limits,
        crate::validate::Accept::TAXII,
    )?
    .into_iter()
    .map(|i| i.object)
    .collect())
}

/// [`accept`] for what `accept` allows beyond a 2.1 bundle or envelope (a bare object, STIX
/// 2.0 stepped to 2.1), each object with its conversion record.
pub fn accept_inbound(
    store: &dyn SharingStore,
    collection: &str,
    bytes: &[u8],
    limits: &crate::validate::Limits,
    accept: crate::validate::Accept,
) -> Result<Vec<crate::validate::Inbound>, AcceptError> {
    let inbound = crate::validate::parse_inbound(bytes, limits, accept)?;
    let objects: Vec<&Value> = inbound.iter().map(|i| &i.object).collect();
    let in_request: std::collections::HashSet<&str> =
        objects.iter().filter_map(|o| o["id"].as_str()).collect();
    let mut wanted: Vec<(usize, &str, String)> = Vec::new();
    for (position, o) in objects.iter().enumerate() {
        let type_ = o.get("type").and_then(Value::as_str).unwrap_or_default();
        for key in crate::vocab::required_refs(type_) {
            if let Some(r) = o.get(key).and_then(Value::as_str)
                && !in_request.contains(r)
            {
                wanted.push((position, key, r.to_string()));
            }
        }
    }
    if !wanted.is_empty() {
        let ids: Vec<String> = wanted.iter().map(|w| w.2.clone()).collect();
        let known = store.known_ids(collection, &ids)?;
        if let Some((position, key, r)) = wanted.into_iter().find(|w| !known.contains(&w.2)) {
            return Err(AcceptError::Inbound(
                crate::validate::InboundError::Object {
                    index: inbound[position].index,
                    id: objects[position]["id"]
                        .as_str()
                        .unwrap_or("no id")
                        .to_string(),
                    field: key.to_string(),
                    reason: format!(
                        "refers to {r}, which is neither in this request nor in this collection"
                    ),
                },
            ));
        }
    }
    Ok(inbound)
}

/// Refuses versions that name this node (`node_id`) as their creator but that this node never
/// made. Only an object's creator versions it (STIX 2.1 §3.6); a peer with write rights posted a
/// newer copy of this node's AMBER indicator, marked GREEN with another pattern, and readers
/// cleared for AMBER were served the forgery as this node's own. Versions this node holds are
/// let through (a ring of peers relays a node's objects back to it, and they are then already
/// present). For requests from outside this node; its own staff version its objects.
pub fn refuse_forged_own(
    store: &dyn SharingStore,
    collection: &str,
    node_id: &str,
    objects: &[Value],
) -> Result<(), AcceptError> {
    refuse_forged_own_in(store, &[collection.to_string()], node_id, objects)
}

/// [`refuse_forged_own`] for a page pulled from a peer (`client::pull`): the same rule, with the
/// versions this node holds looked for in every collection it has, since a pull lands in the
/// peer's local collection, which need not be the one this node published the object in.
pub fn refuse_forged_pulled(
    store: &dyn SharingStore,
    node_id: &str,
    objects: &[Value],
) -> Result<(), AcceptError> {
    let collections: Vec<String> = store.collections()?.into_iter().map(|c| c.id).collect();
    refuse_forged_own_in(store, &collections, node_id, objects)
}

/// Refuses versions naming `node_id` as their creator that none of `collections` holds.
fn refuse_forged_own_in(
    store: &dyn SharingStore,
    collections: &[String],
    node_id: &str,
    objects: &[Value],
) -> Result<(), AcceptError> {
    let claimed: Vec<(usize, &Value)> = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| o.get("created_by_ref").and_then(Value::as_str) == Some(node_id))
        .collect();
    if claimed.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = claimed
        .iter()
        .filter_map(|(_, o)| o.get("id").and_then(Value::as_str).map(str::to_string))
        .collect();
    let mut held: std::collections::HashSet<(String, i64)> = std::collections::HashSet::new();
    for collection in collections {
        let page = store.objects(
            collection,
            &focal_store::sharing::ObjectQuery {
                ids: ids.clone(),
                versions: focal_store::sharing::VersionMatch::All,
                limit: i64::MAX as usize / 2,
                ..Default::default()
            },
        )?;
        held.extend(page.objects.into_iter().map(|o| (o.id, o.version_us)));
    }
    for (index, o) in claimed {
        let text = |k: &str| o.get(k).and_then(Value::as_str);
        let id = text("id").unwrap_or_default();
        let version = text("modified")
            .or_else(|| text("created"))
            .and_then(parse_timestamp_us);
        if !version.is_some_and(|v| held.contains(&(id.to_string(), v))) {
            return Err(AcceptError::Inbound(
                crate::validate::InboundError::Object {
                    index,
                    id: id.to_string(),
                    field: "created_by_ref".into(),
                    reason:
                        "names this node as its creator, but this node never made this version: \
                         only an object's creator versions it"
                            .into(),
                },
            ));
        }
    }
    Ok(())
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
) -> focal_store::Result<Vec<Shareable>> {
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
        .cloned()
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
    let mut candidates = event_candidates(store, items, outcome, origin)?;
    // This node's own indicators coming back (its export imported, a peer relaying them) were
    // made from events it already has: they make no new ones.
    let own = crate::settings::node_identity_id(store)
        .map_err(|e| focal_store::StoreError::Invalid(e.to_string()))?;
    if let Some(own) = own {
        candidates.retain(|i| i.object.get("created_by_ref").and_then(Value::as_str) != Some(&own));
    }
    let now = jiff::Timestamp::now();
    let events = events_from_objects(&candidates, origin.unwrap_or("file"), now);
    let sha = crate::users::token_hash(&format!("{source}@{now}"));
    store_events(store, events, source, &sha)
}
