//! Every command and flag, with its help text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "focal",
    version,
    about = "Focal: feeds in, enriched and de-duplicated events out, for a CSIRT's constituency."
)]
pub struct Cli {
    /// The data folder (configuration and the embedded database) [default: focal-data, or
    /// focal-demo for `demo`].
    #[arg(long, global = true, env = "FOCAL_DATA")]
    pub data: Option<PathBuf>,
    /// The store: a `postgres://` URL (add `?schema=NAME` for a schema of its own) or a SQLite
    /// file. Overrides `[database] url` in focal.toml; the default is focal.db in the data folder.
    #[arg(long, global = true, env = "FOCAL_DATABASE")]
    pub database: Option<String>,
    /// Print results as JSON on stdout, for scripts.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug). FOCAL_LOG overrides it.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Who is acting, for the audit log and incident timelines, recorded as `user:NAME` as the
    /// web records a signed-in account [default: $USER].
    #[arg(long, global = true, env = "FOCAL_ACTOR")]
    pub actor: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create the data folder, its configuration and an empty database.
    Init(InitArgs),
    /// Manage the constituency: the organisations whose networks you look after.
    #[command(subcommand)]
    Constituents(ConstituentsCommand),
    /// Read feed files: parse, validate, enrich, de-duplicate and store.
    Ingest(IngestArgs),
    /// The registry of feed definitions in the data folder (DATA/feeds/): add, list, show,
    /// remove, and pull (download and ingest) now.
    #[command(subcommand)]
    Feeds(crate::commands::feeds::FeedsCommand),
    /// List stored events, with filters, as a table, CSV, JSON or IntelMQ JSON lines.
    Events(EventsArgs),
    /// Show quarantined (malformed) records with the reason for each.
    Quarantine(QuarantineArgs),
    /// List ingestion runs (one per file read).
    Runs(RunsArgs),
    /// Counts: events, quarantined, unassigned and per constituent; `stats public` for the
    /// public, k-anonymous statistics.
    Stats(StatsArgs),
    /// Security advisories: write, review, publish, export (CSAF 2.0, HTML, Atom), mail.
    #[command(subcommand)]
    Advisories(crate::commands::advisories::AdvisoriesCommand),
    /// The cyber-policy library: import, export, search, show.
    #[command(subcommand)]
    Library(crate::commands::library::LibraryCommand),
    /// Run the main job on bundled example data: a fresh data folder, feeds ingested, a summary.
    Demo(DemoArgs),
    /// Share over STIX 2.1: export bundles, import peers' bundles, publish events, policies.
    #[command(subcommand)]
    Share(crate::commands::share::ShareCommand),
    /// Remote nodes (TAXII 2.1 servers) to pull from and push to.
    #[command(subcommand)]
    Peers(crate::commands::peers::PeersCommand),
    /// Accounts on this node (peers' accounts for TAXII today).
    #[command(subcommand)]
    Users(crate::commands::users::UsersCommand),
    /// Serve the web UI, the REST API under /api/v1 and TAXII 2.1 under /taxii2/.
    Serve(crate::commands::serve::ServeArgs),
    /// Incidents: list (the default), show, assign, transition, severity, comment, group.
    Incidents(crate::commands::incidents::IncidentsArgs),
    /// Send each constituent a digest of its new events (or preview with --dry-run).
    Notify(crate::commands::notify::NotifyArgs),
    /// The tamper-evident audit log: list entries, verify the hash chain.
    #[command(subcommand)]
    Audit(crate::commands::audit::AuditCommand),
    /// Distributed ingest: cut feed files into chunks and queue them on NATS JetStream for
    /// `focal worker` processes (needs PostgreSQL).
    Submit(SubmitArgs),
    /// Process queued chunks: parse, enrich, de-duplicate, write to PostgreSQL. Run any number,
    /// on any machines.
    Worker(WorkerArgs),
    /// Distributed ingest jobs: progress and per-chunk results.
    Jobs(JobsArgs),
    /// Assessment frameworks as data: list, show, validate and add framework files.
    #[command(subcommand)]
    Frameworks(crate::commands::assess::FrameworksCommand),
    /// Self-assessments of an organisation or a country: answer, score, compare, complete, export.
    #[command(subcommand)]
    Assess(crate::commands::assess::AssessCommand),
    /// The risk register: assets and their software, threats, vulnerabilities, risks, exposure.
    #[command(subcommand)]
    Risks(crate::commands::risks::RisksCommand),
    /// Vulnerability advisories (CSAF 2.0, OSV) matched to assets, and the findings.
    #[command(subcommand)]
    Vulns(crate::commands::risks::VulnsCommand),
}

/// Where the work queue is.
#[derive(Args, Debug, Clone)]
pub struct QueueArgs {
    /// NATS server URL (JetStream enabled).
    #[arg(long, env = "FOCAL_NATS", default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// JetStream stream name; separate names keep deployments apart on one NATS.
    #[arg(long, env = "FOCAL_STREAM", default_value = "FOCAL_CHUNKS")]
    pub stream: String,
    /// Seconds a chunk may go unacknowledged before NATS hands it to another worker (when the
    /// stream's consumer is first created).
    #[arg(long, default_value_t = 30)]
    pub ack_wait: u64,
}

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The feed definition (TOML); it travels with the job, workers need no copy.
    #[arg(long)]
    pub feed: PathBuf,
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Records per chunk.
    #[arg(long, default_value_t = 20_000)]
    pub chunk_records: u32,
    /// Submit even if the same content was already ingested for this feed.
    #[arg(long)]
    pub force: bool,
    /// Wait until workers have processed every chunk, showing progress, and print the result.
    #[arg(long)]
    pub wait: bool,
    /// Feed files to submit.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub queue: QueueArgs,
    /// Chunks processed at once (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub concurrency: usize,
    /// Override the configured ASN range files (repeat for IPv4 and IPv6).
    #[arg(long = "asn")]
    pub asn: Vec<PathBuf>,
    /// Override the configured country database.
    #[arg(long)]
    pub country: Option<PathBuf>,
    /// Stop after this many seconds with nothing to do (default: run until stopped).
    #[arg(long)]
    pub exit_when_idle: Option<u64>,
    /// The name recorded with each chunk this worker writes (default: host-pid).
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct JobsArgs {
    /// Show one job with its chunks.
    pub id: Option<i64>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// IP→ASN range CSV (`range_start,range_end,asn,as_name`); repeat for IPv4 and IPv6.
    #[arg(long = "asn")]
    pub asn: Vec<PathBuf>,
    /// IP→country MaxMind DB (.mmdb).
    #[arg(long)]
    pub country: Option<PathBuf>,
    /// Keep the data in this PostgreSQL database (saved in focal.toml) instead of focal.db.
    #[arg(long = "postgres", value_name = "URL")]
    pub postgres: Option<String>,
    /// The first admin account's name (web UI and API).
    #[arg(long, default_value = "admin")]
    pub admin_name: String,
    /// Its password (or FOCAL_ADMIN_PASSWORD); without it one is generated and printed once.
    #[arg(long, env = "FOCAL_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum ConstituentsCommand {
    /// Import or update organisations from `id,name,abuse_email,asns,netblocks,domains`
    /// (optional columns: `language`; `also_notify`, further recipients separated by `;`).
    Import { file: PathBuf },
    /// List the constituency.
    List,
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    /// The feed definition (TOML).
    #[arg(long)]
    pub feed: PathBuf,
    /// Override the configured ASN range files (repeat for IPv4 and IPv6).
    #[arg(long = "asn")]
    pub asn: Vec<PathBuf>,
    /// Override the configured country database.
    #[arg(long)]
    pub country: Option<PathBuf>,
    /// Read a file again even if its content was already ingested for this feed.
    #[arg(long)]
    pub force: bool,
    /// Parse threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Records per parse batch.
    #[arg(long, default_value_t = 16_384)]
    pub batch_size: usize,
    /// Records per database transaction (the resume granularity).
    #[arg(long, default_value_t = 262_144)]
    pub commit_rows: usize,
    /// Do not group the new events into incidents afterwards (`focal incidents group` does it later).
    #[arg(long)]
    pub no_group: bool,
    /// Exit non-zero, naming definitions that might fit, when more than this percentage of a
    /// file's records is quarantined (the events are stored all the same; 100 turns it off).
    #[arg(long, default_value_t = 50.0, value_parser = percentage)]
    pub max_quarantined: f64,
    /// Feed files to read.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum EventFormat {
    /// Aligned columns for reading.
    Table,
    Csv,
    /// One JSON array.
    Json,
    /// IntelMQ's event format, one JSON object per line.
    Intelmq,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Only this constituent (its imported id).
    #[arg(long)]
    pub constituent: Option<String>,
    /// Only events without a constituent.
    #[arg(long, conflicts_with = "constituent")]
    pub unassigned: bool,
    /// An IP address or a CIDR network.
    #[arg(long)]
    pub ip: Option<String>,
    #[arg(long)]
    pub asn: Option<String>,
    /// Two-letter country code.
    #[arg(long)]
    pub country: Option<String>,
    /// classification.type (RSIT), e.g. infected-system.
    #[arg(long = "type")]
    pub type_: Option<String>,
    #[arg(long)]
    pub feed: Option<String>,
    /// From this time (RFC 3339, or a date like 2026-11-23), inclusive.
    #[arg(long)]
    pub since: Option<String>,
    /// Until this time, exclusive.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many events (0: all).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Only events stored after this sequence number (for paging).
    #[arg(long)]
    pub after: Option<i64>,
    /// Output format (`--json` means json).
    #[arg(long, value_enum, default_value = "table")]
    pub format: EventFormat,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    #[command(subcommand)]
    pub public: Option<StatsCommand>,
}

#[derive(Subcommand, Debug)]
pub enum StatsCommand {
    /// Aggregated TLP:CLEAR figures with every figure below k suppressed (what the public page
    /// shows): events per type per week, infected hosts per country and ASN, median time to
    /// resolution.
    Public {
        /// The smallest figure shown [default: awareness.public_k in focal.toml].
        #[arg(long)]
        k: Option<u64>,
        /// From this date or time (by event time), inclusive.
        #[arg(long)]
        since: Option<String>,
        /// Until this date or time, exclusive.
        #[arg(long)]
        until: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    #[arg(long)]
    pub run: Option<i64>,
    /// Only this kind (columns, encoding, field_too_long, timestamp, ip, port, taxonomy, missing, json, value, control).
    #[arg(long)]
    pub kind: Option<String>,
    #[arg(long)]
    pub feed: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct RunsArgs {
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the bundled example data is (default: the `data/` folder of this source tree).
    #[arg(long)]
    pub from: Option<PathBuf>,
    /// Replace the data folder if it exists.
    #[arg(long)]
    pub fresh: bool,
    /// Build the dataset and stop, instead of serving it.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the demo server listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

/// A percentage from 0 to 100.
fn percentage(text: &str) -> Result<f64, String> {
    let n: f64 = text
        .trim()
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage"))?;
    if (0.0..=100.0).contains(&n) {
        Ok(n)
    } else {
        Err(format!("{text:?}: a percentage from 0 to 100"))
    }
}
