//! `import FILE.ndjson`: runs in, one run object a line (the HTTP API's run shape), sent in
//! batches. Every line is parsed and checked before anything is written, so a typo on line 90,000
//! costs nothing; a line the store refuses later (an unknown upstream) is reported by its number.

use super::Ctx;
use crate::Usage;
use crate::conn::ConnArgs;
use crate::output::{Style, count, plural};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mltrace_api::client::Error;
use mltrace_api::client::commands::LoggedRuns;
use mltrace_store::NewRun;
use serde_json::json;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::PathBuf;

/// Logs runs from NDJSON (one run object a line, as `POST /api/v1/runs` takes them), or restores
/// an export (`mltrace export`): its events come back as they were, same seqs, ids and times.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace import runs.ndjson\n  zcat runs.ndjson.gz | mltrace import -\n  mltrace import runs.ndjson --data-dir ./mltrace-data\n\nA line looks like:\n  {\"component\":\"train\",\"start\":\"2026-03-01T10:00:00Z\",\"end\":\"2026-03-01T10:42:00Z\",\"inputs\":[\"features.parquet\"],\"outputs\":[\"model.pkl\"]}\n\nEvery line is checked before anything is written (a bad line: its number, and exit 2). Runs are\nsent in batches, each all or nothing; a batch the store refuses stops the import and says from which\nline on nothing was written.\n\nAn export (`mltrace export > backup.ndjson`) is recognized by its first line and restored verbatim:\n  mltrace --data-dir ./restored import backup.ndjson\nIt must continue the target's log: a whole export goes into an empty data directory or server."
)]
pub struct ImportArgs {
    /// The NDJSON file, or `-` for standard input.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Runs per batch (at most 10,000).
    #[arg(long, default_value_t = 1_000, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub batch: u64,
    /// Print the API's JSON answers (`{"runs": [...]}`, all batches in one).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Reads and checks every line: the runs, and the line number of each.
fn read_runs(
    input: impl Iterator<Item = std::io::Result<String>>,
    file: &std::path::Path,
) -> anyhow::Result<(Vec<NewRun>, Vec<usize>)> {
    let now = mltrace_store::Timestamp::now();
    let mut runs = Vec::new();
    let mut lines = Vec::new();
    for (i, line) in input.enumerate() {
        let n = i + 1;
        let line = line.map_err(|e| Usage(format!("line {n}: cannot be read: {e}")))?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let mut value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Usage(format!("line {n}: not valid JSON: {e}")))?;
        default_times(&mut value, now);
        let run = NewRun::from_json(&value)
            .and_then(|r| r.check().map(|()| r))
            .map_err(|e| Usage(format!("line {n}: {e}")))?;
        runs.push(run);
        lines.push(n);
    }
    if runs.is_empty() {
        return Err(Usage(format!(
            "{} holds no runs",
            if file.as_os_str() == "-" { "the input".into() } else { file.display().to_string() }
        ))
        .into());
    }
    Ok((runs, lines))
}

/// A line without `start` or `end` gets the time of the import, as `mltrace log` does: a file of
/// runs written by hand should not need timestamps to be accepted. `end` defaults to `start` when
/// only `start` is given, so the run is never negative.
fn default_times(value: &mut serde_json::Value, now: mltrace_store::Timestamp) {
    let Some(obj) = value.as_object_mut() else { return };
    let now = serde_json::Value::String(now.to_string());
    if !obj.contains_key("end") {
        let end = obj.get("start").cloned().unwrap_or_else(|| now.clone());
        obj.insert("end".into(), end);
    }
    obj.entry("start").or_insert(now);
}

/// `runs[3].upstream[0] names ...` becomes `line 1204: upstream[0] names ...`.
fn at_line(e: &Error, list: &str, lines: &[usize], offset: usize) -> Option<String> {
    let field = e.field()?;
    let rest = field.strip_prefix(list)?.strip_prefix('[')?;
    let (k, _) = rest.split_once(']')?;
    let k: usize = k.parse().ok()?;
    let line = lines.get(offset + k)?;
    let prefix = format!("{list}[{k}]");
    let msg = e.to_string();
    let msg = msg
        .strip_prefix(&prefix)
        .map(|m| m.trim_start_matches('.').trim_start_matches(": ").to_string())
        .unwrap_or(msg);
    Some(format!("line {line}: {msg}"))
}

/// Whether a line is an event of an export (`{"seq":..,"type":..}`) rather than a run.
fn is_event_line(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.as_object().map(|o| o.contains_key("seq") && o.contains_key("type")))
        .unwrap_or(false)
}

fn open_input(file: &PathBuf) -> anyhow::Result<Box<dyn BufRead>> {
    let reader: Box<dyn Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(file).map_err(|e| Usage(format!("cannot read {}: {e}", file.display())))?)
    };
    Ok(Box::new(BufReader::with_capacity(1 << 20, reader)))
}

/// Events per restore request: bounded in count and bytes, like every request.
const RESTORE_EVENTS: usize = 5_000;
const RESTORE_BYTES: usize = 16 << 20;

/// Restores the lines of an export, in chunks that each land whole or not at all; answers the
/// number of events and the last seq. A failure says up to where the store now holds the history.
pub fn restore_lines(
    conn: &mltrace_api::client::Connection,
    lines: impl Iterator<Item = std::io::Result<String>>,
    progress: impl FnMut(u64),
) -> anyhow::Result<(u64, u64)> {
    let mut restore =
        Restore { conn, progress, chunk: Vec::new(), numbers: Vec::new(), bytes: 0, restored: 0, last: 0 };
    for (i, line) in lines.enumerate() {
        let line = line.map_err(|e| Usage(format!("line {}: cannot be read: {e}", i + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        restore.bytes += line.len();
        restore.chunk.push(line);
        restore.numbers.push(i + 1);
        if restore.chunk.len() >= RESTORE_EVENTS || restore.bytes >= RESTORE_BYTES {
            restore.send()?;
        }
    }
    restore.send()?;
    Ok((restore.restored, restore.last))
}

/// A restore in progress: the chunk being gathered (with its line numbers) and what has landed.
struct Restore<'c, P> {
    conn: &'c mltrace_api::client::Connection,
    progress: P,
    chunk: Vec<String>,
    numbers: Vec<usize>,
    bytes: usize,
    restored: u64,
    last: u64,
}

impl<P: FnMut(u64)> Restore<'_, P> {
    /// Sends the gathered chunk; a refusal names its line and says up to where the store now holds
    /// the history.
    fn send(&mut self) -> anyhow::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        match self.conn.restore(&self.chunk) {
            Ok(seq) => {
                self.restored += self.chunk.len() as u64;
                self.last = seq;
                (self.progress)(self.restored);
                self.chunk.clear();
                self.numbers.clear();
                self.bytes = 0;
                Ok(())
            }
            Err(e) => {
                let held = if self.restored == 0 {
                    "nothing was restored".to_string()
                } else {
                    format!("events up to seq {} were restored", self.last)
                };
                let msg = match at_line(&e, "events", &self.numbers, 0) {
                    Some(at) => format!("{at} ({held})"),
                    None => format!("{e} ({held})"),
                };
                Err(if e.is_bad_input() {
                    anyhow::Error::new(Usage(msg))
                } else {
                    anyhow::Error::new(crate::Failed(msg))
                })
            }
        }
    }
}

/// `mltrace import` of an export: the events go back as they were.
fn import_events(a: &ImportArgs, ctx: &mut Ctx, first: String, rest: Box<dyn BufRead>) -> anyhow::Result<()> {
    let conn = ctx.connect_for_write(&a.conn)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} restoring {human_pos} events")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let lines = std::iter::once(Ok(first)).chain(rest.lines());
    let result = restore_lines(&conn, lines, |n| bar.set_position(n));
    bar.finish_and_clear();
    let (n, last) = result?;
    if a.json {
        return Ok(ctx.out.json(&json!({ "events": n, "last_seq": last }))?);
    }
    let first = last + 1 - n;
    let seqs = if first == last { format!("seq {last}") } else { format!("seq {first}–{last}") };
    ctx.out.line(&format!("restored {} ({seqs})", plural(n, "event", "events")))?;
    Ok(())
}

/// `mltrace import FILE`.
pub fn run(a: ImportArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    // An export (`mltrace export`, `GET /api/v1/events`) restores history; anything else is runs.
    let mut input = open_input(&a.file)?;
    let mut first = String::new();
    loop {
        first.clear();
        if input.read_line(&mut first).map_err(|e| Usage(format!("cannot read the input: {e}")))? == 0 {
            break;
        }
        if !first.trim().is_empty() {
            break;
        }
    }
    if is_event_line(first.trim()) {
        return import_events(&a, ctx, first.trim_end().to_string(), input);
    }
    let (runs, lines) = read_runs(std::iter::once(Ok(first.trim_end().to_string())).chain(input.lines()), &a.file)?;
    let conn = ctx.connect_for_write(&a.conn)?;
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(runs.len() as u64), ProgressDrawTarget::stderr());
        let style =
            ProgressStyle::with_template("{spinner} importing {bar:30} {human_pos}/{human_len} runs  eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut logged = Vec::with_capacity(runs.len());
    for (b, batch) in runs.chunks(a.batch as usize).enumerate() {
        let offset = b * a.batch as usize;
        match conn.log_runs(batch) {
            Ok(l) => logged.extend(l),
            Err(e) => {
                bar.finish_and_clear();
                let written = if offset == 0 {
                    "nothing was imported".to_string()
                } else {
                    format!("the {} before line {} were imported", plural(offset as u64, "run", "runs"), lines[offset])
                };
                return match at_line(&e, "runs", &lines, offset) {
                    Some(msg) if e.is_bad_input() => Err(Usage(format!("{msg} ({written})")).into()),
                    Some(msg) => Err(crate::Failed(format!("{msg} ({written})")).into()),
                    None => Err(super::explain(&conn, e).context(written)),
                };
            }
        }
        bar.inc(batch.len() as u64);
    }
    bar.finish_and_clear();
    if a.json {
        return Ok(ctx.out.json(&LoggedRuns { runs: logged })?);
    }
    let first = logged.iter().map(|l| l.id).min().unwrap_or(0);
    let last = logged.iter().map(|l| l.id).max().unwrap_or(0);
    let stale = logged.iter().filter(|l| !l.stale.is_empty()).count();
    let ids = if first == last { format!("#{first}") } else { format!("#{first}–#{last}") };
    let mut line = format!("imported {} ({ids})", plural(logged.len() as u64, "run", "runs"));
    if stale > 0 {
        line.push_str(&ctx.out.paint(&format!(" · {} stale", count(stale as u64)), Style::Yellow));
    }
    ctx.out.line(&line)?;
    Ok(())
}
