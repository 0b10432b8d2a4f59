//! Opening a feed's file as the stream of lines the [`crate::read::RecordReader`] cuts into
//! records: gzip, zip and tar (plain or gzipped) are decompressed as streams, and a JSON
//! document (`format = "json"`) becomes one line per record.
//!
//! Everything here is bounded. Decompressed data is limited to `input.max_bytes` (a
//! decompression bomb stops with an error naming the limit, after at most that many bytes), a
//! JSON document to `json.max_bytes`. Offsets and line numbers of a compressed file are those of
//! the decompressed stream; a resumed run opens the file again and skips to its offset.

use crate::definition::{Feed, Format};
use crate::read::{MAX_RECORD_BYTES, OVERSIZED_SAMPLE_BYTES};
use serde_json::Value;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

/// How a feed's files are packed (`input.compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Recognised by the first bytes: gzip (`1f 8b`), zip (`PK 03 04`), tar (`ustar` at byte
    /// 257, plain or inside gzip); anything else is read as it is.
    Auto,
    None,
    Gzip,
    Zip,
    Tar,
    TarGz,
}

impl Compression {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text.trim() {
            "auto" => Compression::Auto,
            "none" => Compression::None,
            "gzip" | "gz" => Compression::Gzip,
            "zip" => Compression::Zip,
            "tar" => Compression::Tar,
            "tar.gz" | "tgz" => Compression::TarGz,
            other => {
                return Err(format!(
                    "{other:?} is not one of auto, none, gzip, zip, tar, tar.gz"
                ));
            }
        })
    }
}

/// The default and largest `input.max_bytes` (decompressed bytes of one file).
pub const DEFAULT_DECOMPRESSED_BYTES: u64 = 4 << 30;
/// The default `json.max_bytes`: a JSON document is held in memory whole (as parsed values,
/// several times its size), so its limit is lower than a stream's.
pub const DEFAULT_JSON_BYTES: u64 = 256 << 20;
pub const LARGEST_JSON_BYTES: u64 = 4 << 30;

/// A line that stands for a whole JSON document that could not be read: it starts with a NUL
/// byte, which serde_json never writes unescaped, so no record can be mistaken for it. The
/// reason follows, then a NUL, then a sample of the document (line breaks as spaces).
pub(crate) const DOCUMENT_ERROR: u8 = 0;

/// The compiled `[input]` and `[json]` settings.
#[derive(Debug, Clone)]
pub struct InputSettings {
    pub compression: Compression,
    /// Which members of a zip or tar archive are read (all regular files without it).
    pub members: Option<regex::Regex>,
    pub max_bytes: u64,
    /// `json.records`: a JSON Pointer to the array of records ("" for a top-level array).
    pub json_records: String,
    pub json_max_bytes: u64,
}

impl Feed {
    /// `time.source` for the records of `path` that give none: from a line among the file's
    /// first ones matching `time.header`, else from its name matching `time.file_name`, else
    /// (with `time.last_modified`) the file's modification time, which a pull sets to the
    /// server's `Last-Modified`. A pattern that finds nothing gives nothing; a time found that
    /// does not parse is an error.
    pub fn file_time(&self, path: &Path) -> io::Result<Option<jiff::Timestamp>> {
        let parse = |(regex, format): &(regex::Regex, crate::time::TimeFormat),
                     text: &str,
                     setting: &str|
         -> io::Result<Option<jiff::Timestamp>> {
            let Some(caps) = regex.captures(text) else {
                return Ok(None);
            };
            let Some(found) = caps.name("time").or_else(|| caps.get(1)) else {
                return Ok(None);
            };
            format.parse(found.as_str()).map(Some).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidData, format!("time.{setting}: {e}"))
            })
        };
        if let Some(header) = &self.header_time {
            let stream = open(self, path)?;
            let mut reader = BufReader::new(stream.take(HEADER_SCAN_BYTES));
            let mut line = Vec::new();
            for _ in 0..HEADER_SCAN_LINES {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&line);
                if let Some(t) = parse(header, text.trim_end_matches(['\n', '\r']), "header")? {
                    return Ok(Some(t));
                }
            }
        }
        if let Some(name_time) = &self.file_name_time
            && let Some(name) = path.file_name()
            && let Some(t) = parse(name_time, &name.to_string_lossy(), "file_name")?
        {
            return Ok(Some(t));
        }
        if self.definition.time.last_modified {
            let modified = std::fs::metadata(path)
                .and_then(|m| m.modified())
                .map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!(
                            "{}: its modification time (time.last_modified): {e}",
                            path.display()
                        ),
                    )
                })?;
            let t = jiff::Timestamp::try_from(modified).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{}: modification time out of range (time.last_modified): {e}",
                        path.display()
                    ),
                )
            })?;
            return Ok(Some(t));
        }
        Ok(None)
    }

    /// This feed, with `time` as `time.source` of every record that gives none.
    pub fn with_source_time(&self, time: jiff::Timestamp) -> Feed {
        let mut feed = self.clone();
        feed.template.time_source = Some(time);
        feed
    }
}

/// How far into a file `time.header` looks.
const HEADER_SCAN_LINES: usize = 100;
const HEADER_SCAN_BYTES: u64 = 64 << 10;

/// Opens `path` for `feed`: decompressed, and for a JSON document turned into one record per
/// line.
pub fn open(feed: &Feed, path: &Path) -> io::Result<Box<dyn Read + Send>> {
    open_inner(feed, path, 0)
}

/// Opens `path` and skips to `offset` of the (decompressed) stream: a plain file by seeking,
/// anything else by reading.
pub fn open_at(feed: &Feed, path: &Path, offset: u64) -> io::Result<Box<dyn Read + Send>> {
    open_inner(feed, path, offset)
}

fn open_inner(feed: &Feed, path: &Path, offset: u64) -> io::Result<Box<dyn Read + Send>> {
    let settings = &feed.input;
    let mut file = File::open(path)?;
    let mut compression = settings.compression;
    let mut head = Vec::with_capacity(512);
    (&mut file).take(512).read_to_end(&mut head)?;
    file.seek(SeekFrom::Start(0))?;
    if compression == Compression::Auto {
        compression = if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
            Compression::Zip
        } else if is_tar(&head) {
            Compression::Tar
        } else {
            Compression::None
        };
    }
    let limit = settings.max_bytes;
    let header_per_member = feed.format() == Format::Csv && feed.definition.csv.header;
    let plain = matches!(compression, Compression::Auto | Compression::None);
    if plain && feed.format() != Format::Json {
        file.seek(SeekFrom::Start(offset))?;
        return Ok(Box::new(file));
    }
    let stream: Box<dyn Read + Send> = match compression {
        Compression::Auto | Compression::None => Box::new(file),
        Compression::Gzip | Compression::TarGz => {
            let mut gz = flate2::read::MultiGzDecoder::new(BufReader::new(file));
            // A gzip file may hold a tar archive: look at its first block.
            let mut first = Vec::with_capacity(512);
            (&mut gz).take(512).read_to_end(&mut first)?;
            let rest = Cursor::new(first).chain(gz);
            if compression == Compression::TarGz || is_tar_start(rest.get_ref().0) {
                let feed = feed.clone();
                spawn_members(move |tx| tar_members(rest, &feed, header_per_member, tx))
            } else {
                Box::new(rest)
            }
        }
        Compression::Tar => {
            let feed = feed.clone();
            spawn_members(move |tx| tar_members(file, &feed, header_per_member, tx))
        }
        Compression::Zip => {
            let feed = feed.clone();
            spawn_members(move |tx| zip_members(file, &feed, header_per_member, tx))
        }
    };
    let stream: Box<dyn Read + Send> = match compression {
        Compression::Auto | Compression::None => stream,
        _ => Box::new(Limited::new(stream, limit)),
    };
    let mut stream = if feed.format() == Format::Json {
        json_document(stream, settings)?
    } else {
        stream
    };
    if offset > 0 {
        let skipped = io::copy(&mut (&mut stream).take(offset), &mut io::sink())?;
        if skipped < offset {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the file ends at byte {skipped}, before the offset {offset} to resume at"),
            ));
        }
    }
    Ok(stream)
}

fn is_tar(head: &[u8]) -> bool {
    head.len() >= 262 && &head[257..262] == b"ustar"
}

fn is_tar_start(cursor: &Cursor<Vec<u8>>) -> bool {
    is_tar(cursor.get_ref())
}

/// Stops a stream once more than `max` bytes came out of it.
struct Limited<R> {
    inner: R,
    max: u64,
    seen: u64,
}

impl<R> Limited<R> {
    fn new(inner: R, max: u64) -> Self {
        Limited {
            inner,
            max,
            seen: 0,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if self.seen > self.max {
            return Err(io::Error::other(format!(
                "decompressed data is over the limit of {} bytes (input.max_bytes): refused as a possible decompression bomb",
                self.max
            )));
        }
        Ok(n)
    }
}

/// The members of an archive as one stream: a thread walks the archive (whose readers borrow
/// it) and hands on chunks through a small queue, so memory stays bounded.
fn spawn_members<F>(walk: F) -> Box<dyn Read + Send>
where
    F: FnOnce(&SyncSender<io::Result<Vec<u8>>>) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(4);
    std::thread::spawn(move || {
        if let Err(e) = walk(&tx) {
            // The reader may be gone already; then nobody needs the error.
            let _ = tx.send(Err(e));
        }
    });
    Box::new(ChannelReader {
        rx,
        chunk: Vec::new(),
        at: 0,
    })
}

struct ChannelReader {
    rx: Receiver<io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(0), // the walk is over
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Why a send failed: the reader stopped (an error it reports, or the end of a probe).
fn gone() -> io::Error {
    io::Error::other("the reader stopped")
}

/// Sends one member's bytes, skipping its header line when every member has its own (all
/// members after the first), and ending it with a line break.
fn send_member(
    member: impl Read,
    name: &str,
    skip_header: Option<&crate::read::SkipRules>,
    tx: &SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let named = |e: io::Error| io::Error::new(e.kind(), format!("member {name}: {e}"));
    let mut reader = BufReader::with_capacity(64 << 10, member);
    if let Some(rules) = skip_header {
        loop {
            let mut line = Vec::new();
            let n = (&mut reader)
                .take(MAX_RECORD_BYTES as u64 + 2)
                .read_until(b'\n', &mut line)
                .map_err(named)?;
            if n == 0 {
                return Ok(());
            }
            if !line.ends_with(b"\n") && n as u64 > MAX_RECORD_BYTES as u64 {
                return Err(named(io::Error::other(
                    "the header line is over the record limit",
                )));
            }
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if !rules.skips(text) {
                break; // the header, dropped
            }
        }
    }
    let mut last = b'\n';
    loop {
        let mut chunk = vec![0u8; 64 << 10];
        let n = loop {
            match reader.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(named(e)),
            }
        };
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        last = chunk[n - 1];
        tx.send(Ok(chunk)).map_err(|_| gone())?;
    }
    if last != b'\n' {
        tx.send(Ok(b"\n".to_vec())).map_err(|_| gone())?;
    }
    Ok(())
}

fn member_wanted(feed: &Feed, name: &str) -> bool {
    match &feed.input.members {
        Some(pattern) => pattern.is_match(name),
        None => true,
    }
}

fn tar_members(
    input: impl Read,
    feed: &Feed,
    header_per_member: bool,
    tx: &SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let rules = feed.skip_rules();
    let mut archive = tar::Archive::new(input);
    let mut first = true;
    for entry in archive.entries()? {
        let entry = entry.map_err(|e| io::Error::new(e.kind(), format!("tar archive: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if !member_wanted(feed, &name) {
            continue;
        }
        let skip = (header_per_member && !first).then_some(&rules);
        first = false;
        send_member(entry, &name, skip, tx)?;
    }
    Ok(())
}

fn zip_members(
    file: File,
    feed: &Feed,
    header_per_member: bool,
    tx: &SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let rules = feed.skip_rules();
    let mut archive = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| io::Error::other(format!("zip archive: {e}")))?;
    let mut first = true;
    for i in 0..archive.len() {
        let member = archive
            .by_index(i)
            .map_err(|e| io::Error::other(format!("zip archive, member {i}: {e}")))?;
        if !member.is_file() {
            continue;
        }
        let name = member.name().to_string();
        if !member_wanted(feed, &name) {
            continue;
        }
        let skip = (header_per_member && !first).then_some(&rules);
        first = false;
        send_member(member, &name, skip, tx)?;
    }
    Ok(())
}

/// A JSON document as one line per record. The document is held in memory (bounded by
/// `json.max_bytes`); each record is written out only when the reader gets to it.
fn json_document(
    stream: Box<dyn Read + Send>,
    settings: &InputSettings,
) -> io::Result<Box<dyn Read + Send>> {
    let max = settings.json_max_bytes;
    let mut bytes = Vec::new();
    stream.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(io::Error::other(format!(
            "the JSON document is over the limit of {max} bytes (json.max_bytes): not read"
        )));
    }
    let error_line = |reason: String, bytes: &[u8]| {
        let mut line = vec![DOCUMENT_ERROR];
        line.extend(reason.replace(['\n', '\r', '\0'], " ").into_bytes());
        line.push(DOCUMENT_ERROR);
        let sample = &bytes[..bytes.len().min(OVERSIZED_SAMPLE_BYTES)];
        line.extend(
            sample
                .iter()
                .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
        );
        line.push(b'\n');
        line
    };
    let one =
        |line: Vec<u8>| -> io::Result<Box<dyn Read + Send>> { Ok(Box::new(Cursor::new(line))) };
    let mut document: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return one(error_line(
                format!("the file is not a JSON document: {e}"),
                &bytes,
            ));
        }
    };
    let pointer = settings.json_records.as_str();
    let records = match document.pointer_mut(pointer).map(Value::take) {
        Some(Value::Array(items)) => items,
        // A single object where the records are: one record.
        Some(object @ Value::Object(_)) => vec![object],
        Some(other) => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                _ => "a string",
            };
            return one(error_line(
                format!("json.records {pointer:?} is {kind}, not an array of records"),
                &bytes,
            ));
        }
        None => {
            return one(error_line(
                format!("json.records {pointer:?} is not in the document"),
                &bytes,
            ));
        }
    };
    drop(document);
    drop(bytes);
    Ok(Box::new(JsonRecords {
        records: records.into_iter(),
        line: Vec::new(),
        at: 0,
    }))
}

/// The records of a JSON document, written one per line as they are read.
struct JsonRecords {
    records: std::vec::IntoIter<Value>,
    line: Vec<u8>,
    at: usize,
}

impl Read for JsonRecords {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.line.len() {
            let Some(record) = self.records.next() else {
                return Ok(0);
            };
            self.line.clear();
            self.at = 0;
            serde_json::to_writer(&mut self.line, &record).map_err(io::Error::other)?;
            self.line.push(b'\n');
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
