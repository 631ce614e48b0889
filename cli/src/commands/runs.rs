//! `recent` and `history`: lists of runs, newest first.

use super::suggest::{NameKind, or_suggest};
use super::{Ctx, Explain};
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Style, plural};
use crate::view::runs_table;
use clap::Args;
use mltrace_api::client::{Call, queries};
use mltrace_store::model::RunSummary;
use mltrace_store::{RunId, Timestamp};

/// The most recent runs, newest first by start time.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace recent\n  mltrace recent --limit 50\n  mltrace recent --before 120        # the page after run 120\n  mltrace recent --json | jq '.runs[].id'"
)]
pub struct RecentArgs {
    /// How many runs (at most 1000).
    #[arg(long, short = 'n', default_value_t = 20, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub limit: u64,
    /// Continue after this run (the next page).
    #[arg(long, value_name = "RUN_ID")]
    pub before: Option<RunId>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace recent`.
pub fn recent(a: RecentArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let list = conn
        .call(&queries::Recent { limit: a.limit as usize, before: a.before, as_of: a.read.as_of })
        .explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&list)?);
    }
    let runs = list.runs;
    if runs.is_empty() {
        let msg = ctx.out.paint(if a.before.is_some() { "no older runs" } else { "no runs yet" }, Style::Dim);
        return Ok(ctx.out.line(&msg)?);
    }
    runs_table(&runs, true).write(&mut ctx.out)?;
    more_hint(ctx, &runs, a.limit, "mltrace recent")
}

/// A component's runs, newest first.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace history train\n  mltrace history train --limit 50\n  mltrace history train --since 2026-03-01 --until 2026-03-07\n  mltrace history train --as-of 2026-03-01T00:00:00Z"
)]
pub struct HistoryArgs {
    /// The component.
    pub component: String,
    /// How many runs (at most 1000).
    #[arg(long, short = 'n', default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub limit: u64,
    /// Continue after this run (the next page).
    #[arg(long, value_name = "RUN_ID")]
    pub before: Option<RunId>,
    /// Runs that started at or after this time (RFC 3339, epoch ms, or a local date YYYY-MM-DD).
    #[arg(long, value_name = "TIME", value_parser = since)]
    pub since: Option<Timestamp>,
    /// Runs that started at or before this time (a date means the end of that day).
    #[arg(long, value_name = "TIME", value_parser = until)]
    pub until: Option<Timestamp>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace history COMPONENT`.
pub fn history(a: HistoryArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let list = or_suggest(
        conn.call(&queries::History {
            name: a.component.clone(),
            limit: a.limit as usize,
            before: a.before,
            since: a.since,
            until: a.until,
            as_of: a.read.as_of,
        }),
        &conn,
        NameKind::Component,
        &a.component,
        a.read.as_of,
    )?;
    if a.read.json {
        return Ok(ctx.out.json(&list)?);
    }
    let runs = list.runs;
    let c = conn.call(&queries::Component { name: a.component.clone(), as_of: a.read.as_of }).explained(&conn)?;
    let out = &mut ctx.out;
    let mut head = vec![out.paint(&c.component.name, Style::Cyan)];
    if !c.component.description.is_empty() {
        head.push(c.component.description.clone());
    }
    if !c.component.owner.is_empty() {
        head.push(format!("owner {}", c.component.owner));
    }
    if !c.component.tags.is_empty() {
        head.push(format!("tags {}", c.component.tags.join(", ")));
    }
    head.push(plural(c.run_count, "run", "runs"));
    if c.outdated {
        head.push(out.paint("outdated", Style::Yellow));
    }
    let line = head.join(&out.paint(" · ", Style::Dim));
    out.line(&line)?;
    if runs.is_empty() {
        let msg = out.paint("no runs in this range", Style::Dim);
        return Ok(out.line(&msg)?);
    }
    runs_table(&runs, false).write(out)?;
    let cmd = format!("mltrace history {}", a.component);
    more_hint(ctx, &runs, a.limit, &cmd)
}

/// When a page is full, says how to get the next one.
fn more_hint(ctx: &mut Ctx, runs: &[RunSummary], limit: u64, cmd: &str) -> anyhow::Result<()> {
    if runs.len() as u64 == limit
        && let Some(last) = runs.last()
    {
        let hint = ctx.out.paint(&format!("more: {cmd} --before {}", last.id), Style::Dim);
        ctx.out.line(&hint)?;
    }
    Ok(())
}

/// A time for `--since`: RFC 3339, epoch milliseconds, or a local date (its first millisecond).
pub fn since(text: &str) -> Result<Timestamp, String> {
    parse_time(text, false)
}

/// A time for `--until`: as [`since`], but a date means its last millisecond.
pub fn until(text: &str) -> Result<Timestamp, String> {
    parse_time(text, true)
}

/// Parses RFC 3339, epoch milliseconds, a local `YYYY-MM-DD`, or a local `YYYY-MM-DD HH:MM[:SS]`.
pub fn parse_time(text: &str, end_of_day: bool) -> Result<Timestamp, String> {
    use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};
    if let Ok(t) = Timestamp::parse(text) {
        return Ok(t);
    }
    let t = text.trim();
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|dt| Timestamp(dt.timestamp_millis()))
            .ok_or_else(|| format!("`{t}` does not exist in the local time zone"))
    };
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let naive = if end_of_day { d.and_hms_milli_opt(23, 59, 59, 999) } else { d.and_hms_opt(0, 0, 0) };
        return naive.ok_or_else(|| format!("`{t}` is not a date")).and_then(local);
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(t, fmt) {
            return local(naive);
        }
    }
    Err(format!("`{t}` is not a time: use RFC 3339 (2026-03-01T12:00:00Z), a local date (2026-03-01), or epoch ms"))
}
