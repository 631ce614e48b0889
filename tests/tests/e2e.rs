//! End to end, as a user would: the real `mltrace` binary on a free loopback port with a temporary
//! data directory, driven over HTTP. All end-to-end tests live in this one binary (fast linking).

use mltrace_tests::{Server, binary, free_port};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "e2e/openlineage.rs"]
mod openlineage;

fn run(component: &str, start: &str, inputs: Value, outputs: Value) -> Value {
    json!({"component": component, "start": start, "end": start, "inputs": inputs, "outputs": outputs})
}

/// A small pipeline with a re-run, a fresher dependency, flags and notes.
fn log_pipeline(s: &Server) {
    let (st, _) =
        s.send("PUT", "/api/v1/components/train", &json!({"description": "trains", "owner": "alice", "tags": ["ml"]}));
    assert_eq!(st, 200);
    let batch = json!({"runs": [
        run("ingest", "2026-11-20T00:00:00Z", json!([]), json!(["s3://lake/raw/day=1.csv"])),
        run("clean", "2026-11-20T01:00:00Z", json!(["s3://lake/raw/day=1.csv"]), json!(["clean.parquet"])),
        run("featuregen", "2026-11-20T02:00:00Z", json!(["clean.parquet"]), json!(["features.parquet"])),
        run("featuregen", "2026-11-20T02:30:00Z", json!(["clean.parquet"]), json!(["features-v2.parquet"])),
        run("train", "2026-11-20T03:00:00Z", json!(["features.parquet"]), json!(["model.pkl"])),
        run("infer", "2026-11-20T04:00:00Z", json!(["model.pkl", "features.parquet"]), json!(["pred_1"])),
        run("infer", "2026-11-20T04:10:00Z", json!(["model.pkl", "features.parquet"]), json!(["pred_2"])),
    ]});
    let (st, v) = s.send("POST", "/api/v1/runs", &batch);
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        v["runs"][4]["stale"],
        json!(["featuregen (ID 3) has 1 fresher run that began before this component run started."])
    );
    let (st, _) =
        s.send("POST", "/api/v1/flag", &json!({"outputs": ["pred_1", "pred_2"], "reason": "wrong label", "by": "bob"}));
    assert_eq!(st, 200);
    let (st, _) = s.send("PUT", "/api/v1/runs/5/notes", &json!({"notes": "retrain with v2 features"}));
    assert_eq!(st, 200);
}

/// Every read endpoint, as JSON, for comparing answers across restarts.
fn snapshot(s: &Server) -> BTreeMap<String, Value> {
    let paths = [
        "/api/v1/stats",
        "/api/v1/components",
        "/api/v1/components/train",
        "/api/v1/components/infer/runs",
        "/api/v1/components/infer/runs?since=2026-11-20T04:05:00Z",
        "/api/v1/tags",
        "/api/v1/runs",
        "/api/v1/runs?limit=2&before=6",
        "/api/v1/runs/5",
        "/api/v1/io?name=model.pkl",
        "/api/v1/trace?output=pred_1",
        "/api/v1/trace?output=pred_1&max_depth=1",
        "/api/v1/downstream?output=clean.parquet",
        "/api/v1/flags",
        "/api/v1/review",
        "/api/v1/suggest?q=feat",
        "/api/v1/outdated",
        "/api/v1/runs/5?as_of=8",
        "/api/v1/review?as_of=8",
    ];
    paths
        .iter()
        .map(|p| {
            let (st, v) = s.get(p);
            assert_eq!(st, 200, "GET {p}: {v}");
            let v = match p {
                // Log size is the one answer that legitimately differs (nothing else may).
                &"/api/v1/stats" => {
                    let mut v = v;
                    v["log_bytes"] = json!(0);
                    v
                }
                _ => v,
            };
            (p.to_string(), v)
        })
        .collect()
}

#[test]
fn a_pipeline_over_http_answers_every_endpoint_and_the_same_after_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path(), &[]);
    log_pipeline(&s);
    // A clean shutdown writes a signed tree head unless the last event is one: write it now, so
    // that the restart has nothing to add.
    assert_eq!(s.send("POST", "/api/v1/audit/head", &json!({})).0, 201);
    let before = snapshot(&s);

    let trace = &before["/api/v1/trace?output=pred_1"];
    let ids: Vec<i64> =
        trace["nodes"].as_array().expect("nodes").iter().map(|n| n["run"]["id"].as_i64().unwrap_or(0)).collect();
    assert_eq!(ids, vec![6, 3, 2, 1, 5]);
    let review = &before["/api/v1/review"];
    assert_eq!(review["runs"][0]["count"], 2);
    assert_eq!(review["runs"][0]["coverage"], 1.0);
    assert_eq!(before["/api/v1/runs/5"]["notes"], "retrain with v2 features");
    assert_eq!(before["/api/v1/runs/5?as_of=8"]["notes"], "", "notes as of before they were set");
    assert_eq!(before["/api/v1/review?as_of=8"]["flagged"], json!([]));
    assert_eq!(before["/api/v1/outdated"]["components"][0]["name"], "infer");
    assert_eq!(before["/api/v1/components/train"]["owner"], "alice");

    assert!(s.terminate().success(), "a clean shutdown exits 0");
    let s = Server::start(dir.path(), &[]);
    assert_eq!(snapshot(&s), before, "a restart replays to the same answers");
}

#[test]
fn sigkill_during_concurrent_ingestion_loses_no_acknowledged_run() {
    // Three rounds in CI; MLTRACE_LONG_TESTS=1 runs 120, over every fsync policy, with and without
    // frequent checkpoints (a process crash must lose nothing acknowledged under any policy: the
    // page cache survives it).
    let long = std::env::var("MLTRACE_LONG_TESTS").is_ok_and(|v| v == "1");
    let rounds: u64 = if long { 120 } else { 3 };
    let policies: [&[&str]; 6] = [
        &[],
        &["--fsync", "interval:5"],
        &["--fsync", "never"],
        &["--checkpoint-every", "200"],
        &["--fsync", "never", "--checkpoint-every", "200"],
        &["--fsync", "interval:5", "--checkpoint-every", "50"],
    ];
    let mut checked = 0usize;
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = policies[(round as usize) % policies.len()];
        let s = Server::start(dir.path(), args);
        let acked: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
        let stop = Instant::now() + Duration::from_millis(400 + 200 * (round % 4));
        let url = s.url.clone();
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let acked = acked.clone();
                let url = url.clone();
                std::thread::spawn(move || {
                    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
                    for i in 0.. {
                        if Instant::now() > stop {
                            break;
                        }
                        let out = format!("out-{w}-{i}");
                        let body = if i % 3 == 0 {
                            json!({"runs": [run(&format!("c{w}"), "2026-11-20T00:00:00Z", json!([]), json!([out])),
                                            run(&format!("c{w}"), "2026-11-20T00:00:01Z", json!([out]), json!([format!("{out}-b")]))]})
                        } else {
                            run(&format!("c{w}"), "2026-11-20T00:00:00Z", json!([]), json!([out]))
                        };
                        match agent.post(&format!("{url}/api/v1/runs")).send_json(body) {
                            Ok(resp) => {
                                let v: Value = resp.into_json().unwrap_or(Value::Null);
                                for r in v["runs"].as_array().into_iter().flatten() {
                                    let id = r["id"].as_u64().unwrap_or(0);
                                    acked.lock().expect("lock").push((id, format!("c{w}")));
                                }
                            }
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(stop.saturating_duration_since(Instant::now()) / 2);
        s.kill();
        for w in writers {
            let _ = w.join();
        }
        let acked = acked.lock().expect("lock").clone();
        assert!(!acked.is_empty(), "round {round}: nothing was acknowledged before the kill");
        let s = Server::start(dir.path(), args);
        for (id, component) in &acked {
            let (st, v) = s.get(&format!("/api/v1/runs/{id}"));
            assert_eq!(st, 200, "round {round} ({args:?}): acknowledged run {id} is gone after SIGKILL");
            assert_eq!(&v["component"], component);
        }
        checked += acked.len();
        let out = std::process::Command::new(binary()).arg("verify").arg("--data-dir").arg(dir.path()).output();
        let out = out.expect("mltrace verify runs");
        assert!(out.status.success(), "round {round}: verify after restart: {}", String::from_utf8_lossy(&out.stderr));
    }
    eprintln!("sigkill: {rounds} rounds, {checked} acknowledged runs checked, none lost");
}

#[test]
fn a_second_server_on_the_same_directory_is_refused_with_the_first_ones_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Server::start(dir.path(), &[]);
    let out = std::process::Command::new(binary())
        .args(["serve", "--addr", &format!("127.0.0.1:{}", free_port()), "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&first.url), "the refusal names the running server: {err}");
}

#[test]
fn a_public_address_without_a_token_is_refused_before_binding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(binary())
        .args(["serve", "--addr", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--token"));
}

#[test]
fn the_event_stream_follows_new_appends_live() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path(), &[]);
    s.send("POST", "/api/v1/runs", &run("a", "2026-11-20T00:00:00Z", json!([]), json!(["x"])));
    let url = format!("{}/api/v1/events?follow=true", s.url);
    let reader = std::thread::spawn(move || {
        let resp = ureq::get(&url).timeout(Duration::from_secs(10)).call().expect("stream");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(resp.into_reader()));
        let first: Value = serde_json::from_str(&lines.next().expect("line").expect("io")).expect("json");
        let second: Value = serde_json::from_str(&lines.next().expect("line").expect("io")).expect("json");
        (first, second)
    });
    std::thread::sleep(Duration::from_millis(300));
    s.send("POST", "/api/v1/runs", &run("b", "2026-11-20T00:00:01Z", json!(["x"]), json!(["y"])));
    let (first, second) = reader.join().expect("reader");
    assert_eq!(first["run"]["component"], "a");
    assert_eq!(second["run"]["component"], "b");
    assert_eq!(second["run"]["dependencies"], json!([1]));
}

#[test]
fn tokens_guard_the_api_of_a_real_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path(), &["--token", "test-write-token", "--read-token", "reader-token-1"]);
    let (st, v) = s.get("/api/v1/runs");
    assert_eq!((st, v["error"]["code"].as_str()), (401, Some("unauthorized")));
    let r = ureq::post(&format!("{}/api/v1/runs", s.url)).set("Authorization", "Bearer reader-token-1").send_json(run(
        "a",
        "2026-11-20T00:00:00Z",
        json!([]),
        json!([]),
    ));
    assert!(matches!(r, Err(ureq::Error::Status(403, _))));
    let r = ureq::post(&format!("{}/api/v1/runs", s.url))
        .set("Authorization", "Bearer test-write-token")
        .send_json(run("a", "2026-11-20T00:00:00Z", json!([]), json!([])));
    assert_eq!(r.map(|r| r.status()).unwrap_or(0), 201);
}

#[test]
fn the_demo_gives_a_newcomer_something_to_look_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path(), &["--demo"]);
    let (_, review) = s.get("/api/v1/review");
    assert_eq!(review["flagged"].as_array().map(Vec::len), Some(2));
    let (_, outdated) = s.get("/api/v1/outdated");
    assert_eq!(outdated["components"][0]["name"], "infer");
    let page = ureq::get(&format!("{}/", s.url)).call().expect("ui").into_string().expect("html");
    assert!(page.to_lowercase().contains("<!doctype html"));
}

/// A full disk: writes answer 503 and change nothing, reads keep working, and once space is freed
/// writes work again; everything acknowledged survives a restart. Needs root (it mounts a tiny
/// tmpfs); elsewhere it says so and passes without checking.
#[test]
fn a_full_disk_refuses_writes_keeps_reads_and_recovers_when_space_returns() {
    let mount = tempfile::tempdir().expect("tempdir");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a tmpfs here (not root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount.path().to_path_buf());
    let filler = mount.path().join("filler");
    std::fs::write(&filler, vec![0u8; 128 * 1024]).expect("filler");
    let data = mount.path().join("data");
    let s = Server::start(&data, &[]);
    let code = "x".repeat(20_000);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..200 {
        let mut r = run("big", "2026-11-20T00:00:00Z", json!([]), json!([format!("o{i}")]));
        r["code_snapshot"] = json!(code);
        let (st, v) = s.send("POST", "/api/v1/runs", &r);
        if st == 201 {
            acked.push(v["runs"][0]["id"].as_u64().expect("id"));
        } else {
            refused = Some((st, v));
            break;
        }
    }
    let (st, v) = refused.expect("the disk filled up");
    assert_eq!((st, v["error"]["code"].as_str()), (503, Some("unavailable")), "{v}");
    let (st, recent) = s.get("/api/v1/runs?limit=1000");
    assert_eq!(st, 200, "reads keep working on a full disk");
    assert_eq!(recent["runs"].as_array().map(Vec::len), Some(acked.len()), "the refused run left nothing behind");
    std::fs::remove_file(&filler).expect("free space");
    let (st, v) =
        s.send("POST", "/api/v1/runs", &run("small", "2026-11-20T00:00:01Z", json!(["o0"]), json!(["after"])));
    assert_eq!(st, 201, "writes work again once there is space: {v}");
    assert_eq!(v["runs"][0]["id"].as_u64(), Some(acked.len() as u64 + 1), "ids stay dense");
    assert_eq!(v["runs"][0]["dependencies"], json!([1]));
    drop(s);
    let s = Server::start(&data, &[]);
    for id in &acked {
        assert_eq!(s.get(&format!("/api/v1/runs/{id}")).0, 200);
    }
}

/// The README's quickstart block, exactly as a newcomer pastes it, against a real server: every
/// line must succeed. The only edit is the server's port, since the test cannot own port 8080.
#[test]
fn the_readme_quickstart_runs_as_pasted() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let marker = "<!-- quickstart: tests/tests/e2e.rs runs this block as pasted -->";
    let after = readme.split(marker).nth(1).expect("the README marks its quickstart block");
    let block = after.split("```sh\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a sh block");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).expect("work dir");
    let s = Server::start(&data, &[]);
    let script = block.replace("http://127.0.0.1:8080", &s.url);
    let bin_dir = mltrace_tests::binary().parent().expect("the binary's folder").to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(&work)
        .env("PATH", path)
        .env("MLTRACE_SERVER", &s.url)
        .env_remove("MLTRACE_DATA_DIR")
        .env_remove("MLTRACE_TOKEN")
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the quickstart failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("training"), "train.py ran: {stdout}");
    let (_, review) = s.get("/api/v1/review");
    assert_eq!(review["flagged"][0]["name"], "model.pkl");
    assert_eq!(review["runs"].as_array().map(Vec::len), Some(3), "ingest, clean and train: {review}");
    let (_, trace) = s.get("/api/v1/trace?output=model.pkl");
    assert_eq!(trace["nodes"].as_array().map(Vec::len), Some(3));
}

/// What a hostile black-box test of the release server found, each pinned by a test named after the
/// finding (see RELIABILITY.md).
mod hostile {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn addr(s: &Server) -> String {
        s.url.trim_start_matches("http://").to_string()
    }

    /// One raw HTTP/1.1 exchange: the status line and the body.
    fn raw(s: &Server, request: &[u8]) -> (String, String) {
        let mut c = TcpStream::connect(addr(s)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        c.write_all(request).expect("send");
        let mut out = Vec::new();
        let _ = c.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.lines().next().unwrap_or("").to_string();
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }

    fn rss_high_water_kb(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
        line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
    }

    #[test]
    fn finding_1_metrics_labels_come_from_a_closed_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &["--token", "test-write-token"]);
        for i in 0..300 {
            let (status, _) = raw(
                &s,
                format!("MADEUP{i} /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            assert!(!status.is_empty());
        }
        let metrics = ureq::get(&format!("{}/metrics", s.url)).call().expect("metrics").into_string().expect("text");
        assert!(!metrics.contains("MADEUP"), "a made-up method became a label");
        let series = metrics.lines().filter(|l| l.starts_with("mltrace_http_requests_total{")).count();
        assert!(series <= 4, "{series} request series after 300 made-up methods:\n{metrics}");
        assert!(metrics.contains("method=\"other\""), "{metrics}");
    }

    #[test]
    fn finding_2_an_empty_bearer_is_no_token_and_the_scheme_is_case_insensitive() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &["--token", "test-write-token"]);
        let body = run("a", "2026-11-20T00:00:00Z", json!([]), json!(["x"])).to_string();
        let post = |auth: &str| {
            raw(
                &s,
                format!(
                    "POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
        };
        assert!(post("Bearer ").0.contains(" 401 "), "an empty token");
        assert!(post("Bearer").0.contains(" 401 "), "no token at all");
        assert!(post("bearer test-write-token").0.contains(" 201 "), "lower-case scheme");
        assert!(post("BEARER test-write-token").0.contains(" 201 "), "upper-case scheme");
    }

    #[test]
    fn finding_4_an_export_holds_pages_of_bytes_not_of_events() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &["--fsync", "never"]);
        let code = "x".repeat(4 << 20);
        for i in 0..12 {
            let mut r = run("big", "2026-11-20T00:00:00Z", json!([]), json!([format!("o{i}")]));
            r["code_snapshot"] = json!(code);
            assert_eq!(s.send("POST", "/api/v1/runs", &r).0, 201);
        }
        let pid = s.child.id();
        let before = rss_high_water_kb(pid);
        let mut body = ureq::get(&format!("{}/api/v1/events", s.url)).call().expect("events").into_reader();
        let mut total = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = body.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        assert!(total > 12 * (4 << 20), "the whole export arrived ({total} bytes)");
        let grew_mb = (rss_high_water_kb(pid).saturating_sub(before)) / 1024;
        // Pages of 1,000 events held all 48 MiB of snapshots twice over (events and their JSON).
        assert!(grew_mb < 40, "exporting 48 MiB of events raised the server's peak memory by {grew_mb} MiB");
    }

    #[test]
    fn finding_4_an_ndjson_body_is_bounded_in_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &[]);
        let line = "{\"component\":\"a\",\"start\":1,\"end\":1}\n";
        let body = line.repeat(100_001);
        let r = ureq::post(&format!("{}/api/v1/runs", s.url))
            .set("Content-Type", "application/x-ndjson")
            .send_string(&body);
        match r {
            Err(ureq::Error::Status(413, resp)) => {
                let v: Value = resp.into_json().expect("json");
                assert_eq!(v["error"]["code"], "payload_too_large");
                assert!(v["error"]["message"].as_str().unwrap_or("").contains("100000 runs"), "{v}");
            }
            other => panic!("expected 413, got {:?}", other.map(|r| r.status())),
        }
        assert_eq!(s.get("/api/v1/stats").1["runs"], 0, "nothing was stored");
    }

    #[test]
    fn finding_5_a_slow_body_is_cut_at_the_deadline() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &["--body-timeout-secs", "1"]);
        let mut c = TcpStream::connect(addr(&s)).expect("connect");
        c.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        c.write_all(
            b"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n",
        )
        .expect("headers");
        let started = Instant::now();
        let mut answer = Vec::new();
        while started.elapsed() < Duration::from_secs(10) {
            if c.write_all(b" ").is_err() {
                break;
            }
            let mut buf = [0u8; 4096];
            match c.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            if !answer.is_empty() && String::from_utf8_lossy(&answer).contains("}}") {
                break;
            }
        }
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains("\"code\":\"timeout\""), "{text}");
        assert!(started.elapsed() < Duration::from_secs(5), "cut after {:?}", started.elapsed());
    }

    #[test]
    fn finding_5_a_follower_that_never_reads_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &["--fsync", "never", "--write-timeout-secs", "1"]);
        let code = "y".repeat(4 << 20);
        for i in 0..8 {
            let mut r = run("big", "2026-11-20T00:00:00Z", json!([]), json!([format!("o{i}")]));
            r["code_snapshot"] = json!(code);
            assert_eq!(s.send("POST", "/api/v1/runs", &r).0, 201);
        }
        let mut c = TcpStream::connect(addr(&s)).expect("connect");
        c.write_all(b"GET /api/v1/events?follow=true HTTP/1.1\r\nHost: x\r\n\r\n").expect("send");
        // 32 MiB to send and nobody reading: the server's writes stall, and it gives up.
        std::thread::sleep(Duration::from_secs(4));
        c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut buf = vec![0u8; 1 << 20];
        let started = Instant::now();
        loop {
            match c.read(&mut buf) {
                Ok(0) | Err(_) if started.elapsed() < Duration::from_secs(4) => break,
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) => panic!("a live follow stream was not closed: read blocked ({e})"),
            }
        }
        // The server is fine and still serves others.
        assert_eq!(s.get("/api/v1/health").0, 200);
    }

    #[test]
    fn finding_5_connections_beyond_the_cap_wait_instead_of_exhausting_the_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &["--max-connections", "2"]);
        let a = TcpStream::connect(addr(&s)).expect("first");
        let b = TcpStream::connect(addr(&s)).expect("second");
        std::thread::sleep(Duration::from_millis(200));
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_millis(700)).build();
        let url = format!("{}/api/v1/health", s.url);
        assert!(agent.get(&url).call().is_err(), "a third connection waits while two are held");
        drop(a);
        drop(b);
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
        assert!(agent.get(&url).call().is_ok(), "served once a slot is free");
    }

    #[test]
    fn finding_8_times_outside_the_range_or_with_fractions_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &[]);
        for (start, end, field) in [
            (json!(-1e308), json!(1e308), "start"),
            (json!(i64::MIN), json!(i64::MAX), "start"),
            (json!(0), json!(i64::MAX), "end"),
            (json!(1.9), json!(1.1), "start"),
            (json!(1), json!(2.5), "end"),
        ] {
            let (st, v) = s.send("POST", "/api/v1/runs", &json!({"component": "a", "start": start, "end": end}));
            assert_eq!(st, 400, "{start} .. {end}: {v}");
            assert_eq!(v["error"]["field"], field, "{v}");
        }
        let (st, v) = s.send(
            "POST",
            "/api/v1/runs",
            &json!({"component": "a", "start": "0001-01-01T00:00:00Z", "end": "9999-12-31T23:59:59.999Z"}),
        );
        assert_eq!(st, 201, "the edges of the range are accepted: {v}");
        let (_, r) = s.get("/api/v1/runs/1");
        assert_eq!(r["end"], "9999-12-31T23:59:59.999Z");
        assert_eq!(s.get("/api/v1/stats").1["runs"], 1);
    }

    #[test]
    fn finding_9_every_error_answer_is_the_contracts_json() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Server::start(dir.path(), &[]);
        let json_error = |(status, body): (String, String), code: &str| {
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: not JSON: {body:?}"));
            assert_eq!(v["error"]["code"], code, "{status}: {body}");
            status
        };
        let get =
            |target: &str| raw(&s, format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
        assert!(json_error(get("/api/v1/components/%FF"), "invalid_argument").contains(" 400 "));
        let post_metrics =
            raw(&s, b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        assert!(json_error(post_metrics, "method_not_allowed").contains(" 405 "));
        let delete_ui = raw(&s, b"DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert!(json_error(delete_ui, "method_not_allowed").contains(" 405 "));
        let long = format!("/api/v1/trace?output={}", "x".repeat(40_000));
        assert!(json_error(get(&long), "uri_too_long").contains(" 414 "));
        let mut many = String::from("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..150 {
            many.push_str(&format!("X-H{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert!(json_error(raw(&s, many.as_bytes()), "headers_too_large").contains(" 431 "));
        // Unknown keys are refused everywhere, naming the field.
        let (st, v) = s.send(
            "POST",
            "/api/v1/runs",
            &json!({"runs": [run("a", "2026-11-20T00:00:00Z", json!([]), json!([]))], "extra": 1}),
        );
        assert_eq!((st, v["error"]["field"].as_str()), (400, Some("extra")), "{v}");
        let mut r = run("a", "2026-11-20T00:00:00Z", json!([]), json!([]));
        r["tests"] = json!([{"name": "t", "passed": true, "colour": "red"}]);
        let (st, v) = s.send("POST", "/api/v1/runs", &r);
        assert_eq!((st, v["error"]["field"].as_str()), (400, Some("tests[0].colour")), "{v}");
        assert_eq!(s.get("/api/v1/stats").1["runs"], 0, "nothing was stored");
    }
}

/// Found by the parser property tests (`store/tests/parsers.rs`): serde's derived structs also read a
/// JSON array of their fields in order, so the fast path logged `["a", start, end]` as a run, and an
/// I/O entry `["x"]` as `{"name": "x"}`, where the contract and the precise parser refuse both.
#[test]
fn a_run_or_an_io_entry_sent_as_a_json_array_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start(dir.path(), &[]);
    let (st, v) = s.send("POST", "/api/v1/runs", &json!(["a", "2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z"]));
    assert_eq!(st, 400, "{v}");
    let mut r = run("a", "2026-11-20T00:00:00Z", json!([["x"]]), json!([]));
    r["component"] = json!("a");
    let (st, v) = s.send("POST", "/api/v1/runs", &r);
    assert_eq!((st, v["error"]["field"].as_str()), (400, Some("inputs[0]")), "{v}");
    let (st, v) =
        s.send("POST", "/api/v1/runs", &json!({"runs": [["a", "2026-11-20T00:00:00Z", "2026-11-20T00:00:00Z"]]}));
    assert_eq!(st, 400, "{v}");
    assert_eq!(s.get("/api/v1/stats").1["runs"], 0, "nothing was stored");
}
