//! The `mltrace` command, end to end: the built binary, a temporary data directory, and the real
//! server on a free loopback port.
//!
//! - `golden_*`: the human output of every command, as a script of commands and their expected
//!   output (`tests/golden/commands.txt`), run against a data directory and against a server; both
//!   must print the same. `MLTRACE_UPDATE_GOLDEN=1 cargo test --workspace --test cli` rewrites it.
//! - `json_*`: `--json` prints exactly the API's bytes, in server mode and in data-directory mode.
//! - the rest: exit codes and their one-line messages, closed pipes, `run`, `import`, completions,
//!   and Rust pipelines instrumented with `mltrace_api::instrument`.
//!
//! Times are fixed (`TZ=UTC`, runs with fixed timestamps); what the store stamps with the current
//! time (flags, events, runs logged without --start) is masked as `<now>`.

use mltrace_api::client::{Backend, Call, DataDir, HttpClient, commands, queries};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mltrace");

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// A running `mltrace serve` on 127.0.0.1, port chosen by the OS; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(dir: &Path) -> Server {
        Server::start_with(dir, &[])
    }

    fn start_with(dir: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env_remove("MLTRACE_TOKEN")
            .env_remove("MLTRACE_READ_TOKEN")
            .env_remove("MLTRACE_ADDR")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mltrace serve");
        let stderr = child.stderr.take().expect("the server's stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            // Keep draining, so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1)
                    && let Some(t) = tx.take()
                {
                    let _ = t.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(30)).expect("the server says where it listens");
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the commands run: a working directory, a data directory, and perhaps a server on it.
struct Env {
    _tmp: tempfile::TempDir,
    cwd: PathBuf,
    data: PathBuf,
    server: Option<Server>,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().expect("a temporary directory");
        let cwd = tmp.path().join("work");
        std::fs::create_dir_all(&cwd).expect("the working directory");
        let data = tmp.path().join("data");
        Env { cwd, data, _tmp: tmp, server: None }
    }

    fn with_server() -> Env {
        let mut env = Env::new();
        std::fs::create_dir_all(&env.data).expect("the data directory");
        env.server = Some(Server::start(&env.data));
        env
    }

    fn url(&self) -> &str {
        &self.server.as_ref().expect("a server").url
    }

    /// The command, configured for this environment: server mode when there is a server.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = self.base_cmd(args);
        if let Some(s) = &self.server {
            c.env("MLTRACE_SERVER", &s.url);
        }
        c
    }

    /// The command on the data directory, even when a server runs on it.
    fn dir_cmd(&self, args: &[&str]) -> Command {
        let mut c = self.base_cmd(args);
        c.env_remove("MLTRACE_SERVER");
        c
    }

    fn base_cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(&self.cwd)
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .env("USER", "tester")
            .env("MLTRACE_DATA_DIR", &self.data)
            .env_remove("MLTRACE_SERVER")
            .env_remove("MLTRACE_TOKEN")
            .env_remove("DB_SERVER")
            .env_remove("CLICOLOR_FORCE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    fn backend(&self) -> Box<dyn Backend> {
        match &self.server {
            Some(s) => Box::new(HttpClient::new(&s.url)),
            None => Box::new(DataDir::new(&self.data)),
        }
    }

    /// Loads the fixture pipeline (12 runs) and registers its components.
    fn load_pipeline(&self) {
        let b = self.backend();
        let register = |name: &str, description: &str, owner: &str, tags: &[&str]| {
            let tags = tags.iter().map(|s| s.to_string()).collect();
            let r =
                commands::Register { name: name.into(), description: description.into(), owner: owner.into(), tags };
            b.call(&r).expect("register");
        };
        register("ingest", "Pulls raw events from the lake", "data-eng", &["etl"]);
        register("clean", "Drops malformed events", "data-eng", &["etl"]);
        register("featuregen", "Churn features per customer", "data-eng", &["etl", "features"]);
        register("train", "Trains the churn model", "ml-team", &[]);
        drop(b);
        let fixture = golden_dir().join("pipeline.ndjson");
        let out = self.cmd(&["import", fixture.to_str().expect("utf-8 path")]).output().expect("import");
        assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
}

fn run(mut c: impl std::borrow::BorrowMut<Command>) -> Output {
    c.borrow_mut().output().expect("run mltrace")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a failure: this exit code, nothing on stdout, one line on stderr containing `needle`.
fn assert_fails(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "exit code; stderr: {err}");
    assert_eq!(stdout(o), "", "nothing on stdout");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err:?}");
    assert!(err.starts_with("mltrace: "), "{err}");
    assert!(err.contains(needle), "stderr {err:?} should contain {needle:?}");
}

// ---------------------------------------------------------------------------------------------
// Golden files.

/// Splits a command line like a shell: spaces separate, '…' and "…" quote.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                any = true;
            }
            None if c == ' ' => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            None => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Replaces what depends on when and where the test runs: times near now, the data directory,
/// the server's URL, the time a `run` took.
fn mask(text: &str, env: &Env, now: chrono::DateTime<chrono::Utc>) -> String {
    let mut s = text.to_string();
    if let Some(srv) = &env.server {
        s = s.replace(&format!("the server at {}", srv.url), "<target>");
    }
    s = s.replace(&format!("the data directory {}", env.data.display()), "<target>");
    s = s.replace(&env.data.display().to_string(), "<data>");
    s = mask_times(&s, now);
    // `(ran 12ms)`: how long a command took.
    while let Some(at) = s.find("(ran ").filter(|&i| !s[i..].starts_with("(ran <t>)")) {
        match s[at..].find(')') {
            Some(end) => s.replace_range(at..at + end + 1, "(ran <t>)"),
            None => break,
        }
    }
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}

/// Local times (`2026-11-26 04:31:09 +00:00`) and RFC 3339 times (`2026-11-26T04:31:09.123Z`)
/// within two days of now become `<now>` (padded to keep tables aligned).
fn mask_times(text: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let near = |t: chrono::DateTime<chrono::Utc>| (t - now).num_hours().abs() < 48;
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let b = text.as_bytes();
    while i < b.len() {
        if let Some(local) = text.get(i..i + 26)
            && let Ok(t) = chrono::DateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S %:z")
            && near(t.to_utc())
        {
            out.push_str(&format!("{:<26}", "<now>"));
            i += 26;
            continue;
        }
        if let Some(rfc) = text.get(i..i + 24)
            && let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc)
            && near(t.to_utc())
        {
            out.push_str("<now>");
            i += 24;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Runs the script's commands in `env` and answers the transcript: each command, its stdout, its
/// stderr lines prefixed `! `, and `[exit N]` when it did not succeed.
fn transcript(script: &str, env: &Env) -> String {
    let now = chrono::Utc::now();
    let mut out = String::new();
    for line in script.lines() {
        if line.starts_with("## ") {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let Some(cmd) = line.strip_prefix("$ ") else { continue };
        let args = words(cmd);
        assert_eq!(args.first().map(String::as_str), Some("mltrace"), "script lines start with `$ mltrace`: {line}");
        let argv: Vec<&str> = args[1..].iter().map(String::as_str).collect();
        let o = run(env.cmd(&argv));
        out.push_str(line);
        out.push('\n');
        let body = mask(&stdout(&o), env, now);
        if !body.trim().is_empty() {
            out.push_str(body.trim_end_matches('\n'));
            out.push('\n');
        }
        for l in mask(&stderr(&o), env, now).lines() {
            out.push_str(&format!("! {l}\n"));
        }
        if !o.status.success() {
            out.push_str(&format!("[exit {}]\n", o.status.code().unwrap_or(-1)));
        }
        out.push('\n');
    }
    out
}

fn check_golden(name: &str, env: &Env) {
    let path = golden_dir().join(name);
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let actual = transcript(&expected, env);
    if std::env::var_os("MLTRACE_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::write(&path, &actual).expect("write the golden file");
        return;
    }
    if actual != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(8)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "{} differs ({} expected lines, {} actual); first differences:\n{}\n(MLTRACE_UPDATE_GOLDEN=1 rewrites it)",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}

fn golden_env(env: &Env) {
    std::fs::write(
        env.cwd.join("bad.ndjson"),
        "{\"component\":\"a\",\"start\":1,\"end\":2}\n\n{\"component\":\"b\",\"start\":5,\"end\":1}\n",
    )
    .expect("write bad.ndjson");
    env.load_pipeline();
}

#[test]
fn golden_every_command_on_a_data_directory() {
    let env = Env::new();
    golden_env(&env);
    check_golden("commands.txt", &env);
}

#[test]
fn golden_every_command_through_a_server_prints_the_same() {
    let env = Env::with_server();
    golden_env(&env);
    // The update run writes the file from the data-directory test only.
    if std::env::var_os("MLTRACE_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        return;
    }
    check_golden("commands.txt", &env);
}

// ---------------------------------------------------------------------------------------------
// --json: the API's bytes, in both modes.

/// GET an API path from the server: the raw body.
fn api_get(url: &str, path: &str) -> String {
    let resp = ureq::get(&format!("{url}/api/v1{path}")).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let mut body = String::new();
    resp.into_reader().read_to_string(&mut body).expect("read the body");
    body
}

#[test]
fn json_is_the_apis_json_in_server_and_data_dir_mode() {
    let env = Env::with_server();
    env.load_pipeline();
    // Three flags, so that coverage is 1/3: a float that only survives the client's
    // parse-and-print when serde_json parses exactly.
    let flag = run(env.cmd(&[
        "flag",
        "preds/2025-03-02/batch-001.jsonl",
        "preds/2025-03-01/batch-002.jsonl",
        "reports/2025-04-15.md",
        "--by",
        "bob",
    ]));
    assert!(flag.status.success(), "{}", stderr(&flag));
    let notes = run(env.cmd(&["notes", "4", "baseline"]));
    assert!(notes.status.success(), "{}", stderr(&notes));
    let pred = "preds%2F2025-03-02%2Fbatch-001.jsonl";
    let cases: &[(&[&str], String)] = &[
        (&["recent"], "/runs?limit=20".into()),
        (&["recent", "-n", "5", "--before", "9"], "/runs?limit=5&before=9".into()),
        (&["recent", "--as-of", "8"], "/runs?limit=20&as_of=8".into()),
        (&["history", "infer"], "/components/infer/runs?limit=10".into()),
        (
            &["history", "infer", "--since", "2025-03-02T00:00:00Z", "--until", "2025-03-02T23:00:00Z"],
            "/components/infer/runs?limit=10&since=2025-03-02T00:00:00Z&until=2025-03-02T23:00:00Z".into(),
        ),
        (&["inspect", "4"], "/runs/4".into()),
        (&["inspect", "10", "--as-of", "15"], "/runs/10?as_of=15".into()),
        (&["trace", "preds/2025-03-02/batch-001.jsonl"], format!("/trace?output={pred}")),
        (
            &["trace", "preds/2025-03-02/batch-001.jsonl", "--max-depth", "1"],
            format!("/trace?output={pred}&max_depth=1"),
        ),
        (&["trace", "raw/2025-03-01.csv"], "/trace?output=raw%2F2025-03-01.csv".into()),
        (&["downstream", "raw/2025-03-01.csv"], "/downstream?output=raw%2F2025-03-01.csv".into()),
        (&["components"], "/components".into()),
        (&["components", "--tag", "etl", "--owner", "data-eng"], "/components?tag=etl&owner=data-eng".into()),
        (&["tags"], "/tags".into()),
        (&["flags"], "/flags".into()),
        (&["review"], "/review".into()),
        (&["review", "-n", "2"], "/review?limit=2".into()),
        (&["review", "--as-of", "17"], "/review?as_of=17".into()),
        (&["review", "--rank", "specificity"], "/review?rank=specificity".into()),
        (&["outdated"], "/outdated".into()),
        (&["stats"], "/stats".into()),
    ];
    for (args, path) in cases {
        let mut argv: Vec<&str> = args.to_vec();
        argv.push("--json");
        let api = api_get(env.url(), path);
        let server = run(env.cmd(&argv));
        assert!(server.status.success(), "{argv:?}: {}", stderr(&server));
        assert_eq!(stdout(&server), format!("{api}\n"), "{argv:?} through the server vs GET {path}");
        let dir = run(env.dir_cmd(&argv));
        assert!(dir.status.success(), "{argv:?} on the data directory: {}", stderr(&dir));
        assert_eq!(stdout(&dir), stdout(&server), "{argv:?} on the data directory vs through the server");
    }
    let review = api_get(env.url(), "/review");
    assert!(review.contains("\"coverage\":0.3333333333333333"), "{review}");
    // Export is the event stream, line for line.
    let events = api_get(env.url(), "/events");
    let server = run(env.cmd(&["export"]));
    assert_eq!(stdout(&server), events, "export through the server vs GET /events");
    assert_eq!(stdout(&run(env.dir_cmd(&["export"]))), events, "export on the data directory vs GET /events");
    let tail = run(env.cmd(&["export", "--after", "10", "--as-of", "12"]));
    let seqs: Vec<u64> = stdout(&tail)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(seqs, vec![11, 12]);
}

#[test]
fn json_of_writes_is_the_apis_answer() {
    let env = Env::with_server();
    env.load_pipeline();
    let o =
        run(env.cmd(&["log", "-c", "score", "-i", "models/churn-v1.pkl", "--start", "2025-03-03T00:00:00Z", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
    assert_eq!(v["runs"][0]["id"], 13);
    assert_eq!(v["runs"][0]["dependencies"], serde_json::json!([4]));
    let o = run(env.cmd(&["flag", "models/churn-v1.pkl", "--json"]));
    assert_eq!(stdout(&o), "{\"flagged\":[\"models/churn-v1.pkl\"]}\n");
    let o = run(env.cmd(&["unflag", "--all", "--json"]));
    assert_eq!(stdout(&o), "{\"unflagged\":[\"models/churn-v1.pkl\"]}\n");
    let o = run(env.cmd(&["notes", "13", "hello", "--json"]));
    assert_eq!(stdout(&o), format!("{}\n", api_get(env.url(), "/runs/13")));
    let o = run(env.cmd(&["tag", "score", "reports", "--json"]));
    assert_eq!(stdout(&o), "{\"name\":\"score\",\"description\":\"\",\"owner\":\"\",\"tags\":[\"reports\"]}\n");
}

// ---------------------------------------------------------------------------------------------
// Where the command reads and writes.

#[test]
fn a_write_to_a_directory_held_by_a_server_names_the_server() {
    let env = Env::with_server();
    env.load_pipeline();
    let o = run(env.dir_cmd(&["flag", "models/churn-v1.pkl"]));
    assert_fails(&o, 1, env.url());
    assert!(stderr(&o).contains("in use by another writer"), "{}", stderr(&o));
    // `run` finds out before it starts the command.
    let marker = env.cwd.join("ran");
    let o = run(env.dir_cmd(&["run", "-c", "x", "--", "touch", marker.to_str().expect("utf-8")]));
    assert_fails(&o, 1, env.url());
    assert!(!marker.exists(), "the command must not run when its run could not be logged");
    // Reads work beside the server.
    let o = run(env.dir_cmd(&["recent", "-n", "1"]));
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn an_unreachable_server_is_named_and_nothing_runs() {
    let env = Env::new();
    let o = run(env.base_cmd(&["recent", "--server", "http://127.0.0.1:9"]));
    assert_fails(&o, 1, "cannot reach the mltrace server at http://127.0.0.1:9");
    let o = run(env.base_cmd(&["--server", "127.0.0.1:9", "stats"]));
    assert_fails(&o, 1, "http://127.0.0.1:9");
    let marker = env.cwd.join("ran");
    let mut c = env.base_cmd(&["run", "-c", "x", "--", "touch", marker.to_str().expect("utf-8")]);
    c.env("MLTRACE_SERVER", "http://127.0.0.1:9");
    assert_fails(&run(c), 1, "cannot reach the mltrace server at http://127.0.0.1:9");
    assert!(!marker.exists());
}

#[test]
fn server_settings_follow_the_documented_order() {
    let env = Env::with_server();
    env.load_pipeline();
    let port = env.url().rsplit(':').next().expect("a port").to_string();
    // DB_SERVER=host:port, as the original client's variable (host alone means port 8080).
    let mut c = env.base_cmd(&["stats", "--json"]);
    c.env_remove("MLTRACE_DATA_DIR").env("DB_SERVER", format!("127.0.0.1:{port}"));
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("{}\n", api_get(env.url(), "/stats")));
    // A flag beats the environment; --server and --data-dir together are a usage error.
    let mut c = env.base_cmd(&["recent", "--server", "http://127.0.0.1:9"]);
    c.env("MLTRACE_SERVER", env.url());
    assert_fails(&run(c), 1, "127.0.0.1:9");
    let o = run(env.base_cmd(&["recent", "--server", env.url(), "--data-dir", "x"]));
    assert_fails(&o, 2, "give --server or --data-dir, not both");
    // The options work before the command too.
    let o = run(env.base_cmd(&["--server", env.url(), "recent", "-n", "1", "--json"]));
    assert_eq!(stdout(&o), format!("{}\n", api_get(env.url(), "/runs?limit=1")));
}

#[test]
fn a_server_with_tokens_is_told_the_token() {
    let mut env = Env::new();
    std::fs::create_dir_all(&env.data).expect("the data directory");
    env.server = Some(Server::start_with(&env.data, &["--token", "w-secret-token", "--read-token", "r-secret-token"]));
    let o = run(env.cmd(&["recent"]));
    assert_fails(&o, 1, "needs `Authorization: Bearer <token>` (pass --token or set MLTRACE_TOKEN)");
    let o = run(env.cmd(&["recent", "--token", "r-secret-token"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut c = env.cmd(&["log", "-c", "a", "-o", "x"]);
    c.env("MLTRACE_TOKEN", "r-secret-token");
    assert_fails(&run(c), 1, "read-only token cannot change anything");
    let mut c = env.cmd(&["log", "-c", "a", "-o", "x", "--quiet"]);
    c.env("MLTRACE_TOKEN", "w-secret-token");
    let o = run(c);
    assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
}

#[test]
fn a_missing_data_directory_says_so() {
    let env = Env::new();
    let o = run(env.base_cmd(&["recent"]));
    assert_fails(&o, 1, "holds no mltrace log");
    let o = run(env.base_cmd(&["verify"]));
    assert_fails(&o, 1, "holds no mltrace log");
}

// ---------------------------------------------------------------------------------------------
// run, import, verify.

#[test]
fn run_passes_the_exit_code_through_and_logs_only_success() {
    let env = Env::new();
    let o = run(env.cmd(&["run", "-c", "step", "-o", "out.txt", "--", "sh", "-c", "exit 7"]));
    assert_eq!(o.status.code(), Some(7));
    assert!(stderr(&o).contains("exited with 7"), "{}", stderr(&o));
    assert!(!env.data.join("log").exists(), "nothing was written");
    let o = run(env.cmd(&[
        "run",
        "-c",
        "step",
        "-i",
        "in.txt",
        "-o",
        "out.txt",
        "--",
        "sh",
        "-c",
        "echo hi; echo err >&2",
    ]));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "hi\n", "the command's stdout is untouched");
    assert!(stderr(&o).starts_with("err\nmltrace: logged run step #1"), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&run(env.cmd(&["inspect", "1", "--json"])))).expect("JSON");
    assert_eq!(v["code_snapshot"], "sh -c 'echo hi; echo err >&2'");
    assert_eq!(v["inputs"][0]["name"], "in.txt");
    assert_eq!(v["outputs"][0]["name"], "out.txt");
    assert!(v["duration_ms"].as_i64().expect("duration") >= 0);
    let o = run(env.cmd(&["run", "-c", "step", "--", "sh", "-c", "kill -TERM $$"]));
    assert_eq!(o.status.code(), Some(128 + 15), "a signal is passed on as 128 + N");
}

#[test]
fn run_records_the_git_commit_of_the_working_directory() {
    let env = Env::new();
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(&env.cwd)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .output()
    };
    let Ok(init) = git(&["init", "-q"]) else { return }; // no git here: nothing to check
    assert!(init.status.success());
    std::fs::write(env.cwd.join("f"), "x").expect("write");
    assert!(git(&["add", "f"]).expect("git add").status.success());
    assert!(git(&["commit", "-q", "-m", "one"]).expect("git commit").status.success());
    assert!(git(&["tag", "v9"]).expect("git tag").status.success());
    let head = String::from_utf8_lossy(&git(&["rev-parse", "HEAD"]).expect("rev-parse").stdout).trim().to_string();
    let o = run(env.cmd(&["run", "-c", "step", "--", "true"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&run(env.cmd(&["inspect", "1", "--json"])))).expect("JSON");
    assert_eq!(v["git_hash"], head.as_str());
    assert_eq!(v["git_tags"], serde_json::json!(["v9"]));
    let o = run(env.cmd(&["log", "-c", "step", "--git", "auto", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&run(env.cmd(&["inspect", "2", "--json"])))).expect("JSON");
    assert_eq!(v["git_hash"], head.as_str());
}

/// `n` runs of a chain, as NDJSON.
fn chain_ndjson(n: usize) -> String {
    (0..n)
        .map(|i| {
            let input = if i == 0 { String::new() } else { format!("\"step-{}.csv\"", i - 1) };
            format!(
                "{{\"component\":\"c{}\",\"start\":{},\"end\":{},\"inputs\":[{input}],\"outputs\":[\"step-{i}.csv\"]}}\n",
                i % 7,
                1_740_000_000_000u64 + i as u64 * 1000,
                1_740_000_000_500u64 + i as u64 * 1000
            )
        })
        .collect()
}

#[test]
fn import_sends_batches_and_a_bad_line_writes_nothing() {
    for env in [Env::new(), Env::with_server()] {
        let mut text = chain_ndjson(2_500);
        // A bad line after 2,000 good ones: nothing at all is written.
        let lines: Vec<&str> = text.lines().collect();
        let mut bad = lines[..2_000].join("\n");
        bad.push_str("\n{\"component\":\"x\",\"start\":\"noon\",\"end\":1}\n");
        std::fs::write(env.cwd.join("bad.ndjson"), bad).expect("write");
        let o = run(env.cmd(&["import", "bad.ndjson"]));
        assert_fails(&o, 2, "line 2001: start: `noon` is not an RFC 3339 time");
        let stats = run(env.cmd(&["stats", "--json"]));
        if env.server.is_none() {
            assert_fails(&stats, 1, "holds no mltrace log");
        } else {
            assert!(stdout(&stats).contains("\"runs\":0"), "{}", stdout(&stats));
        }
        // From standard input, in three batches.
        let mut c = env.cmd(&["import", "-", "--json"]);
        c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed stdin");
        let o = child.wait_with_output().expect("wait");
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        let runs = v["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 2_500);
        assert_eq!(runs[2_499]["dependencies"], serde_json::json!([2_499]), "the last batch sees the first");
        // A line the store refuses (unknown upstream) is named by its line number.
        text = "{\"component\":\"a\",\"start\":1,\"end\":2}\n\n{\"component\":\"b\",\"start\":1,\"end\":2,\"upstream\":[\"zzz\"]}\n".into();
        std::fs::write(env.cwd.join("up.ndjson"), &text).expect("write");
        let o = run(env.cmd(&["import", "up.ndjson"]));
        assert_fails(&o, 2, "line 3: upstream[0] names the unknown component `zzz` (nothing was imported)");
    }
}

#[test]
fn verify_reports_the_first_fault_with_file_and_offset() {
    let env = Env::new();
    env.load_pipeline();
    let o = run(env.cmd(&["verify"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok "), "{}", stdout(&o));
    // Flip one byte in the middle of the first segment.
    let seg = env.data.join("log").join("00000001.seg");
    let mut bytes = std::fs::read(&seg).expect("read the segment");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&seg, &bytes).expect("write the segment");
    let o = run(env.cmd(&["verify"]));
    assert_fails(&o, 1, &format!("{}", seg.display()));
    assert!(stderr(&o).contains("at offset "), "{}", stderr(&o));
    let o = run(env.cmd(&["verify", "--server", "http://127.0.0.1:9"]));
    assert_fails(&o, 2, "pass --data-dir DIR");
}

// ---------------------------------------------------------------------------------------------
// Pipes, help, completions.

#[test]
fn a_closed_pipe_is_not_an_error() {
    let env = Env::new();
    std::fs::write(env.cwd.join("many.ndjson"), chain_ndjson(3_000)).expect("write");
    assert!(run(env.cmd(&["import", "many.ndjson"])).status.success());
    for args in
        [&["recent", "-n", "1000"][..], &["export"], &["recent", "-n", "1000", "--json"], &["trace", "step-2999.csv"]]
    {
        // `mltrace … | head -1`: read one line, then close the pipe.
        let mut child = env.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("one line");
        assert!(!first.is_empty());
        drop(out);
        let o = child.wait_with_output().expect("wait");
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{args:?} says nothing about the closed pipe");
    }
    // A reader that is gone before the first write.
    let mut child = env.cmd(&["export"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
    drop(child.stdout.take());
    let o = child.wait_with_output().expect("wait");
    assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()));
}

const COMMANDS: &[&str] = &[
    "serve",
    "log",
    "run",
    "import",
    "export",
    "recent",
    "history",
    "inspect",
    "trace",
    "downstream",
    "components",
    "tags",
    "tag",
    "flag",
    "unflag",
    "flags",
    "review",
    "outdated",
    "notes",
    "verify",
    "stats",
    "completions",
];

#[test]
fn every_command_has_help_with_an_example() {
    let top = run(Command::new(BIN).arg("--help"));
    assert!(top.status.success());
    for c in COMMANDS {
        assert!(stdout(&top).contains(&format!("  {c} ")), "`mltrace --help` lists {c}");
        let o = run(Command::new(BIN).args([c, "--help"]));
        assert!(o.status.success(), "{c} --help");
        assert!(stdout(&o).contains("Examples:"), "`mltrace {c} --help` has examples:\n{}", stdout(&o));
        assert!(stdout(&o).contains(&format!("mltrace {c}")), "{c}'s examples use it");
    }
    let o = run(Command::new(BIN).arg("--version"));
    assert!(stdout(&o).starts_with("mltrace "));
    // No command: the help, and exit 2.
    let o = run(Command::new(BIN));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(Command::new(BIN).args(["completions", shell]));
        assert!(o.status.success(), "{shell}");
        let text = stdout(&o);
        assert!(text.contains("mltrace") && text.contains("downstream") && text.contains("as-of"), "{shell}");
    }
    assert_fails(&run(Command::new(BIN).args(["completions", "tcsh"])), 2, "invalid value 'tcsh'");
}

#[test]
fn colour_only_on_request_and_never_with_no_color() {
    let env = Env::new();
    env.load_pipeline();
    let plain = run(env.cmd(&["recent", "-n", "2"]));
    assert!(!stdout(&plain).contains('\x1b'), "not a terminal: no colour");
    let mut c = env.cmd(&["recent", "-n", "2"]);
    c.env_remove("NO_COLOR").env("CLICOLOR_FORCE", "1");
    let coloured = stdout(&run(c));
    assert!(coloured.contains("\x1b[33m⚠ stale\x1b[0m"), "{coloured}");
    let mut c = env.cmd(&["recent", "-n", "2"]);
    c.env("CLICOLOR_FORCE", "1");
    assert!(!stdout(&run(c)).contains('\x1b'), "NO_COLOR wins");
}

#[test]
fn times_are_local_with_their_offset() {
    let env = Env::new();
    env.load_pipeline();
    let mut c = env.cmd(&["inspect", "1"]);
    c.env("TZ", "Asia/Kolkata");
    let card = stdout(&run(c));
    assert!(card.contains("2025-03-01 06:30:00 +05:30"), "{card}");
}

#[test]
fn the_probe_for_a_default_server_knows_an_mltrace_server() {
    let env = Env::with_server();
    let url = env.url().to_string();
    assert!(HttpClient::probe(&url, Duration::from_millis(300)));
    drop(env);
    let t = Instant::now();
    assert!(!HttpClient::probe(&url, Duration::from_millis(300)), "a stopped server");
    assert!(t.elapsed() < Duration::from_secs(5));
    // Some other program answering HTTP on the port is not a server to log to.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let other = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten().take(1) {
            let mut stream = stream;
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello");
        }
    });
    assert!(!HttpClient::probe(&other, Duration::from_millis(300)), "another program");
}

// ---------------------------------------------------------------------------------------------
// Rust pipelines: mltrace_api::instrument over a server and over a data directory.

mod pipeline {
    use super::*;
    use mltrace_api::instrument::{Checks, Component, RunError, RunView, Test};

    struct HasInputs;
    impl Test for HasInputs {
        fn before(&self, run: &RunView<'_>, checks: &mut Checks) {
            checks.check("declared", if run.inputs.is_empty() { Err("no inputs") } else { Ok(()) });
        }
    }

    struct RowsAbove(usize);
    impl Test for RowsAbove {
        fn name(&self) -> String {
            "RowsTest".into()
        }
        fn after(&self, run: &RunView<'_>, checks: &mut Checks) {
            let rows = run.value::<usize>().copied().unwrap_or(0);
            checks.check("enough", if rows > self.0 { Ok(()) } else { Err(format!("{rows} rows")) });
        }
    }

    fn steps(b: &dyn Backend) {
        let ingest = Component::new("ingest").owner("data-eng").tags(["etl"]).git_dir(None);
        let clean = Component::new("clean")
            .description("Drops malformed rows")
            .git_dir(None)
            .code_snapshot("fn clean() {}")
            .before_test(HasInputs)
            .after_test(RowsAbove(2));
        ingest.register(b).expect("register");
        clean.register(b).expect("register");
        let raw = ingest.run().output("raw.csv").call(b, |_| Ok::<_, String>(10usize)).expect("ingest");
        let ok = clean.run().input("raw.csv").call(b, |ctx| {
            ctx.output("clean.csv").note("kept 9 of 10");
            Ok::<_, String>(9usize)
        });
        let ok = ok.expect("clean");
        assert_eq!(ok.logged.dependencies, vec![raw.logged.id]);
        assert_eq!(ok.tests.len(), 2);
        // A failing before-test: the body never runs, nothing is logged.
        let before = b.call(&queries::Stats::default()).expect("stats").last_seq;
        let e = clean.run().call(b, |_| -> Result<usize, String> { panic!("must not run") }).expect_err("must fail");
        assert!(matches!(e, RunError::BeforeTests(_)), "{e}");
        // The body's error: nothing logged.
        let e =
            clean.run().input("raw.csv").call(b, |_| Err::<usize, _>("disk full".to_string())).expect_err("must fail");
        assert_eq!(e.to_string(), "the run failed and was not logged: disk full");
        assert_eq!(b.call(&queries::Stats::default()).expect("stats").last_seq, before, "nothing was logged");
        // A failing after-test: logged with its results, then reported.
        let e = clean
            .run()
            .input("raw.csv")
            .output("clean.csv")
            .call(b, |_| Ok::<_, String>(1usize))
            .expect_err("must fail");
        let RunError::AfterTests { logged, failed } = e else { panic!("expected after-test failures") };
        assert_eq!(failed[0].name, "RowsTest.enough");
        assert_eq!(failed[0].message.as_deref(), Some("1 rows"));
        let run = b.call(&queries::Run { id: logged.id, as_of: None, proof: false }).expect("the run");
        assert!(run.tests.iter().any(|t| t.name == "RowsTest.enough" && !t.passed));
        assert_eq!(run.code_snapshot.as_deref(), Some("fn clean() {}"));
    }

    fn check_with_the_command(env: &Env) {
        let o = run(env.cmd(&["trace", "clean.csv", "--json"]));
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).expect("JSON");
        let ids: Vec<u64> =
            v["nodes"].as_array().expect("nodes").iter().map(|n| n["run"]["id"].as_u64().expect("id")).collect();
        assert_eq!(ids, vec![3, 1], "the latest producer of clean.csv (the run whose after-test failed), then ingest");
        let o = run(env.cmd(&["inspect", "2"]));
        let card = stdout(&o);
        assert!(card.contains("✓ before  HasInputs.declared") && card.contains("✓ after   RowsTest.enough"), "{card}");
        assert!(card.contains("kept 9 of 10"), "{card}");
    }

    #[test]
    fn instrumented_runs_over_a_server() {
        let env = Env::with_server();
        steps(&HttpClient::new(env.url()));
        check_with_the_command(&env);
    }

    #[test]
    fn instrumented_runs_over_a_data_directory() {
        let env = Env::new();
        steps(&DataDir::new(&env.data));
        check_with_the_command(&env);
    }

    #[test]
    fn the_example_pipeline_runs_end_to_end() {
        // Built by `cargo test --workspace` (examples are compiled with the tests).
        let example = Path::new(BIN).with_file_name("examples").join("pipeline");
        if !example.exists() {
            eprintln!("skipped: {} is not built (cargo build --workspace --examples)", example.display());
            return;
        }
        let env = Env::with_server();
        let o = run(Command::new(&example).env("MLTRACE_SERVER", env.url()).env_remove("MLTRACE_DATA_DIR"));
        assert!(o.status.success(), "{}", stderr(&o));
        let text = stdout(&o);
        assert!(text.contains("was made by:") && text.contains(&format!("--server {}", env.url())), "{text}");
        let o = run(env.cmd(&["review"]));
        assert!(o.status.success());
        let v: serde_json::Value = serde_json::from_str(&stdout(&run(env.cmd(&["recent", "--json"])))).expect("JSON");
        let comps: Vec<&str> =
            v["runs"].as_array().expect("runs").iter().map(|r| r["component"].as_str().unwrap_or("")).collect();
        assert_eq!(comps, vec!["infer", "train", "featuregen", "clean", "ingest"]);
    }
}

#[test]
fn a_chain_of_20000_runs_traces_without_running_out_of_stack() {
    let env = Env::new();
    std::fs::write(env.cwd.join("chain.ndjson"), chain_ndjson(20_000)).expect("write");
    assert!(run(env.cmd(&["import", "chain.ndjson"])).status.success());
    let o = run(env.cmd(&["trace", "step-19999.csv"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(text.lines().count(), 10_002, "header, 10,000 runs, and the cut");
    assert!(text.ends_with("… cut at 10,000 runs (raise --limit)\n"));
    assert!(text.contains("  ⋮ [depth 25] "), "deep levels say their depth instead of moving right");
    let o = run(env.cmd(&["downstream", "step-0.csv", "--limit", "20000"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("[depth 19999]"));
}

/// What bash offers after `words` (the last one being typed), with the real generated script.
fn bash_completes(env: &Env, words: &[&str]) -> Vec<String> {
    let script = stdout(&run(env.dir_cmd(&["completions", "bash"])));
    let script_path = env.cwd.join("mltrace.bash");
    std::fs::write(&script_path, script).expect("script");
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'; COMP_WORDS=({}); COMP_CWORD={}; COMP_LINE='{}'; COMP_POINT=${{#COMP_LINE}}; \
         _mltrace_names mltrace {} {}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script_path.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        quoted[words.len() - 1],
        quoted[words.len() - 2],
    );
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let o = run(env.dir_cmd(&[]).env("PATH", path).arg0_bash(&program));
    stdout(&o).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

trait Bash {
    fn arg0_bash(&mut self, program: &str) -> Command;
}

impl Bash for Command {
    /// The same environment, running bash instead of mltrace.
    fn arg0_bash(&mut self, program: &str) -> Command {
        let mut c = Command::new("bash");
        c.args(["--norc", "-c", program]);
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(dir) = self.get_current_dir() {
            c.current_dir(dir);
        }
        c
    }
}

#[test]
fn bash_completes_output_and_component_names_from_the_store() {
    let env = Env::new();
    env.load_pipeline();
    let outputs = bash_completes(&env, &["mltrace", "trace", "features/"]);
    assert!(!outputs.is_empty() && outputs.iter().all(|o| o.starts_with("features/")), "{outputs:?}");
    let components = bash_completes(&env, &["mltrace", "history", "fe"]);
    assert_eq!(components, vec!["featuregen".to_string()]);
    // Options and other commands fall back to the generated completion.
    let flags = bash_completes(&env, &["mltrace", "trace", "--max"]);
    assert!(flags.iter().any(|f| f == "--max-depth"), "{flags:?}");
    let o = run(env.dir_cmd(&["__complete", "components", "tr"]));
    assert_eq!(stdout(&o).trim(), "train");
}

// ---------------------------------------------------------------------------------------------
// First run and everyday use: the rough edges a new user hit, each pinned by a test.

/// The command with nothing configured: no MLTRACE_* variables, so it probes the default server.
fn unconfigured(env: &Env, args: &[&str]) -> Command {
    let mut c = env.base_cmd(args);
    c.env_remove("MLTRACE_DATA_DIR");
    c
}

#[test]
fn a_write_with_no_server_and_no_data_directory_fails_and_writes_nothing() {
    let env = Env::new();
    if HttpClient::probe(mltrace_api::client::DEFAULT_SERVER, Duration::from_millis(300)) {
        // A server on the default port would rightly take the write; nothing to check here then.
        eprintln!("skipped: a server answers at {}", mltrace_api::client::DEFAULT_SERVER);
        return;
    }
    for args in [
        &["log", "-c", "ingest", "-o", "raw.csv"][..],
        &["flag", "raw.csv"],
        &["tag", "ingest", "etl"],
        &["notes", "1", "hello"],
        &["run", "-c", "ingest", "-o", "raw.csv", "true"],
    ] {
        let o = run(unconfigured(&env, args));
        assert_fails(&o, 1, "no server answers at http://127.0.0.1:8080 and no data directory was chosen");
        assert!(stderr(&o).contains("mltrace serve") && stderr(&o).contains("--data-dir"), "{}", stderr(&o));
    }
    assert!(!env.cwd.join("mltrace-data").exists(), "nothing may be created in the working directory");
    // An explicit data directory works, and a read of ./mltrace-data says where it read.
    let o = run(unconfigured(&env, &["log", "-c", "ingest", "-o", "raw.csv", "--data-dir", "mltrace-data"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(unconfigured(&env, &["recent"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("reading the data directory mltrace-data"), "{}", stderr(&o));
}

#[test]
fn run_takes_the_command_without_dashes_and_one_name_per_flag() {
    let env = Env::new();
    let o = run(env.cmd(&["run", "-c", "train", "-i", "a.csv", "-o", "model.pkl", "sh", "-c", "echo trained"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "trained\n", "the command's own output, untouched");
    let card = stdout(&run(env.cmd(&["inspect", "1", "--json"])));
    let v: serde_json::Value = serde_json::from_str(&card).expect("json");
    assert_eq!(v["outputs"].as_array().map(Vec::len), Some(1), "{card}");
    assert_eq!(v["code_snapshot"], "sh -c 'echo trained'");
    // `--` still works, and the command may carry its own options.
    let o = run(env.cmd(&["run", "-c", "train", "-o", "m2.pkl", "--", "sh", "-c", "exit 0"]));
    assert!(o.status.success(), "{}", stderr(&o));
    // No command: the message says where it goes.
    let o = run(env.cmd(&["run", "-c", "train", "-o", "model.pkl"]));
    assert_fails(&o, 2, "give the command to run after the options");
    assert!(stderr(&o).contains("-- python train.py"), "{}", stderr(&o));
    // Two names after one -o: the second is the command, and the failure says why.
    let o = run(env.cmd(&["run", "-c", "train", "-o", "model.pkl", "extra.pkl"]));
    assert_eq!(o.status.code(), Some(127));
    assert!(stderr(&o).contains("each -i/-o takes one name"), "{}", stderr(&o));
}

#[test]
fn unknown_names_get_a_did_you_mean() {
    let env = Env::new();
    env.load_pipeline();
    let o = run(env.cmd(&["trace", "models/churn-v1.pk"]));
    assert_fails(&o, 1, "did you mean `models/churn-v1.pkl`");
    let o = run(env.cmd(&["trace", "./models/churn-v1.pkl"]));
    assert_fails(&o, 1, "did you mean `models/churn-v1.pkl`");
    let o = run(env.cmd(&["history", "trian"]));
    assert_fails(&o, 1, "did you mean `train`");
    let o = run(env.cmd(&["downstream", "nothing-like-it-at-all"]));
    assert_fails(&o, 1, "nothing-like-it-at-all");
    assert!(!stderr(&o).contains("did you mean"), "{}", stderr(&o));
}

#[test]
fn ids_print_as_hash_n_and_are_read_back_so_and_as_of_takes_a_date() {
    let env = Env::new();
    env.load_pipeline();
    let o = run(env.cmd(&["inspect", "#3", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"id\":3"), "{}", stdout(&o));
    let o = run(env.cmd(&["inspect", "#x"]));
    assert_fails(&o, 2, "is not a run id");
    let o = run(env.cmd(&["recent", "--as-of", "2000-01-01", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "{\"runs\":[]}\n");
    let o = run(env.cmd(&["recent", "--as-of", "2999-01-01 10:00", "-n", "1", "--json"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("\"id\":12"), "{}", stdout(&o));
}

#[test]
fn import_defaults_start_and_end_like_log_and_names_a_single_run_once() {
    let env = Env::new();
    let file = env.cwd.join("runs.ndjson");
    std::fs::write(&file, "{\"component\":\"ingest\",\"outputs\":[\"raw.csv\"]}\n").expect("write");
    let o = run(env.cmd(&["import", file.to_str().expect("utf-8")]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "imported 1 run (#1)\n");
    std::fs::write(&file, "{\"component\":\"a\",\"start\":\"2026-01-01T00:00:00Z\"}\n{\"component\":\"b\"}\n")
        .expect("write");
    let o = run(env.cmd(&["import", file.to_str().expect("utf-8")]));
    assert_eq!(stdout(&o), "imported 2 runs (#2–#3)\n", "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&run(env.cmd(&["inspect", "2", "--json"])))).expect("json");
    assert_eq!(v["end"], v["start"], "end defaults to start when only start is given");
}

#[test]
fn one_line_errors_keep_their_sentences_apart() {
    let env = Env::new();
    let o = run(env.cmd(&["trcae"]));
    assert_fails(&o, 2, "unrecognized subcommand 'trcae'; some similar subcommands exist");
    let o = run(env.cmd(&["unflag"]));
    assert_fails(&o, 2, "or pass --all");
}

#[test]
fn empty_and_short_tokens_are_refused_at_start() {
    let env = Env::new();
    for token in ["", "short", " padded-token-value "] {
        let o = run(env.base_cmd(&["serve", "--addr", "127.0.0.1:0", "--data-dir", "d", "--token", token]));
        assert_fails(&o, 2, "--token (MLTRACE_TOKEN) must be at least 12 characters");
    }
    let mut c = env.base_cmd(&["serve", "--addr", "127.0.0.1:0", "--data-dir", "d", "--read-token", "abc"]);
    c.env("MLTRACE_TOKEN", "a-long-enough-token");
    assert_fails(&run(c), 2, "--read-token");
    assert!(!env.cwd.join("d").exists(), "nothing was started");
}

#[test]
fn flags_name_who_flagged_even_without_user() {
    let env = Env::new();
    env.load_pipeline();
    let mut c = env.cmd(&["flag", "models/churn-v1.pkl"]);
    c.env_remove("USER").env_remove("LOGNAME");
    assert!(run(c).status.success());
    let flags = stdout(&run(env.cmd(&["flags", "--json"])));
    let v: serde_json::Value = serde_json::from_str(&flags).expect("json");
    let by = v["flags"][0]["by"].as_str().unwrap_or("");
    assert!(!by.is_empty(), "`by` falls back to the login name: {flags}");
}

mod https {
    use super::*;

    /// A CA, and a server certificate for 127.0.0.1 signed by it, written as PEM files.
    fn issue(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, format!("{name} test CA"));
        let ca = ca_params.self_signed(&ca_key).expect("CA certificate");
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).expect("params");
        let cert = params.signed_by(&key, &ca, &ca_key).expect("server certificate");
        let paths = (dir.join(format!("{name}-ca.pem")), dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&paths.0, ca.pem()).expect("write CA");
        std::fs::write(&paths.1, cert.pem()).expect("write cert");
        std::fs::write(&paths.2, key.serialize_pem()).expect("write key");
        paths
    }

    #[test]
    fn https_end_to_end_with_a_custom_ca_and_a_reload_on_sighup() {
        let mut env = Env::new();
        std::fs::create_dir_all(&env.data).expect("data");
        let (ca, cert, key) = issue(&env.cwd, "first");
        let cert_s = cert.to_str().expect("utf-8");
        let key_s = key.to_str().expect("utf-8");
        env.server = Some(Server::start_with(&env.data, &["--tls-cert", cert_s, "--tls-key", key_s]));
        let url = env.url().to_string();
        assert!(url.starts_with("https://127.0.0.1:"), "{url}");
        // The CLI, trusting the CA.
        let mut c = env.cmd(&["log", "-c", "ingest", "-o", "raw.csv", "--quiet"]);
        c.env("MLTRACE_CA_CERT", &ca);
        let o = run(c);
        assert_eq!(stdout(&o), "1\n", "{}", stderr(&o));
        let o = run(env.cmd(&["recent", "--json", "--ca-cert", ca.to_str().expect("utf-8")]));
        assert!(stdout(&o).contains("\"component\":\"ingest\""), "{}", stderr(&o));
        // Without the CA the certificate is refused, and the message says so.
        let o = run(env.cmd(&["recent"]));
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).to_lowercase().contains("certificate"), "{}", stderr(&o));
        // The Rust client.
        let client = HttpClient::new(&url).with_ca_cert(Some(&ca)).expect("CA loads");
        assert_eq!(client.call(&queries::Stats::default()).expect("stats over https").runs, 1);
        // Plain HTTP to a TLS port gets nowhere.
        assert!(ureq::get(&url.replace("https://", "http://")).call().is_err());
        // A new certificate from another CA, then SIGHUP: new connections get the new one.
        let (ca2, _, _) = issue(&env.cwd, "second");
        let pid = env.server.as_ref().expect("server").child.id().to_string();
        let killed = Command::new("kill").args(["-HUP", &pid]).status().expect("kill -HUP");
        assert!(killed.success());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let fresh = HttpClient::new(&url).with_ca_cert(Some(&ca2)).expect("CA loads");
            if fresh.call(&queries::Stats::default()).is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not pick up the new certificate");
            std::thread::sleep(Duration::from_millis(100));
        }
        let old = HttpClient::new(&url).with_ca_cert(Some(&ca)).expect("CA loads");
        assert!(old.call(&queries::Stats::default()).is_err(), "the old CA no longer matches");
        // A broken file on reload keeps the current certificate.
        std::fs::write(&cert, "not a certificate").expect("write");
        assert!(Command::new("kill").args(["-HUP", &pid]).status().expect("kill").success());
        std::thread::sleep(Duration::from_millis(300));
        let fresh = HttpClient::new(&url).with_ca_cert(Some(&ca2)).expect("CA loads");
        assert_eq!(fresh.call(&queries::Stats::default()).expect("still served").runs, 1);
    }

    #[test]
    fn a_bad_certificate_stops_the_start_with_the_file_named() {
        let env = Env::new();
        let bad = env.cwd.join("bad.pem");
        std::fs::write(&bad, "nothing here").expect("write");
        let b = bad.to_str().expect("utf-8");
        let o =
            run(env.base_cmd(&["serve", "--addr", "127.0.0.1:0", "--data-dir", "d", "--tls-cert", b, "--tls-key", b]));
        assert_fails(&o, 1, "bad.pem");
        let o = run(env.base_cmd(&["serve", "--addr", "127.0.0.1:0", "--tls-cert", b]));
        assert_eq!(o.status.code(), Some(2), "--tls-cert needs --tls-key: {}", stderr(&o));
    }
}

// ---------------------------------------------------------------------------------------------
// Backup, restore and migration lose nothing.

mod restore {
    use super::*;

    /// The history the fixture pipeline gives, plus every other kind of event.
    fn rich_history(env: &Env) {
        env.load_pipeline();
        for args in [
            &["flag", "models/churn-v1.pkl", "--reason", "AUC dropped", "--by", "ana"][..],
            &["notes", "3", "checked by hand"],
            &["tag", "train", "nightly"],
            &["unflag", "models/churn-v1.pkl"],
            &["flag", "features/2025-03-01.parquet"],
        ] {
            let o = run(env.cmd(args));
            assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        }
    }

    fn export(cmd: Command) -> String {
        let o = run(cmd);
        assert!(o.status.success(), "export: {}", stderr(&o));
        stdout(&o)
    }

    /// Every read at several points of history, as JSON.
    fn answers(env: &Env, dir_cmd: bool) -> Vec<String> {
        let mut out = Vec::new();
        for as_of in ["5", "12", "17", "100"] {
            for args in [
                &["recent", "-n", "50", "--json"][..],
                &["trace", "models/churn-v1.pkl", "--json"],
                &["review", "--json"],
                &["flags", "--json"],
                &["history", "train", "--json"],
                &["inspect", "3", "--json"],
                &["components", "--json"],
            ] {
                let mut full: Vec<&str> = args.to_vec();
                full.extend(["--as-of", as_of]);
                let o = run(if dir_cmd { env.dir_cmd(&full) } else { env.cmd(&full) });
                out.push(format!("{full:?} {} {}", o.status.code().unwrap_or(-1), stdout(&o)));
            }
        }
        out
    }

    #[test]
    fn an_export_imported_into_an_empty_directory_is_the_same_history() {
        let source = Env::new();
        rich_history(&source);
        let exported = export(source.cmd(&["export"]));
        assert!(exported.lines().count() > 15);
        std::fs::write(source.cwd.join("backup.ndjson"), &exported).expect("write");

        let copy = Env::new();
        let o = run(copy.cmd(&["import", source.cwd.join("backup.ndjson").to_str().expect("utf-8")]));
        assert!(o.status.success(), "{}", stderr(&o));
        let n = exported.lines().count();
        assert_eq!(stdout(&o), format!("restored {n} events (seq 1–{n})\n"));
        assert_eq!(export(copy.cmd(&["export"])), exported, "the same events, byte for byte");
        assert_eq!(answers(&copy, true), answers(&source, true), "the same answers at every as_of");
        let o = run(copy.cmd(&["verify"]));
        assert!(o.status.success(), "{}", stderr(&o));
    }

    #[test]
    fn an_export_restores_into_a_server_and_only_where_it_continues_the_log() {
        let source = Env::new();
        rich_history(&source);
        let exported = export(source.cmd(&["export"]));
        std::fs::write(source.cwd.join("backup.ndjson"), &exported).expect("write");
        let file = source.cwd.join("backup.ndjson");
        let file = file.to_str().expect("utf-8");

        let target = Env::with_server();
        let o = run(target.cmd(&["import", file]));
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(export(target.cmd(&["export"])), exported);
        // Again: the seqs are taken, so nothing is written and the message says why.
        let o = run(target.cmd(&["import", file]));
        assert_fails(&o, 2, "line 1: ");
        assert!(stderr(&o).contains("continues"), "{}", stderr(&o));
        assert_eq!(export(target.cmd(&["export"])), exported, "nothing changed");
        // The tail of an export continues a copy that stopped earlier.
        let partial = Env::new();
        let head: String = exported.lines().take(10).map(|l| format!("{l}\n")).collect();
        let tail: String = exported.lines().skip(10).map(|l| format!("{l}\n")).collect();
        std::fs::write(partial.cwd.join("head.ndjson"), head).expect("write");
        std::fs::write(partial.cwd.join("tail.ndjson"), tail).expect("write");
        assert!(run(partial.cmd(&["import", "head.ndjson"])).status.success());
        assert!(run(partial.cmd(&["import", "tail.ndjson"])).status.success());
        assert_eq!(export(partial.cmd(&["export"])), exported);
    }

    #[test]
    fn a_tampered_export_is_refused_naming_the_line_and_writes_nothing() {
        let source = Env::new();
        rich_history(&source);
        let exported = export(source.cmd(&["export"]));
        let lines: Vec<&str> = exported.lines().collect();
        for (what, bad) in [
            ("a gap in seqs", lines.iter().enumerate().filter(|(i, _)| *i != 6).map(|(_, l)| *l).collect::<Vec<_>>()),
            ("two lines swapped", {
                let mut v = lines.clone();
                v.swap(8, 9);
                v
            }),
        ] {
            let copy = Env::new();
            std::fs::write(copy.cwd.join("bad.ndjson"), bad.join("\n")).expect("write");
            let o = run(copy.cmd(&["import", "bad.ndjson", "--data-dir", copy.data.to_str().expect("utf-8")]));
            assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
            assert!(stderr(&o).contains("line "), "{what}: {}", stderr(&o));
            let stats = run(copy.cmd(&["stats", "--json"]));
            assert!(!stdout(&stats).contains("\"events\":1"), "{what}: {}", stdout(&stats));
        }
    }

    #[test]
    fn an_online_backup_of_a_server_under_writes_is_a_consistent_prefix() {
        let source = Env::with_server();
        rich_history(&source);
        let url = source.url().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let url = url.clone();
            std::thread::spawn(move || {
                let client = HttpClient::new(&url);
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let t = mltrace_store::Timestamp::now();
                    let run = mltrace_store::NewRun::new("live", t, t).outputs([format!("live-{n}").as_str()]);
                    client.log_run(&run).expect("a write during the backup");
                    n += 1;
                }
                n
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let backup = source.cwd.join("backup");
        let o = run(source.cmd(&["backup", backup.to_str().expect("utf-8")]));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let written = writer.join().expect("writer");
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stdout(&o).contains("verified"), "{}", stdout(&o));
        assert!(written > 0);
        // The copy is exactly the source's history up to its last seq.
        let mut c = source.base_cmd(&["export"]);
        c.env("MLTRACE_DATA_DIR", &backup);
        let copy = export(c);
        let all = export(source.cmd(&["export"]));
        assert!(!copy.is_empty() && all.starts_with(&copy), "the backup is a prefix of the source's history");
        // A second backup into the same folder is refused.
        let o = run(source.cmd(&["backup", backup.to_str().expect("utf-8")]));
        assert_fails(&o, 2, "is not empty");
    }
}

/// An Airflow-like DAG run with a task that failed, sent to `POST /api/v1/lineage`.
fn send_openlineage(url: &str) {
    let event = |ty: &str, time: &str, run: &str, job: &str, facets: serde_json::Value, outputs: serde_json::Value| {
        serde_json::json!({
            "eventType": ty, "eventTime": time, "producer": "https://example.com/cli-test",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
            "run": {"runId": run, "facets": facets}, "job": {"namespace": "airflow", "name": job},
            "inputs": [{"namespace": "mltrace", "name": "raw/2025-03-01.csv"}], "outputs": outputs,
        })
    };
    let dag = "0190c0de-0000-7000-8000-0000000000d1";
    let task = "0190c0de-0000-7000-8000-0000000000d2";
    let parent = serde_json::json!({"parent": {"_producer": "p", "_schemaURL": "s", "run": {"runId": dag},
                                               "job": {"namespace": "airflow", "name": "nightly"}}});
    let mut fail_facets = parent.clone();
    fail_facets["errorMessage"] = serde_json::json!({"_producer": "p", "_schemaURL": "s", "message": "disk full", "programmingLanguage": "python"});
    let out = serde_json::json!([{"namespace": "s3://lake", "name": "agg.parquet"}]);
    let events = serde_json::json!([
        event("START", "2025-03-05T00:00:00Z", dag, "nightly", serde_json::json!({}), serde_json::json!([])),
        event("START", "2025-03-05T00:01:00Z", task, "nightly.agg", parent, out.clone()),
        event("FAIL", "2025-03-05T00:03:30Z", task, "nightly.agg", fail_facets, out),
    ]);
    let resp = ureq::post(&format!("{url}/api/v1/lineage")).send_json(events).expect("POST /api/v1/lineage");
    assert_eq!(resp.status(), 201);
}

#[test]
fn openlineage_runs_show_their_status_and_export_as_openlineage_in_both_modes() {
    let env = Env::with_server();
    env.load_pipeline();
    send_openlineage(env.url());
    let recent = stdout(&run(env.cmd(&["recent", "-n", "3"])));
    assert!(recent.contains("airflow/nightly.agg") && recent.contains("✗ failed"), "{recent}");
    assert!(recent.contains("● running") && recent.contains("so far"), "{recent}");
    let card = stdout(&run(env.cmd(&["inspect", "14"])));
    assert!(card.contains("✗ failed: disk full"), "{card}");
    assert!(card.contains("parent       airflow/nightly #13"), "{card}");
    assert!(card.contains("events       START, FAIL"), "{card}");
    assert_eq!(stdout(&run(env.dir_cmd(&["inspect", "14"]))), card, "the same card on the data directory");

    let api = api_get(env.url(), "/lineage/events");
    let server = run(env.cmd(&["export", "--openlineage"]));
    assert!(server.status.success(), "{}", stderr(&server));
    assert_eq!(stdout(&server), api, "export --openlineage through the server vs GET /lineage/events");
    assert_eq!(stdout(&run(env.dir_cmd(&["export", "--openlineage"]))), api, "and on the data directory");
    let events: Vec<serde_json::Value> = api.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    // 12 native runs and the task: START and an end each; the DAG run is still running: START only.
    let run_events = events.iter().filter(|e| e.get("eventType").is_some()).count();
    assert_eq!(run_events, 13 * 2 + 1);
    assert!(
        events.iter().any(|e| e["eventType"] == "FAIL" && e["run"]["facets"]["errorMessage"]["message"] == "disk full")
    );
    let as_of = run(env.cmd(&["export", "--openlineage", "--as-of", "12"]));
    assert_eq!(stdout(&as_of).lines().filter(|l| l.contains("\"eventType\"")).count(), 2 * 8, "8 runs as of seq 12");
}

#[test]
fn an_export_with_openlineage_events_restores_to_the_same_history() {
    let source = Env::with_server();
    source.load_pipeline();
    send_openlineage(source.url());
    let o = run(source.cmd(&["export"]));
    let exported = stdout(&o);
    assert!(exported.contains("\"type\":\"openlineage\""), "the export holds OpenLineage events");
    std::fs::write(source.cwd.join("backup.ndjson"), &exported).expect("write");
    let copy = Env::new();
    let o = run(copy.cmd(&["import", source.cwd.join("backup.ndjson").to_str().expect("utf-8")]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&run(copy.cmd(&["export"]))), exported, "the same events, byte for byte");
    let ol = |env: &Env| stdout(&run(env.cmd(&["export", "--openlineage"])));
    assert_eq!(ol(&copy), ol(&source), "the same OpenLineage export");
}

/// Maintenance belongs to the store, not to the server: a command that logged many events into a
/// data directory leaves a checkpoint behind, so the next command does not replay them all.
#[test]
fn a_data_directory_written_by_the_command_line_gets_its_checkpoint() {
    let env = Env::new();
    std::fs::write(env.cwd.join("few.ndjson"), chain_ndjson(5)).expect("write");
    assert!(run(env.cmd(&["import", "few.ndjson"])).status.success());
    let checkpoint = env.data.join("checkpoint");
    assert!(!checkpoint.exists(), "a handful of events is not worth a checkpoint");
    std::fs::write(env.cwd.join("many.ndjson"), chain_ndjson(10_500)).expect("write");
    let o = run(env.cmd(&["import", "many.ndjson"]));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(checkpoint.exists(), "10,000 events and more leave a checkpoint when the directory closes");
    let o = run(env.cmd(&["recent", "-n", "1", "--json"]));
    assert!(stdout(&o).contains("\"id\":10505"), "{}", stdout(&o));
}

/// The contract creates a component by registration or a first run only: `tag` on an unknown name is
/// not found (exit 1) and creates nothing, on a data directory and through a server alike, as
/// `POST /components/{name}/tags` answers 404.
#[test]
fn tagging_an_unknown_component_is_not_found_and_creates_nothing() {
    for env in [Env::new(), Env::with_server()] {
        assert!(run(env.cmd(&["log", "-c", "ingest", "-o", "raw.csv"])).status.success(), "a component that exists");
        let o = run(env.cmd(&["tag", "ingset", "etl"]));
        assert_fails(&o, 1, "component `ingset` does not exist");
        let listed = stdout(&run(env.cmd(&["components", "--json"])));
        assert!(!listed.contains("ingset"), "nothing was created: {listed}");
        if env.server.is_some() {
            let resp = ureq::post(&format!("{}/api/v1/components/ingset/tags", env.url()))
                .send_json(serde_json::json!({"tags": ["etl"]}));
            match resp {
                Err(ureq::Error::Status(404, r)) => {
                    let v: serde_json::Value = r.into_json().expect("a JSON error");
                    assert_eq!(
                        (v["error"]["code"].as_str(), v["error"]["field"].as_str()),
                        (Some("not_found"), Some("name"))
                    );
                }
                other => panic!("expected 404, got {other:?}"),
            }
        }
    }
}

/// Every read is one `Endpoint`, so the API's bytes, the HTTP client's answer and a data directory's
/// answer are the same JSON for every query, a component name that needs percent-encoding and a
/// trace with its audit proof included.
#[test]
fn every_query_answers_the_same_json_over_http_and_on_the_data_directory() {
    use mltrace_api::client::Endpoint;
    use mltrace_api::client::queries::*;
    use mltrace_store::DEFAULT_TRACE_LIMIT;
    use mltrace_store::model::ReviewRank;

    let env = Env::with_server();
    env.load_pipeline();
    let http = HttpClient::new(env.url());
    http.call(&commands::Register {
        name: "feature gen/v2".into(),
        tags: vec!["odd names".into()],
        ..Default::default()
    })
    .expect("register");
    http.call(&commands::Flag { outputs: vec!["preds/2025-03-01/batch-001.jsonl".into()], ..Default::default() })
        .expect("flag");
    let dir = DataDir::new(&env.data);
    // A signed head is signed when asked for: its time and signature differ from one ask to the next.
    fn unsigned(mut v: serde_json::Value) -> serde_json::Value {
        if let Some(head) = v.get_mut("proof").and_then(|p| p.get_mut("head")).and_then(|h| h.as_object_mut()) {
            for k in ["timestamp", "time", "signature"] {
                assert!(head.remove(k).is_some(), "the head has {k}");
            }
        }
        v
    }
    fn same<E: Endpoint>(url: &str, http: &HttpClient, dir: &DataDir, e: E) {
        let over_http = serde_json::to_value(http.call(&e).unwrap_or_else(|err| panic!("{}: {err}", E::PATH)))
            .map(unsigned)
            .expect("an answer is JSON");
        let on_disk = serde_json::to_value(dir.call(&e).unwrap_or_else(|err| panic!("{}: {err}", E::PATH)))
            .map(unsigned)
            .expect("an answer is JSON");
        assert_eq!(over_http, on_disk, "{}", E::PATH);
        let (path, query) = e.to_params().split_path(E::PATH);
        let mut req = ureq::get(&format!("{url}/api/v1{path}"));
        for (k, v) in &query {
            req = req.query(k, v);
        }
        let raw: serde_json::Value = req.call().expect("GET").into_json().expect("the API's JSON");
        assert_eq!(unsigned(raw), over_http, "{path}");
    }
    let url = env.url();
    let output = "preds/2025-03-01/batch-001.jsonl".to_string();
    same(url, &http, &dir, Stats::default());
    same(url, &http, &dir, Recent { limit: 5, before: Some(9), as_of: None });
    same(
        url,
        &http,
        &dir,
        History { name: "train".into(), limit: 3, before: None, since: None, until: None, as_of: None },
    );
    same(url, &http, &dir, Run { id: 3, as_of: Some(mltrace_store::AsOf::Seq(9)), proof: false });
    same(url, &http, &dir, Component { name: "feature gen/v2".into(), as_of: None });
    same(url, &http, &dir, Components { owner: Some("data-eng".into()), tag: Some("etl".into()), as_of: None });
    same(url, &http, &dir, Tags::default());
    same(url, &http, &dir, Io { name: output.clone(), as_of: None });
    same(url, &http, &dir, Trace { proof: true, ..Trace::of(output.clone()) });
    same(
        url,
        &http,
        &dir,
        Downstream { output: "raw/2025-03-01.csv".into(), max_depth: Some(2), limit: DEFAULT_TRACE_LIMIT, as_of: None },
    );
    same(url, &http, &dir, Flags::default());
    same(url, &http, &dir, Review { limit: 10, rank: ReviewRank::Specificity, as_of: None });
    same(url, &http, &dir, Outdated::default());
    same(url, &http, &dir, Suggest { q: "fe".into(), limit: 5, as_of: None });
}
