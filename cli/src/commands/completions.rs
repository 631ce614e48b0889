//! `completions SHELL`: a completion script for the shell.

use super::Ctx;
use clap::Args;
use clap_complete::Shell;

/// Prints a completion script for bash, zsh, fish (or elvish, powershell).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace completions bash > ~/.local/share/bash-completion/completions/mltrace\n  mltrace completions zsh > \"${fpath[1]}/_mltrace\"\n  mltrace completions fish > ~/.config/fish/completions/mltrace.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

/// `mltrace completions SHELL`.
pub fn run(a: CompletionsArgs, ctx: &mut Ctx, mut cmd: clap::Command) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "mltrace", &mut buf);
    std::io::Write::write_all(&mut ctx.out, &buf)?;
    Ok(())
}
