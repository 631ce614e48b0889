//! How runs, I/O names and flags look wherever they appear, so that `recent`, `history`, `trace`,
//! `review` and `inspect` agree with each other.

use crate::output::{Cell, Out, Paint, Style, Table, duration, local_time};
use mltrace_store::event::RunStatus;
use mltrace_store::model::RunSummary;
use mltrace_store::{RunId, Timestamp};

/// The marker of a stale run.
pub const STALE: &str = "⚠ stale";
/// The marker of a flagged output.
pub const FLAGGED: &str = "⚑";

/// `train #12`: the component in colour, the id in bold.
pub fn run_label(out: Paint, component: &str, id: RunId) -> String {
    format!("{} {}", out.paint(component, Style::Cyan), out.paint(&format!("#{id}"), Style::Bold))
}

/// Up to three names, then how many more: `a.csv, b.csv, c.csv +2 more`.
pub fn names_short(names: &[String]) -> String {
    const SHOWN: usize = 3;
    let mut text = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" +{} more", names.len() - SHOWN));
    }
    text
}

/// The stale marker for a run's messages (empty when fresh).
pub fn stale_cell(stale: &[String]) -> Cell {
    if stale.is_empty() { Cell::from("") } else { Cell::new(STALE, Style::Yellow) }
}

/// The marker of an OpenLineage run that has not completed (`None` for a completed or native run).
pub fn status_marker(status: Option<RunStatus>) -> Option<(&'static str, Style)> {
    match status? {
        RunStatus::Running => Some(("● running", Style::Green)),
        RunStatus::Failed => Some(("✗ failed", Style::Red)),
        RunStatus::Aborted => Some(("✗ aborted", Style::Yellow)),
        RunStatus::Completed => None,
    }
}

/// A run's duration; a run still going on shows how long it has been running.
pub fn run_duration(r: &RunSummary) -> String {
    if r.status == Some(RunStatus::Running) {
        return format!("{} so far", duration(Timestamp::now().0 - r.start.0));
    }
    duration(r.duration_ms)
}

/// A list of runs as a table, newest first as given.
pub fn runs_table(runs: &[RunSummary], with_component: bool) -> Table {
    let mut headers = vec!["ID"];
    if with_component {
        headers.push("COMPONENT");
    }
    headers.extend(["STARTED", "DURATION", "INPUTS", "OUTPUTS", ""]);
    let n = headers.len();
    let mut table =
        Table::new(&headers).right(0).right(if with_component { 3 } else { 2 }).flexible(n - 3).flexible(n - 2);
    for r in runs {
        let mut row = vec![Cell::new(r.id.to_string(), Style::Bold)];
        if with_component {
            row.push(Cell::new(r.component.clone(), Style::Cyan));
        }
        row.push(Cell::from(local_time(r.start)));
        row.push(Cell::from(run_duration(r)));
        row.push(Cell::from(names_short(&r.inputs)));
        row.push(Cell::from(names_short(&r.outputs)));
        row.push(match status_marker(r.status) {
            Some((text, style)) => Cell::new(text, style),
            None => stale_cell(&r.stale),
        });
        table.row(row);
    }
    table
}

/// One line about a run in a tree: label, start, duration, and the stale marker.
pub fn run_line(out: Paint, r: &RunSummary) -> String {
    let mut line = format!(
        "{}  {}  {}",
        run_label(out, &r.component, r.id),
        local_time(r.start),
        out.paint(&run_duration(r), Style::Dim)
    );
    if let Some((text, style)) = status_marker(r.status) {
        line.push_str("  ");
        line.push_str(&out.paint(text, style));
    }
    if !r.stale.is_empty() {
        line.push_str("  ");
        line.push_str(&out.paint(STALE, Style::Yellow));
    }
    line
}

/// Writes `key  value` lines with the keys aligned, keys dim.
pub fn card(out: &mut Out, rows: &[(&str, String)]) -> std::io::Result<()> {
    let w = rows.iter().map(|(k, _)| crate::output::width(k)).max().unwrap_or(0);
    for (k, v) in rows {
        if v.is_empty() {
            continue;
        }
        let key = format!("{k:<w$}");
        let line = format!("  {}  {v}", out.paint(&key, Style::Dim));
        out.line(&line)?;
    }
    Ok(())
}

/// A section heading inside a card.
pub fn heading(out: &mut Out, text: &str) -> std::io::Result<()> {
    let h = out.paint(text, Style::Bold);
    out.line(&h)
}
