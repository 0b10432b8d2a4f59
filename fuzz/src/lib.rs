//! Shared driver for the fuzz targets: the fixed feed definitions, and [`check_records`], which
//! runs bytes through the same read → header → parse steps as `focal-pipeline`'s ingest and
//! asserts the invariants `focal-feeds` promises (see its crate docs):
//!
//! - every record comes out exactly once: `events + rejections (+ jsonl skip_where lines) == lines`
//!   in every batch, rejections name lines of their own batch, in order, and carry the line's
//!   bytes; events carry their line's bytes in `raw` (the definitions keep `keep_raw = true`);
//! - the reader cuts exactly the lines an independent `split('\n')` model says (line numbers,
//!   bytes, comment/blank skipping, CR stripping), whatever the sizes of the underlying reads
//!   (including reads that end between a `\r` and its `\n`);
//! - batches are numbered in order, never over the batch size, and their `end_offset`/`end_line`
//!   resume exactly where the next batch starts (the pipeline's crash-resume relies on this);
//! - nothing panics.

use focal_feeds::read::{
    MAX_RECORD_BYTES, OVERSIZED_SAMPLE_BYTES, RecordBatch, RecordReader, SkipRules,
};
use focal_feeds::{Feed, Format, Rejection};
use focal_model::Event;
use jiff::Timestamp;
use serde_json::Value;
use std::io::{self, Read};

/// Small batches, so that a few hundred bytes of input already span several batches.
pub const BATCH_RECORDS: usize = 3;

/// The CSV target's feed: `bench/reference-feed.toml` (the botnet-drone workload), plus
/// `comment = "#"` so that the comment-skipping path is reachable too.
pub const CSV_FEED: &str = r##"
name = "reference-drones"
provider = "Focal reference workload"
format = "csv"
tlp = "AMBER"
required = ["time.source", "source.ip", "malware.name"]

[csv]
header = true
comment = "#"

[fields]
timestamp = "time.source"
ip = "source.ip"
port = "source.port"
protocol = "protocol.transport"
hostname = "source.fqdn"
malware = "malware.name"
dst_ip = "destination.ip"
dst_port = "destination.port"

[constants]
"classification.type" = "infected-system"

[time]
format = "rfc3339"

[dedup]
key = ["source.ip", "malware.name|classification.type", "feed.name"]
window = "1d"
"##;

/// The list target's feed: Spamhaus DROP's text layout, `192.0.2.0/24 ; SBL900001`.
pub const LIST_FEED: &str = r##"
name = "spamhaus-drop"
provider = "Spamhaus"
format = "list"
tlp = "CLEAR"
required = ["source.network"]

[list]
field = "source.network"
comment = [";", "#"]
separator = ";"
rest_field = "extra.sbl_id"

[constants]
"classification.type" = "blacklist"
"##;

/// The JSON-lines target's feed: a few flat keys, one dotted path (`src.port`), a non-scalar
/// `extra.*` (`tags`), Unix-seconds timestamps, and a Spamhaus-style `skip_where` metadata line.
/// A JSON document feed: records in the array at `/data`, fields by JSON Pointer, small limits.
pub const JSON_FEED: &str = r##"
name = "json-sample"
format = "json"
[json]
records = "/data"
max_bytes = "1MiB"
[input]
max_bytes = "1MiB"
[fields]
"/ip" = "source.ip"
"/a/port" = "source.port"
"/a/when" = "time.source"
"/tags" = "extra.tags"
[constants]
"classification.type" = "scanner"
"##;

pub const JSONL_FEED: &str = r##"
name = "jsonl-sample"
provider = "Focal fuzz"
format = "jsonl"
tlp = "GREEN"
required = ["source.ip"]

[jsonl]
skip_where = { type = "metadata" }

[fields]
ip = "source.ip"
"src.port" = "source.port"
ts = "time.source"
malware = "malware.name"
host = "source.fqdn"
proto = "protocol.transport"
cc = "source.geolocation.cc"
asn = "source.asn"
tags = "extra.tags"

[constants]
"classification.type" = "c2-server"

[time]
format = "unix"
"##;

/// Compiles one of the fixed definitions above.
pub fn fixed_feed(toml: &str) -> Feed {
    Feed::from_toml(toml, "fuzz").expect("the fuzz target's own feed definition is valid")
}

/// `time.observation` for records without a time: fixed, so that runs are reproducible.
fn observed() -> Timestamp {
    Timestamp::from_second(1_795_000_000).unwrap()
}

/// A line as the reader cut it (or as the model says it should be cut).
#[derive(Clone, PartialEq, Eq)]
struct Cut {
    line: u64,
    bytes: Vec<u8>,
    oversized: Option<u64>,
}

/// Short enough to read in a failure message, even for a 1 MiB line.
impl std::fmt::Debug for Cut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = &self.bytes[..self.bytes.len().min(48)];
        write!(
            f,
            "line {} ({} bytes{}): b\"{}\"",
            self.line,
            self.bytes.len(),
            self.oversized
                .map(|n| format!(", oversized: {n}"))
                .unwrap_or_default(),
            shown.escape_ascii()
        )?;
        if shown.len() < self.bytes.len() {
            f.write_str("...")
        } else {
            Ok(())
        }
    }
}

/// A source whose reads return a few bytes at a time (sizes 1..=31, varying), like a pipe or a
/// socket, so that lines straddle reads and the reader's refill/compaction path is exercised.
/// Every read also ends just after a `\r`, so a CRLF is always split across two reads: the
/// reader must not judge a line (its length, the record limit) before it has seen the `\n`.
/// For inputs of 64 KiB or more (only reachable with a large `-max_len`, or by running a target on
/// a file) reads are up to 64 KiB instead, so that lines near [`MAX_RECORD_BYTES`] stay cheap.
struct ShortReads<'a> {
    data: &'a [u8],
    state: u32,
    max: usize,
}

impl<'a> ShortReads<'a> {
    fn new(data: &'a [u8], seed: u32) -> Self {
        ShortReads {
            data,
            state: seed,
            max: if data.len() < 1 << 16 { 31 } else { 1 << 16 },
        }
    }
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.state = self.state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let want = 1 + (self.state >> 8) as usize % self.max;
        let mut n = want.min(buf.len()).min(self.data.len());
        if let Some(cr) = self.data[..n].iter().position(|&b| b == b'\r') {
            n = cr + 1;
        }
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The reader's skip rule, restated: blank (ASCII whitespace only) or a comment prefix after
/// leading ASCII whitespace.
fn model_skips(rules: &SkipRules, line: &[u8]) -> bool {
    let n = line.iter().take_while(|c| c.is_ascii_whitespace()).count();
    let trimmed = &line[n..];
    trimmed.is_empty()
        || rules
            .comment_prefixes
            .iter()
            .any(|p| trimmed.starts_with(p))
}

/// The lines of `data` that are records, by an independent model of the reader: split on `\n`,
/// drop one trailing `\r`, number from 1, drop blank and comment lines. With `skip_header`, the
/// first such line is the CSV header and is dropped too. Only valid for inputs without a line
/// over [`MAX_RECORD_BYTES`].
fn model_cuts(data: &[u8], rules: &SkipRules, skip_header: bool) -> Vec<Cut> {
    let mut out = Vec::new();
    let mut header_pending = skip_header;
    let mut segments: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    if data.ends_with(b"\n") || data.is_empty() {
        segments.pop(); // After a final terminator there is no further line.
    }
    for (i, seg) in segments.into_iter().enumerate() {
        let bytes = seg.strip_suffix(b"\r").unwrap_or(seg);
        if model_skips(rules, bytes) {
            continue;
        }
        if header_pending {
            header_pending = false;
            continue;
        }
        out.push(Cut {
            line: i as u64 + 1,
            bytes: bytes.to_vec(),
            oversized: None,
        });
    }
    out
}

/// The text `parse.rs` compares with a `skip_where` value.
fn json_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Whether a JSON line is one the definition's `[jsonl] skip_where` says is not a record
/// (restated independently: a key, or a dotted path tried after the key itself).
fn jsonl_skipped(feed: &Feed, bytes: &[u8]) -> bool {
    if !matches!(feed.format(), Format::Jsonl | Format::Json)
        || feed.definition.jsonl.skip_where.is_empty()
    {
        return false;
    }
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(bytes) else {
        return false;
    };
    feed.definition.jsonl.skip_where.iter().any(|(key, want)| {
        let found = object.get(key).or_else(|| {
            let mut parts = key.split('.');
            let mut current = object.get(parts.next()?)?;
            for part in parts {
                current = current.as_object()?.get(part)?;
            }
            Some(current)
        });
        found.and_then(json_text).as_deref() == Some(want.as_str())
    })
}

/// Reads every line from `reader` into cuts, checking the batch bookkeeping on the way.
fn cut_all<R: Read>(
    mut reader: RecordReader<R>,
    start_line: u64,
    mut seen: impl FnMut(&RecordBatch),
) -> Vec<Cut> {
    let mut cuts = Vec::new();
    let mut seq = 0;
    let mut last_line = start_line - 1;
    let mut last_offset = reader.offset();
    while let Some(batch) = reader
        .next_batch(BATCH_RECORDS)
        .expect("reading from memory cannot fail")
    {
        assert_eq!(batch.seq, seq, "batches are numbered in order");
        seq += 1;
        assert!(
            batch.lines.len() <= BATCH_RECORDS,
            "batch {} has {} lines, over the batch size",
            batch.seq,
            batch.lines.len()
        );
        assert!(
            batch.end_offset >= last_offset,
            "end_offset went backwards: {} after {}",
            batch.end_offset,
            last_offset
        );
        assert!(
            batch.end_line >= last_line,
            "end_line went backwards: {} after {}",
            batch.end_line,
            last_line
        );
        assert!(
            batch.end_offset > last_offset || !batch.lines.is_empty(),
            "an empty batch that consumed nothing (the reader would loop forever)"
        );
        for meta in &batch.lines {
            assert!(
                meta.line > last_line,
                "line {} not after line {}",
                meta.line,
                last_line
            );
            assert!(
                meta.line <= batch.end_line,
                "line {} past the batch's end_line {}",
                meta.line,
                batch.end_line
            );
            assert!(
                meta.start <= meta.end && meta.end as usize <= batch.raw.len(),
                "line {} has a bad byte range",
                meta.line
            );
            last_line = meta.line;
            let bytes = batch.line_bytes(meta);
            assert!(
                !bytes.contains(&b'\n'),
                "line {} contains a line feed",
                meta.line
            );
            match meta.oversized {
                None => assert!(
                    bytes.len() <= MAX_RECORD_BYTES,
                    "line {} was kept whole at {} bytes, over MAX_RECORD_BYTES ({MAX_RECORD_BYTES})",
                    meta.line,
                    bytes.len()
                ),
                Some(total) => {
                    assert_eq!(
                        bytes.len(),
                        OVERSIZED_SAMPLE_BYTES,
                        "oversized line {} keeps a sample of the wrong size",
                        meta.line
                    );
                    assert!(
                        total > MAX_RECORD_BYTES as u64,
                        "line {} of {total} bytes was called oversized",
                        meta.line
                    );
                }
            }
            cuts.push(Cut {
                line: meta.line,
                bytes: bytes.to_vec(),
                oversized: meta.oversized,
            });
        }
        last_line = batch.end_line;
        last_offset = batch.end_offset;
        seen(&batch);
    }
    assert!(
        reader.next_batch(BATCH_RECORDS).unwrap().is_none(),
        "the reader yields more after saying it is done"
    );
    cuts
}

/// Checks one parsed batch: every line comes out exactly once, as an event or a rejection (or,
/// for JSON lines, as a `skip_where` line), in order.
fn check_parsed(feed: &Feed, batch: &RecordBatch, events: &[Event], rejections: &[Rejection]) {
    let skipped = batch
        .lines
        .iter()
        .filter(|m| m.oversized.is_none() && jsonl_skipped(feed, batch.line_bytes(m)))
        .count();
    assert_eq!(
        events.len() + rejections.len() + skipped,
        batch.lines.len(),
        "batch {}: {} events + {} rejections + {} skip_where lines != {} lines",
        batch.seq,
        events.len(),
        rejections.len(),
        skipped,
        batch.lines.len()
    );
    for r in rejections {
        assert!(
            batch.lines.iter().any(|m| m.line == r.line),
            "rejection for line {} ({:?}: {}) is not a line of batch {} (lines {:?})",
            r.line,
            r.kind,
            r.reason,
            batch.seq,
            batch.lines.iter().map(|m| m.line).collect::<Vec<_>>()
        );
    }
    // The stronger form: walk the lines in order and match each to its outcome.
    let mut events = events.iter();
    let mut rejections = rejections.iter().peekable();
    for meta in &batch.lines {
        let bytes = batch.line_bytes(meta);
        if let Some(r) = rejections.next_if(|r| r.line == meta.line) {
            // A JSON document that could not be read comes as one marker line (a leading NUL,
            // the reason, a NUL, a sample of the document): its evidence is the sample.
            let marker = feed.format() == Format::Json
                && bytes.first() == Some(&0)
                && bytes[1..].contains(&0);
            assert!(
                marker || r.raw == bytes,
                "rejection of line {} does not carry the line's bytes",
                meta.line
            );
            assert!(
                !r.reason.is_empty(),
                "rejection of line {} has no reason",
                meta.line
            );
            if meta.oversized.is_some() {
                assert_eq!(r.kind, focal_feeds::RejectKind::RecordTooLong);
            }
            continue;
        }
        assert!(
            meta.oversized.is_none(),
            "oversized line {} became an event",
            meta.line
        );
        if jsonl_skipped(feed, bytes) {
            continue;
        }
        let event = events
            .next()
            .unwrap_or_else(|| panic!("line {} is neither an event nor a rejection", meta.line));
        if feed.definition.keep_raw {
            assert_eq!(
                event.raw.as_deref(),
                Some(bytes),
                "the event for line {} does not carry the line's bytes",
                meta.line
            );
        }
        assert!(
            event.source_ip.is_some()
                || event.source_network.is_some()
                || event.source_fqdn.is_some()
                || event.source_url.is_some()
                || event.source_asn.is_some(),
            "the event for line {} has no indicator",
            meta.line
        );
    }
    assert!(
        events.next().is_none(),
        "more events than non-rejected lines in batch {}",
        batch.seq
    );
    assert!(
        rejections.next().is_none(),
        "a rejection out of line order in batch {}",
        batch.seq
    );
}

/// Runs `data` through `feed` the way the ingest pipeline does and checks the invariants above.
pub fn check_records(feed: &Feed, data: &[u8]) {
    let rules = feed.skip_rules();
    let mut scratch = feed.scratch();
    let mut reader = RecordReader::new(data, rules.clone(), 0, 1);
    // The CSV header, as `focal-pipeline`'s ingest reads it.
    let csv_header = feed.format() == Format::Csv && feed.definition.csv.header;
    let layout = match feed.format() {
        Format::Csv => {
            let header = if csv_header {
                match reader
                    .read_first_record()
                    .expect("reading from memory cannot fail")
                {
                    Some((_, line)) => match feed.split_header(&line, &mut scratch) {
                        Ok(names) => Some(names),
                        Err(_) => return, // The ingest stops with a layout error: fine.
                    },
                    None => return, // An empty file: no records.
                }
            } else {
                None
            };
            match feed.csv_layout(header.as_deref()) {
                Ok(layout) => Some(layout),
                Err(_) => return, // A header that does not fit the definition: fine.
            }
        }
        _ => None,
    };
    let (start_offset, start_line) = (reader.offset(), reader.next_line_number());
    assert!(start_offset <= data.len() as u64);

    let mut events = Vec::new();
    let mut rejections = Vec::new();
    let mut first_batch_end = None;
    let cuts = cut_all(reader, start_line, |batch| {
        events.clear();
        rejections.clear();
        feed.parse_batch(
            layout.as_ref(),
            batch,
            observed(),
            &mut scratch,
            &mut events,
            &mut rejections,
        );
        check_parsed(feed, batch, &events, &rejections);
        if first_batch_end.is_none() {
            first_batch_end = Some((batch.end_offset, batch.end_line));
        }
    });

    // The reader cuts the lines the model says it should.
    if data.len() <= MAX_RECORD_BYTES {
        let model = model_cuts(data, &rules, csv_header);
        assert_eq!(cuts, model, "the reader's lines differ from the model's");
    }

    // The same lines whatever the sizes of the underlying reads.
    let rest = &data[start_offset as usize..];
    let short = RecordReader::new(
        ShortReads::new(rest, data.len() as u32),
        rules.clone(),
        start_offset,
        start_line,
    );
    assert_eq!(
        cut_all(short, start_line, |_| {}),
        cuts,
        "short reads change the lines read"
    );

    // Resuming after the first batch (as the pipeline does after a crash) reads exactly the rest.
    if let Some((offset, line)) = first_batch_end {
        assert!(
            offset <= data.len() as u64,
            "end_offset {offset} is past the end of the input"
        );
        let resumed = RecordReader::new(&data[offset as usize..], rules, offset, line + 1);
        let after: Vec<Cut> = cuts.iter().filter(|c| c.line > line).cloned().collect();
        assert_eq!(
            cut_all(resumed, line + 1, |_| {}),
            after,
            "resuming at the first batch's end reads different lines"
        );
    }
}

/// A plausible value for a field of `feed` (times in the feed's own format), for [`sample_input`].
fn sample_value(feed: &Feed, field: &str, row: usize) -> String {
    let when = Timestamp::from_second(1_795_000_000 + row as i64 * 3_601).unwrap();
    let value = match field {
        "time.source" | "time.observation" => match feed.definition.time.format.trim() {
            "rfc3339" | "iso8601" => when.to_string(),
            "unix" | "epoch" => format!("{}.25", when.as_second()),
            "unix_ms" | "epoch_ms" => when.as_millisecond().to_string(),
            pattern => jiff::fmt::strtime::format(
                pattern,
                &when.to_zoned_datetime(jiff::tz::TimeZone::UTC),
            )
            .unwrap_or_default(),
        },
        "source.ip" | "destination.ip" => {
            ["192.0.2.1", "2001:db8::7", "198.51.100.254"][row % 3].to_string()
        }
        "source.network" => ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"][row % 3].to_string(),
        "source.port" | "destination.port" => ["443", "0", "65535"][row % 3].to_string(),
        "protocol.transport" => ["tcp", "UDP", "6"][row % 3].to_string(),
        "source.fqdn" | "destination.fqdn" => {
            ["host.example", "A.Example.", "x_y.example"][row % 3].to_string()
        }
        "source.url" => "http://x.example/a?b=c".to_string(),
        "source.asn" => ["AS64496", "64497", "as1"][row % 3].to_string(),
        "source.geolocation.cc" | "source.geolocation.country_code" => "at".to_string(),
        "classification.type" => "scanner".to_string(),
        "classification.taxonomy" => "information-gathering".to_string(),
        "tlp" => "TLP:GREEN".to_string(),
        _ => format!("value {row}"),
    };
    // The third row breaks every other value, to reach the rejection paths too.
    if row == 2 && field.len().is_multiple_of(2) {
        format!("{value}!")
    } else {
        value
    }
}

/// A small input in the shape a definition expects, for the `feed_definition` target: a header
/// made of its mapped column names, rows of plausible values for the mapped fields (in the feed's
/// time format), comments, blanks and junk.
pub fn sample_input(feed: &Feed) -> Vec<u8> {
    let mut out = String::new();
    let fields = &feed.definition.fields;
    match feed.format() {
        Format::Csv => {
            let d = feed.definition.csv.delimiter.to_string();
            // (header name, field name) per column.
            let columns: Vec<(String, String)> = if feed.definition.csv.columns.is_empty() {
                fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            } else {
                feed.definition
                    .csv
                    .columns
                    .iter()
                    .map(|c| (c.clone(), c.clone()))
                    .collect()
            };
            out.push_str("# comment\n\n");
            if feed.definition.csv.header {
                out.push_str(
                    &columns
                        .iter()
                        .map(|(h, _)| h.as_str())
                        .collect::<Vec<_>>()
                        .join(&d),
                );
                out.push('\n');
            }
            for row in 0..3 {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|(_, f)| sample_value(feed, f, row))
                    .collect();
                out.push_str(&cells.join(&d));
                out.push_str("\r\n");
            }
            out.push_str("\"unterminated\n");
        }
        Format::List => {
            for row in 0..3 {
                out.push_str(&sample_value(feed, &feed.definition.list.field, row));
                if let Some(sep) = &feed.definition.list.separator {
                    out.push_str(sep);
                }
                if let Some(rest) = &feed.definition.list.rest_field {
                    out.push_str(&sample_value(feed, rest, row));
                }
                out.push('\n');
            }
            out.push_str("; comment\n# comment\n192.0.2.0/24 ; SBL1\n198.51.100.7\nexample.com\n\n2001:db8::/32 x\nnot an ip");
        }
        Format::Jsonl | Format::Json => {
            for row in 0..3 {
                let mut object = serde_json::Map::new();
                for (key, field) in fields {
                    // A dotted key is written nested on odd rows, flat on even ones.
                    let value = Value::String(sample_value(feed, field, row));
                    match key.split_once('.') {
                        Some((outer, inner)) if row % 2 == 1 => {
                            let mut nested = serde_json::Map::new();
                            nested.insert(inner.to_string(), value);
                            object.insert(outer.to_string(), Value::Object(nested));
                        }
                        _ => {
                            object.insert(key.clone(), value);
                        }
                    }
                }
                out.push_str(&Value::Object(object).to_string());
                out.push('\n');
            }
            for (key, want) in &feed.definition.jsonl.skip_where {
                let mut object = serde_json::Map::new();
                object.insert(key.clone(), Value::String(want.clone()));
                out.push_str(&Value::Object(object).to_string());
                out.push('\n');
            }
            out.push_str("[1,2]\n{not json\n");
        }
    }
    out.into_bytes()
}
