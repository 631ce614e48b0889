//! [`HttpClient`]: the API over HTTP, blocking (ureq), with a bearer token.
//!
//! Reads are retried twice on a dropped connection (they change nothing); writes are retried only
//! when every run carries an idempotency key, the one case where a retry cannot log twice. A server
//! that refuses the connection is reported at once, naming its URL.

use super::{AnyEndpoint, Backend, Error, Result};
use crate::commands::LoggedRuns;
use crate::endpoint::ToParam;
use mltrace_store::model::Logged;
use mltrace_store::{AsOf, NewRun, Seq};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::any::Any;
use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How much of an error answer is read: the contract's body is small, a proxy's page may not be.
pub(crate) const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// The error of an answer with status `status` and body `body`: the contract's
/// `{"error":{"code","message","field"}}` when it is one, else the status and the body's first line.
pub(crate) fn api_error(base: &str, status: u16, body: &str) -> Error {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let err = parsed.as_ref().and_then(|v| v.get("error"));
    let text = |k: &str| err.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_string);
    match (text("code"), text("message")) {
        (Some(code), Some(message)) => {
            Error::Api { url: base.to_string(), status, code, message, field: text("field") }
        }
        _ => {
            let first = body.lines().next().unwrap_or("").chars().take(200).collect::<String>();
            let message = if first.trim().is_empty() {
                format!("the server at {base} answered HTTP {status}")
            } else {
                format!("the server at {base} answered HTTP {status}: {first}")
            };
            Error::Api { url: base.to_string(), status, code: format!("http_{status}"), message, field: None }
        }
    }
}

/// The innermost cause of an error, which says it best ("Connection refused (os error 111)").
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static), fallback: String) -> String {
    let mut reason = fallback;
    let mut source = e.source();
    while let Some(s) = source {
        reason = s.to_string();
        source = s.source();
    }
    reason
}

/// A client of one server.
#[derive(Clone)]
pub struct HttpClient {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// The seq of this client's last write (shared by its clones): reads pass it as `min_seq`.
    seen: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// The header of a write's answer that carries its seq (see `min_seq`).
pub(crate) const SEQ_HEADER: &str = "mltrace-seq";

/// The `min_seq` a request sends: a read waits for the client's last write (read-your-writes on
/// any node of a cluster); a write, or a client that has not written, sends none.
pub(crate) fn min_seq(seen: &AtomicU64, method: &str) -> Option<String> {
    let seen = seen.load(Ordering::Acquire);
    (method == "GET" && seen > 0).then(|| seen.to_string())
}

/// Remembers the seq a write's answer carries in [`SEQ_HEADER`].
pub(crate) fn record_seq(seen: &AtomicU64, method: &str, header: Option<&str>) {
    if method != "GET"
        && let Some(seq) = header.and_then(|v| v.parse::<u64>().ok())
    {
        seen.fetch_max(seq, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("HttpClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// How often a request is retried after a dropped connection, and the pause before each retry
/// (the async client keeps the same policy).
pub(crate) const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(400)];

fn agent(connect: Duration, read: Duration) -> ureq::Agent {
    builder(connect, read).build()
}

fn builder(connect: Duration, read: Duration) -> ureq::AgentBuilder {
    ureq::AgentBuilder::new().timeout_connect(connect).timeout_read(read).timeout_write(read).user_agent(USER_AGENT)
}

/// The user agent of both clients.
pub(crate) const USER_AGENT: &str = concat!("mltrace-rust/", env!("CARGO_PKG_VERSION"));
/// How long both clients wait for a connection, and for each read of an answer.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// A request about to be sent: method, path under `/api/v1`, query. Shared by both clients, so
/// that they send the same request for an endpoint.
pub(crate) struct Request {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
}

impl Request {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Request { method: "GET", path: path.into(), query: Vec::new() }
    }

    pub(crate) fn with(method: &'static str, path: impl Into<String>) -> Self {
        Request { method, path: path.into(), query: Vec::new() }
    }

    /// The request of an endpoint: its path parameters filled in, the others in the query.
    pub(crate) fn of(q: &dyn AnyEndpoint) -> Self {
        let (path, query) = q.params().split_path(q.path());
        Request { method: q.method().as_str(), path, query }
    }

    /// The full URL under `base`, without the query (each client encodes that itself).
    pub(crate) fn url(&self, base: &str) -> String {
        format!("{base}/api/v1{}", self.path)
    }

    pub(crate) fn q(mut self, key: &str, value: &impl ToParam) -> Self {
        if let Some(v) = value.to_param() {
            self.query.push((key.to_string(), v));
        }
        self
    }
}

impl HttpClient {
    /// A client of the server at `base` (`http://127.0.0.1:8080`), without a token.
    pub fn new(base: &str) -> HttpClient {
        HttpClient {
            base: base.trim_end_matches('/').to_string(),
            token: None,
            agent: agent(CONNECT_TIMEOUT, READ_TIMEOUT),
            seen: Default::default(),
        }
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: Option<String>) -> HttpClient {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Trusts the CA certificates in this PEM file for `https://` (besides the Mozilla roots), for
    /// a server whose certificate an internal CA signed. `None` changes nothing.
    pub fn with_ca_cert(mut self, ca: Option<&std::path::Path>) -> Result<HttpClient> {
        if let Some(path) = ca {
            let tls = crate::tls::client_config(Some(path))?;
            self.agent = builder(CONNECT_TIMEOUT, READ_TIMEOUT).tls_config(tls).build();
        }
        Ok(self)
    }

    /// The seq of this client's last acknowledged write (0: none yet); its reads wait until the
    /// server has applied it (`min_seq`), which gives read-your-writes on any node of a cluster.
    pub fn last_write_seq(&self) -> u64 {
        self.seen.load(Ordering::Acquire)
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Whether an mltrace server answers at `base` within `timeout`: its health endpoint answers
    /// the health JSON, or asks for a token (a server with tokens is still a server). Another
    /// program on the port does not count.
    pub fn probe(base: &str, timeout: Duration) -> bool {
        let agent = agent(timeout, timeout);
        match agent.get(&format!("{}/api/v1/health", base.trim_end_matches('/'))).timeout(timeout).call() {
            Ok(resp) => {
                let mut body = Vec::new();
                let _ = resp.into_reader().take(64 * 1024).read_to_end(&mut body);
                serde_json::from_slice::<Value>(&body)
                    .is_ok_and(|v| v.get("status").is_some() && v.get("version").is_some())
            }
            Err(ureq::Error::Status(401 | 403, resp)) => {
                let mut body = Vec::new();
                let _ = resp.into_reader().take(64 * 1024).read_to_end(&mut body);
                serde_json::from_slice::<Value>(&body).is_ok_and(|v| v.get("error").is_some())
            }
            Err(_) => false,
        }
    }

    /// `GET /api/v1/health`: `{"status","version","last_seq","runs"}`.
    pub fn health(&self) -> Result<Value> {
        self.json(Request::get("/health"), None, true)
    }

    fn unreachable(&self, t: &ureq::Transport) -> Error {
        let reason = innermost(t, t.message().map(str::to_string).unwrap_or_else(|| t.kind().to_string()));
        Error::Unreachable { url: self.base.clone(), reason }
    }

    fn protocol(&self, message: impl Into<String>) -> Error {
        Error::Protocol { url: self.base.clone(), message: message.into() }
    }

    /// Turns an error answer into [`Error::Api`], from the contract's body when there is one.
    fn api_error(&self, status: u16, resp: ureq::Response) -> Error {
        let mut body = String::new();
        let _ = resp.into_reader().take(ERROR_BODY_LIMIT).read_to_string(&mut body);
        api_error(&self.base, status, &body)
    }

    /// Sends a request and answers the response, retrying dropped connections when `retry`.
    fn send(&self, call: &Request, body: Option<(&str, &[u8])>, retry: bool) -> Result<ureq::Response> {
        let url = call.url(&self.base);
        let mut attempt = 0;
        loop {
            let mut req = self.agent.request(call.method, &url);
            for (k, v) in &call.query {
                req = req.query(k, v);
            }
            if let Some(seq) = min_seq(&self.seen, call.method) {
                req = req.query("min_seq", &seq);
            }
            if let Some(t) = &self.token {
                req = req.set("Authorization", &format!("Bearer {t}"));
            }
            let result = match body {
                Some((ctype, bytes)) => req.set("Content-Type", ctype).send_bytes(bytes),
                None => req.call(),
            };
            match result {
                Ok(resp) => {
                    record_seq(&self.seen, call.method, resp.header(SEQ_HEADER));
                    return Ok(resp);
                }
                Err(ureq::Error::Status(status, resp)) => return Err(self.api_error(status, resp)),
                Err(ureq::Error::Transport(t)) => {
                    // A refused connection means no server: retrying only delays the message.
                    let refused = t.kind() == ureq::ErrorKind::ConnectionFailed || t.kind() == ureq::ErrorKind::Dns;
                    if !retry || refused || attempt >= RETRY_PAUSES.len() {
                        return Err(self.unreachable(&t));
                    }
                    std::thread::sleep(RETRY_PAUSES[attempt]);
                    attempt += 1;
                }
            }
        }
    }

    /// The whole answer's body, after a successful status.
    fn body(&self, call: &Request, body: Option<&Value>, retry: bool) -> Result<Vec<u8>> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let resp = self.send(call, bytes.as_deref().map(|b| ("application/json", b)), retry)?;
        let mut raw = Vec::new();
        resp.into_reader().read_to_end(&mut raw).map_err(|e| Error::Unreachable {
            url: self.base.clone(),
            reason: format!("the answer was cut short: {e}"),
        })?;
        Ok(raw)
    }

    fn json<T: DeserializeOwned>(&self, call: Request, body: Option<&Value>, retry: bool) -> Result<T> {
        let raw = self.body(&call, body, retry)?;
        serde_json::from_slice(&raw).map_err(|e| self.protocol(format!("{} {}: {e}", call.method, call.path)))
    }

    /// Hands each non-empty line of an NDJSON answer to `each`; answers how many there were.
    fn ndjson_lines(
        &self,
        resp: ureq::Response,
        what: &str,
        each: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        let mut sent = 0;
        for line in BufReader::with_capacity(256 * 1024, resp.into_reader()).lines() {
            let line = line.map_err(|e| Error::Unreachable {
                url: self.base.clone(),
                reason: format!("the {what} was cut short after {sent} events: {e}"),
            })?;
            if line.is_empty() {
                continue;
            }
            each(&line)?;
            sent += 1;
        }
        Ok(sent)
    }
}

impl Backend for HttpClient {
    fn describe(&self) -> String {
        format!("the server at {}", self.base)
    }

    fn ask(&self, q: &dyn AnyEndpoint) -> Result<Box<dyn Any + Send>> {
        let call = Request::of(q);
        let raw = self.body(&call, q.body().as_ref(), q.retry())?;
        q.decode(&raw).map_err(|e| self.protocol(format!("{} {}: {e}", call.method, call.path)))
    }

    fn events(&self, after: Seq, limit: Option<u64>, each: &mut dyn FnMut(&str) -> std::io::Result<()>) -> Result<u64> {
        if limit == Some(0) {
            return Ok(0);
        }
        let resp = self.send(&Request::get("/events").q("after", &after).q("limit", &limit), None, true)?;
        self.ndjson_lines(resp, "event stream", each)
    }

    fn openlineage_events(
        &self,
        after: Seq,
        as_of: Option<AsOf>,
        each: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        let resp = self.send(&Request::get("/lineage/events").q("after", &after).q("as_of", &as_of), None, true)?;
        self.ndjson_lines(resp, "OpenLineage stream", each)
    }

    fn log_run(&self, run: &NewRun) -> Result<Logged> {
        let retry = run.idempotency_key.is_some();
        let r: LoggedRuns = self.json(Request::with("POST", "/runs"), Some(&json!(run)), retry)?;
        r.runs.into_iter().next().ok_or_else(|| self.protocol("POST /runs answered no run"))
    }

    fn restore(&self, lines: &[String]) -> Result<Seq> {
        let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            body.extend_from_slice(l.as_bytes());
            body.push(b'\n');
        }
        // Never retried: a restore that did land would be refused the second time (its seqs are
        // taken), which would hide that it worked.
        let resp = self.send(&Request::with("POST", "/events"), Some(("application/x-ndjson", &body)), false)?;
        let v: Value = resp.into_json().map_err(|e| self.protocol(format!("POST /events: {e}")))?;
        v.get("last_seq").and_then(Value::as_u64).ok_or_else(|| self.protocol("POST /events answered no last_seq"))
    }

    fn log_runs(&self, runs: &[NewRun]) -> Result<Vec<Logged>> {
        let retry = runs.iter().all(|r| r.idempotency_key.is_some());
        let body = json!({ "runs": runs });
        let r: LoggedRuns = self.json(Request::with("POST", "/runs"), Some(&body), retry)?;
        if r.runs.len() != runs.len() {
            return Err(self.protocol(format!("POST /runs answered {} runs for {} sent", r.runs.len(), runs.len())));
        }
        Ok(r.runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Call;
    use mltrace_store::{IoSpec, Timestamp};

    #[test]
    fn runs_are_sent_in_the_api_shape_and_parse_back() {
        let t = Timestamp::parse("2026-11-26T03:00:00Z").unwrap();
        let mut run = NewRun::new("train", t, t).inputs(["features.parquet"]).outputs(["model.pkl"]);
        run.inputs.push(IoSpec { name: "raw.csv".into(), hash: Some("sha256:ab".into()), kind: None });
        run.upstream = vec!["featuregen".into()];
        run.git_hash = Some("9f2c".into());
        run.idempotency_key = Some("k1".into());
        let back = NewRun::from_json(&json!(run)).unwrap();
        assert_eq!(back, run);
    }

    #[test]
    fn reads_carry_the_last_write_seq_and_writes_do_not() {
        let seen = AtomicU64::new(0);
        assert_eq!(min_seq(&seen, "GET"), None, "no write yet");
        record_seq(&seen, "POST", Some("7"));
        record_seq(&seen, "PUT", Some("5"));
        record_seq(&seen, "GET", Some("9"));
        record_seq(&seen, "POST", Some("soon"));
        assert_eq!(min_seq(&seen, "GET").as_deref(), Some("7"), "the highest seq a write answered");
        assert_eq!(min_seq(&seen, "POST"), None);
    }

    #[test]
    fn an_error_answer_keeps_the_field_or_the_first_line() {
        let e = api_error("http://h", 400, r#"{"error":{"code":"invalid_argument","message":"bad","field":"limit"}}"#);
        assert_eq!((e.code(), e.field(), e.to_string().as_str()), ("invalid_argument", Some("limit"), "bad"));
        let e = api_error("http://h", 502, "<html>Bad Gateway</html>\nmore");
        assert_eq!(e.code(), "http_502");
        assert_eq!(e.to_string(), "the server at http://h answered HTTP 502: <html>Bad Gateway</html>");
    }

    #[test]
    fn a_refused_connection_names_the_server() {
        // Port 9 (discard) is closed on loopback in any test environment we run in.
        let c = HttpClient::new("http://127.0.0.1:9");
        let e = c.call(&crate::queries::Recent { limit: 1, before: None, as_of: None }).unwrap_err();
        assert_eq!(e.code(), "unreachable");
        assert!(e.to_string().starts_with("cannot reach the mltrace server at http://127.0.0.1:9: "), "{e}");
    }
}
