//! OpenLineage in and out through the real server: bad events refused whole, runs that arrive in
//! several events (out of order, twice, without a START), failed runs, time travel, and the export
//! replayed into an empty server.

use super::{log_pipeline, run};
use mltrace_tests::Server;
use serde_json::{Value, json};

const SCHEMA: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

fn uuid(n: u32) -> String {
    format!("0190c0de-0000-7000-8000-{n:012x}")
}

fn ds(ns: &str, name: &str) -> Value {
    json!({"namespace": ns, "name": name})
}

fn event(ty: &str, time: &str, run: u32, job: &str, inputs: Value, outputs: Value) -> Value {
    json!({
        "eventType": ty, "eventTime": time, "producer": "https://example.com/test", "schemaURL": SCHEMA,
        "run": {"runId": uuid(run)}, "job": {"namespace": "etl", "name": job},
        "inputs": inputs, "outputs": outputs,
    })
}

fn post(s: &Server, body: &Value) -> (u16, Value) {
    s.send("POST", "/api/v1/lineage", body)
}

fn ndjson(s: &Server, events: &[Value]) -> (u16, Value) {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    s.send_text("POST", "/api/v1/lineage", "application/x-ndjson", &body)
}

fn events_count(s: &Server) -> u64 {
    s.get("/api/v1/stats").1["events"].as_u64().unwrap_or(u64::MAX)
}

/// extract → clean → train, where train arrives RUNNING before its START and COMPLETE twice.
fn pipeline(order: &[usize]) -> Vec<Value> {
    let raw = || json!([ds("s3://lake", "raw/day=1.csv")]);
    let clean = || json!([ds("s3://lake", "clean.parquet")]);
    let all = [
        event("START", "2026-11-20T00:00:00Z", 1, "extract", json!([]), json!([])),
        event("COMPLETE", "2026-11-20T00:10:00Z", 1, "extract", json!([]), raw()),
        event("START", "2026-11-20T01:00:00Z", 2, "clean", raw(), json!([])),
        // Like most integrations, COMPLETE repeats the inputs.
        event("COMPLETE", "2026-11-20T01:10:00Z", 2, "clean", raw(), clean()),
        event("START", "2026-11-20T02:00:00Z", 3, "train", clean(), json!([])),
        event("RUNNING", "2026-11-20T02:05:00Z", 3, "train", json!([]), json!([ds("s3://lake", "model.pkl")])),
        event("COMPLETE", "2026-11-20T02:10:00Z", 3, "train", json!([]), json!([ds("s3://lake", "model.pkl")])),
    ];
    order.iter().map(|&i| all[i].clone()).collect()
}

fn shape(s: &Server, id: u64) -> Value {
    let (st, r) = s.get(&format!("/api/v1/runs/{id}"));
    assert_eq!(st, 200, "{r}");
    json!({"component": r["component"], "start": r["start"], "end": r["end"], "status": r["status"],
           "inputs": r["inputs"], "outputs": r["outputs"], "dependencies": r["dependencies"]})
}

#[test]
fn bad_openlineage_events_are_refused_with_the_field_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let ok = event("START", "2026-11-20T00:00:00Z", 1, "extract", json!([]), json!([ds("s3://b", "x")]));
    let (st, v) = post(&s, &ok);
    assert_eq!(st, 201, "{v}");
    let (st, v) = post(&s, &event("COMPLETE", "2026-11-20T00:10:00Z", 1, "extract", json!([]), json!([])));
    assert_eq!(st, 201, "{v}");
    let before = events_count(&s);

    let mut wrong_type = ok.clone();
    wrong_type["eventType"] = json!("FINISHED");
    let mut not_uuid = ok.clone();
    not_uuid["run"]["runId"] = json!("run-42");
    let mut no_namespace = ok.clone();
    no_namespace["outputs"] = json!([ds("s3://b", "x"), ds("s3://b", "y"), {"name": "z"}]);
    let start_after_complete = event("START", "2026-11-20T00:20:00Z", 1, "extract", json!([]), json!([]));
    let other_ending = event("FAIL", "2026-11-20T00:20:00Z", 1, "extract", json!([]), json!([]));
    let mut no_time = ok.clone();
    no_time.as_object_mut().unwrap().remove("eventTime");
    let cases: Vec<(Value, &str)> = vec![
        (wrong_type, "eventType"),
        (not_uuid, "run.runId"),
        (no_namespace, "outputs[2].namespace"),
        (start_after_complete, "eventType"),
        (other_ending, "eventType"),
        (no_time, "eventTime"),
        (json!({"eventTime": "2026-11-20T00:00:00Z", "producer": "p", "schemaURL": "s"}), "run"),
    ];
    for (body, field) in cases {
        let (st, v) = post(&s, &body);
        assert_eq!(st, 400, "{body} -> {v}");
        assert_eq!(v["error"]["field"], json!(field), "{v}");
        assert_eq!(v["error"]["code"], json!("invalid_argument"));
    }
    let (st, v) = s.send_text("POST", "/api/v1/lineage", "application/json", "{\"eventType\": ");
    assert_eq!((st, v["error"]["field"].clone()), (400, json!("body")), "{v}");

    // A batch with one bad event stores none of it, and says which event.
    let good = event("START", "2026-11-21T00:00:00Z", 9, "later", json!([]), json!([]));
    let mut bad = good.clone();
    bad["run"]["runId"] = json!("nope");
    let (st, v) = ndjson(&s, &[good.clone(), bad]);
    assert_eq!(st, 400, "{v}");
    assert_eq!(v["error"]["field"], json!("[1].run.runId"));
    assert_eq!(events_count(&s), before, "a refused request changed the log");
    let (st, v) = s.send_text("POST", "/api/v1/lineage", "text/plain", &good.to_string());
    assert_eq!(st, 415, "{v}");
    assert_eq!(events_count(&s), before);
}

#[test]
fn a_run_in_several_events_gives_the_same_result_in_any_order_twice_or_without_start() {
    let in_order = pipeline(&[0, 1, 2, 3, 4, 5, 6]);
    // train: RUNNING before START, COMPLETE twice; clean: no START at all.
    let shuffled = pipeline(&[0, 1, 3, 5, 4, 6, 6]);
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    let a = Server::start(dir_a.path(), &[]);
    let b = Server::start(dir_b.path(), &[]);
    for e in &in_order {
        assert_eq!(post(&a, e).0, 201);
    }
    let (st, v) = ndjson(&b, &shuffled);
    assert_eq!(st, 201, "{v}");
    assert_eq!(shape(&a, 1), shape(&b, 1));
    // Without its START, clean starts at its first event; everything else is the same.
    let (mut ca, mut cb) = (shape(&a, 2), shape(&b, 2));
    assert_eq!(cb["start"], json!("2026-11-20T01:10:00.000Z"));
    ca["start"] = Value::Null;
    cb["start"] = Value::Null;
    assert_eq!(ca, cb);
    let (ta, tb) = (shape(&a, 3), shape(&b, 3));
    assert_eq!(ta["status"], json!("completed"));
    assert_eq!(ta["start"], json!("2026-11-20T02:00:00.000Z"));
    assert_eq!(ta["end"], json!("2026-11-20T02:10:00.000Z"));
    assert_eq!(ta, tb);
    let (_, trace) = a.get("/api/v1/trace?output=s3://lake/model.pkl");
    let ids: Vec<u64> = trace["nodes"].as_array().unwrap().iter().map(|n| n["run"]["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![3, 2, 1]);
    assert_eq!(trace["nodes"][0]["run"]["component"], json!("etl/train"));
}

#[test]
fn running_and_failed_runs_are_shown_but_never_become_the_latest_producer() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let out = || json!([ds("s3://lake", "report.csv")]);
    assert_eq!(post(&s, &event("START", "2026-11-20T00:00:00Z", 1, "report", json!([]), out())).0, 201);
    // Running: visible with its status, and its output has no producer yet.
    let (_, recent) = s.get("/api/v1/runs");
    assert_eq!(recent["runs"][0]["status"], json!("running"));
    let (_, io) = s.get("/api/v1/io?name=s3://lake/report.csv");
    assert_eq!(io["producers"], json!([]));
    let seq_running = s.get("/api/v1/stats").1["last_seq"].as_u64().unwrap();
    assert_eq!(post(&s, &event("COMPLETE", "2026-11-20T00:05:00Z", 1, "report", json!([]), out())).0, 201);

    let consume = run("consume", "2026-11-20T12:00:00Z", json!(["s3://lake/report.csv"]), json!(["summary.txt"]));
    assert_eq!(s.send("POST", "/api/v1/runs", &consume).0, 201);
    let mut fail = event("FAIL", "2026-11-21T00:05:00Z", 2, "report", json!([]), out());
    fail["run"]["facets"] = json!({"errorMessage": {"_producer": "p", "_schemaURL": "s",
        "message": "disk quota exceeded", "programmingLanguage": "python"}});
    assert_eq!(post(&s, &event("START", "2026-11-21T00:00:00Z", 2, "report", json!([]), out())).0, 201);
    let seq_retry_running = s.get("/api/v1/stats").1["last_seq"].as_u64().unwrap();
    assert_eq!(post(&s, &fail).0, 201);
    // While the retry ran, consume's input had a newer run on the way; once it failed, nothing
    // superseded run 1, so consume is not outdated.
    let (_, then) = s.get(&format!("/api/v1/outdated?as_of={seq_retry_running}"));
    assert_eq!(then["components"][0]["reasons"], json!(["etl/report (ID 1) has been superseded by ID 3."]));
    assert_eq!(s.get("/api/v1/outdated").1["components"], json!([]));
    // Nor is a failed run a fresher run that would make a later reader of run 1's output stale.
    let late = run("late", "2026-11-22T00:00:00Z", json!(["s3://lake/report.csv"]), json!(["late.txt"]));
    let (st, v) = s.send("POST", "/api/v1/runs", &late);
    assert_eq!((st, v["runs"][0]["dependencies"].clone(), v["runs"][0]["stale"].clone()), (201, json!([1]), json!([])));
    let (_, run) = s.get("/api/v1/runs/3");
    assert_eq!(run["status"], json!("failed"));
    assert_eq!(run["error"], json!("disk quota exceeded"));
    let (_, trace) = s.get("/api/v1/trace?output=s3://lake/report.csv");
    assert_eq!(trace["root"], json!(1), "a failed run became the latest producer: {trace}");
    let (_, io) = s.get("/api/v1/io?name=s3://lake/report.csv");
    assert_eq!(io["producers"], json!([1]));
    // Time travel: as of the START, run 1 was running and had produced nothing.
    let (_, then) = s.get(&format!("/api/v1/runs/1?as_of={seq_running}"));
    assert_eq!(then["status"], json!("running"));
    let (_, trace) = s.get(&format!("/api/v1/trace?output=s3://lake/report.csv&as_of={seq_running}"));
    assert_eq!(trace["root"], Value::Null);
    // A restart replays to the same answers.
    let answer = s.get("/api/v1/runs/3").1;
    drop(s);
    let s = Server::start(dir.path(), &[]);
    assert_eq!(s.get("/api/v1/runs/3").1, answer);
    // Every event is in the event stream, with the text as received.
    let (_, text) = s.get_text("/api/v1/events");
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let received: Vec<&Value> = lines.iter().filter(|l| l["type"] == json!("openlineage")).collect();
    assert_eq!(received.len(), 4);
    assert_eq!(serde_json::from_str::<Value>(received[3]["raw"].as_str().unwrap()).unwrap(), fail);
}

fn trace_shape(s: &Server, output: &str) -> Value {
    let (st, t) = s.get(&format!("/api/v1/trace?output={output}"));
    assert_eq!(st, 200, "{output}: {t}");
    let nodes: Vec<Value> = t["nodes"]
        .as_array()
        .expect("a trace has nodes")
        .iter()
        .map(|n| json!([n["depth"], n["run"]["id"], n["run"]["component"], n["run"]["inputs"], n["run"]["outputs"]]))
        .collect();
    json!({"root": t["root"], "nodes": nodes, "edges": t["edges"]})
}

fn review_shape(s: &Server) -> Value {
    let (_, r) = s.get("/api/v1/review");
    let runs: Vec<Value> = r["runs"]
        .as_array()
        .expect("a review has runs")
        .iter()
        .map(|x| json!([x["run"]["id"], x["count"], x["coverage"]]))
        .collect();
    let flagged: Vec<Value> = r["flagged"]
        .as_array()
        .expect("a review has flagged outputs")
        .iter()
        .map(|f| json!([f["name"], f["reason"], f["by"]]))
        .collect();
    json!({"runs": runs, "flagged": flagged, "unresolved": r["unresolved"]})
}

#[test]
fn the_openlineage_export_replays_into_an_empty_server_to_the_same_traces_and_review() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    log_pipeline(&s);
    // OpenLineage runs reading the native outputs, one with an explicit upstream.
    let (st, v) = ndjson(&s, &pipeline(&[0, 1, 2, 3, 4, 5, 6]));
    assert_eq!(st, 201, "{v}");
    let mut score = event("START", "2026-11-22T00:00:00Z", 7, "score", json!([ds("mltrace", "model.pkl")]), json!([]));
    score["run"]["facets"] = json!({"mltrace": {"_producer": "p", "_schemaURL": "s", "upstream": ["ingest"]}});
    let done = event("COMPLETE", "2026-11-22T00:01:00Z", 7, "score", json!([]), json!([ds("mltrace", "scores")]));
    assert_eq!(ndjson(&s, &[score, done]).0, 201);
    let (st, _) =
        s.send("POST", "/api/v1/flag", &json!({"outputs": ["scores", "s3://lake/model.pkl"], "reason": "drift"}));
    assert_eq!(st, 200);
    let (st, v) =
        s.send("POST", "/api/v1/runs", &run("ingest", "2026-11-23T00:00:00Z", json!([]), json!(["side.csv"])));
    assert_eq!(st, 201, "{v}");

    // A long run whose output is read before it completes (a source then) and after (a dependency):
    // the export keeps the interleaving, so the replay resolves both reads the same way.
    let long = |ty: &str, minute: u32| {
        event(ty, &format!("2026-11-24T00:{minute:02}:00Z"), 8, "long", json!([]), json!([ds("s3://lake", "long.csv")]))
    };
    assert_eq!(post(&s, &long("START", 0)).0, 201);
    let peek = run("peek", "2026-11-24T00:05:00Z", json!(["s3://lake/long.csv"]), json!(["peek.out"]));
    assert_eq!(s.send("POST", "/api/v1/runs", &peek).0, 201);
    assert_eq!(post(&s, &long("COMPLETE", 10)).0, 201);
    let after = run("after", "2026-11-24T00:15:00Z", json!(["s3://lake/long.csv"]), json!(["after.out"]));
    assert_eq!(s.send("POST", "/api/v1/runs", &after).0, 201);
    assert_eq!(trace_shape(&s, "peek.out")["nodes"].as_array().map(Vec::len), Some(1));
    assert_eq!(trace_shape(&s, "after.out")["nodes"].as_array().map(Vec::len), Some(2));

    let (st, export) = s.get_text("/api/v1/lineage/events");
    assert_eq!(st, 200);
    let fresh_dir = tempfile::tempdir().unwrap();
    let fresh = Server::start(fresh_dir.path(), &[]);
    let (st, v) = fresh.send_text("POST", "/api/v1/lineage", "application/x-ndjson", &export);
    assert_eq!(st, 201, "{v}");

    for output in ["pred_1", "pred_2", "model.pkl", "features-v2.parquet", "s3://lake/model.pkl", "scores", "side.csv"]
    {
        assert_eq!(trace_shape(&fresh, output), trace_shape(&s, output), "trace of {output}");
    }
    assert_eq!(review_shape(&fresh), review_shape(&s));
    assert_eq!(fresh.get("/api/v1/components/train").1["owner"], json!("alice"));
    // Paging and `after` give the same events as one request.
    let (_, tail) = s.get_text("/api/v1/lineage/events?after=3");
    assert!(export.ends_with(&tail), "the export after seq 3 is not the tail of the whole export");
}
