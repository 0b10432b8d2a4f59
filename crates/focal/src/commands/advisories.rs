//! `focal advisories`: write, review, publish, export and mail security advisories. The rules
//! are `focal_awareness::advisory`'s; every change is stored with its audit entry.

use super::audit::actor;
use super::table::{Table, col, num};
use super::{open, print_json};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use focal_awareness::advisory::csaf::{Edition, to_csaf};
use focal_awareness::advisory::distribution::{
    self, Audience, MailFailure, Mailer, OutgoingMail, ProductAudience, SendPolicy,
};
use focal_awareness::advisory::workflow::{self, Step};
use focal_awareness::advisory::{
    Advisory, AdvisoryContent, AdvisoryState, Product, Reference, atom, html,
};
use focal_awareness::store::{AdvisoryFilter, AuditRecord};
use focal_model::Tlp;
use jiff::Timestamp;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum AdvisoriesCommand {
    /// Write a new advisory (a draft).
    New(NewArgs),
    /// Change a draft, or start the next revision of a published advisory (needs --change).
    Edit(EditArgs),
    /// Send a draft for review.
    Submit { id: String },
    /// Send an advisory in review back to draft.
    Reject {
        id: String,
        /// Why, for the author and the audit log.
        #[arg(long)]
        reason: String,
    },
    /// Publish an advisory in review as its next revision (someone other than its author).
    Publish { id: String },
    /// List advisories, newest change first.
    List {
        /// Only this state: draft, in_review, published.
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one advisory with its working copy and every published revision.
    Show { id: String },
    /// Write an advisory as CSAF 2.0 JSON or an HTML page, or the public Atom feed.
    Export(ExportArgs),
    /// Mail the latest published revision to the constituents who run its products (or all),
    /// then send every due advisory message.
    Send(SendArgs),
}

/// The content flags shared by `new` and `edit`.
#[derive(Args, Debug, Default)]
pub struct ContentArgs {
    /// All content from a JSON file (title, summary, products, cves, cvss, remediation, tlp,
    /// references); the other content flags then change it.
    #[arg(long)]
    pub from: Option<PathBuf>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub summary: Option<String>,
    /// An affected product as vendor/product[/version] (repeat; replaces the list).
    #[arg(long = "product")]
    pub products: Vec<String>,
    /// A CVE id (repeat; replaces the list).
    #[arg(long = "cve")]
    pub cves: Vec<String>,
    /// A CVSS v3.x vector; the score is computed from it.
    #[arg(long)]
    pub cvss: Option<String>,
    #[arg(long)]
    pub remediation: Option<String>,
    /// CLEAR, GREEN, AMBER, AMBER+STRICT or RED.
    #[arg(long)]
    pub tlp: Option<Tlp>,
    /// A reference URL, optionally followed by a space and its summary (repeat; replaces the list).
    #[arg(long = "reference")]
    pub references: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The tracking id [default: <id_prefix>-<year>-<next number>].
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub content: ContentArgs,
}

#[derive(Args, Debug)]
pub struct EditArgs {
    pub id: String,
    /// What changed, for the revision history (required for a published advisory).
    #[arg(long)]
    pub change: Option<String>,
    #[command(flatten)]
    pub content: ContentArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Csaf,
    Html,
    Atom,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The advisory (not for --format atom, which is the feed of every TLP:CLEAR advisory).
    pub id: Option<String>,
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// The working copy (marked draft) instead of the published revision.
    #[arg(long)]
    pub draft: bool,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SendArgs {
    pub id: String,
    /// Show who would receive it; queue and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The SMTP relay, host:port (overrides notify.smtp in focal.toml).
    #[arg(long)]
    pub smtp: Option<String>,
    /// The sender address (overrides notify.from).
    #[arg(long)]
    pub from: Option<String>,
}

fn content_from(base: Option<AdvisoryContent>, args: &ContentArgs) -> Result<AdvisoryContent> {
    let mut c = match &args.from {
        Some(path) => {
            let bytes = read_bounded(path, 4 * 1024 * 1024)?;
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: not an advisory content JSON", path.display()))?
        }
        None => base.unwrap_or(AdvisoryContent {
            title: String::new(),
            summary: String::new(),
            products: vec![],
            cves: vec![],
            cvss: None,
            remediation: None,
            tlp: Tlp::Amber,
            references: vec![],
        }),
    };
    if let Some(t) = &args.title {
        c.title = t.clone();
    }
    if let Some(s) = &args.summary {
        c.summary = s.clone();
    }
    if !args.products.is_empty() {
        c.products = args
            .products
            .iter()
            .enumerate()
            .map(|(i, p)| {
                Product::parse(p).map_err(|e| anyhow::anyhow!("--product #{}: {e}", i + 1))
            })
            .collect::<Result<_>>()?;
    }
    if !args.cves.is_empty() {
        c.cves = args.cves.clone();
    }
    if let Some(v) = &args.cvss {
        c.cvss = Some(v.clone()).filter(|v| !v.is_empty());
    }
    if let Some(r) = &args.remediation {
        c.remediation = Some(r.clone()).filter(|r| !r.is_empty());
    }
    if let Some(t) = args.tlp {
        c.tlp = t;
    }
    if !args.references.is_empty() {
        c.references = args
            .references
            .iter()
            .map(|r| Reference::parse_line(r))
            .collect();
    }
    Ok(c)
}

/// Reads a file of at most `max` bytes, refusing a larger one before reading it.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > max {
        bail!(
            "{}: {size} bytes is more than the {max} accepted",
            path.display()
        );
    }
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn record(
    action: &str,
    before: Option<&Advisory>,
    after: &Advisory,
    extra: Option<serde_json::Value>,
) -> AuditRecord {
    workflow::audit_record(actor(), action, before, after, extra)
}

/// Which constituents run a product: the asset inventory of the risk register
/// (`focal risks assets import`), through the exposure query `focal risks exposure` uses too.
///
/// The inventory answers only what it can: with no assets at all, or a product it cannot name
/// (a CPE or purl, or a vendor and product name made into a CPE), or an installation it cannot
/// tie to a constituent, it says "unknown" and the advisory goes to every constituent. Sending
/// to too many is the safe mistake here; the TLP checks apply to every recipient either way.
struct Inventory<'a>(&'a dyn focal_assessment::store::RiskStore);

impl Inventory<'_> {
    fn is_empty(&self) -> Result<bool, String> {
        let one = focal_assessment::store::AssetFilter {
            limit: Some(1),
            ..Default::default()
        };
        Ok(self.0.assets(&one).map_err(|e| e.to_string())?.is_empty())
    }
}

/// The identifier the inventory knows a product by.
fn product_identifier(p: &Product) -> String {
    if let Some(id) = p.cpe.as_deref().or(p.purl.as_deref()) {
        return id.to_string();
    }
    // CPE 2.3 spells names in lower case with `_` for spaces; special characters are escaped.
    let part = |s: &str| {
        s.trim()
            .to_lowercase()
            .chars()
            .map(|c| match c {
                ' ' => "_".to_string(),
                c if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' => c.to_string(),
                c => format!("\\{c}"),
            })
            .collect::<String>()
    };
    format!(
        "cpe:2.3:a:{}:{}:*:*:*:*:*:*:*:*",
        part(&p.vendor),
        part(&p.name)
    )
}

impl ProductAudience for Inventory<'_> {
    fn constituents_running(&self, p: &Product) -> Result<Audience, String> {
        if self.is_empty()? {
            return Ok(Audience::Unknown);
        }
        let exposures = match focal_assessment::ops::organisations_running(
            self.0,
            &product_identifier(p),
            None,
        ) {
            Ok(e) => e,
            // A name the inventory cannot read as a CPE or purl: it cannot tell.
            Err(focal_assessment::store::StoreError::Invalid(_)) => {
                return Ok(Audience::Unknown);
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut constituents = std::collections::BTreeSet::new();
        for e in exposures {
            match e.constituent {
                Some(c) => constituents.insert(c),
                None => return Ok(Audience::Unknown),
            };
        }
        Ok(Audience::Only(constituents))
    }
}

struct SmtpMailer(focal_incidents::notify::Sender);

impl Mailer for SmtpMailer {
    fn send(&self, mail: &OutgoingMail) -> Result<String, MailFailure> {
        let attachments: Vec<(String, String, Vec<u8>)> = mail
            .attachments
            .iter()
            .map(|a| (a.file_name.clone(), a.content_type.clone(), a.body.clone()))
            .collect();
        self.0
            .send(
                &mail.to,
                &mail.subject,
                &mail.message_id,
                &mail.text,
                &attachments,
            )
            .map_err(|f| MailFailure {
                message: f.message,
                permanent: f.permanent,
            })
    }
}

pub fn run(data: &Path, cmd: AdvisoriesCommand, json: bool) -> Result<()> {
    let (dir, store) = open(data)?;
    let cfg = &dir.config.awareness;
    let advisories = store.awareness();
    let now = Timestamp::now();
    let show = |a: &Advisory, what: &str| -> Result<()> {
        if json {
            print_json(a)
        } else {
            println!(
                "{what} {} ({}, revision {}, {}): {}",
                a.id,
                a.state.as_str(),
                a.revisions.len(),
                a.draft.tlp.label(),
                a.draft.title
            );
            Ok(())
        }
    };
    match cmd {
        AdvisoriesCommand::New(args) => {
            let content = content_from(None, &args.content)?;
            let a = workflow::create(advisories, cfg, args.id, content, actor(), now)?;
            show(&a, "Created draft")
        }
        AdvisoriesCommand::Edit(args) => {
            let before = advisories.advisory(&args.id)?;
            let step = Step::Edit {
                content: content_from(Some(before.draft), &args.content)?,
                change_summary: args.change,
            };
            let expected = Some(before.row_version);
            let a = workflow::apply(advisories, &args.id, expected, step, actor(), now)?;
            show(&a, "Edited")
        }
        AdvisoriesCommand::Submit { id } => {
            let a = workflow::apply(advisories, &id, None, Step::Submit, actor(), now)?;
            show(&a, "Submitted for review")
        }
        AdvisoriesCommand::Reject { id, reason } => {
            let a = workflow::apply(advisories, &id, None, Step::Reject { reason }, actor(), now)?;
            show(&a, "Sent back to draft")
        }
        AdvisoriesCommand::Publish { id } => {
            let a = workflow::apply(advisories, &id, None, Step::Publish, actor(), now)?;
            show(&a, "Published")
        }
        AdvisoriesCommand::List { state, limit } => {
            let state = state
                .as_deref()
                .map(AdvisoryState::parse)
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let list = advisories.advisory_list(&AdvisoryFilter {
                state,
                limit: Some(limit),
            })?;
            if json {
                return print_json(&list);
            }
            let mut out = std::io::stdout().lock();
            let mut t = Table::new(&[
                col("advisory"),
                col("state"),
                num("revision"),
                col("tlp"),
                col("title"),
            ]);
            for a in &list {
                t.row(
                    &mut out,
                    vec![
                        a.id.to_string(),
                        a.state.as_str().into(),
                        a.revision.to_string(),
                        a.tlp.label().to_string(),
                        a.title.to_string(),
                    ],
                )?;
            }
            t.finish(&mut out, "No advisories.")?;
            Ok(())
        }
        AdvisoriesCommand::Show { id } => {
            let a = advisories.advisory(&id)?;
            if json {
                return print_json(&a);
            }
            println!("{} [{}] {}", a.id, a.state.as_str(), a.draft.tlp.label());
            println!("{}\n\n{}", a.draft.title, a.draft.summary);
            for p in &a.draft.products {
                println!("  product: {}", p.full_name());
            }
            for c in &a.draft.cves {
                println!("  {c}");
            }
            for r in &a.revisions {
                println!(
                    "  revision {} {} by {}: {}",
                    r.number, r.date, r.published_by, r.summary
                );
            }
            Ok(())
        }
        AdvisoriesCommand::Export(args) => {
            let edition = if args.draft {
                Edition::WorkingCopy
            } else {
                Edition::Published
            };
            let text = match (args.format, &args.id) {
                (ExportFormat::Atom, Some(_)) => {
                    bail!("--format atom is the feed of all TLP:CLEAR advisories; give no id")
                }
                (ExportFormat::Atom, None) => atom::render_atom(
                    &advisories.published_advisories(atom::MAX_ENTRIES * 10)?,
                    cfg,
                    now,
                ),
                (_, None) => bail!("name the advisory to export"),
                (format, Some(id)) => {
                    let a = advisories.advisory(id)?;
                    let missing = || {
                        anyhow::anyhow!(
                            "advisory {id} has no published revision yet; use --draft for the working copy"
                        )
                    };
                    match format {
                        ExportFormat::Csaf => {
                            let doc = to_csaf(&a, edition, cfg, now).ok_or_else(missing)?;
                            serde_json::to_string_pretty(&doc)? + "\n"
                        }
                        _ => html::render_html(&a, edition, cfg).ok_or_else(missing)?,
                    }
                }
            };
            match &args.output {
                Some(path) => {
                    std::fs::write(path, &text)
                        .with_context(|| format!("writing {}", path.display()))?;
                    if json {
                        print_json(&serde_json::json!({"written": path, "bytes": text.len()}))?;
                    } else {
                        println!("Wrote {} ({} bytes).", path.display(), text.len());
                    }
                }
                None => std::io::stdout().lock().write_all(text.as_bytes())?,
            }
            Ok(())
        }
        AdvisoriesCommand::Send(args) => {
            let a = advisories.advisory(&args.id)?;
            let mut notify = dir.config.notify.clone();
            if let Some(smtp) = &args.smtp {
                notify.smtp = smtp.clone();
            }
            if let Some(from) = &args.from {
                notify.from = from.clone();
            }
            let plan = distribution::plan(
                &a,
                &store.constituents()?,
                &Inventory(&*store.assessment()),
                notify.max_tlp,
            )?;
            if args.dry_run {
                if json {
                    return print_json(&plan);
                }
                println!(
                    "Revision {} of {} ({}) would go to {} constituents{}; {} skipped.",
                    plan.revision,
                    plan.advisory_id,
                    plan.tlp.label(),
                    plan.recipients.len(),
                    if plan.targeted {
                        " running its products"
                    } else {
                        ""
                    },
                    plan.skipped.len()
                );
                return Ok(());
            }
            let queue = distribution::queue_for(&plan, &notify.message_id_domain);
            let extra = serde_json::json!({"revision": plan.revision, "recipients": plan.recipients.len(), "targeted": plan.targeted});
            let queued = advisories
                .queue_advisory_mail(&queue, &record("advisory.send", Some(&a), &a, Some(extra)))?;
            let mailer = SmtpMailer(focal_incidents::notify::Sender::new(&notify)?);
            let report = distribution::send_due(
                advisories,
                &mailer,
                &SendPolicy {
                    max_tlp: notify.max_tlp,
                    max_attempts: notify.max_attempts,
                    retry_base_seconds: notify.retry_base_seconds,
                    limit: 0,
                },
                cfg,
            )?;
            if json {
                print_json(&serde_json::json!({"plan": plan, "queued": queued, "report": report}))?;
            } else {
                println!(
                    "{} messages queued for revision {} of {}; {} sent, {} to retry, {} failed; {} constituents skipped.",
                    queued,
                    plan.revision,
                    plan.advisory_id,
                    report.sent,
                    report.retry,
                    report.failed,
                    plan.skipped.len()
                );
            }
            if report.failed > 0 {
                bail!("{} advisory messages failed for good", report.failed);
            }
            Ok(())
        }
    }
}
