//! Handler tests without a socket: the router from `app(state)` driven with `oneshot`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use mltrace_api::{AppState, app, auth::Tokens};
use mltrace_store::{LogOptions, Store};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

struct Api {
    state: AppState,
    _dir: tempfile::TempDir,
}

impl Api {
    fn new() -> Self {
        Self::with(|_| {})
    }

    fn with(tweak: impl FnOnce(&mut AppState)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open");
        let mut state = AppState::new(Arc::new(store));
        tweak(&mut state);
        Api { state, _dir: dir }
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = app(self.state.clone()).oneshot(req).await.expect("infallible");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, v)
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call(Request::get(uri).body(Body::empty()).expect("request")).await
    }

    async fn send(&self, method: &str, uri: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.call(req).await
    }
}

fn run(component: &str, start: i64, inputs: &[&str], outputs: &[&str]) -> Value {
    json!({"component": component, "start": start, "end": start + 1000, "inputs": inputs, "outputs": outputs})
}

#[tokio::test]
async fn a_pipeline_logged_over_http_traces_back_to_its_source() {
    let api = Api::new();
    let (s, v) = api
        .send(
            "POST",
            "/api/v1/runs",
            json!({"runs": [
                run("ingest", 1_000, &[], &["raw.csv"]),
                run("clean", 2_000, &["raw.csv"], &["clean.csv"]),
                run("train", 3_000, &["clean.csv"], &["model.pkl"]),
            ]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["runs"][2], json!({"id": 3, "seq": 3, "dependencies": [2], "stale": []}));
    let (s, t) = api.get("/api/v1/trace?output=model.pkl").await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<u64> =
        t["nodes"].as_array().expect("nodes").iter().map(|n| n["run"]["id"].as_u64().unwrap_or(0)).collect();
    assert_eq!(ids, vec![3, 2, 1]);
    assert_eq!(t["edges"][0], json!({"from": 3, "to": 2, "via": "clean.csv"}));
    let (_, r) = api.get("/api/v1/runs/3").await;
    assert_eq!(
        r["inputs"][0],
        json!({"name": "clean.csv", "type": "data", "hash": null, "flagged": false, "producer": 2})
    );
    assert_eq!(r["outputs"][0]["type"], "model");
}

/// The embedded store (Python) logs on the requesting thread: the answers, errors included, are
/// the writer thread's.
#[tokio::test]
async fn inline_ingest_answers_as_the_writer_thread_does() {
    let threaded = Api::new();
    let inline = Api::with(|state| state.ingest = mltrace_api::ingest::Ingest::inline(state.store.clone()));
    let mut bad = run("b", 5_000, &[], &[]);
    bad["end"] = json!(1);
    let requests = [
        json!({"runs": [run("ingest", 1_000, &[], &["raw.csv"]), run("clean", 2_000, &["raw.csv"], &["clean.csv"])]}),
        run("train", 3_000, &["clean.csv"], &["model.pkl"]),
        json!({"runs": [run("a", 1, &[], &["x"]), bad.clone()]}),
        bad,
    ];
    for body in requests {
        let expected = threaded.send("POST", "/api/v1/runs", body.clone()).await;
        assert_eq!(inline.send("POST", "/api/v1/runs", body).await, expected);
    }
    assert_eq!(
        inline.get("/api/v1/trace?output=model.pkl").await,
        threaded.get("/api/v1/trace?output=model.pkl").await
    );
}

#[tokio::test]
async fn a_batch_with_one_bad_run_writes_nothing_and_names_the_field() {
    let api = Api::new();
    let mut bad = run("b", 5_000, &[], &[]);
    bad["end"] = json!(1);
    let (s, v) = api.send("POST", "/api/v1/runs", json!({"runs": [run("a", 1, &[], &["x"]), bad]})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid_argument");
    assert_eq!(v["error"]["field"], "runs[1].end");
    let (_, h) = api.get("/api/v1/health").await;
    assert_eq!(h["last_seq"], 0);
    assert_eq!(h["runs"], 0);
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let api = Api::new();
    let req = Request::post("/api/v1/runs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{nope"))
        .expect("req");
    let (s, v) = api.call(req).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("body")));
    let req =
        Request::post("/api/v1/runs").header(header::CONTENT_TYPE, "text/plain").body(Body::from("{}")).expect("req");
    assert_eq!(api.call(req).await.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, v) = api.send("POST", "/api/v1/runs", json!({"component": "a", "start": 1})).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("end")));
    let (s, v) = api.send("POST", "/api/v1/runs", json!({"component": "a\u{1}", "start": 1, "end": 2})).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("component")));
    let (s, _) = api.get("/api/v1/runs/99").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api.get("/api/v1/runs/abc").await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("id")));
    let (s, v) = api.get("/api/v1/trace").await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("output")));
    let (s, v) = api.get("/api/v1/runs?limit=5000").await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")));
    let (s, v) = api.get("/api/v1/review?rank=newest").await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("rank")));
    let (s, v) = api.get("/api/v1/review?rank=specificity").await;
    assert_eq!((s, v["runs"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
    let (s, _) = api.get("/api/v1/nowhere").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api.send("POST", "/api/v1/flag", json!({"outputs": ["never-seen"]})).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("not_found")));
}

#[tokio::test]
async fn oversize_batches_and_bodies_are_413() {
    let api = Api::with(|s| s.body_limit = 4096);
    let runs: Vec<Value> = (0..10_001).map(|i| run("a", i, &[], &[])).collect();
    let body = json!({"runs": runs}).to_string();
    let req = Request::post("/api/v1/runs")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("req");
    let (s, v) = api.call(req).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large")));
    let big = Api::new();
    let (s, v) = big
        .send("POST", "/api/v1/runs", json!({"runs": (0..10_001).map(|i| run("a", i, &[], &[])).collect::<Vec<_>>()}))
        .await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("runs")));
}

#[tokio::test]
async fn tokens_separate_writers_from_readers() {
    let api = Api::with(|s| s.auth = Tokens { write: Some("w".into()), read: Some("r".into()) });
    let (s, _) = api.get("/api/v1/health").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let with =
        |token: &str, req: axum::http::request::Builder| req.header(header::AUTHORIZATION, format!("Bearer {token}"));
    let (s, _) = api.call(with("r", Request::get("/api/v1/health")).body(Body::empty()).expect("req")).await;
    assert_eq!(s, StatusCode::OK);
    let post = |token: &str| {
        with(token, Request::post("/api/v1/runs"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(run("a", 1, &[], &[]).to_string()))
            .expect("req")
    };
    assert_eq!(api.call(post("r")).await.0, StatusCode::FORBIDDEN);
    assert_eq!(api.call(post("nope")).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.call(post("w")).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn ndjson_bodies_are_one_batch() {
    let api = Api::new();
    let lines = format!("{}\n{}\n", run("a", 1, &[], &["x"]), run("b", 2, &["x"], &[]));
    let req = Request::post("/api/v1/runs")
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from(lines))
        .expect("req");
    let (s, v) = api.call(req).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["runs"][1]["dependencies"], json!([1]));
    let bad = format!("{}\nnot json\n", run("a", 1, &[], &[]));
    let req = Request::post("/api/v1/runs")
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(Body::from(bad))
        .expect("req");
    let (s, v) = api.call(req).await;
    assert_eq!((s, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("line 2")));
    assert_eq!(api.get("/api/v1/health").await.1["runs"], 2);
}

#[tokio::test]
async fn events_stream_as_ndjson_in_seq_order() {
    let api = Api::new();
    api.send("PUT", "/api/v1/components/train", json!({"owner": "alice", "tags": ["ml"]})).await;
    api.send("POST", "/api/v1/runs", run("train", 1, &[], &["m.pkl"])).await;
    api.send("POST", "/api/v1/flag", json!({"outputs": ["m.pkl"], "reason": "bad", "by": "bob"})).await;
    let resp = app(api.state.clone())
        .oneshot(Request::get("/api/v1/events?after=1").body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/x-ndjson");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let lines: Vec<Value> =
        std::str::from_utf8(&bytes).expect("utf8").lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["type"], "run_logged");
    assert_eq!(lines[0]["run"]["id"], 1);
    assert_eq!(lines[1]["type"], "flagged");
    assert_eq!(lines[1]["by"], "bob");
}

#[tokio::test]
async fn the_openapi_document_lists_exactly_the_routes() {
    let api = Api::new();
    let (s, doc) = api.get("/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for method in ops.as_object().expect("ops").keys() {
            documented.push((method.clone(), path.clone()));
        }
    }
    documented.sort();
    let mut routed: Vec<(String, String)> = mltrace_api::routes::routes();
    routed.sort();
    assert_eq!(documented, routed);
    // And every listed route answers something other than "no such endpoint".
    for (method, path) in &routed {
        let uri = path.replace("{name}", "x").replace("{id}", "1");
        let req = Request::builder().method(method.to_uppercase().as_str()).uri(&uri).body(Body::empty()).expect("req");
        let resp = app(api.state.clone()).oneshot(req).await.expect("resp");
        let status = resp.status();
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("there is no API endpoint"), "{method} {uri} is not routed");
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
    }
}

#[tokio::test]
async fn deep_links_get_the_ui() {
    let api = Api::new();
    let resp = app(api.state.clone())
        .oneshot(Request::get("/trace/s3%3A%2F%2Fb%2Fm.pkl").body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("text/html"));
    let resp =
        app(api.state.clone()).oneshot(Request::get("/metrics").body(Body::empty()).expect("req")).await.expect("resp");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("mltrace_fsync_duration_seconds_count"));
}

#[tokio::test]
async fn ui_assets_are_versioned_for_long_caching_and_every_other_path_is_the_app() {
    let api = Api::new();
    let get = |uri: &str, etag: Option<&str>| {
        let mut req = Request::get(uri);
        if let Some(e) = etag {
            req = req.header(header::IF_NONE_MATCH, e);
        }
        app(api.state.clone()).oneshot(req.body(Body::empty()).expect("req"))
    };
    let resp = get("/", None).await.expect("resp");
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
    let html = String::from_utf8(resp.into_body().collect().await.expect("body").to_bytes().to_vec()).expect("utf8");
    let end = html.find("/app.js\"").expect("index names app.js") + "/app.js".len();
    let at = html[..end].rfind('"').expect("quote") + 1;
    let script = &html[at..end];
    assert!(script.starts_with("/v/"), "{script}");
    let resp = get(script, None).await.expect("resp");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    let resp = get("/app.js", None).await.expect("resp");
    assert_eq!(resp.headers()[header::CACHE_CONTROL], "no-cache");
    let etag = resp.headers()[header::ETAG].to_str().expect("etag").to_string();
    assert_eq!(get("/app.js", Some(&etag)).await.expect("resp").status(), StatusCode::NOT_MODIFIED);
    for deep in ["/output/loss.png", "/tag/app.js", "/run/12", "/history/train?n=5"] {
        let resp = get(deep, None).await.expect("resp");
        assert_eq!(resp.status(), StatusCode::OK, "{deep}");
        assert!(resp.headers()[header::CONTENT_TYPE].to_str().unwrap_or("").starts_with("text/html"), "{deep}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_are_logged_together_and_a_bad_one_fails_alone() {
    let api = Arc::new(Api::new());
    let mut tasks = Vec::new();
    for i in 0..40i64 {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut r = run(&format!("c{}", i % 4), 1_000 + i, &[], &[&format!("out-{i}")]);
            if i == 17 {
                r["end"] = json!(0);
            }
            if i == 23 {
                r["upstream"] = json!(["no-such-component"]);
            }
            api.send("POST", "/api/v1/runs", r).await
        }));
    }
    let mut created = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        let (status, v) = t.await.expect("task");
        match i {
            17 => assert_eq!((status, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("end")), "{v}"),
            23 => assert_eq!(
                (status, v["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some("upstream[0]")),
                "{v}"
            ),
            _ => {
                assert_eq!(status, StatusCode::CREATED, "{v}");
                created.push(v["runs"][0]["id"].as_u64().expect("id"));
            }
        }
    }
    created.sort_unstable();
    assert_eq!(created, (1..=38).collect::<Vec<u64>>(), "every good run got its own dense id");
    let (_, h) = api.get("/api/v1/health").await;
    assert_eq!(h["runs"], 38);
}

/// Every write is counted once, in one place: a run, a registration, a tag, notes, a flag and an
/// unflag (which the per-route counting missed) add up to the store's last seq.
#[tokio::test]
async fn every_appended_event_is_counted_once() {
    let api = Api::new();
    let run = serde_json::json!({"component": "a", "start": 1, "end": 2, "outputs": ["x"]});
    assert_eq!(api.send("POST", "/api/v1/runs", run).await.0, StatusCode::CREATED);
    let comp = serde_json::json!({"description": "d", "owner": "o", "tags": ["t"]});
    assert_eq!(api.send("PUT", "/api/v1/components/a", comp).await.0, StatusCode::OK);
    assert_eq!(
        api.send("POST", "/api/v1/components/a/tags", serde_json::json!({"tags": ["u"]})).await.0,
        StatusCode::OK
    );
    assert_eq!(api.send("PUT", "/api/v1/runs/1/notes", serde_json::json!({"notes": "n"})).await.0, StatusCode::OK);
    assert_eq!(api.send("POST", "/api/v1/flag", serde_json::json!({"outputs": ["x"]})).await.0, StatusCode::OK);
    assert_eq!(api.send("POST", "/api/v1/unflag", serde_json::json!({"all": true})).await.0, StatusCode::OK);
    let last = api.state.store.last_seq();
    assert_eq!(last, 6);
    let resp =
        app(api.state.clone()).oneshot(Request::get("/metrics").body(Body::empty()).expect("req")).await.expect("resp");
    let text = String::from_utf8_lossy(&resp.into_body().collect().await.expect("body").to_bytes()).into_owned();
    assert!(text.contains(&format!("mltrace_ingested_events_total {last}\n")), "{text}");
    assert!(text.contains("mltrace_ingested_runs_total 1\n"), "{text}");
}

/// The front layer counts every request under its route's pattern, method and status, also the
/// ones its own steps refuse (a missing token, too many headers) and the router's 405 that it
/// rewrites as JSON; the text lists them sorted.
#[tokio::test]
async fn requests_are_counted_by_route_and_status_whatever_answered_them() {
    let api = Api::with(|s| s.auth = Tokens { write: Some("w".into()), read: None });
    let authorized = |req: axum::http::request::Builder| req.header(header::AUTHORIZATION, "Bearer w");
    let post = |body: Value| {
        authorized(Request::post("/api/v1/runs"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("req")
    };
    for i in 0..3 {
        assert_eq!(api.call(post(run("a", i, &[], &[]))).await.0, StatusCode::CREATED);
    }
    assert_eq!(api.call(post(json!({"component": "a", "start": 1}))).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(api.get("/api/v1/runs/1").await.0, StatusCode::UNAUTHORIZED);
    let mut crowded = authorized(Request::get("/api/v1/runs/1"));
    for i in 0..=mltrace_api::guard::MAX_HEADERS {
        crowded = crowded.header(format!("x-h{i}"), "1");
    }
    assert_eq!(
        api.call(crowded.body(Body::empty()).expect("req")).await.0,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let (s, v) = api.call(authorized(Request::delete("/api/v1/runs")).body(Body::empty()).expect("req")).await;
    assert_eq!((s, v["error"]["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
    let resp = app(api.state.clone())
        .oneshot(authorized(Request::get("/metrics")).body(Body::empty()).expect("req"))
        .await
        .expect("resp");
    let text = String::from_utf8_lossy(&resp.into_body().collect().await.expect("body").to_bytes()).into_owned();
    let series: Vec<&str> = text.lines().filter(|l| l.starts_with("mltrace_http_requests_total{")).collect();
    assert_eq!(
        series,
        [
            r#"mltrace_http_requests_total{method="DELETE",route="/api/v1/runs",status="405"} 1"#,
            r#"mltrace_http_requests_total{method="GET",route="/api/v1/runs/{id}",status="401"} 1"#,
            r#"mltrace_http_requests_total{method="GET",route="/api/v1/runs/{id}",status="431"} 1"#,
            r#"mltrace_http_requests_total{method="POST",route="/api/v1/runs",status="201"} 3"#,
            r#"mltrace_http_requests_total{method="POST",route="/api/v1/runs",status="400"} 1"#,
        ],
        "{text}"
    );
    assert!(text.contains("mltrace_http_request_duration_seconds_count{route=\"/api/v1/runs\"} 5\n"), "{text}");
}
