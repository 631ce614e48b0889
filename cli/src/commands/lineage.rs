//! `trace`, `downstream` and `outdated`: the lineage graph, upstream and downstream.

use super::suggest::{NameKind, or_suggest};
use super::{Ctx, Explain};
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Paint, Style, Tree, count, local_time, plural};
use crate::view::run_line;
use clap::Args;
use mltrace_api::client::{Call, queries};
use mltrace_store::model::{EdgeView, TraceNode};
use mltrace_store::{DEFAULT_TRACE_LIMIT, RunId};
use std::collections::{HashMap, HashSet};

/// The tree of runs that produced an output: its latest producer, then what that run depended
/// on, depth first.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace trace model.pkl\n  mltrace trace s3://bucket/preds/day=3.jsonl --max-depth 2\n  mltrace trace model.pkl --as-of 2026-03-01T00:00:00Z\n  mltrace trace model.pkl --json | jq '.nodes[].run.id'"
)]
pub struct TraceArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
}

/// What `trace` and `downstream` take: an output, how far to walk, and the usual read options.
#[derive(Args, Debug)]
pub struct WalkArgs {
    /// The output (a path, URI or name, as logged).
    pub output: String,
    /// Stop this many levels away from the output.
    #[arg(long, value_name = "N")]
    pub max_depth: Option<u32>,
    /// Most runs to list.
    #[arg(long, default_value_t = DEFAULT_TRACE_LIMIT as u64, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub limit: u64,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace trace OUTPUT`.
pub fn trace(TraceArgs { walk: a }: TraceArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let t = or_suggest(
        conn.call(&queries::Trace {
            output: a.output.clone(),
            max_depth: a.max_depth,
            limit: a.limit as usize,
            as_of: a.read.as_of,
            proof: false,
        }),
        &conn,
        NameKind::Output,
        &a.output,
        a.read.as_of,
    )?;
    if a.read.json {
        return Ok(ctx.out.json(&t)?);
    }
    let out = &mut ctx.out;
    if t.root.is_none() {
        let msg = format!(
            "no run produced {}: it is a source (what it fed: mltrace downstream {})",
            out.paint(&t.output, Style::Bold),
            t.output
        );
        return Ok(out.line(&msg)?);
    }
    let depth = t.nodes.iter().map(|n| n.depth).max().unwrap_or(0);
    let head = format!(
        "{} {}",
        out.paint(&t.output, Style::Bold),
        out.paint(&format!("· {} · depth {depth}", plural(t.nodes.len() as u64, "run", "runs")), Style::Dim)
    );
    out.line(&head)?;
    lineage_tree(out.painter(), &t.nodes, &t.edges, 0, Direction::Up).write(out)?;
    if t.truncated {
        let msg = out.paint(&format!("… cut at {} runs (raise --limit)", count(t.nodes.len() as u64)), Style::Yellow);
        out.line(&msg)?;
    }
    Ok(())
}

/// Everything derived from an output: the runs that depended on its producers, level by level.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace downstream raw/events.csv          # what did this bad file touch?\n  mltrace downstream features.parquet --max-depth 1\n  mltrace downstream raw/events.csv --json | jq -r '.outputs[]'"
)]
pub struct DownstreamArgs {
    #[command(flatten)]
    pub walk: WalkArgs,
}

/// `mltrace downstream OUTPUT`.
pub fn downstream(DownstreamArgs { walk: a }: DownstreamArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let d = or_suggest(
        conn.call(&queries::Downstream {
            output: a.output.clone(),
            max_depth: a.max_depth,
            limit: a.limit as usize,
            as_of: a.read.as_of,
        }),
        &conn,
        NameKind::Output,
        &a.output,
        a.read.as_of,
    )?;
    if a.read.json {
        return Ok(ctx.out.json(&d)?);
    }
    let out = &mut ctx.out;
    let producers = if d.producers.is_empty() {
        "a source".to_string()
    } else {
        format!("produced by {}", d.producers.iter().map(|p| format!("#{p}")).collect::<Vec<_>>().join(", "))
    };
    let head = format!(
        "{} {}",
        out.paint(&d.output, Style::Bold),
        out.paint(
            &format!(
                "· {producers} · {} downstream, {}",
                plural(d.runs.len() as u64, "run", "runs"),
                plural(d.outputs.len() as u64, "output", "outputs")
            ),
            Style::Dim
        )
    );
    out.line(&head)?;
    if d.runs.is_empty() {
        let msg = out.paint("nothing was derived from it", Style::Dim);
        return Ok(out.line(&msg)?);
    }
    // Depth 0 is the output itself; the tree's roots are the direct dependents.
    lineage_tree(out.painter(), &d.runs, &d.edges, 1, Direction::Down).write(out)?;
    if d.truncated {
        let msg = out.paint(&format!("… cut at {} runs (raise --limit)", count(d.runs.len() as u64)), Style::Yellow);
        out.line(&msg)?;
    }
    if !d.outputs.is_empty() {
        let h = out.paint(&format!("Derived outputs ({})", d.outputs.len()), Style::Bold);
        out.line(&h)?;
        for o in &d.outputs {
            out.line(&format!("  {o}"))?;
        }
    }
    Ok(())
}

/// Which way a tree follows the edges.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// From a run to its dependencies (trace): pre-order as the store walked it.
    Up,
    /// From a run to its dependents (downstream): each run under its first dependency one level up.
    Down,
}

/// Draws nodes (with depth) as a tree. A run reached again by another edge is listed once, where
/// it was first reached; the other edges show as dim references, so a diamond stays readable.
fn lineage_tree(out: Paint, nodes: &[TraceNode], edges: &[EdgeView], base: usize, dir: Direction) -> Tree {
    let by_id: HashMap<RunId, &TraceNode> = nodes.iter().map(|n| (n.run.id, n)).collect();
    // Tree parent of each node.
    let mut parent: HashMap<RunId, RunId> = HashMap::new();
    match dir {
        Direction::Up => {
            // Pre-order: the parent is the last node one level up before it.
            let mut stack: Vec<RunId> = Vec::new();
            for n in nodes {
                stack.truncate(n.depth as usize);
                if let Some(&p) = stack.last() {
                    parent.insert(n.run.id, p);
                }
                stack.push(n.run.id);
            }
        }
        Direction::Down => {
            let mut deps_of: HashMap<RunId, Vec<RunId>> = HashMap::new();
            for e in edges {
                deps_of.entry(e.from).or_default().push(e.to);
            }
            for n in nodes.iter().filter(|n| n.depth as usize > base) {
                let up = deps_of
                    .get(&n.run.id)
                    .into_iter()
                    .flatten()
                    .filter_map(|to| by_id.get(to))
                    .filter(|p| p.depth + 1 == n.depth)
                    .map(|p| p.run.id)
                    .min();
                if let Some(p) = up {
                    parent.insert(n.run.id, p);
                }
            }
        }
    }
    let mut children: HashMap<Option<RunId>, Vec<RunId>> = HashMap::new();
    for n in nodes {
        children.entry(parent.get(&n.run.id).copied()).or_default().push(n.run.id);
    }
    // Edges of each node in the tree's direction, with the input that links them.
    let mut links: HashMap<RunId, Vec<(RunId, Option<&str>)>> = HashMap::new();
    for e in edges {
        let (a, b) = if dir == Direction::Up { (e.from, e.to) } else { (e.to, e.from) };
        if by_id.contains_key(&a) && by_id.contains_key(&b) {
            links.entry(a).or_default().push((b, e.via.as_deref()));
        }
    }
    let mut tree = Tree::new();
    let mut shown: HashSet<RunId> = HashSet::new();
    // Depth first without recursion: a lineage can be a chain of a million runs.
    let mut work: Vec<Work<'_>> = Vec::new();
    let roots = children.get(&None).cloned().unwrap_or_default();
    for &root in roots.iter().rev() {
        work.push(Work::Visit(root, None, base.min(1)));
    }
    while let Some(item) = work.pop() {
        match item {
            Work::Visit(id, via, depth) => {
                let Some(node) = by_id.get(&id) else { continue };
                shown.insert(id);
                let mut line = run_line(out, &node.run);
                if let Some(v) = via {
                    line.push_str(&out.paint(&format!("  via {v}"), Style::Dim));
                }
                tree.node(depth, line);
                let kids: HashSet<RunId> =
                    children.get(&Some(id)).map(|k| k.iter().copied().collect()).unwrap_or_default();
                let mut targets: Vec<(RunId, Option<&str>)> = links.get(&id).cloned().unwrap_or_default();
                // Tree children that no edge names still belong here.
                for &k in &kids {
                    if !targets.iter().any(|(t, _)| *t == k) {
                        targets.push((k, None));
                    }
                }
                targets.sort_by_key(|(t, _)| *t);
                targets.dedup_by_key(|(t, _)| *t);
                let (kid_targets, others): (Vec<_>, Vec<_>) = targets.into_iter().partition(|(t, _)| kids.contains(t));
                if !others.is_empty() {
                    work.push(Work::Also(others.into_iter().map(|(t, _)| t).collect(), depth + 1));
                }
                for (t, v) in kid_targets.into_iter().rev() {
                    work.push(Work::Visit(t, v, depth + 1));
                }
            }
            Work::Also(ids, depth) => {
                if let Some(line) = also_line(out, &ids, &by_id, &shown, dir) {
                    tree.node(depth, line);
                }
            }
        }
    }
    tree
}

/// A step of the tree walk.
enum Work<'a> {
    /// Draw this run (reached through this input) at this depth, then its children.
    Visit(RunId, Option<&'a str>, usize),
    /// After the children: the runs this one links to that are drawn elsewhere.
    Also(Vec<RunId>, usize),
}

/// Runs a node links to that are drawn elsewhere (a diamond): one dim line, by component.
fn also_line(
    out: Paint,
    ids: &[RunId],
    by_id: &HashMap<RunId, &TraceNode>,
    shown: &HashSet<RunId>,
    dir: Direction,
) -> Option<String> {
    let mut elsewhere: Vec<(String, Vec<RunId>)> = Vec::new();
    let (mut above, mut below) = (false, false);
    for &t in ids {
        let Some(n) = by_id.get(&t) else { continue };
        if shown.contains(&t) {
            above = true;
        } else {
            below = true;
        }
        match elsewhere.iter_mut().find(|(c, _)| *c == n.run.component) {
            Some((_, v)) => v.push(t),
            None => elsewhere.push((n.run.component.clone(), vec![t])),
        }
    }
    if elsewhere.is_empty() {
        return None;
    }
    let list = elsewhere
        .iter()
        .map(|(c, v)| format!("{c} {}", v.iter().map(|i| format!("#{i}")).collect::<Vec<_>>().join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    let verb = if dir == Direction::Up { "uses" } else { "feeds" };
    let place = match (above, below) {
        (true, false) => "shown above",
        (false, true) => "shown below",
        _ => "shown elsewhere",
    };
    Some(out.paint(&format!("also {verb} {list} ({place})"), Style::Dim))
}

/// Components whose latest run depends on a run that is no longer the latest of its component.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  mltrace outdated\n  mltrace outdated --json | jq -r '.components[].name'")]
pub struct OutdatedArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace outdated`.
pub fn outdated(a: OutdatedArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let list = conn.call(&queries::Outdated { as_of: a.read.as_of }).explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&list)?);
    }
    let comps = list.components;
    let out = &mut ctx.out;
    if comps.is_empty() {
        let msg = out.paint("every component's latest run uses the latest runs upstream", Style::Green);
        return Ok(out.line(&msg)?);
    }
    for c in &comps {
        let line = format!(
            "{}  {} {}",
            out.paint(&c.name, Style::Cyan),
            out.paint("latest run", Style::Dim),
            format_args!(
                "{} {}",
                out.paint(&format!("#{}", c.latest_run.id), Style::Bold),
                out.paint(&format!("({})", local_time(c.latest_run.start)), Style::Dim)
            )
        );
        out.line(&line)?;
        for r in &c.reasons {
            let l = format!("  {} {r}", out.paint("⚠", Style::Yellow));
            out.line(&l)?;
        }
    }
    Ok(())
}
