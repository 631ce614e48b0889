//! `run -- CMD ARGS...`: runs a command, times it, and logs it as a run when it succeeds.
//!
//! The command's stdout and stderr are its own; what mltrace says goes to stderr. Its exit code
//! is passed through, whether it succeeded or not (128 + N when a signal N ended it, 127 when it
//! could not be found, 126 when it could not be started).

use super::log::{RunIo, RunSpec, logged_lines};
use super::{Ctx, Explain};
use crate::conn::ConnArgs;
use crate::output::{Paint, Style, colour_wanted, duration, paint};
use clap::Args;
use mltrace_api::client::{Backend, Target};
use mltrace_api::client::{Call, queries};
use mltrace_api::instrument::git;
use mltrace_store::{StoreError, Timestamp};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::Command;

/// Runs a command and logs it as a run of a component if it succeeds (nothing is logged when it
/// fails, and its exit code is passed through either way). The git commit of the working directory
/// and the command line are recorded with the run.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace run -c train -i features.parquet -o model.pkl -- python train.py --epochs 3\n  mltrace run -c clean -i raw.csv -o clean.csv ./clean.sh raw.csv clean.csv\n  mltrace run -c join -i a.csv -i b.csv -o joined.csv -- ./join.sh\n\nEach -i/-o/-u takes one name (repeat the flag for more), so the command may follow without `--`;\n`--` is still accepted and is needed when the command itself starts with `-`.\n\nThe server (or data directory) is checked before the command starts, so a run is never lost after\nhours of work; the command's output is untouched, and mltrace's own lines go to stderr."
)]
pub struct RunArgs {
    #[command(flatten)]
    pub spec: RunSpec,
    #[command(flatten)]
    pub io: RunIo,
    /// The git commit to record instead of the working directory's HEAD.
    #[arg(long, value_name = "HASH")]
    pub git: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The command and its arguments: everything after the options (or after `--`).
    #[arg(value_name = "CMD", trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub command: Vec<String>,
}

/// Quotes a command line the way a POSIX shell would read it back.
fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty() && a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// `mltrace run`.
pub fn run(a: RunArgs, ctx: &mut Ctx) -> anyhow::Result<u8> {
    let (program, args) = a.command.split_first().ok_or_else(|| {
        crate::Usage(
            "give the command to run after the options, e.g. `mltrace run -c train -o model.pkl -- python train.py`"
                .into(),
        )
    })?;
    let conn = ctx.connect_for_write(&a.conn)?;
    preflight(&conn.target, &*conn)?;
    let line = shell_line(&a.command);
    let start = Timestamp::now();
    let status = match Command::new(program).args(args).status() {
        Ok(s) => s,
        Err(e) => {
            let hint =
                if e.kind() == std::io::ErrorKind::NotFound && !(a.io.inputs.is_empty() && a.io.outputs.is_empty()) {
                    " (each -i/-o takes one name: repeat the flag for more, and put the command after them)"
                } else {
                    ""
                };
            say(&format!("mltrace: cannot run `{program}`: {e}; nothing logged{hint}"));
            let code = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            return Ok(code);
        }
    };
    let end = Timestamp::now();
    if !status.success() {
        let (code, how) = exit_of(&status);
        say(&format!("mltrace: `{line}` {how} (ran {}); nothing logged", duration(end.0 - start.0)));
        return Ok(code);
    }
    let mut run = a.spec.new_run(a.io.io(), start, end)?;
    run.code_snapshot = Some(line);
    match &a.git {
        Some(h) => run.git_hash = Some(h.clone()),
        None => {
            if let Some(commit) = git::head(Path::new(".")) {
                run.git_tags = git::tags(Path::new("."));
                run.git_hash = Some(commit);
            }
        }
    }
    let logged = conn.log_run(&run).explained(&conn)?;
    // stdout belongs to the command: our lines go to stderr, coloured if stderr is a terminal.
    let colour = colour_wanted(std::io::stderr().is_terminal());
    for (i, l) in logged_lines(Paint::new(colour), &conn, &run.component, &logged).into_iter().enumerate() {
        let l = if i == 0 {
            format!("{l}{}", paint(colour, &format!(" (ran {})", duration(end.0 - start.0)), Style::Dim))
        } else {
            l
        };
        say(&format!("mltrace: {l}"));
    }
    Ok(0)
}

/// The exit code to pass on, and how the command ended, in words.
fn exit_of(status: &std::process::ExitStatus) -> (u8, String) {
    if let Some(code) = status.code() {
        return ((code & 0xff) as u8, format!("exited with {code}"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return ((128 + sig).clamp(0, 255) as u8, format!("was killed by signal {sig}"));
        }
    }
    (1, "failed".into())
}

/// Fails before the command starts when the run could not be logged after it: the server does not
/// answer, or a server holds the data directory.
fn preflight(target: &Target, backend: &dyn Backend) -> anyhow::Result<()> {
    match target {
        Target::Server(_) => {
            backend.call(&queries::Stats::default()).map_err(anyhow::Error::new)?;
        }
        Target::DataDir { path, .. } => {
            if let Some(holder) = mltrace_store::log::holder(path) {
                return Err(StoreError::Locked { dir: path.clone(), holder }.into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_are_quoted_for_a_shell() {
        let args = ["python", "train.py", "--name", "my model", "it's"].map(String::from);
        assert_eq!(shell_line(&args), r"python train.py --name 'my model' 'it'\''s'");
    }
}
