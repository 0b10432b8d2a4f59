//! The one format of every human table the command line prints (`--json` never comes here):
//! a header row, then one row per item; each column as wide as its widest cell (header
//! included), two spaces between columns, numbers right-aligned. A cell longer than its
//! column's maximum is cut and ends in "…", so one long value (a malware name, a title)
//! cannot push the columns after it out of line. The last column is not padded or cut.
//!
//! Widths come from the rows. A table fed row by row (`focal events` streams millions) holds
//! at most [`BATCH`] rows: the widths are fixed from the first batch, and later rows are cut
//! to them, so alignment holds whatever the row count and memory stays flat.

use std::io::Write;

/// Rows held before the widths are fixed.
pub const BATCH: usize = 1000;
/// A column's default maximum width, in characters.
pub const MAX: usize = 40;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub align: Align,
    pub max: usize,
    /// Cut a long cell at its start ("…/downloads/x.csv"): for paths, whose end says most.
    pub keep_end: bool,
}

/// A left-aligned column of at most [`MAX`] characters.
pub const fn col(name: &'static str) -> Column {
    Column {
        name,
        align: Align::Left,
        max: MAX,
        keep_end: false,
    }
}

/// A right-aligned (numeric) column.
pub const fn num(name: &'static str) -> Column {
    Column {
        name,
        align: Align::Right,
        max: MAX,
        keep_end: false,
    }
}

impl Column {
    /// The same column with another maximum width.
    pub const fn max(self, max: usize) -> Column {
        Column { max, ..self }
    }

    /// The same column, cutting long cells at their start rather than their end.
    pub const fn keep_end(self) -> Column {
        Column {
            keep_end: true,
            ..self
        }
    }
}

pub struct Table {
    columns: Vec<Column>,
    widths: Option<Vec<usize>>,
    pending: Vec<Vec<String>>,
    rows: usize,
}

fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `max` characters, the last of them "…" when anything was cut (or the first,
/// with `keep_end`).
fn cut(s: &str, max: usize, keep_end: bool) -> std::borrow::Cow<'_, str> {
    let n = width(s);
    if n <= max {
        return s.into();
    }
    let keep = max.saturating_sub(1);
    if keep_end {
        let mut t = String::from("…");
        t.extend(s.chars().skip(n - keep));
        return t.into();
    }
    let mut t: String = s.chars().take(keep).collect();
    t.push('…');
    t.into()
}

impl Table {
    pub fn new(columns: &[Column]) -> Table {
        Table {
            columns: columns.to_vec(),
            widths: None,
            pending: Vec::new(),
            rows: 0,
        }
    }

    /// Adds a row (one cell per column; control characters are shown escaped so a cell is
    /// always one line). Writes to `out` once the widths are fixed.
    pub fn row(&mut self, out: &mut dyn Write, cells: Vec<String>) -> std::io::Result<()> {
        debug_assert_eq!(cells.len(), self.columns.len());
        let cells: Vec<String> = cells
            .into_iter()
            .map(|c| {
                if c.chars().any(char::is_control) {
                    c.escape_debug().to_string()
                } else {
                    c
                }
            })
            .collect();
        self.rows += 1;
        if let Some(widths) = &self.widths {
            return write_row(out, &self.columns, widths, &cells);
        }
        self.pending.push(cells);
        if self.pending.len() >= BATCH {
            self.flush(out)?;
        }
        Ok(())
    }

    fn flush(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let widths = match &self.widths {
            Some(w) => w.clone(),
            None => {
                let widths: Vec<usize> = self
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        self.pending
                            .iter()
                            .map(|r| width(&r[i]).min(c.max))
                            .chain([width(c.name)])
                            .max()
                            .unwrap_or(0)
                    })
                    .collect();
                let header: Vec<String> = self.columns.iter().map(|c| c.name.into()).collect();
                write_row(out, &self.columns, &widths, &header)?;
                self.widths = Some(widths.clone());
                widths
            }
        };
        for cells in std::mem::take(&mut self.pending) {
            write_row(out, &self.columns, &widths, &cells)?;
        }
        Ok(())
    }

    /// Writes what is held. With no rows at all, writes `empty` (a full sentence saying
    /// there is nothing) instead of a lone header.
    pub fn finish(mut self, out: &mut dyn Write, empty: &str) -> std::io::Result<()> {
        if self.rows == 0 {
            return writeln!(out, "{empty}");
        }
        self.flush(out)
    }
}

fn write_row(
    out: &mut dyn Write,
    columns: &[Column],
    widths: &[usize],
    cells: &[String],
) -> std::io::Result<()> {
    let mut line = String::new();
    let last = columns.len().saturating_sub(1);
    for (i, (c, cell)) in columns.iter().zip(cells).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        if i == last && c.align == Align::Left {
            line.push_str(cell);
            break;
        }
        let text = cut(cell, widths[i], c.keep_end);
        let pad = widths[i].saturating_sub(width(&text));
        match c.align {
            Align::Left => {
                line.push_str(&text);
                line.extend(std::iter::repeat_n(' ', pad));
            }
            Align::Right => {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(&text);
            }
        }
    }
    writeln!(out, "{}", line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(columns: &[Column], rows: &[&[&str]]) -> String {
        let mut out = Vec::new();
        let mut t = Table::new(columns);
        for r in rows {
            t.row(&mut out, r.iter().map(|s| s.to_string()).collect())
                .unwrap();
        }
        t.finish(&mut out, "Nothing.").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn columns_start_at_the_same_place_on_every_line() {
        let long = "x".repeat(100);
        let text = render(
            &[col("name"), num("n"), col("last")],
            &[&["a", "1", "tail"], &[&long, "12345", "t"]],
        );
        let pad = |s: &str| format!("{s:<width$}", width = MAX);
        let expected = format!(
            "{}      n  last\n{}      1  tail\n{}…  12345  t\n",
            pad("name"),
            pad("a"),
            "x".repeat(MAX - 1)
        );
        assert_eq!(text, expected);
    }

    #[test]
    fn a_path_keeps_its_end() {
        let text = render(
            &[col("file").max(10).keep_end(), num("line")],
            &[&["/a/very/long/path/f.csv", "7"]],
        );
        assert_eq!(text, "file        line\n…ath/f.csv     7\n");
    }

    #[test]
    fn no_rows_says_so() {
        assert_eq!(render(&[col("a")], &[]), "Nothing.\n");
    }
}
