//! Ingest speed of the store alone: batches of 1,000 runs, one writer, fsync always.
use mltrace_store::{LogOptions, NewRun, Store, Timestamp};
fn main() {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let mut best = 0f64;
    for round in 0..3 {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path(), LogOptions::default()).expect("open");
        let t = Timestamp(1_700_000_000_000);
        let batches: Vec<Vec<NewRun>> = (0..runs / 1000)
            .map(|b| {
                (0..1000)
                    .map(|i| {
                        let n = b * 1000 + i;
                        NewRun::new(&format!("c{}", n % 50), t, t)
                            .inputs([format!("data-{}", n.saturating_sub(1)).as_str()])
                            .outputs([format!("data-{n}").as_str()])
                    })
                    .collect()
            })
            .collect();
        let started = std::time::Instant::now();
        for b in batches {
            store.log_runs_owned(b).expect("log");
        }
        let rate = runs as f64 / started.elapsed().as_secs_f64();
        println!("round {round}: {rate:.0} runs/s");
        best = best.max(rate);
    }
    println!("best: {best:.0} runs/s");
}
