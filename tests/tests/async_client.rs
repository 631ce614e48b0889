//! The async client (`AsyncHttpClient`, feature `async`) against the real server binary: reads,
//! writes, the server's errors naming their field, tokens, a server that is gone, and many calls at
//! once on one client.

use mltrace_client::commands::Register;
use mltrace_client::queries::{Component, Recent, Run, Trace};
use mltrace_client::{AsyncHttpClient, Error};
use mltrace_store::{NewRun, Timestamp};
use mltrace_tests::Server;

fn run(component: &str, inputs: &[&str], outputs: &[&str]) -> NewRun {
    let t = Timestamp::now();
    NewRun::new(component, t, t).inputs(inputs.iter().copied()).outputs(outputs.iter().copied())
}

fn client(s: &Server, token: Option<&str>) -> AsyncHttpClient {
    AsyncHttpClient::new(&s.url).expect("a client").with_token(token.map(str::to_string))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_go_through_the_generic_call() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let s = Server::start(dir.path(), &[]);
    let c = client(&s, None);

    let a = c.log_run(&run("featuregen", &["raw.csv"], &["features.parquet"])).await.expect("logged");
    let batch = c
        .log_runs(&[run("train", &["features.parquet"], &["model.pkl"]), run("eval", &["model.pkl"], &["report.html"])])
        .await
        .expect("batch logged");
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[0].dependencies, vec![a.id], "train depends on featuregen");
    // Read-your-writes: the client keeps the seq of its last write (`Mltrace-Seq`) and reads with
    // it as `min_seq`, which the server accepts since it has applied it.
    assert_eq!(c.last_write_seq(), batch[1].seq);

    let recent = c.call(&Recent { limit: 10, before: None, as_of: None }).await.expect("recent");
    assert_eq!(recent.runs.iter().map(|r| r.component.as_str()).collect::<Vec<_>>(), ["eval", "train", "featuregen"]);

    let trace = c.call(&Trace::of("model.pkl")).await.expect("trace");
    let ids: Vec<u32> = trace.view.nodes.iter().map(|n| n.run.id).collect();
    assert_eq!(ids, vec![batch[0].id, a.id]);

    let detail = c.call(&Run { id: a.id, as_of: None, proof: false }).await.expect("run");
    assert_eq!(detail.view.component, "featuregen");

    // A command through the same call, then read back.
    let reg = Register { name: "train".into(), owner: "ml-team".into(), ..Register::default() };
    c.call(&reg).await.expect("registered");
    let comp = c.call(&Component { name: "train".into(), as_of: None }).await.expect("component");
    assert_eq!(comp.component.owner, "ml-team");

    let health = c.health().await.expect("health");
    let last_seq = health["last_seq"].as_u64().expect("last_seq");
    let mut lines = Vec::new();
    let n = c
        .events(0, None, |l| {
            lines.push(l.to_string());
            Ok(())
        })
        .await
        .expect("events");
    assert_eq!(n, lines.len() as u64);
    assert_eq!(n, last_seq, "one line per event");
    assert!(lines.iter().all(|l| l.starts_with('{')), "{lines:?}");
    let two = c.events(0, Some(2), |_| Ok(())).await.expect("events");
    assert_eq!(two, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_name_the_field_the_token_and_the_server() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let s = Server::start(dir.path(), &["--token", "test-write-token", "--read-token", "reader-token-1"]);
    let writer = client(&s, Some("test-write-token"));

    // A bad parameter of a read: 400 naming it.
    let e = writer.call(&Recent { limit: 0, before: None, as_of: None }).await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 400, .. }), "{e:?}");
    assert_eq!((e.code(), e.field()), ("invalid_argument", Some("limit")), "{e:?}");

    // A bad run: 400 naming the field, and nothing logged.
    let e = writer.log_run(&run("", &[], &["x"])).await.unwrap_err();
    assert_eq!((e.code(), e.field()), ("invalid_argument", Some("component")), "{e:?}");
    let e = writer.log_runs(&[run("ok", &[], &["a"]), run("", &[], &["b"])]).await.unwrap_err();
    assert_eq!(e.field(), Some("runs[1].component"), "{e:?}");
    let recent = writer.call(&Recent { limit: 10, before: None, as_of: None }).await.expect("recent");
    assert!(recent.runs.is_empty(), "a rejected request changes nothing");

    // A missing run: 404.
    let e = writer.call(&Run { id: 42, as_of: None, proof: false }).await.unwrap_err();
    assert_eq!(e.code(), "not_found", "{e:?}");

    // No token, and a read token that writes.
    let e = client(&s, None).call(&Recent { limit: 1, before: None, as_of: None }).await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 401, .. }), "{e:?}");
    let e = client(&s, Some("reader-token-1")).log_run(&run("train", &[], &["m"])).await.unwrap_err();
    assert!(matches!(e, Error::Api { status: 403, .. }), "{e:?}");
    client(&s, Some("reader-token-1")).call(&Recent { limit: 1, before: None, as_of: None }).await.expect("a read");

    // The server is gone: unreachable, naming its URL, at once rather than after retries.
    let url = s.url.clone();
    s.kill();
    let started = std::time::Instant::now();
    let e = writer.call(&Recent { limit: 1, before: None, as_of: None }).await.unwrap_err();
    assert_eq!(e.code(), "unreachable", "{e:?}");
    assert!(e.to_string().starts_with(&format!("cannot reach the mltrace server at {url}: ")), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3), "a refused connection is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_calls_at_once_on_one_client() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let s = Server::start(dir.path(), &[]);
    let c = client(&s, None);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let c = c.clone();
        tasks.spawn(async move {
            let logged = c.log_run(&run(&format!("step-{i}"), &[], &[&format!("out-{i}")])).await?;
            let detail = c.call(&Run { id: logged.id, as_of: None, proof: false }).await?;
            Ok::<_, Error>((logged.id, detail.view.component))
        });
    }
    let mut ids = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (id, component) = done.expect("the task ran").expect("the calls succeeded");
        assert!(component.starts_with("step-"));
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64, "every run logged once");
    let health = c.health().await.expect("health");
    assert_eq!(health["runs"].as_u64(), Some(64));
}
