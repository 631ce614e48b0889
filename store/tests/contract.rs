//! The contract (`docs/concepts.md`), one test per rule, named after it, against the store's
//! public API. Where the contract is silent the tests follow `docs/decisions.md` and say so.
//!
//! Sections follow the contract: entities, names, events, dependency resolution, staleness and
//! outdated, trace and downstream, flags and review, time travel, durability; then the write path's
//! guarantees (batches, idempotency, validation) and the list queries (history, recent).

mod common;

use common::*;
use mltrace_store::event::Dependency;
use mltrace_store::model::{EdgeView, ReviewRank, RunSummary, Stats};
use mltrace_store::{
    AsOf, EventKind, FsyncPolicy, IoSpec, IoType, LogOptions, NewRun, Store, StoreError, TestResult, Timestamp,
};
use std::time::Duration;

const LIMIT: usize = mltrace_store::DEFAULT_TRACE_LIMIT;

fn trace_nodes(store: &Store, output: &str) -> Vec<(u32, u32)> {
    let trace = store.reader(None).trace(output, None, LIMIT).expect("trace");
    trace.nodes.iter().map(|n| (n.run.id, n.depth)).collect()
}

fn edge(from: u32, to: u32, via: Option<&str>) -> EdgeView {
    EdgeView { from, to, via: via.map(str::to_string) }
}

fn deps(store: &Store, id: u32) -> Vec<u32> {
    store.reader(None).run(id).expect("run").dependencies
}

fn stale(store: &Store, id: u32) -> Vec<String> {
    store.reader(None).run(id).expect("run").stale
}

/// Everything a reader can see, to show that something changed nothing.
#[derive(Debug, PartialEq)]
struct Snapshot {
    stats: Stats,
    events: Vec<mltrace_store::Event>,
    recent: Vec<RunSummary>,
    flags: Vec<mltrace_store::model::FlagView>,
    components: Vec<mltrace_store::model::ComponentView>,
}

fn snapshot(store: &Store) -> Snapshot {
    let r = store.reader(None);
    Snapshot {
        stats: r.stats(),
        events: store.events_after(0, usize::MAX).expect("events"),
        recent: r.recent(1000, None).expect("recent"),
        flags: r.flags(),
        components: r.components(None, None),
    }
}

// ---------------------------------------------------------------------------------------------
// Entities
// ---------------------------------------------------------------------------------------------

#[test]
fn component_is_created_on_first_use_with_empty_metadata() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"]));
    let c = store.reader(None).component("ingest").expect("component");
    assert_eq!(c.component.description, "");
    assert_eq!(c.component.owner, "");
    assert!(c.component.tags.is_empty());
    assert_eq!(c.run_count, 1);
    assert_eq!(c.latest_run.map(|r| r.id), Some(1));
    assert!(matches!(store.reader(None).component("nobody"), Err(StoreError::NotFound { .. })));
}

#[test]
fn registering_again_replaces_description_and_owner_and_adds_tags() {
    let dir = tempdir();
    let store = open(dir.path());
    let first = store.register_component("train", "trains", "alice", &names(&["ml", "gpu"])).expect("register");
    assert_eq!(first.tags, names(&["gpu", "ml"]));
    let second =
        store.register_component("train", "trains the model", "bob", &names(&["nightly"])).expect("register again");
    assert_eq!(second.description, "trains the model");
    assert_eq!(second.owner, "bob");
    assert_eq!(second.tags, names(&["gpu", "ml", "nightly"]), "tags are added, never removed");
    // A run does not touch the metadata.
    log(&store, &run("train", at(0, 0), [], ["model.pkl"]));
    let c = store.reader(None).component("train").expect("component");
    assert_eq!(c.component, second);
}

#[test]
fn tagging_adds_tags_to_a_known_component_and_an_unknown_one_is_not_found() {
    let dir = tempdir();
    let store = open(dir.path());
    let unknown = store.tag_component("featuregen", &names(&["etl"]));
    assert!(matches!(unknown, Err(StoreError::NotFound { ref field, .. }) if field == "name"), "{unknown:?}");
    assert_eq!(store.reader(None).stats().events, 0, "a rejected tag writes nothing");
    log(&store, &run("featuregen", at(0, 0), [], ["f.parquet"]));
    let c = store.tag_component("featuregen", &names(&["etl"])).expect("tag");
    assert_eq!((c.description.as_str(), c.owner.as_str()), ("", ""));
    store.register_component("featuregen", "features", "carol", &[]).expect("register");
    let c = store.tag_component("featuregen", &names(&["daily", "etl"])).expect("tag again");
    assert_eq!(c.tags, names(&["daily", "etl"]));
    assert_eq!(c.owner, "carol", "tagging keeps description and owner");
    let tags = store.reader(None).tags();
    assert_eq!(
        tags.iter().map(|t| (t.name.as_str(), t.components)).collect::<Vec<_>>(),
        vec![("daily", 1), ("etl", 1)]
    );
}

#[test]
fn components_filter_by_owner_and_tag_combined() {
    let dir = tempdir();
    let store = open(dir.path());
    store.register_component("a", "", "alice", &names(&["etl"])).expect("a");
    store.register_component("b", "", "alice", &names(&["ml"])).expect("b");
    store.register_component("c", "", "bob", &names(&["etl"])).expect("c");
    let list = |owner: Option<&str>, tag: Option<&str>| -> Vec<String> {
        let r = store.reader(None);
        r.components(owner, tag).into_iter().map(|c| c.name).collect()
    };
    assert_eq!(list(None, None), names(&["a", "b", "c"]));
    assert_eq!(list(Some("alice"), None), names(&["a", "b"]));
    assert_eq!(list(None, Some("etl")), names(&["a", "c"]));
    assert_eq!(list(Some("alice"), Some("etl")), names(&["a"]));
    assert!(list(None, Some("unknown-tag")).is_empty());
}

#[test]
fn run_ids_start_at_one_follow_log_order_and_are_never_reused() {
    let dir = tempdir();
    {
        let store = open(dir.path());
        store.register_component("ingest", "", "", &[]).expect("register");
        let a = store.log_run(&run("ingest", at(0, 0), [], ["a.csv"])).expect("a");
        let b = store.log_run(&run("ingest", at(0, 1), [], ["b.csv"])).expect("b");
        assert_eq!((a.id, a.seq), (1, 2));
        assert_eq!((b.id, b.seq), (2, 3));
        assert_eq!(store.reader(None).run(2).expect("run 2").seq, 3);
        // A rejected run takes no id.
        let bad = NewRun::new("ingest", at(0, 2), at(0, 1));
        assert!(store.log_run(&bad).is_err());
    }
    let store = open(dir.path());
    let c = store.log_run(&run("ingest", at(0, 3), [], ["c.csv"])).expect("c");
    assert_eq!(c.id, 3, "ids continue after a reopen");
    assert!(matches!(store.reader(None).run(0), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.reader(None).run(4), Err(StoreError::NotFound { .. })));
}

#[test]
fn a_run_keeps_every_field_it_was_logged_with() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut r = run("train", at(0, 0), ["features.parquet"], ["model.pkl"]);
    r.end = at(0, 2);
    r.git_hash = Some("9f2c".into());
    r.git_tags = names(&["v1.2"]);
    r.code_snapshot = Some("def train(df): ...".into());
    r.notes = "first try".into();
    r.tests = vec![TestResult {
        name: "OutliersTest.testZScore".into(),
        phase: "before".into(),
        passed: false,
        message: Some("z > 3".into()),
    }];
    log(&store, &r);
    let d = store.reader(None).run(1).expect("run");
    assert_eq!(d.component, "train");
    assert_eq!((d.start, d.end, d.duration_ms), (at(0, 0), at(0, 2), 2 * HOUR_MS));
    assert_eq!(d.git_hash.as_deref(), Some("9f2c"));
    assert_eq!(d.git_tags, names(&["v1.2"]));
    assert_eq!(d.code_snapshot.as_deref(), Some("def train(df): ..."));
    assert_eq!(d.notes, "first try");
    assert_eq!(d.tests, r.tests);
    let s = store.reader(None).summary(1).expect("summary");
    assert_eq!((s.inputs, s.outputs), (names(&["features.parquet"]), names(&["model.pkl"])));
}

#[test]
fn end_must_not_be_before_start() {
    let dir = tempdir();
    let store = open(dir.path());
    let same = NewRun::new("instant", at(0, 0), at(0, 0));
    assert!(store.log_run(&same).is_ok(), "end == start is allowed");
    let backwards = NewRun::new("instant", at(0, 1), at(0, 0));
    match store.log_run(&backwards) {
        Err(StoreError::Invalid { field, message }) => {
            assert_eq!(field, "end");
            assert!(message.contains("end"), "{message}");
        }
        other => panic!("expected an invalid end, got {other:?}"),
    }
}

#[test]
fn inputs_and_outputs_keep_the_order_of_first_appearance_and_drop_duplicates() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("mix", at(0, 0), ["b", "a", "b", "c", "a"], ["z", "y", "z"]));
    let d = store.reader(None).run(1).expect("run");
    let inputs: Vec<&str> = d.inputs.iter().map(|i| i.name.as_str()).collect();
    let outputs: Vec<&str> = d.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(inputs, ["b", "a", "c"]);
    assert_eq!(outputs, ["z", "y"]);
}

#[test]
fn notes_are_replaceable() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut r = run("train", at(0, 0), [], ["model.pkl"]);
    r.notes = "logged with this".into();
    log(&store, &r);
    store.set_notes(1, "replaced").expect("notes");
    assert_eq!(store.reader(None).run(1).expect("run").notes, "replaced");
    store.set_notes(1, "").expect("cleared");
    assert_eq!(store.reader(None).summary(1).expect("summary").notes, "");
    assert!(matches!(store.set_notes(2, "no such run"), Err(StoreError::NotFound { .. })));
}

#[test]
fn io_type_is_given_explicitly_or_inferred_once_when_the_name_is_first_seen() {
    let dir = tempdir();
    let store = open(dir.path());
    let cases = [
        ("s3://bucket/MyDATAset", IoType::Data),
        ("champion-MODEL", IoType::Model),
        ("metadata.pkl", IoType::Data), // "data" is checked before the extension
        ("model_data.bin", IoType::Data),
        ("table.CSV", IoType::Data),
        ("x.pq", IoType::Data),
        ("x.parquet", IoType::Data),
        ("notes.txt", IoType::Data),
        ("readme.md", IoType::Data),
        ("a.rtf", IoType::Data),
        ("a.tsv", IoType::Data),
        ("a.xml", IoType::Data),
        ("a.pdf", IoType::Data),
        ("a.json", IoType::Data),
        ("a.jsonl", IoType::Data),
        ("a.mlt", IoType::Data),
        ("w.h5", IoType::Model),
        ("w.hdf5", IoType::Model),
        ("clf.joblib", IoType::Model),
        ("clf.pkl", IoType::Model),
        ("clf.pickle", IoType::Model),
        ("epoch3.ckpt", IoType::Model),
        ("coreml.mlmodel", IoType::Model),
        ("net.pt", IoType::Model),
        ("net.onnx", IoType::Model),
        ("net.safetensors", IoType::Model),
        ("pred_17", IoType::Unknown),
        ("archive.tar.gz", IoType::Unknown),
        ("https://serving/endpoint", IoType::Unknown),
    ];
    let outputs: Vec<&str> = cases.iter().map(|(n, _)| *n).collect();
    log(&store, &run("many", at(0, 0), [], outputs));
    for (name, kind) in cases {
        assert_eq!(store.reader(None).io(name).expect("io").kind, kind, "{name}");
    }
    // Explicit types win when the name is new...
    let mut explicit = NewRun::new("serve", at(0, 1), at(0, 1));
    explicit.outputs = vec![
        IoSpec { name: "https://api/predict".into(), hash: None, kind: Some(IoType::Endpoint) },
        IoSpec { name: "weights.pkl".into(), hash: None, kind: Some(IoType::Data) },
    ];
    // ...and are ignored once it is known: the type is fixed when first seen.
    explicit.inputs = vec![IoSpec { name: "clf.pkl".into(), hash: None, kind: Some(IoType::Endpoint) }];
    log(&store, &explicit);
    let r = store.reader(None);
    assert_eq!(r.io("https://api/predict").expect("io").kind, IoType::Endpoint);
    assert_eq!(r.io("weights.pkl").expect("io").kind, IoType::Data);
    assert_eq!(r.io("clf.pkl").expect("io").kind, IoType::Model);
    let d = r.run(2).expect("run");
    assert_eq!(d.inputs[0].kind, IoType::Model);
    assert_eq!(d.outputs[0].kind, IoType::Endpoint);
}

// ---------------------------------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------------------------------

fn invalid_field(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Invalid { field, message }) => {
            assert!(!message.is_empty());
            field
        }
        other => panic!("expected an invalid-argument error, got {other:?}"),
    }
}

/// Every list of a run is bounded (decisions.md, "Limits"), so that a run the store accepts always
/// fits one record; the error names the list, and a refused request writes nothing.
#[test]
fn lists_of_a_run_are_bounded_and_the_error_names_the_list() {
    use mltrace_store::ingest::{MAX_FLAG_OUTPUTS, MAX_LIST};
    let dir = tempdir();
    let store = open(dir.path());
    let t = at(0, 0);
    let test = |i: usize| TestResult { name: format!("t{i}"), phase: "after".into(), passed: true, message: None };
    let mut ok = run("c", t, [], ["x"]);
    ok.tests = (0..MAX_LIST).map(test).collect();
    ok.git_tags = (0..MAX_LIST).map(|i| format!("v{i}")).collect();
    store.log_run(&ok).expect("at the limits");
    let seq = store.last_seq();
    let mut tests = ok.clone();
    tests.tests.push(test(MAX_LIST));
    assert_eq!(invalid_field(store.log_run(&tests)), "tests");
    let mut tags = ok.clone();
    tags.git_tags.push("one-more".into());
    assert_eq!(invalid_field(store.log_run(&tags)), "git_tags");
    let mut up = run("d", t, [], []);
    up.upstream = vec!["c".to_string(); MAX_LIST + 1];
    assert_eq!(invalid_field(store.log_run(&up)), "upstream");
    assert_eq!(invalid_field(store.log_runs(&[ok.clone(), tests.clone()])), "runs[1].tests");
    let many: Vec<String> = (0..=MAX_LIST).map(|i| format!("tag{i}")).collect();
    assert_eq!(invalid_field(store.register_component("c", "", "", &many)), "tags");
    assert_eq!(invalid_field(store.tag_component("c", &many)), "tags");
    assert_eq!(invalid_field(store.flag(&vec!["x".to_string(); MAX_FLAG_OUTPUTS + 1], None, None)), "outputs");
    // Too big in all, though each field is within its own limit: named by its biggest field.
    let mut big = run("c", t, [], []);
    big.code_snapshot = Some("x".repeat(16 << 20));
    big.tests = (0..60).map(|i| TestResult { message: Some("m".repeat(1 << 20)), ..test(i) }).collect();
    assert_eq!(invalid_field(store.log_run(&big)), "tests");
    assert_eq!(store.last_seq(), seq, "nothing refused was written");
}

#[test]
fn names_are_non_empty_utf8_of_at_most_1024_bytes_without_control_characters() {
    let dir = tempdir();
    let store = open(dir.path());
    let longest = "x".repeat(1024);
    let too_long = "x".repeat(1025);
    // 512 two-byte characters are 1024 bytes; 513 are 1026: the limit counts bytes.
    let wide_ok = "é".repeat(512);
    let wide_too_long = "é".repeat(513);
    for good in [longest.as_str(), wide_ok.as_str(), "träin/模型 v2"] {
        log(&store, &run(good, at(0, 0), [good], [good]));
        store.register_component(good, "", good, &[good.to_string()]).expect("a valid name is accepted everywhere");
    }
    let bad_names =
        ["", too_long.as_str(), wide_too_long.as_str(), "line\nbreak", "tab\there", "nul\0", "del\u{7f}", "c1\u{85}"];
    let before = snapshot(&store);
    for bad in bad_names {
        let t = at(0, 1);
        assert_eq!(invalid_field(store.log_run(&run(bad, t, [], []))), "component");
        assert_eq!(invalid_field(store.log_run(&run("c", t, [bad], []))), "inputs[0].name");
        assert_eq!(invalid_field(store.log_run(&run("c", t, ["ok", bad], []))), "inputs[1].name");
        assert_eq!(invalid_field(store.log_run(&run("c", t, [], [bad]))), "outputs[0].name");
        let mut up = run("c", t, [], []);
        up.upstream = vec![bad.to_string()];
        assert_eq!(invalid_field(store.log_run(&up)), "upstream[0]");
        assert_eq!(invalid_field(store.register_component(bad, "", "", &[])), "name");
        // An empty owner is no owner (components start with empty metadata); any other bad
        // owner is rejected.
        if !bad.is_empty() {
            assert_eq!(invalid_field(store.register_component("c", "", bad, &[])), "owner");
        }
        assert_eq!(invalid_field(store.register_component("c", "", "", &["ok".into(), bad.into()])), "tags[1]");
        assert_eq!(invalid_field(store.tag_component("c", &[bad.into()])), "tags[0]");
        assert_eq!(invalid_field(store.tag_component(bad, &[])), "name");
        assert_eq!(invalid_field(store.flag(&[bad.into()], None, None)), "outputs[0]");
    }
    assert_eq!(snapshot(&store), before, "rejected names change nothing");
}

// ---------------------------------------------------------------------------------------------
// Events: the log is the truth
// ---------------------------------------------------------------------------------------------

#[test]
fn every_change_is_one_event_with_a_sequence_number_and_an_append_time() {
    let dir = tempdir();
    let store = open(dir.path());
    store.register_component("ingest", "reads", "alice", &names(&["etl"])).expect("register");
    store.tag_component("ingest", &names(&["daily"])).expect("tag");
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"]));
    store.set_notes(1, "ok").expect("notes");
    store.flag(&names(&["raw.csv"]), Some("bad rows"), Some("bob")).expect("flag");
    store.unflag(&names(&["raw.csv"])).expect("unflag");
    store.flag(&names(&["raw.csv"]), None, None).expect("flag");
    store.unflag_all().expect("unflag all");
    let events = store.events_after(0, usize::MAX).expect("events");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at), "append times never decrease");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::ComponentRegistered { .. } => "registered",
            EventKind::ComponentTagged { .. } => "tagged",
            EventKind::RunLogged(_) => "run",
            EventKind::NotesSet { .. } => "notes",
            EventKind::Flagged { .. } => "flagged",
            EventKind::Unflagged { all: false, .. } => "unflagged",
            EventKind::Unflagged { all: true, .. } => "unflagged all",
            EventKind::Lineage(_) => "openlineage",
            EventKind::TreeHead { .. } => "tree head",
        })
        .collect();
    assert_eq!(kinds, ["registered", "tagged", "run", "notes", "flagged", "unflagged", "flagged", "unflagged all"]);
    assert_eq!(store.last_seq(), 8);
    let tail = store.events_after(6, 10).expect("tail");
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 8]);
    assert_eq!(store.events_after(2, 1).expect("one").len(), 1);
}

#[test]
fn what_is_computed_at_append_is_stored_in_the_event() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"]));
    log(&store, &run("ingest", at(1, 0), [], ["other.csv"]));
    let logged = store.log_run(&run("clean", at(40, 0), ["raw.csv"], ["clean.csv"])).expect("clean");
    let events = store.events_after(logged.seq - 1, 1).expect("event");
    let EventKind::RunLogged(record) = &events[0].kind else {
        panic!("expected a run event, got {:?}", events[0].kind);
    };
    assert_eq!(record.id, logged.id);
    assert_eq!(record.dependencies, vec![Dependency { run: 1, via: Some("raw.csv".into()) }]);
    assert_eq!(record.stale, logged.stale);
    assert_eq!(record.stale.len(), 2);
    assert_eq!(record.inputs[0].producer, Some(1));
    assert_eq!(record.inputs[0].kind, IoType::Data);
}

#[test]
fn replaying_the_log_gives_exactly_the_state_the_live_store_had() {
    let dir = tempdir();
    let answers = |store: &Store| {
        let r = store.reader(None);
        (
            r.trace("model.pkl", None, LIMIT).expect("trace"),
            r.review(100).expect("review"),
            r.recent(100, None).expect("recent"),
            r.outdated().expect("outdated"),
            r.components(None, None),
            r.flags(),
            (1..=5).map(|id| r.run(id).expect("run")).collect::<Vec<_>>(),
            r.io("raw.csv").expect("io"),
            r.stats(),
        )
    };
    let live = {
        let store = open(dir.path());
        store.register_component("ingest", "reads", "alice", &names(&["etl"])).expect("register");
        log(&store, &run("ingest", at(0, 0), [], ["raw.csv"]));
        log(&store, &run("featuregen", at(0, 1), ["raw.csv"], ["f.parquet"]));
        log(&store, &run("ingest", at(1, 0), [], ["raw.csv"]));
        log(&store, &run("train", at(45, 0), ["f.parquet"], ["model.pkl"]));
        log(&store, &run("featuregen", at(46, 0), ["raw.csv"], ["f.parquet"]));
        store.set_notes(4, "good").expect("notes");
        store.flag(&names(&["model.pkl"]), Some("drift"), Some("bob")).expect("flag");
        answers(&store)
    };
    let store = open(dir.path());
    assert_eq!(answers(&store), live);
    let read_only = Store::open_read_only(dir.path()).expect("read-only");
    assert_eq!(answers(&read_only), live);
}

// ---------------------------------------------------------------------------------------------
// Dependency resolution
// ---------------------------------------------------------------------------------------------

#[test]
fn rule1_two_producers_of_each_input_the_latest_wins() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("a", at(0, 0), [], ["x.csv"]));
    log(&store, &run("b", at(0, 1), [], ["y.csv"]));
    log(&store, &run("a", at(0, 2), [], ["x.csv"]));
    log(&store, &run("b", at(0, 3), [], ["y.csv"]));
    let c = store.log_run(&run("c", at(0, 4), ["y.csv", "x.csv"], ["z.csv"])).expect("c");
    assert_eq!(c.dependencies, [3, 4]);
    let d = store.reader(None).run(5).expect("run");
    let producers: Vec<_> = d.inputs.iter().map(|i| (i.name.as_str(), i.producer)).collect();
    assert_eq!(producers, [("y.csv", Some(4)), ("x.csv", Some(3))]);
}

#[test]
fn rule1_the_latest_producer_is_by_id_not_by_start_time() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("a", at(5, 0), [], ["x.csv"]));
    // Logged later, but started earlier: still the latest producer.
    log(&store, &run("a", at(1, 0), [], ["x.csv"]));
    let c = store.log_run(&run("c", at(6, 0), ["x.csv"], [])).expect("c");
    assert_eq!(c.dependencies, [2]);
}

#[test]
fn rule1_an_input_no_run_produced_is_a_source_and_adds_no_dependency() {
    let dir = tempdir();
    let store = open(dir.path());
    let a = store.log_run(&run("a", at(0, 0), ["s3://raw/day=1/x.csv"], ["out.csv"])).expect("a");
    assert!(a.dependencies.is_empty());
    assert!(a.stale.is_empty());
    let d = store.reader(None).run(1).expect("run");
    assert_eq!(d.inputs[0].producer, None);
    // A name only ever read is known (io answers) but has no producer.
    let io = store.reader(None).io("s3://raw/day=1/x.csv").expect("io");
    assert!(io.producers.is_empty());
    assert_eq!(io.consumers, [1]);
}

#[test]
fn rule1_hash_matched_input_depends_on_the_latest_run_that_wrote_that_hash() {
    let dir = tempdir();
    let store = open(dir.path());
    let hashed =
        |name: &str, hash: Option<&str>| IoSpec { name: name.into(), hash: hash.map(str::to_string), kind: None };
    let producer = |start, hash| {
        let mut r = NewRun::new("ingest", start, start);
        r.outputs = vec![hashed("x.csv", Some(hash))];
        r
    };
    log(&store, &producer(at(0, 0), "sha256:aa")); // 1
    log(&store, &producer(at(0, 1), "sha256:bb")); // 2
    log(&store, &producer(at(0, 2), "sha256:aa")); // 3
    log(&store, &producer(at(0, 3), "sha256:cc")); // 4
    let consumer = |hash: Option<&str>| {
        let mut r = NewRun::new("train", at(0, 4), at(0, 4));
        r.inputs = vec![hashed("x.csv", hash)];
        r
    };
    // The latest run that wrote that hash, not the latest producer.
    assert_eq!(store.log_run(&consumer(Some("sha256:aa"))).expect("aa").dependencies, [3]);
    assert_eq!(store.log_run(&consumer(Some("sha256:bb"))).expect("bb").dependencies, [2]);
    // An unknown hash, or no hash, falls back to the latest producer.
    assert_eq!(store.log_run(&consumer(Some("sha256:zz"))).expect("zz").dependencies, [4]);
    assert_eq!(store.log_run(&consumer(None)).expect("none").dependencies, [4]);
    let d = store.reader(None).run(5).expect("run");
    assert_eq!(d.inputs[0].hash.as_deref(), Some("sha256:aa"));
    assert_eq!(d.inputs[0].producer, Some(3));
    // The trace follows the versioned edge.
    let trace = store.reader(None).trace("x.csv", None, LIMIT).expect("trace");
    assert_eq!(trace.root, Some(4));
}

#[test]
fn rule2_upstream_adds_the_latest_run_of_the_component() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("featuregen", at(0, 0), [], ["f1"]));
    log(&store, &run("featuregen", at(0, 1), [], ["f2"]));
    log(&store, &run("other", at(0, 2), [], ["o"]));
    let mut train = run("train", at(0, 3), [], ["model.pkl"]);
    train.upstream = names(&["featuregen"]);
    let logged = store.log_run(&train).expect("train");
    assert_eq!(logged.dependencies, [2]);
    let trace = store.reader(None).trace("model.pkl", None, LIMIT).expect("trace");
    assert_eq!(trace.edges, [edge(4, 2, None)], "an explicit upstream edge has no input");
    // A component that exists but never ran adds nothing (and is not an error).
    store.register_component("planned", "", "", &[]).expect("register");
    let mut r = run("train", at(0, 4), [], []);
    r.upstream = names(&["planned"]);
    assert!(store.log_run(&r).expect("planned").dependencies.is_empty());
}

#[test]
fn rule2_an_unknown_upstream_component_is_an_error_and_nothing_is_logged() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("featuregen", at(0, 0), [], ["f1"]));
    let before = snapshot(&store);
    let mut r = run("train", at(0, 1), [], ["model.pkl"]);
    r.upstream = names(&["featuregen", "ghost"]);
    // An invalid request (HTTP 400), naming the field and the component.
    match store.log_run(&r) {
        Err(StoreError::Invalid { field, message }) => {
            assert_eq!(field, "upstream[1]");
            assert!(message.contains("ghost"), "{message}");
        }
        other => panic!("expected an invalid upstream, got {other:?}"),
    }
    assert_eq!(snapshot(&store), before);
    assert!(store.reader(None).component("train").is_err(), "not even the component was created");
}

#[test]
fn rule3_dependencies_are_the_union_sorted_by_id_without_duplicates() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("a", at(0, 0), [], ["x"]));
    log(&store, &run("b", at(0, 1), [], ["y"]));
    log(&store, &run("c", at(0, 2), [], ["z"]));
    let mut r = run("d", at(0, 3), ["z", "x"], ["out"]);
    r.upstream = names(&["b", "c", "a"]);
    assert_eq!(store.log_run(&r).expect("d").dependencies, [1, 2, 3]);
    let trace = store.reader(None).trace("out", None, LIMIT).expect("trace");
    // Linked by an input where one links them (the input wins over the upstream), else none.
    assert_eq!(trace.edges, [edge(4, 1, Some("x")), edge(4, 2, None), edge(4, 3, Some("z"))]);
}

#[test]
fn rule3_dependencies_from_inputs_false_skips_rule1() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("a", at(0, 0), [], ["x"]));
    log(&store, &run("b", at(0, 1), [], ["y"]));
    let mut r = run("c", at(0, 2), ["x"], ["out"]);
    r.dependencies_from_inputs = false;
    r.upstream = names(&["b"]);
    assert_eq!(store.log_run(&r).expect("c").dependencies, [2]);
    let d = store.reader(None).run(3).expect("run");
    assert_eq!(d.inputs[0].producer, None);
    // The input is still recorded as read.
    assert_eq!(store.reader(None).io("x").expect("io").consumers, [3]);
    let mut alone = run("c", at(0, 3), ["x", "y"], []);
    alone.dependencies_from_inputs = false;
    assert!(store.log_run(&alone).expect("alone").dependencies.is_empty());
}

#[test]
fn rule4_a_run_listing_the_same_name_as_input_and_output_depends_on_the_earlier_producer() {
    let dir = tempdir();
    let store = open(dir.path());
    // The first run of an in-place update has no earlier producer: no dependency, not itself.
    let first = store.log_run(&run("append", at(0, 0), ["table"], ["table"])).expect("first");
    assert!(first.dependencies.is_empty());
    let second = store.log_run(&run("append", at(0, 1), ["table"], ["table"])).expect("second");
    assert_eq!(second.dependencies, [1]);
    let third = store.log_run(&run("append", at(0, 2), ["table"], ["table"])).expect("third");
    assert_eq!(third.dependencies, [2]);
    assert_eq!(trace_nodes(&store, "table"), [(3, 0), (2, 1), (1, 2)]);
}

#[test]
fn rule4_two_runs_that_swap_input_and_output_make_no_cycle() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("forward", at(0, 0), ["x"], ["y"])); // 1: x is a source
    log(&store, &run("backward", at(0, 1), ["y"], ["x"])); // 2: depends on 1
    log(&store, &run("forward", at(0, 2), ["x"], ["y"])); // 3: depends on 2
    log(&store, &run("backward", at(0, 3), ["y"], ["x"])); // 4: depends on 3
    assert_eq!(deps(&store, 1), Vec::<u32>::new());
    assert_eq!(deps(&store, 2), [1]);
    assert_eq!(deps(&store, 3), [2]);
    assert_eq!(deps(&store, 4), [3]);
    assert_eq!(trace_nodes(&store, "x"), [(4, 0), (3, 1), (2, 2), (1, 3)]);
    assert_eq!(trace_nodes(&store, "y"), [(3, 0), (2, 1), (1, 2)]);
    for id in 1..=4 {
        assert!(deps(&store, id).iter().all(|&d| d < id), "dependencies point to smaller ids");
    }
}

#[test]
fn dependencies_are_resolved_when_logged_and_never_change_afterwards() {
    let dir = tempdir();
    {
        let store = open(dir.path());
        log(&store, &run("a", at(0, 0), [], ["x"]));
        log(&store, &run("b", at(0, 1), ["x"], ["y"]));
        log(&store, &run("a", at(0, 2), [], ["x"]));
        assert_eq!(deps(&store, 2), [1]);
    }
    let store = open(dir.path());
    assert_eq!(deps(&store, 2), [1], "nor after a replay");
}

// ---------------------------------------------------------------------------------------------
// Staleness and outdated
// ---------------------------------------------------------------------------------------------

#[test]
fn staleness_a_fresher_run_of_the_dependency_component() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("featuregen", at(0, 0), [], ["features.parquet"])); // 1
    log(&store, &run("featuregen", at(1, 0), [], ["features_v2.parquet"])); // 2
    let train = store.log_run(&run("train", at(2, 0), ["features.parquet"], ["model.pkl"])).expect("train");
    assert_eq!(train.dependencies, [1]);
    assert_eq!(train.stale, ["featuregen (ID 1) has 1 fresher run that began before this component run started."]);
    assert_eq!(stale(&store, 3), train.stale);
    // Two fresher runs: the plural. The interval is inclusive at both ends.
    log(&store, &run("featuregen", at(2, 0), [], ["features_v3.parquet"])); // 4, starts with train
    log(&store, &run("featuregen", at(9, 0), [], ["features_v4.parquet"])); // 5, starts after
    let again = store.log_run(&run("train", at(2, 0), ["features.parquet"], ["model.pkl"])).expect("again");
    assert_eq!(again.stale, ["featuregen (ID 1) has 2 fresher runs that began before this component run started."]);
    // A run of the dependency's component that started before the dependency does not count.
    log(&store, &run("ingest", at(5, 0), [], ["raw.csv"])); // 7
    log(&store, &run("ingest", at(4, 0), [], ["raw_old.csv"])); // 8
    let clean = store.log_run(&run("clean", at(6, 0), ["raw.csv"], ["clean.csv"])).expect("clean");
    assert!(clean.stale.is_empty(), "{:?}", clean.stale);
}

#[test]
fn staleness_a_dependency_older_than_the_threshold() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"]));
    // 45 days and 20 hours: whole days are counted.
    let clean = store.log_run(&run("clean", at(45, 20), ["raw.csv"], ["clean.csv"])).expect("clean");
    assert_eq!(clean.stale, ["ingest (ID 1) was run 45 days ago."]);
    // Exactly the threshold is not older than it.
    let on_the_day = store.log_run(&run("clean", at(30, 0), ["raw.csv"], ["clean.csv"])).expect("30 days");
    assert!(on_the_day.stale.is_empty(), "{:?}", on_the_day.stale);
    let mut just_past = run("clean", at(30, 0), ["raw.csv"], ["clean.csv"]);
    just_past.start = Timestamp(just_past.start.0 + 1);
    just_past.end = just_past.start;
    assert_eq!(store.log_run(&just_past).expect("past").stale, ["ingest (ID 1) was run 30 days ago."]);
    // The threshold is per run.
    let mut strict = run("clean", at(2, 5), ["raw.csv"], ["clean.csv"]);
    strict.staleness_threshold_s = 24 * 3600;
    assert_eq!(store.log_run(&strict).expect("strict").stale, ["ingest (ID 1) was run 2 days ago."]);
    let mut lenient = run("clean", at(45, 0), ["raw.csv"], ["clean.csv"]);
    lenient.staleness_threshold_s = 60 * 24 * 3600;
    assert!(store.log_run(&lenient).expect("lenient").stale.is_empty());
}

#[test]
fn staleness_messages_follow_dependency_id_order() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"])); // 1
    log(&store, &run("ingest", at(1, 0), [], ["raw_b.csv"])); // 2
    log(&store, &run("labels", at(2, 0), [], ["labels.csv"])); // 3
    log(&store, &run("labels", at(3, 0), [], ["labels_b.csv"])); // 4
    log(&store, &run("labels", at(4, 0), [], ["labels_c.csv"])); // 5
    let train = store.log_run(&run("train", at(50, 0), ["labels.csv", "raw.csv"], ["model.pkl"])).expect("train");
    assert_eq!(train.dependencies, [1, 3]);
    assert_eq!(
        train.stale,
        [
            "ingest (ID 1) was run 50 days ago.",
            "ingest (ID 1) has 1 fresher run that began before this component run started.",
            "labels (ID 3) was run 48 days ago.",
            "labels (ID 3) has 2 fresher runs that began before this component run started.",
        ]
    );
}

#[test]
fn staleness_is_computed_when_logged_and_never_recomputed() {
    let dir = tempdir();
    {
        let store = open(dir.path());
        log(&store, &run("ingest", at(0, 0), [], ["raw.csv"]));
        log(&store, &run("clean", at(1, 0), ["raw.csv"], ["clean.csv"]));
        assert!(stale(&store, 2).is_empty());
        // A fresher ingest that started before clean, logged after it: clean stays as it was.
        log(&store, &run("ingest", at(0, 12), [], ["raw.csv"]));
        assert!(stale(&store, 2).is_empty());
    }
    let store = open(dir.path());
    assert!(stale(&store, 2).is_empty(), "replay does not recompute staleness");
}

#[test]
fn outdated_when_a_dependency_of_the_latest_run_is_no_longer_the_latest_of_its_component() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("featuregen", at(0, 0), [], ["f.parquet"])); // 1
    log(&store, &run("train", at(0, 1), ["f.parquet"], ["model.pkl"])); // 2
    assert!(store.reader(None).outdated().expect("outdated").is_empty());
    assert!(!store.reader(None).component("train").expect("train").outdated);
    log(&store, &run("featuregen", at(0, 2), [], ["g.parquet"])); // 3
    let outdated = store.reader(None).outdated().expect("outdated");
    assert_eq!(outdated.len(), 1);
    assert_eq!(outdated[0].name, "train");
    assert_eq!(outdated[0].latest_run.id, 2);
    assert_eq!(outdated[0].reasons, ["featuregen (ID 1) has been superseded by ID 3."]);
    assert!(store.reader(None).component("train").expect("train").outdated);
    // Running train again on the newest features clears it.
    let mut again = run("train", at(0, 3), [], ["model.pkl"]);
    again.upstream = names(&["featuregen"]);
    log(&store, &again);
    assert!(store.reader(None).outdated().expect("outdated").is_empty());
    // Outdated is a query-time hint: the old run's staleness is not rewritten.
    assert!(stale(&store, 2).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Trace and downstream
// ---------------------------------------------------------------------------------------------

#[test]
fn trace_a_chain_of_ten_components_back_to_the_first() {
    let dir = tempdir();
    let store = open(dir.path());
    let outputs: Vec<String> = (0..10).map(|i| format!("stage{i}.csv")).collect();
    for i in 0..10 {
        let inputs: Vec<&str> = if i == 0 { vec![] } else { vec![outputs[i - 1].as_str()] };
        log(&store, &run(&format!("c{i}"), at(0, i as i64), inputs, [outputs[i].as_str()]));
    }
    let trace = store.reader(None).trace("stage9.csv", None, LIMIT).expect("trace");
    assert_eq!(trace.root, Some(10));
    assert!(!trace.truncated);
    let nodes: Vec<(u32, u32, &str)> =
        trace.nodes.iter().map(|n| (n.run.id, n.depth, n.run.component.as_str())).collect();
    let expected: Vec<(u32, u32, String)> = (0..10u32).map(|d| (10 - d, d, format!("c{}", 9 - d))).collect();
    assert_eq!(nodes, expected.iter().map(|(i, d, c)| (*i, *d, c.as_str())).collect::<Vec<_>>());
    let edges: Vec<EdgeView> =
        (2..=10u32).rev().map(|id| edge(id, id - 1, Some(&format!("stage{}.csv", id - 2)))).collect();
    assert_eq!(trace.edges, edges);
    // The first component's output traces to itself alone.
    assert_eq!(trace_nodes(&store, "stage0.csv"), [(1, 0)]);
}

#[test]
fn trace_the_same_component_run_ten_times_shows_only_the_latest() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["data.csv"]));
    for i in 0..10 {
        log(&store, &run("train", at(0, 1 + i), ["data.csv"], ["model.pkl"]));
    }
    assert_eq!(trace_nodes(&store, "model.pkl"), [(11, 0), (1, 1)]);
    let io = store.reader(None).io("model.pkl").expect("io");
    assert_eq!(io.producers, (2..=11).collect::<Vec<_>>());
}

#[test]
fn trace_a_tree_is_depth_first_pre_order_dependencies_ascending_each_run_once() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("src1", at(0, 0), [], ["x1"])); // 1
    log(&store, &run("src2", at(0, 0), [], ["x2"])); // 2
    log(&store, &run("src3", at(0, 0), [], ["x3"])); // 3
    log(&store, &run("mid1", at(0, 1), ["x2", "x1"], ["m1"])); // 4
    log(&store, &run("mid2", at(0, 1), ["x3"], ["m2"])); // 5
    log(&store, &run("mid3", at(0, 1), ["x2"], ["m3"])); // 6: shares src2 with mid1
    log(&store, &run("root", at(0, 2), ["m3", "m2", "m1"], ["out"])); // 7
    let trace = store.reader(None).trace("out", None, LIMIT).expect("trace");
    let nodes: Vec<(u32, u32)> = trace.nodes.iter().map(|n| (n.run.id, n.depth)).collect();
    assert_eq!(nodes, [(7, 0), (4, 1), (1, 2), (2, 2), (5, 1), (3, 2), (6, 1)]);
    let mut edges = trace.edges.clone();
    edges.sort_by_key(|e| (e.from, e.to));
    assert_eq!(
        edges,
        [
            edge(4, 1, Some("x1")),
            edge(4, 2, Some("x2")),
            edge(5, 3, Some("x3")),
            edge(6, 2, Some("x2")),
            edge(7, 4, Some("m1")),
            edge(7, 5, Some("m2")),
            edge(7, 6, Some("m3")),
        ]
    );
    // A run is listed at its first visit, with that visit's depth, even if a shorter path exists.
    log(&store, &run("deep", at(0, 3), ["x1"], ["d1"])); // 8 -> 1
    log(&store, &run("deeper", at(0, 4), ["d1"], ["d2"])); // 9 -> 8 -> 1
    log(&store, &run("top", at(0, 5), ["d2", "x1"], ["t"])); // 10 -> 1, 9
    assert_eq!(trace_nodes(&store, "t"), [(10, 0), (1, 1), (9, 1), (8, 2)]);
}

#[test]
fn trace_max_depth_and_node_limit() {
    let dir = tempdir();
    let store = open(dir.path());
    for i in 0..6 {
        let input = format!("o{}", i.max(1) - 1);
        let inputs: Vec<&str> = if i == 0 { vec![] } else { vec![input.as_str()] };
        log(&store, &run(&format!("c{i}"), at(0, i), inputs, [format!("o{i}").as_str()]));
    }
    assert_eq!(LIMIT, 10_000, "the default node limit");
    let r = store.reader(None);
    let t = r.trace("o5", Some(2), LIMIT).expect("max depth");
    assert_eq!(t.nodes.iter().map(|n| (n.run.id, n.depth)).collect::<Vec<_>>(), [(6, 0), (5, 1), (4, 2)]);
    assert!(!t.truncated, "max_depth is not truncation");
    assert!(t.edges.iter().all(|e| e.to >= 4), "no edge leaves the listed runs");
    let t = r.trace("o5", None, 3).expect("limit");
    assert_eq!(t.nodes.iter().map(|n| n.run.id).collect::<Vec<_>>(), [6, 5, 4]);
    assert!(t.truncated);
    assert!(t.edges.iter().all(|e| e.to >= 4), "no edge leaves the listed runs");
    let t = r.trace("o5", None, 6).expect("exact limit");
    assert_eq!(t.nodes.len(), 6);
    assert!(!t.truncated, "a limit that fits every run does not truncate");
    let l = r.lineage("o5", None, LIMIT).expect("lineage");
    assert_eq!(l.root, Some(6));
    assert_eq!(l.nodes.len(), 6);
}

#[test]
fn trace_of_an_unknown_output_is_not_found_and_of_a_source_has_no_root() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("a", at(0, 0), ["raw"], ["out"]));
    let r = store.reader(None);
    match r.trace("nothing", None, LIMIT) {
        Err(StoreError::NotFound { field, .. }) => assert_eq!(field, "output"),
        other => panic!("expected not found, got {other:?}"),
    }
    // decisions.md: a known name that no run produced has no root and no nodes.
    let t = r.trace("raw", None, LIMIT).expect("source");
    assert_eq!(t.root, None);
    assert!(t.nodes.is_empty() && t.edges.is_empty());
}

#[test]
fn downstream_is_every_run_that_transitively_depended_on_the_producers() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), ["s3://raw"], ["raw.csv"])); // 1
    log(&store, &run("ingest", at(0, 1), ["s3://raw"], ["raw.csv"])); // 2
    log(&store, &run("clean", at(0, 2), ["raw.csv"], ["clean.csv"])); // 3 -> 2
    log(&store, &run("features", at(0, 3), ["clean.csv"], ["f.parquet", "g.parquet"])); // 4 -> 3
    log(&store, &run("train", at(0, 4), ["f.parquet", "clean.csv"], ["model.pkl"])); // 5 -> 3, 4
    log(&store, &run("unrelated", at(0, 5), [], ["u"])); // 6
    let d = store.reader(None).downstream("raw.csv", None, LIMIT).expect("downstream");
    assert_eq!(d.producers, [1, 2]);
    let runs: Vec<(u32, u32)> = d.runs.iter().map(|n| (n.run.id, n.depth)).collect();
    assert_eq!(runs, [(3, 1), (4, 2), (5, 2)]);
    assert_eq!(d.outputs, names(&["clean.csv", "f.parquet", "g.parquet", "model.pkl"]));
    let mut edges = d.edges.clone();
    edges.sort_by_key(|e| (e.from, e.to));
    assert_eq!(
        edges,
        [
            edge(3, 2, Some("raw.csv")),
            edge(4, 3, Some("clean.csv")),
            edge(5, 3, Some("clean.csv")),
            edge(5, 4, Some("f.parquet")),
        ]
    );
    assert!(!d.truncated);
    // max_depth and limit as for trace.
    let shallow = store.reader(None).downstream("raw.csv", Some(1), LIMIT).expect("depth 1");
    assert_eq!(shallow.runs.iter().map(|n| n.run.id).collect::<Vec<_>>(), [3]);
    let cut = store.reader(None).downstream("raw.csv", None, 2).expect("limit 2");
    assert_eq!(cut.runs.len(), 2);
    assert!(cut.truncated);
    // decisions.md: for a source, the direct consumers are depth 1.
    let src = store.reader(None).downstream("s3://raw", None, LIMIT).expect("source");
    assert!(src.producers.is_empty());
    let runs: Vec<(u32, u32)> = src.runs.iter().map(|n| (n.run.id, n.depth)).collect();
    assert_eq!(runs, [(1, 1), (2, 1), (3, 2), (4, 3), (5, 3)]);
    assert!(matches!(store.reader(None).downstream("nothing", None, LIMIT), Err(StoreError::NotFound { .. })));
}

// ---------------------------------------------------------------------------------------------
// Flags and review
// ---------------------------------------------------------------------------------------------

#[test]
fn flag_and_unflag_are_events_with_optional_reason_and_by() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("pred", at(0, 0), ["raw.csv"], ["pred_17", "pred_18", "pred_19"]));
    let flagged =
        store.flag(&names(&["pred_17", "pred_18", "pred_17"]), Some("label mismatch"), Some("bob")).expect("flag");
    assert_eq!(flagged, names(&["pred_17", "pred_18"]), "duplicates dropped");
    store.flag(&names(&["raw.csv"]), None, None).expect("a source can be flagged");
    let flags = store.reader(None).flags();
    let shown: Vec<(&str, Option<&str>, Option<&str>)> =
        flags.iter().map(|f| (f.name.as_str(), f.reason.as_deref(), f.by.as_deref())).collect();
    assert_eq!(
        shown,
        [
            ("pred_17", Some("label mismatch"), Some("bob")),
            ("pred_18", Some("label mismatch"), Some("bob")),
            ("raw.csv", None, None),
        ]
    );
    let r = store.reader(None);
    let io = r.io("pred_17").expect("io");
    assert!(io.flagged);
    assert_eq!(io.flag.as_ref().and_then(|f| f.by.as_deref()), Some("bob"));
    assert!(r.run(1).expect("run").outputs[0].flagged);
    assert!(r.run(1).expect("run").inputs[0].flagged);
    assert!(!r.run(1).expect("run").outputs[2].flagged);
    // Unflag answers what was flagged; names not flagged are no change.
    let was = store.unflag(&names(&["pred_18", "pred_19"])).expect("unflag");
    assert_eq!(was, names(&["pred_18"]));
    let seq = store.last_seq();
    assert!(store.unflag(&names(&["pred_19"])).expect("no-op").is_empty());
    assert_eq!(store.last_seq(), seq, "unflagging nothing appends nothing");
    let names_now: Vec<String> = store.reader(None).flags().into_iter().map(|f| f.name).collect();
    assert_eq!(names_now, names(&["pred_17", "raw.csv"]));
}

#[test]
fn flag_of_an_unknown_name_is_not_found_and_flags_nothing() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("pred", at(0, 0), [], ["pred_17"]));
    let before = snapshot(&store);
    match store.flag(&names(&["pred_17", "never-seen"]), Some("why"), None) {
        Err(StoreError::NotFound { field, message }) => {
            assert_eq!(field, "outputs[1]");
            assert!(message.contains("never-seen"), "{message}");
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert_eq!(snapshot(&store), before);
    assert!(!store.reader(None).io("pred_17").expect("io").flagged);
    match store.flag(&[], None, None) {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "outputs"),
        other => panic!("expected invalid, got {other:?}"),
    }
}

/// Regression: with a duplicate before an unknown name, the error named the index in the
/// deduplicated list (`outputs[1]`) rather than in the request (`outputs[2]`).
#[test]
fn regression_flag_errors_name_the_index_in_the_request_not_after_deduplication() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("pred", at(0, 0), [], ["a"]));
    let request = names(&["a", "a", "unknown"]);
    assert_eq!(error_kind(&store.flag(&request, None, None).expect_err("flag")), "not found outputs[2]");
    assert_eq!(error_kind(&store.unflag(&request).expect_err("unflag")), "not found outputs[2]");
}

#[test]
fn unflag_all_clears_every_flag_in_one_event() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("pred", at(0, 0), [], ["a", "b", "c"]));
    store.flag(&names(&["b"]), None, None).expect("flag b");
    store.flag(&names(&["a", "c"]), None, None).expect("flag a c");
    let seq = store.last_seq();
    let was = store.unflag_all().expect("unflag all");
    assert_eq!(was.len(), 3);
    assert_eq!(was[0], "b", "in flag order");
    assert_eq!(store.last_seq(), seq + 1);
    assert!(store.reader(None).flags().is_empty());
    assert!(store.unflag_all().expect("again").is_empty());
    assert_eq!(store.last_seq(), seq + 1, "nothing to unflag appends nothing");
    assert_eq!(store.reader(None).stats().flags, 0);
}

fn review_rows(store: &Store) -> Vec<(u32, u64, f64)> {
    let review = store.reader(None).review(100).expect("review");
    review.runs.iter().map(|r| (r.run.id, r.count, r.coverage)).collect()
}

#[test]
fn review_counts_runs_by_flagged_traces_count_descending_then_id_descending() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"])); // 1
    log(&store, &run("featA", at(0, 1), ["raw.csv"], ["fa"])); // 2
    log(&store, &run("featB", at(0, 2), ["raw.csv"], ["fb"])); // 3
    log(&store, &run("pred1", at(0, 3), ["fa"], ["p1"])); // 4
    log(&store, &run("pred2", at(0, 4), ["fb"], ["p2"])); // 5
    log(&store, &run("other", at(0, 5), [], ["o"])); // 6
    assert!(review_rows(&store).is_empty(), "no flags, nothing to review");
    store.flag(&names(&["p1", "p2"]), Some("bad"), None).expect("flag");
    // Ties (count 1) are broken by id, highest first.
    assert_eq!(review_rows(&store), [(1, 2, 1.0), (5, 1, 0.5), (4, 1, 0.5), (3, 1, 0.5), (2, 1, 0.5)]);
    let review = store.reader(None).review(2).expect("limit");
    assert_eq!(review.runs.len(), 2);
    assert_eq!(review.flagged.len(), 2);
    assert!(review.unresolved.is_empty());
    // Four flagged outputs: p1 -> {4, 2, 1}, p2 -> {5, 3, 1}, fa -> {2, 1}, o -> {6}.
    store.flag(&names(&["fa", "o"]), None, None).expect("flag more");
    assert_eq!(
        review_rows(&store),
        [(1, 3, 0.75), (2, 2, 0.5), (6, 1, 0.25), (5, 1, 0.25), (4, 1, 0.25), (3, 1, 0.25)]
    );
}

/// (id, count, reach, specificity) in the order asked for.
fn review_specificity(store: &Store, rank: ReviewRank) -> Vec<(u32, u64, u64, f64)> {
    let review = store.reader(None).review_ranked(100, rank).expect("review");
    review.runs.iter().map(|r| (r.run.id, r.count, r.reach, r.specificity)).collect()
}

#[test]
fn review_specificity_is_the_flagged_share_of_the_outputs_a_run_still_feeds() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"])); // 1
    log(&store, &run("featA", at(0, 1), ["raw.csv"], ["fa"])); // 2
    log(&store, &run("featB", at(0, 2), ["raw.csv"], ["fb"])); // 3
    log(&store, &run("pred1", at(0, 3), ["fa"], ["p1"])); // 4
    log(&store, &run("pred2", at(0, 4), ["fb"], ["p2"])); // 5
    log(&store, &run("pred3", at(0, 5), ["fa"], ["p3"])); // 6
    store.flag(&names(&["p1", "p3"]), Some("bad"), None).expect("flag");
    let flagged_at = store.reader(None).seq();
    // fa is written again by a run that does not descend from 2: 2 no longer feeds fa.
    log(&store, &run("featA", at(0, 6), [], ["fa"])); // 7
    // Reach: 1 feeds raw.csv, fb, p1, p2, p3 (5); 2 feeds p1 and p3 (fa moved to 7); 4 and 6
    // feed their own prediction.
    let by_count = review_specificity(&store, ReviewRank::Count);
    assert_eq!(by_count, [(2, 2, 2, 1.0), (1, 2, 5, 0.4), (6, 1, 1, 1.0), (4, 1, 1, 1.0)]);
    assert_eq!(store.reader(None).review(100).expect("default").runs.len(), 4, "the default order is by count");
    // Ranked by specificity, the run that also fed healthy outputs (ingest) comes last.
    let by_specificity = review_specificity(&store, ReviewRank::Specificity);
    assert_eq!(by_specificity, [(2, 2, 2, 1.0), (6, 1, 1, 1.0), (4, 1, 1, 1.0), (1, 2, 5, 0.4)]);
    // The limit cuts after the ranking.
    let top = store.reader(None).review_ranked(1, ReviewRank::Specificity).expect("limit");
    assert_eq!(top.runs.iter().map(|r| r.run.id).collect::<Vec<_>>(), [2]);
    // Time travel: before run 7 rewrote fa, run 2 also fed fa (healthy) and 1 fed it too.
    let before = store.reader(Some(AsOf::Seq(flagged_at))).review_ranked(100, ReviewRank::Count).expect("as of");
    let rows: Vec<(u32, u64, u64)> = before.runs.iter().map(|r| (r.run.id, r.count, r.reach)).collect();
    assert_eq!(rows, [(2, 2, 3), (1, 2, 6), (6, 1, 1), (4, 1, 1)]);
}

#[test]
fn review_specificity_is_the_same_when_the_downstream_is_a_small_part_of_a_big_log() {
    // A big log of unrelated names: review then reads the few runs' outputs from the log instead
    // of counting over every name; the answer must not change.
    let dir = tempdir();
    let store = open(dir.path());
    for i in 0..200 {
        log(&store, &run("noise", at(0, 0), [], [format!("noise-{i}").as_str()]));
    }
    log(&store, &run("ingest", at(1, 0), [], ["raw.csv"])); // 201
    log(&store, &run("featA", at(1, 1), ["raw.csv"], ["fa", "fa-stats"])); // 202
    log(&store, &run("pred1", at(1, 2), ["fa"], ["p1"])); // 203
    log(&store, &run("pred2", at(1, 3), ["fa"], ["p2"])); // 204
    store.flag(&names(&["p1"]), None, None).expect("flag");
    let rows = review_specificity(&store, ReviewRank::Count);
    // 201 feeds raw.csv, fa, fa-stats, p1, p2; 202 all but raw.csv; 203 only p1.
    assert_eq!(rows, [(203, 1, 1, 1.0), (202, 1, 4, 0.25), (201, 1, 5, 0.2)]);
}

#[test]
fn review_reports_a_flagged_output_with_no_producer_as_unresolved() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("train", at(0, 0), ["raw.csv"], ["model.pkl"]));
    store.flag(&names(&["raw.csv", "model.pkl"]), None, None).expect("flag");
    let review = store.reader(None).review(100).expect("review");
    assert_eq!(review.unresolved, names(&["raw.csv"]));
    assert_eq!(review.flagged.len(), 2);
    let rows: Vec<(u32, u64, f64)> = review.runs.iter().map(|r| (r.run.id, r.count, r.coverage)).collect();
    // Coverage is over every flagged output, resolved or not.
    assert_eq!(rows, [(1, 1, 0.5)]);
}

// ---------------------------------------------------------------------------------------------
// Time travel
// ---------------------------------------------------------------------------------------------

/// Every read that accepts `as_of`, as one comparable value.
fn reads(store: &Store, as_of: Option<AsOf>) -> Vec<String> {
    let r = store.reader(as_of);
    let mut out = vec![
        format!("{:?}", r.trace("model.pkl", None, LIMIT).map_err(|e| error_kind(&e))),
        format!("{:?}", r.trace("f.parquet", None, LIMIT).map_err(|e| error_kind(&e))),
        format!("{:?}", r.downstream("raw.csv", None, LIMIT).map_err(|e| error_kind(&e))),
        format!("{:?}", r.review(100).map_err(|e| error_kind(&e))),
        format!("{:?}", r.history("train", 100, None, None, None).map_err(|e| error_kind(&e))),
        format!("{:?}", r.recent(100, None).map_err(|e| error_kind(&e))),
        format!("{:?}", r.component("train").map_err(|e| error_kind(&e))),
        format!("{:?}", r.component("featuregen").map_err(|e| error_kind(&e))),
        format!("{:?}", r.components(None, None)),
        format!("{:?}", r.tags()),
        format!("{:?}", r.flags()),
        format!("{:?}", r.outdated().map_err(|e| error_kind(&e))),
        format!("{:?}", r.io("raw.csv").map_err(|e| error_kind(&e))),
        format!("{:?}", r.suggest("", 100)),
    ];
    for id in 1..=5 {
        out.push(format!("{:?}", r.run(id).map_err(|e| error_kind(&e))));
    }
    let s = r.stats();
    out.push(format!("{} {} {} {} {} {}", s.last_seq, s.events, s.runs, s.components, s.outputs, s.flags));
    out
}

/// A history with every kind of event; answers what every read said after each event.
fn eventful_history(store: &Store) -> Vec<Vec<String>> {
    let mut seen = vec![reads(store, None)];
    let mut step = |f: &dyn Fn()| {
        f();
        // Distinct append times, so that as_of by time can name each event.
        std::thread::sleep(Duration::from_millis(3));
        seen.push(reads(store, None));
    };
    step(&|| {
        store.register_component("featuregen", "features", "alice", &names(&["etl"])).expect("register");
    });
    step(&|| {
        log(store, &run("ingest", at(0, 0), [], ["raw.csv"]));
    });
    step(&|| {
        log(store, &run("featuregen", at(0, 1), ["raw.csv"], ["f.parquet"]));
    });
    step(&|| {
        log(store, &run("train", at(0, 2), ["f.parquet"], ["model.pkl"]));
    });
    step(&|| store.set_notes(3, "first model").expect("notes"));
    step(&|| {
        let flag = names(&["model.pkl"]);
        store.flag(&flag, Some("drift"), Some("bob")).expect("flag");
    });
    step(&|| {
        store.register_component("featuregen", "features v2", "carol", &names(&["daily"])).expect("register again");
    });
    step(&|| {
        log(store, &run("featuregen", at(1, 0), ["raw.csv"], ["f.parquet"]));
    });
    step(&|| store.set_notes(3, "superseded").expect("notes"));
    step(&|| {
        store.unflag(&names(&["model.pkl"])).expect("unflag");
    });
    step(&|| {
        log(store, &run("train", at(1, 1), ["f.parquet"], ["model.pkl"]));
    });
    step(&|| {
        let flag = names(&["f.parquet", "raw.csv"]);
        store.flag(&flag, None, None).expect("flag");
    });
    step(&|| {
        store.unflag_all().expect("unflag all");
    });
    seen
}

#[test]
fn as_of_a_sequence_number_answers_as_the_store_did_when_that_event_was_the_last() {
    let dir = tempdir();
    let seen = {
        let store = open(dir.path());
        let seen = eventful_history(&store);
        for (seq, then) in seen.iter().enumerate() {
            assert_eq!(&reads(&store, Some(AsOf::Seq(seq as u64))), then, "live, as of seq {seq}");
        }
        // Past the end is the latest state.
        assert_eq!(reads(&store, Some(AsOf::Seq(1_000))), reads(&store, None));
        seen
    };
    let store = open(dir.path());
    for (seq, then) in seen.iter().enumerate() {
        assert_eq!(&reads(&store, Some(AsOf::Seq(seq as u64))), then, "after reopen, as of seq {seq}");
    }
    // A run that did not exist yet is not found, and history before a component existed neither.
    let r = store.reader(Some(AsOf::Seq(2)));
    assert!(matches!(r.run(2), Err(StoreError::NotFound { .. })));
    assert!(matches!(r.history("train", 10, None, None, None), Err(StoreError::NotFound { .. })));
    assert!(matches!(r.trace("model.pkl", None, LIMIT), Err(StoreError::NotFound { .. })));
}

#[test]
fn as_of_a_time_answers_as_of_the_last_event_appended_at_or_before_it() {
    let dir = tempdir();
    let store = open(dir.path());
    let seen = eventful_history(&store);
    let events = store.events_after(0, usize::MAX).expect("events");
    for e in &events {
        let exact = Timestamp(e.at);
        // Events may share a millisecond: the answer is as of the last of them.
        let last_at_that_time = events.iter().filter(|o| o.at <= e.at).map(|o| o.seq).max();
        let seq = last_at_that_time.unwrap_or(0) as usize;
        assert_eq!(&reads(&store, Some(AsOf::Time(exact))), &seen[seq], "as of the time of seq {}", e.seq);
    }
    // A time between two events answers as of the earlier one.
    for pair in events.windows(2) {
        if pair[1].at > pair[0].at + 1 {
            let between = Timestamp(pair[0].at + 1);
            let seq = pair[0].seq as usize;
            assert_eq!(&reads(&store, Some(AsOf::Time(between))), &seen[seq], "between seq {seq} and the next");
        }
    }
    let first = events.first().map(|e| e.at).unwrap_or(0);
    assert_eq!(&reads(&store, Some(AsOf::Time(Timestamp(first - 1)))), &seen[0], "before the first event");
    assert_eq!(reads(&store, Some(AsOf::Time(Timestamp::now()))), reads(&store, None));
}

// ---------------------------------------------------------------------------------------------
// Durability (see crash.rs for crashes, torn tails and bit flips)
// ---------------------------------------------------------------------------------------------

#[test]
fn fsync_policies_always_interval_and_never_are_durable_across_a_clean_reopen() {
    for policy in [FsyncPolicy::Always, FsyncPolicy::Interval(Duration::from_millis(5)), FsyncPolicy::Never] {
        let dir = tempdir();
        let opts = LogOptions { fsync: policy, segment_bytes: 2048, ..LogOptions::default() };
        {
            let store = open_with(dir.path(), opts.clone());
            for i in 0..30 {
                log(&store, &run("ingest", at(0, i), [], [format!("out{i}.csv").as_str()]));
            }
            store.flag(&names(&["out3.csv"]), None, None).expect("flag");
            if policy == FsyncPolicy::Always {
                assert!(store.fsync_stats().0 > 0, "always fsyncs");
            }
        }
        let (store, recovery) = Store::open(dir.path(), opts).expect("reopen");
        assert!(recovery.torn_tail.is_none(), "{policy:?}");
        assert!(recovery.segments > 1, "several segments");
        let stats = store.reader(None).stats();
        assert_eq!((stats.runs, stats.events, stats.flags), (30, 31, 1), "{policy:?}");
        assert_eq!(stats.segments, recovery.segments as u64);
        assert_eq!(store.reader(None).run(30).expect("run").outputs[0].name, "out29.csv");
    }
}

#[test]
fn concurrent_writers_share_fsyncs_and_every_write_gets_its_own_id() {
    let dir = tempdir();
    let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open with fsync always");
    let threads = 8u32;
    let per_thread = 25u32;
    let mut answers: Vec<(u32, u32, u32)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let store = &store;
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|i| {
                            let output = format!("t{t}-{i}.csv");
                            let logged = store.log_run(&run(&format!("w{t}"), at(0, 0), [], [output.as_str()]));
                            // Acknowledged means visible: a reader sees the run at once.
                            let id = logged.expect("log").id;
                            assert!(store.reader(None).run(id).is_ok(), "acknowledged run {id} is not visible");
                            (id, t, i)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("worker")).collect()
    });
    answers.sort();
    let total = threads * per_thread;
    assert_eq!(answers.iter().map(|a| a.0).collect::<Vec<_>>(), (1..=total).collect::<Vec<_>>());
    let r = store.reader(None);
    for &(id, t, i) in &answers {
        assert_eq!(r.run(id).expect("run").outputs[0].name, format!("t{t}-{i}.csv"));
    }
    let (fsyncs, _) = store.fsync_stats();
    assert!(fsyncs >= 1);
    assert!(fsyncs < u64::from(total), "{fsyncs} fsyncs for {total} concurrent writes: none was shared");
}

#[test]
fn two_processes_never_write_the_same_data_directory() {
    let dir = tempdir();
    let (first, _) = Store::open(dir.path(), fast()).expect("first writer");
    log(&first, &run("ingest", at(0, 0), [], ["raw.csv"]));
    match Store::open(dir.path(), fast()) {
        Err(StoreError::Locked { dir: locked, holder }) => {
            assert_eq!(locked, dir.path());
            assert!(holder.contains(&std::process::id().to_string()), "{holder}");
        }
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second writer opened the same directory"),
    }
    // A reader beside the writer sees what was written before it opened.
    let reader = Store::open_read_only(dir.path()).expect("read-only beside a writer");
    assert_eq!(reader.reader(None).stats().runs, 1);
    assert!(matches!(reader.log_run(&run("x", at(0, 1), [], [])), Err(StoreError::Unavailable(_))));
    log(&first, &run("ingest", at(0, 1), [], ["raw.csv"]));
    drop(first);
    let (again, _) = Store::open(dir.path(), fast()).expect("the lock is released on close");
    assert_eq!(again.reader(None).stats().runs, 2);
    drop(again);
    let missing = dir.path().join("nothing-here");
    assert!(Store::open_read_only(&missing).is_err(), "read-only does not create a store");
}

// ---------------------------------------------------------------------------------------------
// Writes: batches, idempotency, validation
// ---------------------------------------------------------------------------------------------

#[test]
fn a_batch_is_applied_in_order_and_a_later_run_sees_an_earlier_one() {
    let dir = tempdir();
    let store = open(dir.path());
    let mut train = run("train", at(0, 2), ["clean.csv"], ["model.pkl"]);
    train.upstream = names(&["ingest"]);
    let logged = store
        .log_runs(&[
            run("ingest", at(0, 0), [], ["raw.csv"]),
            run("clean", at(0, 1), ["raw.csv"], ["clean.csv"]),
            train,
        ])
        .expect("batch");
    let got: Vec<(u32, u64, Vec<u32>)> = logged.iter().map(|l| (l.id, l.seq, l.dependencies.clone())).collect();
    assert_eq!(got, [(1, 1, vec![]), (2, 2, vec![1]), (3, 3, vec![1, 2])]);
    assert_eq!(trace_nodes(&store, "model.pkl"), [(3, 0), (1, 1), (2, 1)]);
    assert!(store.log_runs(&[]).expect("empty batch").is_empty());
}

#[test]
fn a_rejected_batch_names_the_field_and_changes_nothing() {
    let dir = tempdir();
    let store = open(dir.path());
    log(&store, &run("ingest", at(0, 0), [], ["raw.csv"]));
    store.flag(&names(&["raw.csv"]), None, None).expect("flag");
    let before = snapshot(&store);
    let good = || run("clean", at(0, 1), ["raw.csv"], ["clean.csv"]);
    let mut backwards = good();
    backwards.end = at(0, 0);
    let mut ghost = good();
    ghost.upstream = names(&["ingest", "ghost"]);
    let mut bad_phase = good();
    bad_phase.tests = vec![TestResult { name: "t".into(), phase: "during".into(), passed: true, message: None }];
    let cases: Vec<(Vec<NewRun>, &str)> = vec![
        (vec![good(), backwards.clone(), good()], "invalid runs[1].end"),
        (vec![good(), good(), run("", at(0, 1), [], [])], "invalid runs[2].component"),
        (vec![good(), run("c", at(0, 1), [], ["ok", "bad\n"])], "invalid runs[1].outputs[1].name"),
        (vec![good(), ghost.clone()], "invalid runs[1].upstream[1]"),
        (vec![bad_phase], "invalid runs[0].tests[0].phase"),
    ];
    for (batch, expected) in cases {
        match store.log_runs(&batch) {
            Err(e) => {
                assert_eq!(error_kind(&e), expected);
                let message = e.to_string();
                let field = expected.rsplit(' ').next().unwrap_or_default();
                assert!(message.contains(field), "the message names the field: {message}");
            }
            Ok(l) => panic!("batch accepted: {l:?}"),
        }
        assert_eq!(snapshot(&store), before, "after {expected}");
    }
    // A single run says the field without the batch prefix.
    let e = store.log_run(&backwards).expect_err("backwards");
    assert_eq!(error_kind(&e), "invalid end");
    let e = store.log_run(&ghost).expect_err("ghost");
    assert_eq!(error_kind(&e), "invalid upstream[1]");
    assert_eq!(snapshot(&store), before);
    // The next accepted run takes the next id, as if nothing had been tried.
    assert_eq!(store.log_run(&good()).expect("good").id, 2);
}

#[test]
fn idempotency_key_returns_the_original_run_and_appends_nothing() {
    let dir = tempdir();
    let keyed = |key: &str, start| {
        let mut r = run("train", start, ["features.parquet"], ["model.pkl"]);
        r.idempotency_key = Some(key.to_string());
        r
    };
    let original = {
        let store = open(dir.path());
        log(&store, &run("featuregen", at(0, 0), [], ["features.parquet"]));
        let original = store.log_run(&keyed("attempt-1", at(0, 1))).expect("original");
        let seq = store.last_seq();
        // A retry, even one that differs, answers the original and appends nothing.
        let retry = store.log_run(&keyed("attempt-1", at(5, 0))).expect("retry");
        assert_eq!(retry, original);
        assert_eq!(store.last_seq(), seq);
        assert_eq!(store.reader(None).stats().runs, 2);
        original
    };
    let store = open(dir.path());
    assert_eq!(store.log_run(&keyed("attempt-1", at(0, 1))).expect("after reopen"), original, "keys survive a reopen");
    // In a batch: a key already used, a new key, and the new key again within the batch.
    let seq = store.last_seq();
    let logged = store
        .log_runs(&[
            keyed("attempt-1", at(0, 1)),
            keyed("attempt-2", at(0, 2)),
            keyed("attempt-2", at(0, 3)),
            run("eval", at(0, 4), ["model.pkl"], []),
        ])
        .expect("batch");
    assert_eq!(logged[0], original);
    assert_eq!(logged[1].id, 3);
    assert_eq!(logged[2], logged[1], "the same key twice in one batch is one run");
    assert_eq!(logged[3].id, 4);
    assert_eq!(logged[3].dependencies, [3]);
    assert_eq!(store.last_seq(), seq + 2);
    assert_eq!(store.reader(None).stats().runs, 4);
    let all_hits = store.log_runs(&[keyed("attempt-2", at(9, 0)), keyed("attempt-1", at(9, 0))]).expect("all hits");
    assert_eq!((all_hits[0].id, all_hits[1].id), (3, 2));
    assert_eq!(store.last_seq(), seq + 2);
}

// ---------------------------------------------------------------------------------------------
// Lists: history, recent, suggest, stats
// ---------------------------------------------------------------------------------------------

#[test]
fn history_is_newest_first_within_an_inclusive_start_range_with_a_before_cursor() {
    let dir = tempdir();
    let store = open(dir.path());
    // Ids 1..=6 with starts on days 3, 1, 2, 2, 5, 4; another component in between.
    for (i, day) in [3, 1, 2, 2, 5, 4].into_iter().enumerate() {
        log(&store, &run("train", at(day, 0), [], [format!("m{i}").as_str()]));
    }
    log(&store, &run("other", at(2, 0), [], ["o"]));
    let history = |limit, before, since: Option<Timestamp>, until: Option<Timestamp>| -> Vec<u32> {
        let r = store.reader(None);
        ids(&r.history("train", limit, before, since, until).expect("history"))
    };
    assert_eq!(history(100, None, None, None), [5, 6, 1, 4, 3, 2]);
    assert_eq!(history(2, None, None, None), [5, 6]);
    assert_eq!(history(2, Some(6), None, None), [1, 4]);
    assert_eq!(history(100, Some(4), None, None), [3, 2]);
    assert_eq!(history(100, None, Some(at(2, 0)), Some(at(4, 0))), [6, 1, 4, 3], "inclusive at both ends");
    assert_eq!(history(100, Some(1), Some(at(2, 0)), None), [4, 3]);
    assert_eq!(history(100, None, None, Some(at(1, 23))), [2]);
    assert!(history(100, None, Some(at(6, 0)), None).is_empty());
    assert!(matches!(store.reader(None).history("nobody", 10, None, None, None), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.reader(None).history("train", 10, Some(99), None, None), Err(StoreError::NotFound { .. })));
}

#[test]
fn recent_is_start_descending_then_id_descending_with_a_before_cursor() {
    let dir = tempdir();
    let store = open(dir.path());
    for (i, (component, day)) in [("a", 1), ("b", 3), ("a", 2), ("c", 3), ("b", 0), ("c", 2)].into_iter().enumerate() {
        log(&store, &run(component, at(day, 0), [], [format!("o{i}").as_str()]));
    }
    let recent = |limit, before| ids(&store.reader(None).recent(limit, before).expect("recent"));
    assert_eq!(recent(100, None), [4, 2, 6, 3, 1, 5]);
    assert_eq!(recent(3, None), [4, 2, 6]);
    // Paging with the cursor walks the same order without gaps or repeats.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = recent(2, cursor);
        if page.is_empty() {
            break;
        }
        cursor = page.last().copied();
        paged.extend(page);
    }
    assert_eq!(paged, [4, 2, 6, 3, 1, 5]);
    assert!(recent(0, None).is_empty());
}

#[test]
fn suggest_puts_prefix_matches_before_substring_matches_then_alphabetical() {
    let dir = tempdir();
    let store = open(dir.path());
    store.register_component("train", "", "", &names(&["training", "etl"])).expect("register");
    log(&store, &run("pretrain", at(0, 0), ["raw_train.csv"], ["train.csv"]));
    log(&store, &run("eval", at(0, 0), [], ["Training-report.md"]));
    let s = store.reader(None).suggest("train", 10);
    assert_eq!(s.components, names(&["train", "pretrain"]));
    assert_eq!(s.outputs, names(&["Training-report.md", "train.csv", "raw_train.csv"]));
    assert_eq!(s.tags, names(&["training"]));
    assert_eq!(store.reader(None).suggest("train", 1).components, names(&["train"]));
}

#[test]
fn stats_count_events_runs_components_outputs_flags_and_the_log() {
    let dir = tempdir();
    let store = open(dir.path());
    store.register_component("planned", "", "", &[]).expect("register");
    log(&store, &run("a", at(0, 0), ["in"], ["out", "out2"]));
    log(&store, &run("b", at(0, 1), ["out"], ["final"]));
    store.flag(&names(&["final", "in"]), None, None).expect("flag");
    let s = store.reader(None).stats();
    assert_eq!((s.last_seq, s.events, s.runs, s.components, s.outputs, s.flags, s.segments), (4, 4, 2, 3, 4, 2, 1));
    assert!(s.log_bytes > 0);
    assert_eq!(store.log_size(), (s.log_bytes, 1));
}

#[test]
fn regression_every_version_of_an_output_stays_reachable_by_its_hash() {
    // The newest version of a name is kept beside the name and older ones in a side table; a
    // version that comes back (same hash again) or a producer without a hash must not lose any.
    let dir = tempdir();
    let store = open(dir.path());
    let versioned = |hash: Option<&str>| IoSpec { name: "model.pkl".into(), hash: hash.map(Into::into), kind: None };
    let produce = |i: i64, hash: Option<&str>| {
        let mut r = NewRun::new("train", at(0, i), at(0, i));
        r.outputs = vec![versioned(hash)];
        log(&store, &r)
    };
    assert_eq!(produce(1, Some("h1")), 1);
    assert_eq!(produce(2, Some("h2")), 2);
    assert_eq!(produce(3, Some("h1")), 3);
    assert_eq!(produce(4, None), 4);
    let consume = |hash: Option<&str>| {
        let mut r = NewRun::new("infer", at(1, 0), at(1, 0));
        r.inputs = vec![versioned(hash)];
        let id = log(&store, &r);
        store.reader(None).run(id).expect("run").dependencies
    };
    assert_eq!(consume(Some("h1")), vec![3], "the latest run with that hash");
    assert_eq!(consume(Some("h2")), vec![2]);
    assert_eq!(consume(None), vec![4], "no hash: the latest producer");
    assert_eq!(consume(Some("h9")), vec![4], "an unknown hash falls back to the latest producer");
    drop(store);
    let store = open(dir.path());
    let mut r = NewRun::new("infer", at(2, 0), at(2, 0));
    r.inputs = vec![versioned(Some("h2"))];
    let id = log(&store, &r);
    assert_eq!(store.reader(None).run(id).expect("run").dependencies, vec![2], "after replay too");
}

// ---------------------------------------------------------------------------------------------
// OpenLineage runs (see docs/openlineage.md)
// ---------------------------------------------------------------------------------------------

fn ol(ty: &str, minute: u32, run: u32, job: &str, inputs: &[&str], outputs: &[&str]) -> String {
    let ds = |names: &[&str]| -> Vec<serde_json::Value> {
        names.iter().map(|n| serde_json::json!({"namespace": "s3://lake", "name": n})).collect()
    };
    serde_json::json!({
        "eventType": ty, "eventTime": format!("2026-11-20T00:{minute:02}:00Z"), "producer": "p", "schemaURL": "s",
        "run": {"runId": format!("0190c0de-0000-7000-8000-{run:012x}")}, "job": {"namespace": "etl", "name": job},
        "inputs": ds(inputs), "outputs": ds(outputs),
    })
    .to_string()
}

fn send(store: &Store, events: &[String]) -> Result<Vec<mltrace_store::model::LineageLogged>, StoreError> {
    let parsed =
        events.iter().map(|e| mltrace_store::openlineage::parse_event(e.clone())).collect::<Result<Vec<_>, _>>()?;
    store.log_lineage(parsed)
}

#[test]
fn openlineage_runs_replay_and_load_from_a_checkpoint_to_the_same_answers_at_every_seq() {
    let dir = tempdir();
    let answers = |store: &Store| {
        let last = store.last_seq();
        (1..=last)
            .map(|seq| {
                let r = store.reader(Some(mltrace_store::AsOf::Seq(seq)));
                (
                    r.trace("s3://lake/b", None, LIMIT).ok(),
                    r.recent(100, None).expect("recent"),
                    (1..=4).map(|id| r.run(id).ok()).collect::<Vec<_>>(),
                    r.io("s3://lake/a").ok(),
                    r.review(100).expect("review"),
                    r.stats().runs,
                )
            })
            .collect::<Vec<_>>()
    };
    let live = {
        let store = open(dir.path());
        send(&store, &[ol("START", 0, 1, "extract", &[], &["a"])]).expect("start");
        log(&store, &run("native", at(0, 1), ["s3://lake/a"], ["s3://lake/n.csv"]));
        send(&store, &[ol("COMPLETE", 5, 1, "extract", &[], &["a"])]).expect("complete");
        // clean starts, then reads a second input in a later event, then completes.
        send(&store, &[ol("START", 10, 2, "clean", &["a"], &[]), ol("RUNNING", 11, 2, "clean", &["n.csv"], &["b"])])
            .expect("clean");
        send(&store, &[ol("COMPLETE", 12, 2, "clean", &[], &["b"])]).expect("clean done");
        // A retry that fails never becomes the producer of b.
        send(&store, &[ol("START", 20, 3, "clean", &["a"], &["b"]), ol("FAIL", 21, 3, "clean", &[], &[])])
            .expect("retry");
        store.flag(&names(&["s3://lake/b"]), Some("bad"), None).expect("flag");
        let r = store.reader(None);
        assert_eq!(
            r.trace("s3://lake/b", None, LIMIT).expect("trace").root,
            Some(3),
            "run ids: extract 1, native 2, clean 3"
        );
        assert_eq!(r.run(3).expect("clean").dependencies, vec![1, 2]);
        assert_eq!(r.io("s3://lake/a").expect("a").producers, vec![1]);
        answers(&store)
    };
    let replayed = open(dir.path());
    assert_eq!(answers(&replayed), live);
    replayed.checkpoint().expect("checkpoint");
    drop(replayed);
    let from_checkpoint = open(dir.path());
    // The checkpoint appended a signed tree head after the history; the history reads the same.
    let reloaded = answers(&from_checkpoint);
    assert_eq!(reloaded[..live.len()], live[..]);
    // As of the native run, extract was running: a was a source, the native run depends on nothing.
    let then = from_checkpoint.reader(Some(mltrace_store::AsOf::Seq(2)));
    assert_eq!(then.run(1).expect("extract").status, Some(mltrace_store::event::RunStatus::Running));
    assert_eq!(then.run(2).expect("native").dependencies, Vec::<u32>::new());
}

#[test]
fn a_refused_openlineage_batch_changes_nothing() {
    let dir = tempdir();
    let store = open(dir.path());
    send(&store, &[ol("START", 0, 1, "extract", &[], &["a"]), ol("COMPLETE", 5, 1, "extract", &[], &["a"])])
        .expect("run");
    let before = snapshot(&store);
    let refused = send(&store, &[ol("START", 30, 2, "x", &[], &[]), ol("START", 9, 1, "extract", &[], &[])]);
    assert_eq!(invalid_field(refused), "[1].eventType", "a START after the run ended");
    let refused = send(&store, &[ol("START", 30, 2, "x", &[], &[]), ol("FAIL", 6, 1, "extract", &[], &[])]);
    assert_eq!(invalid_field(refused), "[1].eventType", "a second, different end");
    let refused = send(&store, &[ol("START", 1, 1, "other", &[], &[])]);
    assert_eq!(invalid_field(refused), "job", "one run, one job");
    assert_eq!(snapshot(&store), before);
}
