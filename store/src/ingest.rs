//! What callers ask the store to record, and the checks a request must pass before anything is
//! written. [`NewRun`] is also the wire shape of a run (its serde impls, read by [`crate::wire`]),
//! so the API, the CLI's `import`, data-directory mode and the Rust client share one parser with
//! one set of field-precise error messages.

use crate::error::{Result, StoreError};
use crate::event::{IoType, TestResult};
use crate::names::{check_name, check_name_lazy, check_text};
use crate::time::Timestamp;
use crate::wire;
use serde::{Deserialize, Serialize};
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

/// One input or output as a caller gives it: a name, or `{name, hash, type}` on the wire.
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

/// A run to log: what a client sends (the HTTP API's run object, `http-api.md`) and what the store
/// checks and resolves. Its serde impls are the wire format, read field-precisely by
/// [`crate::wire`]; absent and `null` fields take the defaults of [`NewRun::new`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    /// Component name (created on first use).
    #[serde(deserialize_with = "wire::required_text")]
    pub component: String,
    /// Start time.
    #[serde(deserialize_with = "wire::time")]
    pub start: Timestamp,
    /// End time (>= start).
    #[serde(deserialize_with = "wire::time")]
    pub end: Timestamp,
    /// Inputs.
    #[serde(default, deserialize_with = "wire::io_list")]
    pub inputs: Vec<IoSpec>,
    /// Outputs.
    #[serde(default, deserialize_with = "wire::io_list")]
    pub outputs: Vec<IoSpec>,
    /// Explicit upstream components.
    #[serde(default, deserialize_with = "wire::strings", skip_serializing_if = "Vec::is_empty")]
    pub upstream: Vec<String>,
    /// Resolve dependencies from inputs (rule 1).
    #[serde(default = "yes", deserialize_with = "wire::yes_unless_false")]
    pub dependencies_from_inputs: bool,
    /// Staleness threshold in seconds.
    #[serde(default = "default_staleness", deserialize_with = "wire::seconds")]
    pub staleness_threshold_s: u64,
    /// Git commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_hash: Option<String>,
    /// Git tags.
    #[serde(default, deserialize_with = "wire::strings", skip_serializing_if = "Vec::is_empty")]
    pub git_tags: Vec<String>,
    /// Code that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_snapshot: Option<String>,
    /// Notes.
    #[serde(default, deserialize_with = "wire::text_or_empty")]
    pub notes: String,
    /// Test results.
    #[serde(default, deserialize_with = "wire::tests", skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestResult>,
    /// Retry key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

fn yes() -> bool {
    true
}

fn default_staleness() -> u64 {
    DEFAULT_STALENESS_S
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

    /// Reads a run object of the HTTP API (see `http-api.md`); errors name the field.
    pub fn from_json(value: &Value) -> Result<NewRun> {
        wire::from_value::<wire::MapOnly<NewRun>>(value).map(|wire::MapOnly(r)| r)
    }

    /// Reads a run object from JSON bytes; errors name the field (or `body`, when it is not JSON).
    pub fn from_slice(bytes: &[u8]) -> Result<NewRun> {
        Ok(wire::run(bytes)?)
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
