//! Everything the command prints goes through here: the buffered stdout writer ([`Out`]), colour
//! (only on a terminal, never with `NO_COLOR`), aligned tables, trees, and the formats of times,
//! durations, sizes and counts.
//!
//! Nothing here panics on a closed pipe: every write returns its `io::Error`, and `main` treats a
//! broken pipe as the reader having seen enough.

use chrono::Local;
use mltrace_store::Timestamp;
use std::io::{self, IsTerminal, Write};
use unicode_width::UnicodeWidthStr;

/// A style for a piece of text; rendered as ANSI only when colour is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Style {
    /// Unstyled.
    #[default]
    Plain,
    /// Headings, run ids.
    Bold,
    /// Secondary text: separators, hints, tree lines.
    Dim,
    /// Component names.
    Cyan,
    /// Warnings: stale.
    Yellow,
    /// Flags and failures.
    Red,
    /// Passed tests, success.
    Green,
    /// Git hashes.
    Magenta,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Cyan => "36",
            Style::Yellow => "33",
            Style::Red => "31",
            Style::Green => "32",
            Style::Magenta => "35",
        }
    }
}

/// Whether to colour what goes to a stream that is (or is not) a terminal: `NO_COLOR` (any
/// non-empty value) wins, then `CLICOLOR_FORCE`, then whether it is a terminal.
pub fn colour_wanted(is_terminal: bool) -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    if set("NO_COLOR") {
        return false;
    }
    if std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0") {
        return true;
    }
    is_terminal
}

/// The colour decision for one stream: paints text, or leaves it plain.
#[derive(Clone, Copy, Debug)]
pub struct Paint {
    colour: bool,
}

impl Paint {
    /// Colours when `colour`.
    pub fn new(colour: bool) -> Paint {
        Paint { colour }
    }

    /// `text` in `style` (plain when colour is off).
    pub fn paint(self, text: &str, style: Style) -> String {
        paint(self.colour, text, style)
    }
}

/// Buffered standard output with the colour decision and the terminal width.
pub struct Out {
    w: io::BufWriter<io::Stdout>,
    colour: bool,
    width: Option<usize>,
}

impl Out {
    /// Standard output.
    pub fn stdout() -> Out {
        let stdout = io::stdout();
        let tty = stdout.is_terminal();
        let width = if tty { terminal_size::terminal_size().map(|(w, _)| w.0 as usize) } else { None };
        Out { w: io::BufWriter::with_capacity(64 * 1024, stdout), colour: colour_wanted(tty), width }
    }

    /// `text` in `style` (plain when colour is off).
    pub fn paint(&self, text: &str, style: Style) -> String {
        paint(self.colour, text, style)
    }

    /// The colour decision, for code that builds lines before writing them.
    pub fn painter(&self) -> Paint {
        Paint { colour: self.colour }
    }

    /// The terminal's width, when writing to one (tables shrink long columns to fit).
    pub fn width(&self) -> Option<usize> {
        self.width
    }

    /// Writes one line.
    pub fn line(&mut self, text: &str) -> io::Result<()> {
        self.w.write_all(text.as_bytes())?;
        self.w.write_all(b"\n")
    }

    /// Writes a JSON value on one line, exactly as serde_json writes it (the API's bytes).
    pub fn json<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, value).map_err(io::Error::other)?;
        self.w.write_all(b"\n")
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// `text` in `style` when `colour`.
pub fn paint(colour: bool, text: &str, style: Style) -> String {
    if !colour || style == Style::Plain || text.is_empty() {
        text.to_string()
    } else {
        format!("\x1b[{}m{text}\x1b[0m", style.code())
    }
}

/// Display width of plain text.
pub fn width(text: &str) -> usize {
    UnicodeWidthStr::width(text)
}

/// Shortens `text` to at most `max` columns by cutting its middle (names keep their start and
/// their file name, which is what tells them apart).
pub fn ellipsize(text: &str, max: usize) -> String {
    if width(text) <= max || max < 5 {
        return text.to_string();
    }
    let keep = max - 1;
    let tail_w = keep * 2 / 3;
    let head_w = keep - tail_w;
    let mut head = String::new();
    for c in text.chars() {
        if width(&head) + width(c.encode_utf8(&mut [0; 4])) > head_w {
            break;
        }
        head.push(c);
    }
    let mut tail: Vec<char> = Vec::new();
    let mut tw = 0;
    for c in text.chars().rev() {
        let cw = width(c.encode_utf8(&mut [0; 4]));
        if tw + cw > tail_w {
            break;
        }
        tw += cw;
        tail.push(c);
    }
    tail.reverse();
    format!("{head}…{}", tail.into_iter().collect::<String>())
}

/// A time in local time with its offset: `2026-11-26 04:31:09 +01:00`.
pub fn local_time(t: Timestamp) -> String {
    match t.to_datetime() {
        Some(dt) => dt.with_timezone(&Local).format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        None => t.to_rfc3339(),
    }
}

/// A duration in milliseconds, short and exact enough to compare runs: `850ms`, `12.3s`,
/// `5m 07s`, `2h 04m`, `3d 07h`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    let s = ms / 1000;
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{}.{}s", s, (ms % 1000) / 100),
        60_000..3_600_000 => format!("{}m {:02}s", s / 60, s % 60),
        3_600_000..86_400_000 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A count with thousands separators: `12,345`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `1 run`, `2 runs`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// A size in bytes: `812 B`, `4.2 KiB`, `1.3 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// How a column lines up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A cell: its text in one or more styled parts.
#[derive(Clone, Default)]
pub struct Cell {
    parts: Vec<(String, Style)>,
}

impl Cell {
    /// A cell in a style.
    pub fn new(text: impl Into<String>, style: Style) -> Cell {
        Cell { parts: vec![(text.into(), style)] }
    }

    /// A cell made of differently styled parts (a coloured bar).
    pub fn parts(parts: Vec<(String, Style)>) -> Cell {
        Cell { parts }
    }

    fn text(&self) -> String {
        self.parts.iter().map(|(t, _)| t.as_str()).collect()
    }

    /// The cell painted, shortened to `max` columns if wider (a shortened cell keeps its first style).
    fn render(&self, out: Paint, max: usize) -> (String, usize) {
        let text = self.text();
        let w = width(&text);
        if w > max {
            let short = ellipsize(&text, max);
            let sw = width(&short);
            let style = self.parts.first().map(|p| p.1).unwrap_or_default();
            return (out.paint(&short, style), sw);
        }
        (self.parts.iter().map(|(t, st)| out.paint(t, *st)).collect(), w)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::new(text, Style::Plain)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::new(text, Style::Plain)
    }
}

/// An aligned table: a dim header, columns two spaces apart, no trailing spaces. On a terminal
/// too narrow for it, the columns marked flexible are shortened in the middle.
pub struct Table {
    headers: Vec<&'static str>,
    align: Vec<Align>,
    flexible: Vec<bool>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with these column headers (all left-aligned, none flexible).
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            align: vec![Align::Left; headers.len()],
            flexible: vec![false; headers.len()],
            rows: Vec::new(),
        }
    }

    /// Right-aligns column `i`.
    pub fn right(mut self, i: usize) -> Table {
        self.align[i] = Align::Right;
        self
    }

    /// Lets column `i` shrink on a narrow terminal.
    pub fn flexible(mut self, i: usize) -> Table {
        self.flexible[i] = true;
        self
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Drops columns that are empty in every row and have an empty header.
    fn used_columns(&self) -> Vec<usize> {
        (0..self.headers.len())
            .filter(|&i| {
                !self.headers[i].is_empty() || self.rows.iter().any(|r| r.get(i).is_some_and(|c| !c.text().is_empty()))
            })
            .collect()
    }

    fn widths(&self, cols: &[usize], max_total: Option<usize>) -> Vec<usize> {
        let mut w: Vec<usize> = cols
            .iter()
            .map(|&i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| width(&c.text()))
                    .chain([width(self.headers[i])])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let Some(max) = max_total else { return w };
        let total = |w: &[usize]| w.iter().sum::<usize>() + 2 * w.len().saturating_sub(1);
        // Shrink the widest flexible column first, never below 16 columns.
        while total(&w) > max {
            let widest = (0..cols.len()).filter(|&k| self.flexible[cols[k]] && w[k] > 16).max_by_key(|&k| w[k]);
            match widest {
                Some(k) => w[k] -= 1,
                None => break,
            }
        }
        w
    }

    /// Writes the table.
    pub fn write(&self, out: &mut Out) -> io::Result<()> {
        let cols = self.used_columns();
        let widths = self.widths(&cols, out.width());
        let last = cols.len().saturating_sub(1);
        let empty = Cell::default();
        let painter = out.painter();
        let render = |cells: Vec<&Cell>| -> String {
            let mut line = String::new();
            for (k, cell) in cells.into_iter().enumerate() {
                let (painted, w) = cell.render(painter, widths[k]);
                let pad = widths[k].saturating_sub(w);
                if k > 0 {
                    line.push_str("  ");
                }
                match self.align[cols[k]] {
                    Align::Right => {
                        line.push_str(&" ".repeat(pad));
                        line.push_str(&painted);
                    }
                    Align::Left => {
                        line.push_str(&painted);
                        if k != last {
                            line.push_str(&" ".repeat(pad));
                        }
                    }
                }
            }
            line.trim_end().to_string()
        };
        let headers: Vec<Cell> = cols.iter().map(|&i| Cell::new(self.headers[i], Style::Dim)).collect();
        out.line(&render(headers.iter().collect()))?;
        for row in &self.rows {
            let cells = cols.iter().map(|&i| row.get(i).unwrap_or(&empty)).collect();
            out.line(&render(cells))?;
        }
        Ok(())
    }
}

/// A tree, drawn with box-drawing characters: nodes in pre-order with their depth.
pub struct Tree {
    nodes: Vec<(usize, String)>,
}

impl Tree {
    /// An empty tree.
    pub fn new() -> Tree {
        Tree { nodes: Vec::new() }
    }

    /// Adds a node (already painted) at `depth`; depth 0 is a root, drawn without a branch.
    pub fn node(&mut self, depth: usize, text: String) {
        self.nodes.push((depth, text));
    }

    /// Writes the tree: `├── ` for a node with a later sibling, `└── ` for the last one, `│   `
    /// under an ancestor that has more siblings to come. Past [`MAX_INDENT`] levels the lines stop
    /// moving right and say their depth, so a chain of a million runs stays readable (and linear).
    pub fn write(&self, out: &mut Out) -> io::Result<()> {
        // For each node, whether another node follows at the same depth before a shallower one:
        // one backward pass, remembering the next node seen at each depth.
        let mut has_next = vec![false; self.nodes.len()];
        let mut next_at: Vec<bool> = Vec::new();
        for i in (0..self.nodes.len()).rev() {
            let d = self.nodes[i].0;
            if next_at.len() <= d {
                next_at.resize(d + 1, false);
            }
            has_next[i] = next_at[d];
            next_at[d] = true;
            // A shallower node ends the sibling runs of everything deeper.
            next_at.truncate(d + 1);
        }
        let mut open: Vec<bool> = Vec::new();
        for (i, (depth, text)) in self.nodes.iter().enumerate() {
            let depth = *depth;
            if depth == 0 {
                out.line(text)?;
                open.clear();
                continue;
            }
            let shown = depth.min(MAX_INDENT);
            open.resize(shown - 1, false);
            let mut prefix = String::new();
            for &more in &open {
                prefix.push_str(if more { "│   " } else { "    " });
            }
            let label = if depth > MAX_INDENT {
                prefix.push_str("  ⋮ ");
                format!("[depth {depth}] ")
            } else {
                prefix.push_str(if has_next[i] { "├── " } else { "└── " });
                open.push(has_next[i]);
                String::new()
            };
            let line = format!("{}{}{text}", out.paint(&prefix, Style::Dim), out.paint(&label, Style::Dim));
            out.line(&line)?;
        }
        Ok(())
    }
}

/// Levels of a tree drawn with indentation; deeper nodes say their depth instead.
pub const MAX_INDENT: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(850), "850ms");
        assert_eq!(duration(12_345), "12.3s");
        assert_eq!(duration(307_000), "5m 07s");
        assert_eq!(duration(7_440_000), "2h 04m");
        assert_eq!(duration(3 * 86_400_000 + 7 * 3_600_000), "3d 07h");
    }

    #[test]
    fn counts_and_sizes() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(4300), "4.2 KiB");
        assert_eq!(plural(1, "run", "runs"), "1 run");
    }

    #[test]
    fn long_names_keep_both_ends() {
        let s = ellipsize("s3://acme-lake/features/churn/date=2025-03-01/features.parquet", 30);
        assert_eq!(width(&s), 30);
        assert!(s.starts_with("s3://acme") && s.ends_with("features.parquet"), "{s}");
    }
}
