//! [`HttpClient`]: the API over HTTP, blocking (ureq), with a bearer token.
//!
//! Reads are retried twice on a dropped connection (they change nothing); writes are retried only
//! when every run carries an idempotency key, the one case where a retry cannot log twice. A server
//! that refuses the connection is reported at once, naming its URL.

use super::{Backend, Error, Result};
use mltrace_store::model::{
    ComponentDetail, ComponentView, DownstreamView, FlagView, IoView, Logged, OutdatedComponent, ReviewRank,
    ReviewView, RunDetail, RunSummary, Stats, Suggestions, TagCount, TraceView,
};
use mltrace_store::{AsOf, IoSpec, NewRun, RunId, Seq, Timestamp};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read};
use std::time::Duration;

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
const SEQ_HEADER: &str = "mltrace-seq";

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("HttpClient")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

/// How often a request is retried after a dropped connection, and the pause before each retry.
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(100), Duration::from_millis(400)];

fn agent(connect: Duration, read: Duration) -> ureq::Agent {
    builder(connect, read).build()
}

fn builder(connect: Duration, read: Duration) -> ureq::AgentBuilder {
    ureq::AgentBuilder::new()
        .timeout_connect(connect)
        .timeout_read(read)
        .timeout_write(read)
        .user_agent(concat!("mltrace-rust/", env!("CARGO_PKG_VERSION")))
}

/// Percent-encodes one path segment (component names travel in the path).
fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn as_of_text(a: AsOf) -> String {
    match a {
        AsOf::Seq(s) => s.to_string(),
        AsOf::Time(t) => t.to_rfc3339(),
    }
}

/// A run in the API's request shape (`http-api.md`, "Run objects").
pub fn run_json(r: &NewRun) -> Value {
    let io = |list: &[IoSpec]| -> Vec<Value> {
        list.iter()
            .map(|i| match (&i.hash, &i.kind) {
                (None, None) => json!(i.name),
                _ => {
                    let mut o = json!({"name": i.name});
                    if let Some(h) = &i.hash {
                        o["hash"] = json!(h);
                    }
                    if let Some(k) = i.kind {
                        o["type"] = json!(k.as_str());
                    }
                    o
                }
            })
            .collect()
    };
    let mut v = json!({
        "component": r.component,
        "start": r.start,
        "end": r.end,
        "inputs": io(&r.inputs),
        "outputs": io(&r.outputs),
        "dependencies_from_inputs": r.dependencies_from_inputs,
        "staleness_threshold_s": r.staleness_threshold_s,
        "notes": r.notes,
    });
    if !r.upstream.is_empty() {
        v["upstream"] = json!(r.upstream);
    }
    if let Some(h) = &r.git_hash {
        v["git_hash"] = json!(h);
    }
    if !r.git_tags.is_empty() {
        v["git_tags"] = json!(r.git_tags);
    }
    if let Some(c) = &r.code_snapshot {
        v["code_snapshot"] = json!(c);
    }
    if !r.tests.is_empty() {
        v["tests"] = json!(r.tests);
    }
    if let Some(k) = &r.idempotency_key {
        v["idempotency_key"] = json!(k);
    }
    v
}

#[derive(serde::Deserialize)]
struct Runs<T> {
    runs: Vec<T>,
}

#[derive(serde::Deserialize)]
struct Components {
    components: Vec<ComponentView>,
}

#[derive(serde::Deserialize)]
struct Outdated {
    components: Vec<OutdatedComponent>,
}

#[derive(serde::Deserialize)]
struct Tags {
    tags: Vec<TagCount>,
}

#[derive(serde::Deserialize)]
struct Flags {
    flags: Vec<FlagView>,
}

#[derive(serde::Deserialize)]
struct Flagged {
    flagged: Vec<String>,
}

#[derive(serde::Deserialize)]
struct Unflagged {
    unflagged: Vec<String>,
}

/// A request about to be sent: method, path, query.
struct Call<'a> {
    method: &'static str,
    path: String,
    query: Vec<(&'a str, String)>,
}

impl<'a> Call<'a> {
    fn get(path: impl Into<String>) -> Self {
        Call { method: "GET", path: path.into(), query: Vec::new() }
    }

    fn with(method: &'static str, path: impl Into<String>) -> Self {
        Call { method, path: path.into(), query: Vec::new() }
    }

    fn q(mut self, key: &'a str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    fn opt(self, key: &'a str, value: Option<impl ToString>) -> Self {
        match value {
            Some(v) => self.q(key, v),
            None => self,
        }
    }

    fn at(self, as_of: Option<AsOf>) -> Self {
        self.opt("as_of", as_of.map(as_of_text))
    }
}

impl HttpClient {
    /// A client of the server at `base` (`http://127.0.0.1:8080`), without a token.
    pub fn new(base: &str) -> HttpClient {
        HttpClient {
            base: base.trim_end_matches('/').to_string(),
            token: None,
            agent: agent(Duration::from_secs(5), Duration::from_secs(120)),
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
            self.agent = builder(Duration::from_secs(5), Duration::from_secs(120)).tls_config(tls).build();
        }
        Ok(self)
    }

    /// The seq of this client's last acknowledged write (0: none yet); its reads wait until the
    /// server has applied it (`min_seq`), which gives read-your-writes on any node of a cluster.
    pub fn last_write_seq(&self) -> u64 {
        self.seen.load(std::sync::atomic::Ordering::Acquire)
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
        self.json(Call::get("/health"), None, true)
    }

    fn unreachable(&self, t: &ureq::Transport) -> Error {
        // The innermost cause says it best ("Connection refused (os error 111)").
        let mut reason = t.message().map(str::to_string).unwrap_or_else(|| t.kind().to_string());
        let mut source = std::error::Error::source(t);
        while let Some(s) = source {
            reason = s.to_string();
            source = s.source();
        }
        Error::Unreachable { url: self.base.clone(), reason }
    }

    fn protocol(&self, message: impl Into<String>) -> Error {
        Error::Protocol { url: self.base.clone(), message: message.into() }
    }

    /// Turns an error answer into [`Error::Api`], from the contract's body when there is one.
    fn api_error(&self, status: u16, resp: ureq::Response) -> Error {
        let mut body = String::new();
        let _ = resp.into_reader().take(64 * 1024).read_to_string(&mut body);
        let parsed: Option<Value> = serde_json::from_str(&body).ok();
        let err = parsed.as_ref().and_then(|v| v.get("error"));
        let text = |k: &str| err.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_string);
        match (text("code"), text("message")) {
            (Some(code), Some(message)) => {
                Error::Api { url: self.base.clone(), status, code, message, field: text("field") }
            }
            _ => {
                let first = body.lines().next().unwrap_or("").chars().take(200).collect::<String>();
                let message = if first.trim().is_empty() {
                    format!("the server at {} answered HTTP {status}", self.base)
                } else {
                    format!("the server at {} answered HTTP {status}: {first}", self.base)
                };
                Error::Api { url: self.base.clone(), status, code: format!("http_{status}"), message, field: None }
            }
        }
    }

    /// Sends a request and answers the response, retrying dropped connections when `retry`.
    fn send(&self, call: &Call<'_>, body: Option<(&str, &[u8])>, retry: bool) -> Result<ureq::Response> {
        let url = format!("{}/api/v1{}", self.base, call.path);
        let mut attempt = 0;
        loop {
            let mut req = self.agent.request(call.method, &url);
            for (k, v) in &call.query {
                req = req.query(k, v);
            }
            // Read-your-writes on any node of a cluster: a read waits for this client's last write.
            let seen = self.seen.load(std::sync::atomic::Ordering::Acquire);
            if call.method == "GET" && seen > 0 {
                req = req.query("min_seq", &seen.to_string());
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
                    if call.method != "GET"
                        && let Some(seq) = resp.header(SEQ_HEADER).and_then(|v| v.parse::<u64>().ok())
                    {
                        self.seen.fetch_max(seq, std::sync::atomic::Ordering::AcqRel);
                    }
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

    fn json<T: DeserializeOwned>(&self, call: Call<'_>, body: Option<&Value>, retry: bool) -> Result<T> {
        let bytes = body.map(|b| b.to_string().into_bytes());
        let resp = self.send(&call, bytes.as_deref().map(|b| ("application/json", b)), retry)?;
        let mut raw = Vec::new();
        resp.into_reader().read_to_end(&mut raw).map_err(|e| Error::Unreachable {
            url: self.base.clone(),
            reason: format!("the answer was cut short: {e}"),
        })?;
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

    fn get<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T> {
        self.json(call, None, true)
    }
}

impl Backend for HttpClient {
    fn describe(&self) -> String {
        format!("the server at {}", self.base)
    }

    fn stats(&self, as_of: Option<AsOf>) -> Result<Stats> {
        self.get(Call::get("/stats").at(as_of))
    }

    fn recent(&self, limit: usize, before: Option<RunId>, as_of: Option<AsOf>) -> Result<Vec<RunSummary>> {
        let r: Runs<RunSummary> = self.get(Call::get("/runs").q("limit", limit).opt("before", before).at(as_of))?;
        Ok(r.runs)
    }

    fn history(
        &self,
        component: &str,
        limit: usize,
        before: Option<RunId>,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        as_of: Option<AsOf>,
    ) -> Result<Vec<RunSummary>> {
        let call = Call::get(format!("/components/{}/runs", segment(component)))
            .q("limit", limit)
            .opt("before", before)
            .opt("since", since.map(Timestamp::to_rfc3339))
            .opt("until", until.map(Timestamp::to_rfc3339))
            .at(as_of);
        let r: Runs<RunSummary> = self.get(call)?;
        Ok(r.runs)
    }

    fn run(&self, id: RunId, as_of: Option<AsOf>) -> Result<RunDetail> {
        self.get(Call::get(format!("/runs/{id}")).at(as_of))
    }

    fn component(&self, name: &str, as_of: Option<AsOf>) -> Result<ComponentDetail> {
        self.get(Call::get(format!("/components/{}", segment(name))).at(as_of))
    }

    fn components(&self, owner: Option<&str>, tag: Option<&str>, as_of: Option<AsOf>) -> Result<Vec<ComponentView>> {
        let r: Components = self.get(Call::get("/components").opt("owner", owner).opt("tag", tag).at(as_of))?;
        Ok(r.components)
    }

    fn tags(&self, as_of: Option<AsOf>) -> Result<Vec<TagCount>> {
        let r: Tags = self.get(Call::get("/tags").at(as_of))?;
        Ok(r.tags)
    }

    fn io(&self, name: &str, as_of: Option<AsOf>) -> Result<IoView> {
        self.get(Call::get("/io").q("name", name).at(as_of))
    }

    fn trace(&self, output: &str, max_depth: Option<u32>, limit: usize, as_of: Option<AsOf>) -> Result<TraceView> {
        self.get(Call::get("/trace").q("output", output).opt("max_depth", max_depth).q("limit", limit).at(as_of))
    }

    fn downstream(
        &self,
        output: &str,
        max_depth: Option<u32>,
        limit: usize,
        as_of: Option<AsOf>,
    ) -> Result<DownstreamView> {
        self.get(Call::get("/downstream").q("output", output).opt("max_depth", max_depth).q("limit", limit).at(as_of))
    }

    fn flags(&self, as_of: Option<AsOf>) -> Result<Vec<FlagView>> {
        let r: Flags = self.get(Call::get("/flags").at(as_of))?;
        Ok(r.flags)
    }

    fn review_ranked(&self, limit: usize, rank: ReviewRank, as_of: Option<AsOf>) -> Result<ReviewView> {
        let call = Call::get("/review").q("limit", limit).at(as_of);
        // The contract's order is the server's default: the parameter is left out for it.
        let call = if rank == ReviewRank::Count { call } else { call.q("rank", rank.as_str()) };
        self.get(call)
    }

    fn outdated(&self, as_of: Option<AsOf>) -> Result<Vec<OutdatedComponent>> {
        let r: Outdated = self.get(Call::get("/outdated").at(as_of))?;
        Ok(r.components)
    }

    fn suggest(&self, q: &str, limit: usize, as_of: Option<AsOf>) -> Result<Suggestions> {
        self.get(Call::get("/suggest").q("q", q).q("limit", limit).at(as_of))
    }

    fn events(&self, after: Seq, limit: Option<u64>, each: &mut dyn FnMut(&str) -> std::io::Result<()>) -> Result<u64> {
        if limit == Some(0) {
            return Ok(0);
        }
        let resp = self.send(&Call::get("/events").q("after", after).opt("limit", limit), None, true)?;
        self.ndjson_lines(resp, "event stream", each)
    }

    fn openlineage_events(
        &self,
        after: Seq,
        as_of: Option<AsOf>,
        each: &mut dyn FnMut(&str) -> std::io::Result<()>,
    ) -> Result<u64> {
        let resp = self.send(&Call::get("/lineage/events").q("after", after).at(as_of), None, true)?;
        self.ndjson_lines(resp, "OpenLineage stream", each)
    }

    fn log_run(&self, run: &NewRun) -> Result<Logged> {
        let retry = run.idempotency_key.is_some();
        let r: Runs<Logged> = self.json(Call::with("POST", "/runs"), Some(&run_json(run)), retry)?;
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
        let resp = self.send(&Call::with("POST", "/events"), Some(("application/x-ndjson", &body)), false)?;
        let v: Value = resp.into_json().map_err(|e| self.protocol(format!("POST /events: {e}")))?;
        v.get("last_seq").and_then(Value::as_u64).ok_or_else(|| self.protocol("POST /events answered no last_seq"))
    }

    fn log_runs(&self, runs: &[NewRun]) -> Result<Vec<Logged>> {
        let retry = runs.iter().all(|r| r.idempotency_key.is_some());
        let body = json!({"runs": runs.iter().map(run_json).collect::<Vec<_>>()});
        let r: Runs<Logged> = self.json(Call::with("POST", "/runs"), Some(&body), retry)?;
        if r.runs.len() != runs.len() {
            return Err(self.protocol(format!("POST /runs answered {} runs for {} sent", r.runs.len(), runs.len())));
        }
        Ok(r.runs)
    }

    fn register_component(&self, name: &str, description: &str, owner: &str, tags: &[String]) -> Result<ComponentView> {
        let body = json!({"description": description, "owner": owner, "tags": tags});
        // Registering again replaces the same fields with the same values: safe to retry.
        self.json(Call::with("PUT", format!("/components/{}", segment(name))), Some(&body), true)
    }

    fn tag_component(&self, name: &str, tags: &[String]) -> Result<ComponentView> {
        let body = json!({"tags": tags});
        self.json(Call::with("POST", format!("/components/{}/tags", segment(name))), Some(&body), true)
    }

    fn set_notes(&self, id: RunId, notes: &str) -> Result<RunDetail> {
        self.json(Call::with("PUT", format!("/runs/{id}/notes")), Some(&json!({"notes": notes})), true)
    }

    fn flag(&self, outputs: &[String], reason: Option<&str>, by: Option<&str>) -> Result<Vec<String>> {
        let body = json!({"outputs": outputs, "reason": reason, "by": by});
        let r: Flagged = self.json(Call::with("POST", "/flag"), Some(&body), false)?;
        Ok(r.flagged)
    }

    fn unflag(&self, outputs: &[String]) -> Result<Vec<String>> {
        let r: Unflagged = self.json(Call::with("POST", "/unflag"), Some(&json!({"outputs": outputs})), false)?;
        Ok(r.unflagged)
    }

    fn unflag_all(&self) -> Result<Vec<String>> {
        let r: Unflagged = self.json(Call::with("POST", "/unflag"), Some(&json!({"all": true})), false)?;
        Ok(r.unflagged)
    }

    fn audit(&self, ask: &super::AuditAsk) -> Result<Value> {
        use super::AuditAsk;
        match ask {
            AuditAsk::Key => self.get(Call::get("/audit/key")),
            AuditAsk::Head(as_of) => self.get(Call::get("/audit/head").at(*as_of)),
            AuditAsk::RecordHead => self.json(Call::with("POST", "/audit/head"), None, false),
            AuditAsk::Inclusion { seq, size } => {
                self.get(Call::get("/audit/proof/inclusion").q("seq", seq).opt("size", *size))
            }
            AuditAsk::Consistency { from, to } => {
                self.get(Call::get("/audit/proof/consistency").q("from", from).opt("to", *to))
            }
            AuditAsk::Run { id, as_of } => self.get(Call::get(format!("/runs/{id}")).q("proof", true).at(*as_of)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(segment("feature gen/v2"), "feature%20gen%2Fv2");
        assert_eq!(segment("clean_2.x~"), "clean_2.x~");
        assert_eq!(segment("été"), "%C3%A9t%C3%A9");
    }

    #[test]
    fn runs_are_sent_in_the_api_shape_and_parse_back() {
        let t = Timestamp::parse("2026-11-26T03:00:00Z").unwrap();
        let mut run = NewRun::new("train", t, t).inputs(["features.parquet"]).outputs(["model.pkl"]);
        run.inputs.push(IoSpec { name: "raw.csv".into(), hash: Some("sha256:ab".into()), kind: None });
        run.upstream = vec!["featuregen".into()];
        run.git_hash = Some("9f2c".into());
        run.idempotency_key = Some("k1".into());
        let back = NewRun::from_json(&run_json(&run)).unwrap();
        assert_eq!(back, run);
    }

    #[test]
    fn a_refused_connection_names_the_server() {
        // Port 9 (discard) is closed on loopback in any test environment we run in.
        let c = HttpClient::new("http://127.0.0.1:9");
        let e = c.recent(1, None, None).unwrap_err();
        assert_eq!(e.code(), "unreachable");
        assert!(e.to_string().starts_with("cannot reach the mltrace server at http://127.0.0.1:9: "), "{e}");
    }
}
