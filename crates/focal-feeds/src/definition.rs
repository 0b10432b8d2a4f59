//! Feed definitions: one TOML file per feed, saying how to read it and what its columns mean.
//!
//! ```toml
//! name = "reference-drones"            # feed.name
//! provider = "Focal reference workload" # feed.provider
//! format = "csv"                        # csv | jsonl | list
//! tlp = "AMBER"
//!
//! [csv]
//! header = true
//!
//! [fields]                              # column (or JSON key) → harmonised field
//! timestamp = "time.source"
//! ip = "source.ip"
//!
//! [constants]
//! "classification.type" = "infected-system"
//!
//! [time]
//! format = "rfc3339"
//!
//! [dedup]
//! key = ["source.ip", "malware.name|classification.type", "feed.name"]
//! window = "1d"
//!
//! [pull]                                # optional: where `focal serve` and `focal feeds pull` fetch it
//! url = "https://example.org/feed.csv"
//! every = "1h"
//! ```
//! See `docs/FEEDS.md` for every setting.

use crate::time::TimeFormat;
use focal_model::{ClassificationType, DedupKey, Event, Field, Tlp};
use jiff::Timestamp;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// The input format of a feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text, with a header line or fixed columns.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// One indicator per line (IP, CIDR, domain or URL), with comment lines.
    List,
}

/// A feed definition exactly as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedDefinition {
    pub name: String,
    pub provider: Option<String>,
    pub url: Option<String>,
    pub documentation: Option<String>,
    pub format: Format,
    pub tlp: Option<String>,
    /// Keep each record's original bytes in the event (`raw`). On by default: it is the evidence.
    #[serde(default = "default_true")]
    pub keep_raw: bool,
    #[serde(default)]
    pub csv: CsvSettings,
    #[serde(default)]
    pub list: ListSettings,
    #[serde(default)]
    pub jsonl: JsonlSettings,
    /// Source column (CSV header name) or JSON key → harmonised field name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Values every event of the feed gets (a record's own value wins where it has one).
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    #[serde(default)]
    pub time: TimeSettings,
    /// Fields a record must have; a record without them is quarantined.
    #[serde(default)]
    pub required: Vec<String>,
    #[serde(default)]
    pub dedup: DedupSettings,
    /// Where and how often to download the feed (`focal feeds pull`, and `focal serve`'s
    /// scheduled pulls). Without it the feed is read only from files given to `focal ingest`.
    pub pull: Option<PullSettings>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvSettings {
    /// The first record names the columns.
    pub header: bool,
    pub delimiter: char,
    pub quote: char,
    /// Lines starting with this character are comments (for example `#`).
    pub comment: Option<char>,
    /// Fixed columns by position (`""` skips a column). With `header = true` the header is then
    /// only checked for its width and skipped.
    pub columns: Vec<String>,
}

impl Default for CsvSettings {
    fn default() -> Self {
        CsvSettings {
            header: true,
            delimiter: ',',
            quote: '"',
            comment: None,
            columns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListSettings {
    /// What each line is: `source.ip`, `source.network`, `source.fqdn` or `source.url`.
    pub field: String,
    /// Prefixes that mark a comment line.
    pub comment: Vec<String>,
    /// Splits a line into the indicator and a remainder (Spamhaus DROP: `1.10.16.0/20 ; SBL256894`).
    pub separator: Option<String>,
    /// Where the remainder after `separator` goes (for example `extra.sbl_id`).
    pub rest_field: Option<String>,
}

impl Default for ListSettings {
    fn default() -> Self {
        ListSettings {
            field: "source.ip".into(),
            comment: vec!["#".into(), ";".into()],
            separator: None,
            rest_field: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonlSettings {
    /// Lines whose key equals the value are not records (for example a trailing metadata line).
    pub skip_where: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeSettings {
    /// `rfc3339`, `unix`, `unix_ms` or a strftime pattern.
    pub format: String,
    /// For patterns without an offset: `UTC` (default) or `±hh:mm`.
    pub offset: Option<String>,
}

impl Default for TimeSettings {
    fn default() -> Self {
        TimeSettings {
            format: "rfc3339".into(),
            offset: None,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupSettings {
    /// Parts of the key; `a|b` means "a if present, else b".
    pub key: Option<Vec<String>>,
    /// `1d`, `12h`, `30m`, `3600s`, or `none` (same key, same event, forever).
    pub window: Option<String>,
}

/// A duration: whole seconds, or a number with a unit (`90s`, `30m`, `1h`, `1d`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DurationSetting {
    Seconds(i64),
    Text(String),
}

/// A size: bytes, or a number with a unit (`512MiB`, `2GiB`, `100kB`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SizeSetting {
    Bytes(i64),
    Text(String),
}

/// `[pull]`: downloading the feed, as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullSettings {
    /// `https://...`, `http://...` or `file:///absolute/path`.
    pub url: String,
    /// How often `focal serve` pulls it; without it, only on request.
    pub every: Option<DurationSetting>,
    /// A download larger than this is stopped and the pull fails (default 512 MiB).
    pub max_bytes: Option<SizeSetting>,
    /// The whole download must finish within this (default 10m).
    pub timeout: Option<DurationSetting>,
    /// Downloaded files kept per feed, newest first (default 3).
    pub keep: Option<i64>,
    /// Request headers with their values.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request headers whose values are read from environment variables at each pull (for API
    /// keys: the secret stays in the process environment, never in the definition or the store).
    #[serde(default)]
    pub headers_from_env: BTreeMap<String, String>,
}

/// `[pull]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub url: String,
    pub every_secs: Option<u64>,
    pub max_bytes: u64,
    pub timeout_secs: u64,
    pub keep: usize,
    pub headers: Vec<(String, String)>,
    /// (header, environment variable).
    pub headers_from_env: Vec<(String, String)>,
}

/// The default and the largest `pull.max_bytes`.
pub const DEFAULT_MAX_BYTES: u64 = 512 * 1024 * 1024;
pub const LARGEST_MAX_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// The default and the longest `pull.timeout`.
pub const DEFAULT_TIMEOUT_SECS: u64 = 600;
pub const LONGEST_TIMEOUT_SECS: u64 = 86_400;
pub const DEFAULT_KEEP: usize = 3;

impl Pull {
    /// When the next scheduled pull is due, after an attempt that finished at `last` (never
    /// pulled: now). `None` for a feed pulled only on request.
    pub fn next_due(&self, last: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
        let every = self.every_secs?;
        Some(match last {
            None => now,
            Some(t) => t
                .checked_add(jiff::SignedDuration::from_secs(
                    i64::try_from(every).unwrap_or(i64::MAX),
                ))
                .unwrap_or(Timestamp::MAX),
        })
    }
}

fn duration_secs(setting: &DurationSetting) -> Result<u64, String> {
    match setting {
        DurationSetting::Seconds(n) if *n > 0 => Ok(*n as u64),
        DurationSetting::Seconds(n) => Err(format!("{n}: must be at least one second")),
        DurationSetting::Text(t) => match parse_window(t)? {
            Some(n) => Ok(n),
            None => Err(format!("{t:?}: must be at least one second")),
        },
    }
}

fn size_bytes(setting: &SizeSetting) -> Result<u64, String> {
    let n = match setting {
        SizeSetting::Bytes(n) if *n > 0 => *n as u64,
        SizeSetting::Bytes(n) => return Err(format!("{n}: must be at least one byte")),
        SizeSetting::Text(text) => {
            let t = text.trim();
            let at = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let (num, unit) = t.split_at(at);
            let n: u64 = num.parse().map_err(|_| {
                format!("{text:?} is not a size like 1048576, 500kB, 512MiB or 2GiB")
            })?;
            let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
                "" | "b" => 1,
                "kb" => 1000,
                "mb" => 1000 * 1000,
                "gb" => 1000 * 1000 * 1000,
                "kib" => 1 << 10,
                "mib" => 1 << 20,
                "gib" => 1 << 30,
                _ => {
                    return Err(format!(
                        "{text:?}: unit must be B, kB, MB, GB, KiB, MiB or GiB"
                    ));
                }
            };
            n.checked_mul(mult)
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{text:?} is not a positive size"))?
        }
    };
    Ok(n)
}

/// A header name: an HTTP token.
fn header_name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value: visible ASCII, spaces and tabs (no line breaks, which would let a value add
/// headers of its own).
fn header_value_ok(value: &str) -> bool {
    value.len() <= 8192
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
}

/// Headers Focal sets itself: a definition may not override them.
const RESERVED_HEADERS: [&str; 6] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "if-none-match",
    "if-modified-since",
];

fn compile_pull(p: &PullSettings) -> Result<Pull, (String, String)> {
    let e = |setting: &str, m: String| (format!("pull.{setting}"), m);
    let url = p.url.trim();
    // Messages are shown on pages and in logs: never the URL's user, password or query.
    let shown = crate::redact::url(url);
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("file://") {
        if !url["file://".len()..].starts_with('/') {
            return Err(e(
                "url",
                format!("{shown:?}: a file URL needs an absolute path (file:///path/to/file)"),
            ));
        }
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        let rest = &url[url.find("://").map(|i| i + 3).unwrap_or(0)..];
        if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
            return Err(e("url", format!("{shown:?} names no host")));
        }
    } else {
        return Err(e(
            "url",
            format!("{shown:?}: only http://, https:// and file:// URLs can be pulled"),
        ));
    }
    if url.len() > 4096 || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(e(
            "url",
            "must be at most 4096 characters, without spaces or control characters".into(),
        ));
    }
    let every_secs = p
        .every
        .as_ref()
        .map(duration_secs)
        .transpose()
        .map_err(|m| e("every", m))?;
    let max_bytes = p
        .max_bytes
        .as_ref()
        .map(size_bytes)
        .transpose()
        .map_err(|m| e("max_bytes", m))?
        .unwrap_or(DEFAULT_MAX_BYTES);
    if max_bytes > LARGEST_MAX_BYTES {
        return Err(e(
            "max_bytes",
            format!("{max_bytes} bytes: at most {LARGEST_MAX_BYTES} (64 GiB)"),
        ));
    }
    let timeout_secs = p
        .timeout
        .as_ref()
        .map(duration_secs)
        .transpose()
        .map_err(|m| e("timeout", m))?
        .unwrap_or(DEFAULT_TIMEOUT_SECS);
    if timeout_secs > LONGEST_TIMEOUT_SECS {
        return Err(e("timeout", format!("{timeout_secs}s: at most 1d")));
    }
    let keep = match p.keep {
        None => DEFAULT_KEEP,
        Some(n @ 1..=100) => n as usize,
        Some(n) => return Err(e("keep", format!("{n}: between 1 and 100"))),
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut check_name = |setting: &str, name: &str| -> Result<(), (String, String)> {
        let at = format!("{setting}.{name:?}");
        if !header_name_ok(name) {
            return Err(e(&at, "is not a valid HTTP header name".into()));
        }
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(e(&at, "is set by Focal itself".into()));
        }
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(e(&at, "is given twice".into()));
        }
        Ok(())
    };
    for (name, value) in &p.headers {
        check_name("headers", name)?;
        if !header_value_ok(value) {
            return Err(e(
                &format!("headers.{name:?}"),
                "a value is printable ASCII on one line, at most 8192 bytes".into(),
            ));
        }
    }
    for (name, var) in &p.headers_from_env {
        check_name("headers_from_env", name)?;
        let var_ok = !var.is_empty()
            && var.len() <= 256
            && !var.starts_with(|c: char| c.is_ascii_digit())
            && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !var_ok {
            return Err(e(
                &format!("headers_from_env.{name:?}"),
                format!("{var:?} is not an environment variable name (letters, digits, _)"),
            ));
        }
    }
    Ok(Pull {
        url: url.to_string(),
        every_secs,
        max_bytes,
        timeout_secs,
        keep,
        headers: p
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        headers_from_env: p
            .headers_from_env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// A feed definition that is not usable, and why.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Toml { path: String, message: String },
    #[error("{path}: {setting}: {message}")]
    Setting {
        path: String,
        setting: String,
        message: String,
    },
}

/// A validated, compiled feed, ready to parse records.
#[derive(Debug, Clone)]
pub struct Feed {
    pub definition: FeedDefinition,
    /// Where the definition came from, for messages.
    pub source: String,
    pub name: Arc<str>,
    /// An event holding the feed's constants; every record starts as a copy of it.
    pub(crate) template: Event,
    pub(crate) time_format: TimeFormat,
    pub(crate) required: Vec<Field>,
    pub(crate) mapped: Vec<(String, Field)>,
    pub(crate) positional: Option<Vec<Option<Field>>>,
    pub(crate) list_field: Field,
    pub(crate) list_rest: Option<Field>,
    pub dedup: DedupKey,
    /// `[pull]`, if the feed is downloaded by Focal.
    pub pull: Option<Pull>,
}

/// Where and what: `line 3, column 7: invalid type ...`. Not the toml crate's own rendering,
/// which quotes the line, and the line may hold a key (a header value, the pull URL).
fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
}

impl Feed {
    /// Reads and validates a definition file.
    pub fn load(path: &Path) -> Result<Feed, DefinitionError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Io {
            path: name.clone(),
            source,
        })?;
        Feed::from_toml(&text, &name)
    }

    /// Parses and validates TOML; `source` names it in messages.
    pub fn from_toml(text: &str, source: &str) -> Result<Feed, DefinitionError> {
        let definition: FeedDefinition =
            toml::from_str(text).map_err(|e| DefinitionError::Toml {
                path: source.to_string(),
                message: toml_message(text, &e),
            })?;
        Feed::compile(definition, source)
    }

    pub fn compile(definition: FeedDefinition, source: &str) -> Result<Feed, DefinitionError> {
        let err = |setting: &str, message: String| DefinitionError::Setting {
            path: source.to_string(),
            setting: setting.to_string(),
            message,
        };
        let field = |setting: &str, name: &str| -> Result<Field, DefinitionError> {
            name.parse::<Field>()
                .map_err(|e| err(setting, e.to_string()))
        };
        if definition.name.trim().is_empty() {
            return Err(err("name", "must not be empty".into()));
        }
        let name: Arc<str> = definition.name.trim().into();
        let mut template = Event::new(
            name.clone(),
            Timestamp::UNIX_EPOCH,
            ClassificationType::Undetermined,
        );
        template.feed_provider = definition.provider.as_deref().map(Into::into);
        template.feed_url = definition.url.as_deref().map(Into::into);
        if let Some(tlp) = &definition.tlp {
            template.tlp = tlp.parse::<Tlp>().map_err(|e| err("tlp", e.to_string()))?;
        }
        // Type before taxonomy, so that a constant taxonomy is checked against the constant type.
        let mut constants: Vec<(&String, &String)> = definition.constants.iter().collect();
        constants.sort_by_key(|(k, _)| k.as_str() == "classification.taxonomy");
        for (key, value) in constants {
            let f = field(&format!("constants.{key:?}"), key)?;
            if matches!(
                f,
                Field::TimeSource | Field::TimeObservation | Field::FeedName
            ) {
                return Err(err(
                    &format!("constants.{key:?}"),
                    "cannot be a constant".into(),
                ));
            }
            template
                .set_text(&f, value)
                .map_err(|e| err(&format!("constants.{key:?}"), e.to_string()))?;
        }
        let time_format =
            TimeFormat::from_settings(&definition.time.format, definition.time.offset.as_deref())
                .map_err(|m| err("time.format", m))?;
        let mapped = definition
            .fields
            .iter()
            .map(|(column, name)| Ok((column.clone(), field(&format!("fields.{column:?}"), name)?)))
            .collect::<Result<Vec<_>, DefinitionError>>()?;
        let required = definition
            .required
            .iter()
            .map(|n| field("required", n))
            .collect::<Result<Vec<_>, _>>()?;
        let positional = if definition.csv.columns.is_empty() {
            None
        } else {
            Some(
                definition
                    .csv
                    .columns
                    .iter()
                    .map(|c| {
                        if c.trim().is_empty() {
                            Ok(None)
                        } else {
                            field("csv.columns", c).map(Some)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            )
        };
        match definition.format {
            Format::Csv => {
                if positional.is_none() && !definition.csv.header {
                    return Err(err(
                        "csv.columns",
                        "a CSV feed without a header needs fixed columns".into(),
                    ));
                }
                if positional.is_none() && mapped.is_empty() {
                    return Err(err("fields", "map at least one column to a field".into()));
                }
                if !definition.csv.delimiter.is_ascii() || !definition.csv.quote.is_ascii() {
                    return Err(err(
                        "csv.delimiter",
                        "delimiter and quote must be ASCII characters".into(),
                    ));
                }
                if definition.csv.comment.is_some_and(|c| !c.is_ascii()) {
                    return Err(err("csv.comment", "must be an ASCII character".into()));
                }
            }
            Format::Jsonl if mapped.is_empty() => {
                return Err(err("fields", "map at least one JSON key to a field".into()));
            }
            _ => {}
        }
        let list_field = field("list.field", &definition.list.field)?;
        if definition.format == Format::List
            && !matches!(
                list_field,
                Field::SourceIp | Field::SourceNetwork | Field::SourceFqdn | Field::SourceUrl
            )
        {
            return Err(err(
                "list.field",
                "must be source.ip, source.network, source.fqdn or source.url".into(),
            ));
        }
        let list_rest = definition
            .list
            .rest_field
            .as_deref()
            .map(|n| field("list.rest_field", n))
            .transpose()?;
        let mut dedup = DedupKey::default();
        if let Some(parts) = &definition.dedup.key {
            if parts.is_empty() {
                return Err(err("dedup.key", "needs at least one part".into()));
            }
            dedup.parts = parts
                .iter()
                .map(|p| {
                    p.split('|')
                        .map(|n| field("dedup.key", n.trim()))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
        }
        if let Some(window) = &definition.dedup.window {
            dedup.window_secs = parse_window(window).map_err(|m| err("dedup.window", m))?;
        }
        let pull = definition
            .pull
            .as_ref()
            .map(compile_pull)
            .transpose()
            .map_err(|(setting, message)| err(&setting, message))?;
        Ok(Feed {
            pull,
            source: source.to_string(),
            name,
            template,
            time_format,
            required,
            mapped,
            positional,
            list_field,
            list_rest,
            dedup,
            definition,
        })
    }

    pub fn format(&self) -> Format {
        self.definition.format
    }

    /// The TLP label of the feed's events (`tlp`, default AMBER).
    pub fn tlp(&self) -> Tlp {
        self.template.tlp
    }

    /// The columns of a CSV file, given its header record (or `None` for a file without one).
    pub fn csv_layout(&self, header: Option<&[String]>) -> Result<CsvLayout, String> {
        if let Some(positional) = &self.positional {
            if let Some(h) = header
                && h.len() != positional.len()
            {
                return Err(format!(
                    "the header has {} columns but the feed definition lists {} in csv.columns",
                    h.len(),
                    positional.len()
                ));
            }
            return Ok(CsvLayout {
                fields: positional.clone(),
            });
        }
        let Some(header) = header else {
            return Err("the feed needs a header line, and the file is empty".into());
        };
        let mut fields = vec![None; header.len()];
        for (column, field) in &self.mapped {
            let pos = header
                .iter()
                .position(|h| h.trim() == column)
                .ok_or_else(|| {
                    format!(
                        "column {column:?} named in [fields] is not in the header ({})",
                        header.join(",")
                    )
                })?;
            fields[pos] = Some(field.clone());
        }
        Ok(CsvLayout { fields })
    }
}

/// How the columns of one CSV file map to fields.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    pub fields: Vec<Option<Field>>,
}

fn parse_window(text: &str) -> Result<Option<u64>, String> {
    let t = text.trim();
    if t == "none" || t == "0" {
        return Ok(None);
    }
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 1d, 12h, 30m or none"))?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    if n == 0 {
        return Ok(None);
    }
    n.checked_mul(mult)
        .map(Some)
        .ok_or_else(|| format!("{text:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_definition_says_which_setting() {
        let e = Feed::from_toml(
            "name='x'\nformat='csv'\n[fields]\nip='source.ipaddr'\n",
            "f.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("fields.\"ip\""), "{e}");
        let e = Feed::from_toml("name='x'\nformat='csv'\n[fields]\nip='source.ip'\n[constants]\n'classification.type'='botnet'\n", "f.toml").unwrap_err();
        assert!(
            e.to_string().contains("classification.type") && e.to_string().contains("botnet"),
            "{e}"
        );
        let e = Feed::from_toml("name='x'\nformat='xml'\n", "f.toml").unwrap_err();
        assert!(e.to_string().starts_with("f.toml:"), "{e}");
        let e = Feed::from_toml("name='x'\nformat='csv'\ncolour='red'\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let e = Feed::from_toml("name='x'\nformat='list'\n[dedup]\nwindow='1w'\n", "f.toml")
            .unwrap_err();
        assert!(e.to_string().contains("dedup.window"), "{e}");
    }

    #[test]
    fn windows_and_keys() {
        assert_eq!(parse_window("1d").unwrap(), Some(86_400));
        assert_eq!(parse_window("90m").unwrap(), Some(5400));
        assert_eq!(parse_window("none").unwrap(), None);
        let f = Feed::from_toml(
            "name='x'\nformat='list'\n[dedup]\nkey=['source.ip','feed.name']\nwindow='1h'\n",
            "f.toml",
        )
        .unwrap();
        assert_eq!(
            f.dedup.parts,
            vec![vec![Field::SourceIp], vec![Field::FeedName]]
        );
        assert_eq!(f.dedup.window_secs, Some(3600));
    }

    #[test]
    fn pull_settings_are_optional_and_checked() {
        let base = "name='x'\nformat='list'\n";
        assert_eq!(Feed::from_toml(base, "f.toml").unwrap().pull, None);
        let f = Feed::from_toml(
            &format!("{base}[pull]\nurl='https://example.org/x.txt'\nevery='1h'\nmax_bytes='2MiB'\ntimeout=30\n[pull.headers_from_env]\nX-Api-Key='FEED_KEY'\n"),
            "f.toml",
        )
        .unwrap();
        let pull = f.pull.unwrap();
        assert_eq!(pull.every_secs, Some(3600));
        assert_eq!(pull.max_bytes, 2 << 20);
        assert_eq!(pull.timeout_secs, 30);
        assert_eq!(pull.keep, DEFAULT_KEEP);
        assert_eq!(
            pull.headers_from_env,
            vec![("X-Api-Key".to_string(), "FEED_KEY".to_string())]
        );
        let defaults = Feed::from_toml(&format!("{base}[pull]\nurl='file:///tmp/x'\n"), "f.toml")
            .unwrap()
            .pull
            .unwrap();
        assert_eq!(
            (
                defaults.every_secs,
                defaults.max_bytes,
                defaults.timeout_secs
            ),
            (None, DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_SECS)
        );
        for (bad, setting) in [
            ("url='ftp://example.org/x'", "pull.url"),
            ("url='file://relative/x'", "pull.url"),
            ("url='https://'", "pull.url"),
            ("url='https://x.org/'\nevery='0'", "pull.every"),
            ("url='https://x.org/'\nevery='1w'", "pull.every"),
            ("url='https://x.org/'\nmax_bytes='1TB'", "pull.max_bytes"),
            ("url='https://x.org/'\nmax_bytes='lots'", "pull.max_bytes"),
            ("url='https://x.org/'\nkeep=0", "pull.keep"),
            (
                "url='https://x.org/'\n[pull.headers]\n'Bad Name'='v'",
                "pull.headers",
            ),
            (
                "url='https://x.org/'\n[pull.headers]\nHost='v'",
                "pull.headers",
            ),
            (
                "url='https://x.org/'\n[pull.headers]\nX-A=\"a\\nB: c\"",
                "pull.headers",
            ),
            (
                "url='https://x.org/'\n[pull.headers_from_env]\nX-A='NOT-A-VAR'",
                "pull.headers_from_env",
            ),
        ] {
            let e = Feed::from_toml(&format!("{base}[pull]\n{bad}\n"), "f.toml").unwrap_err();
            assert!(
                e.to_string().starts_with(&format!("f.toml: {setting}")),
                "{bad}: {e}"
            );
        }
        let e = Feed::from_toml(
            &format!("{base}[pull]\nurl='https://x.org/'\nevry='1h'\n"),
            "f.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("evry"), "{e}");
    }

    #[test]
    fn messages_never_quote_a_url_secret_or_a_line() {
        let base = "name='x'\nformat='list'\n[pull]\n";
        for bad in [
            "url='ftp://user:SECRET@example.org/x?key=SECRET'",
            "url='file://SECRET@relative/x?SECRET'",
            "url='https://?key=SECRET'",
        ] {
            let e = Feed::from_toml(&format!("{base}{bad}\n"), "f.toml")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("f.toml: pull.url: \""), "{e}");
            assert!(e.contains("[redacted]") && !e.contains("SECRET"), "{e}");
        }
        // Not TOML: where, and what, without the line itself.
        let e = Feed::from_toml(
            &format!(
                "{base}url='https://x.org/'\n[pull.headers]\nAuthorization = 'Bearer SECRET' x\n"
            ),
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("f.toml: line 6, column "), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
    }

    #[test]
    fn the_next_pull_is_due_every_interval_after_the_last() {
        let pull = Feed::from_toml(
            "name='x'\nformat='list'\n[pull]\nurl='https://x.org/'\nevery='30m'\n",
            "f",
        )
        .unwrap()
        .pull
        .unwrap();
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        assert_eq!(pull.next_due(None, now), Some(now));
        let last: Timestamp = "2026-01-01T11:45:00Z".parse().unwrap();
        assert_eq!(
            pull.next_due(Some(last), now),
            Some("2026-01-01T12:15:00Z".parse().unwrap())
        );
    }
}
