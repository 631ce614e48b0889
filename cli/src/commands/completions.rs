//! `completions SHELL`: a completion script for the shell; for bash and fish it also completes
//! output, component and tag names, asking the server (or data directory) through the hidden
//! `mltrace __complete KIND PREFIX` as you type.

use super::Ctx;
use crate::conn::ConnArgs;
use clap::Args;
use clap_complete::Shell;
use mltrace_api::client::{Call, queries};

/// Prints a completion script for bash, zsh, fish (or elvish, powershell).
#[derive(Args, Debug)]
#[command(
    after_help = "Bash and fish also complete output, component and tag names from the server (or data directory).\n\nExamples:\n  mltrace completions bash > ~/.local/share/bash-completion/completions/mltrace\n  mltrace completions zsh > \"${fpath[1]}/_mltrace\"\n  mltrace completions fish > ~/.config/fish/completions/mltrace.fish"
)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

/// Commands whose positional arguments are output names, and those whose first one is a component.
const OUTPUT_COMMANDS: &str = "trace downstream flag unflag";
const COMPONENT_COMMANDS: &str = "history tag";

/// `mltrace completions SHELL`.
pub fn run(a: CompletionsArgs, ctx: &mut Ctx, mut cmd: clap::Command) -> anyhow::Result<()> {
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "mltrace", &mut buf);
    let commands: Vec<&str> = cmd.get_subcommands().map(|s| s.get_name()).collect();
    match a.shell {
        Shell::Bash => buf.extend_from_slice(bash_names(&commands.join("|")).as_bytes()),
        Shell::Fish => buf.extend_from_slice(fish_names().as_bytes()),
        _ => {}
    }
    std::io::Write::write_all(&mut ctx.out, &buf)?;
    Ok(())
}

fn bash_names(commands: &str) -> String {
    let outputs = OUTPUT_COMMANDS.replace(' ', "|");
    let components = COMPONENT_COMMANDS.replace(' ', "|");
    format!(
        r#"
# Names (outputs, components) come from the server or data directory as you type.
_mltrace_names() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" sub="" at=0 i
    if declare -F _get_comp_words_by_ref >/dev/null; then _get_comp_words_by_ref -n : cur; fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in {commands}) sub="${{COMP_WORDS[i]}}"; at=$i; break ;; esac
    done
    local kind=""
    case "$sub" in
        {outputs}) kind=outputs ;;
        {components}) [[ $((COMP_CWORD - at)) -eq 1 ]] && kind=components ;;
    esac
    if [[ -n "$kind" && "$cur" != -* ]]; then
        local IFS=$'\n'
        COMPREPLY=($(mltrace __complete "$kind" "$cur" 2>/dev/null))
        if declare -F __ltrim_colon_completions >/dev/null; then __ltrim_colon_completions "$cur"; fi
        return 0
    fi
    _mltrace "$@"
}}
complete -F _mltrace_names -o bashdefault -o default mltrace
"#
    )
}

fn fish_names() -> String {
    format!(
        "\n# Names (outputs, components) come from the server or data directory as you type.\n\
         complete -c mltrace -n '__fish_seen_subcommand_from {OUTPUT_COMMANDS}' -f -a '(mltrace __complete outputs (commandline -ct) 2>/dev/null)'\n\
         complete -c mltrace -n '__fish_seen_subcommand_from {COMPONENT_COMMANDS}' -f -a '(mltrace __complete components (commandline -ct) 2>/dev/null)'\n"
    )
}

/// `mltrace __complete KIND PREFIX` (hidden): names starting with PREFIX, one a line.
#[derive(Args, Debug)]
pub struct NamesArgs {
    /// outputs, components or tags.
    pub kind: String,
    /// What has been typed so far.
    #[arg(default_value = "")]
    pub prefix: String,
}

/// Prints completion candidates; a shell asking mid-word gets nothing rather than an error.
pub fn names(a: NamesArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let Ok(conn) = ctx.connect(&ConnArgs::default()) else { return Ok(()) };
    let Ok(s) = conn.call(&queries::Suggest { q: a.prefix.clone(), limit: 200, as_of: None }) else { return Ok(()) };
    let names = match a.kind.as_str() {
        "outputs" => s.outputs,
        "components" => s.components,
        "tags" => s.tags,
        _ => Vec::new(),
    };
    for n in names.iter().filter(|n| n.starts_with(&a.prefix)) {
        ctx.out.line(n)?;
    }
    Ok(())
}
