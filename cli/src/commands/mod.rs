//! One module per command (or per small family of commands), each with the same three steps:
//! parse the arguments (clap), ask the [`Backend`](mltrace_api::client::Backend), print.

pub mod audit;
pub mod backup;
pub mod cluster;
pub mod completions;
pub mod components;
pub mod exec;
pub mod export;
pub mod flags;
pub mod import;
pub mod inspect;
pub mod lineage;
pub mod log;
pub mod notes;
pub mod review;
pub mod runs;
pub mod stats;
pub mod suggest;
pub mod verify;

use crate::conn::ConnArgs;
use crate::output::Out;
use crate::{Failed, Usage};
use mltrace_api::client::{Connection, Error, Target};
use std::io::Write;

/// What every command gets: the connection options given before the command, and stdout.
pub struct Ctx {
    conn: ConnArgs,
    /// Standard output.
    pub out: Out,
}

impl Ctx {
    /// A context with the top-level connection options.
    pub fn new(conn: ConnArgs) -> Ctx {
        Ctx { conn, out: Out::stdout() }
    }

    /// Connects for a read, with the command's own options over the top-level ones. When nothing
    /// was configured and no server answered, the read goes to `./mltrace-data`, and stderr says so:
    /// a default is never silent.
    pub fn connect(&self, inner: &ConnArgs) -> Result<Connection, Usage> {
        let conn = self.conn.merged(inner).connect()?;
        if let Target::DataDir { path, fallback: true } = &conn.target
            && path.exists()
        {
            let _ = writeln!(
                std::io::stderr(),
                "mltrace: no server answers at {}; reading the data directory {}",
                mltrace_api::client::DEFAULT_SERVER,
                path.display()
            );
        }
        Ok(conn)
    }

    /// Connects for a write. Unlike a read, a write never falls back to `./mltrace-data` when no
    /// server answers: runs logged by cron or CI while the server is down would be scattered over
    /// local folders that nobody looks at. A data directory must be asked for.
    pub fn connect_for_write(&self, inner: &ConnArgs) -> anyhow::Result<Connection> {
        let conn = self.conn.merged(inner).connect()?;
        if let Target::DataDir { fallback: true, .. } = &conn.target {
            return Err(anyhow::Error::new(Failed(format!(
                "no server answers at {} and no data directory was chosen, so nothing was written: start a server \
                 with `mltrace serve`, or pass --server URL (MLTRACE_SERVER) or --data-dir DIR (MLTRACE_DATA_DIR)",
                mltrace_api::client::DEFAULT_SERVER
            ))));
        }
        Ok(conn)
    }

    /// The merged connection options.
    pub fn conn_args(&self, inner: &ConnArgs) -> ConnArgs {
        self.conn.merged(inner)
    }
}

/// Explains a failure in terms of where the command looked, when the bare error would confuse:
/// reading a default `./mltrace-data` that does not exist means no server answered either.
pub fn explain(conn: &Connection, e: Error) -> anyhow::Error {
    if let Target::DataDir { path, fallback } = &conn.target
        && e.field() == Some("data_dir")
    {
        let msg = if *fallback {
            format!(
                "no server answers at {} and {} holds no mltrace log: start one with `mltrace serve`, log a run \
                 with `mltrace log`, or pass --server URL or --data-dir DIR",
                mltrace_api::client::DEFAULT_SERVER,
                path.display()
            )
        } else {
            format!("{} holds no mltrace log (check --data-dir, or log a run there first)", path.display())
        };
        return anyhow::Error::new(Failed(msg));
    }
    if matches!(e.code(), "unauthorized" | "forbidden") {
        let hint = if e.code() == "unauthorized" { "pass --token or set MLTRACE_TOKEN" } else { "use the write token" };
        return anyhow::Error::new(Failed(format!("{e} ({hint})")));
    }
    anyhow::Error::new(e)
}

/// `explain` as a method on results.
pub trait Explain<T> {
    /// Maps the error through [`explain`].
    fn explained(self, conn: &Connection) -> anyhow::Result<T>;
}

impl<T> Explain<T> for Result<T, Error> {
    fn explained(self, conn: &Connection) -> anyhow::Result<T> {
        self.map_err(|e| explain(conn, e))
    }
}
