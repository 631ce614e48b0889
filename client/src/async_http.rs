//! [`AsyncHttpClient`]: the API over HTTP for async code (reqwest on tokio), behind the `async`
//! feature. It answers every [`Endpoint`] through one generic [`AsyncHttpClient::call`], like the
//! blocking [`HttpClient`](crate::HttpClient), and shares with it what must not differ: the request
//! of an endpoint ([`Request::of`]), the error of an answer ([`api_error`]), the retry policy
//! ([`RETRY_PAUSES`]: reads and idempotent writes only, a refused connection reported at once), the
//! timeouts, the TLS configuration ([`crate::tls`]) and read-your-writes: a write's answer carries
//! its seq (`Mltrace-Seq`), and later reads pass it as `min_seq`, so that any node of a cluster
//! answers them only once it has applied the write.
//!
//! One client is cheap to clone (the connection pool is shared) and may be used by many tasks at once.

use crate::commands::LoggedRuns;
use crate::endpoint::Endpoint;
use crate::http::{
    CONNECT_TIMEOUT, ERROR_BODY_LIMIT, READ_TIMEOUT, RETRY_PAUSES, Request, SEQ_HEADER, USER_AGENT, api_error,
    innermost, min_seq, record_seq,
};
use crate::{Error, Result};
use mltrace_store::model::Logged;
use mltrace_store::{AsOf, NewRun, Seq};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// An async client of one server.
#[derive(Clone)]
pub struct AsyncHttpClient {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
    /// The seq of this client's last write (shared by its clones): reads pass it as `min_seq`.
    seen: Arc<AtomicU64>,
}

impl std::fmt::Debug for AsyncHttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("AsyncHttpClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

fn client(ca: Option<&Path>) -> Result<reqwest::Client> {
    // Our rustls configuration (ring, the Mozilla roots, the operator's CA), not reqwest's own, so
    // both clients trust the same certificates.
    let tls = crate::tls::client_config(ca)?;
    reqwest::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .connect_timeout(CONNECT_TIMEOUT)
        .read_timeout(READ_TIMEOUT)
        .user_agent(USER_AGENT)
        .build()
        .map_err(|e| Error::Protocol { url: String::new(), message: format!("cannot build the HTTP client: {e}") })
}

impl AsyncHttpClient {
    /// A client of the server at `base` (`http://127.0.0.1:8080`), without a token. Fails only if
    /// the TLS configuration cannot be built.
    pub fn new(base: &str) -> Result<AsyncHttpClient> {
        Ok(AsyncHttpClient {
            base: base.trim_end_matches('/').to_string(),
            token: None,
            client: client(None)?,
            seen: Arc::default(),
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    pub fn with_token(mut self, token: Option<String>) -> AsyncHttpClient {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    /// Trusts the CA certificates in this PEM file for `https://` (besides the Mozilla roots).
    /// `None` changes nothing.
    pub fn with_ca_cert(mut self, ca: Option<&Path>) -> Result<AsyncHttpClient> {
        if ca.is_some() {
            self.client = client(ca)?;
        }
        Ok(self)
    }

    /// The seq of this client's last acknowledged write (0: none yet); its reads wait until the
    /// server has applied it (`min_seq`), which gives read-your-writes on any node of a cluster,
    /// as with the blocking client.
    pub fn last_write_seq(&self) -> u64 {
        self.seen.load(Ordering::Acquire)
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// The answer to any endpoint: `client.call(&Trace::of("model.pkl")).await`.
    pub async fn call<Q: Endpoint>(&self, q: &Q) -> Result<Q::Answer> {
        let call = Request::of(q);
        self.json(&call, q.body().as_ref(), Q::RETRY).await
    }

    /// `GET /api/v1/health`: `{"status","version","last_seq","runs"}`.
    pub async fn health(&self) -> Result<Value> {
        self.json(&Request::get("/health"), None, true).await
    }

    /// Logs one run. Retried after a dropped connection only when it carries an idempotency key.
    pub async fn log_run(&self, run: &NewRun) -> Result<Logged> {
        let retry = run.idempotency_key.is_some();
        let r: LoggedRuns = self.json(&Request::with("POST", "/runs"), Some(&json!(run)), retry).await?;
        r.runs.into_iter().next().ok_or_else(|| self.protocol("POST /runs answered no run"))
    }

    /// Logs a batch, all or nothing, in order (errors name `runs[i].field`).
    pub async fn log_runs(&self, runs: &[NewRun]) -> Result<Vec<Logged>> {
        let retry = runs.iter().all(|r| r.idempotency_key.is_some());
        let body = json!({ "runs": runs });
        let r: LoggedRuns = self.json(&Request::with("POST", "/runs"), Some(&body), retry).await?;
        if r.runs.len() != runs.len() {
            return Err(self.protocol(format!("POST /runs answered {} runs for {} sent", r.runs.len(), runs.len())));
        }
        Ok(r.runs)
    }

    /// Appends lines of an export verbatim, all or nothing; answers the last seq. Never retried
    /// (a restore that landed would be refused the second time, hiding that it worked).
    pub async fn restore(&self, lines: &[String]) -> Result<Seq> {
        let mut body = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            body.extend_from_slice(l.as_bytes());
            body.push(b'\n');
        }
        let resp = self.send(&Request::with("POST", "/events"), Some(("application/x-ndjson", body)), false).await?;
        let raw = self.read_all(resp).await?;
        let v: Value = serde_json::from_slice(&raw).map_err(|e| self.protocol(format!("POST /events: {e}")))?;
        v.get("last_seq").and_then(Value::as_u64).ok_or_else(|| self.protocol("POST /events answered no last_seq"))
    }

    /// The events after `after` (at most `limit`), each line of `GET /api/v1/events` handed to
    /// `each` as it arrives (the stream is not held in memory); answers how many were handed over.
    pub async fn events(
        &self,
        after: Seq,
        limit: Option<u64>,
        mut each: impl FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        if limit == Some(0) {
            return Ok(0);
        }
        let resp = self.send(&Request::get("/events").q("after", &after).q("limit", &limit), None, true).await?;
        self.ndjson_lines(resp, "event stream", &mut each).await
    }

    /// The history as OpenLineage events (`GET /api/v1/lineage/events`), line by line.
    pub async fn openlineage_events(
        &self,
        after: Seq,
        as_of: Option<AsOf>,
        mut each: impl FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        let call = Request::get("/lineage/events").q("after", &after).q("as_of", &as_of);
        let resp = self.send(&call, None, true).await?;
        self.ndjson_lines(resp, "OpenLineage stream", &mut each).await
    }

    fn protocol(&self, message: impl Into<String>) -> Error {
        Error::Protocol { url: self.base.clone(), message: message.into() }
    }

    fn unreachable(&self, e: &reqwest::Error) -> Error {
        Error::Unreachable { url: self.base.clone(), reason: innermost(e, e.to_string()) }
    }

    /// Sends a request and answers the response after a successful status, retrying dropped
    /// connections when `retry` (the blocking client's policy).
    async fn send(&self, call: &Request, body: Option<(&str, Vec<u8>)>, retry: bool) -> Result<reqwest::Response> {
        let method = reqwest::Method::from_bytes(call.method.as_bytes())
            .map_err(|e| self.protocol(format!("{}: {e}", call.method)))?;
        let url = call.url(&self.base);
        let mut attempt = 0;
        loop {
            let mut req = self.client.request(method.clone(), &url).query(&call.query);
            if let Some(seq) = min_seq(&self.seen, call.method) {
                req = req.query(&[("min_seq", seq)]);
            }
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            if let Some((ctype, bytes)) = &body {
                req = req.header(reqwest::header::CONTENT_TYPE, *ctype).body(bytes.clone());
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let seq = resp.headers().get(SEQ_HEADER).and_then(|v| v.to_str().ok());
                    record_seq(&self.seen, call.method, seq);
                    return Ok(resp);
                }
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = self.read_limited(resp).await;
                    return Err(api_error(&self.base, status, &String::from_utf8_lossy(&body)));
                }
                Err(e) => {
                    // A refused connection means no server: retrying only delays the message.
                    if !retry || e.is_connect() || e.is_builder() || attempt >= RETRY_PAUSES.len() {
                        return Err(self.unreachable(&e));
                    }
                    tokio::time::sleep(RETRY_PAUSES[attempt]).await;
                    attempt += 1;
                }
            }
        }
    }

    /// At most [`ERROR_BODY_LIMIT`] bytes of an error answer; what cannot be read is left out.
    async fn read_limited(&self, mut resp: reqwest::Response) -> Vec<u8> {
        let mut body = Vec::new();
        while let Ok(Some(chunk)) = resp.chunk().await {
            body.extend_from_slice(&chunk);
            if body.len() as u64 >= ERROR_BODY_LIMIT {
                body.truncate(ERROR_BODY_LIMIT as usize);
                break;
            }
        }
        body
    }

    async fn read_all(&self, resp: reqwest::Response) -> Result<Vec<u8>> {
        resp.bytes().await.map(|b| b.to_vec()).map_err(|e| Error::Unreachable {
            url: self.base.clone(),
            reason: format!("the answer was cut short: {}", innermost(&e, e.to_string())),
        })
    }

    async fn json<T: DeserializeOwned>(&self, call: &Request, body: Option<&Value>, retry: bool) -> Result<T> {
        let bytes = body.map(|b| ("application/json", b.to_string().into_bytes()));
        let resp = self.send(call, bytes, retry).await?;
        let raw = self.read_all(resp).await?;
        serde_json::from_slice(&raw).map_err(|e| self.protocol(format!("{} {}: {e}", call.method, call.path)))
    }

    /// Hands each non-empty line of an NDJSON answer to `each` as its bytes arrive.
    async fn ndjson_lines(
        &self,
        mut resp: reqwest::Response,
        what: &str,
        each: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        let mut sent = 0;
        let mut pending: Vec<u8> = Vec::new();
        let mut line = |bytes: &[u8], sent: &mut u64| -> Result<()> {
            let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            if bytes.is_empty() {
                return Ok(());
            }
            let text = std::str::from_utf8(bytes).map_err(|e| self.protocol(format!("the {what}: {e}")))?;
            each(text)?;
            *sent += 1;
            Ok(())
        };
        loop {
            let chunk = resp.chunk().await.map_err(|e| Error::Unreachable {
                url: self.base.clone(),
                reason: format!("the {what} was cut short after {sent} events: {}", innermost(&e, e.to_string())),
            })?;
            let Some(chunk) = chunk else { break };
            pending.extend_from_slice(&chunk);
            let mut start = 0;
            while let Some(end) = pending[start..].iter().position(|&b| b == b'\n') {
                line(&pending[start..start + end], &mut sent)?;
                start += end + 1;
            }
            pending.drain(..start);
        }
        line(&pending, &mut sent)?;
        Ok(sent)
    }
}
