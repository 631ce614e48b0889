//! Harness for end-to-end tests: the real `mltrace` binary on a free loopback port with a
//! temporary data directory.

use serde_json::Value;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `mltrace` binary: `$MLTRACE_BIN`, or the workspace's debug build.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("MLTRACE_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/mltrace")
}

/// `MLTRACE_TEST_LOG=nats://...` runs every server of the suite as a cluster node on that NATS
/// server, with a stream of its own per data directory (so that a restart finds its stream again).
fn cluster_args(dir: &Path) -> Vec<String> {
    match std::env::var("MLTRACE_TEST_LOG") {
        Ok(log) if !log.is_empty() => {
            let stream = format!("e2e-{:08x}", crc32fast::hash(dir.as_os_str().as_encoded_bytes()));
            vec!["--log".into(), log, "--stream".into(), stream]
        }
        _ => Vec::new(),
    }
}

/// A free port on 127.0.0.1 (bound and released; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free loopback port")
}

/// A running server.
pub struct Server {
    /// The child process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The data directory.
    pub dir: PathBuf,
    agent: ureq::Agent,
}

impl Server {
    /// Starts `mltrace serve` on `dir` with extra arguments and waits until it answers.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(binary())
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
            .arg(dir)
            .args(extra)
            .args(cluster_args(dir))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {}: {e} (build it with cargo build --workspace)", binary().display())
            });
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30)).build();
        let mut server = Server { child, url, dir: dir.to_path_buf(), agent };
        server.wait_ready();
        server
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                panic!("the server exited with {status}: {err}");
            }
            let auth = "Bearer test-write-token";
            if self.agent.get(&format!("{}/api/v1/health", self.url)).set("Authorization", auth).call().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the server did not answer within 20 s");
    }

    /// GET a JSON answer (any status).
    pub fn get(&self, path: &str) -> (u16, Value) {
        answer(self.agent.get(&format!("{}{path}", self.url)).call())
    }

    /// Sends JSON with a method (any status).
    pub fn send(&self, method: &str, path: &str, body: &Value) -> (u16, Value) {
        answer(self.agent.request(method, &format!("{}{path}", self.url)).send_json(body.clone()))
    }

    /// Sends a body as it is, with a content type (any status).
    pub fn send_text(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        answer(
            self.agent
                .request(method, &format!("{}{path}", self.url))
                .set("Content-Type", content_type)
                .send_string(body),
        )
    }

    /// GET a text answer (any status).
    pub fn get_text(&self, path: &str) -> (u16, String) {
        match self.agent.get(&format!("{}{path}", self.url)).call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => {
                let status = r.status();
                (status, r.into_string().unwrap_or_default())
            }
            Err(e) => panic!("request failed: {e}"),
        }
    }

    /// Kills the process with SIGKILL.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit; answers the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY-free: signalling our own child by pid.
        let pid = self.child.id() as i32;
        unsafe_kill(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < deadline, "the server did not stop within 20 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[allow(unsafe_code)]
fn unsafe_kill(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own live child.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
    match r {
        Ok(resp) => {
            let status = resp.status();
            let text = resp.into_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        Err(ureq::Error::Status(status, resp)) => {
            let text = resp.into_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        }
        Err(e) => panic!("request failed: {e}"),
    }
}
