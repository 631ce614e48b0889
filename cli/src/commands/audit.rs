//! `audit head | prove | check`: signed tree heads, the evidence behind a run, and the check of
//! today's log against heads saved earlier. The checks run here, on the client, with the store's
//! verification functions: a server is never asked whether it is honest.

use super::{Ctx, Explain};
use crate::Failed;
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Style, count};
use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use clap::{Args, Subcommand};
use mltrace_api::client::{Call, commands, queries};
use mltrace_store::RunId;
use mltrace_store::audit::{Hash, TreeHead, hash_from_json, hashes_from_json, head_from_json, leaf_hash};
use mltrace_store::audit::{verify_consistency, verify_inclusion};
use serde_json::Value;
use std::path::PathBuf;

/// Audit-grade history: signed tree heads over the log, and proofs against them.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace audit head >> heads.ndjson        # save a signed tree head (cron, on another machine)\n  mltrace audit head --record               # also write it into the log\n  mltrace audit prove 12 --json > run12.json\n  mltrace audit check heads.ndjson          # is today's log consistent with every saved head?"
)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The audit commands.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Print a signed tree head as one JSON line (what an auditor saves).
    Head(HeadArgs),
    /// The events behind a run, their inclusion proofs and a signed head, each checked here.
    Prove(ProveArgs),
    /// Check that today's log is consistent with tree heads saved earlier (a JSON file, or one
    /// head a line); names the first saved head that no longer matches.
    Check(CheckArgs),
}

/// `audit head`.
#[derive(Args, Debug)]
pub struct HeadArgs {
    /// Sign the tree as it was at this seq or time instead of now.
    #[arg(long, value_name = "SEQ|TIME", value_parser = |t: &str| mltrace_store::AsOf::parse(t))]
    pub as_of: Option<mltrace_store::AsOf>,
    /// Also write the head into the log (a `tree_head` event).
    #[arg(long, conflicts_with = "as_of")]
    pub record: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `audit prove RUN_ID`.
#[derive(Args, Debug)]
pub struct ProveArgs {
    /// The run's id.
    #[arg(value_name = "RUN_ID")]
    pub id: RunId,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `audit check HEAD_FILE`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Saved heads: one JSON object, or one a line, oldest first.
    #[arg(value_name = "HEAD_FILE")]
    pub file: PathBuf,
    /// The public key (base64) the heads must be signed with; by default the key in the heads.
    #[arg(long, value_name = "BASE64")]
    pub key: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace audit ...`.
pub fn run(a: AuditArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    match a.command {
        AuditCommand::Head(h) => head(h, ctx),
        AuditCommand::Prove(p) => prove(p, ctx),
        AuditCommand::Check(c) => check(c, ctx),
    }
}

fn head(a: HeadArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let v = if a.record { conn.call(&commands::RecordHead) } else { conn.call(&queries::AuditHead { as_of: a.as_of }) }
        .explained(&conn)?;
    Ok(ctx.out.json(&v)?)
}

fn b64(h: &[u8]) -> String {
    B64.encode(h)
}

fn bad(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failed(msg.into()))
}

fn prove(a: ProveArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let run = conn.call(&queries::Run { id: a.id, as_of: a.read.as_of, proof: true }).explained(&conn)?;
    let v = serde_json::to_value(run)?;
    let proof = v.get("proof").ok_or_else(|| bad("the answer carries no proof"))?;
    let head = head_from_json(proof.get("head").unwrap_or(&Value::Null)).map_err(bad)?;
    if !head.verify(&head.key) {
        return Err(bad("the signed head's signature does not verify"));
    }
    let events = proof.get("events").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut lines = Vec::new();
    for e in &events {
        let seq = e.get("seq").and_then(Value::as_u64).unwrap_or(0);
        check_inclusion(e, &head).map_err(|why| bad(format!("the proof for event seq {seq} does not hold: {why}")))?;
        lines.push(format!("event seq {seq} is leaf {} of the tree of {} events", seq - 1, count(head.size)));
    }
    if a.read.json {
        return Ok(ctx.out.json(&v)?);
    }
    let out = &mut ctx.out;
    let ok = out.paint("ok", Style::Green);
    out.line(&format!(
        "{ok} run {}: {} checked against a tree head signed at {}",
        a.id,
        count(events.len() as u64),
        mltrace_store::Timestamp(head.time)
    ))?;
    for l in lines {
        out.line(&format!("  {l}"))?;
    }
    out.line(&format!("  root {}  key {}", b64(&head.root), b64(&head.key)))?;
    Ok(())
}

/// Recomputes the leaf from the event's bytes and checks its audit path against the head's root.
fn check_inclusion(e: &Value, head: &TreeHead) -> Result<(), String> {
    let seq = e.get("seq").and_then(Value::as_u64).ok_or("no seq")?;
    let size = e.get("size").and_then(Value::as_u64).ok_or("no size")?;
    let bytes = e.get("event").and_then(Value::as_str).and_then(|t| B64.decode(t).ok()).ok_or("no event bytes")?;
    if size != head.size {
        return Err(format!("it is for a tree of {size} events, the head for {}", head.size));
    }
    let path = hashes_from_json(e, "path")?;
    if seq == 0 || !verify_inclusion(seq - 1, size, &leaf_hash(&bytes), &path, &head.root) {
        return Err("the audit path does not lead to the head's root".into());
    }
    Ok(())
}

fn read_heads(file: &PathBuf) -> anyhow::Result<Vec<TreeHead>> {
    let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let values: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(items)) => items,
        Ok(v) => vec![v],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| {
                    anyhow::Error::new(crate::Usage(format!("{} line {}: not JSON ({e})", file.display(), i + 1)))
                })
            })
            .collect::<anyhow::Result<_>>()?,
    };
    let mut heads = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let head = head_from_json(v)
            .map_err(|why| anyhow::Error::new(crate::Usage(format!("{} head {}: {why}", file.display(), i + 1))))?;
        heads.push(head);
    }
    if heads.is_empty() {
        return Err(anyhow::Error::new(crate::Usage(format!("{} holds no tree head", file.display()))));
    }
    heads.sort_by_key(|h| h.size);
    Ok(heads)
}

fn check(a: CheckArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let pinned: Option<[u8; 32]> = match &a.key {
        Some(k) => {
            Some(B64.decode(k.trim()).ok().and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()).ok_or_else(|| {
                anyhow::Error::new(crate::Usage("--key must be a base64 Ed25519 public key (32 bytes)".into()))
            })?)
        }
        None => None,
    };
    let heads = read_heads(&a.file)?;
    let conn = ctx.connect(&a.conn)?;
    let server_key = conn.call(&queries::AuditKey).explained(&conn)?;
    let server_key = hash_from_json(&server_key, "public_key").map_err(bad)?;
    let latest = head_from_json(&conn.call(&queries::AuditHead { as_of: None }).explained(&conn)?).map_err(bad)?;
    let trusted = pinned.unwrap_or(heads[0].key);
    if !latest.verify(&trusted) {
        return Err(bad(format!(
            "the log is now signed with the key {}, not the key {} that signed the saved heads: the signing key was swapped",
            b64(&server_key),
            b64(&trusted)
        )));
    }
    // Everything up to this size matched a saved head: a later mismatch lies after it.
    let mut good: u64 = 0;
    for (i, h) in heads.iter().enumerate() {
        let which = format!("saved head {} (size {})", i + 1, h.size);
        if h.key != trusted || !h.verify(&trusted) {
            return Err(bad(format!("{which} is not signed by the key {}", b64(&trusted))));
        }
        if h.size > latest.size {
            return Err(bad(format!(
                "{which}: the log now has {} events, fewer than the {} this head covered: events seq {}..={} were removed",
                latest.size,
                h.size,
                latest.size + 1,
                h.size
            )));
        }
        let v = conn.call(&queries::ConsistencyProof { from: h.size, to: Some(latest.size) }).explained(&conn)?;
        let path = hashes_from_json(&v, "path").map_err(bad)?;
        let now_root: Hash = hash_from_json(&v, "from_root").map_err(bad)?;
        if !verify_consistency(h.size, latest.size, &h.root, &latest.root, &path) {
            let range = if now_root != h.root {
                format!(
                    "the first {} events no longer hash to the saved root: an event among seq {}..={} was changed, removed or reordered",
                    h.size,
                    good + 1,
                    h.size
                )
            } else {
                "the consistency proof does not hold".to_string()
            };
            return Err(bad(format!("{which} does not match today's log: {range}")));
        }
        good = h.size;
    }
    let out = &mut ctx.out;
    let ok = out.paint("ok", Style::Green);
    out.line(&format!(
        "{ok} {} consistent with today's log of {} events (root {}, key {})",
        if heads.len() == 1 { "the saved head is".to_string() } else { format!("all {} saved heads are", heads.len()) },
        count(latest.size),
        b64(&latest.root),
        b64(&trusted)
    ))?;
    Ok(())
}
