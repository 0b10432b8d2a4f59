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
    #[serde(default, skip_serializing_if = "Database::is_default")]
    pub database: Database,
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

    pub fn write_config(root: &Path, config: &Config) -> Result<()> {
        let text = format!(
            "# Focal configuration. Relative paths are relative to this folder.\n{}",
            toml::to_string_pretty(config).context("serialising the configuration")?
        );
        let file = root.join(CONFIG_FILE);
        std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))
    }
}
