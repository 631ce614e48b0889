//! Cluster mode end to end: three NATS JetStream servers on loopback ports (Debian's
//! `nats-server`, which `test.sh` installs), mltrace nodes serving the same stream, and the faults
//! a cluster is for: a NATS server lost mid-ingest, an mltrace node killed, the stream's quorum
//! lost and back. Every test checks that every acknowledged run is on every node afterwards.
//! `MLTRACE_LONG_TESTS=1` makes the ingests longer.

use mltrace_tests::Server;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn long() -> bool {
    std::env::var("MLTRACE_LONG_TESTS").is_ok_and(|v| v == "1")
}

fn nats_server() -> PathBuf {
    for p in ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from("nats-server")
}

/// Three JetStream servers in one cluster, on loopback.
struct Nats {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    children: Vec<Option<Child>>,
}

impl Nats {
    fn start() -> Nats {
        // A port picked free can be taken by a parallel test before the server binds it: then the
        // server exits, and the whole cluster starts again on other ports.
        let mut why = String::new();
        for _ in 0..3 {
            match Nats::try_start() {
                Ok(nats) => return nats,
                Err(e) => why = e,
            }
        }
        panic!("cannot start three nats-servers: {why}");
    }

    fn try_start() -> Result<Nats, String> {
        let dir = tempfile::tempdir().expect("tmp");
        // All six listeners are held at once, so that the ports differ from each other.
        let held: Vec<std::net::TcpListener> =
            (0..6).map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port")).collect();
        let picked: Vec<u16> = held.iter().map(|l| l.local_addr().expect("address").port()).collect();
        drop(held);
        let (ports, routes) = (picked[..3].to_vec(), picked[3..].to_vec());
        let route_list = routes.iter().map(|p| format!("\"nats-route://127.0.0.1:{p}\"")).collect::<Vec<_>>().join(",");
        for i in 0..3 {
            let conf = format!(
                "server_name: n{i}\nhost: 127.0.0.1\nport: {}\nmax_payload: 8MB\n\
                 jetstream {{ store_dir: \"{}\" }}\n\
                 cluster {{ name: test, listen: \"127.0.0.1:{}\", routes: [{route_list}] }}\n",
                ports[i],
                dir.path().join(format!("js{i}")).display(),
                routes[i],
            );
            std::fs::write(dir.path().join(format!("n{i}.conf")), conf).expect("conf");
        }
        let mut nats = Nats { dir, ports, children: vec![None, None, None] };
        for i in 0..3 {
            nats.try_start_one(i)?;
        }
        Ok(nats)
    }

    fn start_one(&mut self, i: usize) {
        if let Err(why) = self.try_start_one(i) {
            panic!("{why}");
        }
    }

    fn try_start_one(&mut self, i: usize) -> Result<(), String> {
        let child = Command::new(nats_server())
            .arg("-c")
            .arg(self.dir.path().join(format!("n{i}.conf")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start nats-server ({e}): install it (apt-get install nats-server)"));
        self.children[i] = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.ports[i])).is_err() {
            let exited = self.children[i].as_mut().and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                return Err(format!("nats-server {i} exited with {status} (its port taken?)"));
            }
            if Instant::now() > deadline {
                return Err(format!("nats-server {i} did not listen within 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn urls(&self) -> String {
        self.ports.iter().map(|p| format!("nats://127.0.0.1:{p}")).collect::<Vec<_>>().join(",")
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for i in 0..3 {
            self.kill(i);
        }
    }
}

fn node(dir: &Path, nats: &Nats) -> Server {
    Server::start(dir, &["--log", &nats.urls(), "--stream", "test", "--fsync", "never", "--checkpoint-every", "200"])
}

fn run(component: &str, inputs: &[&str], outputs: &[&str], key: Option<&str>) -> Value {
    let mut r = json!({
        "component": component,
        "start": "2026-11-26T03:00:00Z",
        "end": "2026-11-26T03:00:01Z",
        "inputs": inputs,
        "outputs": outputs,
    });
    if let Some(k) = key {
        r["idempotency_key"] = json!(k);
    }
    r
}

/// Every event of a node, as its export lines.
fn export(s: &Server) -> Vec<String> {
    let mut lines = Vec::new();
    let mut after = 0u64;
    loop {
        let (status, text) = s.get_text(&format!("/api/v1/events?after={after}&limit=10000"));
        assert_eq!(status, 200, "{text}");
        let page: Vec<String> = text.lines().filter(|l| !l.is_empty()).map(String::from).collect();
        if page.is_empty() {
            return lines;
        }
        let last: Value = serde_json::from_str(page.last().expect("a line")).expect("json");
        after = last["seq"].as_u64().expect("seq");
        lines.extend(page);
    }
}

fn health(s: &Server) -> Value {
    let (status, h) = s.get("/api/v1/health");
    assert_eq!(status, 200, "{h}");
    h
}

/// Waits until the node has applied `seq` (bounded).
fn wait_applied(s: &Server, seq: u64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let h = health(s);
        if h["last_seq"].as_u64().unwrap_or(0) >= seq {
            return;
        }
        assert!(Instant::now() < deadline, "the node did not reach seq {seq} within {within:?}: {h}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ids of runs on a node, by idempotency key.
fn keys_on(s: &Server) -> BTreeSet<String> {
    export(s)
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| e["run"]["idempotency_key"].as_str().map(String::from))
        .collect()
}

/// Posts a run until it is acknowledged (a cluster may refuse writes for a moment while a server
/// goes away); answers the seq, or `None` when it kept failing for `within`.
fn post_until_acked(s: &Server, body: &Value, within: Duration) -> Option<u64> {
    let deadline = Instant::now() + within;
    loop {
        let (status, answer) = s.send("POST", "/api/v1/runs", body);
        if status == 201 || status == 200 {
            return answer["seq"].as_u64().or_else(|| answer["runs"][0]["seq"].as_u64());
        }
        assert_eq!(status, 503, "{answer}");
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_write_on_one_node_is_read_on_another_with_min_seq() {
    let nats = Nats::start();
    let (da, db) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let a = node(da.path(), &nats);
    let b = node(db.path(), &nats);
    let (status, first) = a.send("POST", "/api/v1/runs", &run("ingest", &[], &["raw.csv"], None));
    assert_eq!(status, 201, "{first}");
    let (status, second) = a.send("POST", "/api/v1/runs", &run("clean", &["raw.csv"], &["clean.csv"], None));
    assert_eq!(status, 201, "{second}");
    let seq = second["seq"].as_u64().or_else(|| second["runs"][0]["seq"].as_u64()).expect("a seq");
    let (status, trace) = b.get(&format!("/api/v1/trace?output=clean.csv&min_seq={seq}"));
    assert_eq!(status, 200, "{trace}");
    assert!(trace.to_string().contains("raw.csv"), "{trace}");
    // The other way round: a write on B resolves against A's runs.
    let (status, third) = b.send("POST", "/api/v1/runs", &run("train", &["clean.csv"], &["model.bin"], None));
    assert_eq!(status, 201, "{third}");
    assert!(third.to_string().contains("\"dependencies\":[2]"), "{third}");
    let seq = third["seq"].as_u64().or_else(|| third["runs"][0]["seq"].as_u64()).expect("a seq");
    let (status, _) = a.get(&format!("/api/v1/runs?min_seq={seq}"));
    assert_eq!(status, 200);
    // A seq no write reached: 503 naming min_seq, after a bounded wait.
    let started = Instant::now();
    let (status, err) = b.get("/api/v1/runs?min_seq=999999");
    assert_eq!(status, 503, "{err}");
    assert_eq!(err["error"]["field"], "min_seq");
    assert!(started.elapsed() < Duration::from_secs(15));
    let (status, err) = b.get("/api/v1/runs?min_seq=soon");
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "min_seq");
    // A write larger than one NATS message (max_payload, 8 MB here) is refused whole, never split.
    let mut big = run("big", &[], &["big.bin"], None);
    big["code_snapshot"] = json!("x".repeat(9 << 20));
    let (status, err) = a.send("POST", "/api/v1/runs", &big);
    assert_eq!(status, 400, "{err}");
    assert!(err["error"]["message"].as_str().is_some_and(|m| m.contains("max_payload")), "{err}");
    assert_eq!(health(&a)["last_seq"], 3, "a refused write changes nothing");
    // The Rust client keeps the seq of its last write and reads with it.
    let client = mltrace_client::HttpClient::new(&b.url);
    use mltrace_client::{Backend, Call};
    let t = mltrace_store::Timestamp::parse("2026-11-26T03:00:00Z").expect("time");
    let logged = client.log_run(&mltrace_store::NewRun::new("eval", t, t).inputs(["model.bin"])).expect("logged");
    assert_eq!(client.last_write_seq(), logged.seq);
    let run = client
        .call(&mltrace_client::queries::Run { id: logged.id, as_of: None, proof: false })
        .expect("read back with min_seq");
    assert_eq!(run.view.id, logged.id);
    let h = health(&b);
    assert_eq!(h["cluster"]["connected"], true, "{h}");
    assert_eq!(h["cluster"]["applied_seq"], 4, "{h}");
    let (_, metrics) = b.get_text("/metrics");
    assert!(metrics.contains("mltrace_cluster_applied_seq 4"), "{metrics}");
    // `mltrace cluster status` sees the stream, its three replicas and both nodes.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new(mltrace_tests::binary())
            .args(["cluster", "status", "--log", &nats.urls(), "--stream", "test", "--json"])
            .output()
            .expect("mltrace cluster status");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["stream"]["stream_last_seq"], 4, "{v}");
        assert_eq!(v["stream"]["replicas"].as_array().map(Vec::len), Some(3), "{v}");
        assert_eq!(v["configured_replicas"], 3, "{v}");
        let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
        if nodes.len() == 2 && nodes.iter().all(|n| n["applied"] == 4 && n["lag"] == 0) {
            break;
        }
        assert!(Instant::now() < deadline, "both nodes did not show up caught up: {v}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = Command::new(mltrace_tests::binary())
        .args(["cluster", "status", "--log", "localhost:4222"])
        .output()
        .expect("mltrace cluster status");
    assert_eq!(out.status.code(), Some(2), "a bad --log is bad usage");
}

#[test]
fn concurrent_writers_make_one_history_that_a_new_node_replays() {
    let nats = Nats::start();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().expect("tmp")).collect();
    let a = node(dirs[0].path(), &nats);
    let b = node(dirs[1].path(), &nats);
    let rounds = if long() { 200 } else { 30 };
    let write = |s: &Server, w: usize| {
        for i in 0..rounds {
            let batch: Vec<Value> = (0..10)
                .map(|j| {
                    let key = format!("w{w}-{i}-{j}");
                    run(&format!("step{w}"), &["shared.csv"], &["shared.csv", &format!("out-{key}")], Some(&key))
                })
                .collect();
            let (status, answer) = s.send("POST", "/api/v1/runs", &json!({ "runs": batch }));
            assert_eq!(status, 201, "{answer}");
        }
    };
    std::thread::scope(|scope| {
        scope.spawn(|| write(&a, 0));
        scope.spawn(|| write(&b, 1));
    });
    let last = health(&a)["last_seq"].as_u64().expect("seq").max(health(&b)["last_seq"].as_u64().expect("seq"));
    assert!(last >= 2 * rounds as u64 * 10);
    wait_applied(&a, last, Duration::from_secs(20));
    wait_applied(&b, last, Duration::from_secs(20));
    let c = node(dirs[2].path(), &nats);
    wait_applied(&c, last, Duration::from_secs(30));
    let (ea, eb, ec) = (export(&a), export(&b), export(&c));
    assert!(ea.len() as u64 >= last);
    assert_eq!(ea, eb);
    assert_eq!(ea, ec);
    // Each run depends on the run before it that wrote shared.csv, whichever node logged it: one
    // linear history. (Checkpoints add signed tree heads between the runs.)
    let runs: Vec<Value> = ea
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .filter(|e| e["type"] == "run_logged")
        .collect();
    assert_eq!(runs.len(), 2 * rounds * 10);
    for pair in runs.windows(2) {
        assert_eq!(pair[1]["run"]["dependencies"], json!([pair[0]["run"]["id"]]), "{}", pair[1]);
    }
}

#[test]
fn losing_one_nats_server_mid_ingest_loses_nothing_acknowledged() {
    let mut nats = Nats::start();
    let (da, db) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let a = node(da.path(), &nats);
    let b = node(db.path(), &nats);
    let n = if long() { 600 } else { 120 };
    let mut acked = BTreeSet::new();
    let mut last = 0;
    for i in 0..n {
        if i == n / 3 {
            nats.kill(0);
        }
        let key = format!("k{i}");
        let target = if i % 2 == 0 { &a } else { &b };
        if let Some(seq) =
            post_until_acked(target, &run("ingest", &[], &[&format!("o{i}")], Some(&key)), Duration::from_secs(20))
        {
            acked.insert(key);
            last = last.max(seq);
        }
    }
    assert_eq!(acked.len(), n, "writes go on with two of three NATS servers");
    for s in [&a, &b] {
        wait_applied(s, last, Duration::from_secs(20));
        assert!(acked.is_subset(&keys_on(s)));
    }
    assert_eq!(export(&a), export(&b));
}

#[test]
fn a_killed_node_restarts_from_its_checkpoint_and_catches_up() {
    let nats = Nats::start();
    let (da, db) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let a = node(da.path(), &nats);
    let b = node(db.path(), &nats);
    for i in 0..300 {
        let (status, answer) =
            a.send("POST", "/api/v1/runs", &run("ingest", &[], &[&format!("o{i}")], Some(&format!("k{i}"))));
        assert_eq!(status, 201, "{answer}");
    }
    wait_applied(&b, 300, Duration::from_secs(20));
    // The node checkpoints (every 200 events here, looked at every 5 s) before it is killed.
    let deadline = Instant::now() + Duration::from_secs(15);
    while !db.path().join("checkpoint").exists() {
        assert!(Instant::now() < deadline, "no checkpoint was written");
        std::thread::sleep(Duration::from_millis(100));
    }
    b.kill();
    for i in 300..400 {
        let (status, answer) =
            a.send("POST", "/api/v1/runs", &run("ingest", &[], &[&format!("o{i}")], Some(&format!("k{i}"))));
        assert_eq!(status, 201, "{answer}");
    }
    let b = node(db.path(), &nats);
    let (status, runs) = b.get("/api/v1/runs?min_seq=400&limit=1");
    assert_eq!(status, 200, "{runs}");
    assert_eq!(export(&a), export(&b));
    assert_eq!(keys_on(&b).len(), 400);
}

#[test]
fn without_a_quorum_writes_are_refused_reads_go_on_and_everything_resumes() {
    let mut nats = Nats::start();
    let (da, db) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let a = node(da.path(), &nats);
    let b = node(db.path(), &nats);
    let mut acked = BTreeSet::new();
    for i in 0..20 {
        let key = format!("k{i}");
        post_until_acked(&a, &run("ingest", &[], &[&format!("o{i}")], Some(&key)), Duration::from_secs(10))
            .expect("acknowledged");
        acked.insert(key);
    }
    wait_applied(&b, 20, Duration::from_secs(20));
    nats.kill(1);
    nats.kill(2);
    let started = Instant::now();
    let (status, err) = a.send("POST", "/api/v1/runs", &run("ingest", &[], &["lost"], Some("refused")));
    assert_eq!(status, 503, "{err}");
    assert!(started.elapsed() < Duration::from_secs(15), "refused in bounded time");
    // Health says so, and how stale this node may be.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let h = health(&a);
        if h["status"] == "degraded" {
            assert!(h["writes"].as_str().is_some_and(|w| w.starts_with("unavailable")), "{h}");
            assert!(h["cluster"]["checked_ms_ago"].as_u64().is_some(), "{h}");
            break;
        }
        assert!(Instant::now() < deadline, "health did not report the lost quorum: {h}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Reads go on, on both nodes.
    for s in [&a, &b] {
        let (status, runs) = s.get("/api/v1/runs?limit=100");
        assert_eq!(status, 200, "{runs}");
    }
    nats.start_one(1);
    nats.start_one(2);
    let key = "after".to_string();
    let seq = post_until_acked(&b, &run("ingest", &[], &["back"], Some(&key)), Duration::from_secs(60))
        .expect("writes resume when the servers are back");
    acked.insert(key);
    for s in [&a, &b] {
        wait_applied(s, seq, Duration::from_secs(20));
        assert!(acked.is_subset(&keys_on(s)));
    }
    assert_eq!(export(&a), export(&b));
}

#[test]
fn writes_on_any_node_go_to_the_node_that_holds_the_writer_lease() {
    let nats = Nats::start();
    let (da, db) = (tempfile::tempdir().expect("tmp"), tempfile::tempdir().expect("tmp"));
    let a = node(da.path(), &nats);
    let b = node(db.path(), &nats);
    let deadline = Instant::now() + Duration::from_secs(15);
    let writer_url = loop {
        let (ha, hb) = (health(&a), health(&b));
        let (wa, wb) = (ha["cluster"]["writer"].as_str(), hb["cluster"]["writer"].as_str());
        if let (Some(wa), Some(wb)) = (wa, wb) {
            assert_eq!(wa, wb, "both nodes see the same writer");
            break wa.to_string();
        }
        assert!(Instant::now() < deadline, "no writer elected: {ha} {hb}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (writer, other) = if writer_url == a.url { (a, b) } else { (b, a) };
    assert_eq!(writer.url, writer_url);
    assert_eq!(health(&other)["cluster"]["is_writer"], false);
    let mut acked = BTreeSet::new();
    for i in 0..40 {
        let key = format!("k{i}");
        let target = if i % 2 == 0 { &writer } else { &other };
        let (status, answer) =
            target.send("POST", "/api/v1/runs", &run("ingest", &["shared"], &["shared"], Some(&key)));
        assert_eq!(status, 201, "{answer}");
        acked.insert(key);
    }
    // Forwarded, not raced: neither node had a write refused by the stream.
    assert_eq!(health(&writer)["cluster"]["conflicts"], 0);
    assert_eq!(health(&other)["cluster"]["conflicts"], 0);
    let (status, _) = other.get("/api/v1/runs?min_seq=40&limit=1");
    assert_eq!(status, 200);
    // The writer dies: its lease runs out and the other node takes it.
    writer.kill();
    let seq =
        post_until_acked(&other, &run("ingest", &["shared"], &["shared"], Some("after")), Duration::from_secs(30))
            .expect("writes resume on the surviving node");
    acked.insert("after".into());
    assert!(seq > 40);
    assert_eq!(health(&other)["cluster"]["is_writer"], true);
    assert!(acked.is_subset(&keys_on(&other)));
}
