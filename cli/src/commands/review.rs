//! `review`: the flagged outputs and the runs most common to their traces, as the original
//! mltrace's reviewer tool showed them (coverage = the share of flagged outputs a run helped make).

use super::{Ctx, Explain};
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Cell, Style, Table, local_time, plural};
use crate::view::{FLAGGED, stale_cell};
use clap::Args;

/// Flagged outputs, and the runs most common to them (start debugging at the top).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace flag pred_17 pred_18 --reason \"label mismatch\"\n  mltrace review\n  mltrace review --limit 5\n  mltrace review --json | jq '.runs[0]'"
)]
pub struct ReviewArgs {
    /// How many runs to rank (default 20; with --json the API's default, 1000).
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `GET /api/v1/review`'s default `limit`.
const API_REVIEW_LIMIT: u64 = 1_000;

/// A ten-cell bar for a coverage between 0 and 1.
fn bar(coverage: f64) -> Cell {
    let filled = (coverage.clamp(0.0, 1.0) * 10.0).round() as usize;
    Cell::parts(vec![("█".repeat(filled), Style::Red), ("░".repeat(10 - filled), Style::Dim)])
}

/// `mltrace review`.
pub fn run(a: ReviewArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    // The human view ranks the top 20; --json answers what GET /api/v1/review answers.
    let limit = a.limit.unwrap_or(if a.read.json { API_REVIEW_LIMIT } else { 20 });
    let r = conn.review(limit as usize, a.read.as_of).explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&r)?);
    }
    let out = &mut ctx.out;
    if r.flagged.is_empty() {
        let msg = out.paint("nothing is flagged: flag suspicious outputs first (mltrace flag OUTPUT...)", Style::Dim);
        return Ok(out.line(&msg)?);
    }
    let title = format!("Review of {}", plural(r.flagged.len() as u64, "flagged output", "flagged outputs"));
    let title = out.paint(&title, Style::Bold);
    out.line(&title)?;
    let mut t = Table::new(&["", "OUTPUT", "FLAGGED", "BY", "REASON"]).flexible(1).flexible(4);
    for f in &r.flagged {
        t.row(vec![
            Cell::new(FLAGGED, Style::Red),
            Cell::from(f.name.clone()),
            Cell::from(local_time(f.at)),
            Cell::from(f.by.clone().unwrap_or_default()),
            Cell::from(f.reason.clone().unwrap_or_default()),
        ]);
    }
    t.write(out)?;
    if !r.unresolved.is_empty() {
        let h = out.paint("No run produced these (sources):", Style::Yellow);
        out.line(&h)?;
        for u in &r.unresolved {
            out.line(&format!("  {u}"))?;
        }
    }
    out.line("")?;
    let h = out.paint("Runs most common to them", Style::Bold);
    out.line(&h)?;
    let total = r.flagged.len();
    let mut t = Table::new(&["COVERAGE", "", "COUNT", "ID", "COMPONENT", "STARTED", ""]).right(1).right(2).right(3);
    for rr in &r.runs {
        t.row(vec![
            bar(rr.coverage),
            Cell::from(format!("{:.0}%", rr.coverage * 100.0)),
            Cell::from(format!("{}/{total}", rr.count)),
            Cell::new(rr.run.id.to_string(), Style::Bold),
            Cell::new(rr.run.component.clone(), Style::Cyan),
            Cell::from(local_time(rr.run.start)),
            stale_cell(&rr.run.stale),
        ]);
    }
    t.write(out)?;
    if let Some(top) = r.runs.first() {
        let hint = out.paint(&format!("start with: mltrace inspect {}", top.run.id), Style::Dim);
        out.line(&hint)?;
    }
    Ok(())
}
