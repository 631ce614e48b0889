//! The async client on tokio: log a run, then read the latest runs and a trace, many reads at once.
//!
//! `cargo run --example async_recent -- http://127.0.0.1:8080` (with `mltrace serve` running).

use mltrace_client::queries::{Recent, Trace};
use mltrace_client::{AsyncHttpClient, Error};
use mltrace_store::{NewRun, Timestamp};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let base = std::env::args().nth(1).unwrap_or_else(|| mltrace_client::DEFAULT_SERVER.to_string());
    let client = AsyncHttpClient::new(&base)?.with_token(std::env::var("MLTRACE_TOKEN").ok());
    let now = Timestamp::now();
    let logged = client.log_run(&NewRun::new("async-example", now, now).outputs(["async-example.out"])).await?;
    println!("logged run #{} at seq {}", logged.id, logged.seq);
    // One client, two requests in flight at once; the read sees the write (min_seq).
    let (recent, trace) = (Recent { limit: 5, before: None, as_of: None }, Trace::of("async-example.out"));
    let (recent, trace) = tokio::join!(client.call(&recent), client.call(&trace));
    for run in recent?.runs {
        println!("#{} {}", run.id, run.component);
    }
    println!("async-example.out was produced by {} run(s)", trace?.view.nodes.len());
    Ok(())
}
