//! The JSON parsers of what clients send (a run, an OpenLineage event) against hostile input:
//! arbitrary JSON values, and valid bodies with one part broken. A parser must answer, never panic;
//! a refusal names a field; and a run read from bytes is the run read from the parsed value.
//!
//! 256 cases a property in CI; `MLTRACE_LONG_TESTS=1` runs 20,000.

use mltrace_store::NewRun;
use mltrace_store::openlineage::parse_event;
use proptest::prelude::*;
use serde_json::{Value, json};

fn cases() -> u32 {
    if std::env::var("MLTRACE_LONG_TESTS").is_ok_and(|v| v == "1") { 20_000 } else { 256 }
}

/// Any JSON value, nested a few levels, with the keys the parsers look for among the random ones.
fn any_json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("component".to_string()),
        Just("start".to_string()),
        Just("end".to_string()),
        Just("inputs".to_string()),
        Just("outputs".to_string()),
        Just("name".to_string()),
        Just("namespace".to_string()),
        Just("tests".to_string()),
        Just("eventType".to_string()),
        Just("eventTime".to_string()),
        Just("run".to_string()),
        Just("runId".to_string()),
        Just("job".to_string()),
        Just("facets".to_string()),
        "[a-z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::String),
        Just(json!("2026-11-20T00:00:00Z")),
        Just(json!("0190c0de-0000-7000-8000-000000000001")),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn valid_run() -> Value {
    json!({
        "component": "train", "start": "2026-11-20T00:00:00Z", "end": "2026-11-20T00:05:00Z",
        "inputs": ["a.csv", {"name": "b.csv", "hash": "sha256:ab", "type": "data"}], "outputs": ["m.pkl"],
        "upstream": [], "git_tags": ["v1"], "tests": [{"name": "t", "phase": "after", "passed": true, "message": null}],
        "notes": "", "idempotency_key": "k-1"
    })
}

fn valid_lineage() -> Value {
    json!({
        "eventType": "COMPLETE", "eventTime": "2026-11-20T00:05:00Z", "producer": "https://example.com/p",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": "0190c0de-0000-7000-8000-000000000001", "facets": {}},
        "job": {"namespace": "etl", "name": "clean"},
        "inputs": [{"namespace": "s3://lake", "name": "raw/a.csv"}],
        "outputs": [{"namespace": "s3://lake", "name": "clean/a.parquet", "facets": {}}]
    })
}

/// The valid body with the value at one place (chosen by `pick`) replaced by `with`.
fn broken(mut v: Value, pick: usize, with: Value) -> Value {
    fn places(v: &Value, out: &mut Vec<Vec<String>>, path: Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, c) in o {
                    let mut p = path.clone();
                    p.push(k.clone());
                    out.push(p.clone());
                    places(c, out, p);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(i.to_string());
                    out.push(p.clone());
                    places(c, out, p);
                }
            }
            _ => {}
        }
    }
    let mut all = Vec::new();
    places(&v, &mut all, Vec::new());
    let path = &all[pick % all.len()];
    let mut at = &mut v;
    for step in path {
        at = match at {
            Value::Object(o) => o.get_mut(step).expect("a key of the walk"),
            Value::Array(a) => &mut a[step.parse::<usize>().expect("an index")],
            _ => unreachable!("the walk only steps into containers"),
        };
    }
    *at = with;
    v
}

fn check_run(v: &Value) -> Result<(), TestCaseError> {
    let from_value = NewRun::from_json(v).and_then(|r| r.check().map(|()| r));
    if let Err(e) = &from_value {
        prop_assert!(!e.to_string().is_empty());
    }
    // One parser, two ways in: the bytes of the API and the value `mltrace import` has parsed.
    let bytes = serde_json::to_vec(v).expect("serialize");
    let from_bytes = NewRun::from_slice(&bytes).and_then(|r| r.check().map(|()| r));
    let seen = |r: &Result<NewRun, mltrace_store::StoreError>| r.as_ref().map_err(|e| format!("{e:?}")).cloned();
    prop_assert_eq!(seen(&from_bytes), seen(&from_value), "bytes and value read differently: {}", v);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn a_run_parser_answers_any_json(v in any_json()) {
        check_run(&v)?;
    }

    #[test]
    fn a_run_with_one_part_broken_is_refused_or_accepted_never_a_panic(pick in any::<usize>(), with in any_json()) {
        check_run(&broken(valid_run(), pick, with))?;
    }

    #[test]
    fn an_openlineage_parser_answers_any_json(v in any_json()) {
        if let Err(e) = parse_event(v.to_string()) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn an_openlineage_event_with_one_part_broken_is_refused_or_accepted_never_a_panic(pick in any::<usize>(), with in any_json()) {
        if let Err(e) = parse_event(broken(valid_lineage(), pick, with).to_string()) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn arbitrary_text_is_refused_by_the_openlineage_parser_with_a_message(text in "\\PC{0,64}") {
        if let Err(e) = parse_event(text) {
            prop_assert!(!e.to_string().is_empty());
        }
    }
}

#[test]
fn the_valid_bodies_are_accepted() {
    assert!(NewRun::from_json(&valid_run()).and_then(|r| r.check()).is_ok());
    assert!(parse_event(valid_lineage().to_string()).is_ok());
}
