//! OpenLineage in and out: what a `RunEvent`, `DatasetEvent` or `JobEvent` must look like to be
//! accepted (checked field by field, errors name the field as `outputs[2].namespace`), what we take
//! from it, and the naming rules that map jobs onto components and datasets onto I/O names and back.
//!
//! This module parses and names; it never touches the state. What an event does to the lineage is
//! decided at append by the state (`state_lineage`) and stored in the event ([`LineageRecord`]).
//! The rules and their reasons are written down in `docs/openlineage.md`.
//!
//! [`LineageRecord`]: crate::event::LineageRecord

use crate::error::{Result, StoreError};
use crate::event::{LineageKind, TestResult};
use crate::ingest::{IoSpec, MAX_CODE_BYTES, MAX_TEXT_BYTES};
use crate::names::{check_name, check_text};
use crate::time::Timestamp;
use serde_json::{Map, Value};

/// The namespace our own names travel in when they are not URIs (`model.pkl`, component `train`).
pub const NATIVE_NAMESPACE: &str = "mltrace";
/// `producer` of the events we export.
pub const PRODUCER: &str = "https://github.com/mltrace-rs/mltrace";
/// `schemaURL` of a run event of the spec version we validate against.
pub const RUN_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
/// `schemaURL` of a dataset event.
pub const DATASET_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent";
/// `schemaURL` of a job event.
pub const JOB_EVENT_SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent";
/// `_schemaURL` of our own facets (`mltrace` run facet, `mltrace_flag` dataset facet).
pub const MLTRACE_FACET_SCHEMA: &str = "https://github.com/mltrace-rs/mltrace/blob/main/docs/openlineage.md#our-facets";

/// OpenLineage's `eventType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// The run began.
    Start,
    /// The run is going on (more metadata).
    Running,
    /// The run ended successfully.
    Complete,
    /// The run was cancelled.
    Abort,
    /// The run ended with an error.
    Fail,
    /// More metadata, at any time.
    Other,
}

impl EventType {
    /// Parses the spec's spelling (upper case, as clients send it).
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "START" => EventType::Start,
            "RUNNING" => EventType::Running,
            "COMPLETE" => EventType::Complete,
            "ABORT" => EventType::Abort,
            "FAIL" => EventType::Fail,
            "OTHER" => EventType::Other,
            _ => return None,
        })
    }

    /// The spec's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Start => "START",
            EventType::Running => "RUNNING",
            EventType::Complete => "COMPLETE",
            EventType::Abort => "ABORT",
            EventType::Fail => "FAIL",
            EventType::Other => "OTHER",
        }
    }
}

/// A component's metadata carried by job facets (`ownership`, `documentation`, `tags`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobMeta {
    /// Owners' names, joined by `, `.
    pub owner: Option<String>,
    /// `documentation.description`.
    pub description: Option<String>,
    /// `tags.tags`, as `key:value` (just `key` when the value is empty).
    pub tags: Vec<String>,
}

impl JobMeta {
    /// Whether the facets said anything.
    pub fn is_empty(&self) -> bool {
        self.owner.is_none() && self.description.is_none() && self.tags.is_empty()
    }
}

/// What a run event says about its run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunPart {
    /// `run.runId`, lowercase.
    pub uuid: String,
    /// `eventType` (OTHER when absent, as the schema allows).
    pub event_type: Option<EventType>,
    /// Inputs, mapped to I/O names, `version` facet as hash.
    pub inputs: Vec<IoSpec>,
    /// Outputs, likewise.
    pub outputs: Vec<IoSpec>,
    /// Explicit upstream components (our own `mltrace` run facet, so that exports replay exactly).
    pub upstream: Vec<String>,
    /// `sourceCodeLocation.version` (or our facet's `git_hash`).
    pub git_hash: Option<String>,
    /// `sourceCodeLocation.url`, else `repoUrl`.
    pub source_url: Option<String>,
    /// `sourceCode.sourceCode`, else `sql.query`.
    pub code_snapshot: Option<String>,
    /// `test` run facet results.
    pub tests: Vec<TestResult>,
    /// `errorMessage.message`.
    pub error: Option<String>,
    /// `parent.run.runId`, lowercase.
    pub parent: Option<String>,
    /// `parent.job` as a component name.
    pub parent_component: Option<String>,
}

/// A flag carried by our `mltrace_flag` dataset facet (how an export carries flags and reviews).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagPart {
    /// The dataset's I/O name.
    pub name: String,
    /// Flagged (or unflagged).
    pub flagged: bool,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub by: Option<String>,
}

/// One received OpenLineage event, checked, with what we take from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineageEvent {
    /// The JSON text as received.
    pub raw: String,
    /// Which event type.
    pub kind: LineageKind,
    /// `eventTime`.
    pub event_time: Timestamp,
    /// The job as a component (run and job events).
    pub component: Option<String>,
    /// Component metadata from job facets.
    pub meta: JobMeta,
    /// For a run event.
    pub run: Option<RunPart>,
    /// For a dataset event carrying our flag facet.
    pub flag: Option<FlagPart>,
}

/// The component a job maps to: `namespace/name`, except that our own namespace maps to the bare
/// name, so that native components survive a round trip. Split at the first `/` to go back.
pub fn component_name(namespace: &str, name: &str) -> String {
    if namespace == NATIVE_NAMESPACE { name.to_string() } else { format!("{namespace}/{name}") }
}

/// The job a component maps to: (namespace, name), the inverse of [`component_name`].
pub fn job_of(component: &str) -> (String, String) {
    match component.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() => (ns.to_string(), name.to_string()),
        _ => (NATIVE_NAMESPACE.to_string(), component.to_string()),
    }
}

/// The I/O name of a dataset, following OpenLineage's naming convention: a URI namespace joined to
/// the name by one `/` (`s3://bucket` + `path/x.parquet` is `s3://bucket/path/x.parquet`), a bare
/// scheme joined by `:` (`bigquery` + `project.ds.table`), and our own namespace as the bare name.
pub fn io_name(namespace: &str, name: &str) -> String {
    if namespace == NATIVE_NAMESPACE {
        name.to_string()
    } else if namespace.contains("://") {
        let ns = namespace.trim_end_matches('/');
        let path = name.trim_start_matches('/');
        if path.is_empty() {
            // `file://` + `/` would otherwise lose the slash that makes it a path.
            if ns.ends_with(':') { format!("{ns}//") } else { ns.to_string() }
        } else if ns.ends_with(':') {
            // A namespace like `file://` (empty authority): keep the path absolute.
            format!("{ns}///{path}")
        } else {
            format!("{ns}/{path}")
        }
    } else {
        format!("{namespace}:{name}")
    }
}

/// The dataset an I/O name maps to: (namespace, name). A URI splits after its authority; anything
/// that would not map back to the same name travels whole in our own namespace.
pub fn dataset_of(io: &str) -> (String, String) {
    let candidate = if let Some(i) = io.find("://") {
        let rest = &io[i + 3..];
        rest.find('/').map(|j| (io[..i + 3 + j].to_string(), rest[j + 1..].to_string()))
    } else {
        io.split_once(':').filter(|(s, n)| is_scheme(s) && !n.is_empty()).map(|(s, n)| (s.to_string(), n.to_string()))
    };
    match candidate {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && io_name(&ns, &name) == io => (ns, name),
        _ => (NATIVE_NAMESPACE.to_string(), io.to_string()),
    }
}

fn is_scheme(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'))
        && s != NATIVE_NAMESPACE
}

/// Checks a UUID's text form (8-4-4-4-12 hex digits) and returns it in lower case.
pub fn parse_uuid(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    if bytes.len() != 36 {
        return None;
    }
    for (i, &b) in bytes.iter().enumerate() {
        let ok = if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() };
        if !ok {
            return None;
        }
    }
    Some(text.to_ascii_lowercase())
}

/// The run id we give a native run in an export: a version-8 UUID (RFC 9562's custom layout)
/// holding `mltr` and the run id, stable across exports of one store.
pub fn native_run_uuid(id: u32) -> String {
    format!("6d6c7472-0000-8000-8000-{id:012x}")
}

fn invalid(field: &str, message: impl Into<String>) -> StoreError {
    StoreError::invalid(field, message)
}

fn obj<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>> {
    v.as_object().ok_or_else(|| invalid(field, format!("{field} must be a JSON object")))
}

fn req_str<'a>(o: &'a Map<String, Value>, key: &str, field: &str) -> Result<&'a str> {
    match o.get(key) {
        None | Some(Value::Null) => Err(invalid(field, format!("{field} is required"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(invalid(field, format!("{field} must be a string"))),
    }
}

fn opt_str<'a>(o: &'a Map<String, Value>, key: &str, field: &str) -> Result<Option<&'a str>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(field, format!("{field} must be a string"))),
    }
}

/// A facets object (`run.facets`), empty when absent.
fn facets<'a>(o: &'a Map<String, Value>, field: &str) -> Result<Option<&'a Map<String, Value>>> {
    match o.get("facets") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(f)) => Ok(Some(f)),
        Some(_) => Err(invalid(&format!("{field}.facets"), format!("{field}.facets must be a JSON object"))),
    }
}

/// One facet of a facets object, which must be an object when present.
fn facet<'a>(f: Option<&'a Map<String, Value>>, key: &str, field: &str) -> Result<Option<&'a Map<String, Value>>> {
    match f.and_then(|f| f.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => {
            Err(invalid(&format!("{field}.facets.{key}"), format!("{field}.facets.{key} must be a JSON object")))
        }
    }
}

fn time(o: &Map<String, Value>, key: &str) -> Result<Timestamp> {
    let text = req_str(o, key, key)?;
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Timestamp(t.timestamp_millis()))
        .map_err(|e| invalid(key, format!("{key} `{text}` is not an RFC 3339 date-time ({e})")))
}

/// Parses and checks one OpenLineage event. `raw` is kept as the event's text.
pub fn parse_event(raw: String) -> Result<LineageEvent> {
    // Well-formed events take the slim path: only the fields we read are decoded (facets we do not
    // interpret, often most of an event, are stepped over), then checked by the same code as the
    // full tree. Anything the slim form cannot hold is parsed whole, so errors are the same.
    let value = match serde_json::from_str::<slim::Event>(&raw) {
        Ok(e) => e.into_value(),
        Err(_) => serde_json::from_str(&raw).map_err(|e| invalid("", format!("the event is not valid JSON: {e}")))?,
    };
    parse_value(raw, &value)
}

/// [`parse_event`] on a parsed event.
fn parse_value(raw: String, value: &Value) -> Result<LineageEvent> {
    let o = obj(value, "event").map_err(|_| invalid("", "an OpenLineage event must be a JSON object"))?;
    let event_time = time(o, "eventTime")?;
    req_str(o, "producer", "producer")?;
    req_str(o, "schemaURL", "schemaURL")?;
    let kind = if o.get("run").is_some() {
        LineageKind::Run
    } else if o.get("dataset").is_some() {
        LineageKind::Dataset
    } else if o.get("job").is_some() {
        LineageKind::Job
    } else {
        return Err(invalid(
            "run",
            "run is required: a RunEvent has `run` and `job`, a DatasetEvent `dataset`, a JobEvent `job`",
        ));
    };
    let mut event = LineageEvent {
        raw: String::new(),
        kind,
        event_time,
        component: None,
        meta: JobMeta::default(),
        run: None,
        flag: None,
    };
    match kind {
        LineageKind::Dataset => event.flag = dataset_event(o)?,
        LineageKind::Job | LineageKind::Run => {
            let job = obj(o.get("job").unwrap_or(&Value::Null), "job")?;
            let ns = req_str(job, "namespace", "job.namespace")?;
            let name = req_str(job, "name", "job.name")?;
            check_name("job.namespace", "job namespace", ns)?;
            check_name("job.name", "job", name)?;
            let component = component_name(ns, name);
            check_name("job.name", "component", &component)?;
            let job_facets = facets(job, "job")?;
            event.meta = job_meta(job_facets)?;
            event.component = Some(component);
            // A job event's datasets are static metadata: checked, but they are no run's I/O.
            let inputs = datasets(o, "inputs")?;
            let outputs = datasets(o, "outputs")?;
            if kind == LineageKind::Run {
                event.run = Some(run_part(o, job_facets, inputs, outputs)?);
            }
        }
    }
    event.raw = raw;
    Ok(event)
}

fn run_part(
    o: &Map<String, Value>,
    job_facets: Option<&Map<String, Value>>,
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
) -> Result<RunPart> {
    let event_type = match o.get("eventType") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(EventType::parse(t).ok_or_else(|| {
            invalid("eventType", format!("eventType `{t}` is not one of START, RUNNING, COMPLETE, ABORT, FAIL, OTHER"))
        })?),
        Some(_) => return Err(invalid("eventType", "eventType must be a string")),
    };
    let run = obj(o.get("run").unwrap_or(&Value::Null), "run")?;
    let run_id = req_str(run, "runId", "run.runId")?;
    let uuid = parse_uuid(run_id)
        .ok_or_else(|| invalid("run.runId", format!("run.runId `{run_id}` is not a UUID (8-4-4-4-12 hex digits)")))?;
    let rf = facets(run, "run")?;
    let mut part = RunPart { uuid, event_type, inputs, outputs, ..RunPart::default() };

    if let Some(loc) = facet(job_facets, "sourceCodeLocation", "job")? {
        part.git_hash = opt_str(loc, "version", "job.facets.sourceCodeLocation.version")?.map(str::to_string);
        part.source_url = match opt_str(loc, "url", "job.facets.sourceCodeLocation.url")? {
            Some(u) => Some(u.to_string()),
            None => opt_str(loc, "repoUrl", "job.facets.sourceCodeLocation.repoUrl")?.map(str::to_string),
        };
    }
    if let Some(code) = facet(job_facets, "sourceCode", "job")? {
        part.code_snapshot = opt_str(code, "sourceCode", "job.facets.sourceCode.sourceCode")?.map(str::to_string);
    }
    if part.code_snapshot.is_none()
        && let Some(sql) = facet(job_facets, "sql", "job")?
    {
        part.code_snapshot = opt_str(sql, "query", "job.facets.sql.query")?.map(str::to_string);
    }
    if let Some(code) = &part.code_snapshot {
        check_text("job.facets.sourceCode", code, MAX_CODE_BYTES)?;
    }
    if let Some(err) = facet(rf, "errorMessage", "run")? {
        part.error = opt_str(err, "message", "run.facets.errorMessage.message")?.map(str::to_string);
        if let Some(m) = &part.error {
            check_text("run.facets.errorMessage.message", m, MAX_TEXT_BYTES)?;
        }
    }
    if let Some(parent) = facet(rf, "parent", "run")? {
        let prun = obj(parent.get("run").unwrap_or(&Value::Null), "run.facets.parent.run")?;
        let pid = req_str(prun, "runId", "run.facets.parent.run.runId")?;
        part.parent = Some(parse_uuid(pid).ok_or_else(|| {
            invalid("run.facets.parent.run.runId", format!("run.facets.parent.run.runId `{pid}` is not a UUID"))
        })?);
        let pjob = obj(parent.get("job").unwrap_or(&Value::Null), "run.facets.parent.job")?;
        let ns = req_str(pjob, "namespace", "run.facets.parent.job.namespace")?;
        let name = req_str(pjob, "name", "run.facets.parent.job.name")?;
        part.parent_component = Some(component_name(ns, name));
    }
    if let Some(test) = facet(rf, "test", "run")? {
        part.tests = test_results(test)?;
    }
    if let Some(ours) = facet(rf, "mltrace", "run")? {
        if let Some(up) = ours.get("upstream").filter(|v| !v.is_null()) {
            let list = up.as_array().ok_or_else(|| {
                invalid("run.facets.mltrace.upstream", "run.facets.mltrace.upstream must be a list of component names")
            })?;
            for (i, u) in list.iter().enumerate() {
                let field = format!("run.facets.mltrace.upstream[{i}]");
                let name = u.as_str().ok_or_else(|| invalid(&field, format!("{field} must be a string")))?;
                check_name(&field, "component", name)?;
                part.upstream.push(name.to_string());
            }
        }
        if part.git_hash.is_none() {
            part.git_hash = opt_str(ours, "git_hash", "run.facets.mltrace.git_hash")?.map(str::to_string);
        }
    }
    if let Some(h) = &part.git_hash {
        check_name("job.facets.sourceCodeLocation.version", "git hash", h)?;
    }
    Ok(part)
}

/// `test` run facet: `{tests: [{name, status: pass|fail|skip, ...}]}`. Skipped tests are left out
/// (our test results are passed or failed); a failed test keeps `actual`/`expected` as its message.
fn test_results(test: &Map<String, Value>) -> Result<Vec<TestResult>> {
    let field = "run.facets.test.tests";
    let list = match test.get("tests") {
        Some(Value::Array(l)) => l,
        _ => return Err(invalid(field, format!("{field} is required (a list of test executions)"))),
    };
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let t = obj(t, &at)?;
        let name = req_str(t, "name", &format!("{at}.name"))?;
        check_name(&format!("{at}.name"), "test", name)?;
        let status = req_str(t, "status", &format!("{at}.status"))?;
        let passed = match status {
            "pass" => true,
            "fail" => false,
            "skip" => continue,
            other => {
                return Err(invalid(
                    &format!("{at}.status"),
                    format!("{at}.status `{other}` is not pass, fail or skip"),
                ));
            }
        };
        let message = if passed {
            None
        } else {
            let actual = opt_str(t, "actual", &format!("{at}.actual"))?;
            let expected = opt_str(t, "expected", &format!("{at}.expected"))?;
            let description = opt_str(t, "description", &format!("{at}.description"))?;
            match (actual, expected) {
                (Some(a), Some(e)) => Some(format!("expected {e}, got {a}")),
                (Some(a), None) => Some(format!("got {a}")),
                _ => description.map(str::to_string),
            }
        };
        out.push(TestResult { name: name.to_string(), phase: "after".into(), passed, message });
    }
    Ok(out)
}

fn job_meta(f: Option<&Map<String, Value>>) -> Result<JobMeta> {
    let mut meta = JobMeta::default();
    if let Some(own) = facet(f, "ownership", "job")? {
        let mut names = Vec::new();
        if let Some(list) = own.get("owners").and_then(Value::as_array) {
            for (i, o) in list.iter().enumerate() {
                let at = format!("job.facets.ownership.owners[{i}]");
                let name = req_str(obj(o, &at)?, "name", &format!("{at}.name"))?;
                names.push(name.to_string());
            }
        }
        if !names.is_empty() {
            let owner = names.join(", ");
            check_name("job.facets.ownership.owners", "owner", &owner)?;
            meta.owner = Some(owner);
        }
    }
    if let Some(doc) = facet(f, "documentation", "job")? {
        meta.description = opt_str(doc, "description", "job.facets.documentation.description")?.map(str::to_string);
        if let Some(d) = &meta.description {
            check_text("job.facets.documentation.description", d, MAX_TEXT_BYTES)?;
        }
    }
    if let Some(tags) = facet(f, "tags", "job")?
        && let Some(list) = tags.get("tags").and_then(Value::as_array)
    {
        for (i, t) in list.iter().enumerate() {
            let at = format!("job.facets.tags.tags[{i}]");
            let t = obj(t, &at)?;
            let key = req_str(t, "key", &format!("{at}.key"))?;
            let value = opt_str(t, "value", &format!("{at}.value"))?.unwrap_or("");
            let tag = if value.is_empty() { key.to_string() } else { format!("{key}:{value}") };
            check_name(&at, "tag", &tag)?;
            if !meta.tags.contains(&tag) {
                meta.tags.push(tag);
            }
        }
    }
    Ok(meta)
}

/// `inputs` or `outputs`: datasets mapped to I/O names, `version` facet as the content hash.
fn datasets(o: &Map<String, Value>, key: &str) -> Result<Vec<IoSpec>> {
    let list = match o.get(key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(l)) => l,
        Some(_) => return Err(invalid(key, format!("{key} must be a list of datasets"))),
    };
    if list.len() > crate::ingest::MAX_IO_PER_RUN {
        return Err(invalid(key, format!("{key} lists {} datasets; at most 10000 are allowed", list.len())));
    }
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            let at = format!("{key}[{i}]");
            let d = obj(d, &at)?;
            let (name, hash) = dataset(d, &at)?;
            Ok(IoSpec { name, hash, kind: None })
        })
        .collect()
}

/// A dataset's I/O name and its `version` facet.
fn dataset(d: &Map<String, Value>, at: &str) -> Result<(String, Option<String>)> {
    let ns = req_str(d, "namespace", &format!("{at}.namespace"))?;
    let name = req_str(d, "name", &format!("{at}.name"))?;
    check_name(&format!("{at}.namespace"), "dataset namespace", ns)?;
    check_name(&format!("{at}.name"), "dataset", name)?;
    let io = io_name(ns, name);
    check_name(&format!("{at}.name"), "I/O pointer", &io)?;
    let f = facets(d, at)?;
    let hash = match facet(f, "version", at)? {
        Some(v) => {
            let field = format!("{at}.facets.version.datasetVersion");
            let h = req_str(v, "datasetVersion", &field)?;
            check_name(&field, "dataset version", h)?;
            Some(h.to_string())
        }
        None => None,
    };
    Ok((io, hash))
}

fn dataset_event(o: &Map<String, Value>) -> Result<Option<FlagPart>> {
    let d = obj(o.get("dataset").unwrap_or(&Value::Null), "dataset")?;
    let (name, _) = dataset(d, "dataset")?;
    let Some(flag) = facet(facets(d, "dataset")?, "mltrace_flag", "dataset")? else { return Ok(None) };
    let field = "dataset.facets.mltrace_flag";
    let flagged = match flag.get("flagged") {
        Some(Value::Bool(b)) => *b,
        _ => return Err(invalid(&format!("{field}.flagged"), format!("{field}.flagged must be true or false"))),
    };
    let reason = opt_str(flag, "reason", &format!("{field}.reason"))?.map(str::to_string);
    let by = opt_str(flag, "by", &format!("{field}.by"))?.map(str::to_string);
    if let Some(r) = &reason {
        check_text(&format!("{field}.reason"), r, MAX_TEXT_BYTES)?;
    }
    if let Some(b) = &by {
        check_name(&format!("{field}.by"), "user", b)?;
    }
    Ok(Some(FlagPart { name, flagged, reason, by }))
}

/// The fields of an event that [`parse_value`] reads, decoded without building a value tree for
/// the rest. A field that is present but `null` where the full parser would object (`run`, `job`,
/// `dataset`) does not fit, so such events take the full path and get the same error.
mod slim {
    use serde::{Deserialize, Deserializer};
    use serde_json::{Map, Value};

    /// A field that must not be `null` when present.
    pub(super) enum Maybe<T> {
        Absent,
        Present(T),
    }

    // By hand: a derive would ask `T: Default`, and the decoded structs have no defaults.
    #[allow(clippy::derivable_impls)]
    impl<T> Default for Maybe<T> {
        fn default() -> Self {
            Maybe::Absent
        }
    }

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for Maybe<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            T::deserialize(d).map(Maybe::Present)
        }
    }

    fn put(o: &mut Map<String, Value>, key: &str, v: Option<Value>) {
        if let Some(v) = v {
            o.insert(key.to_string(), v);
        }
    }

    fn string(s: Option<String>) -> Option<Value> {
        s.map(Value::String)
    }

    #[derive(Deserialize)]
    pub(super) struct Event {
        #[serde(rename = "eventType")]
        event_type: Option<String>,
        #[serde(rename = "eventTime")]
        event_time: Option<String>,
        producer: Option<String>,
        #[serde(rename = "schemaURL")]
        schema_url: Option<String>,
        #[serde(default)]
        run: Maybe<Run>,
        #[serde(default)]
        job: Maybe<Job>,
        #[serde(default)]
        dataset: Maybe<Dataset>,
        inputs: Option<Vec<Dataset>>,
        outputs: Option<Vec<Dataset>>,
    }

    #[derive(Deserialize)]
    struct Run {
        #[serde(rename = "runId")]
        run_id: Option<String>,
        facets: Option<RunFacets>,
    }

    #[derive(Deserialize)]
    struct RunFacets {
        parent: Option<Value>,
        #[serde(rename = "errorMessage")]
        error_message: Option<Value>,
        test: Option<Value>,
        mltrace: Option<Value>,
    }

    #[derive(Deserialize)]
    struct Job {
        namespace: Option<String>,
        name: Option<String>,
        facets: Option<JobFacets>,
    }

    #[derive(Deserialize)]
    struct JobFacets {
        #[serde(rename = "sourceCodeLocation")]
        source_code_location: Option<Value>,
        #[serde(rename = "sourceCode")]
        source_code: Option<Value>,
        sql: Option<Value>,
        ownership: Option<Value>,
        documentation: Option<Value>,
        tags: Option<Value>,
    }

    #[derive(Deserialize)]
    struct Dataset {
        namespace: Option<String>,
        name: Option<String>,
        facets: Option<DatasetFacets>,
    }

    #[derive(Deserialize)]
    struct DatasetFacets {
        version: Option<Value>,
        mltrace_flag: Option<Value>,
    }

    impl Event {
        /// The event as the value tree the full parser reads (with only the fields it reads).
        pub(super) fn into_value(self) -> Value {
            let mut o = Map::new();
            put(&mut o, "eventType", string(self.event_type));
            put(&mut o, "eventTime", string(self.event_time));
            put(&mut o, "producer", string(self.producer));
            put(&mut o, "schemaURL", string(self.schema_url));
            if let Maybe::Present(r) = self.run {
                let mut run = Map::new();
                put(&mut run, "runId", string(r.run_id));
                if let Some(f) = r.facets {
                    let mut facets = Map::new();
                    put(&mut facets, "parent", f.parent);
                    put(&mut facets, "errorMessage", f.error_message);
                    put(&mut facets, "test", f.test);
                    put(&mut facets, "mltrace", f.mltrace);
                    run.insert("facets".into(), Value::Object(facets));
                }
                o.insert("run".into(), Value::Object(run));
            }
            if let Maybe::Present(j) = self.job {
                let mut job = Map::new();
                put(&mut job, "namespace", string(j.namespace));
                put(&mut job, "name", string(j.name));
                if let Some(f) = j.facets {
                    let mut facets = Map::new();
                    put(&mut facets, "sourceCodeLocation", f.source_code_location);
                    put(&mut facets, "sourceCode", f.source_code);
                    put(&mut facets, "sql", f.sql);
                    put(&mut facets, "ownership", f.ownership);
                    put(&mut facets, "documentation", f.documentation);
                    put(&mut facets, "tags", f.tags);
                    job.insert("facets".into(), Value::Object(facets));
                }
                o.insert("job".into(), Value::Object(job));
            }
            if let Maybe::Present(d) = self.dataset {
                o.insert("dataset".into(), d.into_value());
            }
            for (key, list) in [("inputs", self.inputs), ("outputs", self.outputs)] {
                if let Some(list) = list {
                    o.insert(key.into(), Value::Array(list.into_iter().map(Dataset::into_value).collect()));
                }
            }
            Value::Object(o)
        }
    }

    impl Dataset {
        fn into_value(self) -> Value {
            let mut d = Map::new();
            put(&mut d, "namespace", string(self.namespace));
            put(&mut d, "name", string(self.name));
            if let Some(f) = self.facets {
                let mut facets = Map::new();
                put(&mut facets, "version", f.version);
                put(&mut facets, "mltrace_flag", f.mltrace_flag);
                d.insert("facets".into(), Value::Object(facets));
            }
            Value::Object(d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The slim path either declines or reads exactly what the full tree reads.
    #[test]
    fn the_slim_path_agrees_with_the_full_tree() {
        let base = json!({
            "eventType": "COMPLETE", "eventTime": "2026-11-26T03:00:00Z", "producer": "p", "schemaURL": "s",
            "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f", "facets": {
                "parent": {"run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b40290"}, "job": {"namespace": "a", "name": "d"}},
                "errorMessage": {"message": "m", "programmingLanguage": "x"}, "spark.logicalPlan": {"plan": [1, 2]},
                "test": {"tests": [{"name": "t", "status": "fail", "actual": "1"}]}, "mltrace": {"upstream": []}}},
            "job": {"namespace": "n", "name": "j", "facets": {"sql": {"query": "select 1"}, "ownership": {"owners": [{"name": "o"}]},
                    "tags": {"tags": [{"key": "k", "value": "v"}]}, "documentation": {"description": "d"},
                    "sourceCodeLocation": {"type": "git", "url": "u", "version": "g"}, "jobType": {"x": 1}}},
            "inputs": [{"namespace": "s3://b", "name": "i", "facets": {"version": {"datasetVersion": "v"}, "schema": {"fields": []}}}],
            "outputs": [{"namespace": "s3://b", "name": "o", "outputFacets": {"outputStatistics": {"rowCount": 1}}}]
        });
        let full = |v: &Value| parse_value(v.to_string(), &serde_json::from_str::<Value>(&v.to_string()).unwrap());
        let mut cases = vec![base.clone()];
        for (path, value) in [
            ("/run", Value::Null),
            ("/job", json!("j")),
            ("/run/facets", Value::Null),
            ("/run/facets/parent", json!(3)),
            ("/eventType", Value::Null),
            ("/inputs", Value::Null),
            ("/inputs/0/name", json!(7)),
            ("/inputs/0/facets/version", json!("v")),
            ("/outputs/0/namespace", Value::Null),
            ("/job/facets/sql", Value::Null),
        ] {
            let mut v = base.clone();
            *v.pointer_mut(path).unwrap() = value;
            cases.push(v);
        }
        cases.push(json!({"eventTime": "2026-11-26T03:00:00Z", "producer": "p", "schemaURL": "s",
                          "dataset": {"namespace": "s3://b", "name": "o", "facets": {"mltrace_flag": {"flagged": true}}}}));
        cases.push(json!({"eventTime": "2026-11-26T03:00:00Z", "producer": "p", "schemaURL": "s", "dataset": null, "job": {"namespace": "a", "name": "b"}}));
        for case in cases {
            let text = case.to_string();
            let slim = parse_event(text.clone());
            let whole = full(&case);
            assert_eq!(format!("{slim:?}"), format!("{whole:?}"), "{text}");
        }
    }

    #[test]
    fn dataset_names_follow_the_naming_convention_and_map_back() {
        assert_eq!(io_name("s3://bucket", "path/x.parquet"), "s3://bucket/path/x.parquet");
        assert_eq!(io_name("s3://bucket/", "/path/x.parquet"), "s3://bucket/path/x.parquet");
        assert_eq!(io_name("postgres://db:5432", "shop.public.orders"), "postgres://db:5432/shop.public.orders");
        assert_eq!(io_name("file", "/tmp/x.csv"), "file:/tmp/x.csv");
        assert_eq!(io_name("bigquery", "p.d.t"), "bigquery:p.d.t");
        assert_eq!(io_name(NATIVE_NAMESPACE, "model.pkl"), "model.pkl");
        for io in [
            "s3://bucket/path/x.parquet",
            "postgres://db:5432/shop.public.orders",
            "file:/tmp/x.csv",
            "bigquery:p.d.t",
            "model.pkl",
            "s3://bucket",
            "s3://bucket//double",
            "mltrace:odd",
            "weird://",
            "C:\\data\\x.csv",
        ] {
            let (ns, name) = dataset_of(io);
            assert_eq!(io_name(&ns, &name), io, "{io} -> ({ns}, {name})");
        }
        assert_eq!(dataset_of("s3://bucket/path/x.parquet"), ("s3://bucket".into(), "path/x.parquet".into()));
    }

    #[test]
    fn job_names_map_to_components_and_back() {
        assert_eq!(component_name("airflow", "etl.load"), "airflow/etl.load");
        assert_eq!(component_name(NATIVE_NAMESPACE, "train"), "train");
        for c in ["airflow/etl.load", "train", "a/b/c", "/lead", "trail/"] {
            let (ns, name) = job_of(c);
            assert_eq!(component_name(&ns, &name), c);
        }
    }

    #[test]
    fn uuids_are_checked_and_lowercased() {
        assert_eq!(
            parse_uuid("0176A8C2-FE01-7439-87E6-56A1A1B4029F").as_deref(),
            Some("0176a8c2-fe01-7439-87e6-56a1a1b4029f")
        );
        assert!(parse_uuid("not-a-uuid").is_none());
        assert!(parse_uuid("0176a8c2fe01743987e656a1a1b4029f").is_none());
        assert!(parse_uuid(&native_run_uuid(7)).is_some());
    }

    fn field_of(v: Value) -> String {
        match parse_event(v.to_string()) {
            Err(StoreError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid-argument error, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_field() {
        let ok = json!({
            "eventType": "START", "eventTime": "2026-11-26T03:00:00Z", "producer": "p", "schemaURL": "s",
            "run": {"runId": "0176a8c2-fe01-7439-87e6-56a1a1b4029f"}, "job": {"namespace": "n", "name": "j"},
            "outputs": [{"namespace": "s3://b", "name": "x"}, {"namespace": "s3://b", "name": "y"}, {"namespace": "s3://b", "name": "z"}]
        });
        assert!(parse_event(ok.to_string()).is_ok());
        let with = |path: &[&str], v: Value| {
            let mut e = ok.clone();
            let mut cur = &mut e;
            for p in &path[..path.len() - 1] {
                cur = match p.parse::<usize>() {
                    Ok(i) => &mut cur[i],
                    Err(_) => &mut cur[*p],
                };
            }
            let last = path[path.len() - 1];
            match v {
                Value::Null => {
                    cur.as_object_mut().unwrap().remove(last);
                }
                v => cur[last] = v,
            }
            e
        };
        assert_eq!(field_of(with(&["outputs", "2", "namespace"], Value::Null)), "outputs[2].namespace");
        assert_eq!(field_of(with(&["eventType"], json!("DONE"))), "eventType");
        assert_eq!(field_of(with(&["run", "runId"], json!("42"))), "run.runId");
        assert_eq!(field_of(with(&["eventTime"], json!("yesterday"))), "eventTime");
        assert_eq!(field_of(with(&["job", "name"], Value::Null)), "job.name");
        assert_eq!(field_of(with(&["producer"], Value::Null)), "producer");
        assert_eq!(field_of(json!([1])), "");
    }
}
