//! Shadowserver's reports, read natively: one feed definition with a `[shadowserver]` table
//! reads every report type. The report type of a file is recognised from its name
//! (`2026-12-01-scan_http-country-geo.csv`) or, failing that, from its header row, and the file is
//! read with a definition generated from Shadowserver's schema for that type: its columns mapped
//! to Focal's harmonised fields (columns with none to `extra.<column>`), its classification
//! (taxonomy, type, identifier) as constants.
//!
//! The schema is the JSON file Shadowserver publishes for IntelMQ
//! (<https://interchange.shadowserver.org/intelmq/v1/schema>), which the operator downloads and
//! names in the definition: Shadowserver states no licence for it, so Focal does not ship a copy.
//! Each report type is an object keyed by its name:
//!
//! ```json
//! {"scan_http": {
//!    "file_name": "scan_http", "feed_name": "Accessible-HTTP", "url": "https://...",
//!    "constant_fields": {"classification.type": "other", "classification.identifier": "accessible-http"},
//!    "required_fields": [["time.source", "timestamp", "add_UTC_to_timestamp"], ["source.ip", "ip"]],
//!    "optional_fields": [["source.asn", "asn", "invalidate_zero"], ["extra.", "tag"]]}}
//! ```
//!
//! Each field rule is `[target, column, conversion?, ...]`. See `docs/FEEDS.md`.

use crate::definition::{
    CaptureSettings, DedupSettings, Feed, FeedDefinition, Format, JoinSettings, MapSettings,
};
use focal_model::Field;
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// `[shadowserver]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowserverSettings {
    /// The schema file (Shadowserver's IntelMQ schema); a relative path is relative to the
    /// folder of the definition file.
    pub schema: String,
    /// A fixed report type (`scan_http`): no recognition by file name or header.
    pub report: Option<String>,
}

/// `[shadowserver]`, checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub schema: PathBuf,
    pub report: Option<String>,
}

impl Settings {
    pub(crate) fn compile(
        settings: &ShadowserverSettings,
        definition: &FeedDefinition,
        source: &str,
    ) -> Result<Settings, (String, String)> {
        let refuse = |setting: &str, message: &str| Err((setting.to_string(), message.to_string()));
        if definition.format != Format::Csv {
            return refuse("format", "a Shadowserver feed is csv");
        }
        if !definition.fields.is_empty()
            || !definition.maps.is_empty()
            || !definition.split.is_empty()
            || !definition.join.is_empty()
            || !definition.pairs.is_empty()
            || !definition.capture.is_empty()
            || !definition.when.is_empty()
            || !definition.csv.columns.is_empty()
            || !definition.csv.header
        {
            return refuse(
                "shadowserver",
                "the schema maps the columns: a Shadowserver feed has no [fields], csv.columns, \
                 [[map]], [[split]], [[join]], [[pairs]], [[capture]] or [[when]], and its files have a header",
            );
        }
        let schema = settings.schema.trim();
        if schema.is_empty() {
            return refuse("shadowserver.schema", "must name the schema file");
        }
        let mut path = PathBuf::from(schema);
        if path.is_relative() {
            let folder = Path::new(source).parent().unwrap_or(Path::new(""));
            path = folder.join(path);
        }
        let report = settings.report.as_deref().map(str::trim);
        if let Some(r) = report
            && !valid_report_name(r)
        {
            return Err((
                "shadowserver.report".into(),
                format!("{r:?} is not a report type name (letters, digits and _)"),
            ));
        }
        Ok(Settings {
            schema: path,
            report: report.map(str::to_string),
        })
    }
}

fn valid_report_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The largest schema file read (Shadowserver's is under 1 MiB).
pub const MAX_SCHEMA_BYTES: u64 = 64 * 1024 * 1024;

/// One field rule of a report type: `column` → `target`, with IntelMQ's `conversion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub target: String,
    pub column: String,
    pub conversion: Option<String>,
    pub required: bool,
}

/// One report type of the schema.
#[derive(Debug, Clone)]
pub struct Report {
    /// The schema's key (`event_sinkhole`).
    pub key: String,
    /// The report type as file names give it (`event4_sinkhole`).
    pub report: String,
    /// Shadowserver's name for it (`Sinkhole-Events IPv4`).
    pub title: String,
    /// Its documentation page.
    pub url: Option<String>,
    /// `constant_fields`: classification and the like.
    pub constants: Vec<(String, String)>,
    pub rules: Vec<Rule>,
}

impl Report {
    /// The columns the schema knows for this report type, in order, each once.
    pub fn columns(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.rules
            .iter()
            .map(|r| r.column.as_str())
            .filter(|c| seen.insert(*c))
            .collect()
    }

    /// Whether this is the IPv6 variant of a report (`scan6_http`, `event6_sinkhole`,
    /// `compromised_iot6`).
    pub fn is_ipv6(&self) -> bool {
        let first = self.report.split('_').next().unwrap_or("");
        first.ends_with('6') || self.report.ends_with('6')
    }

    /// The columns a record must fill (the schema's `required_fields`).
    fn required_columns(&self) -> BTreeSet<&str> {
        self.rules
            .iter()
            .filter(|r| r.required)
            .map(|r| r.column.as_str())
            .collect()
    }

    /// The feed definition that reads a file of this report type with this header: `base` (the
    /// `[shadowserver]` definition) with the columns, constants, time format and de-duplication
    /// of the report type. Columns of the header the schema does not know go to
    /// `extra.<column>`, so nothing Shadowserver adds later is lost.
    pub fn definition(&self, header: &[String], base: &FeedDefinition) -> FeedDefinition {
        let mut def = base.clone();
        def.shadowserver = None;
        def.name = format!("{}-{}", base.name.trim(), self.report);
        if let Some(url) = &self.url {
            def.documentation = Some(url.clone());
        }
        let present: HashSet<&str> = header.iter().map(|h| h.trim()).collect();
        let mut done: HashSet<&str> = HashSet::new();
        let mut required: Vec<String> = Vec::new();
        for column in header.iter().map(|h| h.trim()) {
            if column.is_empty() || !done.insert(column) {
                continue;
            }
            let rules: Vec<&Rule> = self.rules.iter().filter(|r| r.column == column).collect();
            let harmonised: Vec<(&Rule, Field)> = rules
                .iter()
                .filter(|r| !computed(r.conversion.as_deref()))
                .filter_map(|r| harmonised(&r.target).map(|f| (*r, f)))
                .collect();
            // IntelMQ's `validate_network`: the column holds an address or a network.
            let network = harmonised
                .iter()
                .any(|(r, _)| r.conversion.as_deref() == Some("validate_network"));
            for (rule, field) in &harmonised {
                let name = field.name().into_owned();
                // An address or a network: the record needs one of them, which every record does.
                let either = network && matches!(field, Field::SourceIp | Field::SourceNetwork);
                if rule.required && !either && !required.contains(&name) {
                    required.push(name);
                }
            }
            if harmonised.is_empty() {
                let to = format!("extra.{}", extra_name(column));
                if rules
                    .iter()
                    .any(|r| r.conversion.as_deref() == Some("invalidate_zero"))
                {
                    def.maps.push(zero_is_empty(column, to));
                } else {
                    def.fields.insert(column.to_string(), to);
                }
                continue;
            }
            let mut first = true;
            for (rule, field) in harmonised {
                let name = field.name().into_owned();
                match rule.conversion.as_deref() {
                    _ if network && matches!(field, Field::SourceIp | Field::SourceNetwork) => {
                        let pattern = if field == Field::SourceNetwork {
                            r"^\s*(?P<v>\S+/[0-9]+)\s*$"
                        } else {
                            r"^\s*(?P<v>[^/\s]+)\s*$"
                        };
                        def.capture.push(CaptureSettings {
                            from: column.to_string(),
                            pattern: pattern.into(),
                            fields: BTreeMap::from([("v".to_string(), name)]),
                        });
                        continue;
                    }
                    // A zero is "unknown" (ASN 0): no value.
                    Some("invalidate_zero") => def.maps.push(zero_is_empty(column, name)),
                    // A path in `url`/`http_url` with the host in `http_host`.
                    Some("convert_http_host_and_url") if present.contains("http_host") => {
                        def.join.push(JoinSettings {
                            from: vec!["http_host".into(), column.to_string()],
                            into: name,
                            separator: String::new(),
                        });
                        if def.default_url_scheme.is_none() {
                            def.default_url_scheme = Some("http".into());
                        }
                    }
                    _ if first => {
                        def.fields.insert(column.to_string(), name);
                    }
                    // A second field from the same column: a copy.
                    _ => def.maps.push(MapSettings {
                        from: column.to_string(),
                        to: name,
                        values: BTreeMap::new(),
                        default: None,
                    }),
                }
                first = false;
            }
        }
        for name in required {
            if !def.required.contains(&name) {
                def.required.push(name);
            }
        }
        // The report's classification first; the definition's own constants win.
        let own = std::mem::take(&mut def.constants);
        for (key, value) in &self.constants {
            match harmonised(key) {
                Some(field) => {
                    def.constants
                        .insert(field.name().into_owned(), value.clone());
                }
                None => {
                    def.constants
                        .insert(format!("extra.{}", extra_name(key)), value.clone());
                }
            }
        }
        def.constants.extend(own);
        def.time.format = "%Y-%m-%d %H:%M:%S".into();
        if def.time.offset.is_none() {
            def.time.offset = Some("UTC".into());
        }
        if def.dedup.key.is_none() {
            // Shadowserver reports one row per address and port (and per infection).
            def.dedup = DedupSettings {
                key: Some(vec![
                    "source.ip|source.network|source.fqdn|source.url|source.asn".into(),
                    "source.port".into(),
                    "malware.name|classification.identifier|classification.type".into(),
                    "feed.name".into(),
                ]),
                window: def.dedup.window.clone().or(Some("1d".into())),
            };
        }
        def
    }
}

/// IntelMQ's `invalidate_zero`: a zero is "unknown" (ASN 0, NAICS 0), so no value.
fn zero_is_empty(column: &str, to: String) -> MapSettings {
    MapSettings {
        from: column.to_string(),
        to,
        values: BTreeMap::from([("0".to_string(), String::new())]),
        default: None,
    }
}

/// Conversions IntelMQ computes from a column that a plain mapping cannot reproduce: the rule
/// is not used (the column still goes to `extra.<column>` when nothing else maps it).
fn computed(conversion: Option<&str>) -> bool {
    matches!(
        conversion,
        Some(
            "extract_cve_from_tag"
                | "scan_exchange_taxonomy"
                | "scan_exchange_type"
                | "scan_exchange_identifier"
                | "category_or_detail"
                | "force_base64"
        )
    )
}

/// The Focal field of an IntelMQ target, when Focal has it as a harmonised field.
fn harmonised(target: &str) -> Option<Field> {
    match target.parse::<Field>().ok()? {
        Field::Extra(_)
        | Field::Raw
        | Field::Tlp
        | Field::Constituent
        | Field::FeedName
        | Field::FeedProvider
        | Field::FeedUrl
        | Field::TimeObservation => None,
        field => Some(field),
    }
}

/// A column name as the name of an `extra` field: lower case; characters other than letters,
/// digits, `_`, `-` and `.` become `_`.
fn extra_name(column: &str) -> String {
    column
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_-.".contains(c) {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Shadowserver's schema: every report type it knows.
#[derive(Debug, Clone)]
pub struct Schema {
    /// Where it was read from, for messages.
    pub source: String,
    reports: Vec<Report>,
}

#[derive(Deserialize)]
struct RawReport {
    #[serde(default)]
    constant_fields: BTreeMap<String, Value>,
    feed_name: Option<String>,
    file_name: Option<String>,
    #[serde(default)]
    required_fields: Vec<Vec<Value>>,
    #[serde(default)]
    optional_fields: Vec<Vec<Value>>,
    url: Option<String>,
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Schema {
    /// Reads a schema file (at most [`MAX_SCHEMA_BYTES`]).
    pub fn load(path: &Path) -> Result<Schema, String> {
        let shown = path.display().to_string();
        let file =
            std::fs::File::open(path).map_err(|e| format!("Shadowserver schema {shown}: {e}"))?;
        let mut bytes = Vec::new();
        file.take(MAX_SCHEMA_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("Shadowserver schema {shown}: {e}"))?;
        if bytes.len() as u64 > MAX_SCHEMA_BYTES {
            return Err(format!(
                "Shadowserver schema {shown}: over the limit of {MAX_SCHEMA_BYTES} bytes"
            ));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("Shadowserver schema {shown}: not UTF-8"))?;
        Schema::from_json(&text, &shown)
    }

    /// Parses a schema; `source` names it in messages.
    pub fn from_json(text: &str, source: &str) -> Result<Schema, String> {
        let top: BTreeMap<String, Value> = serde_json::from_str(text)
            .map_err(|e| format!("Shadowserver schema {source}: not a JSON object: {e}"))?;
        let mut reports = Vec::new();
        for (key, value) in top {
            if key.starts_with('_') {
                continue; // `_meta`
            }
            let raw: RawReport = serde_json::from_value(value)
                .map_err(|e| format!("Shadowserver schema {source}: report {key:?}: {e}"))?;
            let report = raw.file_name.clone().unwrap_or_else(|| key.clone());
            if !valid_report_name(&report) {
                return Err(format!(
                    "Shadowserver schema {source}: report {key:?}: file_name {report:?} is not a report type name"
                ));
            }
            let mut rules = Vec::new();
            for (required, list) in [(true, &raw.required_fields), (false, &raw.optional_fields)] {
                for (i, rule) in list.iter().enumerate() {
                    let (Some(Value::String(target)), Some(Value::String(column))) =
                        (rule.first(), rule.get(1))
                    else {
                        let which = if required { "required" } else { "optional" };
                        return Err(format!(
                            "Shadowserver schema {source}: report {key:?}: {which}_fields[{i}] is not [field, column, ...]"
                        ));
                    };
                    rules.push(Rule {
                        target: target.clone(),
                        column: column.trim().to_string(),
                        conversion: rule.get(2).and_then(Value::as_str).map(str::to_string),
                        required,
                    });
                }
            }
            reports.push(Report {
                title: raw.feed_name.unwrap_or_else(|| report.clone()),
                key,
                report,
                url: raw.url,
                constants: raw
                    .constant_fields
                    .iter()
                    .map(|(k, v)| (k.clone(), value_text(v)))
                    .collect(),
                rules,
            });
        }
        if reports.is_empty() {
            return Err(format!(
                "Shadowserver schema {source}: no report types in it"
            ));
        }
        reports.sort_by(|a, b| a.report.cmp(&b.report));
        Ok(Schema {
            source: source.to_string(),
            reports,
        })
    }

    pub fn reports(&self) -> &[Report] {
        &self.reports
    }

    /// The report type of this name (as file names give it, or the schema's key).
    pub fn report(&self, name: &str) -> Option<&Report> {
        self.reports
            .iter()
            .find(|r| r.report == name)
            .or_else(|| self.reports.iter().find(|r| r.key == name))
    }

    fn unknown(&self, name: &str, how: &str) -> String {
        format!(
            "report type {name:?} ({how}) is not in the Shadowserver schema {} ({} report types); \
             a newer schema may know it",
            self.source,
            self.reports.len()
        )
    }

    /// The report type a file's name gives (`2026-12-01-scan_http-country-geo.csv`): `Ok(None)`
    /// when the name is not in Shadowserver's form, an error when it names a type the schema
    /// does not know.
    pub fn from_file_name(&self, file_name: &str) -> Result<Option<&Report>, String> {
        let Some(name) = report_in_file_name(file_name) else {
            return Ok(None);
        };
        self.report(name)
            .map(Some)
            .ok_or_else(|| self.unknown(name, "from the file name"))
    }

    /// The report type whose columns fit the header best: every column the type requires is
    /// there, and the share of columns the two have in common is the highest (at least half).
    /// Types with the same columns are told apart only by address family (`scan_http` and
    /// `scan6_http`), from `first_ip`, the source address of the first record.
    pub fn from_header(
        &self,
        header: &[String],
        first_ip: Option<&str>,
    ) -> Result<&Report, String> {
        let names: HashSet<&str> = header
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect();
        // (common, union) of each report type that has its required columns.
        let mut scored: Vec<(&Report, usize, usize)> = Vec::new();
        for report in &self.reports {
            if !report.required_columns().iter().all(|c| names.contains(c)) {
                continue;
            }
            let columns: HashSet<&str> = report.columns().into_iter().collect();
            let common = columns.intersection(&names).count();
            let union = columns.union(&names).count();
            scored.push((report, common, union));
        }
        let better = |a: (usize, usize), b: (usize, usize)| a.0 * b.1 > b.0 * a.1;
        let Some(best) = scored
            .iter()
            .map(|&(_, c, u)| (c, u))
            .reduce(|a, b| if better(b, a) { b } else { a })
        else {
            return Err(format!(
                "the header fits no report type of the Shadowserver schema {} (none has all its required columns)",
                self.source
            ));
        };
        if best.0 * 2 < best.1 {
            return Err(format!(
                "the header fits no report type of the Shadowserver schema {} well (the best shares {} of {} columns)",
                self.source, best.0, best.1
            ));
        }
        let mut tied: Vec<&Report> = scored
            .iter()
            .filter(|&&(_, c, u)| c * best.1 == best.0 * u)
            .map(|&(r, _, _)| r)
            .collect();
        if tied.len() > 1
            && let Some(ip) = first_ip.map(str::trim).filter(|ip| !ip.is_empty())
        {
            let v6 = ip.contains(':');
            tied.retain(|r| r.is_ipv6() == v6);
        }
        match tied.as_slice() {
            [one] => Ok(one),
            [] => Err(format!(
                "the header fits report types of the Shadowserver schema {} only for the other address family",
                self.source
            )),
            many => Err(format!(
                "the header fits several report types of the Shadowserver schema {} equally ({}): \
                 name the file as Shadowserver does (YYYY-MM-DD-TYPE-....csv) or set shadowserver.report",
                self.source,
                many.iter()
                    .map(|r| r.report.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// The report type in a file name of Shadowserver's form `YYYY-MM-DD-TYPE[-...].csv` (also
/// `.csv.gz` and `.csv.zip`), without its folder.
pub fn report_in_file_name(file_name: &str) -> Option<&str> {
    let name = Path::new(file_name).file_name()?.to_str()?;
    let stem = [".csv.gz", ".csv.zip", ".csv"]
        .iter()
        .find_map(|ext| name.strip_suffix(ext))?;
    let b = stem.as_bytes();
    let date = b.len() > 11
        && b[..10].iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        })
        && b[10] == b'-';
    if !date {
        return None;
    }
    let report = stem[11..].split('-').next()?;
    valid_report_name(report).then_some(report)
}

/// Why a Shadowserver feed cannot read a file: the file, and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ResolveError {
    pub file: String,
    pub message: String,
}

impl Feed {
    /// Whether the definition has a `[shadowserver]` table: it reads a file only through
    /// [`Feed::for_file`].
    pub fn is_shadowserver(&self) -> bool {
        self.shadowserver.is_some()
    }

    /// The feed that reads `path`: this one, or for a Shadowserver feed the definition of the
    /// file's report type (`shadowserver.report`, else from the file name, else from the header).
    pub fn for_file(&self, path: &Path) -> Result<Cow<'_, Feed>, ResolveError> {
        let Some(settings) = &self.shadowserver else {
            return Ok(Cow::Borrowed(self));
        };
        let fail = |message: String| ResolveError {
            file: path.display().to_string(),
            message,
        };
        let schema = Schema::load(&settings.schema).map_err(fail)?;
        let file = crate::input::open(self, path).map_err(|e| fail(e.to_string()))?;
        let mut reader =
            crate::read::RecordReader::new(BufReader::new(file), self.skip_rules(), 0, 1);
        let mut scratch = self.scratch();
        let header = match reader
            .read_first_record()
            .map_err(|e| fail(e.to_string()))?
        {
            Some((line, bytes)) => self
                .split_header(&bytes, &mut scratch)
                .map_err(|e| fail(format!("line {line} (the header): {e}")))?,
            None => Vec::new(),
        };
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let report = match &settings.report {
            Some(name) => schema
                .report(name)
                .ok_or_else(|| fail(schema.unknown(name, "shadowserver.report")))?,
            None => match schema.from_file_name(&file_name).map_err(fail)? {
                Some(report) => report,
                None if header.is_empty() => {
                    return Err(fail(
                        "the file is empty and its name does not give a Shadowserver report type (YYYY-MM-DD-TYPE-....csv)".into(),
                    ));
                }
                None => {
                    let first_ip = match reader.read_first_record() {
                        Ok(Some((_, bytes))) => self
                            .split_header(&bytes, &mut scratch)
                            .ok()
                            .and_then(|cells| {
                                ["ip", "src_ip"].iter().find_map(|name| {
                                    let i = header.iter().position(|h| h == name)?;
                                    cells.get(i).cloned()
                                })
                            }),
                        _ => None,
                    };
                    schema
                        .from_header(&header, first_ip.as_deref())
                        .map_err(fail)?
                }
            },
        };
        let definition = report.definition(&header, &self.definition);
        let source = format!("{} (Shadowserver report {})", self.source, report.report);
        Feed::compile(definition, &source)
            .map(Cow::Owned)
            .map_err(|e| fail(e.to_string()))
    }
}
