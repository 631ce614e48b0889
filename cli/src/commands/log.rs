//! `log`: one run, from any shell script. Also the options `log` and `run` share.

use super::{Ctx, Explain};
use crate::Usage;
use crate::commands::runs::parse_time;
use crate::conn::ConnArgs;
use crate::output::{Paint, Style};
use crate::view::run_label;
use clap::Args;
use mltrace_api::client::Connection;
use mltrace_api::client::commands::LoggedRuns;
use mltrace_api::instrument::git;
use mltrace_store::model::Logged;
use mltrace_store::{IoSpec, NewRun, Timestamp};

/// What a run read and wrote, for `log`: each flag takes one name or several
/// (`-i a.csv b.csv`), since nothing follows them on the line.
#[derive(Args, Debug, Clone)]
pub struct LogIo {
    /// What the run read (repeat, or list several).
    #[arg(long = "input", short = 'i', value_name = "NAME", num_args = 1.., action = clap::ArgAction::Append)]
    pub inputs: Vec<String>,
    /// What the run wrote (repeat, or list several).
    #[arg(long = "output", short = 'o', value_name = "NAME", num_args = 1.., action = clap::ArgAction::Append)]
    pub outputs: Vec<String>,
    /// Components this run depends on besides its inputs (their latest runs).
    #[arg(long = "upstream", short = 'u', value_name = "COMPONENT", num_args = 1.., action = clap::ArgAction::Append)]
    pub upstream: Vec<String>,
}

/// What a run read and wrote, for `run`: one name per flag (`-i a.csv -i b.csv`), so that the
/// command may follow the last name without `--` (`mltrace run -c train -o model.pkl python train.py`
/// must not read `python train.py` as two more outputs).
#[derive(Args, Debug, Clone)]
pub struct RunIo {
    /// What the run read (repeat the flag for each).
    #[arg(long = "input", short = 'i', value_name = "NAME", action = clap::ArgAction::Append)]
    pub inputs: Vec<String>,
    /// What the run wrote (repeat the flag for each).
    #[arg(long = "output", short = 'o', value_name = "NAME", action = clap::ArgAction::Append)]
    pub outputs: Vec<String>,
    /// Components this run depends on besides its inputs (repeat the flag for each).
    #[arg(long = "upstream", short = 'u', value_name = "COMPONENT", action = clap::ArgAction::Append)]
    pub upstream: Vec<String>,
}

/// The names of a run's inputs, outputs and upstream components.
pub struct Io<'a> {
    /// Inputs.
    pub inputs: &'a [String],
    /// Outputs.
    pub outputs: &'a [String],
    /// Upstream components.
    pub upstream: &'a [String],
}

impl LogIo {
    /// The names.
    pub fn io(&self) -> Io<'_> {
        Io { inputs: &self.inputs, outputs: &self.outputs, upstream: &self.upstream }
    }
}

impl RunIo {
    /// The names.
    pub fn io(&self) -> Io<'_> {
        Io { inputs: &self.inputs, outputs: &self.outputs, upstream: &self.upstream }
    }
}

/// What a run is: the options `log` and `run` share.
#[derive(Args, Debug, Clone)]
pub struct RunSpec {
    /// The component (created on first use).
    #[arg(long, short = 'c')]
    pub component: String,
    /// Depend only on --upstream, not on the producers of the inputs.
    #[arg(long)]
    pub no_input_deps: bool,
    /// Notes to keep with the run.
    #[arg(long)]
    pub notes: Option<String>,
    /// Days after which a dependency counts as stale.
    #[arg(long, value_name = "DAYS", default_value_t = 30.0)]
    pub stale_after_days: f64,
    /// A key that makes logging this run again a no-op (safe retries).
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
}

impl RunSpec {
    /// The run to log, between `start` and `end`.
    pub fn new_run(&self, io: Io<'_>, start: Timestamp, end: Timestamp) -> Result<NewRun, Usage> {
        if !(self.stale_after_days >= 0.0 && self.stale_after_days.is_finite()) {
            return Err(Usage("--stale-after-days must be a non-negative number of days".into()));
        }
        let mut run = NewRun::new(&self.component, start, end);
        run.inputs = io.inputs.iter().map(|n| IoSpec::from(n.as_str())).collect();
        run.outputs = io.outputs.iter().map(|n| IoSpec::from(n.as_str())).collect();
        run.upstream = io.upstream.to_vec();
        run.dependencies_from_inputs = !self.no_input_deps;
        run.staleness_threshold_s = (self.stale_after_days * 86_400.0) as u64;
        run.notes = self.notes.clone().unwrap_or_default();
        run.idempotency_key = self.idempotency_key.clone();
        Ok(run)
    }
}

/// Logs one run. Times default to now; `--git auto` records the working directory's commit.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace log -c clean -i raw/events.csv -o clean/events.parquet\n  mltrace log -c train -i features.parquet -o model.pkl --git auto \\\n      --start 2026-03-01T10:00:00Z --end 2026-03-01T10:42:00Z\n  ID=$(mltrace log -c score -i model.pkl -o preds.jsonl --quiet)"
)]
pub struct LogArgs {
    #[command(flatten)]
    pub spec: RunSpec,
    #[command(flatten)]
    pub io: LogIo,
    /// When the run started (RFC 3339, epoch ms, or local YYYY-MM-DD HH:MM:SS); default now.
    #[arg(long, value_name = "TIME", value_parser = |t: &str| parse_time(t, false))]
    pub start: Option<Timestamp>,
    /// When it ended; default now.
    #[arg(long, value_name = "TIME", value_parser = |t: &str| parse_time(t, false))]
    pub end: Option<Timestamp>,
    /// The git commit: `auto` (the working directory's HEAD, with its tags) or a hash.
    #[arg(long, value_name = "auto|HASH")]
    pub git: Option<String>,
    /// Print only the new run's id.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print the API's JSON answer.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Fills in the git hash and tags: `auto` asks git about the working directory.
pub fn apply_git(run: &mut NewRun, git_arg: Option<&str>) {
    match git_arg {
        None => {}
        Some("auto") => {
            if let Some(commit) = git::head(std::path::Path::new(".")) {
                run.git_tags = git::tags(std::path::Path::new("."));
                run.git_hash = Some(commit);
            }
        }
        Some(hash) => run.git_hash = Some(hash.to_string()),
    }
}

/// `mltrace log`.
pub fn run(a: LogArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let now = Timestamp::now();
    let end = a.end.unwrap_or(now);
    let start = a.start.unwrap_or(end);
    let mut run = a.spec.new_run(a.io.io(), start, end)?;
    apply_git(&mut run, a.git.as_deref());
    let conn = ctx.connect_for_write(&a.conn)?;
    let logged = conn.log_run(&run).explained(&conn)?;
    if a.json {
        return Ok(ctx.out.json(&LoggedRuns { runs: vec![logged] })?);
    }
    if a.quiet {
        return Ok(ctx.out.line(&logged.id.to_string())?);
    }
    let lines = logged_lines(ctx.out.painter(), &conn, &run.component, &logged);
    for l in lines {
        ctx.out.line(&l)?;
    }
    Ok(())
}

/// `logged run train #12 · depends on #11, #9` and the stale warnings.
pub fn logged_lines(out: Paint, conn: &Connection, component: &str, logged: &Logged) -> Vec<String> {
    let mut head = format!("logged run {}", run_label(out, component, logged.id));
    if !logged.dependencies.is_empty() {
        let deps = logged.dependencies.iter().map(|d| format!("#{d}")).collect::<Vec<_>>().join(", ");
        head.push_str(&out.paint(&format!(" · depends on {deps}"), Style::Dim));
    }
    if let mltrace_api::client::Target::DataDir { fallback: true, path } = &conn.target {
        head.push_str(&out.paint(&format!(" · in {}", path.display()), Style::Dim));
    }
    let mut lines = vec![head];
    for s in &logged.stale {
        lines.push(out.paint(&format!("  ⚠ {s}"), Style::Yellow));
    }
    lines
}
