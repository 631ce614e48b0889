//! Instrumenting Rust pipelines: a [`Component`] (a named stage with its metadata and tests), a
//! closure run as one of its runs (start, end, inputs, outputs, git commit and test results are
//! recorded), and [`Test`]s with `before` and `after` hooks, as the original mltrace had them.
//!
//! Everything goes through a [`Backend`], so the same pipeline logs to a server
//! ([`HttpClient`](crate::HttpClient)), to a data directory
//! ([`DataDir`](crate::DataDir)) or to an open [`Store`](mltrace_store::Store).
//!
//! ```no_run
//! use mltrace_client::{Settings, connect};
//! use mltrace_client::instrument::{Checks, Component, RunView, Test};
//!
//! struct NotEmpty;
//! impl Test for NotEmpty {
//!     fn after(&self, run: &RunView<'_>, checks: &mut Checks) {
//!         for o in run.outputs {
//!             let len = std::fs::metadata(&o.name).map(|m| m.len()).unwrap_or(0);
//!             checks.check(&o.name, if len > 0 { Ok(()) } else { Err("is empty") });
//!         }
//!     }
//! }
//!
//! let backend = connect(&Settings::from_env())?;
//! let clean = Component::new("clean").owner("data-eng").description("Drops malformed rows").after_test(NotEmpty);
//! clean.register(&*backend)?;
//! let ran = clean.run().input("raw.csv").output("clean.csv").call(&*backend, |_run| {
//!     std::fs::copy("raw.csv", "clean.csv").map(|_| ())
//! })?;
//! println!("logged run {}", ran.logged.id);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Semantics (those of the Python client): a failing before-test stops the run (the closure does
//! not run, nothing is logged); the closure's error is returned and nothing is logged; after-tests
//! run once the closure returned, their results are logged with the run, and a failure is then
//! returned to the caller as [`RunError::AfterTests`]. A test hook that panics counts as a failed
//! check.

use crate::{self as client, Backend};
use mltrace_store::model::{ComponentView, Logged};
use mltrace_store::{IoSpec, NewRun, TestResult, Timestamp};
use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The git commit and tags of a working directory, as the runs of a pipeline record them.
pub mod git {
    use std::path::Path;
    use std::process::{Command, Stdio};

    fn git(dir: &Path, args: &[&str]) -> Option<String> {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8(out.stdout).ok().map(|s| s.trim().to_string())
    }

    /// `git rev-parse HEAD` in `dir`: `None` outside a repository, without commits, or without git.
    pub fn head(dir: &Path) -> Option<String> {
        git(dir, &["rev-parse", "HEAD"]).filter(|h| !h.is_empty())
    }

    /// The tags pointing at `HEAD` in `dir` (empty when none, or outside a repository).
    pub fn tags(dir: &Path) -> Vec<String> {
        git(dir, &["tag", "--points-at", "HEAD"])
            .map(|s| s.lines().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    }
}

/// What a test sees of a run: the component, the declared inputs and outputs, and (after the
/// closure returned) the value it returned.
pub struct RunView<'a> {
    /// The component's name.
    pub component: &'a str,
    /// Inputs declared so far (all of them, for `after`).
    pub inputs: &'a [IoSpec],
    /// Outputs declared so far (all of them, for `after`).
    pub outputs: &'a [IoSpec],
    value: Option<&'a dyn Any>,
}

impl RunView<'_> {
    /// The closure's return value, when the test runs after it and the type is right.
    pub fn value<T: 'static>(&self) -> Option<&T> {
        self.value.and_then(|v| v.downcast_ref::<T>())
    }
}

/// Where a test records its checks; each becomes a test result named `Test.check`.
pub struct Checks {
    test: String,
    phase: &'static str,
    results: Vec<TestResult>,
}

impl Checks {
    fn new(test: String, phase: &'static str) -> Checks {
        Checks { test, phase, results: Vec::new() }
    }

    fn push(&mut self, check: &str, passed: bool, message: Option<String>) {
        let name = if check.is_empty() { self.test.clone() } else { format!("{}.{check}", self.test) };
        self.results.push(TestResult { name, phase: self.phase.into(), passed, message });
    }

    /// Records a check from its outcome: `Ok` passes, `Err(why)` fails with `why`.
    pub fn check<E: fmt::Display>(&mut self, check: &str, outcome: Result<(), E>) {
        match outcome {
            Ok(()) => self.push(check, true, None),
            Err(e) => self.push(check, false, Some(e.to_string())),
        }
    }

    /// Records a passed check.
    pub fn pass(&mut self, check: &str) {
        self.push(check, true, None);
    }

    /// Records a failed check and why.
    pub fn fail(&mut self, check: &str, message: impl Into<String>) {
        self.push(check, false, Some(message.into()));
    }
}

/// A reusable check of a component's runs, with hooks before and after the run's work. A hook
/// that is not overridden records nothing.
pub trait Test {
    /// The name results are recorded under (`OutliersTest` → `OutliersTest.z_score`); by default
    /// the type's name.
    fn name(&self) -> String {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full).to_string()
    }

    /// Runs before the closure, with the inputs and outputs declared up front.
    fn before(&self, _run: &RunView<'_>, _checks: &mut Checks) {}

    /// Runs after the closure returned, with every input and output, and its value.
    fn after(&self, _run: &RunView<'_>, _checks: &mut Checks) {}
}

/// A pipeline stage: name, metadata, tests, and what its runs record by default.
pub struct Component {
    name: String,
    description: String,
    owner: String,
    tags: Vec<String>,
    before: Vec<Box<dyn Test>>,
    after: Vec<Box<dyn Test>>,
    code: Option<String>,
    git_dir: Option<PathBuf>,
    staleness_threshold_s: u64,
}

impl fmt::Debug for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Component")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("tags", &self.tags)
            .field("before", &self.before.iter().map(|t| t.name()).collect::<Vec<_>>())
            .field("after", &self.after.iter().map(|t| t.name()).collect::<Vec<_>>())
            .finish()
    }
}

impl Component {
    /// A component with no metadata and no tests.
    pub fn new(name: impl Into<String>) -> Component {
        Component {
            name: name.into(),
            description: String::new(),
            owner: String::new(),
            tags: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
            code: None,
            git_dir: Some(PathBuf::from(".")),
            staleness_threshold_s: mltrace_store::ingest::DEFAULT_STALENESS_S,
        }
    }

    /// What it does.
    pub fn description(mut self, text: impl Into<String>) -> Component {
        self.description = text.into();
        self
    }

    /// Who owns it.
    pub fn owner(mut self, owner: impl Into<String>) -> Component {
        self.owner = owner.into();
        self
    }

    /// Tags to find it by.
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Component {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// A test whose `before` hook runs before every run (its `after` hook is not called).
    pub fn before_test(mut self, test: impl Test + 'static) -> Component {
        self.before.push(Box::new(test));
        self
    }

    /// A test whose `after` hook runs after every run (its `before` hook is not called).
    pub fn after_test(mut self, test: impl Test + 'static) -> Component {
        self.after.push(Box::new(test));
        self
    }

    /// The code its runs record (`include_str!("train.rs")`, a SQL query, a command line).
    pub fn code_snapshot(mut self, code: impl Into<String>) -> Component {
        self.code = Some(code.into());
        self
    }

    /// The working directory whose git commit its runs record (default: the current one);
    /// `None` records no commit.
    pub fn git_dir(mut self, dir: Option<&Path>) -> Component {
        self.git_dir = dir.map(Path::to_path_buf);
        self
    }

    /// After how long a dependency counts as stale (default 30 days).
    pub fn staleness_threshold(mut self, threshold: std::time::Duration) -> Component {
        self.staleness_threshold_s = threshold.as_secs();
        self
    }

    /// The component's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Registers the component (description and owner replaced, tags added).
    pub fn register(&self, backend: &dyn Backend) -> client::Result<ComponentView> {
        use crate::Call;
        backend.call(&crate::commands::Register {
            name: self.name.clone(),
            description: self.description.clone(),
            owner: self.owner.clone(),
            tags: self.tags.clone(),
        })
    }

    /// A run of this component, to declare inputs and outputs on and then [`call`](RunBuilder::call).
    pub fn run(&self) -> RunBuilder<'_> {
        RunBuilder {
            component: self,
            io: RunContext { inputs: Vec::new(), outputs: Vec::new(), notes: String::new(), upstream: Vec::new() },
            idempotency_key: None,
        }
    }
}

/// What the closure can add to its run while it works.
#[derive(Debug, Default)]
pub struct RunContext {
    inputs: Vec<IoSpec>,
    outputs: Vec<IoSpec>,
    notes: String,
    upstream: Vec<String>,
}

fn spec(name: impl Into<String>, hash: Option<String>) -> IoSpec {
    IoSpec { name: name.into(), hash, kind: None }
}

impl RunContext {
    /// Adds an input.
    pub fn input(&mut self, name: impl Into<String>) -> &mut Self {
        self.inputs.push(spec(name, None));
        self
    }

    /// Adds an input with the content hash of what was read (versioned lineage).
    pub fn input_hashed(&mut self, name: impl Into<String>, hash: impl Into<String>) -> &mut Self {
        self.inputs.push(spec(name, Some(hash.into())));
        self
    }

    /// Adds an output.
    pub fn output(&mut self, name: impl Into<String>) -> &mut Self {
        self.outputs.push(spec(name, None));
        self
    }

    /// Adds an output with the content hash of what was written.
    pub fn output_hashed(&mut self, name: impl Into<String>, hash: impl Into<String>) -> &mut Self {
        self.outputs.push(spec(name, Some(hash.into())));
        self
    }

    /// Appends a line to the run's notes.
    pub fn note(&mut self, text: impl AsRef<str>) -> &mut Self {
        if !self.notes.is_empty() {
            self.notes.push('\n');
        }
        self.notes.push_str(text.as_ref());
        self
    }

    /// Depends on the latest run of another component, whatever the inputs say.
    pub fn upstream(&mut self, component: impl Into<String>) -> &mut Self {
        self.upstream.push(component.into());
        self
    }

    /// The inputs so far.
    pub fn inputs(&self) -> &[IoSpec] {
        &self.inputs
    }

    /// The outputs so far.
    pub fn outputs(&self) -> &[IoSpec] {
        &self.outputs
    }
}

/// A run being declared: inputs and outputs known up front (before-tests see them).
pub struct RunBuilder<'c> {
    component: &'c Component,
    io: RunContext,
    idempotency_key: Option<String>,
}

/// What a successful run answers: the closure's value, what the store said, the test results.
#[derive(Debug)]
pub struct Ran<T> {
    /// What the closure returned.
    pub value: T,
    /// The run's id, seq, dependencies and staleness.
    pub logged: Logged,
    /// Every check of the before- and after-tests (all passed).
    pub tests: Vec<TestResult>,
}

/// Why a run did not complete.
#[derive(Debug)]
pub enum RunError<E> {
    /// A before-test failed: the closure did not run and nothing was logged.
    BeforeTests(Vec<TestResult>),
    /// The closure failed: nothing was logged.
    Body(E),
    /// An after-test failed: the run was logged with every result, then this is returned.
    AfterTests {
        /// The logged run.
        logged: Logged,
        /// The failed checks.
        failed: Vec<TestResult>,
    },
    /// The run could not be logged.
    Log(client::Error),
}

fn failures(results: &[TestResult]) -> String {
    results
        .iter()
        .map(|t| match &t.message {
            Some(m) => format!("{} ({m})", t.name),
            None => t.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl<E: fmt::Display> fmt::Display for RunError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::BeforeTests(r) => write!(f, "before-tests failed, the run was not started: {}", failures(r)),
            RunError::Body(e) => write!(f, "the run failed and was not logged: {e}"),
            RunError::AfterTests { logged, failed } => {
                write!(f, "after-tests failed (run {} was logged with the results): {}", logged.id, failures(failed))
            }
            RunError::Log(e) => write!(f, "the run could not be logged: {e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for RunError<E> {}

/// Runs each test's hook, a panic counting as a failed check.
fn run_hooks(tests: &[Box<dyn Test>], phase: &'static str, view: &RunView<'_>) -> Vec<TestResult> {
    let mut results = Vec::new();
    for t in tests {
        let mut checks = Checks::new(t.name(), phase);
        let outcome = catch_unwind(AssertUnwindSafe(|| match phase {
            "before" => t.before(view, &mut checks),
            _ => t.after(view, &mut checks),
        }));
        if let Err(panic) = outcome {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panicked".into());
            checks.fail("", format!("panicked: {why}"));
        }
        results.extend(checks.results);
    }
    results
}

/// A key unique to this run, so a retried request cannot log it twice.
fn fresh_key(component: &str, start: Timestamp) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("rust/{component}/{}/{}-{nanos}-{n}", start.0, std::process::id())
}

impl RunBuilder<'_> {
    /// Declares an input.
    pub fn input(mut self, name: impl Into<String>) -> Self {
        self.io.input(name);
        self
    }

    /// Declares inputs.
    pub fn inputs<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        for n in names {
            self.io.input(n);
        }
        self
    }

    /// Declares an input with its content hash.
    pub fn input_hashed(mut self, name: impl Into<String>, hash: impl Into<String>) -> Self {
        self.io.input_hashed(name, hash);
        self
    }

    /// Declares an output.
    pub fn output(mut self, name: impl Into<String>) -> Self {
        self.io.output(name);
        self
    }

    /// Declares outputs.
    pub fn outputs<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        for n in names {
            self.io.output(n);
        }
        self
    }

    /// Declares an output with its content hash.
    pub fn output_hashed(mut self, name: impl Into<String>, hash: impl Into<String>) -> Self {
        self.io.output_hashed(name, hash);
        self
    }

    /// Depends on the latest run of another component.
    pub fn upstream(mut self, component: impl Into<String>) -> Self {
        self.io.upstream(component);
        self
    }

    /// Notes to log with the run.
    pub fn notes(mut self, text: impl AsRef<str>) -> Self {
        self.io.note(text);
        self
    }

    /// Uses this key instead of a fresh one (logging the same key again logs nothing new).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Runs the before-tests, then `body`, then the after-tests, and logs the run with its start
    /// and end, inputs and outputs (declared here or in `body`), git commit, code and test results.
    pub fn call<T: 'static, E>(
        self,
        backend: &dyn Backend,
        body: impl FnOnce(&mut RunContext) -> Result<T, E>,
    ) -> Result<Ran<T>, RunError<E>> {
        let c = self.component;
        let mut io = self.io;
        let start = Timestamp::now();
        let view = RunView { component: &c.name, inputs: &io.inputs, outputs: &io.outputs, value: None };
        let mut tests = run_hooks(&c.before, "before", &view);
        let failed: Vec<TestResult> = tests.iter().filter(|t| !t.passed).cloned().collect();
        if !failed.is_empty() {
            return Err(RunError::BeforeTests(failed));
        }
        let value = body(&mut io).map_err(RunError::Body)?;
        let end = Timestamp::now().max(start);
        let view = RunView { component: &c.name, inputs: &io.inputs, outputs: &io.outputs, value: Some(&value) };
        tests.extend(run_hooks(&c.after, "after", &view));

        let mut run = NewRun::new(&c.name, start, end);
        run.inputs = io.inputs;
        run.outputs = io.outputs;
        run.upstream = io.upstream;
        run.notes = io.notes;
        run.tests = tests.clone();
        run.code_snapshot = c.code.clone();
        run.staleness_threshold_s = c.staleness_threshold_s;
        if let Some(dir) = &c.git_dir {
            run.git_hash = git::head(dir);
            if run.git_hash.is_some() {
                run.git_tags = git::tags(dir);
            }
        }
        run.idempotency_key = Some(self.idempotency_key.unwrap_or_else(|| fresh_key(&c.name, start)));
        let logged = backend.log_run(&run).map_err(RunError::Log)?;
        let failed: Vec<TestResult> = tests.iter().filter(|t| !t.passed).cloned().collect();
        if !failed.is_empty() {
            return Err(RunError::AfterTests { logged, failed });
        }
        Ok(Ran { value, logged, tests })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mltrace_store::{LogOptions, Store};

    struct HasInputs;
    impl Test for HasInputs {
        fn before(&self, run: &RunView<'_>, checks: &mut Checks) {
            checks.check("declared", if run.inputs.is_empty() { Err("no inputs") } else { Ok(()) });
        }
    }

    struct Positive;
    impl Test for Positive {
        fn after(&self, run: &RunView<'_>, checks: &mut Checks) {
            let v = run.value::<i64>().copied().unwrap_or(0);
            assert!(v > 0, "value {v} is not positive");
            checks.pass("value");
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(dir.path(), LogOptions::default()).unwrap();
        (dir, s)
    }

    #[test]
    fn a_run_records_io_tests_and_dependencies() {
        let (_d, s) = store();
        let make = Component::new("make").git_dir(None);
        make.run().output("a.csv").call(&s, |_| Ok::<_, String>(1i64)).unwrap();
        let use_ = Component::new("use").git_dir(None).before_test(HasInputs).after_test(Positive);
        let ran = use_
            .run()
            .input("a.csv")
            .call(&s, |ctx| {
                ctx.output("b.csv").note("fine");
                Ok::<_, String>(5i64)
            })
            .unwrap();
        assert_eq!(ran.value, 5);
        assert_eq!(ran.logged.dependencies, vec![1]);
        let run = s.reader(None).run(ran.logged.id).unwrap();
        let names: Vec<_> = run.tests.iter().map(|t| (t.name.as_str(), t.phase.as_str(), t.passed)).collect();
        assert_eq!(names, vec![("HasInputs.declared", "before", true), ("Positive.value", "after", true)]);
        assert_eq!(run.outputs[0].name, "b.csv");
        assert_eq!(run.notes, "fine");
    }

    #[test]
    fn failing_tests_stop_or_flag_the_run_as_the_python_client_does() {
        let (_d, s) = store();
        let c = Component::new("c").git_dir(None).before_test(HasInputs).after_test(Positive);
        let mut ran_body = false;
        let e = c
            .run()
            .call(&s, |_| {
                ran_body = true;
                Ok::<_, String>(1i64)
            })
            .unwrap_err();
        assert!(matches!(e, RunError::BeforeTests(ref f) if f[0].message.as_deref() == Some("no inputs")), "{e}");
        assert!(!ran_body);
        assert_eq!(s.last_seq(), 0, "nothing logged");
        let e = c.run().input("x").call(&s, |_| Err::<i64, _>("boom")).unwrap_err();
        assert!(matches!(e, RunError::Body("boom")));
        assert_eq!(s.last_seq(), 0, "nothing logged");
        let e = c.run().input("x").call(&s, |_| Ok::<_, String>(-3i64)).unwrap_err();
        let RunError::AfterTests { logged, failed } = e else { panic!("expected an after-test failure") };
        assert_eq!(failed[0].name, "Positive");
        assert!(failed[0].message.as_deref().unwrap_or("").contains("value -3 is not positive"));
        let run = s.reader(None).run(logged.id).unwrap();
        assert!(run.tests.iter().any(|t| !t.passed), "the failure is logged with the run");
    }
}
