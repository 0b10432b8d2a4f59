//! Records → events. Every failure is a [`Rejection`] with the line, the raw bytes and the reason.

use crate::definition::{CsvLayout, Feed, Format};
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
}

impl Feed {
    /// Scratch space for [`Feed::parse_batch`] on one thread.
    pub fn scratch(&self) -> Scratch {
        let c = &self.definition.csv;
        let csv = csv_core::ReaderBuilder::new()
            .delimiter(c.delimiter as u8)
            .quote(c.quote as u8)
            .build();
        Scratch {
            csv,
            out: vec![0; 4096],
            ends: vec![0; 64],
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
            Format::Jsonl => Vec::new(),
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
                    raw: bytes.to_vec(),
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
            Format::Jsonl => {
                if !self.fill_json(bytes, &mut event)? {
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
            || event.source_url.is_some())
        {
            return Err((
                RejectKind::Missing,
                Some("source.ip".into()),
                "the record has no indicator (source.ip, source.network, source.fqdn or source.url)".into(),
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
        let result = match field {
            Field::TimeSource => {
                if value.trim().is_empty() {
                    event.time_source = None;
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
        Ok(())
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
            return Err((
                RejectKind::Json,
                None,
                "the line is JSON but not an object".into(),
            ));
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
        Ok(true)
    }
}

/// A key, or a dotted path into nested objects (`"source.ip"` is tried as a key first).
fn lookup<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
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
