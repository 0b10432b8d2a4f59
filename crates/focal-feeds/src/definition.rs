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
                message: e.to_string(),
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
        Ok(Feed {
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
}
