//! `focal feeds import-intelmq`: an IntelMQ runtime configuration (`runtime.yaml`, IntelMQ 3.x:
//! bots keyed by id, each with `module` and `parameters`, the pipeline in
//! `parameters.destination_queues`) turned into Focal feed definitions, one per collector → parser
//! pair that Focal can express. A pair whose parser and URL match a shipped definition reuses it
//! (copied verbatim, with the collector's URL and interval as `[pull]`); IntelMQ's generic CSV
//! parser becomes a generated definition; everything else is listed with the reason it was not
//! converted.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_norway::Value;
use std::collections::{BTreeMap, HashSet};

pub const HTTP_COLLECTOR: &str = "intelmq.bots.collectors.http.collector_http";
pub const GENERIC_CSV: &str = "intelmq.bots.parsers.generic.parser_csv";

/// The largest runtime.yaml read (a configuration, not data).
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;

/// IntelMQ parsers with shipped equivalents: the names of the shipped definitions they may match
/// (by prefix), and the one to use when the URL matches none of them.
const FAMILIES: &[(&str, &[&str], Option<&str>)] = &[
    (
        "intelmq.bots.parsers.blocklistde.parser",
        &["blocklist-de"],
        None,
    ),
    (
        "intelmq.bots.parsers.dataplane.parser",
        &["dataplane"],
        // dataplane.toml reads any of dataplane.org's lists.
        Some("dataplane"),
    ),
    (
        "intelmq.bots.parsers.spamhaus.parser_drop",
        &["spamhaus-drop", "spamhaus-edrop", "spamhaus-asndrop"],
        None,
    ),
    (
        "intelmq.bots.parsers.abusech.parser_feodotracker",
        &["abusech-feodo"],
        None,
    ),
    (
        "intelmq.bots.parsers.abusech.parser_ip",
        &["abusech-feodo"],
        None,
    ),
];

/// One collector → parser pair turned into a definition.
#[derive(Debug, Serialize)]
pub struct Converted {
    pub name: String,
    pub collector: String,
    pub parser: String,
    pub parser_module: String,
    /// The shipped definition it is a copy of (`None`: generated from the parser's parameters).
    pub shipped: Option<String>,
    /// What was not carried over, or was carried over differently.
    pub notes: Vec<String>,
    pub toml: String,
}

/// Bots (a pair, or a lone collector or parser) that were not converted, and why.
#[derive(Debug, Serialize)]
pub struct Unconverted {
    pub bots: Vec<String>,
    pub module: String,
    pub reason: String,
}

/// Bots that are not part of a feed (experts, outputs).
#[derive(Debug, Serialize)]
pub struct Ignored {
    pub bot: String,
    pub module: String,
    pub reason: String,
}

#[derive(Debug, Serialize)]
pub struct Import {
    pub converted: Vec<Converted>,
    pub unconverted: Vec<Unconverted>,
    pub ignored: Vec<Ignored>,
}

struct Bot {
    id: String,
    module: String,
    enabled: bool,
    group: String,
    parameters: serde_norway::Mapping,
}

impl Bot {
    fn param(&self, key: &str) -> Option<&Value> {
        self.parameters.get(key).filter(|v| !v.is_null())
    }

    /// A parameter given as text (or a number).
    fn text(&self, key: &str) -> Option<String> {
        match self.param(key)? {
            Value::String(s) => Some(s.clone()).filter(|s| !s.trim().is_empty()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A parameter meant as true (IntelMQ also accepts "true" as text).
    fn truthy(&self, key: &str) -> bool {
        match self.param(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => matches!(s.trim().to_lowercase().as_str(), "true" | "yes"),
            Some(Value::Number(n)) => n.as_f64().is_some_and(|n| n != 0.0),
            Some(Value::Mapping(m)) => !m.is_empty(),
            Some(Value::Sequence(s)) => !s.is_empty(),
            _ => false,
        }
    }

    /// A parameter that is set to something (not null, false, empty text or empty list).
    fn present(&self, key: &str) -> bool {
        match self.param(key) {
            None | Some(Value::Bool(false)) => false,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Sequence(s)) => !s.is_empty(),
            Some(Value::Mapping(m)) => !m.is_empty(),
            Some(_) => true,
        }
    }

    fn source_queue(&self) -> String {
        self.text("source_queue")
            .unwrap_or_else(|| format!("{}-queue", self.id))
    }

    /// Every queue named in `destination_queues` (all paths), in order.
    fn destinations(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |v: &Value| match v {
            Value::String(s) => out.push(s.clone()),
            Value::Sequence(list) => {
                out.extend(list.iter().filter_map(|q| q.as_str()).map(str::to_string))
            }
            _ => {}
        };
        match self.param("destination_queues") {
            Some(Value::Mapping(paths)) => paths.values().for_each(&mut add),
            Some(v) => add(v),
            None => {}
        }
        out
    }

    fn is_collector(&self) -> bool {
        self.module.starts_with("intelmq.bots.collectors.") || self.group == "collector"
    }

    fn is_parser(&self) -> bool {
        self.module.starts_with("intelmq.bots.parsers.") || self.group == "parser"
    }
}

/// Reads a runtime.yaml's bots (the `global` section is not a bot).
fn bots(text: &str, source: &str) -> Result<(Vec<Bot>, Vec<Unconverted>)> {
    let doc: Value = serde_norway::from_str(text)
        .with_context(|| format!("{source}: not an IntelMQ runtime configuration (YAML)"))?;
    let Value::Mapping(top) = doc else {
        bail!(
            "{source}: not an IntelMQ runtime configuration: the document is not a mapping of bot ids to bots"
        );
    };
    let (mut bots, mut bad) = (Vec::new(), Vec::new());
    for (key, value) in top {
        let id = match &key {
            Value::String(s) => s.clone(),
            other => serde_norway::to_string(other)
                .unwrap_or_default()
                .trim()
                .to_string(),
        };
        if id == "global" {
            continue;
        }
        let Value::Mapping(bot) = value else {
            bad.push(Unconverted {
                bots: vec![id],
                module: String::new(),
                reason: "not a bot: its value is not a mapping".into(),
            });
            continue;
        };
        let Some(module) = bot.get("module").and_then(|m| m.as_str()) else {
            bad.push(Unconverted {
                bots: vec![id],
                module: String::new(),
                reason: "no `module`".into(),
            });
            continue;
        };
        let parameters = match bot.get("parameters") {
            Some(Value::Mapping(p)) => p.clone(),
            None | Some(Value::Null) => serde_norway::Mapping::new(),
            Some(_) => {
                bad.push(Unconverted {
                    bots: vec![id],
                    module: module.into(),
                    reason: "`parameters` is not a mapping".into(),
                });
                continue;
            }
        };
        bots.push(Bot {
            enabled: bot.get("enabled").and_then(|e| e.as_bool()).unwrap_or(true),
            group: bot
                .get("group")
                .and_then(|g| g.as_str())
                .unwrap_or_default()
                .to_lowercase(),
            module: module.to_string(),
            id,
            parameters,
        });
    }
    bots.sort_by(|a, b| a.id.cmp(&b.id));
    Ok((bots, bad))
}

/// Why Focal does not convert a collector other than the HTTP one.
fn collector_reason(module: &str) -> String {
    let m = module
        .strip_prefix("intelmq.bots.collectors.")
        .unwrap_or(module);
    let why = if m.starts_with("mail.") {
        "a mail collector: Focal does not read mailboxes; save the attachments or URLs to files and give them to `focal ingest`"
    } else if m.starts_with("http.collector_http_stream") {
        "an HTTP stream: Focal pulls whole files, not streams"
    } else if m.starts_with("file.") {
        "reads a local folder: give the files to `focal ingest` (or pull one file with a file:// [pull] url)"
    } else if m.starts_with("shadowserver.") {
        "the Shadowserver reports API: download the report files and read them with a [shadowserver] definition (docs/FEEDS.md)"
    } else if m.starts_with("api.")
        || m.starts_with("amqp.")
        || m.starts_with("stomp.")
        || m.starts_with("xmpp.")
    {
        "receives pushed messages: Focal pulls files"
    } else {
        "no Focal equivalent for this collector module (Focal pulls http://, https:// and file:// URLs)"
    };
    why.to_string()
}

/// `https://Host/path/` → `host/path`, to compare a collector's URL with a shipped definition's.
fn url_key(url: &str) -> String {
    let u = url.trim();
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .unwrap_or(u);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    format!("{}/{}", host.to_lowercase(), path.trim_end_matches('/'))
}

/// `Example CERT Phishing URLs` → `example-cert-phishing-urls` (a registrable name).
fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '.' || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    let mut out: String = out.chars().take(64).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        "intelmq-feed".into()
    } else {
        out
    }
}

fn unique(name: String, used: &mut HashSet<String>, suffix: &str) -> String {
    if used.insert(name.clone()) {
        return name;
    }
    let base = slug(&format!("{name}-{suffix}"));
    let mut candidate = base.clone();
    let mut n = 2;
    while !used.insert(candidate.clone()) {
        candidate = slug(&format!("{base}-{n}"));
        n += 1;
    }
    candidate
}

/// The `[pull]` table from an HTTP collector's parameters.
fn pull_table(collector: &Bot, url: &str, notes: &mut Vec<String>) -> toml_edit::Table {
    let mut pull = toml_edit::Table::new();
    pull["url"] = toml_edit::value(url);
    match collector.param("rate_limit").and_then(|r| r.as_f64()) {
        Some(secs) if secs >= 1.0 => {
            pull["every"] = toml_edit::value(crate::commands::feeds::duration(secs as u64));
        }
        _ => notes.push(format!(
            "collector {}: no rate_limit: pulled on request only (add [pull] every)",
            collector.id
        )),
    }
    if let Some(Value::Mapping(headers)) = collector.param("http_header") {
        let mut table = toml_edit::Table::new();
        for (k, v) in headers {
            if let (Some(k), Some(v)) = (k.as_str(), v.as_str()) {
                table[k] = toml_edit::value(v);
            }
        }
        if !table.is_empty() {
            pull["headers"] = toml_edit::Item::Table(table);
            notes.push("http_header copied to [pull.headers]: move secret values to [pull.headers_from_env]".into());
        }
    }
    if collector.param("http_username").is_some() || collector.param("http_password").is_some() {
        notes.push(format!(
            "collector {}: http_username/http_password not copied (secrets): put them in pull.url or a header read from the environment",
            collector.id
        ));
    }
    if collector
        .param("http_verify_cert")
        .is_some_and(|v| v.as_bool() == Some(false))
    {
        notes
            .push("http_verify_cert = false not copied: Focal always verifies certificates".into());
    }
    if collector.truthy("extract_files") {
        notes.push("extract_files: Focal unpacks gzip, zip and tar itself ([input] members selects members)".into());
    }
    pull
}

fn header_comment(collector: &Bot, parser: &Bot, source: &str) -> String {
    format!(
        "# Imported from IntelMQ ({source}): collector {} ({}) -> parser {} ({}).\n",
        collector.id, collector.module, parser.id, parser.module
    )
}

/// A shipped definition copied, with `[pull]` from the collector (and another name if needed).
fn copy_shipped(
    file: &str,
    text: &str,
    name: &str,
    pull: toml_edit::Table,
    comment: &str,
) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("shipped definition {file}"))?;
    doc["name"] = toml_edit::value(name);
    doc["pull"] = toml_edit::Item::Table(pull);
    Ok(format!("{comment}{doc}"))
}

/// The shipped definition to reuse for a parser module and URL: (file, text, name).
fn shipped_for(module: &str, url: &str) -> Option<(&'static str, &'static str, String, bool)> {
    let family = FAMILIES.iter().find(|(m, _, _)| *m == module);
    let key = url_key(url);
    let shipped = focal_feeds::shipped::SHIPPED
        .iter()
        .filter_map(|(file, text)| {
            let feed = focal_feeds::Feed::from_toml(text, file).ok()?;
            Some((
                *file,
                *text,
                feed.name.to_string(),
                feed.definition.url.clone(),
            ))
        });
    let mut fallback = None;
    for (file, text, name, def_url) in shipped {
        if let Some((_, prefixes, fb)) = family {
            if *fb == Some(name.as_str()) {
                fallback = Some((file, text, name.clone(), false));
            }
            if !prefixes.iter().any(|p| name.starts_with(p)) {
                continue;
            }
        }
        if def_url.as_deref().map(url_key) == Some(key.clone()) {
            return Some((file, text, name, true));
        }
    }
    fallback
}

/// IntelMQ's generic CSV parser's parameters as a Focal definition (or why they cannot be).
fn generic_csv(
    collector: &Bot,
    parser: &Bot,
    url: &str,
    name: &str,
    notes: &mut Vec<String>,
) -> Result<toml_edit::DocumentMut, String> {
    for unsupported in [
        "filter_text",
        "column_regex_search",
        "compose_fields",
        "data_type",
    ] {
        if parser.present(unsupported) {
            return Err(format!(
                "generic CSV parameter {unsupported}: no Focal equivalent"
            ));
        }
    }
    let columns: Vec<String> = match parser.param("columns") {
        Some(Value::Sequence(list)) => list
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_string)
                    .ok_or("columns: an entry is not text")
            })
            .collect::<Result<_, _>>()?,
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        _ => return Err("generic CSV parser without `columns`".into()),
    };
    let translated = parser.present("type_translation");
    let mut focal_columns = toml_edit::Array::new();
    let mut fields = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        let c = c.trim();
        // A translated type column is read as it is into extra.type, and mapped from there
        // (a column is always a field in Focal, and the feed's own words are not RSIT types).
        let c = if translated && c == "classification.type" {
            notes.push("type_translation: the type column is kept as extra.type and mapped from it to classification.type".into());
            "extra.type"
        } else {
            c
        };
        if c.contains('|') {
            return Err(format!(
                "column {} is {c:?}: alternatives (a|b) are tried in turn by IntelMQ; Focal maps a column to one field",
                i + 1
            ));
        }
        let field = if c == "__IGNORE__" { "" } else { c };
        focal_columns.push(field);
        fields.push(field.to_string());
    }
    let header = match parser.param("skip_header") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) if n.as_u64() == Some(0) => false,
        Some(Value::Number(n)) if n.as_u64() == Some(1) => true,
        Some(v) => {
            return Err(format!(
                "skip_header {}: Focal skips one header line or none",
                serde_norway::to_string(v).unwrap_or_default().trim()
            ));
        }
    };
    let mut doc = toml_edit::DocumentMut::new();
    doc["name"] = toml_edit::value(name);
    if let Some(p) = collector.text("provider") {
        doc["provider"] = toml_edit::value(p);
    }
    doc["url"] = toml_edit::value(url);
    if let Some(d) = collector.text("documentation") {
        doc["documentation"] = toml_edit::value(d);
    }
    doc["format"] = toml_edit::value("csv");
    if let Some(Value::Sequence(flags)) = parser.param("columns_required") {
        let mut required = toml_edit::Array::new();
        for (field, flag) in fields.iter().zip(flags) {
            if flag.as_bool() == Some(true) && !field.is_empty() {
                required.push(field.as_str());
            }
        }
        if !required.is_empty() {
            doc["required"] = toml_edit::value(required);
        }
    }
    if let Some(proto) = parser.text("default_url_protocol") {
        doc["default_url_scheme"] = toml_edit::value(proto.trim_end_matches("://"));
    }
    let mut csv = toml_edit::Table::new();
    csv["header"] = toml_edit::value(header);
    csv["delimiter"] = toml_edit::value(parser.text("delimiter").unwrap_or_else(|| ",".into()));
    // IntelMQ's generic CSV parser drops lines starting with '#'.
    csv["comment"] = toml_edit::value("#");
    csv["columns"] = toml_edit::value(focal_columns);
    doc["csv"] = toml_edit::Item::Table(csv);
    if let Some(t) = parser.text("type") {
        let mut constants = toml_edit::Table::new();
        constants["classification.type"] = toml_edit::value(t);
        doc["constants"] = toml_edit::Item::Table(constants);
    }
    if let Some(translation) = parser.param("type_translation") {
        let map: BTreeMap<String, String> = match translation {
            Value::String(s) => serde_json::from_str(s)
                .map_err(|e| format!("type_translation is not a JSON object of strings: {e}"))?,
            Value::Mapping(_) => serde_norway::from_value(translation.clone())
                .map_err(|e| format!("type_translation is not a mapping of strings: {e}"))?,
            _ => return Err("type_translation is neither JSON text nor a mapping".into()),
        };
        if !map.is_empty() {
            if !fields.iter().any(|f| f == "extra.type") {
                return Err("type_translation without a classification.type column".into());
            }
            let mut values = toml_edit::InlineTable::new();
            for (k, v) in &map {
                values.insert(k, v.as_str().into());
            }
            let mut t = toml_edit::Table::new();
            t["from"] = toml_edit::value("extra.type");
            t["to"] = toml_edit::value("classification.type");
            t["values"] = toml_edit::value(values);
            let mut maps = toml_edit::ArrayOfTables::new();
            maps.push(t);
            doc["map"] = toml_edit::Item::ArrayOfTables(maps);
        }
    }
    let format = match parser.text("time_format").as_deref() {
        None => {
            if fields.iter().any(|f| f.starts_with("time.")) {
                notes.push("time_format not set: IntelMQ guesses the format, Focal reads RFC 3339 (set [time] format if the feed writes another)".into());
            }
            None
        }
        Some("utc_isoformat") => None,
        Some("timestamp") => Some("unix".to_string()),
        Some("epoch_millis") => Some("unix_ms".to_string()),
        Some(f) if f.starts_with("from_format|") => Some(f["from_format|".len()..].to_string()),
        Some(f) => return Err(format!("time_format {f:?}: no Focal equivalent")),
    };
    if let Some(f) = format {
        let mut time = toml_edit::Table::new();
        time["format"] = toml_edit::value(f);
        time["offset"] = toml_edit::value("UTC");
        doc["time"] = toml_edit::Item::Table(time);
    }
    Ok(doc)
}

/// Converts a runtime.yaml's text; `source` names it in messages and in the definitions' comments.
pub fn convert(text: &str, source: &str) -> Result<Import> {
    let (bots, mut unconverted) = bots(text, source)?;
    let mut ignored = Vec::new();
    let mut converted = Vec::new();
    let mut used = HashSet::new();
    let mut fed = HashSet::new();
    for collector in bots.iter().filter(|b| b.is_collector()) {
        let parsers: Vec<&Bot> = collector
            .destinations()
            .iter()
            .filter_map(|q| {
                bots.iter()
                    .find(|b| b.is_parser() && &b.source_queue() == q)
            })
            .collect();
        for p in &parsers {
            fed.insert(p.id.clone());
        }
        let mut fail = |bots: Vec<String>, module: &str, reason: String| {
            unconverted.push(Unconverted {
                bots,
                module: module.to_string(),
                reason,
            })
        };
        if collector.module != HTTP_COLLECTOR {
            let mut ids = vec![collector.id.clone()];
            ids.extend(parsers.iter().map(|p| p.id.clone()));
            fail(ids, &collector.module, collector_reason(&collector.module));
            continue;
        }
        if !collector.enabled {
            fail(
                vec![collector.id.clone()],
                &collector.module,
                "disabled (enabled: false)".into(),
            );
            continue;
        }
        let Some(url) = collector.text("http_url") else {
            fail(
                vec![collector.id.clone()],
                &collector.module,
                "no http_url".into(),
            );
            continue;
        };
        if collector.truthy("http_url_formatting") {
            fail(
                vec![collector.id.clone()],
                &collector.module,
                "http_url_formatting: the URL changes with the date; Focal pulls one fixed URL"
                    .into(),
            );
            continue;
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            fail(
                vec![collector.id.clone()],
                &collector.module,
                format!(
                    "http_url {}: not an http:// or https:// URL",
                    focal_feeds::redact::url(&url)
                ),
            );
            continue;
        }
        if parsers.is_empty() {
            fail(
                vec![collector.id.clone()],
                &collector.module,
                "its destination queues lead to no parser bot".into(),
            );
            continue;
        }
        for parser in parsers {
            let ids = vec![collector.id.clone(), parser.id.clone()];
            let mut notes = Vec::new();
            let comment = header_comment(collector, parser, source);
            let built = if parser.module == GENERIC_CSV {
                let base = slug(
                    &[collector.text("provider"), collector.text("name")]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                let base = if base == "intelmq-feed" {
                    slug(&parser.id)
                } else {
                    base
                };
                let name = unique(base, &mut used, &collector.id);
                generic_csv(collector, parser, &url, &name, &mut notes).map(|mut doc| {
                    doc["pull"] = toml_edit::Item::Table(pull_table(collector, &url, &mut notes));
                    (name, None, format!("{comment}{doc}"))
                })
            } else {
                match shipped_for(&parser.module, &url) {
                    None => Err(if FAMILIES.iter().any(|(m, _, _)| *m == parser.module) {
                        format!(
                            "no shipped definition reads {} with this parser",
                            focal_feeds::redact::url(&url)
                        )
                    } else {
                        "parser module unknown to the importer, and no shipped definition has this URL: write a definition (docs/FEEDS.md)".into()
                    }),
                    Some((file, text, shipped_name, by_url)) => {
                        if !by_url {
                            notes.push(format!(
                                "{shipped_name} reads any list of this provider; the URL is the collector's"
                            ));
                        } else if !FAMILIES.iter().any(|(m, _, _)| *m == parser.module) {
                            notes.push(format!(
                                "matched by URL only: {shipped_name} is the shipped definition for this URL"
                            ));
                        }
                        let name = unique(shipped_name.clone(), &mut used, &collector.id);
                        if name != shipped_name {
                            notes.push(format!(
                                "renamed from {shipped_name}: another pair uses that name"
                            ));
                        }
                        let pull = pull_table(collector, &url, &mut notes);
                        copy_shipped(file, text, &name, pull, &comment)
                            .map(|toml| (name, Some(file.to_string()), toml))
                            .map_err(|e| format!("{e:#}"))
                    }
                }
            };
            let checked = built.and_then(|(name, shipped, toml)| {
                focal_feeds::Feed::from_toml(&toml, &format!("{name}.toml"))
                    .map(|_| (name.clone(), shipped, toml))
                    .map_err(|e| e.to_string())
            });
            match checked {
                Ok((name, shipped, toml)) => converted.push(Converted {
                    name,
                    collector: collector.id.clone(),
                    parser: parser.id.clone(),
                    parser_module: parser.module.clone(),
                    shipped,
                    notes,
                    toml,
                }),
                Err(reason) => unconverted.push(Unconverted {
                    bots: ids,
                    module: parser.module.clone(),
                    reason,
                }),
            }
        }
    }
    for bot in &bots {
        if bot.is_parser() && !fed.contains(&bot.id) {
            unconverted.push(Unconverted {
                bots: vec![bot.id.clone()],
                module: bot.module.clone(),
                reason: "no collector sends to it".into(),
            });
        } else if !bot.is_parser() && !bot.is_collector() {
            let kind = if bot.module.starts_with("intelmq.bots.experts.") || bot.group == "expert" {
                "an expert: Focal enriches and de-duplicates every event itself"
            } else if bot.module.starts_with("intelmq.bots.outputs.") || bot.group == "output" {
                "an output: Focal stores events and shares them itself"
            } else {
                "not a collector or parser"
            };
            ignored.push(Ignored {
                bot: bot.id.clone(),
                module: bot.module.clone(),
                reason: kind.into(),
            });
        }
    }
    Ok(Import {
        converted,
        unconverted,
        ignored,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_urls() {
        assert_eq!(
            slug("Example CERT: Phishing URLs"),
            "example-cert-phishing-urls"
        );
        assert_eq!(
            url_key("https://Lists.blocklist.de/lists/ssh.txt"),
            url_key("http://lists.blocklist.de/lists/ssh.txt/")
        );
        let mut used = HashSet::new();
        assert_eq!(unique("a".into(), &mut used, "c1"), "a");
        assert_eq!(unique("a".into(), &mut used, "c1"), "a-c1");
        assert_eq!(unique("a".into(), &mut used, "c1"), "a-c1-2");
    }
}
