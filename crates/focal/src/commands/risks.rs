//! `focal risks` (assets, threats, vulnerabilities, risks, the exposure query, the risk report)
//! and `focal vulns` (advisories in CSAF 2.0 or OSV, matching, findings).

use super::assess::write_output;
use super::audit::actor;
use super::table::{Table, col, num};
use super::{open, print_json};
use anyhow::{Context, Result, bail};
use clap::Subcommand;
use focal_assessment::advisory::{self, Rating};
use focal_assessment::matching::{FindingChange, FindingStatus, SyncOutcome};
use focal_assessment::ops;
use focal_assessment::risk::*;
use focal_assessment::store::{AssetFilter, FindingFilter, ImportOutcome, RiskFilter, Storage};
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum RisksCommand {
    /// The asset inventory.
    #[command(subcommand)]
    Assets(AssetsCommand),
    /// Which organisations (and constituents) run a product, by CPE or purl.
    Exposure {
        /// A CPE 2.3 name or a Package URL; a version in it narrows to that version.
        product: String,
        /// A `vers:` range of versions (e.g. `vers:npm/>=1.0|<1.4.2`).
        #[arg(long)]
        versions: Option<String>,
    },
    /// Add a threat or a vulnerability to the register.
    Entry {
        /// `threat` or `vulnerability`.
        kind: String,
        name: String,
        #[arg(long, default_value = "")]
        description: String,
        #[arg(long)]
        asset: Option<String>,
        /// A CVE or other reference.
        #[arg(long)]
        reference: Option<String>,
    },
    /// The threats and vulnerabilities of the register.
    Entries,
    /// Add a risk.
    Add(RiskArgs),
    /// Change a risk (the values given replace the stored ones).
    Update {
        id: i64,
        #[command(flatten)]
        args: RiskUpdate,
    },
    /// The risks, with their rating on the stated scale.
    List {
        /// Only risks whose review is due on or before this date.
        #[arg(long)]
        review_due_by: Option<jiff::civil::Date>,
        #[arg(long)]
        asset: Option<String>,
    },
    /// The risk report (heat map, risks, open findings) as HTML or JSON.
    Export {
        #[arg(long, default_value = "html")]
        format: String,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AssetsCommand {
    /// Import assets from CSV: `id,name,organisation,constituent,owner,criticality,software[,description]`
    /// (software: CPE or purl identifiers separated by spaces). All or nothing.
    Import {
        file: PathBuf,
    },
    List {
        #[arg(long)]
        organisation: Option<String>,
        #[arg(long)]
        constituent: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    Show {
        id: String,
    },
    Remove {
        id: String,
    },
}

#[derive(clap::Args, Debug)]
pub struct RiskArgs {
    #[arg(long)]
    title: String,
    #[arg(long, default_value = "")]
    description: String,
    #[arg(long)]
    asset: Option<String>,
    #[arg(long)]
    threat: Option<i64>,
    #[arg(long)]
    vulnerability: Option<i64>,
    /// 1 rare .. 5 almost certain.
    #[arg(long)]
    likelihood: u8,
    /// 1 negligible .. 5 severe.
    #[arg(long)]
    impact: u8,
    /// The highest level (1-25) accepted without treatment.
    #[arg(long, default_value_t = 6)]
    acceptable: u8,
    /// accept, mitigate, transfer or avoid.
    #[arg(long)]
    treatment: String,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    review: Option<jiff::civil::Date>,
    /// A control: FRAMEWORK:ITEM (e.g. nist-csf-2.0:PR.PS); repeat for several.
    #[arg(long)]
    control: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct RiskUpdate {
    #[arg(long)]
    title: Option<String>,
    #[arg(long)]
    likelihood: Option<u8>,
    #[arg(long)]
    impact: Option<u8>,
    #[arg(long)]
    acceptable: Option<u8>,
    #[arg(long)]
    treatment: Option<String>,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    review: Option<jiff::civil::Date>,
    /// Add a control FRAMEWORK:ITEM.
    #[arg(long)]
    control: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum VulnsCommand {
    /// Import advisories: CSAF 2.0 or OSV JSON files (detected), or folders of them. Each new
    /// or changed advisory is matched against the assets at once (unless --no-match).
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[arg(long)]
        no_match: bool,
    },
    /// The imported advisories, newest first.
    List {
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// One advisory with its affected records and what could not be matched.
    Show { id: i64 },
    /// Match every advisory against every asset (a join on package keys).
    Match,
    /// Findings, most severe first.
    Findings {
        /// open, in_progress, resolved, accepted, false_positive (repeat) [default: open and
        /// in_progress].
        #[arg(long)]
        status: Vec<String>,
        #[arg(long)]
        all: bool,
        #[arg(long)]
        asset: Option<String>,
        #[arg(long)]
        organisation: Option<String>,
        /// Only findings at least this severe (low, medium, high, critical).
        #[arg(long)]
        min_severity: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Work on a finding: move it, say what was done, link it to a risk or an incident.
    Finding {
        id: i64,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        resolution: Option<String>,
        #[arg(long)]
        due: Option<jiff::civil::Date>,
        #[arg(long)]
        risk: Option<i64>,
        #[arg(long)]
        incident: Option<i64>,
    },
}

fn controls(list: &[String]) -> Result<Vec<Control>> {
    list.iter()
        .map(|c| {
            let (framework, item) = c
                .split_once(':')
                .with_context(|| format!("--control {c:?}: use FRAMEWORK:ITEM"))?;
            Ok(Control {
                framework: framework.into(),
                item: item.into(),
            })
        })
        .collect()
}

fn treatment(t: &str) -> Result<Treatment> {
    Treatment::parse(t)
        .with_context(|| format!("--treatment {t:?}: use accept, mitigate, transfer or avoid"))
}

fn print_sync(o: &SyncOutcome) {
    println!(
        "Findings: {} opened, {} reopened, {} still open, {} resolved (no longer matching).",
        o.opened, o.reopened, o.still_open, o.resolved
    );
}

pub fn risks(data: &Path, cmd: RisksCommand, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let s = store.assessment();
    let s: &dyn Storage = &*s;
    match cmd {
        RisksCommand::Assets(AssetsCommand::Import { file }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let assets = parse_assets_csv(&file.display().to_string(), &text)
                .map_err(|p| anyhow::anyhow!(p.join("\n")))?;
            let counts = s.save_assets(&assets, actor())?;
            // Few changes: match each; many: one full join.
            let changed = counts.added + counts.updated;
            let mut outcome = SyncOutcome::default();
            if changed > 0 && changed <= 100 {
                let existing: std::collections::HashSet<String> =
                    assets.iter().map(|a| a.id.clone()).collect();
                for id in existing {
                    let o = ops::match_asset(s, &id, actor())?;
                    outcome.opened += o.opened;
                    outcome.reopened += o.reopened;
                    outcome.still_open += o.still_open;
                    outcome.resolved += o.resolved;
                }
            } else if changed > 100 {
                outcome = ops::match_everything(s, actor())?;
            }
            if json {
                return print_json(
                    &serde_json::json!({"file": file, "assets": assets.len(), "saved": counts, "findings": outcome}),
                );
            }
            println!(
                "Imported {} assets from {}: {} added, {} updated, {} unchanged.",
                assets.len(),
                file.display(),
                counts.added,
                counts.updated,
                counts.unchanged
            );
            print_sync(&outcome);
            Ok(())
        }
        RisksCommand::Assets(AssetsCommand::List {
            organisation,
            constituent,
            limit,
        }) => {
            let list = s.assets(&AssetFilter {
                organisation,
                constituent,
                limit: Some(limit),
            })?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                col("asset"),
                col("name"),
                col("organisation"),
                col("criticality"),
                num("software"),
            ]);
            for a in &list {
                t.row(
                    &mut out,
                    vec![
                        a.id.to_string(),
                        a.name.to_string(),
                        a.organisation.to_string(),
                        a.criticality.as_str().into(),
                        a.software.len().to_string(),
                    ],
                )?;
            }
            t.finish(&mut out, "No assets match.")?;
            Ok(())
        }
        RisksCommand::Assets(AssetsCommand::Show { id }) => {
            let a = s.asset(&id)?;
            let findings = s.findings(&FindingFilter {
                asset: Some(id),
                status: vec![FindingStatus::Open, FindingStatus::InProgress],
                ..FindingFilter::default()
            })?;
            if json {
                return print_json(&serde_json::json!({"asset": a, "open_findings": findings}));
            }
            println!(
                "{} ({}), {} of {}, criticality {}",
                a.id,
                a.name,
                a.owner.as_deref().unwrap_or("no owner"),
                a.organisation,
                a.criticality.as_str()
            );
            for sw in &a.software {
                println!("  {}", sw.spec);
            }
            println!("{} open finding(s).", findings.len());
            Ok(())
        }
        RisksCommand::Assets(AssetsCommand::Remove { id }) => {
            s.remove_asset(&id, actor())?;
            if json {
                return print_json(&serde_json::json!({"removed": id}));
            }
            println!("Removed asset {id}; its open findings were resolved.");
            Ok(())
        }
        RisksCommand::Exposure { product, versions } => {
            let list = ops::organisations_running(s, &product, versions.as_deref())?;
            if json {
                return print_json(&list);
            }
            if list.is_empty() {
                println!("No asset runs {product}.");
            }
            for e in &list {
                println!(
                    "{}{}: {}",
                    e.organisation,
                    e.constituent
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default(),
                    e.assets
                        .iter()
                        .map(|(a, sw)| format!("{a} [{sw}]"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            Ok(())
        }
        RisksCommand::Entry {
            kind,
            name,
            description,
            asset,
            reference,
        } => {
            let kind = EntryKind::parse(&kind)
                .with_context(|| format!("{kind:?}: use threat or vulnerability"))?;
            if let Some(a) = &asset {
                s.asset(a)?;
            }
            let e = s.add_entry(
                &RegisterEntry {
                    id: 0,
                    kind,
                    name,
                    description,
                    asset,
                    reference,
                },
                actor(),
            )?;
            if json {
                return print_json(&e);
            }
            println!("Added {} {}: {}.", e.kind.as_str(), e.id, e.name);
            Ok(())
        }
        RisksCommand::Entries => {
            let list = s.entries(None)?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[num("#"), col("kind"), col("name")]);
            for e in &list {
                t.row(
                    &mut out,
                    vec![e.id.to_string(), e.kind.as_str().into(), e.name.to_string()],
                )?;
            }
            t.finish(
                &mut out,
                "No threats or vulnerabilities in the register yet.",
            )?;
            Ok(())
        }
        RisksCommand::Add(a) => {
            let draft = RiskDraft {
                title: a.title,
                description: a.description,
                asset: a.asset,
                threat: a.threat,
                vulnerability: a.vulnerability,
                likelihood: a.likelihood,
                impact: a.impact,
                acceptable: a.acceptable,
                treatment: treatment(&a.treatment)?,
                owner: a.owner,
                review_due: a.review,
                controls: controls(&a.control)?,
            };
            ops::check_risk(s, &draft)?;
            let r = s.create_risk(&draft, actor())?;
            if json {
                return print_json(
                    &serde_json::json!({"risk": r, "rating": r.draft.rating(), "scale": RISK_SCALE}),
                );
            }
            let rating = r.draft.rating();
            println!(
                "Added risk {}: level {} ({}){}.",
                r.id,
                rating.level,
                rating.band,
                if rating.exceeds_appetite {
                    ", above its acceptable level"
                } else {
                    ""
                }
            );
            Ok(())
        }
        RisksCommand::Update { id, args } => {
            let mut d = s.risk(id)?.draft;
            if let Some(t) = args.title {
                d.title = t;
            }
            if let Some(l) = args.likelihood {
                d.likelihood = l;
            }
            if let Some(i) = args.impact {
                d.impact = i;
            }
            if let Some(a) = args.acceptable {
                d.acceptable = a;
            }
            if let Some(t) = args.treatment {
                d.treatment = treatment(&t)?;
            }
            if let Some(o) = args.owner {
                d.owner = Some(o);
            }
            if let Some(r) = args.review {
                d.review_due = Some(r);
            }
            for c in controls(&args.control)? {
                if !d.controls.contains(&c) {
                    d.controls.push(c);
                }
            }
            ops::check_risk(s, &d)?;
            let r = s.update_risk(id, &d, actor())?;
            if json {
                return print_json(&serde_json::json!({"risk": r, "rating": r.draft.rating()}));
            }
            println!(
                "Updated risk {id}: level {} ({}).",
                r.draft.rating().level,
                r.draft.rating().band
            );
            Ok(())
        }
        RisksCommand::List {
            review_due_by,
            asset,
        } => {
            let list = s.risks(&RiskFilter {
                asset,
                review_due_by,
                limit: None,
            })?;
            if json {
                let rows: Vec<_> = list
                    .iter()
                    .map(|r| serde_json::json!({"risk": r, "rating": r.draft.rating()}))
                    .collect();
                return print_json(&serde_json::json!({"scale": RISK_SCALE, "risks": rows}));
            }
            println!("Scale: {RISK_SCALE}");
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                num("#"),
                num("level"),
                col("band"),
                col("treatment"),
                col("review due"),
                col("title"),
            ]);
            for r in &list {
                let rating = r.draft.rating();
                t.row(
                    &mut out,
                    vec![
                        r.id.to_string(),
                        rating.level.to_string(),
                        rating.band.to_string(),
                        r.draft.treatment.as_str().into(),
                        r.draft
                            .review_due
                            .map(|d| d.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.draft.title.to_string(),
                    ],
                )?;
            }
            t.finish(&mut out, "No risks match.")?;
            Ok(())
        }
        RisksCommand::Export { format, output } => {
            let risks = s.risks(&RiskFilter::default())?;
            let findings = s.findings(&FindingFilter {
                status: vec![FindingStatus::Open, FindingStatus::InProgress],
                ..FindingFilter::default()
            })?;
            let body = match format.as_str() {
                "html" => focal_assessment::report::risk_html(&risks, &findings),
                "json" => {
                    serde_json::to_string_pretty(&serde_json::json!({
                        "scale": RISK_SCALE, "heat_map": heat_map(&risks),
                        "risks": risks.iter().map(|r| serde_json::json!({"risk": r, "rating": r.draft.rating()})).collect::<Vec<_>>(),
                        "open_findings": findings,
                    }))? + "\n"
                }
                other => bail!("--format {other:?}: use html or json"),
            };
            write_output(output.as_deref(), &body, json)
        }
    }
}

/// The advisory files named: files as given, folders searched for `*.json`.
fn advisory_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries.into_iter().rev() {
                if e.is_dir() || e.extension().is_some_and(|x| x == "json") {
                    stack.push(e);
                }
            }
        } else {
            out.push(p);
        }
    }
    Ok(out)
}

pub fn vulns(data: &Path, cmd: VulnsCommand, json: bool) -> Result<()> {
    let (_, store) = open(data)?;
    let s = store.assessment();
    let s: &dyn Storage = &*s;
    match cmd {
        VulnsCommand::Import { files, no_match } => {
            let mut report = Vec::new();
            let mut refused = Vec::new();
            let mut total = SyncOutcome::default();
            for file in advisory_files(&files)? {
                let name = file.display().to_string();
                let bytes = match std::fs::metadata(&file) {
                    Ok(m) if m.len() > advisory::MAX_DOCUMENT_BYTES as u64 => {
                        refused.push(format!(
                            "{name}: {} bytes; at most {} are accepted",
                            m.len(),
                            advisory::MAX_DOCUMENT_BYTES
                        ));
                        continue;
                    }
                    _ => std::fs::read(&file).with_context(|| format!("reading {name}"))?,
                };
                let list = match advisory::parse(&name, &bytes) {
                    Ok(l) => l,
                    Err(e) => {
                        refused.push(e.to_string());
                        continue;
                    }
                };
                for a in list {
                    let (id, outcome) = s.import_advisory(&a, actor())?;
                    let matched = if !no_match && outcome != ImportOutcome::Unchanged {
                        Some(ops::match_advisory(s, id, actor())?)
                    } else {
                        None
                    };
                    if let Some(m) = &matched {
                        total.opened += m.opened;
                        total.reopened += m.reopened;
                        total.resolved += m.resolved;
                        total.still_open += m.still_open;
                    }
                    report.push(serde_json::json!({
                        "file": name, "id": id, "format": a.format, "advisory": a.id, "outcome": outcome,
                        "records": a.records.len(), "unmatchable": a.unmatchable, "findings": matched,
                    }));
                    if !json {
                        println!(
                            "{name}: {} {} ({}): {:?}, {} affected record(s){}",
                            a.format.as_str(),
                            a.id,
                            a.severity.rating.as_str(),
                            outcome,
                            a.records.len(),
                            if a.unmatchable.is_empty() {
                                String::new()
                            } else {
                                format!(", {} not matchable", a.unmatchable.len())
                            }
                        );
                        for u in &a.unmatchable {
                            println!("    not matchable: {}: {}", u.path, u.reason);
                        }
                    }
                }
            }
            if json {
                print_json(
                    &serde_json::json!({"imported": report, "refused": refused, "findings": total}),
                )?;
            } else {
                print_sync(&total);
                for r in &refused {
                    eprintln!("refused: {r}");
                }
            }
            if !refused.is_empty() {
                bail!(
                    "{} file(s) refused (named above); the others were imported",
                    refused.len()
                );
            }
            Ok(())
        }
        VulnsCommand::List { limit } => {
            let list = s.advisories(limit)?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                num("#"),
                col("format"),
                col("advisory"),
                col("severity"),
                num("records"),
                col("title"),
            ]);
            for a in &list {
                t.row(
                    &mut out,
                    vec![
                        a.id.to_string(),
                        a.format.as_str().into(),
                        a.advisory_ref.to_string(),
                        a.severity.rating.as_str().into(),
                        a.records.to_string(),
                        a.title.to_string(),
                    ],
                )?;
            }
            t.finish(&mut out, "No vulnerability advisories imported yet.")?;
            Ok(())
        }
        VulnsCommand::Show { id } => {
            let a = s.advisory(id)?;
            if json {
                return print_json(&a);
            }
            println!(
                "{} {} revision {}: {}",
                a.format.as_str(),
                a.id,
                a.revision,
                a.title
            );
            println!(
                "Severity: {}{}",
                a.severity.rating.as_str(),
                a.severity
                    .cvss_score
                    .map(|c| format!(" (CVSS {c})"))
                    .unwrap_or_default()
            );
            for r in &a.records {
                println!("  {:<18} {}", r.vuln_id, r.product);
            }
            for u in &a.unmatchable {
                println!("  not matchable: {}: {}", u.path, u.reason);
            }
            Ok(())
        }
        VulnsCommand::Match => {
            let o = ops::match_everything(s, actor())?;
            if json {
                return print_json(&o);
            }
            print_sync(&o);
            Ok(())
        }
        VulnsCommand::Findings {
            status,
            all,
            asset,
            organisation,
            min_severity,
            limit,
        } => {
            let status = if all {
                vec![]
            } else if status.is_empty() {
                vec![FindingStatus::Open, FindingStatus::InProgress]
            } else {
                status.iter().map(|x| FindingStatus::parse(x).with_context(|| format!("--status {x:?}: use open, in_progress, resolved, accepted or false_positive"))).collect::<Result<_>>()?
            };
            let min_rating = min_severity
                .as_deref()
                .map(|m| {
                    Rating::parse(m).with_context(|| {
                        format!("--min-severity {m:?}: use low, medium, high or critical")
                    })
                })
                .transpose()?;
            let list = s.findings(&FindingFilter {
                status,
                asset,
                organisation,
                advisory: None,
                min_rating,
                limit: Some(limit),
                offset: 0,
            })?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                num("#"),
                col("severity"),
                col("status"),
                col("vulnerability"),
                col("asset"),
                col("software"),
                col("organisation"),
            ]);
            for f in &list {
                t.row(
                    &mut out,
                    vec![
                        f.id.to_string(),
                        f.draft.severity.rating.as_str().into(),
                        f.status.as_str().into(),
                        f.draft.vuln_id.to_string(),
                        f.draft.asset.to_string(),
                        f.draft.software.to_string(),
                        f.draft.organisation.to_string(),
                    ],
                )?;
            }
            t.finish(&mut out, "No findings match.")?;
            Ok(())
        }
        VulnsCommand::Finding {
            id,
            status,
            resolution,
            due,
            risk,
            incident,
        } => {
            let status = status.as_deref().map(|x| FindingStatus::parse(x).with_context(|| format!("--status {x:?}: use open, in_progress, resolved, accepted or false_positive"))).transpose()?;
            if let Some(n) = incident
                && let Some(sqlite) = super::as_sqlite(&*store)
            {
                use focal_store::incidents::IncidentStore;
                if sqlite.incident(n)?.is_none() {
                    bail!("--incident {n}: no such incident");
                }
            }
            let f = s.update_finding(
                id,
                &FindingChange {
                    status,
                    resolution,
                    due: due.map(Some),
                    add_risk: risk,
                    add_incident: incident,
                },
                actor(),
            )?;
            if json {
                return print_json(&f);
            }
            println!(
                "Finding {id}: {}{}.",
                f.status.as_str(),
                f.resolution
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            );
            Ok(())
        }
    }
}
