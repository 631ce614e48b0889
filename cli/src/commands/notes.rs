//! `notes RUN_ID TEXT`: replaces a run's notes.

use super::{Ctx, Explain};
use crate::Usage;
use crate::conn::ConnArgs;
use crate::output::Style;
use crate::view::run_label;
use clap::Args;
use mltrace_api::client::{Call, commands};
use mltrace_store::RunId;
use std::io::Read;

/// Replaces a run's notes (an empty text clears them; `-` reads them from standard input).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace notes 12 \"AUC dropped to 0.71: the label join was off by a day\"\n  git log -1 --format=%B | mltrace notes 12 -\n  mltrace notes 12 \"\"              # clear them"
)]
pub struct NotesArgs {
    /// The run's id (`12` or `#12`, as every view prints it).
    #[arg(value_name = "RUN_ID", value_parser = crate::conn::parse_run_id)]
    pub id: RunId,
    /// The new notes, or `-` to read them from standard input.
    pub text: String,
    /// Print the API's JSON answer (the run).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace notes RUN_ID TEXT`.
pub fn run(a: NotesArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let text = if a.text == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Usage(format!("cannot read the notes from standard input: {e}")))?;
        s.trim_end().to_string()
    } else {
        a.text.clone()
    };
    let conn = ctx.connect_for_write(&a.conn)?;
    let run = conn.call(&commands::Notes { id: a.id, notes: text }).explained(&conn)?;
    if a.json {
        return Ok(ctx.out.json(&run)?);
    }
    let what = if run.notes.is_empty() { "cleared the notes of" } else { "replaced the notes of" };
    let line = format!("{what} run {}", run_label(ctx.out.painter(), &run.component, run.id));
    ctx.out.line(&line)?;
    for l in run.notes.lines() {
        let l = ctx.out.paint(&format!("  {l}"), Style::Dim);
        ctx.out.line(&l)?;
    }
    Ok(())
}
