//! `focal share`: STIX 2.1 bundles out (through the sharing policy) and in (validated, stored
//! whole or not at all, with provenance), publishing events to a TAXII collection, policies.

use super::table::{Table, col};
use super::{open_sqlite, print_json};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_model::{Event, Tlp};
use focal_sharing::Policy;
use focal_sharing::export::{event_objects, outbound_bundle, report_objects};
use focal_sharing::settings::{self, NodeSettings};
use focal_store::sharing::{Collection, ObjectQuery, SharingStore, VersionMatch};
use focal_store::{EventFilter, SqliteStore, Store};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ShareCommand {
    /// Write a STIX 2.1 bundle of stored events to stdout, through the sharing policy.
    Export(ExportArgs),
    /// Read a STIX 2.1 bundle, a TAXII envelope, a single STIX object, or a STIX 2.0 bundle
    /// (stepped to 2.1, the conversion kept): validate it, store it whole into a collection, and
    /// turn its indicators into events.
    Import(ImportArgs),
    /// Put stored events into a TAXII collection as STIX objects, for the server and pushes.
    Publish(PublishArgs),
    /// List the STIX objects of a collection, with where each came from.
    List(ListArgs),
    /// Show every stored version of one STIX object: its JSON, where it came from, and how it
    /// was converted if it arrived as STIX 2.0.
    Show(ShowArgs),
    /// Set the sharing policy of a peer or user (what it may receive).
    Policy(PolicyArgs),
    /// Create or change a TAXII collection.
    Collection(CollectionArgs),
    /// Create or change a TAXII API root: one trust community, with its own collections.
    ApiRoot(ApiRootArgs),
    /// List the TAXII API roots and their collections.
    ApiRoots,
    /// Show or change the node's sharing settings (name, inbound limits).
    Settings(SettingsArgs),
}

#[derive(Args, Debug, Clone)]
pub struct EventSelection {
    /// Only events of this classification.type.
    #[arg(long = "type")]
    pub type_: Option<String>,
    /// Only events of this feed.
    #[arg(long)]
    pub feed: Option<String>,
    /// Only events from this time (RFC 3339), inclusive.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many events (0: all).
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Highest TLP to include (CLEAR, GREEN, AMBER, AMBER+STRICT); RED never leaves.
    #[arg(long)]
    pub max_tlp: Option<String>,
    /// Apply this peer's (or user's) policy: clearance, constituent, redactions, types.
    #[arg(long)]
    pub peer: Option<String>,
    /// Also wrap the events in a STIX report (an incident) with this name.
    #[arg(long)]
    pub report: Option<String>,
    /// Export this incident as a STIX report of its events (the event filters do not apply).
    #[arg(long, conflicts_with = "report")]
    pub incident: Option<i64>,
    #[command(flatten)]
    pub events: EventSelection,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The STIX file: a 2.1 bundle, a TAXII envelope, a bare object, or STIX 2.0.
    pub file: PathBuf,
    /// The peer the file came from (recorded as its provenance).
    #[arg(long)]
    pub peer: Option<String>,
    /// The collection to store into (id or alias; default: the shared collection).
    #[arg(long)]
    pub collection: Option<String>,
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// The collection to publish into (id or alias; default: the shared collection).
    #[arg(long)]
    pub collection: Option<String>,
    #[command(flatten)]
    pub events: EventSelection,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// The collection to list (id or alias; default: the shared collection).
    #[arg(long)]
    pub collection: Option<String>,
    /// Only objects of this STIX type.
    #[arg(long = "type")]
    pub type_: Option<String>,
    /// At most this many object versions.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// With --json: include each version's STIX object as stored (`object`).
    #[arg(long)]
    pub bodies: bool,
}

#[derive(Args, Debug)]
pub struct ShowArgs {
    /// The object's STIX id (`type--UUID`).
    pub id: String,
    /// The collection (id or alias; default: the shared collection).
    #[arg(long)]
    pub collection: Option<String>,
}

#[derive(Args, Debug)]
pub struct ApiRootArgs {
    /// The root's name, its URL segment: /taxii2/NAME/ (lower-case letters, digits, - and _).
    pub name: String,
    /// A human-readable title, shown to TAXII clients.
    #[arg(long)]
    pub title: String,
    /// What the root is for (which trust community).
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Args, Debug)]
pub struct PolicyArgs {
    /// The peer or user name the policy applies to.
    pub principal: String,
    /// Highest TLP the principal may receive (RED is never sent whatever this says).
    #[arg(long, default_value = "GREEN")]
    pub max_tlp: String,
    /// The constituent the principal is (the only one that may receive its AMBER+STRICT).
    #[arg(long)]
    pub constituent: Option<String>,
    /// FIELD=drop or FIELD=pseudonymise (e.g. source.ip=pseudonymise); repeat.
    #[arg(long)]
    pub redact: Vec<String>,
    /// Only these classification types or taxonomies (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub types: Vec<String>,
}

#[derive(Args, Debug)]
pub struct CollectionArgs {
    /// The collection's id (a UUID is customary) or, to change one, its id or alias.
    pub id: String,
    /// A human-readable title, shown to TAXII clients.
    #[arg(long)]
    pub title: String,
    /// What the collection holds.
    #[arg(long)]
    pub description: Option<String>,
    /// A short name usable instead of the id (in URLs and commands).
    #[arg(long)]
    pub alias: Option<String>,
    /// Highest TLP this collection ever releases.
    #[arg(long)]
    pub max_tlp: Option<String>,
    /// The API root (trust community) the collection belongs to (see `focal share api-root`).
    /// A new collection goes to the default root `root`; an existing one stays where it is.
    #[arg(long)]
    pub api_root: Option<String>,
}

#[derive(Args, Debug)]
pub struct SettingsArgs {
    /// The node's name (its STIX identity's `name`; a change makes a new version of it).
    #[arg(long)]
    pub node_name: Option<String>,
    /// How to reach the node's team (its STIX identity's `contact_information`).
    #[arg(long)]
    pub contact: Option<String>,
    /// The TLP of the node's public catalogue objects, its identity and the malware families it
    /// names: CLEAR (the default), GREEN or AMBER. A change makes new versions of them.
    #[arg(long)]
    pub catalogue_tlp: Option<focal_model::Tlp>,
    /// Largest inbound request or file accepted, in bytes.
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    /// Most objects accepted in one request or file.
    #[arg(long)]
    pub max_objects: Option<usize>,
    /// Longest indicator pattern accepted, in bytes.
    #[arg(long)]
    pub max_pattern_bytes: Option<usize>,
    /// Deepest JSON nesting accepted.
    #[arg(long)]
    pub max_depth: Option<usize>,
}

pub fn run(data: &Path, cmd: ShareCommand, json: bool) -> Result<()> {
    let (_, store) = open_sqlite(data, "sharing")?;
    let node = settings::load(&store)?;
    match cmd {
        ShareCommand::Export(args) => export(&store, &node, &args),
        ShareCommand::Import(args) => import(&store, &node, &args, json),
        ShareCommand::Publish(args) => publish(&store, &node, &args, json),
        ShareCommand::List(args) => list(&store, &args, json),
        ShareCommand::Show(args) => show(&store, &args, json),
        ShareCommand::ApiRoot(args) => api_root(&store, &args, json),
        ShareCommand::ApiRoots => api_roots(&store, json),
        ShareCommand::Policy(args) => policy(&store, &args, json),
        ShareCommand::Collection(args) => collection(&store, &args, json),
        ShareCommand::Settings(args) => settings_cmd(&store, &args, json),
    }
}

pub fn parse_tlp(flag: &str, text: &str) -> Result<Tlp> {
    text.parse().map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}

fn load_events(store: &SqliteStore, sel: &EventSelection) -> Result<Vec<Event>> {
    let filter = EventFilter {
        classification_type: sel.type_.clone(),
        feed: sel.feed.clone(),
        since: sel
            .since
            .as_deref()
            .map(|s| {
                s.parse()
                    .with_context(|| format!("--since {s:?}: expected RFC 3339"))
            })
            .transpose()?,
        limit: (sel.limit > 0).then_some(sel.limit),
        ..EventFilter::default()
    };
    let mut events = Vec::new();
    store.events(&filter, &mut |e| {
        events.push(e);
        Ok(())
    })?;
    Ok(events)
}

fn export(store: &SqliteStore, node: &NodeSettings, args: &ExportArgs) -> Result<()> {
    let mut policy = match &args.peer {
        Some(p) => settings::policy_for(store, p)?,
        None => Policy::default(),
    };
    if let Some(t) = &args.max_tlp {
        let t = parse_tlp("max-tlp", t)?;
        policy.max_tlp = if args.peer.is_some() {
            policy.max_tlp.min(t)
        } else {
            t
        };
    }
    let (events, items) = match (args.incident, &args.report) {
        (Some(id), _) => incident_report(store, node, id)?,
        (None, Some(name)) => {
            let events = load_events(store, &args.events)?;
            let items = report_objects(
                name,
                name,
                None,
                jiff::Timestamp::now(),
                &events,
                &node.node,
            );
            (events, items)
        }
        (None, None) => {
            let events = load_events(store, &args.events)?;
            let items = events
                .iter()
                .flat_map(|e| event_objects(e, &node.node))
                .collect();
            (events, items)
        }
    };
    let (bundle, released) = outbound_bundle(&policy, &node.key, &node.node, items);
    print_json(&bundle)?;
    eprintln!(
        "{} events: {} objects exported, {} withheld by the policy (max {}).",
        events.len(),
        released.objects.len(),
        released.withheld.len(),
        policy.max_tlp
    );
    Ok(())
}

/// An incident as a STIX report: its events and their objects, named after the incident, with
/// a stable id (seeded by the node and incident id) so re-exporting updates rather than duplicates.
fn incident_report(
    store: &SqliteStore,
    node: &NodeSettings,
    id: i64,
) -> Result<(Vec<Event>, Vec<focal_sharing::policy::Shareable>)> {
    use focal_store::incidents::IncidentStore;
    let incident = store
        .incident(id)?
        .with_context(|| format!("--incident {id}: there is no such incident"))?;
    let mut events = Vec::new();
    store.incident_events(id, None, &mut |e| {
        events.push(e);
        Ok(())
    })?;
    // Never the constituent's name or id: who the victim is does not leave the node.
    let name = format!("Incident {}: {}", incident.id, incident.classification_type);
    let description = format!(
        "{} events from {} to {}; state {}, severity {}.",
        incident.event_count,
        incident.first_event,
        incident.last_event,
        incident.state,
        incident.severity
    );
    let items = report_objects(
        &format!("incident-{}-{}", node.node.name, incident.id),
        &name,
        Some(&description),
        incident.updated_at,
        &events,
        &node.node,
    );
    Ok((events, items))
}

fn resolve_collection(store: &SqliteStore, id: Option<&str>) -> Result<Collection> {
    let id = id.unwrap_or(focal_sharing::import::DEFAULT_COLLECTION);
    store
        .collection(id)?
        .with_context(|| format!("no collection {id:?} (see `focal share collection`)"))
}

fn import(store: &SqliteStore, node: &NodeSettings, args: &ImportArgs, json: bool) -> Result<()> {
    let coll = resolve_collection(store, args.collection.as_deref())?;
    let meta = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    if meta.len() as usize > node.limits.max_body_bytes {
        bail!(
            "{}: {} bytes, over the limit of {} (see `focal share settings`)",
            args.file.display(),
            meta.len(),
            node.limits.max_body_bytes
        );
    }
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let inbound = focal_sharing::import::accept_inbound(
        store,
        &coll.id,
        &bytes,
        &node.limits,
        focal_sharing::validate::Accept::FILE,
    )
    .map_err(|e| anyhow::anyhow!("{}: refused, nothing stored: {e}", args.file.display()))?;
    let converted = inbound.iter().filter(|i| i.conversion.is_some()).count();
    let (objects, conversions): (Vec<_>, Vec<_>) = inbound
        .into_iter()
        .map(|i| (i.object, i.conversion))
        .unzip();
    let items =
        focal_sharing::import::inbound_items_in(store, &coll.id, objects, args.peer.is_some())?;
    let outcome = focal_sharing::import::store_converted(
        store,
        &coll.id,
        &items,
        &conversions,
        args.peer.as_deref(),
    )?;
    let events_stored = focal_sharing::import::derive_events(
        store,
        &items,
        &outcome,
        args.peer.as_deref(),
        &args.file.display().to_string(),
    )?;
    if json {
        print_json(&serde_json::json!({
            "file": args.file, "collection": coll.id, "added": outcome.added.len(),
            "already_present": outcome.already_present.len(), "events_stored": events_stored,
            "converted_from_stix_2_0": converted,
        }))
    } else {
        let note = if converted > 0 {
            format!(" ({converted} converted from STIX 2.0: `focal share show ID` tells how)")
        } else {
            String::new()
        };
        println!(
            "{}: {} objects stored in {}, {} already present{note}; {} events stored.",
            args.file.display(),
            outcome.added.len(),
            coll.title,
            outcome.already_present.len(),
            events_stored
        );
        Ok(())
    }
}

fn publish(store: &SqliteStore, node: &NodeSettings, args: &PublishArgs, json: bool) -> Result<()> {
    let coll = resolve_collection(store, args.collection.as_deref())?;
    let events = load_events(store, &args.events)?;
    let outcome = focal_sharing::import::publish_events(store, &coll.id, &node.node, &events)?;
    if json {
        print_json(
            &serde_json::json!({"collection": coll.id, "events": events.len(), "added": outcome.added.len(), "already_present": outcome.already_present.len()}),
        )
    } else {
        println!(
            "{} events: {} STIX objects added to {}, {} already there.",
            events.len(),
            outcome.added.len(),
            coll.title,
            outcome.already_present.len()
        );
        Ok(())
    }
}

fn list(store: &SqliteStore, args: &ListArgs, json: bool) -> Result<()> {
    let coll = resolve_collection(store, args.collection.as_deref())?;
    let page = store.objects(
        &coll.id,
        &ObjectQuery {
            types: args.type_.iter().cloned().collect(),
            versions: VersionMatch::All,
            limit: args.limit.max(1),
            ..ObjectQuery::default()
        },
    )?;
    if json {
        let rows: Vec<serde_json::Value> = page
            .objects
            .iter()
            .map(|o| {
                let mut row = serde_json::json!({"id": o.id, "type": o.type_, "version": o.version, "tlp": o.tlp, "origin": o.origin, "date_added": focal_store::sharing::timestamp_us(o.date_added)});
                if args.bodies {
                    row["object"] =
                        serde_json::from_str(&o.body).unwrap_or(serde_json::Value::Null);
                }
                row
            })
            .collect();
        return print_json(&rows);
    }
    let mut out = std::io::stdout().lock();
    let mut t = Table::new(&[
        col("added"),
        col("type"),
        col("tlp"),
        col("id").max(64),
        col("origin"),
    ]);
    for o in &page.objects {
        t.row(
            &mut out,
            vec![
                focal_store::sharing::timestamp_us(o.date_added).to_string(),
                o.type_.to_string(),
                o.tlp.to_string(),
                o.id.to_string(),
                o.origin.as_deref().unwrap_or("(local)").into(),
            ],
        )?;
    }
    t.finish(&mut out, "No objects.")?;
    Ok(())
}

fn policy(store: &SqliteStore, args: &PolicyArgs, json: bool) -> Result<()> {
    let p = focal_sharing::manage::policy_from_parts(
        &args.max_tlp,
        args.constituent.as_deref(),
        &args.redact,
        &args.types,
    )
    .map_err(|e| anyhow::anyhow!("{}", super::peers::flag_error(e)))?;
    focal_sharing::manage::save_policy(store, super::audit::actor(), &args.principal, &p)?;
    if json {
        print_json(&serde_json::json!({"principal": args.principal, "policy": p}))
    } else {
        println!(
            "Policy of {}: up to {}, {} redacted fields.",
            args.principal,
            p.max_tlp,
            p.redact.len()
        );
        Ok(())
    }
}

fn collection(store: &SqliteStore, args: &CollectionArgs, json: bool) -> Result<()> {
    let max_tlp = args
        .max_tlp
        .as_deref()
        .map(|t| parse_tlp("max-tlp", t))
        .transpose()?;
    let c = Collection {
        id: args.id.clone(),
        title: args.title.clone(),
        description: args.description.clone(),
        alias: args.alias.clone(),
        max_tlp: max_tlp.map(|t| t.as_str().to_string()),
        api_root: match &args.api_root {
            Some(root) => root.clone(),
            None => store
                .collection(&args.id)?
                .filter(|c| c.id == args.id)
                .map_or_else(
                    || focal_store::sharing::DEFAULT_API_ROOT.to_string(),
                    |c| c.api_root,
                ),
        },
    };
    store.put_collection(&c)?;
    if json {
        print_json(&c)
    } else {
        println!("Collection {} ({}) saved.", c.id, c.title);
        Ok(())
    }
}

fn show(store: &SqliteStore, args: &ShowArgs, json: bool) -> Result<()> {
    let coll = resolve_collection(store, args.collection.as_deref())?;
    let page = store.objects(
        &coll.id,
        &ObjectQuery {
            ids: vec![args.id.clone()],
            versions: VersionMatch::All,
            limit: 1000,
            ..ObjectQuery::default()
        },
    )?;
    if page.objects.is_empty() {
        bail!("no object {} in {}", args.id, coll.title);
    }
    let mut versions = Vec::new();
    for o in &page.objects {
        let conversion = store
            .conversion(&coll.id, &o.id, o.version_us)?
            .map(|c| serde_json::from_str::<serde_json::Value>(&c))
            .transpose()?;
        versions.push(serde_json::json!({
            "version": o.version, "tlp": o.tlp, "origin": o.origin,
            "provenance": store.provenance(&o.id, o.version_us)?,
            "date_added": focal_store::sharing::timestamp_us(o.date_added),
            "object": serde_json::from_str::<serde_json::Value>(&o.body)?,
            "conversion": conversion,
            // Markings Focal could not interpret (the reason the object is held as TLP:RED).
            "uninterpreted_markings": serde_json::from_str::<serde_json::Value>(&o.meta)
                .ok()
                .and_then(|m| m.get("uninterpreted_markings").cloned())
                .unwrap_or_else(|| serde_json::json!([])),
        }));
    }
    if json {
        return print_json(&versions);
    }
    for v in &versions {
        println!(
            "version {} ({}, from {}, added {})",
            v["version"].as_str().unwrap_or_default(),
            v["tlp"].as_str().unwrap_or_default(),
            v["origin"].as_str().unwrap_or("this node"),
            v["date_added"].as_str().unwrap_or_default()
        );
        if let Some(unread) = v["uninterpreted_markings"].as_array()
            && !unread.is_empty()
        {
            let ids: Vec<&str> = unread.iter().filter_map(|u| u.as_str()).collect();
            println!(
                "held as TLP:RED: markings not understood: {}",
                ids.join(", ")
            );
        }
        println!("{}", serde_json::to_string_pretty(&v["object"])?);
        if let Some(changes) = v["conversion"]["changes"].as_array() {
            println!(
                "converted from STIX {}:",
                v["conversion"]["from"].as_str().unwrap_or("?")
            );
            for c in changes {
                println!("  - {}", c.as_str().unwrap_or_default());
            }
        }
    }
    Ok(())
}

/// An API root's name is a URL path segment: kept to characters that need no escaping.
fn check_root_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        bail!("API root {name:?}: use 1 to 64 lower-case letters, digits, '-' and '_'");
    }
    Ok(())
}

fn api_root(store: &SqliteStore, args: &ApiRootArgs, json: bool) -> Result<()> {
    check_root_name(&args.name)?;
    let root = focal_store::sharing::ApiRoot {
        name: args.name.clone(),
        title: args.title.clone(),
        description: args.description.clone(),
    };
    store.put_api_root(&root)?;
    if json {
        print_json(&root)
    } else {
        println!(
            "API root {} ({}) saved: /taxii2/{}/",
            root.name, root.title, root.name
        );
        Ok(())
    }
}

fn api_roots(store: &SqliteStore, json: bool) -> Result<()> {
    let collections = store.collections()?;
    let roots: Vec<serde_json::Value> = store
        .api_roots()?
        .into_iter()
        .map(|r| {
            let mine: Vec<&Collection> = collections
                .iter()
                .filter(|c| c.api_root == r.name)
                .collect();
            serde_json::json!({"name": r.name, "title": r.title, "description": r.description,
                               "path": format!("/taxii2/{}/", r.name), "collections": mine})
        })
        .collect();
    if json {
        return print_json(&roots);
    }
    for r in &roots {
        println!(
            "{} {}",
            r["path"].as_str().unwrap_or_default(),
            r["title"].as_str().unwrap_or_default()
        );
        for c in r["collections"].as_array().into_iter().flatten() {
            println!(
                "  {} {}",
                c["id"].as_str().unwrap_or_default(),
                c["title"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn settings_cmd(store: &SqliteStore, args: &SettingsArgs, json: bool) -> Result<()> {
    if args.node_name.is_some() || args.contact.is_some() || args.catalogue_tlp.is_some() {
        settings::set_identity(
            store,
            args.node_name.as_deref(),
            args.contact.as_deref(),
            args.catalogue_tlp,
        )?;
    }
    let mut limits = settings::load(store)?.limits;
    let changed = args.max_body_bytes.is_some()
        || args.max_objects.is_some()
        || args.max_pattern_bytes.is_some()
        || args.max_depth.is_some();
    limits.max_body_bytes = args.max_body_bytes.unwrap_or(limits.max_body_bytes);
    limits.max_objects = args.max_objects.unwrap_or(limits.max_objects);
    limits.max_pattern_bytes = args.max_pattern_bytes.unwrap_or(limits.max_pattern_bytes);
    limits.max_depth = args.max_depth.unwrap_or(limits.max_depth);
    if changed {
        store.set_setting(settings::LIMITS, &serde_json::to_string(&limits)?)?;
    }
    let s = settings::load(store)?;
    if json {
        print_json(
            &serde_json::json!({"node_name": s.node.name, "identity": s.node.common.id, "identity_created": s.node.common.created, "contact": s.node.contact_information, "catalogue_tlp": s.node.catalogue_tlp().as_str(), "limits": s.limits}),
        )
    } else {
        println!(
            "node {} ({}), catalogue {}\nlimits {:?}",
            s.node.name,
            s.node.common.id,
            s.node.catalogue_tlp(),
            s.limits
        );
        Ok(())
    }
}
