//! The data folder: `focal.toml` (settings) and `focal.db` (the embedded store), or a
//! PostgreSQL database named in `focal.toml` or by `--database`.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

pub const CONFIG_FILE: &str = "focal.toml";
pub const DATABASE_FILE: &str = "focal.db";

/// `focal.toml`. Relative paths are relative to the data folder.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub enrichment: Enrichment,
    /// Grouping rules, severities and SLAs.
    #[serde(default)]
    pub incidents: focal_incidents::IncidentsConfig,
    /// How notifications are sent.
    #[serde(default)]
    pub notify: focal_incidents::NotifyConfig,
    /// Background work of `focal serve`.
    #[serde(default)]
    pub workers: Workers,
    /// How `focal serve` meets the network (proxies in front of it).
    #[serde(default)]
    pub web: Web,
    #[serde(default)]
    pub awareness: focal_awareness::AwarenessConfig,
    /// Where feeds may be pulled from on this machine.
    #[serde(default)]
    pub feeds: Feeds,
    #[serde(default, skip_serializing_if = "Database::is_default")]
    pub database: Database,
}

/// What `focal serve` does in the background besides answering requests. Intervals are in
/// seconds; 0 turns a worker off. `focal serve --no-workers` turns them all off.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workers {
    /// Scheduled feed pulls: each registered feed with a `[pull] every` is pulled on its own
    /// schedule; the scheduler re-reads the registry (DATA/feeds/) at least this often.
    pub feeds_every: u64,
    /// Claim new events into the outbox and send the due digests, as `focal notify` does.
    pub notify_every: u64,
    /// Pull from and push to every peer, as `focal peers sync` does.
    pub sync_every: u64,
    /// Scan the drop folders (DATA/drop/<feed>/ of feeds with `[drop]`), as `focal feeds watch`.
    pub drop_every: u64,
}

/// How `focal serve` meets the network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Web {
    /// The reverse proxies (addresses or CIDR networks, e.g. "127.0.0.1" or "10.0.0.0/8") in
    /// front of `focal serve`. Only a request whose TCP peer is one of them has its client read
    /// from `Forwarded` / `X-Forwarded-For`; any other request's client is its TCP peer, and
    /// such headers from it are ignored. Sign-in throttling and the audit log key on the client.
    pub trusted_proxies: Vec<String>,
    /// The one header the proxies set with the client's address: "X-Forwarded-For" (the
    /// default) or "Forwarded". The other is never read: a proxy passes it on as the client
    /// wrote it.
    pub forwarded_header: String,
    /// Requests in progress at once; more are answered 503 with Retry-After, never queued.
    pub max_concurrent_requests: usize,
    /// Request body bytes (by their Content-Length) in progress at once; a request whose body
    /// does not fit is answered 503 with Retry-After, one larger than all of it 413.
    pub max_body_bytes_in_flight: usize,
    /// Seconds a client may take to send a request's head; then its connection is closed.
    pub header_read_timeout_secs: u64,
    /// Seconds a request's body may take to arrive after its head; then it is answered 408
    /// and its place released.
    pub body_read_timeout_secs: u64,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            trusted_proxies: Vec::new(),
            forwarded_header: "X-Forwarded-For".to_string(),
            max_concurrent_requests: focal_server::limits::DEFAULT_MAX_REQUESTS,
            max_body_bytes_in_flight: focal_server::limits::DEFAULT_MAX_BODY_BYTES,
            header_read_timeout_secs: focal_server::limits::DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
            body_read_timeout_secs: focal_server::limits::DEFAULT_BODY_READ_TIMEOUT.as_secs(),
        }
    }
}

impl Web {
    /// The read timeouts as the server uses them: (head, body). Zero would refuse every
    /// request, so it is taken as one second.
    pub fn timeouts(&self) -> (std::time::Duration, std::time::Duration) {
        let secs = |s: u64| std::time::Duration::from_secs(s.max(1));
        (
            secs(self.header_read_timeout_secs),
            secs(self.body_read_timeout_secs),
        )
    }

    /// The proxies as the server uses them; the error names the bad entry.
    pub fn proxies(&self) -> Result<focal_server::client::TrustedProxies> {
        let header = focal_server::client::ForwardedHeader::parse(&self.forwarded_header)
            .map_err(|e| anyhow::anyhow!("web.forwarded_header: {e}"))?;
        let proxies = focal_server::client::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("web.trusted_proxies: {e}"))?;
        Ok(proxies.reading(header))
    }
}

/// Feed pulls.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Feeds {
    /// The only directories a `file://` pull URL may name a file in (and their
    /// subdirectories), after symlinks are resolved. Never the data folder or anything in it:
    /// a pull would otherwise read the live database, the audit key or the configuration into
    /// events and the quarantine. Empty: no `file://` pulls at all.
    pub file_dirs: Vec<PathBuf>,
}

/// The longest interval a worker accepts (366 days): longer is surely a mistake, and time
/// arithmetic on the schedule stays far from overflowing.
pub const MAX_INTERVAL_SECS: u64 = 366 * 86_400;

impl Workers {
    /// Every interval within [`MAX_INTERVAL_SECS`]; the error names the setting.
    pub fn check(&self) -> Result<()> {
        for (setting, secs) in [
            ("feeds_every", self.feeds_every),
            ("notify_every", self.notify_every),
            ("sync_every", self.sync_every),
            ("drop_every", self.drop_every),
        ] {
            if secs > MAX_INTERVAL_SECS {
                bail!("workers.{setting}: {}", interval_problem(secs));
            }
        }
        Ok(())
    }
}

fn interval_problem(secs: u64) -> String {
    format!(
        "{secs} seconds is longer than 366 days; use at most {MAX_INTERVAL_SECS} seconds (0 turns the worker off)"
    )
}

/// A worker interval given on the command line (`--feeds-every` and the like).
pub fn parse_interval(text: &str) -> Result<u64, String> {
    let secs: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a number of seconds"))?;
    if secs > MAX_INTERVAL_SECS {
        return Err(interval_problem(secs));
    }
    Ok(secs)
}

impl Default for Workers {
    fn default() -> Self {
        Workers {
            feeds_every: 10,
            notify_every: 300,
            sync_every: 900,
            drop_every: 5,
        }
    }
}

/// Where the store lives. Without a URL, the embedded SQLite file `focal.db` in the data folder.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// `postgres://user@host:5432/db` (a `?schema=NAME` parameter keeps Focal's tables in a schema).
    pub url: Option<String>,
}

impl Database {
    fn is_default(&self) -> bool {
        self == &Database::default()
    }
}

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Enrichment {
    /// IP→ASN range CSVs.
    #[serde(default)]
    pub asn: Vec<PathBuf>,
    /// IP→country MaxMind DB.
    pub country: Option<PathBuf>,
}

pub struct DataDir {
    pub root: PathBuf,
    pub config: Config,
    /// The folder's lock, held shared while it is open (see `crate::folder_lock`).
    pub lock: Option<std::fs::File>,
}

impl DataDir {
    pub fn open(root: &Path) -> Result<DataDir> {
        let file = root.join(CONFIG_FILE);
        if !file.exists() {
            bail!(
                "{} is not a Focal data folder (no {CONFIG_FILE}); run `focal --data {} init` first",
                root.display(),
                root.display()
            );
        }
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("reading {}", file.display()))?;
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("{}: invalid configuration", file.display()))?;
        config
            .workers
            .check()
            .with_context(|| format!("{}: invalid configuration", file.display()))?;
        config
            .web
            .proxies()
            .with_context(|| format!("{}: invalid configuration", file.display()))?;
        config
            .awareness
            .check()
            .with_context(|| format!("{}: invalid configuration", file.display()))?;
        let lock = crate::folder_lock::shared(root)?;
        let dir = DataDir {
            root: root.to_path_buf(),
            config,
            lock,
        };
        dir.allowed_file_dirs()
            .with_context(|| format!("{}: invalid configuration", file.display()))?;
        Ok(dir)
    }

    /// `[feeds] file_dirs`, resolved (relative to the data folder) with symlinks followed;
    /// entries that do not exist (yet) are left out. Refuses one that is the data folder, in
    /// it, or around it: pulls must never read the folder's own files.
    fn allowed_file_dirs(&self) -> Result<Vec<PathBuf>> {
        let root = self.canonical_root()?;
        let mut out = Vec::new();
        for d in &self.config.feeds.file_dirs {
            let Ok(real) = self.resolve(d).canonicalize() else {
                continue;
            };
            // A directory around the data folder is allowed: files in the folder are refused
            // one by one (`file_source`).
            if real.starts_with(&root) {
                bail!(
                    "feeds.file_dirs: {} is the data folder {} or inside it; list only directories outside it",
                    d.display(),
                    root.display()
                );
            }
            out.push(real);
        }
        Ok(out)
    }

    fn canonical_root(&self) -> Result<PathBuf> {
        self.root
            .canonicalize()
            .with_context(|| format!("resolving the data folder {}", self.root.display()))
    }

    /// For a `file://` pull URL, the file it names with symlinks resolved, if that is in a
    /// directory of `[feeds] file_dirs` and not in the data folder; `Ok(None)` for any other
    /// scheme. Checked when a feed is added and again before each pull (the file, or a link
    /// on its way, may have changed since). A file that does not exist yet is judged by its
    /// directory.
    pub fn file_source(&self, url: &str) -> Result<Option<PathBuf>> {
        let Some(path) = focal_fetch::file_path(url)? else {
            return Ok(None);
        };
        let real = match path.canonicalize() {
            Ok(p) => p,
            Err(_) => {
                let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                    bail!("the file URL names no file");
                };
                parent
                    .canonicalize()
                    .with_context(|| {
                        format!(
                            "the pull URL's directory {} cannot be read",
                            parent.display()
                        )
                    })?
                    .join(name)
            }
        };
        let root = self.canonical_root()?;
        if real.starts_with(&root) {
            bail!(
                "the pull URL names {}, in the data folder {}: a feed is never pulled from Focal's own files",
                real.display(),
                root.display()
            );
        }
        // A hard link elsewhere to one of the folder's own files (the database, its WAL, the
        // audit key) is the same file under another name.
        if let Ok(meta) = std::fs::metadata(&real) {
            use std::os::unix::fs::MetadataExt;
            for entry in std::fs::read_dir(&root)
                .with_context(|| format!("reading {}", root.display()))?
                .flatten()
            {
                if let Ok(m) = entry.metadata()
                    && m.is_file()
                    && (m.dev(), m.ino()) == (meta.dev(), meta.ino())
                {
                    bail!(
                        "the pull URL names {}, which is the data folder's own {} under another name: a feed is never pulled from Focal's own files",
                        real.display(),
                        entry.path().display()
                    );
                }
            }
        }
        let allowed = self.allowed_file_dirs()?;
        if !allowed.iter().any(|d| real.starts_with(d)) {
            bail!(
                "the pull URL names {}, which is not in a directory listed in [feeds] file_dirs of {} ({}); list the directory there to pull files from it",
                real.display(),
                self.root.join(CONFIG_FILE).display(),
                if allowed.is_empty() {
                    "none is listed".to_string()
                } else {
                    allowed
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        Ok(Some(real))
    }

    pub fn database(&self) -> PathBuf {
        self.root.join(DATABASE_FILE)
    }

    /// The store to open: `--database` if given, else the configured URL, else `focal.db`.
    pub fn location(&self, database: Option<&str>) -> focal_store::Location {
        match database.or(self.config.database.url.as_deref()) {
            Some(url) => focal_store::Location::parse(url),
            None => focal_store::Location::Sqlite(self.database()),
        }
    }

    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    /// Writes `focal.toml`, with a comment above some sections: (`[section]`, comment lines).
    pub fn write_config(root: &Path, config: &Config, notes: &[(&str, &str)]) -> Result<()> {
        let mut text = format!(
            "# Focal configuration. Relative paths are relative to this folder.\n{}",
            toml::to_string_pretty(config).context("serialising the configuration")?
        );
        for (section, comment) in notes {
            let header = format!("\n{section}\n");
            if let Some(at) = text.find(&header) {
                text.insert_str(at + 1, &format!("{}\n", comment.trim_end()));
            }
        }
        let file = root.join(CONFIG_FILE);
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))
    }
}
