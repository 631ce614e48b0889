//! `mltrace serve`: the server with the web UI, on one port.

use crate::Usage;
use clap::Args;
use mltrace_api::auth::Tokens;
use mltrace_api::server::{ServeConfig, run};
use mltrace_api::tls::TlsFiles;
use mltrace_store::FsyncPolicy;
use std::path::PathBuf;

/// Start the server: HTTP API and web UI on one port.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace serve                         # http://127.0.0.1:8080, data in ./mltrace-data\n  mltrace serve --demo                  # with an example pipeline to look at\n  mltrace serve --addr 0.0.0.0:8443 --token \"$(openssl rand -hex 16)\" \\\n      --tls-cert cert.pem --tls-key key.pem   # HTTPS; `kill -HUP` reloads the files"
)]
pub struct ServeArgs {
    /// Address to listen on. Anything but loopback needs --token (or --allow-unauthenticated).
    #[arg(long, default_value = "127.0.0.1:8080", env = "MLTRACE_ADDR")]
    pub addr: String,
    /// The data directory (created on first start).
    #[arg(long, env = "MLTRACE_DATA_DIR", default_value = "mltrace-data")]
    pub data_dir: PathBuf,
    /// Durability: always (fsync before acknowledging), interval:MS, or never.
    #[arg(long, default_value = "always", value_parser = FsyncPolicy::parse)]
    pub fsync: FsyncPolicy,
    /// Token that allows reads and writes (clients send `Authorization: Bearer TOKEN`).
    #[arg(long, env = "MLTRACE_TOKEN")]
    pub token: Option<String>,
    /// Token that allows reads only.
    #[arg(long, env = "MLTRACE_READ_TOKEN")]
    pub read_token: Option<String>,
    /// Listen beyond loopback without a token (only on a trusted network).
    #[arg(long)]
    pub allow_unauthenticated: bool,
    /// Load a small example pipeline into an empty data directory.
    #[arg(long)]
    pub demo: bool,
    /// Write a checkpoint of the state after this many new events (0: only at shutdown), so that
    /// a restart replays only the log's tail.
    #[arg(long, default_value_t = 1_000_000)]
    pub checkpoint_every: u64,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 64)]
    pub body_limit_mib: usize,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key; reloaded on SIGHUP).
    #[arg(long, value_name = "FILE", env = "MLTRACE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", env = "MLTRACE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

/// Shortest token accepted: an empty or tiny token (`--token ""` when `$(openssl rand -hex 16)`
/// failed) would protect nothing while the server believes it is protected.
pub const MIN_TOKEN_CHARS: usize = 12;

fn check_token(flag: &str, token: &Option<String>) -> Result<(), Usage> {
    match token {
        Some(t) if t.trim().chars().count() < MIN_TOKEN_CHARS || t.trim() != t => Err(Usage(format!(
            "{flag} must be at least {MIN_TOKEN_CHARS} characters with no surrounding spaces (it was {}); \
             make one with `openssl rand -hex 16`",
            if t.is_empty() { "empty".to_string() } else { format!("{} characters", t.chars().count()) }
        ))),
        _ => Ok(()),
    }
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    check_token("--token (MLTRACE_TOKEN)", &args.token)?;
    check_token("--read-token (MLTRACE_READ_TOKEN)", &args.read_token)?;
    let tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
        _ => None,
    };
    let cfg = ServeConfig {
        addr: args.addr,
        data_dir: args.data_dir,
        fsync: args.fsync,
        tokens: Tokens { write: args.token, read: args.read_token },
        allow_unauthenticated: args.allow_unauthenticated,
        demo: args.demo,
        body_limit: args.body_limit_mib * 1024 * 1024,
        checkpoint_every: args.checkpoint_every,
        tls,
        ..ServeConfig::default()
    };
    run(cfg)?;
    Ok(())
}
