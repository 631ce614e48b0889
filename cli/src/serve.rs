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
    /// Seconds a request body may take to arrive, whole (slower clients get 408).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_secs: u64,
    /// Seconds a client may accept no bytes of an answer (or of a followed event stream) before
    /// its connection is closed.
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_timeout_secs: u64,
    /// Most connections open at once (default: below the file-descriptor limit, at most 10,000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: Option<u64>,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key; reloaded on SIGHUP).
    #[arg(long, value_name = "FILE", env = "MLTRACE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", env = "MLTRACE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Cluster mode: keep the event log in a NATS JetStream stream on these servers
    /// (nats://HOST:PORT[,nats://HOST:PORT...]); DATA_DIR then holds this node's local mirror.
    #[arg(long, value_name = "URLS", env = "MLTRACE_LOG", help_heading = "Cluster mode")]
    pub log: Option<String>,
    /// The JetStream stream's name (created when missing).
    #[arg(
        long,
        value_name = "NAME",
        env = "MLTRACE_STREAM",
        default_value = "mltrace",
        requires = "log",
        help_heading = "Cluster mode"
    )]
    pub stream: String,
    /// Replicas of the stream when it is created (default: 3 with three or more servers, else 1).
    #[arg(long, value_name = "N", env = "MLTRACE_REPLICAS", requires = "log", value_parser = clap::value_parser!(u64).range(1..=5), help_heading = "Cluster mode")]
    pub replicas: Option<u64>,
    /// A token for the NATS servers.
    #[arg(long, value_name = "TOKEN", env = "MLTRACE_NATS_TOKEN", requires = "log", help_heading = "Cluster mode")]
    pub nats_token: Option<String>,
    /// A NATS credentials file (JWT and NKey seed).
    #[arg(long, value_name = "FILE", env = "MLTRACE_NATS_CREDS", requires = "log", help_heading = "Cluster mode")]
    pub nats_creds: Option<PathBuf>,
    /// The URL at which the other nodes reach this one (writes are forwarded to the node that
    /// holds the writer's lease); default http(s)://ADDR, which needs ADDR to be reachable.
    #[arg(long, value_name = "URL", env = "MLTRACE_ADVERTISE", requires = "log", help_heading = "Cluster mode")]
    pub advertise: Option<String>,
    /// Let every node write for itself, racing on the stream, instead of forwarding writes to the
    /// lease holder (for measuring what conflicts cost).
    #[arg(long, hide = true, requires = "log")]
    pub no_write_forwarding: bool,
}

/// The cluster options of `serve` (and of `cluster status`), checked.
pub fn cluster_options(
    log: &str,
    stream: &str,
    replicas: Option<u64>,
    token: Option<String>,
    creds: Option<PathBuf>,
    node: &str,
) -> Result<mltrace_cluster::Options, Usage> {
    let servers = mltrace_cluster::parse_servers(log).map_err(|e| Usage(e.to_string()))?;
    mltrace_cluster::check_stream_name(stream).map_err(|e| Usage(e.to_string()))?;
    let replicas = replicas.map(|r| r as usize).unwrap_or_else(|| mltrace_cluster::default_replicas(servers.len()));
    Ok(mltrace_cluster::Options {
        servers,
        stream: stream.to_string(),
        replicas,
        token,
        creds,
        node: node.to_string(),
        forward_writes: true,
    })
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
    let cluster = match &args.log {
        Some(log) => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            let advertise = args.advertise.clone().unwrap_or_else(|| format!("{scheme}://{}", args.addr));
            if !(advertise.starts_with("http://") || advertise.starts_with("https://")) {
                return Err(Usage(format!("--advertise `{advertise}` must be an http:// or https:// URL")).into());
            }
            let mut opts =
                cluster_options(log, &args.stream, args.replicas, args.nats_token, args.nats_creds, &advertise)?;
            opts.forward_writes = !args.no_write_forwarding;
            Some(std::sync::Arc::new(mltrace_cluster::Connect(opts))
                as std::sync::Arc<dyn mltrace_api::cluster::ClusterConnect>)
        }
        None => None,
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
        body_timeout: std::time::Duration::from_secs(args.body_timeout_secs),
        max_connections: args.max_connections.map(|n| n as usize),
        write_stall_timeout: std::time::Duration::from_secs(args.write_timeout_secs),
        signing_key: args.signing_key,
        merkle: !args.no_audit_tree,
        cluster,
        ..ServeConfig::default()
    };
    run(cfg)?;
    Ok(())
}
