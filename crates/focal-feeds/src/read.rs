//! Cutting a feed's bytes into records, in constant memory.
//!
//! Every format is line-oriented: a record is one line. (A CSV field may therefore not contain a
//! line break. No feed we know of does it, and the rule keeps one stray quote from swallowing the
//! rest of a file into a single record.) The reader only finds line ends, which runs at memory
//! speed on one thread; splitting fields and validating happen in [`crate::Feed::parse_batch`],
//! which the pipeline runs on as many threads as there are cores.

use std::io::{self, Read};

/// The longest record kept whole. A longer line is still read to its end, but only its first
/// [`OVERSIZED_SAMPLE_BYTES`] are kept, and it is quarantined.
pub const MAX_RECORD_BYTES: usize = 1 << 20;
/// How much of an oversized record is kept as evidence in the quarantine.
pub const OVERSIZED_SAMPLE_BYTES: usize = 4096;
/// A batch holds at most this many bytes of lines (besides its record count), which bounds its
/// memory and keeps the `u32` offsets in [`LineMeta`] far from overflow.
pub const MAX_BATCH_BYTES: usize = 64 << 20;

/// One line of input, located inside its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineMeta {
    /// 1-based line number in the file.
    pub line: u64,
    /// Byte range of the line (without its terminator) in [`RecordBatch::raw`].
    pub start: u32,
    pub end: u32,
    /// For a line over [`MAX_RECORD_BYTES`]: its full length. Only a sample is in `raw`.
    pub oversized: Option<u64>,
}

/// A run of consecutive records, with where in the file the run ends.
#[derive(Debug, Clone, Default)]
pub struct RecordBatch {
    /// Position of the batch in the file, starting at 0: batches are committed in this order.
    pub seq: u64,
    pub raw: Vec<u8>,
    pub lines: Vec<LineMeta>,
    /// Byte offset just after the last line of the batch: where a resumed run starts reading.
    pub end_offset: u64,
    /// Number of the last line consumed (comments and blank lines included).
    pub end_line: u64,
}

impl RecordBatch {
    pub fn line_bytes(&self, meta: &LineMeta) -> &[u8] {
        &self.raw[meta.start as usize..meta.end as usize]
    }
}

/// Which lines are not records.
#[derive(Debug, Clone, Default)]
pub struct SkipRules {
    /// Prefixes (after leading whitespace) that mark a comment line.
    pub comment_prefixes: Vec<Vec<u8>>,
}

impl SkipRules {
    pub(crate) fn skips(&self, line: &[u8]) -> bool {
        let trimmed = trim_ascii_start(line);
        trimmed.is_empty() || self.comment_prefixes.iter().any(|p| trimmed.starts_with(p))
    }
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// Reads lines from any byte stream into [`RecordBatch`]es.
pub struct RecordReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    eof: bool,
    /// File offset of `buf[0]`.
    base: u64,
    /// Number of the next line to be read.
    next_line: u64,
    skip: SkipRules,
    next_seq: u64,
    /// The kept start of the current oversized line.
    sample: Vec<u8>,
}

/// Where the bytes of a line are.
enum Span {
    Buf(usize, usize),
    Sample,
}

const READ_CHUNK: usize = 1 << 20;

impl<R: Read> RecordReader<R> {
    /// Starts reading at file offset `offset`, which is line `first_line` (1 at the start of a file).
    pub fn new(inner: R, skip: SkipRules, offset: u64, first_line: u64) -> Self {
        RecordReader {
            inner,
            buf: vec![0; READ_CHUNK * 2],
            pos: 0,
            filled: 0,
            eof: false,
            base: offset,
            next_line: first_line,
            skip,
            next_seq: 0,
            sample: Vec::new(),
        }
    }

    /// The byte offset of the next unread line.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    pub fn next_line_number(&self) -> u64 {
        self.next_line
    }

    /// Refills the buffer, keeping `buf[keep_from..filled]`. Returns false at end of input.
    fn fill(&mut self, keep_from: usize) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if keep_from > 0 {
            self.buf.copy_within(keep_from..self.filled, 0);
            self.filled -= keep_from;
            self.pos -= keep_from;
            self.base += keep_from as u64;
        }
        if self.buf.len() - self.filled < READ_CHUNK {
            self.buf.resize(self.filled + READ_CHUNK, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.filled += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The next line, whatever it is: its number, where its bytes are, and for an oversized line
    /// its full length. The bytes stay valid until the next call.
    fn next_raw_line(&mut self) -> io::Result<Option<(u64, Span, Option<u64>)>> {
        let mut searched = self.pos;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[searched..self.filled]) {
                let (start, end) = (self.pos, searched + i);
                self.pos = end + 1;
                return Ok(Some(self.complete_line(start, end)));
            }
            searched = self.filled;
            // The limit is on the line without its terminator; one more byte may be the `\r` of
            // a CRLF whose `\n` has not arrived yet.
            if self.filled - self.pos > MAX_RECORD_BYTES + 1 {
                return self.skip_oversized().map(Some);
            }
            let keep = self.pos;
            if !self.fill(keep)? {
                if self.pos == self.filled {
                    return Ok(None);
                }
                // The last line has no terminator.
                let (start, end) = (self.pos, self.filled);
                self.pos = self.filled;
                return Ok(Some(self.complete_line(start, end)));
            }
            searched -= keep;
        }
    }

    /// A line found whole in the buffer at `start..end` (terminator excluded, a final `\r`
    /// included). A line over the limit is sampled exactly as if it had arrived in pieces: the
    /// outcome must not depend on read sizes.
    fn complete_line(&mut self, start: usize, end: usize) -> (u64, Span, Option<u64>) {
        let end = self.strip_cr(start, end);
        let line = self.take_line_number();
        if end - start > MAX_RECORD_BYTES {
            self.sample.clear();
            self.sample
                .extend_from_slice(&self.buf[start..start + OVERSIZED_SAMPLE_BYTES]);
            return (line, Span::Sample, Some((end - start) as u64));
        }
        (line, Span::Buf(start, end), None)
    }

    fn take_line_number(&mut self) -> u64 {
        self.next_line += 1;
        self.next_line - 1
    }

    fn strip_cr(&self, start: usize, end: usize) -> usize {
        if end > start && self.buf[end - 1] == b'\r' {
            end - 1
        } else {
            end
        }
    }

    /// Consumes the rest of a line over the limit, keeping a sample of its start.
    fn skip_oversized(&mut self) -> io::Result<(u64, Span, Option<u64>)> {
        let line = self.take_line_number();
        self.sample.clear();
        self.sample
            .extend_from_slice(&self.buf[self.pos..self.pos + OVERSIZED_SAMPLE_BYTES]);
        let mut total = 0u64;
        // The byte before the line's end, to leave a CRLF's `\r` out of the length, as
        // `strip_cr` does for lines of normal size.
        let mut last = 0u8;
        loop {
            // Everything buffered from `pos` on belongs to the long line: count it and drop it.
            total += (self.filled - self.pos) as u64;
            if self.filled > self.pos {
                last = self.buf[self.filled - 1];
            }
            self.base += self.filled as u64;
            self.pos = 0;
            self.filled = 0;
            if !self.fill(0)? {
                return Ok((line, Span::Sample, Some(total - (last == b'\r') as u64)));
            }
            if let Some(i) = memchr::memchr(b'\n', &self.buf[..self.filled]) {
                total += i as u64;
                if i > 0 {
                    last = self.buf[i - 1];
                }
                self.pos = i + 1;
                return Ok((line, Span::Sample, Some(total - (last == b'\r') as u64)));
            }
        }
    }

    fn bytes(&self, span: &Span) -> &[u8] {
        match span {
            Span::Buf(s, e) => &self.buf[*s..*e],
            Span::Sample => &self.sample,
        }
    }

    /// Reads the first line that is not blank or a comment (the CSV header), or `None` if there is none.
    pub fn read_first_record(&mut self) -> io::Result<Option<(u64, Vec<u8>)>> {
        while let Some((line, span, oversized)) = self.next_raw_line()? {
            let bytes = self.bytes(&span);
            if oversized.is_none() && self.skip.skips(bytes) {
                continue;
            }
            return Ok(Some((line, bytes.to_vec())));
        }
        Ok(None)
    }

    /// Reads up to `max_records` records (skipping blank and comment lines), or `None` at the end.
    pub fn next_batch(&mut self, max_records: usize) -> io::Result<Option<RecordBatch>> {
        let mut batch = RecordBatch {
            seq: self.next_seq,
            ..Default::default()
        };
        let start_offset = self.offset();
        while batch.lines.len() < max_records && batch.raw.len() < MAX_BATCH_BYTES {
            let Some((line, span, oversized)) = self.next_raw_line()? else {
                break;
            };
            let bytes = self.bytes(&span);
            if oversized.is_none() && self.skip.skips(bytes) {
                continue;
            }
            let start = batch.raw.len() as u32;
            batch.raw.extend_from_slice(bytes);
            batch.lines.push(LineMeta {
                line,
                start,
                end: batch.raw.len() as u32,
                oversized,
            });
        }
        if batch.lines.is_empty() && self.offset() == start_offset {
            return Ok(None);
        }
        batch.end_offset = self.offset();
        batch.end_line = self.next_line - 1;
        self.next_seq += 1;
        Ok(Some(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8], skip: SkipRules) -> Vec<(u64, Vec<u8>, Option<u64>, u64)> {
        let mut r = RecordReader::new(input, skip, 0, 1);
        let mut out = Vec::new();
        while let Some(b) = r.next_batch(2).unwrap() {
            for m in &b.lines {
                out.push((m.line, b.line_bytes(m).to_vec(), m.oversized, b.end_offset));
            }
        }
        out
    }

    #[test]
    fn lines_numbers_and_offsets() {
        let input = b"# comment\r\na,b\r\n\r\nc,d\ne,f";
        let skip = SkipRules {
            comment_prefixes: vec![b"#".to_vec()],
        };
        let got = read_all(input, skip);
        let lines: Vec<_> = got
            .iter()
            .map(|(l, b, _, _)| (*l, String::from_utf8(b.clone()).unwrap()))
            .collect();
        assert_eq!(
            lines,
            vec![(2, "a,b".into()), (4, "c,d".into()), (5, "e,f".into())]
        );
        assert_eq!(got.last().unwrap().3, input.len() as u64);
    }

    #[test]
    fn an_oversized_line_is_sampled_and_the_next_lines_survive() {
        let mut input = b"first\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES * 3 + 17));
        input.extend_from_slice(b"\nafter\nlast\n");
        let got = read_all(&input, SkipRules::default());
        assert_eq!(got.len(), 4);
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].1.len(), OVERSIZED_SAMPLE_BYTES);
        assert_eq!(got[1].2, Some((MAX_RECORD_BYTES * 3 + 17) as u64));
        assert_eq!((got[2].0, got[2].1.as_slice()), (3, &b"after"[..]));
        assert_eq!((got[3].0, got[3].1.as_slice()), (4, &b"last"[..]));
        assert_eq!(got[3].3, input.len() as u64);
    }

    /// Found while writing the fuzz targets: a line between 1 and 2 MiB that arrived in one
    /// read was kept whole, the same line read in pieces was sampled.
    #[test]
    fn the_record_limit_does_not_depend_on_read_sizes() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(
            b'x',
            MAX_RECORD_BYTES + MAX_RECORD_BYTES / 2,
        ));
        input.extend_from_slice(b"\nnext\n");
        let whole = read_all(&input, SkipRules::default());
        /// A reader that returns at most 1,000 bytes per call, like a pipe.
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = out.len().min(self.0.len()).min(1000);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut r = RecordReader::new(Trickle(&input), SkipRules::default(), 0, 1);
        let mut trickled = Vec::new();
        while let Some(b) = r.next_batch(2).unwrap() {
            for m in &b.lines {
                trickled.push((m.line, b.line_bytes(m).to_vec(), m.oversized, b.end_offset));
            }
        }
        assert_eq!(
            whole[1].2,
            Some((MAX_RECORD_BYTES + MAX_RECORD_BYTES / 2) as u64)
        );
        assert_eq!(whole[1].1.len(), OVERSIZED_SAMPLE_BYTES);
        let strip = |v: &Vec<(u64, Vec<u8>, Option<u64>, u64)>| {
            v.iter()
                .map(|x| (x.0, x.1.clone(), x.2))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&whole), strip(&trickled));
    }

    /// Found by the fuzz harness: with CRLF endings, a line right at the limit was kept or
    /// sampled (and its length counted with or without the `\r`) depending on read sizes.
    #[test]
    fn crlf_lines_at_the_limit_read_the_same_in_any_pieces() {
        for content in [MAX_RECORD_BYTES, MAX_RECORD_BYTES + 1, MAX_RECORD_BYTES + 2] {
            let mut input = vec![b'x'; content];
            input.extend_from_slice(b"\r\nnext\r\n");
            let whole = read_all(&input, SkipRules::default());
            // `content + 1` ends a read between the `\r` and the `\n`.
            for piece in [1000, 4096, 65_536, content + 1, content + 2] {
                let mut r = RecordReader::new(Pieces(&input, piece), SkipRules::default(), 0, 1);
                let mut got = Vec::new();
                while let Some(b) = r.next_batch(5).unwrap() {
                    for m in &b.lines {
                        got.push((m.line, b.line_bytes(m).to_vec(), m.oversized, b.end_offset));
                    }
                }
                assert_eq!(got, whole, "content {content}, pieces of {piece}");
            }
            let want = (content > MAX_RECORD_BYTES).then_some(content as u64);
            assert_eq!(whole[0].2, want, "content {content}");
            assert_eq!(whole[1].1, b"next");
        }
    }

    /// Found by the fuzz harness: a last line without a line feed skipped the limit check.
    #[test]
    fn an_unterminated_last_line_over_the_limit_is_sampled() {
        for content in [MAX_RECORD_BYTES, MAX_RECORD_BYTES + 1] {
            let input = vec![b'x'; content];
            let got = read_all(&input, SkipRules::default());
            assert_eq!(got.len(), 1);
            let want = (content > MAX_RECORD_BYTES).then_some(content as u64);
            assert_eq!(got[0].2, want, "content {content}");
            assert_eq!(
                got[0].3, content as u64,
                "the offset is the end of the input"
            );
        }
    }

    /// A reader that returns at most `.1` bytes per call, like a pipe or a socket.
    struct Pieces<'a>(&'a [u8], usize);
    impl Read for Pieces<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(self.0.len()).min(self.1);
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn resuming_at_a_batch_end_reads_exactly_the_rest() {
        let input: Vec<u8> = (1..=1000)
            .flat_map(|i| format!("line-{i}\n").into_bytes())
            .collect();
        let mut r = RecordReader::new(&input[..], SkipRules::default(), 0, 1);
        let first = r.next_batch(137).unwrap().unwrap();
        let mut rest = RecordReader::new(
            &input[first.end_offset as usize..],
            SkipRules::default(),
            first.end_offset,
            first.end_line + 1,
        );
        let b = rest.next_batch(10_000).unwrap().unwrap();
        assert_eq!(b.lines[0].line, 138);
        assert_eq!(b.line_bytes(&b.lines[0]), b"line-138");
        assert_eq!(b.lines.len(), 1000 - 137);
        assert_eq!(b.end_offset, input.len() as u64);
    }
}
