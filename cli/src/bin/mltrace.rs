//! The `mltrace` binary: everything lives in the library (`src/main.rs`), which the Python package's
//! `mltrace` command calls too; the allocator is the binary's own (`src/allocator.rs`).

use std::process::ExitCode;

#[path = "../allocator.rs"]
mod allocator;

fn main() -> ExitCode {
    allocator::install();
    ExitCode::from(mltrace_cli::main(std::env::args_os()))
}
