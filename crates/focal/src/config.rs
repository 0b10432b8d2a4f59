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
        Ok(DataDir {
            root: root.to_path_buf(),
            config,
        })
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
