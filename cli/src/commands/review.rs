//! `review`: the flagged outputs and the runs most common to their traces, as the original
//! mltrace's reviewer tool showed them (coverage = the share of flagged outputs a run helped make),
//! with each run's specificity (the share of the outputs it still feeds that are flagged) beside it.

use super::{Ctx, Explain};
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Cell, Style, Table, local_time, plural};
use crate::view::{FLAGGED, stale_cell};
use clap::{Args, ValueEnum};
use mltrace_api::client::{Call, queries};
use mltrace_store::model::ReviewRank;

/// Flagged outputs, and the runs most common to them (start debugging at the top).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace flag pred_17 pred_18 --reason \"label mismatch\"\n  mltrace review\n  mltrace review --limit 5\n  mltrace review --rank specificity\n  mltrace review --json | jq '.runs[0]'"
)]
pub struct ReviewArgs {
    /// How many runs to rank (default 20; with --json the API's default, 1000).
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub limit: Option<u64>,
    /// The order of the runs: count (the contract's: most flagged outputs first) or specificity
    /// (runs whose outputs are mostly flagged first, ahead of runs that also fed healthy ones).
    #[arg(long, value_enum, default_value_t = Rank::Count)]
    pub rank: Rank,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `--rank`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Rank {
    /// Most flagged outputs first, then the newest run.
    Count,
    /// Highest share of flagged outputs among those the run feeds first.
    Specificity,
}

impl From<Rank> for ReviewRank {
    fn from(r: Rank) -> ReviewRank {
        match r {
            Rank::Count => ReviewRank::Count,
            Rank::Specificity => ReviewRank::Specificity,
        }
    }
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
    let r = conn
        .call(&queries::Review { limit: limit as usize, rank: a.rank.into(), as_of: a.read.as_of })
        .explained(&conn)?;
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
    let mut t = Table::new(&["COVERAGE", "", "COUNT", "SPECIFIC", "FEEDS", "ID", "COMPONENT", "STARTED", ""])
        .right(1)
        .right(2)
        .right(3)
        .right(4)
        .right(5);
    for rr in &r.runs {
        t.row(vec![
            bar(rr.coverage),
            Cell::from(format!("{:.0}%", rr.coverage * 100.0)),
            Cell::from(format!("{}/{total}", rr.count)),
            Cell::from(format!("{:.0}%", rr.specificity * 100.0)),
            Cell::new(rr.reach.to_string(), Style::Dim),
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
