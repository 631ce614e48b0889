//! `flag`, `unflag` and `flags`.

use super::{Ctx, Explain};
use crate::Usage;
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Cell, Style, Table, local_time, plural};
use clap::Args;
use mltrace_api::client::{Call, commands, queries};

/// Flags outputs for review (every name must have been logged, or nothing is flagged).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace flag preds/2026-03-03/batch-001.jsonl --reason \"scores far above last week\"\n  mltrace flag pred_17 pred_18 pred_40\n  mltrace review                     # the runs common to what you flagged"
)]
pub struct FlagArgs {
    /// Outputs to flag.
    #[arg(required = true, value_name = "OUTPUT")]
    pub outputs: Vec<String>,
    /// Why (shown in flags and review).
    #[arg(long, short)]
    pub reason: Option<String>,
    /// Who flags them (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Who is flagging, when `--by` is not given: `$USER`, else `$LOGNAME`, else what `id -un` says
/// (cron and containers often run with neither variable set), else nobody.
fn login_name() -> Option<String> {
    let from_env = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    from_env("USER").or_else(|| from_env("LOGNAME")).or_else(|| {
        let out = std::process::Command::new("id").arg("-un").output().ok()?;
        let name = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !name.is_empty()).then_some(name)
    })
}

/// `mltrace flag OUTPUT...`.
pub fn flag(a: FlagArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect_for_write(&a.conn)?;
    let by = a.by.clone().or_else(login_name);
    let answer =
        conn.call(&commands::Flag { outputs: a.outputs.clone(), reason: a.reason.clone(), by }).explained(&conn)?;
    if a.json {
        return Ok(ctx.out.json(&answer)?);
    }
    let flagged = answer.flagged;
    let out = &mut ctx.out;
    let head = format!(
        "{} {}",
        out.paint("⚑", Style::Red),
        format_args!("flagged {}", plural(flagged.len() as u64, "output", "outputs"))
    );
    out.line(&head)?;
    for name in &flagged {
        out.line(&format!("  {name}"))?;
    }
    Ok(())
}

/// Removes flags: from the named outputs, or from all with --all.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  mltrace unflag pred_17\n  mltrace unflag --all")]
pub struct UnflagArgs {
    /// Outputs to unflag.
    #[arg(value_name = "OUTPUT", conflicts_with = "all")]
    pub outputs: Vec<String>,
    /// Unflag every flagged output.
    #[arg(long)]
    pub all: bool,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace unflag OUTPUT...` / `mltrace unflag --all`.
pub fn unflag(a: UnflagArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    if a.outputs.is_empty() && !a.all {
        return Err(Usage("name the outputs to unflag, or pass --all to unflag every flagged output".into()).into());
    }
    let conn = ctx.connect_for_write(&a.conn)?;
    let answer = conn.call(&commands::Unflag { outputs: a.outputs.clone(), all: a.all }).explained(&conn)?;
    if a.json {
        return Ok(ctx.out.json(&answer)?);
    }
    let unflagged = answer.unflagged;
    let out = &mut ctx.out;
    if unflagged.is_empty() {
        let msg = out.paint("nothing was flagged; nothing changed", Style::Dim);
        return Ok(out.line(&msg)?);
    }
    out.line(&format!("unflagged {}", plural(unflagged.len() as u64, "output", "outputs")))?;
    for name in &unflagged {
        out.line(&format!("  {name}"))?;
    }
    Ok(())
}

/// The flagged outputs, in the order they were flagged.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace flags\n  mltrace flags --as-of 2026-03-01T00:00:00Z\n  mltrace flags --json | jq -r '.flags[].name'"
)]
pub struct FlagsArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace flags`.
pub fn list(a: FlagsArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let list = conn.call(&queries::Flags { as_of: a.read.as_of }).explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&list)?);
    }
    let flags = list.flags;
    if flags.is_empty() {
        let msg = ctx.out.paint("nothing is flagged", Style::Dim);
        return Ok(ctx.out.line(&msg)?);
    }
    let mut t = Table::new(&["OUTPUT", "FLAGGED", "BY", "REASON"]).flexible(0).flexible(3);
    for f in &flags {
        t.row(vec![
            Cell::new(f.name.clone(), Style::Red),
            Cell::from(local_time(f.at)),
            Cell::from(f.by.clone().unwrap_or_default()),
            Cell::from(f.reason.clone().unwrap_or_default()),
        ]);
    }
    Ok(t.write(&mut ctx.out)?)
}
