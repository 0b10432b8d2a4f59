//! Feed definitions: one TOML file per feed, saying how to read it and what its columns mean.
//!
//! ```toml
//! name = "reference-drones"            # feed.name
//! provider = "Focal reference workload" # feed.provider
//! format = "csv"                        # csv | jsonl | json | list
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
use std::collections::{BTreeMap, HashMap};
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
    /// One JSON document (object or array); `json.records` points at the records.
    Json,
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
    #[serde(default)]
    pub json: JsonSettings,
    /// How the files are packed (gzip, zip, tar) and how much they may unpack to.
    #[serde(default)]
    pub input: InputTable,
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
    #[serde(default)]
    pub enrichment: EnrichmentSettings,
    /// Cell values that mean "no value" in this feed (`NA`, `-`, `?`): such a cell is empty.
    #[serde(default)]
    pub empty: Vec<String>,
    /// The scheme put in front of a `source.url` that has none (`http`: `www.example.com/x`
    /// becomes `http://www.example.com/x`).
    pub default_url_scheme: Option<String>,
    /// Value mappings: a column's value → a field's value (`[[map]]`).
    #[serde(default, rename = "map")]
    pub maps: Vec<MapSettings>,
    /// One column split into several fields (`[[split]]`: `host:port`).
    #[serde(default)]
    pub split: Vec<SplitSettings>,
    /// Several columns joined into one field (`[[join]]`: address + prefix length → network).
    #[serde(default)]
    pub join: Vec<JoinSettings>,
    /// `key=value` (or `key value`) pairs in one column, each to a field (`[[pairs]]`).
    #[serde(default)]
    pub pairs: Vec<PairsSettings>,
    /// Regular-expression captures from one column, each named group to a field (`[[capture]]`).
    #[serde(default)]
    pub capture: Vec<CaptureSettings>,
    /// Conditional constants: when a column has a value (or one of some values), set fields
    /// (`[[when]]`).
    #[serde(default)]
    pub when: Vec<WhenSettings>,
    /// Where and how often to download the feed (`focal feeds pull`, and `focal serve`'s
    /// scheduled pulls). Without it the feed is read only from files given to `focal ingest`.
    pub pull: Option<PullSettings>,
    /// Files delivered into `DATA/drop/<name>/` (rsync, scp) are ingested by `focal feeds watch`.
    pub drop: Option<DropSettings>,
    /// A Shadowserver feed: the report type of each file is recognised from its name or header
    /// and read with the mapping of Shadowserver's schema (`crate::shadowserver`).
    pub shadowserver: Option<crate::shadowserver::ShadowserverSettings>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsvSettings {
    /// The first record names the columns.
    pub header: bool,
    /// One character, or several (`"  |  "`): a multi-character separator is matched exactly,
    /// and a quoted field may contain it.
    pub delimiter: String,
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
            delimiter: ",".into(),
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

/// `[json]`: where the records of a JSON document are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JsonSettings {
    /// A JSON Pointer (RFC 6901) to the array of records: `/data/items`, or `""` (the default)
    /// for a document that is itself the array.
    pub records: String,
    /// The largest document read (default 256 MiB): it is held in memory whole.
    pub max_bytes: Option<SizeSetting>,
}

/// `[input]`: how the files are packed, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InputTable {
    /// `auto` (the default: recognised by the first bytes), `none`, `gzip`, `zip`, `tar`, `tar.gz`.
    pub compression: Option<String>,
    /// A regular expression: the members of a zip or tar archive that are read (default all).
    pub members: Option<String>,
    /// The most bytes one file may unpack to (default and largest 4 GiB).
    pub max_bytes: Option<SizeSetting>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeSettings {
    /// `rfc3339`, `unix`, `unix_ms` or a strftime pattern.
    pub format: String,
    /// For patterns without an offset: `UTC` (default) or `±hh:mm`.
    pub offset: Option<String>,
    /// A regular expression matched against the file's first lines; its group `time` (or its
    /// first group) is `time.source` for records that give none.
    pub header: Option<String>,
    /// The format of that time (default: `format`).
    pub header_format: Option<String>,
    /// The same, matched against the file's name.
    pub file_name: Option<String>,
    pub file_name_format: Option<String>,
    /// The file's modification time, when neither `header` nor `file_name` gives one: for a
    /// pull, the server's `Last-Modified` (a file:// source's own), which the download is given.
    pub last_modified: bool,
}

impl Default for TimeSettings {
    fn default() -> Self {
        TimeSettings {
            format: "rfc3339".into(),
            offset: None,
            header: None,
            header_format: None,
            file_name: None,
            file_name_format: None,
            last_modified: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupSettings {
    /// Parts of the key; `a|b` means "a if present, else b". Also spelled `fields`.
    #[serde(alias = "fields")]
    pub key: Option<Vec<String>>,
    /// `1d`, `12h`, `30m`, `3600s`, or `none` (same key, same event, forever).
    pub window: Option<String>,
}

/// `[[map]]`: the value of column (or JSON key) `from` is looked up in `values`; the field `to`
/// gets what it maps to, else `default`, else the value itself.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MapSettings {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    pub default: Option<String>,
}

/// `[[split]]`: column `from` is cut at `separator` into the fields `into` (two fields: at the
/// last separator, so `[2001:db8::1]:443` and `192.0.2.1:443` both split into address and port;
/// more: at every separator). A value without the separator goes wholly to the first field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitSettings {
    pub from: String,
    pub into: Vec<String>,
    pub separator: String,
}

/// `[[join]]`: the columns `from`, joined by `separator`, become the field `into`. When one of
/// them is empty the field is not set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSettings {
    pub from: Vec<String>,
    pub into: String,
    #[serde(default)]
    pub separator: String,
}

/// `[[pairs]]`: column `from` holds pairs separated by `separator`, each a key and a value
/// separated by `assign` (`port=23; proto=tcp`, or `port 23, proto tcp`). `fields` names where a
/// key's value goes; other keys go to `extra.<key>` unless `others = false`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairsSettings {
    pub from: String,
    pub separator: String,
    pub assign: String,
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default = "default_true")]
    pub others: bool,
}

/// `[[capture]]`: the regular expression `pattern` is matched against column `from`; each named
/// group in `fields` sets its field. A value that does not match sets nothing.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureSettings {
    pub from: String,
    pub pattern: String,
    pub fields: BTreeMap<String, String>,
}

/// `[[when]]`: when column `from` is not empty (and, with `is`, equals one of those values),
/// the fields in `set` get their values.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhenSettings {
    pub from: String,
    pub is: Option<Vec<String>>,
    pub set: BTreeMap<String, String>,
}

/// A compiled `[[when]]`.
#[derive(Debug, Clone)]
pub(crate) struct When {
    pub from: String,
    pub is: Option<Vec<String>>,
    pub set: Vec<(Field, String)>,
}

/// A compiled `[[pairs]]`.
#[derive(Debug, Clone)]
pub(crate) struct Pairs {
    pub from: String,
    pub separator: String,
    pub assign: String,
    pub fields: HashMap<String, Field>,
    pub others: bool,
}

/// A compiled `[[capture]]`: (group index, field) for each named group used.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    pub from: String,
    pub regex: regex::Regex,
    pub groups: Vec<(usize, Field)>,
}

/// A compiled `[[map]]`.
#[derive(Debug, Clone)]
pub(crate) struct ValueMap {
    pub from: String,
    pub to: Field,
    pub values: HashMap<String, String>,
    pub default: Option<String>,
}

/// A compiled `[[split]]`.
#[derive(Debug, Clone)]
pub(crate) struct Split {
    pub from: String,
    pub into: Vec<Field>,
    pub separator: String,
}

/// A compiled `[[join]]`.
#[derive(Debug, Clone)]
pub(crate) struct Join {
    pub from: Vec<String>,
    pub into: Field,
    pub separator: String,
}

/// `[enrichment]`: how the lookups (ASN table, country database) treat the feed's own values.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichmentSettings {
    /// Like IntelMQ's `overwrite`: the lookup's `source.asn`, `source.as_name`, `source.network`
    /// and `source.geolocation.cc` replace the feed's (which is kept in `extra.feed.<field>`).
    /// Off by default: the feed's values win and a differing lookup goes to
    /// `extra.enrichment.<field>`.
    pub overwrite: bool,
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

/// `[drop]`: a watched folder, `DATA/drop/<name>/`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropSettings {
    /// A file is taken once its size and modification time stayed the same for this long, seen
    /// in two scans (default 10s).
    pub quiet: Option<DurationSetting>,
    /// Files taken per scan at most (default 100).
    pub max_files: Option<i64>,
}

/// `[drop]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drop {
    pub quiet_secs: u64,
    pub max_files: usize,
}

pub const DEFAULT_DROP_QUIET_SECS: u64 = 10;
pub const DEFAULT_DROP_MAX_FILES: usize = 100;

fn compile_drop(d: &DropSettings) -> Result<Drop, (String, String)> {
    let quiet_secs = match &d.quiet {
        None => DEFAULT_DROP_QUIET_SECS,
        Some(q) => duration_secs(q).map_err(|m| ("drop.quiet".to_string(), m))?,
    };
    if quiet_secs > 86_400 {
        return Err((
            "drop.quiet".into(),
            format!("{quiet_secs} seconds: at most 1d"),
        ));
    }
    let max_files = match d.max_files {
        None => DEFAULT_DROP_MAX_FILES,
        Some(n) if (1..=100_000).contains(&n) => n as usize,
        Some(n) => return Err(("drop.max_files".into(), format!("{n}: from 1 to 100000"))),
    };
    Ok(Drop {
        quiet_secs,
        max_files,
    })
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

/// `[input]` and `[json]`, validated.
fn compile_input(
    definition: &FeedDefinition,
) -> Result<crate::input::InputSettings, (String, String)> {
    use crate::input::{
        Compression, DEFAULT_DECOMPRESSED_BYTES, DEFAULT_JSON_BYTES, InputSettings,
        LARGEST_JSON_BYTES,
    };
    let t = &definition.input;
    let compression = match &t.compression {
        Some(c) => Compression::parse(c).map_err(|m| ("input.compression".to_string(), m))?,
        None => Compression::Auto,
    };
    let members = t
        .members
        .as_deref()
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| ("input.members".to_string(), e.to_string()))
        })
        .transpose()?;
    let bounded =
        |setting: &str, value: &Option<SizeSetting>, default: u64, largest: u64| match value {
            None => Ok(default),
            Some(v) => size_bytes(v)
                .and_then(|n| {
                    if n > largest {
                        Err(format!("at most {largest} bytes"))
                    } else {
                        Ok(n)
                    }
                })
                .map_err(|m| (setting.to_string(), m)),
        };
    let max_bytes = bounded(
        "input.max_bytes",
        &t.max_bytes,
        DEFAULT_DECOMPRESSED_BYTES,
        DEFAULT_DECOMPRESSED_BYTES,
    )?;
    let json_max_bytes = bounded(
        "json.max_bytes",
        &definition.json.max_bytes,
        DEFAULT_JSON_BYTES,
        LARGEST_JSON_BYTES,
    )?;
    let records = definition.json.records.clone();
    if !records.is_empty() && !records.starts_with('/') {
        return Err((
            "json.records".into(),
            format!(
                "{records:?} is not a JSON Pointer: \"\" for the whole document, or like \"/data/items\""
            ),
        ));
    }
    Ok(InputSettings {
        compression,
        members,
        max_bytes,
        json_records: records,
        json_max_bytes,
    })
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
    pub(crate) empty: Vec<String>,
    pub(crate) url_scheme: Option<String>,
    pub(crate) maps: Vec<ValueMap>,
    pub(crate) splits: Vec<Split>,
    pub(crate) joins: Vec<Join>,
    pub(crate) pairs: Vec<Pairs>,
    pub(crate) captures: Vec<Capture>,
    pub(crate) whens: Vec<When>,
    /// A separator of more than one character (or a non-ASCII one) for CSV: split by hand.
    pub(crate) long_delimiter: Option<Vec<u8>>,
    pub dedup: DedupKey,
    /// `[pull]`, if the feed is downloaded by Focal.
    pub pull: Option<Pull>,
    /// `[drop]`, if files delivered into `DATA/drop/<name>/` are ingested.
    pub drop: Option<Drop>,
    /// `[input]` and `[json]`, compiled.
    pub input: crate::input::InputSettings,
    /// `time.header` and `time.file_name`, compiled.
    pub(crate) header_time: Option<(regex::Regex, TimeFormat)>,
    pub(crate) file_name_time: Option<(regex::Regex, TimeFormat)>,
    /// `[shadowserver]`, with the schema's path resolved: the file picks the definition
    /// ([`Feed::for_file`]).
    pub(crate) shadowserver: Option<crate::shadowserver::Settings>,
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
        let derived_from_columns = definition.maps.len()
            + definition.split.len()
            + definition.join.len()
            + definition.pairs.len()
            + definition.capture.len()
            + definition.when.len();
        match definition.format {
            Format::Csv => {
                if positional.is_none() && !definition.csv.header {
                    return Err(err(
                        "csv.columns",
                        "a CSV feed without a header needs fixed columns".into(),
                    ));
                }
                if positional.is_none()
                    && mapped.is_empty()
                    && derived_from_columns == 0
                    && definition.shadowserver.is_none()
                {
                    return Err(err("fields", "map at least one column to a field".into()));
                }
                if definition.csv.delimiter.is_empty()
                    || definition.csv.delimiter.len() > 16
                    || definition.csv.delimiter.contains(['\n', '\r'])
                {
                    return Err(err(
                        "csv.delimiter",
                        "1 to 16 bytes, without line breaks".into(),
                    ));
                }
                if !definition.csv.quote.is_ascii()
                    || definition.csv.delimiter.contains(definition.csv.quote)
                {
                    return Err(err(
                        "csv.quote",
                        "must be an ASCII character that is not part of the delimiter".into(),
                    ));
                }
                if definition.csv.comment.is_some_and(|c| !c.is_ascii()) {
                    return Err(err("csv.comment", "must be an ASCII character".into()));
                }
            }
            Format::Jsonl | Format::Json if mapped.is_empty() && derived_from_columns == 0 => {
                return Err(err("fields", "map at least one JSON key to a field".into()));
            }
            _ => {}
        }
        let list_field = field("list.field", &definition.list.field)?;
        if definition.format == Format::List
            && !matches!(
                list_field,
                Field::SourceIp
                    | Field::SourceNetwork
                    | Field::SourceFqdn
                    | Field::SourceUrl
                    | Field::SourceAsn
            )
        {
            return Err(err(
                "list.field",
                "must be source.ip, source.network, source.fqdn, source.url or source.asn".into(),
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
        let empty: Vec<String> = definition
            .empty
            .iter()
            .map(|t| t.trim().to_string())
            .collect();
        if empty.iter().any(|t| t.is_empty()) {
            return Err(err(
                "empty",
                "a token must not be blank (blank cells are empty anyway)".into(),
            ));
        }
        let url_scheme = match &definition.default_url_scheme {
            None => None,
            Some(scheme) => {
                let scheme = scheme.trim().trim_end_matches("://").to_ascii_lowercase();
                let ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
                if !ok {
                    return Err(err(
                        "default_url_scheme",
                        format!("{scheme:?} is not a URL scheme (like http or https)"),
                    ));
                }
                Some(scheme)
            }
        };
        let columns_ok = definition.format != Format::List;
        let mut maps = Vec::new();
        for (i, m) in definition.maps.iter().enumerate() {
            let at = format!("map[{i}]");
            if !columns_ok {
                return Err(err(&at, "needs a csv or jsonl feed".into()));
            }
            let to = field(&format!("{at}.to"), &m.to)?;
            // Every value the map can give is checked now, not on the first record that needs it.
            for (key, value) in m
                .values
                .iter()
                .map(|(k, v)| (Some(k), v))
                .chain(m.default.iter().map(|d| (None, d)))
            {
                let setting = match key {
                    Some(k) => format!("{at}.values.{k:?}"),
                    None => format!("{at}.default"),
                };
                template
                    .clone()
                    .set_text(&to, value)
                    .map_err(|e| err(&setting, e.to_string()))?;
            }
            maps.push(ValueMap {
                from: m.from.trim().to_string(),
                to,
                values: m
                    .values
                    .iter()
                    .map(|(k, v)| (k.trim().to_string(), v.clone()))
                    .collect(),
                default: m.default.clone(),
            });
        }
        let mut splits = Vec::new();
        for (i, sp) in definition.split.iter().enumerate() {
            let at = format!("split[{i}]");
            if !columns_ok {
                return Err(err(&at, "needs a csv or jsonl feed".into()));
            }
            if sp.into.len() < 2 {
                return Err(err(&format!("{at}.into"), "name two fields or more".into()));
            }
            if sp.separator.is_empty() {
                return Err(err(&format!("{at}.separator"), "must not be empty".into()));
            }
            splits.push(Split {
                from: sp.from.trim().to_string(),
                into: sp
                    .into
                    .iter()
                    .map(|n| field(&format!("{at}.into"), n))
                    .collect::<Result<_, _>>()?,
                separator: sp.separator.clone(),
            });
        }
        let mut joins = Vec::new();
        for (i, j) in definition.join.iter().enumerate() {
            let at = format!("join[{i}]");
            if !columns_ok {
                return Err(err(&at, "needs a csv or jsonl feed".into()));
            }
            if j.from.len() < 2 {
                return Err(err(
                    &format!("{at}.from"),
                    "name two columns or more".into(),
                ));
            }
            joins.push(Join {
                from: j.from.iter().map(|c| c.trim().to_string()).collect(),
                into: field(&format!("{at}.into"), &j.into)?,
                separator: j.separator.clone(),
            });
        }
        let mut pairs = Vec::new();
        for (i, p) in definition.pairs.iter().enumerate() {
            let at = format!("pairs[{i}]");
            if !columns_ok {
                return Err(err(&at, "needs a csv or jsonl feed".into()));
            }
            if p.separator.is_empty() || p.assign.is_empty() || p.separator == p.assign {
                return Err(err(
                    &at,
                    "separator and assign must be given and differ".into(),
                ));
            }
            pairs.push(Pairs {
                from: p.from.trim().to_string(),
                separator: p.separator.clone(),
                assign: p.assign.clone(),
                fields: p
                    .fields
                    .iter()
                    .map(|(k, f)| {
                        Ok((
                            k.trim().to_string(),
                            field(&format!("{at}.fields.{k:?}"), f)?,
                        ))
                    })
                    .collect::<Result<_, DefinitionError>>()?,
                others: p.others,
            });
        }
        let mut captures = Vec::new();
        for (i, c) in definition.capture.iter().enumerate() {
            let at = format!("capture[{i}]");
            if !columns_ok {
                return Err(err(&at, "needs a csv or jsonl feed".into()));
            }
            // The regex crate matches in linear time; the size limit bounds the compiled program.
            let regex = regex::RegexBuilder::new(&c.pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| err(&format!("{at}.pattern"), e.to_string()))?;
            let mut groups = Vec::new();
            for (name, target) in &c.fields {
                let index = regex
                    .capture_names()
                    .position(|n| n == Some(name.as_str()))
                    .ok_or_else(|| {
                        err(
                            &format!("{at}.fields.{name:?}"),
                            "is not a named group (?P<name>...) of the pattern".into(),
                        )
                    })?;
                groups.push((index, field(&format!("{at}.fields.{name:?}"), target)?));
            }
            if groups.is_empty() {
                return Err(err(
                    &format!("{at}.fields"),
                    "name at least one group".into(),
                ));
            }
            captures.push(Capture {
                from: c.from.trim().to_string(),
                regex,
                groups,
            });
        }
        let mut whens = Vec::new();
        for (i, w) in definition.when.iter().enumerate() {
            let at = format!("when[{i}]");
            if !columns_ok {
                return Err(err(&at, "needs a csv or jsonl feed".into()));
            }
            if w.set.is_empty() {
                return Err(err(&format!("{at}.set"), "set at least one field".into()));
            }
            let mut set = Vec::new();
            // Type before taxonomy, as for [constants].
            let mut pairs: Vec<(&String, &String)> = w.set.iter().collect();
            pairs.sort_by_key(|(k, _)| k.as_str() == "classification.taxonomy");
            let mut check = template.clone();
            for (key, value) in pairs {
                let setting = format!("{at}.set.{key:?}");
                let f = field(&setting, key)?;
                if matches!(
                    f,
                    Field::TimeSource | Field::TimeObservation | Field::FeedName
                ) {
                    return Err(err(&setting, "cannot be set by a rule".into()));
                }
                check
                    .set_text(&f, value)
                    .map_err(|e| err(&setting, e.to_string()))?;
                set.push((f, value.clone()));
            }
            whens.push(When {
                from: w.from.trim().to_string(),
                is: w
                    .is
                    .as_ref()
                    .map(|v| v.iter().map(|x| x.trim().to_string()).collect()),
                set,
            });
        }
        let long_delimiter = (definition.csv.delimiter.len() > 1)
            .then(|| definition.csv.delimiter.as_bytes().to_vec());
        let pull = definition
            .pull
            .as_ref()
            .map(compile_pull)
            .transpose()
            .map_err(|(setting, message)| err(&setting, message))?;
        let drop = definition
            .drop
            .as_ref()
            .map(compile_drop)
            .transpose()
            .map_err(|(setting, message)| err(&setting, message))?;
        let input =
            compile_input(&definition).map_err(|(setting, message)| err(&setting, message))?;
        let time_pattern = |setting: &str,
                            pattern: &Option<String>,
                            format: &Option<String>|
         -> Result<Option<(regex::Regex, TimeFormat)>, DefinitionError> {
            let Some(pattern) = pattern else {
                return Ok(None);
            };
            let regex = regex::RegexBuilder::new(pattern)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| err(&format!("time.{setting}"), e.to_string()))?;
            if regex.captures_len() < 2 {
                return Err(err(
                    &format!("time.{setting}"),
                    "needs a group around the time: (?P<time>...)".into(),
                ));
            }
            let format = match format {
                Some(f) => TimeFormat::from_settings(f, definition.time.offset.as_deref())
                    .map_err(|m| err(&format!("time.{setting}_format"), m))?,
                None => time_format.clone(),
            };
            Ok(Some((regex, format)))
        };
        let header_time = time_pattern(
            "header",
            &definition.time.header,
            &definition.time.header_format,
        )?;
        let file_name_time = time_pattern(
            "file_name",
            &definition.time.file_name,
            &definition.time.file_name_format,
        )?;
        let shadowserver = definition
            .shadowserver
            .as_ref()
            .map(|settings| crate::shadowserver::Settings::compile(settings, &definition, source))
            .transpose()
            .map_err(|(setting, message)| err(&setting, message))?;
        for (key, _) in &mapped {
            if key.starts_with('/') && definition.format == Format::Csv {
                return Err(err(
                    &format!("fields.{key:?}"),
                    "a JSON Pointer needs a json or jsonl feed".into(),
                ));
            }
        }
        Ok(Feed {
            shadowserver,
            input,
            header_time,
            file_name_time,
            pull,
            drop,
            source: source.to_string(),
            name,
            template,
            time_format,
            required,
            mapped,
            positional,
            list_field,
            list_rest,
            empty,
            url_scheme,
            maps,
            splits,
            joins,
            pairs,
            captures,
            whens,
            long_delimiter,
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
        if self.shadowserver.is_some() {
            return Err(format!(
                "feed {} is a Shadowserver feed: the definition of each file follows from its report type (Feed::for_file), and this path does not pick it",
                self.name
            ));
        }
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
            // Without names, a map, split or join names a column by its field in csv.columns.
            let names: Vec<String> = self
                .definition
                .csv
                .columns
                .iter()
                .map(|c| c.trim().to_string())
                .collect();
            let derived = self.derived_columns(&names)?;
            return Ok(CsvLayout {
                fields: positional.clone(),
                derived,
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
        let derived = self.derived_columns(header)?;
        Ok(CsvLayout { fields, derived })
    }

    /// The column positions that the maps, splits, joins, pairs and captures read.
    fn derived_columns(&self, header: &[String]) -> Result<DerivedColumns, String> {
        let position = |column: &str, setting: &str| {
            header
                .iter()
                .position(|h| h.trim() == column)
                .ok_or_else(|| {
                    format!(
                        "column {column:?} named in {setting} is not in the header ({})",
                        header.join(",")
                    )
                })
        };
        let maps = self
            .maps
            .iter()
            .map(|m| position(&m.from, "[[map]]"))
            .collect::<Result<_, _>>()?;
        let splits = self
            .splits
            .iter()
            .map(|sp| position(&sp.from, "[[split]]"))
            .collect::<Result<_, _>>()?;
        let joins = self
            .joins
            .iter()
            .map(|j| {
                j.from
                    .iter()
                    .map(|c| position(c, "[[join]]"))
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()?;
        let pairs = self
            .pairs
            .iter()
            .map(|p| position(&p.from, "[[pairs]]"))
            .collect::<Result<_, _>>()?;
        let captures = self
            .captures
            .iter()
            .map(|c| position(&c.from, "[[capture]]"))
            .collect::<Result<_, _>>()?;
        let whens = self
            .whens
            .iter()
            .map(|w| position(&w.from, "[[when]]"))
            .collect::<Result<_, _>>()?;
        Ok(DerivedColumns {
            maps,
            splits,
            joins,
            pairs,
            captures,
            whens,
        })
    }
}

/// How the columns of one CSV file map to fields.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    pub fields: Vec<Option<Field>>,
    pub derived: DerivedColumns,
}

/// For each `[[map]]`, `[[split]]`, `[[join]]`, `[[pairs]]`, `[[capture]]` and `[[when]]`, in
/// order, the columns it reads.
#[derive(Debug, Clone, Default)]
pub struct DerivedColumns {
    pub maps: Vec<usize>,
    pub splits: Vec<usize>,
    pub joins: Vec<Vec<usize>>,
    pub pairs: Vec<usize>,
    pub captures: Vec<usize>,
    pub whens: Vec<usize>,
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
