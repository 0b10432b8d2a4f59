//! `focal incidents`: list, show and work on incidents; group new events into them.

use super::audit::{actor, record_config};
use super::table::{Table, col, num};
use super::{open_sqlite, print_json};
use crate::config::DataDir;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use focal_incidents::{Severity, State};
use focal_store::SqliteStore;
use focal_store::incidents::{Incident, IncidentChange, IncidentFilter, IncidentStore};
use jiff::Timestamp;
use std::io::Write;
use std::path::Path;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct IncidentsArgs {
    #[command(subcommand)]
    pub command: Option<IncidentsCommand>,
    #[command(flatten)]
    pub list: ListArgs,
}

#[derive(Args, Debug, Default)]
pub struct ListArgs {
    /// Only this constituent.
    #[arg(long)]
    pub constituent: Option<String>,
    /// Only these states (repeat, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub state: Vec<String>,
    /// Only open incidents (new, acknowledged, notified, in_progress).
    #[arg(long, conflicts_with = "state")]
    pub open: bool,
    #[arg(long)]
    pub severity: Option<String>,
    #[arg(long)]
    pub assignee: Option<String>,
    /// classification.type, e.g. infected-system.
    #[arg(long = "type")]
    pub type_: Option<String>,
    /// Only open incidents past their SLA due time.
    #[arg(long)]
    pub breached: bool,
    /// At most this many (0: all).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
}

#[derive(Subcommand, Debug)]
pub enum IncidentsCommand {
    /// List incidents (the default).
    List(ListArgs),
    /// One incident with its timeline and events.
    Show {
        id: i64,
        /// Events to list (0: none).
        #[arg(long, default_value_t = 20)]
        events: usize,
    },
    /// Assign to someone, or `--none` to unassign.
    Assign {
        id: i64,
        #[arg(required_unless_present = "none")]
        assignee: Option<String>,
        #[arg(long, conflicts_with = "assignee")]
        none: bool,
    },
    /// Move to another state (only legal transitions are accepted).
    Transition { id: i64, state: String },
    /// Override the severity, or `--reset` to the taxonomy's; the SLA due time follows.
    Severity {
        id: i64,
        #[arg(required_unless_present = "reset")]
        severity: Option<String>,
        #[arg(long, conflicts_with = "severity")]
        reset: bool,
    },
    /// Add a comment to the timeline.
    Comment { id: i64, text: String },
    /// Group events stored since the last grouping into incidents (ingest does this too).
    Group {
        /// Events per transaction.
        #[arg(long, default_value_t = focal_incidents::grouping::DEFAULT_BATCH)]
        batch: usize,
    },
}

/// An incident with its SLA status, as printed.
#[derive(serde::Serialize)]
struct View<'a> {
    #[serde(flatten)]
    incident: &'a Incident,
    breached: bool,
}

fn breached(i: &Incident, now: Timestamp) -> bool {
    focal_store::incidents::OPEN_STATES.contains(&i.state.as_str()) && i.due_at < now
}

/// Called by `focal ingest` after its files: events are grouped as they are ingested.
pub fn group_after_ingest(dir: &DataDir, store: &dyn focal_store::Store) -> Result<()> {
    let Some(store) = super::as_sqlite(store) else {
        tracing::warn!(
            store = %store.describe(),
            "Incidents are kept on the embedded SQLite store only so far; new events were not grouped."
        );
        return Ok(());
    };
    let outcome = focal_incidents::group_pending(
        store,
        &dir.config.incidents,
        actor(),
        focal_incidents::grouping::DEFAULT_BATCH,
    )?;
    tracing::info!(
        events = outcome.events_grouped,
        created = outcome.incidents_created,
        extended = outcome.incidents_extended,
        "Grouped new events into incidents."
    );
    Ok(())
}

pub fn run(data: &Path, args: &IncidentsArgs, json: bool) -> Result<()> {
    let (dir, store) = open_sqlite(data, "incidents")?;
    let rules = &dir.config.incidents;
    let print_one = |i: &Incident| -> Result<()> {
        if json {
            print_json(&View {
                incident: i,
                breached: breached(i, Timestamp::now()),
            })
        } else {
            println!(
                "Incident {} is {} (severity {}, assignee {}, due {}).",
                i.id,
                i.state,
                i.severity,
                i.assignee.as_deref().unwrap_or("none"),
                i.due_at
            );
            Ok(())
        }
    };
    match &args.command {
        None => list(&store, &args.list, json),
        Some(IncidentsCommand::List(l)) => list(&store, l, json),
        Some(IncidentsCommand::Show { id, events }) => show(&store, *id, *events, json),
        Some(IncidentsCommand::Group { batch }) => {
            record_config(&dir, &store)?;
            let outcome = focal_incidents::group_pending(&store, rules, actor(), *batch)?;
            if json {
                print_json(&outcome)
            } else {
                println!(
                    "Grouped {} events ({} read): {} incidents created, {} extended; cursor at event {}.",
                    outcome.events_grouped,
                    outcome.events_read,
                    outcome.incidents_created,
                    outcome.incidents_extended,
                    outcome.cursor
                );
                Ok(())
            }
        }
        Some(IncidentsCommand::Transition { id, state }) => {
            let to = State::parse(state)?;
            print_one(&focal_incidents::transition(&store, *id, to, actor())?)
        }
        Some(IncidentsCommand::Assign { id, assignee, none }) => {
            let assignee = if *none { None } else { assignee.clone() };
            if let Some(a) = &assignee
                && (a.trim().is_empty() || a.len() > 256)
            {
                bail!("an assignee is a name of 1 to 256 bytes");
            }
            if store.incident(*id)?.is_none() {
                bail!("there is no incident {id}");
            }
            print_one(&store.change_incident(*id, &IncidentChange::Assign { assignee }, actor())?)
        }
        Some(IncidentsCommand::Severity {
            id,
            severity,
            reset,
        }) => {
            let severity = match (severity, reset) {
                (_, true) => None,
                (Some(s), false) => Some(Severity::parse(s)?),
                (None, false) => bail!("give a severity or --reset"),
            };
            print_one(&focal_incidents::set_severity(
                &store,
                rules,
                *id,
                severity,
                actor(),
            )?)
        }
        Some(IncidentsCommand::Comment { id, text }) => {
            if text.trim().is_empty() {
                bail!("the comment is empty");
            }
            if text.len() > 64 * 1024 {
                bail!("a comment may be at most 64 KiB");
            }
            if store.incident(*id)?.is_none() {
                bail!("there is no incident {id}");
            }
            print_one(&store.change_incident(
                *id,
                &IncidentChange::Comment { text: text.clone() },
                actor(),
            )?)
        }
    }
}

fn list(store: &SqliteStore, args: &ListArgs, json: bool) -> Result<()> {
    let mut states = Vec::new();
    for s in &args.state {
        states.push(State::parse(s)?.as_str().to_string());
    }
    if args.open {
        states = focal_store::incidents::OPEN_STATES
            .iter()
            .map(|s| s.to_string())
            .collect();
    }
    let severity = args
        .severity
        .as_deref()
        .map(Severity::parse)
        .transpose()?
        .map(|s| s.as_str().to_string());
    let now = Timestamp::now();
    let list = store.incidents(&IncidentFilter {
        constituent: args.constituent.clone(),
        states,
        severity,
        assignee: args.assignee.clone(),
        classification_type: args.type_.clone(),
        breached_at: args.breached.then_some(now),
        limit: (args.limit > 0).then_some(args.limit),
    })?;
    if json {
        let views: Vec<View> = list
            .iter()
            .map(|i| View {
                incident: i,
                breached: breached(i, now),
            })
            .collect();
        return print_json(&views);
    }
    let mut out = std::io::stdout().lock();
    let mut table = Table::new(&[
        num("#"),
        col("state"),
        col("severity"),
        col("tlp"),
        col("constituent").max(24),
        col("type").max(24),
        num("events"),
        col("due"),
        col("breached"),
        col("assignee"),
    ]);
    for i in &list {
        table.row(
            &mut out,
            vec![
                i.id.to_string(),
                i.state.to_string(),
                i.severity.to_string(),
                i.tlp.to_string(),
                i.constituent.to_string(),
                i.classification_type.to_string(),
                i.event_count.to_string(),
                i.due_at.to_string(),
                if breached(i, now) { "BREACHED" } else { "-" }.into(),
                i.assignee.as_deref().unwrap_or("-").into(),
            ],
        )?;
    }
    table.finish(&mut out, "No incidents match.")?;
    Ok(())
}

fn show(store: &SqliteStore, id: i64, events: usize, json: bool) -> Result<()> {
    let Some(incident) = store.incident(id)? else {
        bail!("there is no incident {id}");
    };
    let timeline = store.incident_timeline(id)?;
    let mut listed = Vec::new();
    if events > 0 {
        store.incident_events(id, Some(events), &mut |e| {
            listed.push(e);
            Ok(())
        })?;
    }
    let now = Timestamp::now();
    let state = State::parse(&incident.state)?;
    if json {
        return print_json(&serde_json::json!({
            "incident": View { incident: &incident, breached: breached(&incident, now) },
            "allowed_transitions": state.next().iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "timeline": timeline,
            "events": listed.iter().map(focal_model::intelmq::to_json).collect::<Vec<_>>(),
        }));
    }
    let mut out = std::io::stdout().lock();
    let i = &incident;
    writeln!(out, "Incident {}  [{}]", i.id, i.key)?;
    writeln!(
        out,
        "  state {}  (next: {})",
        i.state,
        state
            .next()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    writeln!(
        out,
        "  severity {}{}  TLP:{}  assignee {}",
        i.severity,
        if i.severity_override {
            " (set by hand)"
        } else {
            ""
        },
        i.tlp,
        i.assignee.as_deref().unwrap_or("-")
    )?;
    writeln!(
        out,
        "  constituent {}  type {}  {} events from {} to {}",
        i.constituent, i.classification_type, i.event_count, i.first_event, i.last_event
    )?;
    writeln!(
        out,
        "  created {}  due {}{}",
        i.created_at,
        i.due_at,
        if breached(i, now) {
            "  SLA BREACHED"
        } else {
            ""
        }
    )?;
    writeln!(out, "timeline:")?;
    for t in &timeline {
        writeln!(
            out,
            "  {}  {:<12} {:<14} {}",
            t.at, t.actor, t.kind, t.detail
        )?;
    }
    if !listed.is_empty() {
        writeln!(out, "events (first {}):", listed.len())?;
        for e in &listed {
            let text = |f| {
                e.get_text(&f)
                    .map(|v| v.into_owned())
                    .unwrap_or_else(|| "-".into())
            };
            writeln!(
                out,
                "  {}  {}  {}  {}",
                text(focal_model::Field::TimeSource),
                text(focal_model::Field::SourceIp),
                text(focal_model::Field::SourceFqdn),
                text(focal_model::Field::MalwareName)
            )?;
        }
    }
    Ok(())
}
