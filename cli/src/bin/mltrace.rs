//! The `mltrace` binary: everything lives in the library (`src/main.rs`), which the Python package's
//! `mltrace` command calls too.

use std::process::ExitCode;

// jemalloc rather than glibc malloc: the store allocates and frees many small strings per run on
// several threads, and glibc's free lists were a third of the ingest's CPU (BENCHMARKS.md,
// "Allocator").
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    ExitCode::from(mltrace_cli::main(std::env::args_os()))
}
