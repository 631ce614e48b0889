//! The wire shape of what clients send (a run, a batch of runs), read by serde with the path of
//! every error ([`serde_path_to_error`]), so that a refusal names the field (`runs[3].inputs[0].name`)
//! and says what to send. [`NewRun`](crate::NewRun) derives its serde impls with the field
//! deserializers below; there is no second parser.
//!
//! How an error becomes a field and a message ([`parse`]):
//!
//! | serde says                          | field                 | message                           |
//! |-------------------------------------|-----------------------|-----------------------------------|
//! | `missing field `x``                 | path + `x`            | `<field> is required`             |
//! | `unknown field `x`, expected ...`   | path (ends with `x`)  | `<field> is not a field of a run (known: ...)` |
//! | `invalid type: ..., expected E`     | path                  | `<field> must be E`               |
//! | a message of ours with `{field}`    | path                  | the message, `{field}` filled in  |
//!
//! The deserializers here say `E` in the contract's words ("true or false", "a list of strings"),
//! and write their own messages with the [`FIELD`] placeholder, since a deserializer does not
//! know where it is.

use crate::error::StoreError;
use crate::event::{IoType, TestResult};
use crate::time::Timestamp;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

/// Where a deserializer's own message names the field; [`parse`] fills in the path.
pub const FIELD: &str = "{field}";

/// Why a body was refused: it is not JSON at all, or it is JSON of the wrong shape.
#[derive(Debug)]
pub enum WireError {
    /// Not JSON (a syntax error, or the text ends early); the caller says where (`body`, `line 3`).
    Syntax(serde_json::Error),
    /// JSON, but not what the contract accepts; the error names the field.
    Invalid(StoreError),
}

impl From<WireError> for StoreError {
    fn from(e: WireError) -> StoreError {
        match e {
            WireError::Syntax(e) => StoreError::invalid("body", format!("the body is not valid JSON: {e}")),
            WireError::Invalid(e) => e,
        }
    }
}

/// Reads `T` from JSON bytes; a refusal names the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    // Tracking the path costs as much as the parse itself, and only a refusal needs it: the same
    // impls read the bytes again, tracked, when they refuse.
    serde_json::from_slice(bytes).or_else(|_| parse_tracked(bytes))
}

/// [`parse`] with the path of the error tracked.
fn parse_tracked<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WireError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() { WireError::Invalid(refusal(&path, &inner.to_string())) } else { WireError::Syntax(inner) }
    })?;
    de.end().map_err(WireError::Syntax)?;
    Ok(value)
}

/// Reads `T` from a parsed JSON value (`mltrace import` reads lines it has parsed already).
pub fn from_value<T: DeserializeOwned>(value: &serde_json::Value) -> Result<T, StoreError> {
    serde_path_to_error::deserialize(value).map_err(|e| refusal(&e.path().to_string(), &e.into_inner().to_string()))
}

/// The error's field and message from serde's message at `path`.
fn refusal(path: &str, serde_message: &str) -> StoreError {
    // The position is of no use to an API client, which names fields, not columns.
    let text = match serde_message.rfind(" at line ") {
        Some(i) => &serde_message[..i],
        None => serde_message,
    };
    let path = if path == "." { "" } else { path };
    let join = |key: &str| if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
    if let Some(key) = quoted_after(text, "missing field `") {
        let field = join(key);
        return StoreError::invalid(&field, format!("{field} is required"));
    }
    if let Some(key) = quoted_after(text, "duplicate field `") {
        let field = if path.ends_with(key) { path.to_string() } else { join(key) };
        return StoreError::invalid(&field, format!("{field} is given twice"));
    }
    if text.starts_with("unknown field `") {
        let known: Vec<&str> = text.split('`').skip(3).step_by(2).collect();
        let what = match known.as_slice() {
            ["runs"] => "a batch (a batch is {\"runs\": [...]})".to_string(),
            k if k.contains(&"component") => format!("a run (known: {})", k.join(", ")),
            k if k.contains(&"passed") => format!("a test result ({})", k.join(", ")),
            k if k.contains(&"hash") => format!("an I/O pointer ({})", k.join(", ")),
            k => format!("this object (known: {})", k.join(", ")),
        };
        return StoreError::invalid(path, format!("{path} is not a field of {what}"));
    }
    if text.contains(FIELD) {
        return StoreError::invalid(path, text.replace(FIELD, path));
    }
    if let Some(i) = text.find(", expected ")
        && (text.starts_with("invalid type") || text.starts_with("invalid value"))
    {
        let expected = &text[i + ", expected ".len()..];
        if path.is_empty() {
            return StoreError::invalid("", format!("a run must be {expected}"));
        }
        return StoreError::invalid(path, format!("{path} must be {expected}"));
    }
    StoreError::invalid(path, if path.is_empty() { text.to_string() } else { format!("{path}: {text}") })
}

fn quoted_after<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.split('`').next()
}

/// `T` from a JSON object only. Serde's derived structs also accept an array of their fields in
/// order (`["train", "2026-…", "2026-…"]` would read as a run), which the contract refuses.
pub struct MapOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Objects<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Objects<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(Objects(PhantomData)).map(MapOnly)
    }
}

/// A visitor described in the contract's words, for the `invalid type` errors serde builds from it.
macro_rules! expecting {
    ($text:expr) => {
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str($text)
        }
    };
}

/// A required string; `null` counts as missing.
pub fn required_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = String;
        expecting!("a string");
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_unit<E: de::Error>(self) -> Result<String, E> {
            Err(E::custom(format!("{FIELD} is required")))
        }
    }
    d.deserialize_any(V)
}

/// An optional string where `null` or absence mean the empty one (`notes`).
pub fn text_or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// A required `true` or `false`; `null` counts as missing.
pub fn required_flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    flag(d, None)
}

/// `true` or `false`, or `default` when `null` (missing when there is no default).
fn flag<'de, D: Deserializer<'de>>(d: D, default: Option<bool>) -> Result<bool, D::Error> {
    struct V(Option<bool>);
    impl Visitor<'_> for V {
        type Value = bool;
        expecting!("true or false");
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
            Ok(v)
        }
        fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
            self.0.ok_or_else(|| E::custom(format!("{FIELD} is required")))
        }
    }
    d.deserialize_any(V(default))
}

/// `dependencies_from_inputs`: `true` unless it says `false`.
pub fn yes_unless_false<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    flag(d, Some(true))
}

/// `staleness_threshold_s`: whole seconds, a non-negative fraction rounded down; `null` is the
/// default.
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = u64;
        expecting!("a non-negative number of seconds");
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
            Ok(v)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
            u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
            if v >= 0.0 { Ok(v as u64) } else { Err(E::invalid_value(de::Unexpected::Float(v), &self)) }
        }
        fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
            Ok(crate::ingest::DEFAULT_STALENESS_S)
        }
    }
    d.deserialize_any(V)
}

/// A required time: RFC 3339 text or whole epoch milliseconds.
pub fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = Timestamp;
        expecting!("an RFC 3339 time or epoch milliseconds");
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
            Timestamp::parse(v).map_err(|why| E::custom(format!("{FIELD}: {why}")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
            Ok(Timestamp(v))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
            i64::try_from(v)
                .map(Timestamp)
                .map_err(|_| E::custom(format!("{FIELD}: {v} is outside the accepted range of epoch milliseconds")))
        }
        // Whole milliseconds only: `1.9` silently read as 1 ms would not be what was meant.
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
            Err(E::custom(format!(
                "{FIELD}: {v} is not a time: give whole epoch milliseconds (an integer) or an RFC 3339 time"
            )))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Timestamp, E> {
            Err(E::custom(format!("{FIELD} is required")))
        }
    }
    d.deserialize_any(V)
}

/// A list of `T`; `null` is the empty list.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D, what: &'static str) -> Result<Vec<T>, D::Error> {
    struct V<T>(&'static str, PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4_096));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V(what, PhantomData))
}

/// A list of strings; one string is a list of one (`"upstream": "featuregen"`).
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<String>;
        expecting!("a list of strings");
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Vec<String>, A::Error> {
            list(de::value::SeqAccessDeserializer::new(seq), "a list of strings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<String>, E> {
            Ok(vec![v.to_string()])
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<String>, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(V)
}

/// A list of strings, strictly (a command's `outputs`, `tags`); `null` is the empty list.
pub fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    list(d, "a list of strings")
}

/// `true` or `false`; `null` or absence mean `false`.
pub fn false_unless_true<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    flag(d, Some(false))
}

/// `inputs`, `outputs`: names, or `{name, hash, type}` objects.
pub fn io_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<crate::IoSpec>, D::Error> {
    list(d, "a list of names or {name, hash, type} objects")
}

/// `tests`: `{name, phase, passed, message}` objects.
pub fn tests<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TestResult>, D::Error> {
    let tests: Vec<MapOnly<TestIn>> = list(d, "a list of test results")?;
    Ok(tests
        .into_iter()
        .map(|MapOnly(t)| TestResult {
            name: t.name,
            phase: t.phase.unwrap_or_else(|| "after".into()),
            passed: t.passed,
            message: t.message,
        })
        .collect())
}

/// A test result as sent; `phase` defaults to `after`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestIn {
    #[serde(deserialize_with = "required_text")]
    name: String,
    #[serde(default)]
    phase: Option<String>,
    #[serde(deserialize_with = "required_flag")]
    passed: bool,
    #[serde(default)]
    message: Option<String>,
}

/// An I/O pointer given as an object.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IoObject {
    #[serde(deserialize_with = "required_text")]
    name: String,
    #[serde(default)]
    hash: Option<String>,
    #[serde(default, rename = "type", deserialize_with = "io_type")]
    kind: Option<IoType>,
}

fn io_type<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IoType>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(t) => IoType::parse(&t)
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{FIELD} is `{t}`; use data, model, endpoint or unknown"))),
    }
}

impl<'de> Deserialize<'de> for crate::IoSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = crate::IoSpec;
            expecting!("a name or a {name, hash, type} object");
            fn visit_str<E: de::Error>(self, v: &str) -> Result<crate::IoSpec, E> {
                Ok(crate::IoSpec::from(v))
            }
            fn visit_string<E: de::Error>(self, name: String) -> Result<crate::IoSpec, E> {
                Ok(crate::IoSpec { name, hash: None, kind: None })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<crate::IoSpec, A::Error> {
                let o = IoObject::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(crate::IoSpec { name: o.name, hash: o.hash, kind: o.kind })
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for crate::IoSpec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.hash.is_none() && self.kind.is_none() {
            return s.serialize_str(&self.name);
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        if let Some(h) = &self.hash {
            m.serialize_entry("hash", h)?;
        }
        if let Some(k) = self.kind {
            m.serialize_entry("type", k.as_str())?;
        }
        m.end()
    }
}

/// `{"runs": [...]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Batch {
    #[serde(deserialize_with = "runs")]
    runs: Vec<crate::NewRun>,
}

fn runs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<crate::NewRun>, D::Error> {
    let runs: Vec<MapOnly<crate::NewRun>> = list(d, "a list of run objects")?;
    Ok(runs.into_iter().map(|MapOnly(r)| r).collect())
}

/// Whether a JSON object has a `runs` key, read without building anything.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    runs: Option<de::IgnoredAny>,
}

/// What a JSON body of `POST /runs` holds: one run, or a batch.
#[derive(Debug)]
pub enum Body {
    /// One run object (its errors name fields without a `runs[0].` prefix).
    One(Box<crate::NewRun>),
    /// `{"runs": [...]}` (errors name `runs[i].field`).
    Batch(Vec<crate::NewRun>),
}

/// Reads a JSON body of `POST /runs`: `{"runs": [...]}` is a batch, any other object one run.
pub fn body(bytes: &[u8]) -> Result<Body, WireError> {
    // A run is refused as a batch at its first key, so trying the batch first costs a run nothing.
    if let Ok(MapOnly(batch)) = serde_json::from_slice::<MapOnly<Batch>>(bytes) {
        return Ok(Body::Batch(batch.runs));
    }
    if let Ok(MapOnly(run)) = serde_json::from_slice::<MapOnly<crate::NewRun>>(bytes) {
        return Ok(Body::One(Box::new(run)));
    }
    // Refused either way: which shape was meant decides which error to give.
    let probe: MapOnly<Probe> = match serde_json::from_slice(bytes) {
        Ok(p) => p,
        Err(e) if e.is_data() => {
            return Err(WireError::Invalid(StoreError::invalid("body", "the body must be a JSON object")));
        }
        Err(e) => return Err(WireError::Syntax(e)),
    };
    if probe.0.runs.is_some() {
        let MapOnly(batch) = parse_tracked::<MapOnly<Batch>>(bytes)?;
        Ok(Body::Batch(batch.runs))
    } else {
        parse_tracked::<MapOnly<crate::NewRun>>(bytes).map(|MapOnly(r)| Body::One(Box::new(r)))
    }
}

/// Reads one run object from JSON bytes (a line of NDJSON).
pub fn run(bytes: &[u8]) -> Result<crate::NewRun, WireError> {
    parse::<MapOnly<crate::NewRun>>(bytes).map(|MapOnly(r)| r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewRun;

    fn refused(body: &str) -> (String, String) {
        match run(body.as_bytes()) {
            Err(WireError::Invalid(StoreError::Invalid { field, message })) => (field, message),
            other => panic!("expected a refusal naming a field, got {other:?}"),
        }
    }

    #[test]
    fn every_refusal_names_the_field_and_says_what_to_send() {
        let cases = [
            (r#"{"start": 1, "end": 2}"#, "component", "component is required"),
            (r#"{"component": null, "start": 1, "end": 2}"#, "component", "component is required"),
            (r#"{"component": 3, "start": 1, "end": 2}"#, "component", "component must be a string"),
            (r#"{"component": "a", "start": 1.5, "end": 2}"#, "start", "start: 1.5 is not a time"),
            (r#"{"component": "a", "start": "noon", "end": 2}"#, "start", "start: "),
            (
                r#"{"component": "a", "start": 1, "end": 2, "inputs": ["x", 3]}"#,
                "inputs[1]",
                "inputs[1] must be a name or a {name, hash, type} object",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "outputs": [{"hash": "h"}]}"#,
                "outputs[0].name",
                "outputs[0].name is required",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "inputs": [{"name": "x", "type": "weird"}]}"#,
                "inputs[0].type",
                "inputs[0].type is `weird`; use data",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "colour": "red"}"#,
                "colour",
                "colour is not a field of a run (known: component, start,",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "tests": [{"name": "t", "passed": true, "colour": 1}]}"#,
                "tests[0].colour",
                "tests[0].colour is not a field of a test result",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "tests": [{"name": "t"}]}"#,
                "tests[0].passed",
                "tests[0].passed is required",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "upstream": [1]}"#,
                "upstream[0]",
                "upstream[0] must be a string",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "dependencies_from_inputs": 1}"#,
                "dependencies_from_inputs",
                "dependencies_from_inputs must be true or false",
            ),
            (
                r#"{"component": "a", "start": 1, "end": 2, "staleness_threshold_s": -1}"#,
                "staleness_threshold_s",
                "staleness_threshold_s must be a non-negative number of seconds",
            ),
            (r#"["a", 1, 2]"#, "", "a run must be a JSON object"),
            (r#"{"component": "a", "start": 1, "end": 2, "end": 3}"#, "end", "end is given twice"),
        ];
        for (body, field, message) in cases {
            let (f, m) = refused(body);
            assert_eq!(f, field, "{body}: {m}");
            assert!(m.starts_with(message), "{body}: {m:?} should start with {message:?}");
        }
    }

    #[test]
    fn a_batch_names_the_run_and_a_single_run_does_not() {
        let e = body(br#"{"runs": [{"component": "a", "start": 1, "end": 2}, {"component": "b", "start": 1}]}"#);
        match e {
            Err(WireError::Invalid(StoreError::Invalid { field, message })) => {
                assert_eq!((field.as_str(), message.as_str()), ("runs[1].end", "runs[1].end is required"));
            }
            other => panic!("{other:?}"),
        }
        let e = body(br#"{"runs": [], "extra": 1}"#);
        assert!(
            matches!(e, Err(WireError::Invalid(StoreError::Invalid { ref field, .. })) if field == "extra"),
            "{e:?}"
        );
        assert!(matches!(body(b"{nope"), Err(WireError::Syntax(_))));
        assert!(
            matches!(body(b"[1]"), Err(WireError::Invalid(StoreError::Invalid { ref field, .. })) if field == "body")
        );
    }

    #[test]
    fn what_a_client_writes_reads_back_the_same_and_defaults_fill_the_rest() {
        let t = Timestamp::parse("2026-11-26T03:00:00Z").expect("a time");
        let mut r = NewRun::new("train", t, t).inputs(["features.parquet"]).outputs(["model.pkl"]);
        r.inputs.push(crate::IoSpec {
            name: "raw.csv".into(),
            hash: Some("sha256:ab".into()),
            kind: Some(IoType::Data),
        });
        r.tests.push(TestResult { name: "t".into(), phase: "before".into(), passed: true, message: None });
        r.upstream = vec!["featuregen".into()];
        r.staleness_threshold_s = 60;
        let bytes = serde_json::to_vec(&r).expect("serialize");
        assert_eq!(run(&bytes).expect("reads back"), r);
        let minimal = run(br#"{"component": "train", "start": "2026-11-26T03:00:00Z", "end": 1795662000000, "notes": null, "upstream": "u"}"#)
            .expect("a minimal run");
        assert!(minimal.dependencies_from_inputs);
        assert_eq!(minimal.staleness_threshold_s, crate::ingest::DEFAULT_STALENESS_S);
        assert_eq!(minimal.upstream, vec!["u".to_string()]);
    }
}
