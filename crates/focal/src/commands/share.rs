//! `focal share`: STIX 2.1 bundles out (through the sharing policy) and in (validated, stored
//! whole or not at all, with provenance), publishing events to a TAXII collection, policies.

use super::{open_sqlite, print_json};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use focal_model::{Event, Tlp};
use focal_sharing::export::{event_objects, outbound_bundle, report_objects};
use focal_sharing::settings::{self, NodeSettings};
use focal_sharing::{Policy, Redaction};
use focal_store::sharing::{Collection, ObjectQuery, SharingStore, VersionMatch};
use focal_store::{EventFilter, SqliteStore, Store};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum ShareCommand {
    /// Write a STIX 2.1 bundle of stored events to stdout, through the sharing policy.
    Export(ExportArgs),
    /// Read a STIX 2.1 bundle (or TAXII envelope): validate it, store it whole into a
    /// collection, and turn its indicators into events.
    Import(ImportArgs),
    /// Put stored events into a TAXII collection as STIX objects, for the server and pushes.
    Publish(PublishArgs),
    /// List the STIX objects of a collection, with where each came from.
    List(ListArgs),
    /// Set the sharing policy of a peer or user (what it may receive).
    Policy(PolicyArgs),
    /// Create or change a TAXII collection.
    Collection(CollectionArgs),
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
    #[arg(long)]
    pub collection: Option<String>,
    #[command(flatten)]
    pub events: EventSelection,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long)]
    pub collection: Option<String>,
    /// Only objects of this STIX type.
    #[arg(long = "type")]
    pub type_: Option<String>,
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
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
    pub id: String,
    #[arg(long)]
    pub title: String,
    #[arg(long)]
    pub description: Option<String>,
    #[arg(long)]
    pub alias: Option<String>,
    /// Highest TLP this collection ever releases.
    #[arg(long)]
    pub max_tlp: Option<String>,
}

#[derive(Args, Debug)]
pub struct SettingsArgs {
    /// The node's name (its STIX identity).
    #[arg(long)]
    pub node_name: Option<String>,
    #[arg(long)]
    pub max_body_bytes: Option<usize>,
    #[arg(long)]
    pub max_objects: Option<usize>,
    #[arg(long)]
    pub max_pattern_bytes: Option<usize>,
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
    let objects = focal_sharing::import::accept(store, &coll.id, &bytes, &node.limits)
        .map_err(|e| anyhow::anyhow!("{}: refused, nothing stored: {e}", args.file.display()))?;
    let items = focal_sharing::import::inbound_items(objects, args.peer.is_some());
    let outcome =
        focal_sharing::import::store_objects(store, &coll.id, &items, args.peer.as_deref())?;
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
        }))
    } else {
        println!(
            "{}: {} objects stored in {}, {} already present; {} events stored.",
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
            .map(|o| serde_json::json!({"id": o.id, "type": o.type_, "version": o.version, "tlp": o.tlp, "origin": o.origin, "date_added": focal_store::sharing::timestamp_us(o.date_added)}))
            .collect();
        return print_json(&rows);
    }
    for o in &page.objects {
        println!(
            "{} {:<14} {:<13} {} {}",
            focal_store::sharing::timestamp_us(o.date_added),
            o.type_,
            o.tlp,
            o.id,
            o.origin.as_deref().unwrap_or("(local)")
        );
    }
    Ok(())
}

fn policy(store: &SqliteStore, args: &PolicyArgs, json: bool) -> Result<()> {
    let mut p = Policy {
        max_tlp: parse_tlp("max-tlp", &args.max_tlp)?,
        constituent: args.constituent.clone(),
        ..Policy::default()
    };
    for r in &args.redact {
        let (field, action) = r.split_once('=').with_context(|| {
            format!("--redact {r:?}: expected FIELD=drop or FIELD=pseudonymise")
        })?;
        let action = match action {
            "drop" => Redaction::Drop,
            "pseudonymise" | "pseudonymize" | "hash" => Redaction::Pseudonymise,
            other => bail!("--redact {r:?}: {other:?} is not drop or pseudonymise"),
        };
        field
            .parse::<focal_model::Field>()
            .map_err(|e| anyhow::anyhow!("--redact {r:?}: {e}"))?;
        p.redact.insert(field.to_string(), action);
    }
    if !args.types.is_empty() {
        for t in &args.types {
            if t.parse::<focal_model::ClassificationType>().is_err()
                && t.parse::<focal_model::Taxonomy>().is_err()
            {
                bail!("--types: {t:?} is neither an RSIT classification type nor a taxonomy");
            }
        }
        p.types = Some(args.types.iter().cloned().collect());
    }
    store.set_policy(&args.principal, &serde_json::to_string(&p)?)?;
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
    };
    store.put_collection(&c)?;
    if json {
        print_json(&c)
    } else {
        println!("Collection {} ({}) saved.", c.id, c.title);
        Ok(())
    }
}

fn settings_cmd(store: &SqliteStore, args: &SettingsArgs, json: bool) -> Result<()> {
    if let Some(n) = &args.node_name {
        store.set_setting(settings::NODE_NAME, n)?;
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
            &serde_json::json!({"node_name": s.node.name, "identity": s.node.common.id, "limits": s.limits}),
        )
    } else {
        println!(
            "node {} ({})\nlimits {:?}",
            s.node.name, s.node.common.id, s.limits
        );
        Ok(())
    }
}
