//! `cluster status`: the stream of a cluster (its last seq, Raft leader and replicas) and the
//! mltrace nodes that follow it, with how far behind each one is. Read from the NATS servers
//! themselves, so it works whichever nodes are up.

use super::Ctx;
use crate::Failed;
use crate::output::{Style, count};
use crate::view::card;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Cluster mode (`serve --log nats://...`).
#[derive(Args, Debug)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// What to do with the cluster.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// The stream (last seq, leader, replicas) and the nodes with their lag.
    Status(StatusArgs),
}

/// `mltrace cluster status`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace cluster status --log nats://10.0.0.1:4222,nats://10.0.0.2:4222,nats://10.0.0.3:4222\n  MLTRACE_LOG=nats://127.0.0.1:4222 mltrace cluster status --json"
)]
pub struct StatusArgs {
    /// The NATS servers (nats://HOST:PORT[,nats://HOST:PORT...]), as given to `serve --log`.
    #[arg(long, value_name = "URLS", env = "MLTRACE_LOG")]
    pub log: String,
    /// The stream's name.
    #[arg(long, value_name = "NAME", env = "MLTRACE_STREAM", default_value = "mltrace")]
    pub stream: String,
    /// A token for the NATS servers.
    #[arg(long, value_name = "TOKEN", env = "MLTRACE_NATS_TOKEN")]
    pub nats_token: Option<String>,
    /// A NATS credentials file (JWT and NKey seed).
    #[arg(long, value_name = "FILE", env = "MLTRACE_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `mltrace cluster ...`.
pub fn run(a: ClusterArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    match a.command {
        ClusterCommand::Status(s) => status(s, ctx),
    }
}

fn status(a: StatusArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let opts = crate::serve::cluster_options(&a.log, &a.stream, None, a.nats_token, a.nats_creds, "status")?;
    let view = mltrace_cluster::cluster_view(&opts).map_err(|e| Failed(e.to_string()))?;
    if a.json {
        return Ok(ctx.out.json(&view)?);
    }
    let out = &mut ctx.out;
    let title = out.paint(&format!("stream {}", view.stream.stream), Style::Bold);
    out.line(&title)?;
    let replicas = view
        .stream
        .replicas
        .iter()
        .map(|r| {
            let state = if r.offline {
                "offline"
            } else if r.current {
                "current"
            } else {
                "behind"
            };
            format!("{} ({state})", r.name)
        })
        .collect::<Vec<_>>()
        .join(", ");
    card(
        out,
        &[
            ("last seq", view.stream.stream_last_seq.map(count).unwrap_or_else(|| "unknown".into())),
            ("batches", view.stream.stream_messages.map(count).unwrap_or_else(|| "unknown".into())),
            ("leader", view.stream.leader.clone().unwrap_or_else(|| "none".into())),
            ("replicas", format!("{} configured: {replicas}", view.configured_replicas)),
        ],
    )?;
    out.line("")?;
    if view.nodes.is_empty() {
        out.line("no mltrace node has announced itself in the last 15 s")?;
        return Ok(());
    }
    out.line(&out.paint("nodes", Style::Bold))?;
    for n in &view.nodes {
        let line = format!(
            "  {}  applied {}  lag {}  seen {:.1} s ago",
            n.node,
            count(n.applied),
            count(n.lag),
            n.seen_ms_ago as f64 / 1000.0
        );
        out.line(&line)?;
    }
    Ok(())
}
