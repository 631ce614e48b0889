//! `stats`: counts and sizes.

use super::{Ctx, Explain};
use crate::conn::{ConnArgs, ReadArgs, describe};
use crate::output::{Style, bytes, count, plural};
use crate::view::card;
use clap::Args;
use mltrace_api::client::{Call, queries};

/// Counts (events, runs, components, outputs, flags) and the log's size.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  mltrace stats\n  mltrace stats --as-of 1000\n  mltrace stats --json")]
pub struct StatsArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace stats`.
pub fn run(a: StatsArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let s = conn.call(&queries::Stats { as_of: a.read.as_of }).explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&s)?);
    }
    let out = &mut ctx.out;
    let title = out.paint(&describe(&conn.target), Style::Bold);
    out.line(&title)?;
    card(
        out,
        &[
            ("events", count(s.events)),
            ("last seq", count(s.last_seq)),
            ("runs", count(s.runs)),
            ("components", count(s.components)),
            ("outputs", count(s.outputs)),
            ("flags", count(s.flags)),
            ("log", format!("{} in {}", bytes(s.log_bytes), plural(s.segments, "segment", "segments"))),
        ],
    )?;
    Ok(())
}
