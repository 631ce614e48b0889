//! The synthetic pipeline workload: what the benchmarks, the load generator and the peer comparison
//! all log, so that their numbers describe the same thing.
//!
//! One [`Pipeline`] is one project's hourly pipeline, generated deterministically from a seed:
//!
//! ```text
//! every cycle (an hour), for each of `partitions` partitions p:
//!     ingest  raw/.../part-p.jsonl (a source)  -> ingest/.../part-p.parquet
//!     clean   ingest/.../part-p.parquet        -> clean/.../part-p.parquet
//!     featgen clean/.../part-p.parquet         -> features/.../part-p.parquet
//!     (now and then a backfill: clean and featgen of p run again, writing new versions)
//! then once:
//!     train   the cycle's feature files (+ the previous model: warm start) -> models/.../model.pkl
//! then for each partition p:
//!     infer   model.pkl + features/.../part-p.parquet -> preds/.../part-p.parquet
//! ```
//!
//! Every output carries a content hash and every input the hash of the version it read, as a
//! careful client sends them. The model is always written to the same path (`.../latest/model.pkl`),
//! so its versions are told apart by hash alone: training warm-starts from the previous version
//! (chains of `warm_start_chain` trains, then a fresh start), and one inference in
//! `stale_model_every` still serves the previous version, which versioned lineage must resolve to
//! the older training run (and staleness must report). Backfills re-run clean and featgen of a
//! partition with new versions. Names are about 50 bytes, like object-store paths. Now and then a
//! prediction is flagged (`flag_every` runs).
//!
//! With the defaults a cycle is 17 runs: 12 of ETL, 1 train, 4 inferences (plus backfills).

use mltrace_store::{IoSpec, NewRun, Timestamp};
use serde::Serialize;

/// The shape of the workload.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Partitions per cycle (each gets ingest, clean, featgen and one inference).
    pub partitions: u32,
    /// Trains that warm-start from the previous model before a fresh start.
    pub warm_start_chain: u32,
    /// One partition in this many is backfilled (clean and featgen run again).
    pub backfill_every: u32,
    /// One inference in this many reads the previous model version.
    pub stale_model_every: u32,
    /// Flag the latest prediction once every this many runs (0: never).
    pub flag_every: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Shape { partitions: 4, warm_start_chain: 12, backfill_every: 50, stale_model_every: 10, flag_every: 0 }
    }
}

/// An input or output of a generated run.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Io {
    /// The name (an object-store path).
    pub name: String,
    /// The content hash of this version.
    pub hash: String,
}

/// A generated run, in the HTTP API's request shape.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RunSpec {
    /// Component name.
    pub component: String,
    /// Start, epoch ms.
    pub start: i64,
    /// End, epoch ms.
    pub end: i64,
    /// Inputs.
    pub inputs: Vec<Io>,
    /// Outputs.
    pub outputs: Vec<Io>,
    /// The commit of the code that ran.
    pub git_hash: String,
}

impl RunSpec {
    /// The store's request.
    pub fn to_new_run(&self) -> NewRun {
        let io = |l: &[Io]| -> Vec<IoSpec> {
            l.iter().map(|i| IoSpec { name: i.name.clone(), hash: Some(i.hash.clone()), kind: None }).collect()
        };
        let mut r = NewRun::new(&self.component, Timestamp(self.start), Timestamp(self.end));
        r.inputs = io(&self.inputs);
        r.outputs = io(&self.outputs);
        r.git_hash = Some(self.git_hash.clone());
        r
    }

    /// The HTTP API's JSON for this run.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// What the pipeline does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Log a run.
    Run(RunSpec),
    /// Flag an output (always one a run already wrote).
    Flag(String),
}

/// A small, fast, seedable generator (SplitMix64): the workload must be the same everywhere.
#[derive(Clone, Debug)]
pub struct SplitMix(u64);

impl SplitMix {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// 2026-01-01T00:00:00Z.
const EPOCH_2026_MS: i64 = 1_767_225_600_000;
const HOUR_MS: i64 = 3_600_000;
const COMPONENTS: [&str; 5] = ["ingest", "clean", "featgen", "train", "infer"];

/// One project's pipeline: an endless, deterministic sequence of [`Step`]s.
pub struct Pipeline {
    shape: Shape,
    project: String,
    components: [String; 5],
    rng: SplitMix,
    cycle: u64,
    queue: std::collections::VecDeque<Step>,
    runs: u64,
    versions: u64,
    /// Hash of the newest model and of the one before, if any.
    model: Option<String>,
    prev_model: Option<String>,
    chain: u32,
    last_prediction: Option<String>,
    commit: String,
}

impl Pipeline {
    /// Project `project` (its component names are `{project}.ingest` and so on).
    pub fn new(project: &str, shape: Shape, seed: u64) -> Self {
        let components = COMPONENTS.map(|c| format!("{project}.{c}"));
        let mut rng = SplitMix::new(seed ^ fnv(project));
        let commit = format!("{:016x}{:016x}{:08x}", rng.next_u64(), rng.next_u64(), rng.next_u64() as u32);
        Pipeline {
            shape,
            project: project.to_string(),
            components,
            rng,
            cycle: 0,
            queue: Default::default(),
            runs: 0,
            versions: 0,
            model: None,
            prev_model: None,
            chain: 0,
            last_prediction: None,
            commit,
        }
    }

    /// The component names, in pipeline order.
    pub fn components(&self) -> &[String; 5] {
        &self.components
    }

    /// The project name.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Runs generated so far.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Cycles completed so far.
    pub fn cycles(&self) -> u64 {
        self.cycle
    }

    /// Name of a partition's file of one stage in one cycle (`raw`, `ingest`, `clean`, `features`,
    /// `preds`), about 50 bytes.
    pub fn path(&self, stage: &str, cycle: u64, part: u32) -> String {
        let bucket = if stage == "raw" { "acme-raw" } else { "acme-lake" };
        let ext = if stage == "raw" { "jsonl" } else { "parquet" };
        format!("s3://{bucket}/{}/{stage}/{}/part-{part}.{ext}", self.project, hour_label(cycle))
    }

    /// The model's path (one path, versions told apart by hash).
    pub fn model_path(&self) -> String {
        format!("s3://acme-models/{}/gbm/latest/model.pkl", self.project)
    }

    /// The prediction file of a partition in a cycle.
    pub fn prediction(&self, cycle: u64, part: u32) -> String {
        self.path("preds", cycle, part)
    }

    fn hash(&mut self) -> String {
        self.versions += 1;
        format!("sha256:{:016x}", self.rng.next_u64())
    }

    /// The next step.
    pub fn next_step(&mut self) -> Step {
        loop {
            if let Some(s) = self.queue.pop_front() {
                if let Step::Run(r) = &s {
                    self.runs += 1;
                    if r.component == self.components[4] {
                        self.last_prediction = r.outputs.first().map(|o| o.name.clone());
                    }
                    if self.shape.flag_every > 0
                        && self.runs.is_multiple_of(self.shape.flag_every)
                        && let Some(p) = self.last_prediction.clone()
                    {
                        self.queue.push_front(Step::Flag(p));
                    }
                }
                return s;
            }
            self.plan_cycle();
        }
    }

    /// The next run (flags are skipped).
    pub fn next_run(&mut self) -> RunSpec {
        loop {
            if let Step::Run(r) = self.next_step() {
                return r;
            }
        }
    }

    fn run(&mut self, stage: usize, start: i64, secs: i64, inputs: Vec<Io>, outputs: Vec<Io>) {
        let run = RunSpec {
            component: self.components[stage].clone(),
            start,
            end: start + secs * 1000,
            inputs,
            outputs,
            git_hash: self.commit.clone(),
        };
        self.queue.push_back(Step::Run(run));
    }

    fn plan_cycle(&mut self) {
        let c = self.cycle;
        let mut t = EPOCH_2026_MS + c as i64 * HOUR_MS;
        let mut features = Vec::new();
        for p in 0..self.shape.partitions {
            let raw = Io { name: self.path("raw", c, p), hash: self.hash() };
            let ingested = Io { name: self.path("ingest", c, p), hash: self.hash() };
            self.run(0, t, 120, vec![raw], vec![ingested.clone()]);
            t += 125_000;
            let mut clean = Io { name: self.path("clean", c, p), hash: self.hash() };
            self.run(1, t, 60, vec![ingested.clone()], vec![clean.clone()]);
            t += 65_000;
            let mut feat = Io { name: self.path("features", c, p), hash: self.hash() };
            self.run(2, t, 90, vec![clean.clone()], vec![feat.clone()]);
            t += 95_000;
            if self.rng.below(u64::from(self.shape.backfill_every)) == 0 {
                clean = Io { name: clean.name, hash: self.hash() };
                self.run(1, t, 60, vec![ingested], vec![clean.clone()]);
                t += 65_000;
                feat = Io { name: feat.name, hash: self.hash() };
                self.run(2, t, 90, vec![clean], vec![feat.clone()]);
                t += 95_000;
            }
            features.push(feat);
        }
        let mut train_inputs = features.clone();
        if self.chain > 0
            && let Some(h) = &self.model
        {
            train_inputs.push(Io { name: self.model_path(), hash: h.clone() });
        }
        self.chain = if self.chain + 1 >= self.shape.warm_start_chain { 0 } else { self.chain + 1 };
        let model = Io { name: self.model_path(), hash: self.hash() };
        self.run(3, t, 600, train_inputs, vec![model.clone()]);
        t += 605_000;
        self.prev_model = self.model.replace(model.hash.clone());
        for (p, feat) in features.into_iter().enumerate() {
            let served = match &self.prev_model {
                Some(prev) if self.rng.below(u64::from(self.shape.stale_model_every)) == 0 => prev.clone(),
                _ => model.hash.clone(),
            };
            let pred = Io { name: self.prediction(c, p as u32), hash: self.hash() };
            self.run(4, t, 30, vec![Io { name: self.model_path(), hash: served }, feat], vec![pred]);
            t += 35_000;
        }
        self.cycle += 1;
    }
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// `2026-01-01T13`-style label of a cycle's hour (proleptic Gregorian, UTC).
pub fn hour_label(cycle: u64) -> String {
    let hours = cycle as i64 + EPOCH_2026_MS / HOUR_MS;
    let (days, hour) = (hours.div_euclid(24), hours.rem_euclid(24));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{hour:02}")
}

/// Howard Hinnant's days-to-civil conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Project names for `n` concurrent pipelines.
pub fn project_names(n: usize) -> Vec<String> {
    const BASE: [&str; 8] = ["churn", "fraud", "ranking", "search", "ads", "pricing", "forecast", "recsys"];
    (0..n)
        .map(|i| match (BASE.get(i % BASE.len()), i / BASE.len()) {
            (Some(b), 0) => b.to_string(),
            (Some(b), k) => format!("{b}{k}"),
            (None, _) => format!("p{i}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hour_labels_follow_the_calendar() {
        assert_eq!(hour_label(0), "2026-01-01T00");
        assert_eq!(hour_label(13), "2026-01-01T13");
        assert_eq!(hour_label(24 * 59), "2026-03-01T00");
        assert_eq!(hour_label(24 * 365), "2027-01-01T00");
    }

    #[test]
    fn the_workload_is_deterministic_and_names_are_about_50_bytes() {
        let mut a = Pipeline::new("churn", Shape::default(), 7);
        let mut b = Pipeline::new("churn", Shape::default(), 7);
        let mut bytes = 0;
        let mut names = 0;
        for _ in 0..1000 {
            let r = a.next_run();
            assert_eq!(r, b.next_run());
            for io in r.inputs.iter().chain(&r.outputs) {
                bytes += io.name.len();
                names += 1;
            }
        }
        let avg = bytes / names;
        assert!((45..=60).contains(&avg), "average name is {avg} bytes");
    }
}
