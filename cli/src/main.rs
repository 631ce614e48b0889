//! `mltrace`: the command line. One binary for the server and everything a user does from a shell.

mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// mltrace: lineage and observability for ML pipelines.
#[derive(Parser, Debug)]
#[command(name = "mltrace", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start the server (HTTP API + web UI on one port).
    Serve(serve::ServeArgs),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Serve(args) => serve::serve(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mltrace: {e:#}");
            ExitCode::from(1)
        }
    }
}
