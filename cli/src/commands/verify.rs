//! `verify`: every record's checksum, the log's structure, the audit tree and every signed tree
//! head in the log, read-only (safe beside a server).

use super::Ctx;
use crate::conn::ConnArgs;
use crate::output::{Style, bytes, count, plural};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// Checks every record's checksum and the log's structure (segment headers, sequence numbers,
/// batch markers), recomputes the audit Merkle tree from the records' bytes and checks every signed
/// tree head in the log (and the checkpoint's tree) against it, without changing anything; safe
/// while a server writes the directory. Exits 1 at the first fault, naming the file and the byte
/// offset, and the event or range of events that no longer matches what was signed.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace verify --data-dir /var/lib/mltrace\n  mltrace verify                      # ./mltrace-data, or $MLTRACE_DATA_DIR"
)]
pub struct VerifyArgs {
    /// The public key (base64) the log's tree heads must be signed with; by default the data
    /// directory's own key (DATA_DIR/audit/signing-key), else the key each head names.
    #[arg(long, value_name = "BASE64")]
    pub key: Option<String>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace verify`.
pub fn run(a: VerifyArgs, ctx: &mut Ctx) -> anyhow::Result<u8> {
    let dir = ctx.conn_args(&a.conn).data_dir_only("verify")?;
    let key = match &a.key {
        None => None,
        Some(k) => Some(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, k.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                .ok_or_else(|| crate::Usage("--key must be a base64 Ed25519 public key (32 bytes)".into()))?,
        ),
    };
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} verifying {bar:30} {bytes}/{total_bytes}  {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    } else {
        ProgressBar::hidden()
    };
    let audit = mltrace_store::audit::verify_dir(&dir, key, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let audit = audit?;
    let report = &audit.log;
    let out = &mut ctx.out;
    let line = format!(
        "{} {}: {}, {}, {}, last seq {}",
        out.paint("ok", Style::Green),
        dir.display(),
        plural(report.segments as u64, "segment", "segments"),
        plural(report.records, "record", "records"),
        bytes(report.bytes),
        count(report.last_seq)
    );
    out.line(&line)?;
    let line = format!(
        "{} audit tree of {} events: {} match",
        out.paint("ok", Style::Green),
        count(report.last_seq),
        plural(audit.heads, "signed tree head", "signed tree heads"),
    );
    out.line(&line)?;
    if let Some(t) = &report.torn_tail {
        let line = out.paint(
            &format!(
                "note: {} ends with an unfinished write at offset {} ({}): {}; the next writer cuts it off",
                t.path.display(),
                t.offset,
                plural(t.bytes_dropped, "byte", "bytes"),
                t.reason
            ),
            Style::Yellow,
        );
        out.line(&line)?;
    }
    Ok(0)
}
