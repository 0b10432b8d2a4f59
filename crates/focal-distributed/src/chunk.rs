//! Cutting a file into chunk messages, and reading a chunk message back into a record batch.
//!
//! A chunk carries the records themselves, not a file offset, so a worker on another machine
//! needs no access to the file. The submitter reads the file with the same [`RecordReader`] the
//! embedded ingest uses (comments and blank lines are dropped there, line numbers kept), and each
//! chunk holds at most `max_records` records and about `max_bytes` bytes, so it fits in one NATS
//! message.
//!
//! The message format is a small length-prefixed binary layout, versioned by its magic bytes:
//!
//! ```text
//! "FOCALCH1"  u32 record count
//! per record: u64 line number, u64 full length if oversized else 0, u32 length, bytes
//! ```
//!
//! (integers big-endian). Decoding checks every length against what is left, so a corrupt or
//! hostile message is refused with a reason instead of read out of bounds.

use focal_feeds::RecordBatch;
use focal_feeds::read::{LineMeta, OVERSIZED_SAMPLE_BYTES};

const MAGIC: &[u8; 8] = b"FOCALCH1";
/// Bytes of framing per record.
const PER_RECORD: usize = 8 + 8 + 4;

/// A chunk under construction.
#[derive(Debug, Default)]
pub struct ChunkBuilder {
    payload: Vec<u8>,
    records: u32,
    first_line: u64,
    last_line: u64,
}

/// A finished chunk message, with what the job table records about it.
#[derive(Debug, Clone)]
pub struct Chunk {
    pub payload: Vec<u8>,
    pub records: u32,
    pub first_line: u64,
    pub last_line: u64,
}

impl ChunkBuilder {
    fn push(&mut self, line: u64, bytes: &[u8], oversized: Option<u64>) {
        if self.records == 0 {
            self.payload.clear();
            self.payload.extend_from_slice(MAGIC);
            self.payload.extend_from_slice(&0u32.to_be_bytes());
            self.first_line = line;
        }
        self.payload.extend_from_slice(&line.to_be_bytes());
        self.payload
            .extend_from_slice(&oversized.unwrap_or(0).to_be_bytes());
        self.payload
            .extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.payload.extend_from_slice(bytes);
        self.records += 1;
        self.last_line = line;
    }

    fn finish(&mut self) -> Option<Chunk> {
        if self.records == 0 {
            return None;
        }
        self.payload[8..12].copy_from_slice(&self.records.to_be_bytes());
        let chunk = Chunk {
            payload: std::mem::take(&mut self.payload),
            records: self.records,
            first_line: self.first_line,
            last_line: self.last_line,
        };
        self.records = 0;
        Some(chunk)
    }
}

/// Cuts record batches (as read from the file) into chunks.
pub struct Chunker {
    max_records: u32,
    max_bytes: usize,
    current: ChunkBuilder,
}

impl Chunker {
    /// `max_bytes` must leave room for a sample of an oversized record (it is at least 64 KiB).
    pub fn new(max_records: u32, max_bytes: usize) -> Chunker {
        Chunker {
            max_records: max_records.max(1),
            max_bytes: max_bytes.max(64 << 10),
            current: ChunkBuilder::default(),
        }
    }

    /// Adds a batch's records; calls `emit` for each chunk that fills up.
    pub fn add<E>(
        &mut self,
        batch: &RecordBatch,
        emit: &mut dyn FnMut(Chunk) -> Result<(), E>,
    ) -> Result<(), E> {
        for meta in &batch.lines {
            let mut bytes = batch.line_bytes(meta);
            let mut oversized = meta.oversized;
            // A record that cannot fit in a message travels as a sample and is quarantined as
            // oversized by the worker, as the embedded ingest does past its own limit.
            if bytes.len() + PER_RECORD + 12 > self.max_bytes {
                oversized = Some(oversized.unwrap_or(bytes.len() as u64));
                bytes = &bytes[..bytes.len().min(OVERSIZED_SAMPLE_BYTES)];
            }
            let size = self.current.payload.len().max(12) + PER_RECORD + bytes.len();
            if self.current.records > 0
                && size > self.max_bytes
                && let Some(chunk) = self.current.finish()
            {
                emit(chunk)?;
            }
            self.current.push(meta.line, bytes, oversized);
            if self.current.records >= self.max_records
                && let Some(chunk) = self.current.finish()
            {
                emit(chunk)?;
            }
        }
        Ok(())
    }

    /// The last, partly filled chunk.
    pub fn finish(&mut self) -> Option<Chunk> {
        self.current.finish()
    }
}

/// Reads a chunk message back into a batch for [`focal_feeds::Feed::parse_batch`].
pub fn decode(payload: &[u8]) -> Result<RecordBatch, String> {
    let mut rest = payload;
    let mut take = |n: usize, what: &str| -> Result<&[u8], String> {
        if rest.len() < n {
            return Err(format!(
                "the chunk message ends early: {what} needs {n} bytes, {} are left",
                rest.len()
            ));
        }
        let (head, tail) = rest.split_at(n);
        rest = tail;
        Ok(head)
    };
    if take(8, "the magic bytes")? != MAGIC {
        return Err("not a Focal chunk message (bad magic bytes)".into());
    }
    let count = u32::from_be_bytes(take(4, "the record count")?.try_into().unwrap_or([0; 4]));
    let mut raw = Vec::with_capacity(payload.len());
    let mut lines = Vec::new();
    let mut last_line = 0u64;
    for i in 0..count {
        let line = u64::from_be_bytes(take(8, "a line number")?.try_into().unwrap_or([0; 8]));
        let full = u64::from_be_bytes(take(8, "a record length")?.try_into().unwrap_or([0; 8]));
        let len = u32::from_be_bytes(take(4, "a record length")?.try_into().unwrap_or([0; 4]));
        let bytes = take(len as usize, "a record")?;
        if line <= last_line {
            return Err(format!(
                "record {i}: line numbers must increase ({line} after {last_line})"
            ));
        }
        last_line = line;
        let start = raw.len() as u32;
        raw.extend_from_slice(bytes);
        lines.push(LineMeta {
            line,
            start,
            end: raw.len() as u32,
            oversized: (full > 0).then_some(full),
        });
    }
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the last record",
            rest.len()
        ));
    }
    Ok(RecordBatch {
        seq: 0,
        raw,
        lines,
        end_offset: 0,
        end_line: last_line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use focal_feeds::RecordReader;
    use focal_feeds::read::SkipRules;
    use proptest::prelude::*;

    fn read_all(text: &[u8]) -> Vec<RecordBatch> {
        let rules = SkipRules {
            comment_prefixes: vec![b"#".to_vec()],
        };
        let mut reader = RecordReader::new(text, rules, 0, 1);
        let mut out = Vec::new();
        while let Some(b) = reader.next_batch(7).unwrap() {
            out.push(b);
        }
        out
    }

    /// (line, bytes, oversized) of every record.
    fn records(batches: &[RecordBatch]) -> Vec<(u64, Vec<u8>, Option<u64>)> {
        batches
            .iter()
            .flat_map(|b| {
                b.lines
                    .iter()
                    .map(|m| (m.line, b.line_bytes(m).to_vec(), m.oversized))
            })
            .collect()
    }

    fn chunk_all(batches: &[RecordBatch], max_records: u32, max_bytes: usize) -> Vec<Chunk> {
        let mut chunker = Chunker::new(max_records, max_bytes);
        let mut chunks = Vec::new();
        for b in batches {
            chunker
                .add::<()>(b, &mut |c| {
                    chunks.push(c);
                    Ok(())
                })
                .unwrap();
        }
        chunks.extend(chunker.finish());
        chunks
    }

    #[test]
    fn a_record_too_big_for_a_message_travels_as_an_oversized_sample() {
        let mut text = b"a\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 200_000));
        text.extend_from_slice(b"\nb\n");
        let batches = read_all(&text);
        let chunks = chunk_all(&batches, 100, 64 << 10);
        let back: Vec<_> = chunks
            .iter()
            .flat_map(|c| records(&[decode(&c.payload).unwrap()]))
            .collect();
        assert_eq!(back.len(), 3);
        assert_eq!(back[1].0, 2);
        assert_eq!(back[1].1.len(), OVERSIZED_SAMPLE_BYTES);
        assert_eq!(back[1].2, Some(200_000));
        assert!(chunks.iter().all(|c| c.payload.len() <= 64 << 10));
    }

    #[test]
    fn corrupt_messages_are_refused_with_a_reason() {
        assert!(decode(b"short").unwrap_err().contains("ends early"));
        assert!(decode(b"NOTFOCAL\0\0\0\0").unwrap_err().contains("magic"));
        let batches = read_all(b"a\nb\n");
        let chunk = chunk_all(&batches, 10, 1 << 20).remove(0);
        let mut truncated = chunk.payload.clone();
        truncated.pop();
        assert!(decode(&truncated).unwrap_err().contains("ends early"));
        let mut longer = chunk.payload.clone();
        longer.push(0);
        assert!(decode(&longer).unwrap_err().contains("unexpected bytes"));
    }

    proptest! {
        /// Whatever the file and limits, the chunks hold exactly the records the reader
        /// produced, in order, each chunk within its limits.
        #[test]
        fn chunks_hold_every_record_once_in_order(
            lines in proptest::collection::vec("[a-z#, ]{0,40}", 0..200),
            max_records in 1u32..50,
        ) {
            let text = lines.join("\n").into_bytes();
            let batches = read_all(&text);
            let chunks = chunk_all(&batches, max_records, 64 << 10);
            let mut back = Vec::new();
            for c in &chunks {
                prop_assert!(c.records <= max_records);
                let batch = decode(&c.payload).unwrap();
                prop_assert_eq!(batch.lines.len() as u32, c.records);
                prop_assert_eq!(batch.lines.first().map(|m| m.line), Some(c.first_line));
                back.extend(records(&[batch]));
            }
            prop_assert_eq!(back, records(&batches));
        }

        /// Arbitrary bytes never make the decoder panic.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = decode(&with_magic);
        }
    }
}
