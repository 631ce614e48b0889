//! Instrumenting Rust pipelines (being written): git helpers first.

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
