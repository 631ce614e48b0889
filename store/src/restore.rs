//! Restoring history: the events of an export (`GET /api/v1/events`, `mltrace export`) appended to
//! another store exactly as they were, same seqs, append times, run ids and resolutions, so the
//! copy answers every query and every `as_of` as the original did. This is how a backup comes back
//! and how history moves between data directories.
//!
//! An export restores only where it continues the log exactly (its first seq is the store's next):
//! a whole export into an empty store, or the tail of an export into a copy that stopped earlier.
//! Events are checked for what the state relies on (consecutive seqs, times that never go back,
//! run ids in order, dependencies on earlier runs, flags on known names) before anything is written;
//! a bad line names its field and writes nothing.

use crate::event::{
    Dependency, Event, EventKind, IoRecord, IoType, LineageKind, LineageRecord, RunRecord, RunStatus, RunUpdate,
    TestResult,
};
use crate::ingest::{opt_str, req_str, req_time, wrong_type};
use crate::names::check_name;
use crate::state::State;
use crate::store::{Batch, Store};
use crate::time::Timestamp;
use crate::{Result, Seq, StoreError};
use hashbrown::HashSet;
use serde_json::{Map, Value};

impl Store {
    /// Appends exported events verbatim, all or nothing; answers the last seq.
    pub fn restore(&self, events: Vec<Event>) -> Result<Seq> {
        self.restore_checked(None, events)
    }

    /// [`Store::restore`], refused with [`StoreError::Conflict`] unless the log's last seq is
    /// `expected` (when given).
    pub(crate) fn restore_checked(&self, expected: Option<Seq>, events: Vec<Event>) -> Result<Seq> {
        if events.is_empty() {
            return Err(StoreError::invalid("events", "there are no events to restore"));
        }
        self.write(Store::restore_build(expected, events))
    }

    /// The checks and the appending of a restore, as a write's build step.
    pub(crate) fn restore_build(
        expected: Option<Seq>,
        events: Vec<Event>,
    ) -> impl FnOnce(&mut State, &mut Batch) -> Result<(Seq, Seq)> {
        move |st, batch| {
            if let Some(after) = expected.filter(|&a| a != st.last_seq) {
                return Err(StoreError::Conflict(format!(
                    "the log moved on: its last event is {}, not {after}; catch up and try again",
                    st.last_seq
                )));
            }
            let mut seq = st.last_seq;
            let mut at = st.last_time();
            let mut runs = st.runs.len() as u32;
            let mut names: HashSet<&str> = HashSet::new();
            // Producer and consumer entries the events add (see `State::check_room`).
            let mut links = 0;
            for (i, e) in events.iter().enumerate() {
                let field = |f: &str| format!("events[{i}].{f}");
                if e.seq != seq + 1 {
                    return Err(StoreError::invalid(
                        field("seq"),
                        format!(
                            "{} is {}, but this store's next event is {}: an export restores only where it continues \
                             the log (a whole export into an empty store, or `export --after {seq}`)",
                            field("seq"),
                            e.seq,
                            seq + 1
                        ),
                    ));
                }
                if e.at < at {
                    return Err(StoreError::invalid(field("at"), format!("{} goes back in time", field("at"))));
                }
                match &e.kind {
                    EventKind::ComponentRegistered { name, tags, .. } | EventKind::ComponentTagged { name, tags } => {
                        check_name(&field("component"), "component", name)?;
                        for t in tags {
                            check_name(&field("tags"), "tag", t)?;
                        }
                    }
                    EventKind::RunLogged(r) => {
                        if r.id != runs + 1 {
                            return Err(StoreError::invalid(
                                field("run.id"),
                                format!("{} is {}, but the next run id is {}", field("run.id"), r.id, runs + 1),
                            ));
                        }
                        check_name(&field("run.component"), "component", &r.component)?;
                        if r.end < r.start || !Timestamp(r.start).is_in_range() || !Timestamp(r.end).is_in_range() {
                            return Err(StoreError::invalid(
                                field("run.end"),
                                format!("{} is out of range", field("run.end")),
                            ));
                        }
                        let mut last = 0;
                        for d in &r.dependencies {
                            if d.run <= last || d.run >= r.id {
                                return Err(StoreError::invalid(
                                    field("run.dependencies"),
                                    format!("{} must be ascending ids of earlier runs", field("run.dependencies")),
                                ));
                            }
                            last = d.run;
                        }
                        links += r.inputs.len() + r.outputs.len();
                        for io in r.inputs.iter().chain(&r.outputs) {
                            check_name(&field("run.inputs"), "I/O pointer", &io.name)?;
                            if io.producer.is_some_and(|p| p == 0 || p >= r.id) {
                                return Err(StoreError::invalid(
                                    field("run.inputs"),
                                    format!("{}: a producer must be an earlier run", field("run.inputs")),
                                ));
                            }
                            names.insert(&io.name);
                        }
                        runs += 1;
                    }
                    EventKind::NotesSet { run, .. } => {
                        if *run == 0 || *run > runs {
                            return Err(StoreError::invalid(field("run"), format!("{} names no run", field("run"))));
                        }
                    }
                    EventKind::Flagged { outputs, .. } => {
                        for o in outputs {
                            if !names.contains(o.as_str()) && st.view(st.last_seq).io(o).is_none() {
                                return Err(StoreError::invalid(
                                    field("outputs"),
                                    format!("{} names `{o}`, which no earlier run read or wrote", field("outputs")),
                                ));
                            }
                        }
                    }
                    EventKind::Unflagged { .. } => {}
                    EventKind::TreeHead { size, .. } => {
                        if *size != e.seq - 1 {
                            return Err(StoreError::invalid(
                                field("size"),
                                format!("{} must cover every earlier event ({})", field("size"), e.seq - 1),
                            ));
                        }
                    }
                    EventKind::Lineage(l) => {
                        if let Some(u) = &l.run {
                            if u.opened && u.id != runs + 1 {
                                return Err(StoreError::invalid(
                                    field("run.id"),
                                    format!("{} is {}, but the next run id is {}", field("run.id"), u.id, runs + 1),
                                ));
                            }
                            if !u.opened && (u.id == 0 || u.id > runs) {
                                return Err(StoreError::invalid(
                                    field("run.id"),
                                    format!("{} names no run", field("run.id")),
                                ));
                            }
                            if u.opened {
                                runs += 1;
                            }
                            if u.dependencies.iter().any(|d| d.run == 0 || d.run > runs) {
                                return Err(StoreError::invalid(
                                    field("run.edges"),
                                    format!("{} must name earlier runs", field("run.edges")),
                                ));
                            }
                            links += u.inputs.len() + u.produced.len();
                            for io in u.inputs.iter().chain(&u.outputs).chain(&u.produced) {
                                names.insert(&io.name);
                            }
                        }
                    }
                }
                seq = e.seq;
                at = e.at;
            }
            drop(names);
            st.check_room(runs as usize - st.runs.len(), links)?;
            let last = seq;
            for e in events {
                batch.push_event(st, e);
            }
            Ok((last, 0))
        }
    }
}

impl Store {
    /// [`Store::restore`] from lines of an export; errors name `events[i]` and the field.
    pub fn restore_lines<S: AsRef<str>>(&self, lines: &[S]) -> Result<Seq> {
        let events = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                let at = format!("events[{i}]");
                let v: Value = serde_json::from_str(line.as_ref())
                    .map_err(|e| StoreError::invalid(&at, format!("{at} is not valid JSON: {e}")))?;
                event_from_json(&v).map_err(|e| e.within(&at))
            })
            .collect::<Result<Vec<_>>>()?;
        self.restore(events)
    }
}

/// Reads one line of an export back into its event (the inverse of [`crate::model::event_json`]).
/// Errors name the field.
pub fn event_from_json(v: &Value) -> Result<Event> {
    let o = v.as_object().ok_or_else(|| StoreError::invalid("", "an event must be a JSON object"))?;
    let seq = uint(o, "seq")?;
    if seq == 0 {
        return Err(StoreError::invalid("seq", "seq starts at 1"));
    }
    let at = req_time(o, "at")?;
    let kind = match req_str(o, "type")?.as_str() {
        "component_registered" => {
            let c = object(o, "component")?;
            EventKind::ComponentRegistered {
                name: req_str(c, "name").map_err(|e| e.within("component"))?,
                description: req_str(c, "description").map_err(|e| e.within("component"))?,
                owner: req_str(c, "owner").map_err(|e| e.within("component"))?,
                tags: texts(c, "tags").map_err(|e| e.within("component"))?,
            }
        }
        "component_tagged" => EventKind::ComponentTagged { name: req_str(o, "component")?, tags: texts(o, "tags")? },
        "run_logged" => EventKind::RunLogged(Box::new(run(object(o, "run")?).map_err(|e| e.within("run"))?)),
        "notes_set" => EventKind::NotesSet {
            run: u32::try_from(uint(o, "run")?).map_err(|_| StoreError::invalid("run", "run is not a run id"))?,
            notes: req_str(o, "notes")?,
        },
        "flagged" => {
            EventKind::Flagged { outputs: texts(o, "outputs")?, reason: opt_str(o, "reason")?, by: opt_str(o, "by")? }
        }
        "unflagged" => EventKind::Unflagged {
            outputs: texts(o, "outputs")?,
            all: o.get("all").and_then(Value::as_bool).ok_or_else(|| wrong_type("all", "true or false"))?,
        },
        "openlineage" => EventKind::Lineage(Box::new(lineage(o)?)),
        "tree_head" => EventKind::TreeHead {
            size: uint(o, "size")?,
            root: bytes32(o, "root")?,
            key: bytes32(o, "public_key")?,
            signature: base64_field(o, "signature")?,
        },
        other => {
            return Err(StoreError::invalid("type", format!("`{other}` is not an event type this version knows")));
        }
    };
    Ok(Event { seq, at: at.0, kind })
}

fn base64_field(o: &Map<String, Value>, key: &str) -> Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(req_str(o, key)?).map_err(|_| wrong_type(key, "standard base64"))
}

fn bytes32(o: &Map<String, Value>, key: &str) -> Result<[u8; 32]> {
    base64_field(o, key)?.try_into().map_err(|_| wrong_type(key, "32 bytes in base64"))
}

fn lineage(o: &Map<String, Value>) -> Result<LineageRecord> {
    let kind = match req_str(o, "kind")?.as_str() {
        "RunEvent" => LineageKind::Run,
        "DatasetEvent" => LineageKind::Dataset,
        "JobEvent" => LineageKind::Job,
        other => return Err(StoreError::invalid("kind", format!("kind `{other}` is not an OpenLineage event type"))),
    };
    let run = match o.get("run") {
        None | Some(Value::Null) => None,
        Some(Value::Object(u)) => Some(run_update(u).map_err(|e| e.within("run"))?),
        Some(_) => return Err(wrong_type("run", "an object or null")),
    };
    Ok(LineageRecord { raw: req_str(o, "raw")?, kind, event_time: req_time(o, "event_time")?.0, run })
}

fn run_update(o: &Map<String, Value>) -> Result<RunUpdate> {
    let status = match req_str(o, "status")?.as_str() {
        "running" => RunStatus::Running,
        "completed" => RunStatus::Completed,
        "failed" => RunStatus::Failed,
        "aborted" => RunStatus::Aborted,
        other => return Err(StoreError::invalid("status", format!("status `{other}` is not a run status"))),
    };
    Ok(RunUpdate {
        id: u32::try_from(uint(o, "id")?).map_err(|_| wrong_type("id", "a run id"))?,
        uuid: req_str(o, "run_id")?,
        opened: o.get("opened").and_then(Value::as_bool).ok_or_else(|| wrong_type("opened", "true or false"))?,
        component: req_str(o, "component")?,
        event_type: req_str(o, "event_type")?,
        start: req_time(o, "start")?.0,
        end: req_time(o, "end")?.0,
        status,
        inputs: io_list(o, "inputs", true)?,
        outputs: io_list(o, "outputs", true)?,
        produced: io_list(o, "produced", true)?,
        dependencies: edges(o)?,
        stale: texts(o, "stale")?,
        git_hash: opt_str(o, "git_hash")?,
        source_url: opt_str(o, "source_url")?,
        code_snapshot: opt_str(o, "code_snapshot")?,
        tests: tests(o)?,
        error: opt_str(o, "error")?,
        parent: opt_str(o, "parent")?,
        parent_component: opt_str(o, "parent_component")?,
    })
}

fn io_list(o: &Map<String, Value>, key: &str, with_producer: bool) -> Result<Vec<IoRecord>> {
    let list = o.get(key).and_then(Value::as_array).ok_or_else(|| wrong_type(key, "a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("{key}[{i}]");
            let p = v.as_object().ok_or_else(|| wrong_type(&at, "an object"))?;
            let kind = IoType::parse(&req_str(p, "type").map_err(|e| e.within(&at))?)
                .ok_or_else(|| wrong_type(&format!("{at}.type"), "data, model, endpoint or unknown"))?;
            let producer = match p.get("producer") {
                Some(Value::Number(n)) if with_producer => {
                    Some(n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| wrong_type(&at, "a run id"))?)
                }
                _ => None,
            };
            Ok(IoRecord {
                name: req_str(p, "name").map_err(|e| e.within(&at))?,
                hash: opt_str(p, "hash").map_err(|e| e.within(&at))?,
                kind,
                producer,
            })
        })
        .collect()
}

fn edges(o: &Map<String, Value>) -> Result<Vec<Dependency>> {
    let edges = o.get("edges").and_then(Value::as_array).ok_or_else(|| wrong_type("edges", "a list"))?;
    edges
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let to = e.get("to").and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok());
            let to = to.ok_or_else(|| wrong_type(&format!("edges[{i}].to"), "a run id"))?;
            let via = match e.get("via") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err(wrong_type(&format!("edges[{i}].via"), "a name or null")),
            };
            Ok(Dependency { run: to, via })
        })
        .collect()
}

fn tests(o: &Map<String, Value>) -> Result<Vec<TestResult>> {
    match o.get("tests") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(t) => {
            serde_json::from_value::<Vec<TestResult>>(t.clone()).map_err(|e| wrong_type("tests", &e.to_string()))
        }
    }
}

fn run(o: &Map<String, Value>) -> Result<RunRecord> {
    let id = u32::try_from(uint(o, "id")?).map_err(|_| wrong_type("id", "a run id"))?;
    let outputs = io_list(o, "outputs", false)?;
    Ok(RunRecord {
        id,
        component: req_str(o, "component")?,
        start: req_time(o, "start")?.0,
        end: req_time(o, "end")?.0,
        inputs: io_list(o, "inputs", true)?,
        outputs,
        dependencies: edges(o)?,
        stale: texts(o, "stale")?,
        git_hash: opt_str(o, "git_hash")?,
        git_tags: texts(o, "git_tags")?,
        code_snapshot: opt_str(o, "code_snapshot")?,
        notes: opt_str(o, "notes")?.unwrap_or_default(),
        tests: tests(o)?,
        idempotency_key: opt_str(o, "idempotency_key")?,
    })
}

fn object<'a>(o: &'a Map<String, Value>, key: &str) -> Result<&'a Map<String, Value>> {
    o.get(key).and_then(Value::as_object).ok_or_else(|| wrong_type(key, "an object"))
}

fn uint(o: &Map<String, Value>, key: &str) -> Result<u64> {
    o.get(key).and_then(Value::as_u64).ok_or_else(|| wrong_type(key, "a non-negative integer"))
}

fn texts(o: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| v.as_str().map(str::to_string).ok_or_else(|| wrong_type(&format!("{key}[{i}]"), "a string")))
            .collect(),
        Some(_) => Err(wrong_type(key, "a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LogOptions, NewRun};

    #[test]
    fn every_event_survives_the_json_of_an_export() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open");
        let t = Timestamp::parse("2026-11-26T03:00:00Z").expect("time");
        store.register_component("ingest", "pulls", "ana", &["etl".to_string()]).expect("register");
        store.log_run(&NewRun::new("ingest", t, t).outputs(["raw.csv"])).expect("run");
        let mut second = NewRun::new("clean", t, Timestamp(t.0 + 5)).inputs(["raw.csv"]).outputs(["clean.csv"]);
        second.tests.push(TestResult {
            name: "t".into(),
            phase: "after".into(),
            passed: false,
            message: Some("m".into()),
        });
        second.code_snapshot = Some("print()".into());
        store.log_run(&second).expect("run");
        store.set_notes(2, "checked").expect("notes");
        store.flag(&["clean.csv".to_string()], Some("bad"), Some("bob")).expect("flag");
        store.unflag_all().expect("unflag");
        store.tag_component("clean", &["x".to_string()]).expect("tag");
        if store.audit_key().is_ok() {
            store.record_head().expect("a signed tree head");
        }
        for e in store.events_after(0, 100).expect("events") {
            let back = event_from_json(&crate::model::event_json(&e)).expect("parses back");
            assert_eq!(back, e);
        }
    }
}
