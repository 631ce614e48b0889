//! `mltrace serve --demo`: a small, realistic pipeline loaded into an empty store, so a newcomer sees
//! traces, staleness, an outdated component and a review at once.

use mltrace_store::{IoSpec, NewRun, Store, StoreError, TestResult, Timestamp};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn run(component: &str, start: i64, minutes: i64, inputs: &[&str], outputs: &[&str]) -> NewRun {
    let mut r = NewRun::new(component, Timestamp(start), Timestamp(start + minutes * 60_000));
    r.inputs = inputs.iter().map(|&n| IoSpec::from(n)).collect();
    r.outputs = outputs.iter().map(|&n| IoSpec::from(n)).collect();
    r.git_hash = Some("4f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39".into());
    r.git_tags = vec!["v1.4.0".into()];
    r.code_snapshot = Some(format!(
        "def {component}(ctx):\n    \"\"\"{component} step of the churn pipeline.\"\"\"\n    df = ctx.read()\n    return ctx.write(df)\n"
    ));
    r
}

/// Loads the demo when the store holds no events; answers how many runs were logged.
pub fn load_if_empty(store: &Store) -> Result<usize, StoreError> {
    if store.last_seq() > 0 {
        return Ok(0);
    }
    let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    store.register_component("ingest", "Pulls raw events from the lake", "data-eng", &tags(&["etl"]))?;
    store.register_component("clean", "Drops malformed events, dedups", "data-eng", &tags(&["etl"]))?;
    store.register_component(
        "featuregen",
        "Builds churn features per customer",
        "data-eng",
        &tags(&["etl", "features"]),
    )?;
    store.register_component("train", "Trains the churn model", "ml-team", &tags(&["ml"]))?;
    store.register_component("infer", "Scores customers in batches", "ml-team", &tags(&["ml", "serving"]))?;

    let t0 = Timestamp::now().0 - 3 * DAY;
    let mut runs = Vec::new();
    for day in 0..3 {
        let d = t0 + day * DAY;
        let date = date_of(d);
        let raw = format!("s3://acme-lake/raw/events/date={date}/part-0000.csv");
        let clean = format!("s3://acme-lake/clean/events/date={date}/events.parquet");
        let feats = format!("s3://acme-lake/features/churn/date={date}/features.parquet");
        runs.push(run("ingest", d, 12, &[], &[&raw]));
        runs.push(run("clean", d + HOUR, 8, &[&raw], &[&clean]));
        runs.push(run("featuregen", d + 2 * HOUR, 15, &[&clean], &[&feats]));
        if day == 0 {
            let mut t = run("train", d + 3 * HOUR, 42, &[&feats], &["s3://acme-models/churn/model-v1.pkl"]);
            t.tests = vec![
                TestResult {
                    name: "FeatureTest.test_no_nulls".into(),
                    phase: "before".into(),
                    passed: true,
                    message: None,
                },
                TestResult {
                    name: "ModelTest.test_auc_above_0_8".into(),
                    phase: "after".into(),
                    passed: true,
                    message: None,
                },
            ];
            t.notes = "Baseline model; AUC 0.84 on the holdout.".into();
            runs.push(t);
        }
        for batch in 1..=3 {
            let pred = format!("s3://acme-preds/churn/date={date}/batch-{batch:03}.jsonl");
            runs.push(run(
                "infer",
                d + 5 * HOUR + batch * 600_000,
                3,
                &["s3://acme-models/churn/model-v1.pkl", &feats_read_by_infer(day, d)],
                &[&pred],
            ));
        }
    }
    let logged = store.log_runs(&runs)?;
    let last = date_of(t0 + 2 * DAY);
    store.flag(
        &[
            format!("s3://acme-preds/churn/date={last}/batch-001.jsonl"),
            format!("s3://acme-preds/churn/date={last}/batch-003.jsonl"),
        ],
        Some("churn scores far above last week's"),
        Some("bob"),
    )?;
    Ok(logged.len())
}

fn date_of(ms: i64) -> String {
    Timestamp(ms).to_rfc3339().get(..10).unwrap_or("").to_string()
}

/// The bug the demo is about: on the last day inference still reads the previous day's features,
/// although a fresher featuregen run exists. The runs are stale and `infer` is outdated.
fn feats_read_by_infer(day: i64, d: i64) -> String {
    let date = if day < 2 { date_of(d) } else { date_of(d - DAY) };
    format!("s3://acme-lake/features/churn/date={date}/features.parquet")
}
