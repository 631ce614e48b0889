//! `mltrace serve`: the server with the web UI, on one port.

use clap::Args;
use mltrace_api::auth::Tokens;
use mltrace_api::server::{ServeConfig, run};
use mltrace_store::FsyncPolicy;
use std::path::PathBuf;

/// Start the server: HTTP API and web UI on one port.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace serve                         # http://127.0.0.1:8080, data in ./mltrace-data\n  mltrace serve --demo                  # with an example pipeline to look at\n  mltrace serve --addr 0.0.0.0:8080 --token \"$(openssl rand -hex 16)\""
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
    /// Sign tree heads with the Ed25519 key in this file (its 32-byte seed, base64 or raw) instead
    /// of the one created in DATA_DIR/audit/signing-key.
    #[arg(long, env = "MLTRACE_SIGNING_KEY")]
    pub signing_key: Option<PathBuf>,
    /// Do not keep the audit Merkle tree (no tree heads or proofs; for measuring its cost).
    #[arg(long, hide = true)]
    pub no_audit_tree: bool,
    /// Largest request body, in MiB.
    #[arg(long, default_value_t = 64)]
    pub body_limit_mib: usize,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let cfg = ServeConfig {
        addr: args.addr,
        data_dir: args.data_dir,
        fsync: args.fsync,
        tokens: Tokens { write: args.token, read: args.read_token },
        allow_unauthenticated: args.allow_unauthenticated,
        demo: args.demo,
        body_limit: args.body_limit_mib * 1024 * 1024,
        checkpoint_every: args.checkpoint_every,
        signing_key: args.signing_key,
        merkle: !args.no_audit_tree,
        ..ServeConfig::default()
    };
    run(cfg)?;
    Ok(())
}
