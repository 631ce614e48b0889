//! `export`: the event log out, as NDJSON: the same lines as `GET /api/v1/events`.

use super::{Ctx, Explain};
use crate::conn::ConnArgs;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mltrace_api::client::{Call, queries};
use mltrace_store::AsOf;
use std::io::IsTerminal;

/// Prints events as NDJSON, one a line in seq order (what GET /api/v1/events answers): an audit
/// trail, a backup, or the input of another tool.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace export > events.ndjson\n  mltrace export --after 1200                  # only what came after seq 1200\n  mltrace export --as-of 2026-03-01T00:00:00Z  # the log as it was then\n  mltrace export | jq -c 'select(.type == \"flagged\")'\n  mltrace export --openlineage > lineage.ndjson   # OpenLineage RunEvents"
)]
pub struct ExportArgs {
    /// Only events after this sequence number.
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub after: u64,
    /// Stop at the last event at this point: a sequence number or a time.
    #[arg(long, value_name = "SEQ|TIME", value_parser = |t: &str| AsOf::parse(t))]
    pub as_of: Option<AsOf>,
    /// Print the history as OpenLineage events instead (START and end of each run, registrations
    /// and flags, in log order), for Marquez, DataHub or another mltrace.
    #[arg(long)]
    pub openlineage: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace export`.
pub fn run(a: ExportArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    if a.openlineage {
        let out = &mut ctx.out;
        conn.openlineage_events(a.after, a.as_of, &mut |line| out.line(line)).explained(&conn)?;
        return Ok(());
    }
    // The last seq to send: what the store saw at `as_of` (or now), which also sizes the bar.
    let last = conn.call(&queries::Stats { as_of: a.as_of }).explained(&conn)?.last_seq;
    let limit = last.saturating_sub(a.after);
    if limit == 0 {
        return Ok(());
    }
    let bar = if std::io::stderr().is_terminal() && !std::io::stdout().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(limit), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} exporting {bar:30} {human_pos}/{human_len} events")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    let out = &mut ctx.out;
    let mut n = 0u64;
    let sent = conn.events(a.after, Some(limit), &mut |line| {
        n += 1;
        if n.is_multiple_of(1024) {
            bar.set_position(n);
        }
        out.line(line)
    });
    bar.finish_and_clear();
    sent.explained(&conn)?;
    Ok(())
}
