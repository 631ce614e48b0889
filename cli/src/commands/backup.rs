//! `backup DIR`: a consistent copy of a live store's history in a new data directory, without
//! stopping writes.
//!
//! The copy is the history up to the seq the store had reached when the backup began: events are
//! read as an export (from the server, or read-only beside it from its data directory) and restored
//! verbatim into `DIR` through the same path as `mltrace import` of an export, so the copy answers
//! every query and `as_of` as the original did at that seq. Writes that land meanwhile are simply
//! after it; a later `backup` (or `export --after SEQ | import`) takes them.

use super::{Ctx, Explain};
use crate::Usage;
use crate::conn::ConnArgs;
use crate::output::{Style, count, plural};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mltrace_api::client::DataDir;
use mltrace_api::client::{Call, queries};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Copies the history of a server (or data directory) into a new data directory, while it runs.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace backup /backups/mltrace-$(date +%F)            # from the server\n  mltrace --data-dir /var/lib/mltrace backup /backups/x   # from a directory, even while a server writes it\n  mltrace serve --data-dir /backups/x                     # the copy is a data directory like any other\n\nThe copy holds every event up to the seq the source had when the backup began, checked with\n`verify` at the end. DIR must not exist yet, or be empty."
)]
pub struct BackupArgs {
    /// The new data directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace backup DIR`.
pub fn run(a: BackupArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    if a.dir.exists() && std::fs::read_dir(&a.dir).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(Usage(format!("{} is not empty: a backup goes into a new directory", a.dir.display())).into());
    }
    let source = ctx.connect(&a.conn)?;
    let upto = source.call(&queries::Stats::default()).explained(&source)?.last_seq;
    std::fs::create_dir_all(&a.dir).map_err(|e| Usage(format!("cannot create {}: {e}", a.dir.display())))?;
    let target = mltrace_api::client::Connection::data_dir(
        DataDir::new(&a.dir).with_holder(format!("pid {}, mltrace backup", std::process::id())),
        false,
    );
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(Some(upto), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} backing up {bar:30} {human_pos}/{human_len} events")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    // Lines go from the source to the copy in bounded chunks, so a backup of any size holds one
    // chunk in memory.
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<String>>(4096);
    let copied = std::thread::scope(|scope| {
        let writer = scope.spawn(|| super::import::restore_lines(&target, rx.into_iter(), |n| bar.set_position(n)));
        let read = source.events(0, Some(upto), &mut |line| {
            tx.send(Ok(line.to_string())).map_err(|_| std::io::Error::other("the copy stopped"))
        });
        drop(tx);
        let written = writer.join().map_err(|_| anyhow::anyhow!("the copy's writer panicked"))?;
        let (n, last) = written?;
        read.explained(&source)?;
        anyhow::Ok((n, last))
    });
    bar.finish_and_clear();
    let (n, last) = copied?;
    drop(target);
    let report = mltrace_store::verify(&a.dir, |_, _| {})?;
    if report.last_seq != last {
        return Err(crate::Failed(format!(
            "the copy ends at seq {} but {last} events were restored; it is not a usable backup",
            report.last_seq
        ))
        .into());
    }
    let out = &mut ctx.out;
    let line = format!(
        "{} backed up {} (seq 1–{}) from {} to {}; verified",
        out.paint("ok", Style::Green),
        plural(n, "event", "events"),
        count(last),
        crate::conn::describe(&source.target),
        a.dir.display()
    );
    out.line(&line)?;
    Ok(())
}
