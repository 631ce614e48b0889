//! "Did you mean": when a name the user typed matches nothing, the closest names the store knows.
//!
//! Candidates come from the suggest query (prefix and substring matches, the same the UI and the
//! shell completions use) asked with the name, its last path segment and its first letters, plus, for
//! components, the whole list; they are ranked by edit similarity so that a typo (`trian`), a
//! missing letter (`model.pk`) and a path spelled differently (`./model.pkl`) all find their name.

use super::Explain;
use crate::Failed;
use mltrace_api::client::{Call, queries};
use mltrace_api::client::{Connection, Error};
use mltrace_store::AsOf;

/// What kind of name was looked up.
#[derive(Clone, Copy)]
pub enum NameKind {
    /// An I/O name (trace, downstream, flag).
    Output,
    /// A component name (history, tag).
    Component,
}

/// How alike two names are, 0 to 1; a name inside the other counts as close.
fn similarity(typed: &str, known: &str) -> f64 {
    let (a, b) = (typed.to_lowercase(), known.to_lowercase());
    let base = strsim::normalized_damerau_levenshtein(&a, &b);
    if !a.is_empty() && (b.contains(&a) || a.contains(&b)) { base.max(0.7) } else { base }
}

/// Up to three known names closest to `typed`, best first.
pub fn closest(conn: &Connection, kind: NameKind, typed: &str, as_of: Option<AsOf>) -> Vec<String> {
    let trimmed = typed.trim().trim_start_matches("./");
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    let head: String = last.chars().take(3).collect();
    let mut names: Vec<String> = Vec::new();
    for q in [trimmed, last, head.as_str()] {
        if q.is_empty() {
            continue;
        }
        if let Ok(s) = conn.call(&queries::Suggest { q: q.to_string(), limit: 50, as_of }) {
            names.extend(match kind {
                NameKind::Output => s.outputs,
                NameKind::Component => s.components,
            });
        }
    }
    if let NameKind::Component = kind
        && let Ok(all) = conn.call(&queries::Components { owner: None, tag: None, as_of }).map(|l| l.components)
    {
        names.extend(all.into_iter().map(|c| c.name));
    }
    names.sort();
    names.dedup();
    let mut scored: Vec<(f64, String)> = names
        .into_iter()
        .filter(|n| n != typed)
        .map(|n| (similarity(trimmed, &n), n))
        .filter(|(s, _)| *s >= 0.6)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    scored.into_iter().take(3).map(|(_, n)| n).collect()
}

/// `explained`, plus "did you mean" on a not-found answer about `typed`.
pub fn or_suggest<T>(
    result: Result<T, Error>,
    conn: &Connection,
    kind: NameKind,
    typed: &str,
    as_of: Option<AsOf>,
) -> anyhow::Result<T> {
    match result {
        Err(e) if e.code() == "not_found" => {
            let near = closest(conn, kind, typed, as_of);
            if near.is_empty() {
                return Err(e).explained(conn);
            }
            let list = near.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
            Err(anyhow::Error::new(Failed(format!("{e}; did you mean {list}?"))))
        }
        other => other.explained(conn),
    }
}

#[cfg(test)]
mod tests {
    use super::similarity;

    #[test]
    fn typos_and_partial_names_are_close_and_strangers_are_not() {
        assert!(similarity("trian", "train") >= 0.6);
        assert!(similarity("model.pk", "model.pkl") >= 0.6);
        assert!(similarity("model.pkl", "s3://bucket/model.pkl") >= 0.6);
        assert!(similarity("ingest", "featuregen") < 0.6);
    }
}
