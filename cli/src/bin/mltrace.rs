//! The `mltrace` binary: everything lives in the library (`src/main.rs`), which the Python package's
//! `mltrace` command calls too.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(mltrace_cli::main(std::env::args_os()))
}
