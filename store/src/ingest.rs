//! What callers ask the store to record, and the checks a request must pass before anything is
//! written. Parsing from JSON lives here too, so the API, the CLI's `import` and data-directory mode
//! share one parser with one set of field-precise error messages.

use crate::error::{Result, StoreError};
use crate::event::{IoType, TestResult};
use crate::names::{check_name, check_name_lazy, check_text};
use crate::time::Timestamp;
use serde_json::{Map, Value};

/// Default staleness threshold: 30 days.
pub const DEFAULT_STALENESS_S: u64 = 30 * 24 * 3600;
/// Most inputs (or outputs) one run may list.
pub const MAX_IO_PER_RUN: usize = 10_000;
/// Most git tags, upstream components or test results one run may list; also the most tags one
/// registration or tagging may add.
pub const MAX_LIST: usize = 1_000;
/// Most outputs one flag or unflag may name.
pub const MAX_FLAG_OUTPUTS: usize = 100_000;
/// Largest run, counted as the bytes of its strings plus a little per list item: well below what
/// one record may hold ([`crate::codec::MAX_PAYLOAD`]) even after resolution adds dependencies and
/// staleness reasons, so that a run that passes validation is never refused by the codec.
pub const MAX_RUN_BYTES: usize = 64 * 1024 * 1024;

/// Refuses a list longer than `max`, naming the field.
pub(crate) fn check_count(field: &str, len: usize, max: usize) -> Result<()> {
    if len > max {
        return Err(StoreError::invalid(field, format!("{field} lists {len} items; at most {max} are allowed")));
    }
    Ok(())
}
/// Largest code snapshot, in bytes.
pub const MAX_CODE_BYTES: usize = 16 * 1024 * 1024;
/// Largest notes or description, in bytes.
pub const MAX_TEXT_BYTES: usize = 1024 * 1024;

/// One input or output as a caller gives it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IoSpec {
    /// The pointer's name.
    pub name: String,
    /// Content hash of this occurrence.
    pub hash: Option<String>,
    /// Explicit type (used when the name is first seen).
    pub kind: Option<IoType>,
}

impl From<&str> for IoSpec {
    fn from(name: &str) -> Self {
        IoSpec { name: name.to_string(), hash: None, kind: None }
    }
}

/// A run to log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRun {
    /// Component name (created on first use).
    pub component: String,
    /// Start time.
    pub start: Timestamp,
    /// End time (>= start).
    pub end: Timestamp,
    /// Inputs.
    pub inputs: Vec<IoSpec>,
    /// Outputs.
    pub outputs: Vec<IoSpec>,
    /// Explicit upstream components.
    pub upstream: Vec<String>,
    /// Resolve dependencies from inputs (rule 1).
    pub dependencies_from_inputs: bool,
    /// Staleness threshold in seconds.
    pub staleness_threshold_s: u64,
    /// Git commit.
    pub git_hash: Option<String>,
    /// Git tags.
    pub git_tags: Vec<String>,
    /// Code that ran.
    pub code_snapshot: Option<String>,
    /// Notes.
    pub notes: String,
    /// Test results.
    pub tests: Vec<TestResult>,
    /// Retry key.
    pub idempotency_key: Option<String>,
}

impl NewRun {
    /// A run with only the required fields.
    pub fn new(component: &str, start: Timestamp, end: Timestamp) -> Self {
        NewRun {
            component: component.to_string(),
            start,
            end,
            inputs: Vec::new(),
            outputs: Vec::new(),
            upstream: Vec::new(),
            dependencies_from_inputs: true,
            staleness_threshold_s: DEFAULT_STALENESS_S,
            git_hash: None,
            git_tags: Vec::new(),
            code_snapshot: None,
            notes: String::new(),
            tests: Vec::new(),
            idempotency_key: None,
        }
    }

    /// Adds inputs by name.
    pub fn inputs<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.inputs.extend(names.into_iter().map(IoSpec::from));
        self
    }

    /// Adds outputs by name.
    pub fn outputs<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Self {
        self.outputs.extend(names.into_iter().map(IoSpec::from));
        self
    }

    /// Checks everything that does not depend on the store's state. Field paths are relative to
    /// the run (`end`, `inputs[2].name`).
    pub fn check(&self) -> Result<()> {
        check_name("component", "component", &self.component)?;
        for (field, t) in [("start", self.start), ("end", self.end)] {
            if !Timestamp::is_in_range(t) {
                return Err(StoreError::invalid(
                    field,
                    format!(
                        "{field} ({} ms) is outside the accepted range, years 0000 to 9999 ({} to {} ms since the epoch)",
                        t.0,
                        Timestamp::MIN.0,
                        Timestamp::MAX.0
                    ),
                ));
            }
        }
        if self.end < self.start {
            return Err(StoreError::invalid("end", format!("end ({}) is before start ({})", self.end, self.start)));
        }
        for (field, list) in [("inputs", &self.inputs), ("outputs", &self.outputs)] {
            if list.len() > MAX_IO_PER_RUN {
                return Err(StoreError::invalid(
                    field,
                    format!("{field} lists {} names; at most {MAX_IO_PER_RUN} are allowed", list.len()),
                ));
            }
            for (i, io) in list.iter().enumerate() {
                check_name_lazy(|| format!("{field}[{i}].name"), "I/O pointer", &io.name)?;
                if let Some(h) = &io.hash {
                    check_name_lazy(|| format!("{field}[{i}].hash"), "hash", h)?;
                }
            }
        }
        check_count("upstream", self.upstream.len(), MAX_LIST)?;
        check_count("git_tags", self.git_tags.len(), MAX_LIST)?;
        check_count("tests", self.tests.len(), MAX_LIST)?;
        for (i, up) in self.upstream.iter().enumerate() {
            check_name_lazy(|| format!("upstream[{i}]"), "component", up)?;
        }
        if let Some(h) = &self.git_hash {
            check_name("git_hash", "git hash", h)?;
        }
        for (i, t) in self.git_tags.iter().enumerate() {
            check_name_lazy(|| format!("git_tags[{i}]"), "git tag", t)?;
        }
        if let Some(code) = &self.code_snapshot {
            check_text("code_snapshot", code, MAX_CODE_BYTES)?;
        }
        check_text("notes", &self.notes, MAX_TEXT_BYTES)?;
        for (i, t) in self.tests.iter().enumerate() {
            check_name_lazy(|| format!("tests[{i}].name"), "test", &t.name)?;
            if t.phase != "before" && t.phase != "after" {
                return Err(StoreError::invalid(
                    format!("tests[{i}].phase"),
                    format!("tests[{i}].phase is `{}`; it must be `before` or `after`", t.phase),
                ));
            }
            if let Some(m) = &t.message {
                check_text(&format!("tests[{i}].message"), m, MAX_TEXT_BYTES)?;
            }
        }
        if let Some(k) = &self.idempotency_key {
            check_name("idempotency_key", "idempotency key", k)?;
        }
        self.check_size()
    }

    /// Refuses a run too big for one record, naming its biggest field.
    fn check_size(&self) -> Result<()> {
        const ITEM: usize = 16;
        let io = |l: &[IoSpec]| l.iter().map(|i| i.name.len() + i.hash.as_ref().map_or(0, String::len) + ITEM).sum();
        let parts: [(&str, usize); 7] = [
            ("inputs", io(&self.inputs)),
            ("outputs", io(&self.outputs)),
            ("upstream", self.upstream.iter().map(|u| u.len() + ITEM).sum()),
            ("git_tags", self.git_tags.iter().map(|t| t.len() + ITEM).sum()),
            ("code_snapshot", self.code_snapshot.as_ref().map_or(0, String::len)),
            ("notes", self.notes.len()),
            ("tests", self.tests.iter().map(|t| t.name.len() + t.message.as_ref().map_or(0, String::len) + ITEM).sum()),
        ];
        let total: usize = parts.iter().map(|p| p.1).sum::<usize>() + self.component.len();
        if total > MAX_RUN_BYTES {
            let (field, _) = parts.iter().max_by_key(|p| p.1).copied().unwrap_or(("", 0));
            return Err(StoreError::invalid(
                field,
                format!(
                    "{field} makes the run about {} MiB; a run may hold at most {} MiB in all",
                    total >> 20,
                    MAX_RUN_BYTES >> 20
                ),
            ));
        }
        Ok(())
    }

    /// Parses a run object of the HTTP API (see `http-api.md`); errors name the field.
    pub fn from_json(value: &Value) -> Result<NewRun> {
        let obj = value.as_object().ok_or_else(|| StoreError::invalid("", "a run must be a JSON object"))?;
        const KNOWN: &[&str] = &[
            "component",
            "start",
            "end",
            "inputs",
            "outputs",
            "upstream",
            "dependencies_from_inputs",
            "staleness_threshold_s",
            "git_hash",
            "git_tags",
            "code_snapshot",
            "notes",
            "tests",
            "idempotency_key",
        ];
        if let Some(unknown) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(StoreError::invalid(
                unknown.as_str(),
                format!("{unknown} is not a field of a run (known: {})", KNOWN.join(", ")),
            ));
        }
        let component = req_str(obj, "component")?;
        let start = req_time(obj, "start")?;
        let end = req_time(obj, "end")?;
        let mut run = NewRun::new(&component, start, end);
        run.inputs = io_list(obj, "inputs")?;
        run.outputs = io_list(obj, "outputs")?;
        run.upstream = str_list(obj, "upstream")?;
        if let Some(v) = present(obj, "dependencies_from_inputs") {
            run.dependencies_from_inputs =
                v.as_bool().ok_or_else(|| wrong_type("dependencies_from_inputs", "true or false"))?;
        }
        if let Some(v) = present(obj, "staleness_threshold_s") {
            run.staleness_threshold_s = v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .ok_or_else(|| wrong_type("staleness_threshold_s", "a non-negative number of seconds"))?;
        }
        run.git_hash = opt_str(obj, "git_hash")?;
        run.git_tags = str_list(obj, "git_tags")?;
        run.code_snapshot = opt_str(obj, "code_snapshot")?;
        run.notes = opt_str(obj, "notes")?.unwrap_or_default();
        run.idempotency_key = opt_str(obj, "idempotency_key")?;
        if let Some(v) = present(obj, "tests") {
            let arr = v.as_array().ok_or_else(|| wrong_type("tests", "a list of test results"))?;
            for (i, t) in arr.iter().enumerate() {
                run.tests.push(test_result(t, i)?);
            }
        }
        Ok(run)
    }
}

fn present<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

pub(crate) fn wrong_type(field: &str, expected: &str) -> StoreError {
    StoreError::invalid(field, format!("{field} must be {expected}"))
}

pub(crate) fn req_str(obj: &Map<String, Value>, key: &str) -> Result<String> {
    match present(obj, key) {
        None => Err(StoreError::invalid(key, format!("{key} is required"))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(wrong_type(key, "a string")),
    }
}

pub(crate) fn opt_str(obj: &Map<String, Value>, key: &str) -> Result<Option<String>> {
    match present(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type(key, "a string")),
    }
}

pub(crate) fn req_time(obj: &Map<String, Value>, key: &str) -> Result<Timestamp> {
    match present(obj, key) {
        None => Err(StoreError::invalid(key, format!("{key} is required"))),
        Some(v) => parse_time(v).map_err(|why| StoreError::invalid(key, format!("{key}: {why}"))),
    }
}

/// A time given as RFC 3339 text or integer epoch milliseconds.
pub fn parse_time(v: &Value) -> std::result::Result<Timestamp, String> {
    match v {
        Value::String(s) => Timestamp::parse(s),
        // Whole milliseconds only: `1.9` silently read as 1 ms would not be what was meant.
        Value::Number(n) => n.as_i64().map(Timestamp).ok_or_else(|| {
            format!("{n} is not a time: give whole epoch milliseconds (an integer) or an RFC 3339 time")
        }),
        _ => Err("must be an RFC 3339 time or epoch milliseconds".into()),
    }
}

fn str_list(obj: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
    match present(obj, key) {
        None => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(wrong_type(&format!("{key}[{i}]"), "a string")),
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(_) => Err(wrong_type(key, "a list of strings")),
    }
}

fn io_list(obj: &Map<String, Value>, key: &str) -> Result<Vec<IoSpec>> {
    let items = match present(obj, key) {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(wrong_type(key, "a list of names or {name, hash, type} objects")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("{key}[{i}]");
            match v {
                Value::String(s) => Ok(IoSpec::from(s.as_str())),
                Value::Object(o) => {
                    if let Some(unknown) = o.keys().find(|k| !["name", "hash", "type"].contains(&k.as_str())) {
                        return Err(StoreError::invalid(
                            format!("{at}.{unknown}"),
                            format!("{at}.{unknown} is not a field of an I/O pointer (name, hash, type)"),
                        ));
                    }
                    let name = req_str(o, "name").map_err(|e| e.within(&at))?;
                    let hash = opt_str(o, "hash").map_err(|e| e.within(&at))?;
                    let kind = match opt_str(o, "type").map_err(|e| e.within(&at))? {
                        None => None,
                        Some(t) => Some(IoType::parse(&t).ok_or_else(|| {
                            StoreError::invalid(
                                format!("{at}.type"),
                                format!("{at}.type is `{t}`; use data, model, endpoint or unknown"),
                            )
                        })?),
                    };
                    Ok(IoSpec { name, hash, kind })
                }
                _ => Err(wrong_type(&at, "a name or a {name, hash, type} object")),
            }
        })
        .collect()
}

fn test_result(v: &Value, i: usize) -> Result<TestResult> {
    let at = format!("tests[{i}]");
    let o = v.as_object().ok_or_else(|| wrong_type(&at, "an object {name, phase, passed, message}"))?;
    if let Some(unknown) = o.keys().find(|k| !["name", "phase", "passed", "message"].contains(&k.as_str())) {
        return Err(StoreError::invalid(
            format!("{at}.{unknown}"),
            format!("{at}.{unknown} is not a field of a test result (name, phase, passed, message)"),
        ));
    }
    let within = |e: StoreError| e.within(&at);
    let name = req_str(o, "name").map_err(within)?;
    let phase = opt_str(o, "phase").map_err(within)?.unwrap_or_else(|| "after".into());
    let passed = match present(o, "passed") {
        Some(Value::Bool(b)) => *b,
        None => return Err(StoreError::invalid(format!("{at}.passed"), format!("{at}.passed is required"))),
        Some(_) => return Err(wrong_type(&format!("{at}.passed"), "true or false")),
    };
    let message = opt_str(o, "message").map_err(within)?;
    Ok(TestResult { name, phase, passed, message })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_spec_example() {
        let v = json!({
          "component": "train", "start": "2026-11-26T03:00:00Z", "end": "2026-11-26T03:05:00Z",
          "inputs": ["features.parquet", {"name": "s3://raw/day=1/x.csv", "hash": "sha256:ab12", "type": "data"}],
          "outputs": ["model.pkl"], "upstream": ["featuregen"], "dependencies_from_inputs": true,
          "staleness_threshold_s": 2592000, "git_hash": "9f2c", "git_tags": ["v1.2"],
          "code_snapshot": "def train(df): ...", "notes": "",
          "tests": [{"name": "OutliersTest.testZScore", "phase": "before", "passed": true, "message": null}],
          "idempotency_key": "pipeline-42/train/attempt-1"
        });
        let r = NewRun::from_json(&v).unwrap();
        assert_eq!(r.inputs[1].hash.as_deref(), Some("sha256:ab12"));
        assert_eq!(r.inputs[1].kind, Some(IoType::Data));
        assert_eq!(r.end.0 - r.start.0, 300_000);
        assert!(r.check().is_ok());
    }

    #[test]
    fn errors_name_the_field() {
        let field = |v: Value| match NewRun::from_json(&v).and_then(|r| r.check()) {
            Err(StoreError::Invalid { field, .. }) => field,
            other => panic!("expected an invalid-argument error, got {other:?}"),
        };
        assert_eq!(field(json!({"start": 1, "end": 2})), "component");
        assert_eq!(field(json!({"component": "a", "end": 2})), "start");
        assert_eq!(field(json!({"component": "a", "start": 3, "end": 2})), "end");
        assert_eq!(field(json!({"component": "a", "start": 1, "end": 2, "inputs": ["x", 3]})), "inputs[1]");
        assert_eq!(
            field(json!({"component": "a", "start": 1, "end": 2, "outputs": [{"hash": "h"}]})),
            "outputs[0].name"
        );
        assert_eq!(field(json!({"component": "a", "start": 1, "end": 2, "outputs": ["a\u{0007}"]})), "outputs[0].name");
        assert_eq!(field(json!({"component": "", "start": 1, "end": 2})), "component");
        assert_eq!(field(json!({"component": "a", "start": "noon", "end": 2})), "start");
        assert_eq!(field(json!({"component": "a", "start": 1, "end": 2, "colour": "red"})), "colour");
    }
}

/// The fast path for well-formed requests: runs deserialized straight from the bytes, with no
/// intermediate `serde_json::Value`. It accepts a strict subset of what [`NewRun::from_json`]
/// accepts and builds the same [`NewRun`]; anything it rejects goes through `from_json`, whose
/// errors name the field.
pub mod fast {
    use super::{IoSpec, NewRun};
    use crate::event::{IoType, TestResult};
    use crate::time::Timestamp;
    use serde::Deserialize;

    /// `T` from a JSON object only. Serde's derived structs also accept a JSON array of their
    /// fields in order (`["train", "2026-…", "2026-…"]` would read as a run), which the contract
    /// and the precise parser refuse: the fast path must never accept more than they do.
    struct MapOnly<T>(T);

    impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Objects<T>(std::marker::PhantomData<T>);
            impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Objects<T> {
                type Value = T;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                    T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                }
            }
            d.deserialize_map(Objects(std::marker::PhantomData)).map(MapOnly)
        }
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Run {
        component: String,
        start: Timestamp,
        end: Timestamp,
        #[serde(default)]
        inputs: Option<Vec<Io>>,
        #[serde(default)]
        outputs: Option<Vec<Io>>,
        #[serde(default)]
        upstream: Option<Vec<String>>,
        #[serde(default)]
        dependencies_from_inputs: Option<bool>,
        #[serde(default)]
        staleness_threshold_s: Option<u64>,
        #[serde(default)]
        git_hash: Option<String>,
        #[serde(default)]
        git_tags: Option<Vec<String>>,
        #[serde(default)]
        code_snapshot: Option<String>,
        #[serde(default)]
        notes: Option<String>,
        #[serde(default)]
        tests: Option<Vec<MapOnly<Test>>>,
        #[serde(default)]
        idempotency_key: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Io {
        Name(String),
        Full(MapOnly<FullIo>),
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FullIo {
        name: String,
        #[serde(default)]
        hash: Option<String>,
        #[serde(default, rename = "type")]
        kind: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Test {
        name: String,
        #[serde(default)]
        phase: Option<String>,
        passed: bool,
        #[serde(default)]
        message: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        runs: Vec<MapOnly<Run>>,
    }

    fn io(list: Option<Vec<Io>>) -> Option<Vec<IoSpec>> {
        list.unwrap_or_default()
            .into_iter()
            .map(|i| match i {
                Io::Name(name) => Some(IoSpec { name, hash: None, kind: None }),
                Io::Full(MapOnly(FullIo { name, hash, kind })) => {
                    let kind = match kind {
                        None => None,
                        Some(k) => Some(IoType::parse(&k)?),
                    };
                    Some(IoSpec { name, hash, kind })
                }
            })
            .collect()
    }

    fn convert(r: Run) -> Option<NewRun> {
        let mut run = NewRun::new(&r.component, r.start, r.end);
        run.inputs = io(r.inputs)?;
        run.outputs = io(r.outputs)?;
        run.upstream = r.upstream.unwrap_or_default();
        run.dependencies_from_inputs = r.dependencies_from_inputs.unwrap_or(true);
        if let Some(s) = r.staleness_threshold_s {
            run.staleness_threshold_s = s;
        }
        run.git_hash = r.git_hash;
        run.git_tags = r.git_tags.unwrap_or_default();
        run.code_snapshot = r.code_snapshot;
        run.notes = r.notes.unwrap_or_default();
        run.idempotency_key = r.idempotency_key;
        run.tests = r
            .tests
            .unwrap_or_default()
            .into_iter()
            .map(|MapOnly(t)| TestResult {
                name: t.name,
                phase: t.phase.unwrap_or_else(|| "after".into()),
                passed: t.passed,
                message: t.message,
            })
            .collect();
        Some(run)
    }

    /// One run object, if it is well formed.
    pub fn run(bytes: &[u8]) -> Option<NewRun> {
        serde_json::from_slice::<MapOnly<Run>>(bytes).ok().and_then(|MapOnly(r)| convert(r))
    }

    /// A `{"runs": [...]}` batch, if it is well formed.
    pub fn batch(bytes: &[u8]) -> Option<Vec<NewRun>> {
        serde_json::from_slice::<MapOnly<Batch>>(bytes).ok()?.0.runs.into_iter().map(|MapOnly(r)| convert(r)).collect()
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use serde_json::{Value, json};

        /// The fast path either declines or builds exactly what the field-precise parser builds.
        #[test]
        fn the_fast_path_agrees_with_the_precise_parser_or_declines() {
            let cases: Vec<Value> = vec![
                json!({"component": "a", "start": 1, "end": 2}),
                json!({"component": "a", "start": "2026-11-26T03:00:00+01:00", "end": "2026-11-26T03:00:00Z",
                       "inputs": ["x", {"name": "y", "hash": "h", "type": "model"}, {"name": "z"}],
                       "outputs": [{"name": "o", "type": null, "hash": null}], "upstream": ["u"],
                       "dependencies_from_inputs": false, "staleness_threshold_s": 10, "git_hash": "g",
                       "git_tags": ["t"], "code_snapshot": "c", "notes": "n", "idempotency_key": "k",
                       "tests": [{"name": "t", "passed": false, "message": "m"}, {"name": "u", "phase": "before", "passed": true}]}),
                json!({"component": "a", "start": 1, "end": 2, "git_hash": null, "inputs": null, "tests": null}),
                json!({"component": "a", "start": 1.5, "end": 2}),
                json!({"component": "a", "start": 1, "end": 2, "staleness_threshold_s": 2.5}),
                json!({"component": "a", "start": 1, "end": 2, "upstream": "u"}),
                json!({"component": "a", "start": 1, "end": 2, "inputs": [{"name": "x", "type": "weird"}]}),
                json!({"component": "a", "start": 1, "end": 2, "colour": "red"}),
                json!({"component": "a", "start": 1, "end": 2, "inputs": [{"name": "x", "extra": 1}]}),
                json!({"component": 3, "start": 1, "end": 2}),
                json!({"start": 1, "end": 2}),
            ];
            for case in cases {
                let bytes = serde_json::to_vec(&case).unwrap();
                if let Some(fast) = run(&bytes) {
                    assert_eq!(Some(fast), NewRun::from_json(&case).ok(), "{case}");
                }
                let batch_bytes = serde_json::to_vec(&json!({"runs": [case.clone(), case.clone()]})).unwrap();
                if let Some(fast) = batch(&batch_bytes) {
                    assert_eq!(fast.len(), 2);
                    assert_eq!(Some(&fast[0]), NewRun::from_json(&case).ok().as_ref(), "{case}");
                }
            }
            assert!(run(br#"{"component": "a", "start": 1, "end": 2}"#).is_some());
            assert!(run(br#"{"component": "a", "start": 1, "end": 2, "colour": 1}"#).is_none());
        }
    }
}
