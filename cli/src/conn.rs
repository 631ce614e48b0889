//! Where a command reads and writes, and the options every read shares (`--as-of`, `--json`).
//!
//! Flags win over the environment: `--server` or `--data-dir` (not both), then `MLTRACE_SERVER`,
//! `MLTRACE_DATA_DIR`, `DB_SERVER=host` (the original mltrace's variable: `http://host:8080`), then
//! the server at `http://127.0.0.1:8080` if it answers within 300 ms. Failing all that, reads go to
//! `./mltrace-data` (saying so on stderr) and writes fail: see `Ctx::connect_for_write`.

use crate::Usage;
use clap::Args;
use mltrace_api::client::{self, Connection, DataDir, HttpClient, Settings, Target};
use mltrace_store::AsOf;
use std::path::PathBuf;

/// Connection options, accepted before the command (`mltrace --server URL recent`) and after it.
#[derive(Args, Debug, Clone, Default)]
pub struct ConnArgs {
    /// Server to talk to (env MLTRACE_SERVER; DB_SERVER=host means http://host:8080).
    #[arg(long, value_name = "URL", help_heading = "Connection")]
    pub server: Option<String>,
    /// Bearer token for the server (env MLTRACE_TOKEN).
    #[arg(long, value_name = "TOKEN", help_heading = "Connection")]
    pub token: Option<String>,
    /// Work on a data directory directly, no server needed (env MLTRACE_DATA_DIR).
    #[arg(long, value_name = "DIR", help_heading = "Connection")]
    pub data_dir: Option<PathBuf>,
    /// PEM file of CA certificates to trust for an https:// server (env MLTRACE_CA_CERT).
    #[arg(long, value_name = "FILE", help_heading = "Connection")]
    pub ca_cert: Option<PathBuf>,
}

impl ConnArgs {
    /// These options, with `inner` (given after the command) taking precedence.
    pub fn merged(&self, inner: &ConnArgs) -> ConnArgs {
        ConnArgs {
            server: inner.server.clone().or_else(|| self.server.clone()),
            token: inner.token.clone().or_else(|| self.token.clone()),
            data_dir: inner.data_dir.clone().or_else(|| self.data_dir.clone()),
            ca_cert: inner.ca_cert.clone().or_else(|| self.ca_cert.clone()),
        }
    }

    /// What these flags and the environment say, in the documented order.
    pub fn settings(&self) -> Result<Settings, Usage> {
        if self.server.is_some() && self.data_dir.is_some() {
            return Err(Usage("give --server or --data-dir, not both".into()));
        }
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let token = self.token.clone().or_else(|| env("MLTRACE_TOKEN"));
        let ca_cert = self.ca_cert.clone().or_else(|| env("MLTRACE_CA_CERT").map(PathBuf::from));
        let settings =
            |server: Option<String>, data_dir: Option<PathBuf>| Settings { server, data_dir, token, ca_cert };
        if self.server.is_some() || self.data_dir.is_some() {
            return Ok(settings(self.server.clone(), self.data_dir.clone()));
        }
        if let Some(server) = env("MLTRACE_SERVER") {
            return Ok(settings(Some(server), None));
        }
        if let Some(dir) = env("MLTRACE_DATA_DIR") {
            return Ok(settings(None, Some(dir.into())));
        }
        Ok(settings(env("DB_SERVER"), None))
    }

    /// Connects as the settings say.
    pub fn connect(&self) -> Result<Connection, Usage> {
        let settings = self.settings()?;
        if let Some(s) = &settings.server {
            check_url(&client::server_url(s))?;
        }
        let ca_error = |e: client::Error| Usage(format!("--ca-cert: {e}"));
        Ok(match (&settings.server, &settings.data_dir) {
            (None, Some(dir)) => Connection::data_dir(DataDir::new(dir), false),
            (Some(s), _) => Connection::server(
                HttpClient::new(&client::server_url(s))
                    .with_token(settings.token.clone())
                    .with_ca_cert(settings.ca_cert.as_deref())
                    .map_err(ca_error)?,
            ),
            (None, None) => client::connect(&settings).map_err(ca_error)?,
        })
    }

    /// The data directory for commands that only work on one (`verify`): the flag, else
    /// `MLTRACE_DATA_DIR`, else `./mltrace-data`.
    pub fn data_dir_only(&self, command: &str) -> Result<PathBuf, Usage> {
        if self.server.is_some() {
            return Err(Usage(format!(
                "`mltrace {command}` works on a data directory, not a server: pass --data-dir DIR"
            )));
        }
        let env = std::env::var("MLTRACE_DATA_DIR").ok().filter(|v| !v.trim().is_empty());
        Ok(self.data_dir.clone().or(env.map(PathBuf::from)).unwrap_or_else(|| client::DEFAULT_DATA_DIR.into()))
    }
}

fn check_url(url: &str) -> Result<(), Usage> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(Usage(format!("{url} is not an http:// or https:// URL")));
    }
    Ok(())
}

/// Options of every read.
#[derive(Args, Debug, Clone, Default)]
pub struct ReadArgs {
    /// Answer as the store did at this point: a sequence number, or a time (RFC 3339, or
    /// epoch milliseconds).
    #[arg(long, value_name = "SEQ|TIME", value_parser = parse_as_of)]
    pub as_of: Option<AsOf>,
    /// Print the API's JSON instead of the human view.
    #[arg(long)]
    pub json: bool,
}

/// `--as-of`: a sequence number, or any time `--since` and `--start` take (RFC 3339, epoch ms, or a
/// local date or date and time), so that every time option of the command line reads the same.
fn parse_as_of(text: &str) -> Result<AsOf, String> {
    AsOf::parse(text).or_else(|_| crate::commands::runs::parse_time(text, false).map(AsOf::Time)).map_err(|_| {
        format!(
            "`{}` is neither a sequence number nor a time (e.g. --as-of 120, --as-of 2026-03-01, \
             --as-of 2026-03-01T12:00:00Z)",
            text.trim()
        )
    })
}

/// A run id as the user types it: `12`, or `#12` as every view prints it.
pub fn parse_run_id(text: &str) -> Result<mltrace_store::RunId, String> {
    let t = text.trim();
    let digits = t.strip_prefix('#').unwrap_or(t);
    match digits.parse::<mltrace_store::RunId>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(format!("`{t}` is not a run id (a positive number such as 12 or #12)")),
    }
}

/// A short description of where a connection goes, for messages.
pub fn describe(target: &Target) -> String {
    match target {
        Target::Server(url) => format!("the server at {url}"),
        Target::DataDir { path, .. } => format!("the data directory {}", path.display()),
    }
}
