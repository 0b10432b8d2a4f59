//! Records → events. Every failure is a [`Rejection`] with the line, the raw bytes and the reason.

use crate::definition::{Capture, CsvLayout, Feed, Format, Join, Pairs, Split, ValueMap, When};
use crate::read::{LineMeta, MAX_RECORD_BYTES, RecordBatch};
use focal_model::event::MAX_FIELD_BYTES;
use focal_model::{Event, Field, ValueError};
use jiff::Timestamp;
use serde_json::Value;

/// Why a record was quarantined. The names are stable: they are stored and counted by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// The record has more or fewer columns than the header or definition says.
    Columns,
    /// Bytes that are not UTF-8.
    Encoding,
    /// A field over 4096 bytes.
    FieldTooLong,
    /// A record over the reader's limit (1 MiB).
    RecordTooLong,
    /// A timestamp that does not match the feed's format.
    Timestamp,
    /// An IP address or network that does not parse.
    Ip,
    /// A port outside 0..=65535.
    Port,
    /// A classification type or taxonomy outside RSIT.
    Taxonomy,
    /// A required field is empty or missing.
    Missing,
    /// A JSON line that does not parse or is not an object.
    Json,
    /// Any other invalid value (ASN, country, FQDN, TLP, transport).
    Value,
    /// A NUL byte or another control character inside a field: never stored (it would reach
    /// the web pages, CSV exports and mail of everyone who reads the event).
    Control,
}

impl RejectKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Columns => "columns",
            RejectKind::Encoding => "encoding",
            RejectKind::FieldTooLong => "field_too_long",
            RejectKind::RecordTooLong => "record_too_long",
            RejectKind::Timestamp => "timestamp",
            RejectKind::Ip => "ip",
            RejectKind::Port => "port",
            RejectKind::Taxonomy => "taxonomy",
            RejectKind::Missing => "missing",
            RejectKind::Json => "json",
            RejectKind::Value => "value",
            RejectKind::Control => "control",
        }
    }
}

/// A record that did not become an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub line: u64,
    pub kind: RejectKind,
    /// The field (harmonised name) or column at fault, when there is one.
    pub field: Option<String>,
    /// What was wrong, in words.
    pub reason: String,
    /// The record's bytes, exactly as read (a sample for oversized records).
    pub raw: Vec<u8>,
}

fn kind_of(e: &ValueError) -> RejectKind {
    match e {
        ValueError::InvalidIp(_) | ValueError::InvalidNetwork(_) => RejectKind::Ip,
        ValueError::InvalidPort(_) => RejectKind::Port,
        ValueError::InvalidTime { .. } => RejectKind::Timestamp,
        ValueError::UnknownType(_)
        | ValueError::UnknownTaxonomy(_)
        | ValueError::TaxonomyMismatch { .. } => RejectKind::Taxonomy,
        _ => RejectKind::Value,
    }
}

/// Per-thread scratch space for parsing, reused across records.
pub struct Scratch {
    csv: csv_core::Reader,
    out: Vec<u8>,
    ends: Vec<usize>,
    /// A multi-character delimiter, split by [`split_long`] instead of csv-core.
    long: Option<(Vec<u8>, u8)>,
}

impl Feed {
    /// Scratch space for [`Feed::parse_batch`] on one thread.
    pub fn scratch(&self) -> Scratch {
        let c = &self.definition.csv;
        let csv = csv_core::ReaderBuilder::new()
            .delimiter(c.delimiter.as_bytes().first().copied().unwrap_or(b','))
            .quote(c.quote as u8)
            .build();
        Scratch {
            csv,
            out: vec![0; 4096],
            ends: vec![0; 64],
            long: self.long_delimiter.clone().map(|d| (d, c.quote as u8)),
        }
    }

    /// The comment and blank-line rules for this feed's reader.
    pub fn skip_rules(&self) -> crate::read::SkipRules {
        let prefixes = match self.format() {
            Format::Csv => self
                .definition
                .csv
                .comment
                .map(|c| vec![vec![c as u8]])
                .unwrap_or_default(),
            Format::List => self
                .definition
                .list
                .comment
                .iter()
                .map(|c| c.as_bytes().to_vec())
                .collect(),
            Format::Jsonl | Format::Json => Vec::new(),
        };
        crate::read::SkipRules {
            comment_prefixes: prefixes,
        }
    }

    /// Splits a header line into column names.
    pub fn split_header(&self, line: &[u8], scratch: &mut Scratch) -> Result<Vec<String>, String> {
        let n = split_csv(line, scratch).ok_or(
            "the header line could not be split into columns (a bare carriage return inside it? Lines must end in LF or CRLF)",
        )?;
        let mut names = Vec::with_capacity(n);
        let mut start = 0;
        for &end in &scratch.ends[..n] {
            let name = std::str::from_utf8(&scratch.out[start..end])
                .map_err(|_| "the header is not UTF-8")?;
            names.push(name.trim().to_string());
            start = end;
        }
        Ok(names)
    }

    /// Parses every record of a batch, appending events and rejections. `observed` becomes
    /// `time.observation` for records that do not say when they were seen.
    pub fn parse_batch(
        &self,
        layout: Option<&CsvLayout>,
        batch: &RecordBatch,
        observed: Timestamp,
        scratch: &mut Scratch,
        events: &mut Vec<Event>,
        rejections: &mut Vec<Rejection>,
    ) {
        for meta in &batch.lines {
            let bytes = batch.line_bytes(meta);
            match self.parse_line(layout, meta, bytes, observed, scratch) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err((kind, field, reason)) => rejections.push(Rejection {
                    line: meta.line,
                    kind,
                    field,
                    reason,
                    raw: raw_evidence(self.format(), bytes).to_vec(),
                }),
            }
        }
    }

    fn parse_line(
        &self,
        layout: Option<&CsvLayout>,
        meta: &LineMeta,
        bytes: &[u8],
        observed: Timestamp,
        scratch: &mut Scratch,
    ) -> Result<Option<Event>, (RejectKind, Option<String>, String)> {
        if let Some(len) = meta.oversized {
            return Err((
                RejectKind::RecordTooLong,
                None,
                format!(
                    "record of {len} bytes is over the limit of {MAX_RECORD_BYTES} bytes (first {} kept)",
                    bytes.len()
                ),
            ));
        }
        let mut event = self.template.clone();
        event.time_observation = observed;
        match self.format() {
            Format::Csv => {
                let layout = layout.ok_or((
                    RejectKind::Columns,
                    None,
                    "no column layout for this CSV file".into(),
                ))?;
                self.fill_csv(layout, bytes, scratch, &mut event)?;
            }
            Format::List => self.fill_list(bytes, &mut event)?,
            Format::Jsonl | Format::Json => {
                if self.format() == Format::Json {
                    document_error(bytes)?;
                }
                if !self.fill_json(meta, bytes, &mut event)? {
                    return Ok(None);
                }
            }
        }
        for field in &self.required {
            if !event.has(field) {
                return Err((
                    RejectKind::Missing,
                    Some(field.name().into_owned()),
                    format!("required field {field} is empty"),
                ));
            }
        }
        if !(event.source_ip.is_some()
            || event.source_network.is_some()
            || event.source_fqdn.is_some()
            || event.source_url.is_some()
            || event.source_asn.is_some())
        {
            return Err((
                RejectKind::Missing,
                Some("source.ip".into()),
                "the record has no indicator (source.ip, source.network, source.fqdn, source.url or source.asn)".into(),
            ));
        }
        if self.definition.keep_raw {
            event.raw = Some(bytes.to_vec());
        }
        Ok(Some(event))
    }

    fn set(
        &self,
        event: &mut Event,
        field: &Field,
        value: &str,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        if let Some(refused) = control_character(field, value) {
            return Err(refused);
        }
        // The feed's own words for "no value" (`NA`, `-`): an empty cell.
        let value = if !self.empty.is_empty() && self.empty.iter().any(|t| t == value.trim()) {
            ""
        } else {
            value
        };
        let with_scheme;
        let value = match (&self.url_scheme, field) {
            (Some(scheme), Field::SourceUrl)
                if !value.trim().is_empty() && !value.contains("://") =>
            {
                with_scheme = format!("{scheme}://{}", value.trim());
                with_scheme.as_str()
            }
            _ => value,
        };
        let result = match field {
            Field::TimeSource => {
                if value.trim().is_empty() {
                    // Keeps the file's time (`time.header`, `time.file_name`), if any.
                    Ok(())
                } else {
                    self.time_format
                        .parse(value)
                        .map(|t| event.time_source = Some(t))
                }
            }
            Field::TimeObservation if !value.trim().is_empty() => self
                .time_format
                .parse(value)
                .map(|t| event.time_observation = t),
            other => event.set_text(other, value),
        };
        result.map_err(|e| {
            (
                kind_of(&e),
                Some(field.name().into_owned()),
                format!("{field}: {e}"),
            )
        })
    }

    fn fill_csv(
        &self,
        layout: &CsvLayout,
        bytes: &[u8],
        scratch: &mut Scratch,
        event: &mut Event,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        let n = split_csv(bytes, scratch).ok_or((
            RejectKind::Columns,
            None,
            "the record could not be split into columns (a bare carriage return inside the line?)"
                .into(),
        ))?;
        if n != layout.fields.len() {
            return Err((
                RejectKind::Columns,
                None,
                format!("expected {} columns, found {n}", layout.fields.len()),
            ));
        }
        let mut start = 0;
        for (col, &end) in scratch.ends[..n].iter().enumerate() {
            let raw = &scratch.out[start..end];
            start = end;
            let column = || {
                layout.fields[col]
                    .as_ref()
                    .map(|f| f.name().into_owned())
                    .unwrap_or_else(|| format!("column {}", col + 1))
            };
            if raw.len() > MAX_FIELD_BYTES {
                return Err((
                    RejectKind::FieldTooLong,
                    Some(column()),
                    format!(
                        "{} is {} bytes, over the limit of {MAX_FIELD_BYTES}",
                        column(),
                        raw.len()
                    ),
                ));
            }
            let text = std::str::from_utf8(raw).map_err(|e| {
                (
                    RejectKind::Encoding,
                    Some(column()),
                    format!(
                        "{} is not valid UTF-8 (at byte {})",
                        column(),
                        e.valid_up_to()
                    ),
                )
            })?;
            if let Some(field) = &layout.fields[col] {
                self.set(event, field, text)?;
            }
        }
        if self.has_derived() {
            // Every column was checked above (length, UTF-8); read them again by position.
            let cell = |col: usize| -> &str {
                let start = if col == 0 { 0 } else { scratch.ends[col - 1] };
                std::str::from_utf8(&scratch.out[start..scratch.ends[col]]).unwrap_or("")
            };
            let d = &layout.derived;
            for (m, &col) in self.maps.iter().zip(&d.maps) {
                self.apply_map(event, m, cell(col))?;
            }
            for (sp, &col) in self.splits.iter().zip(&d.splits) {
                self.apply_split(event, sp, cell(col))?;
            }
            for (j, cols) in self.joins.iter().zip(&d.joins) {
                let parts: Vec<&str> = cols.iter().map(|&c| cell(c)).collect();
                self.apply_join(event, j, &parts)?;
            }
            for (p, &col) in self.pairs.iter().zip(&d.pairs) {
                self.apply_pairs(event, p, cell(col))?;
            }
            for (c, &col) in self.captures.iter().zip(&d.captures) {
                self.apply_capture(event, c, cell(col))?;
            }
            for (w, &col) in self.whens.iter().zip(&d.whens) {
                self.apply_when(event, w, cell(col))?;
            }
        }
        Ok(())
    }

    fn has_derived(&self) -> bool {
        !(self.maps.is_empty()
            && self.splits.is_empty()
            && self.joins.is_empty()
            && self.pairs.is_empty()
            && self.captures.is_empty()
            && self.whens.is_empty())
    }

    /// `[[when]]`: the rule's fields, when the column has a value (one of `is`, if given).
    fn apply_when(
        &self,
        event: &mut Event,
        w: &When,
        value: &str,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        if self.is_empty_cell(value) {
            return Ok(());
        }
        if let Some(is) = &w.is
            && !is.iter().any(|v| v == value.trim())
        {
            return Ok(());
        }
        for (field, v) in &w.set {
            self.set(event, field, v)?;
        }
        Ok(())
    }

    /// `[[pairs]]`: each `key<assign>value` to its field, other keys to `extra.<key>`.
    fn apply_pairs(
        &self,
        event: &mut Event,
        p: &Pairs,
        value: &str,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        for pair in value.split(p.separator.as_str()) {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (key, v) = match pair.split_once(p.assign.as_str()) {
                Some((k, v)) => (k.trim(), v.trim()),
                None => {
                    return Err((
                        RejectKind::Value,
                        Some(p.from.clone()),
                        format!(
                            "{}: {pair:?} is not a key {:?} value pair",
                            p.from, p.assign
                        ),
                    ));
                }
            };
            match p.fields.get(key) {
                Some(field) => self.set(event, field, v)?,
                None if p.others && !key.is_empty() => {
                    let name: String = key
                        .chars()
                        .map(|c| {
                            if c.is_alphanumeric() || c == '_' || c == '-' {
                                c.to_ascii_lowercase()
                            } else {
                                '_'
                            }
                        })
                        .collect();
                    self.set(event, &Field::Extra(name), v)?;
                }
                None => {}
            }
        }
        Ok(())
    }

    /// `[[capture]]`: each named group to its field; no match sets nothing.
    fn apply_capture(
        &self,
        event: &mut Event,
        c: &Capture,
        value: &str,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        let Some(found) = c.regex.captures(value) else {
            return Ok(());
        };
        for (index, field) in &c.groups {
            if let Some(m) = found.get(*index) {
                self.set(event, field, m.as_str())?;
            }
        }
        Ok(())
    }

    fn is_empty_cell(&self, value: &str) -> bool {
        let v = value.trim();
        v.is_empty() || self.empty.iter().any(|t| t == v)
    }

    /// `[[map]]`: the listed value's target, else the default, else the value itself.
    fn apply_map(
        &self,
        event: &mut Event,
        m: &ValueMap,
        value: &str,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        if self.is_empty_cell(value) {
            return Ok(());
        }
        let key = value.trim();
        let target = m
            .values
            .get(key)
            .or(m.default.as_ref())
            .map(String::as_str)
            .unwrap_or(key);
        self.set(event, &m.to, target)
    }

    /// `[[split]]`: two fields at the last separator (so `[2001:db8::1]:443` works), more at
    /// every separator; brackets around an address are removed.
    fn apply_split(
        &self,
        event: &mut Event,
        sp: &Split,
        value: &str,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        if self.is_empty_cell(value) {
            return Ok(());
        }
        let value = value.trim();
        let unbracket = |p: &str| -> String {
            let p = p.trim();
            p.strip_prefix('[')
                .and_then(|p| p.strip_suffix(']'))
                .unwrap_or(p)
                .to_string()
        };
        let parts: Vec<String> = if sp.into.len() == 2 {
            match value.rsplit_once(sp.separator.as_str()) {
                // An IPv6 address alone (no brackets, no port) is not host:port.
                Some((host, _))
                    if sp.separator == ":" && !value.starts_with('[') && host.contains(':') =>
                {
                    vec![value.to_string()]
                }
                Some((a, b)) => vec![unbracket(a), b.trim().to_string()],
                None => vec![unbracket(value)],
            }
        } else {
            let parts: Vec<String> = value
                .split(sp.separator.as_str())
                .map(|p| p.trim().to_string())
                .collect();
            if parts.len() > sp.into.len() {
                return Err((
                    RejectKind::Columns,
                    Some(sp.from.clone()),
                    format!(
                        "{}: {} parts separated by {:?}, the definition names {} fields",
                        sp.from,
                        parts.len(),
                        sp.separator,
                        sp.into.len()
                    ),
                ));
            }
            parts
        };
        for (field, part) in sp.into.iter().zip(&parts) {
            self.set(event, field, part)?;
        }
        Ok(())
    }

    /// `[[join]]`: the parts joined by the separator; nothing when one is empty.
    fn apply_join(
        &self,
        event: &mut Event,
        j: &Join,
        parts: &[&str],
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        if parts.iter().any(|p| self.is_empty_cell(p)) {
            return Ok(());
        }
        let joined = parts
            .iter()
            .map(|p| p.trim())
            .collect::<Vec<_>>()
            .join(&j.separator);
        self.set(event, &j.into, &joined)
    }

    fn fill_list(
        &self,
        bytes: &[u8],
        event: &mut Event,
    ) -> Result<(), (RejectKind, Option<String>, String)> {
        let field_name = || self.list_field.name().into_owned();
        if bytes.len() > MAX_FIELD_BYTES {
            return Err((
                RejectKind::FieldTooLong,
                Some(field_name()),
                format!(
                    "the line is {} bytes, over the limit of {MAX_FIELD_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            (
                RejectKind::Encoding,
                Some(field_name()),
                format!("the line is not valid UTF-8 (at byte {})", e.valid_up_to()),
            )
        })?;
        let (indicator, rest) = match &self.definition.list.separator {
            Some(sep) => match text.split_once(sep.as_str()) {
                Some((a, b)) => (a.trim(), Some(b.trim())),
                None => (text.trim(), None),
            },
            // Without a separator, anything after the first whitespace is a trailing comment.
            None => {
                let t = text.trim();
                match t.split_once(char::is_whitespace) {
                    Some((a, b)) => (a, Some(b.trim())),
                    None => (t, None),
                }
            }
        };
        self.set(event, &self.list_field, indicator)?;
        if let (Some(field), Some(rest)) = (&self.list_rest, rest) {
            self.set(event, field, rest)?;
        }
        Ok(())
    }

    /// Returns false for a line the definition says to skip.
    fn fill_json(
        &self,
        meta: &LineMeta,
        bytes: &[u8],
        event: &mut Event,
    ) -> Result<bool, (RejectKind, Option<String>, String)> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| {
            let kind = if std::str::from_utf8(bytes).is_err() {
                RejectKind::Encoding
            } else {
                RejectKind::Json
            };
            (kind, None, format!("not a JSON object: {e}"))
        })?;
        let Value::Object(object) = value else {
            let reason = if self.format() == Format::Json {
                // Records of a document are numbered from 1 like lines; the pointer counts from 0.
                let index = meta.line.saturating_sub(1);
                format!(
                    "record {index} ({}/{index}) is {}, not an object",
                    self.input.json_records,
                    json_kind(&value)
                )
            } else {
                "the line is JSON but not an object".into()
            };
            return Err((RejectKind::Json, None, reason));
        };
        for (key, want) in &self.definition.jsonl.skip_where {
            if lookup(&object, key).is_some_and(|v| json_text(v).as_deref() == Some(want.as_str()))
            {
                return Ok(false);
            }
        }
        for (key, field) in &self.mapped {
            let Some(value) = lookup(&object, key) else {
                continue;
            };
            let Some(text) = json_text(value) else {
                if let Field::Extra(name) = field {
                    if let Some(refused) =
                        json_strings(value).find_map(|text| control_character(field, text))
                    {
                        return Err(refused);
                    }
                    event.extra.insert(name.clone(), value.clone());
                    continue;
                }
                return Err((
                    RejectKind::Value,
                    Some(field.name().into_owned()),
                    format!("{key}: expected a string or number, found {value}"),
                ));
            };
            if text.len() > MAX_FIELD_BYTES {
                return Err((
                    RejectKind::FieldTooLong,
                    Some(field.name().into_owned()),
                    format!(
                        "{key} is {} bytes, over the limit of {MAX_FIELD_BYTES}",
                        text.len()
                    ),
                ));
            }
            self.set(event, field, &text)?;
        }
        if self.has_derived() {
            let text_of = |key: &str| -> Result<String, (RejectKind, Option<String>, String)> {
                match lookup(&object, key) {
                    None => Ok(String::new()),
                    Some(v) => json_text(v).ok_or_else(|| {
                        (
                            RejectKind::Value,
                            Some(key.to_string()),
                            format!("{key}: expected a string or number, found {v}"),
                        )
                    }),
                }
            };
            for m in &self.maps {
                self.apply_map(event, m, &text_of(&m.from)?)?;
            }
            for sp in &self.splits {
                self.apply_split(event, sp, &text_of(&sp.from)?)?;
            }
            for j in &self.joins {
                let parts = j
                    .from
                    .iter()
                    .map(|k| text_of(k))
                    .collect::<Result<Vec<_>, _>>()?;
                let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
                self.apply_join(event, j, &parts)?;
            }
            for p in &self.pairs {
                self.apply_pairs(event, p, &text_of(&p.from)?)?;
            }
            for c in &self.captures {
                self.apply_capture(event, c, &text_of(&c.from)?)?;
            }
            for w in &self.whens {
                self.apply_when(event, w, &text_of(&w.from)?)?;
            }
        }
        Ok(true)
    }
}

/// The refusal of a field's text that holds a control character (NUL, a line break, an
/// escape, DEL, C1 ...), naming the field, the character and where it is.
fn control_character(field: &Field, text: &str) -> Option<(RejectKind, Option<String>, String)> {
    let (at, c) = text.char_indices().find(|(_, c)| c.is_control())?;
    let name = field.name().into_owned();
    let reason = format!(
        "{name} contains the control character U+{:04X} at byte {at}",
        c as u32
    );
    Some((RejectKind::Control, Some(name), reason))
}

/// Every string inside a JSON value (keys included), depth first.
fn json_strings(value: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match value {
        Value::String(s) => Box::new(std::iter::once(s.as_str())),
        Value::Array(items) => Box::new(items.iter().flat_map(json_strings)),
        Value::Object(map) => Box::new(
            map.iter()
                .flat_map(|(k, v)| std::iter::once(k.as_str()).chain(json_strings(v))),
        ),
        _ => Box::new(std::iter::empty()),
    }
}

/// The bytes kept as evidence: the record, or for a JSON document that could not be read, the
/// sample of the document its marker line carries.
fn raw_evidence(format: Format, bytes: &[u8]) -> &[u8] {
    if format == Format::Json
        && let Some(rest) = bytes.strip_prefix(&[crate::input::DOCUMENT_ERROR])
        && let Some(end) = memchr::memchr(crate::input::DOCUMENT_ERROR, rest)
    {
        return &rest[end + 1..];
    }
    bytes
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A whole JSON document that could not be read comes as one marker line (see
/// [`crate::input`]): it is quarantined with the reason found when the document was read.
fn document_error(bytes: &[u8]) -> Result<(), (RejectKind, Option<String>, String)> {
    let Some(rest) = bytes.strip_prefix(&[crate::input::DOCUMENT_ERROR]) else {
        return Ok(());
    };
    let end = memchr::memchr(crate::input::DOCUMENT_ERROR, rest).unwrap_or(rest.len());
    let reason = String::from_utf8_lossy(&rest[..end]).into_owned();
    Err((RejectKind::Json, None, reason))
}

/// A key, a dotted path into nested objects (`"source.ip"` is tried as a key first), or a JSON
/// Pointer relative to the record (`/attributes/ip`).
fn lookup<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    if let Some(pointer) = key.strip_prefix('/') {
        let (first, rest) = match pointer.find('/') {
            Some(at) => (&pointer[..at], &pointer[at..]),
            None => (pointer, ""),
        };
        let first = first.replace("~1", "/").replace("~0", "~");
        let value = object.get(&first)?;
        return if rest.is_empty() {
            Some(value)
        } else {
            value.pointer(rest)
        };
    }
    if let Some(v) = object.get(key) {
        return Some(v);
    }
    let mut parts = key.split('.');
    let mut current = object.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Splits one CSV line into `scratch.out` / `scratch.ends`; returns the number of fields.
fn split_csv(line: &[u8], scratch: &mut Scratch) -> Option<usize> {
    if scratch.long.is_some() {
        return split_long(line, scratch);
    }
    scratch.csv.reset();
    if scratch.out.len() < line.len() + 1 {
        scratch.out.resize(line.len() + 1, 0);
    }
    let mut input = line;
    let mut nout = 0;
    let mut nend = 0;
    loop {
        let (res, nin, o, e) =
            scratch
                .csv
                .read_record(input, &mut scratch.out[nout..], &mut scratch.ends[nend..]);
        input = &input[nin..];
        nout += o;
        nend += e;
        match res {
            csv_core::ReadRecordResult::InputEmpty => {
                // Signal the end of the record: csv-core finishes it on empty input.
                if input.is_empty() {
                    let (res, _, o, e) = scratch.csv.read_record(
                        &[],
                        &mut scratch.out[nout..],
                        &mut scratch.ends[nend..],
                    );
                    nout += o;
                    nend += e;
                    match res {
                        csv_core::ReadRecordResult::Record => return Some(nend),
                        csv_core::ReadRecordResult::OutputEndsFull => {
                            let len = scratch.ends.len();
                            scratch.ends.resize(len * 2, 0);
                            continue;
                        }
                        csv_core::ReadRecordResult::End => return Some(nend.max(1)),
                        _ => return None,
                    }
                }
            }
            csv_core::ReadRecordResult::OutputFull => {
                let len = scratch.out.len();
                scratch.out.resize(len * 2, 0);
            }
            csv_core::ReadRecordResult::OutputEndsFull => {
                let len = scratch.ends.len();
                scratch.ends.resize(len * 2, 0);
            }
            // A record that ends before the line does (csv-core also ends records at a bare
            // `\r`) would silently lose the rest of the line: refuse it instead.
            csv_core::ReadRecordResult::Record => return input.is_empty().then_some(nend),
            csv_core::ReadRecordResult::End => return Some(nend),
        }
    }
}

/// Splits a line at a multi-character delimiter into `scratch.out` / `scratch.ends`. A field
/// that starts (after blanks) with the quote character runs to the closing quote (a doubled
/// quote is one quote character) and may contain the delimiter; `None` for an unclosed quote.
fn split_long(line: &[u8], scratch: &mut Scratch) -> Option<usize> {
    let (delim, quote) = scratch.long.as_ref()?;
    let (delim, quote) = (delim.as_slice(), *quote);
    scratch.out.clear();
    scratch.ends.clear();
    let find = |hay: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?
            .windows(delim.len())
            .position(|w| w == delim)
            .map(|p| p + from)
    };
    let mut i = 0;
    loop {
        let blanks = line[i..]
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        if line.get(i + blanks) == Some(&quote) {
            i += blanks + 1;
            loop {
                let close = line[i..].iter().position(|b| *b == quote)? + i;
                scratch.out.extend_from_slice(&line[i..close]);
                i = close + 1;
                if line.get(i) == Some(&quote) {
                    scratch.out.push(quote);
                    i += 1;
                } else {
                    break;
                }
            }
            // After the closing quote: blanks, then the delimiter or the end of the line.
            let rest = line[i..]
                .iter()
                .take_while(|b| **b == b' ' || **b == b'\t')
                .count();
            if i + rest == line.len() {
                scratch.ends.push(scratch.out.len());
                return Some(scratch.ends.len());
            }
            // The delimiter may itself begin with blanks (`  |  `).
            let at = (0..=rest).find(|k| line[i + k..].starts_with(delim))?;
            i += at + delim.len();
            scratch.ends.push(scratch.out.len());
            continue;
        }
        match find(line, i) {
            Some(at) => {
                scratch.out.extend_from_slice(&line[i..at]);
                scratch.ends.push(scratch.out.len());
                i = at + delim.len();
            }
            None => {
                scratch.out.extend_from_slice(&line[i..]);
                scratch.ends.push(scratch.out.len());
                return Some(scratch.ends.len());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::{RecordReader, SkipRules};

    /// Reads a small CSV input (header first) and parses it in one batch.
    fn parse_csv(feed: &Feed, input: &[u8]) -> (Vec<Event>, Vec<Rejection>) {
        let mut scratch = feed.scratch();
        let mut reader = RecordReader::new(input, SkipRules::default(), 0, 1);
        let (_, header) = reader.read_first_record().unwrap().unwrap();
        let names = feed.split_header(&header, &mut scratch).unwrap();
        let layout = feed.csv_layout(Some(&names)).unwrap();
        let batch = reader.next_batch(10).unwrap().unwrap();
        let (mut events, mut rejections) = (Vec::new(), Vec::new());
        let now = jiff::Timestamp::UNIX_EPOCH;
        feed.parse_batch(
            Some(&layout),
            &batch,
            now,
            &mut scratch,
            &mut events,
            &mut rejections,
        );
        (events, rejections)
    }

    fn feed() -> Feed {
        Feed::from_toml(
            "name='x'\nformat='csv'\n[fields]\nip='source.ip'\nmalware='malware.name'\n",
            "t.toml",
        )
        .unwrap()
    }

    /// Found while writing the fuzz targets: csv-core ends a record at a bare `\r`, and the rest
    /// of the line was dropped without a trace.
    #[test]
    fn a_bare_carriage_return_is_rejected_not_truncated() {
        let feed = feed();
        let input = b"ip,malware\n192.0.2.1,mirai\r192.0.2.2,gafgyt\n192.0.2.3,mozi\r\n";
        let (events, rejections) = parse_csv(&feed, input);
        assert_eq!(events.len(), 1, "the CRLF line is fine");
        assert_eq!(events[0].source_ip, Some("192.0.2.3".parse().unwrap()));
        assert_eq!(rejections.len(), 1);
        assert_eq!(
            (rejections[0].line, rejections[0].kind),
            (2, RejectKind::Columns)
        );
        assert_eq!(rejections[0].raw, b"192.0.2.1,mirai\r192.0.2.2,gafgyt");
        // A file with old Mac line endings is one line: its header cannot be split.
        let mac = feed.split_header(b"ip,malware\r192.0.2.1,mirai", &mut feed.scratch());
        assert!(mac.is_err());
    }

    /// A type outside RSIT is its own kind of rejection, naming the field and the value.
    #[test]
    fn an_unknown_taxonomy_value_is_quarantined() {
        let feed = Feed::from_toml(
            "name='x'\nformat='csv'\n[fields]\nip='source.ip'\ntype='classification.type'\n",
            "t.toml",
        )
        .unwrap();
        let input = b"ip,type\n192.0.2.1,botnet\n192.0.2.2,botnet drone\n192.0.2.3,c2-server\n";
        let (events, rejections) = parse_csv(&feed, input);
        assert_eq!(rejections.len(), 1);
        let r = &rejections[0];
        assert_eq!(
            (r.line, r.kind, r.field.as_deref()),
            (2, RejectKind::Taxonomy, Some("classification.type"))
        );
        assert!(r.reason.contains("botnet"), "{}", r.reason);
        // The legacy spelling is normalised as IntelMQ does.
        let types: Vec<_> = events
            .iter()
            .map(|e| e.classification_type.as_str())
            .collect();
        assert_eq!(types, ["infected-system", "c2-server"]);
    }
}
