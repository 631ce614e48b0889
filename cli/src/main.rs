//! `mltrace`: the command line, as a library whose [`main`] the binary (`src/bin/mltrace.rs`) and
//! the Python package's `mltrace` command both call. One binary for the server and everything a user does from a shell:
//! log runs (from scripts, or around any command), ask questions of the lineage (recent, history,
//! inspect, trace, downstream, review, outdated), flag outputs, move events in and out, and check
//! a data directory.
//!
//! # Layout
//!
//! | module       | owns                                                                      |
//! |--------------|---------------------------------------------------------------------------|
//! | `main`       | the command enum, dispatch, and the mapping of errors to exit codes        |
//! | `conn`       | where a command reads and writes (server or data directory), read options |
//! | `output`     | stdout, colour, tables, trees, and the formats of times and sizes          |
//! | `view`       | how runs, I/O and flags look in every command                              |
//! | `commands/*` | one module per command (or per small family): parse, ask, print          |
//! | `serve`      | `mltrace serve`                                                           |
//!
//! Exit codes: 0 success; 1 the operation failed (not found, server error, unavailable);
//! 2 bad usage or bad input, with one line that says what to fix. A closed pipe is not an error.

mod commands;
mod conn;
mod output;
mod serve;
mod view;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use commands::Ctx;
use std::ffi::OsString;
use std::io::Write;

/// mltrace: lineage and observability for ML pipelines.
#[derive(Parser, Debug)]
#[command(
    name = "mltrace",
    version,
    about = "mltrace: lineage and observability for ML pipelines",
    long_about = "mltrace: lineage and observability for ML pipelines.\n\nLog the runs of your pipeline's components (what they read, what they wrote, when, from which \
                  commit), then ask which runs produced an output, what was derived from it, which runs are \
                  stale, and which runs are common to the outputs you flagged as wrong.",
    after_help = "Where it reads and writes:\n  --server URL / MLTRACE_SERVER       a running `mltrace serve` (or DB_SERVER=host)\n  --data-dir DIR / MLTRACE_DATA_DIR   a data directory, no server needed\n  neither                             http://127.0.0.1:8080 if it answers, else ./mltrace-data\n\nExamples:\n  mltrace serve --demo                       # a server with an example pipeline\n  mltrace recent                             # the latest runs\n  mltrace trace model.pkl                    # how model.pkl was made\n  mltrace run -c train -i features.parquet -o model.pkl -- python train.py\n\nExit codes: 0 success, 1 the operation failed, 2 bad usage or input.",
    propagate_version = true,
    max_term_width = 110
)]
struct Cli {
    #[command(flatten)]
    conn: conn::ConnArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server (HTTP API + web UI on one port). `launch` is mltrace 0.17's name for it.
    #[command(visible_alias = "launch")]
    Serve(serve::ServeArgs),
    /// Log one run of a component (from any shell script).
    Log(commands::log::LogArgs),
    /// Run a command, time it, and log it as a run if it succeeds.
    Run(commands::exec::RunArgs),
    /// Log runs from NDJSON (one run object a line, as the HTTP API takes them).
    Import(commands::import::ImportArgs),
    /// Print the event log as NDJSON (what GET /api/v1/events answers).
    Export(commands::export::ExportArgs),
    /// The most recent runs.
    Recent(commands::runs::RecentArgs),
    /// A component's runs, newest first.
    History(commands::runs::HistoryArgs),
    /// The info card of one run.
    Inspect(commands::inspect::InspectArgs),
    /// The tree of runs that produced an output.
    Trace(commands::lineage::TraceArgs),
    /// Everything derived from an output.
    Downstream(commands::lineage::DownstreamArgs),
    /// Components, filtered by owner or tag.
    Components(commands::components::ComponentsArgs),
    /// Tags and how many components carry each.
    Tags(commands::components::TagsArgs),
    /// Add tags to a component.
    Tag(commands::components::TagArgs),
    /// Flag outputs for review.
    Flag(commands::flags::FlagArgs),
    /// Remove flags (named outputs, or --all).
    Unflag(commands::flags::UnflagArgs),
    /// The flagged outputs.
    Flags(commands::flags::FlagsArgs),
    /// Flagged outputs and the runs most common to them, with coverage.
    Review(commands::review::ReviewArgs),
    /// Components whose latest run used superseded inputs.
    Outdated(commands::lineage::OutdatedArgs),
    /// Replace a run's notes.
    Notes(commands::notes::NotesArgs),
    /// Copy a live store's history into a new data directory (a consistent backup).
    Backup(commands::backup::BackupArgs),
    /// Check every record's checksum, the log's structure, its Merkle tree and signed tree heads.
    Verify(commands::verify::VerifyArgs),
    /// Signed tree heads, proofs that runs are in the log unchanged, checks against saved heads.
    Audit(commands::audit::AuditArgs),
    /// Counts and sizes.
    Stats(commands::stats::StatsArgs),
    /// Cluster mode: the stream and the nodes that follow it.
    Cluster(commands::cluster::ClusterArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish or PowerShell).
    Completions(commands::completions::CompletionsArgs),
    /// Completion candidates for the shell scripts.
    #[command(name = "__complete", hide = true)]
    Names(commands::completions::NamesArgs),
}

/// `mltrace --data-dir D serve` means `mltrace serve --data-dir D` (and likewise --token), unless
/// `serve` was given its own.
fn serve_args(mut args: serve::ServeArgs, top: &conn::ConnArgs) -> serve::ServeArgs {
    if let Some(dir) = &top.data_dir
        && args.data_dir == std::path::Path::new(mltrace_api::client::DEFAULT_DATA_DIR)
    {
        args.data_dir = dir.clone();
    }
    if args.token.is_none() {
        args.token = top.token.clone();
    }
    args
}

/// Bad usage or bad input: exit 2 with this one line.
#[derive(Debug)]
pub struct Usage(pub String);

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// The operation failed: exit 1 with this one line.
#[derive(Debug)]
pub struct Failed(pub String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// Logs to stderr: `info` for the server; only warnings (a torn tail cut off on open) otherwise.
fn init_tracing(serving: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(if serving { "info" } else { "warn" }));
    // Colour codes only on a terminal: a log written to a file or journald must stay plain text. A
    // host process (Python) may have installed a subscriber already; then that one logs.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

/// Parses the command line; a usage error becomes one line (and exit 2), help and version print
/// as clap prints them.
fn parse(args: &[OsString]) -> Result<Cli, u8> {
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => return Err(usage_exit(e, args)),
    };
    Cli::from_arg_matches(&matches).map_err(|e| usage_exit(e, args))
}

fn usage_exit(e: clap::Error, args: &[OsString]) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            let _ = e.print();
            2
        }
        _ => {
            let args: Vec<String> = args.iter().skip(1).map(|a| a.to_string_lossy().into_owned()).collect();
            let line = one_line_usage(&e.render().to_string(), &command_path(&args));
            let _ = writeln!(std::io::stderr(), "mltrace: {line}");
            2
        }
    }
}

/// `mltrace recent` for `mltrace --server X recent -n x`: the command the arguments name.
fn command_path(args: &[String]) -> String {
    let cmd = Cli::command();
    match args.iter().find(|a| cmd.get_subcommands().any(|s| s.get_name() == a.as_str())) {
        Some(sub) => format!("mltrace {sub}"),
        None => "mltrace".into(),
    }
}

/// Folds clap's error (message, usage, tips) into one line that says what to fix, pointing at
/// the command's help.
fn one_line_usage(rendered: &str, command: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.starts_with("For more information") && !t.starts_with("Usage: "))
        .map(|t| t.strip_prefix("error: ").unwrap_or(t))
        .map(|t| t.strip_prefix("tip: ").unwrap_or(t))
        .collect();
    // Clap's lines are sentences without final punctuation ("unrecognized subcommand 'trcae'",
    // "some similar subcommands exist: 'trace'"): keep them apart when folding.
    let mut line = String::new();
    for p in parts {
        if !line.is_empty() {
            line.push_str(if line.ends_with(['.', ':', ';']) { " " } else { "; " });
        }
        line.push_str(p);
    }
    format!("{line} (see `{command} --help`)")
}

/// How an error ends the process.
enum Ending {
    /// The reader of stdout went away: nothing to say.
    Quiet,
    /// Exit with this code after printing the message.
    Code(u8),
}

fn ending(e: &anyhow::Error) -> Ending {
    for cause in e.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return Ending::Quiet;
        }
        if cause.downcast_ref::<Usage>().is_some() {
            return Ending::Code(2);
        }
        if let Some(c) = cause.downcast_ref::<mltrace_api::client::Error>() {
            if let mltrace_api::client::Error::Io(io) = c
                && io.kind() == std::io::ErrorKind::BrokenPipe
            {
                return Ending::Quiet;
            }
            return Ending::Code(if c.is_bad_input() { 2 } else { 1 });
        }
        if let Some(mltrace_store::StoreError::Invalid { .. }) = cause.downcast_ref::<mltrace_store::StoreError>() {
            return Ending::Code(2);
        }
    }
    Ending::Code(1)
}

/// Runs one command line (`args[0]` is the program name) and returns the process's exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match parse(&args) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let top = cli.conn.clone();
    let mut ctx = Ctx::new(cli.conn);
    init_tracing(matches!(cli.command, Command::Serve(_)));
    let result = match cli.command {
        Command::Serve(args) => serve::serve(serve_args(args, &top)).map(|()| 0),
        Command::Log(a) => commands::log::run(a, &mut ctx).map(|()| 0),
        Command::Run(a) => commands::exec::run(a, &mut ctx),
        Command::Import(a) => commands::import::run(a, &mut ctx).map(|()| 0),
        Command::Export(a) => commands::export::run(a, &mut ctx).map(|()| 0),
        Command::Recent(a) => commands::runs::recent(a, &mut ctx).map(|()| 0),
        Command::History(a) => commands::runs::history(a, &mut ctx).map(|()| 0),
        Command::Inspect(a) => commands::inspect::run(a, &mut ctx).map(|()| 0),
        Command::Trace(a) => commands::lineage::trace(a, &mut ctx).map(|()| 0),
        Command::Downstream(a) => commands::lineage::downstream(a, &mut ctx).map(|()| 0),
        Command::Components(a) => commands::components::list(a, &mut ctx).map(|()| 0),
        Command::Tags(a) => commands::components::tags(a, &mut ctx).map(|()| 0),
        Command::Tag(a) => commands::components::tag(a, &mut ctx).map(|()| 0),
        Command::Flag(a) => commands::flags::flag(a, &mut ctx).map(|()| 0),
        Command::Unflag(a) => commands::flags::unflag(a, &mut ctx).map(|()| 0),
        Command::Flags(a) => commands::flags::list(a, &mut ctx).map(|()| 0),
        Command::Review(a) => commands::review::run(a, &mut ctx).map(|()| 0),
        Command::Outdated(a) => commands::lineage::outdated(a, &mut ctx).map(|()| 0),
        Command::Notes(a) => commands::notes::run(a, &mut ctx).map(|()| 0),
        Command::Backup(a) => commands::backup::run(a, &mut ctx).map(|()| 0),
        Command::Verify(a) => commands::verify::run(a, &mut ctx),
        Command::Audit(a) => commands::audit::run(a, &mut ctx).map(|()| 0),
        Command::Stats(a) => commands::stats::run(a, &mut ctx).map(|()| 0),
        Command::Cluster(a) => commands::cluster::run(a, &mut ctx).map(|()| 0),
        Command::Completions(a) => commands::completions::run(a, &mut ctx, Cli::command()).map(|()| 0),
        Command::Names(a) => commands::completions::names(a, &mut ctx).map(|()| 0),
    };
    // What is still buffered goes out now; a reader that left early is not an error.
    let result = result.and_then(|code| ctx.out.flush().map(|()| code).map_err(anyhow::Error::from));
    match result {
        Ok(code) => code,
        Err(e) => match ending(&e) {
            Ending::Quiet => 0,
            Ending::Code(code) => {
                let message = format!("{e:#}").replace('\n', " ");
                let _ = writeln!(std::io::stderr(), "mltrace: {message}");
                code
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn clap_errors_fold_into_one_line() {
        let e = Cli::command().try_get_matches_from(["mltrace", "recent", "--limit", "x"]).unwrap_err();
        let line = one_line_usage(&e.render().to_string(), &command_path(&["recent".to_string()]));
        assert!(!line.contains('\n'));
        assert!(line.contains("invalid value 'x' for '--limit <N>'"), "{line}");
        assert!(line.ends_with("(see `mltrace recent --help`)"), "{line}");
    }
}
