//! A small churn pipeline instrumented with `mltrace_client::instrument`: five components, real files,
//! a before-test and after-tests, logged wherever the `mltrace` command would look
//! (`MLTRACE_SERVER`, `MLTRACE_DATA_DIR`, a server on 127.0.0.1:8080, else `./mltrace-data`).
//!
//! ```text
//! cargo run --example pipeline                                   # then: mltrace recent
//! MLTRACE_DATA_DIR=/tmp/lineage cargo run --example pipeline     # then: mltrace trace ... --data-dir /tmp/lineage
//! ```

use mltrace_client::instrument::{Checks, Component, RunView, Test};
use mltrace_client::queries::Trace;
use mltrace_client::{Backend, Call, Settings, Target, connect};
use std::fs;
use std::path::{Path, PathBuf};

type Error = Box<dyn std::error::Error>;

/// Before a run: every declared input exists and is not empty.
struct InputsPresent {
    root: PathBuf,
}

impl Test for InputsPresent {
    fn before(&self, run: &RunView<'_>, checks: &mut Checks) {
        for i in run.inputs {
            let len = fs::metadata(self.root.join(&i.name)).map(|m| m.len()).unwrap_or(0);
            checks.check(&i.name, if len > 0 { Ok(()) } else { Err(format!("{} is missing or empty", i.name)) });
        }
    }
}

/// After a run: no output has a blank line (a sign of a broken join).
struct NoBlankLines {
    root: PathBuf,
}

impl Test for NoBlankLines {
    fn after(&self, run: &RunView<'_>, checks: &mut Checks) {
        for o in run.outputs {
            let text = fs::read_to_string(self.root.join(&o.name)).unwrap_or_default();
            let blank = text.lines().position(|l| l.trim().is_empty());
            checks.check(&o.name, blank.map_or(Ok(()), |n| Err(format!("line {} is blank", n + 1))));
        }
    }
}

/// After training: the model's churn rate is a probability (the closure's return value).
struct ModelIsSane;

impl Test for ModelIsSane {
    fn after(&self, run: &RunView<'_>, checks: &mut Checks) {
        let rate = run.value::<f64>().copied().unwrap_or(f64::NAN);
        checks
            .check("rate_is_a_probability", if (0.0..=1.0).contains(&rate) { Ok(()) } else { Err(format!("{rate}")) });
    }
}

fn write(root: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let path = root.join(name);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(path, text)
}

fn read(root: &Path, name: &str) -> std::io::Result<String> {
    fs::read_to_string(root.join(name))
}

fn run_pipeline(backend: &dyn Backend, root: &Path, day: &str) -> Result<String, Error> {
    let raw = format!("raw/events-{day}.csv");
    let clean = format!("clean/events-{day}.csv");
    let features = format!("features/churn-{day}.csv");
    let model = "models/churn.model".to_string();
    let preds = format!("preds/{day}/batch-001.jsonl");

    let ingest = Component::new("ingest").owner("data-eng").description("Pulls raw events").tags(["etl"]);
    let cleaner = Component::new("clean")
        .owner("data-eng")
        .description("Drops malformed events")
        .tags(["etl"])
        .before_test(InputsPresent { root: root.into() })
        .after_test(NoBlankLines { root: root.into() });
    let featuregen = Component::new("featuregen").owner("data-eng").description("Events per customer").tags(["etl"]);
    let train = Component::new("train")
        .owner("ml-team")
        .description("Fits the churn rate")
        .tags(["ml"])
        .code_snapshot(include_str!("pipeline.rs"))
        .after_test(ModelIsSane);
    let infer = Component::new("infer").owner("ml-team").description("Scores customers").tags(["ml", "serving"]);
    for c in [&ingest, &cleaner, &featuregen, &train, &infer] {
        c.register(backend)?;
    }

    ingest
        .run()
        .output(&raw)
        .call(backend, |_| write(root, &raw, "customer,event\nc1,login\nc2,login\nc1,cancel\nmalformed\nc3,login\n"))?;
    cleaner.run().input(&raw).output(&clean).call(backend, |_| {
        let kept: Vec<String> = read(root, &raw)?.lines().filter(|l| l.contains(',')).map(str::to_string).collect();
        write(root, &clean, &(kept.join("\n") + "\n"))
    })?;
    featuregen.run().input(&clean).output(&features).call(backend, |_| {
        let text = read(root, &clean)?;
        let mut rows = vec!["customer,events,cancelled".to_string()];
        let mut customers: Vec<&str> = text.lines().skip(1).filter_map(|l| l.split(',').next()).collect();
        customers.sort_unstable();
        customers.dedup();
        for c in customers {
            let events = text.lines().filter(|l| l.starts_with(&format!("{c},"))).count();
            let cancelled = text.lines().any(|l| l == format!("{c},cancel"));
            rows.push(format!("{c},{events},{}", u8::from(cancelled)));
        }
        write(root, &features, &(rows.join("\n") + "\n"))
    })?;
    let trained = train.run().input(&features).output(&model).call(backend, |ctx| -> Result<f64, std::io::Error> {
        let text = read(root, &features)?;
        let rows: Vec<&str> = text.lines().skip(1).collect();
        let rate = rows.iter().filter(|r| r.ends_with(",1")).count() as f64 / rows.len().max(1) as f64;
        write(root, &model, &format!("churn_rate={rate}\n"))?;
        ctx.note(format!("churn rate {rate:.2} over {} customers", rows.len()));
        Ok(rate)
    })?;
    println!("trained: churn rate {:.2} (run {})", trained.value, trained.logged.id);
    infer.run().inputs([&model, &features]).output(&preds).call(backend, |_| {
        let rate = read(root, &model)?.trim().trim_start_matches("churn_rate=").to_string();
        let lines: Vec<String> = read(root, &features)?
            .lines()
            .skip(1)
            .map(|r| format!("{{\"customer\":\"{}\",\"churn\":{rate}}}", r.split(',').next().unwrap_or("")))
            .collect();
        write(root, &preds, &(lines.join("\n") + "\n"))
    })?;
    Ok(preds)
}

fn main() -> Result<(), Error> {
    let conn = connect(&Settings::from_env())?;
    let work = tempfile::tempdir()?;
    let day = mltrace_store::Timestamp::now().to_rfc3339()[..10].to_string();
    // A failed test's error names the check (`after-tests failed (run 4 was logged ...): ...`).
    let preds = run_pipeline(&*conn, work.path(), &day)?;
    let trace = conn.call(&Trace { limit: 100, ..Trace::of(&preds) })?;
    println!("\n{preds} was made by:");
    for n in &trace.nodes {
        let stale = if n.run.stale.is_empty() { "" } else { "  (stale)" };
        println!("{}#{} {}{stale}", "  ".repeat(n.depth as usize + 1), n.run.id, n.run.component);
    }
    let flag = match &conn.target {
        Target::Server(url) => format!("--server {url}"),
        Target::DataDir { path, .. } => format!("--data-dir {}", path.display()),
    };
    println!("\nnext: mltrace trace {preds} {flag}");
    Ok(())
}
