//! `inspect RUN_ID`: the info card of one run.

use super::{Ctx, Explain};
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Out, Style, duration, local_time, plural, width};
use crate::view::{FLAGGED, STALE, card, heading, run_label};
use clap::Args;
use mltrace_api::client::{Call, queries};
use mltrace_store::RunId;
use mltrace_store::event::RunStatus;
use mltrace_store::model::RunDetail;
use std::io;

/// Code lines shown before the snapshot is folded.
const CODE_LINES: usize = 8;

/// The info card of one run: when, from which commit, what it read and wrote (with flags), what
/// it depends on, whether it is stale, its tests, notes and code.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace inspect 12\n  mltrace inspect 12 --code          # the whole code snapshot\n  mltrace inspect 12 --as-of 300     # as it was at seq 300 (flags, notes)\n  mltrace inspect 12 --json"
)]
pub struct InspectArgs {
    /// The run's id (`12` or `#12`, as every view prints it).
    #[arg(value_name = "RUN_ID", value_parser = crate::conn::parse_run_id)]
    pub id: RunId,
    /// Show the whole code snapshot instead of its first lines.
    #[arg(long)]
    pub code: bool,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace inspect RUN_ID`.
pub fn run(a: InspectArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let r = conn.call(&queries::Run { id: a.id, as_of: a.read.as_of, proof: false }).explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&r)?);
    }
    write_card(&mut ctx.out, &r, a.code)?;
    Ok(())
}

fn write_card(out: &mut Out, r: &RunDetail, full_code: bool) -> io::Result<()> {
    let mut title = format!("Run {}", run_label(out.painter(), &r.component, r.id));
    if !r.stale.is_empty() {
        title.push_str("  ");
        title.push_str(&out.paint(STALE, Style::Yellow));
    }
    out.line(&title)?;
    for msg in &r.stale {
        let line = out.paint(&format!("  ⚠ {msg}"), Style::Yellow);
        out.line(&line)?;
    }
    let mut rows: Vec<(&str, String)> = Vec::new();
    if !r.description.is_empty() {
        rows.push(("about", r.description.clone()));
    }
    rows.push(("owner", r.owner.clone()));
    rows.push(("tags", r.tags.join(", ")));
    rows.push(("started", local_time(r.start)));
    match r.status {
        Some(RunStatus::Running) => {
            let so_far = duration(mltrace_store::Timestamp::now().0 - r.start.0);
            rows.push(("status", out.paint(&format!("● running for {so_far}"), Style::Green)));
            rows.push(("last event", local_time(r.end)));
        }
        _ => rows.push(("ended", format!("{}  ({})", local_time(r.end), duration(r.duration_ms)))),
    }
    if let Some(status @ (RunStatus::Failed | RunStatus::Aborted)) = r.status {
        let text = match &r.error {
            Some(e) => format!("✗ {}: {e}", status.as_str()),
            None => format!("✗ {}", status.as_str()),
        };
        rows.push(("status", out.paint(&text, Style::Red)));
    }
    lineage_rows(out, r, &mut rows);
    if let Some(h) = &r.git_hash {
        let mut g = out.paint(h, Style::Magenta);
        if !r.git_tags.is_empty() {
            g.push_str(&format!("  ({})", r.git_tags.join(", ")));
        }
        rows.push(("git", g));
    } else if !r.git_tags.is_empty() {
        rows.push(("git tags", r.git_tags.join(", ")));
    }
    let deps = r.dependencies.iter().map(|d| format!("#{d}")).collect::<Vec<_>>().join(", ");
    rows.push(("depends on", deps));
    rows.push(("seq", r.seq.to_string()));
    card(out, &rows)?;

    let name_w =
        r.inputs.iter().map(|i| width(&i.name)).chain(r.outputs.iter().map(|o| width(&o.name))).max().unwrap_or(0);
    io_section(
        out,
        "Inputs",
        name_w,
        r.inputs.iter().map(|i| Io {
            name: &i.name,
            kind: i.kind.as_str(),
            hash: i.hash.as_deref(),
            flagged: i.flagged,
            note: Some(match i.producer {
                Some(p) => format!("from #{p}"),
                None => "source".to_string(),
            }),
        }),
    )?;
    io_section(
        out,
        "Outputs",
        name_w,
        r.outputs.iter().map(|o| Io {
            name: &o.name,
            kind: o.kind.as_str(),
            hash: o.hash.as_deref(),
            flagged: o.flagged,
            note: None,
        }),
    )?;

    if !r.tests.is_empty() {
        let passed = r.tests.iter().filter(|t| t.passed).count();
        heading(out, &format!("Tests ({passed}/{} passed)", r.tests.len()))?;
        for t in &r.tests {
            let mark = if t.passed { out.paint("✓", Style::Green) } else { out.paint("✗", Style::Red) };
            let mut line = format!("  {mark} {:<6}  {}", t.phase, t.name);
            if let Some(m) = &t.message {
                line.push_str(&format!("  {}", out.paint(m, if t.passed { Style::Dim } else { Style::Red })));
            }
            out.line(&line)?;
        }
    }
    if !r.notes.is_empty() {
        heading(out, "Notes")?;
        for l in r.notes.lines() {
            out.line(&format!("  {l}"))?;
        }
    }
    if let Some(code) = r.code_snapshot.as_deref().filter(|c| !c.trim().is_empty()) {
        let lines: Vec<&str> = code.lines().collect();
        heading(out, &format!("Code ({})", plural(lines.len() as u64, "line", "lines")))?;
        let shown = if full_code { lines.len() } else { CODE_LINES.min(lines.len()) };
        for l in &lines[..shown] {
            out.line(&format!("  {l}"))?;
        }
        if shown < lines.len() {
            let more = out.paint(
                &format!(
                    "  … {} more {} (mltrace inspect {} --code)",
                    lines.len() - shown,
                    if lines.len() - shown == 1 { "line" } else { "lines" },
                    r.id
                ),
                Style::Dim,
            );
            out.line(&more)?;
        }
    }
    Ok(())
}

/// The OpenLineage part of the card: the run's id there, its job, parent, source and the facets a
/// scheduler sets (nominal time, engine, environment).
fn lineage_rows(out: &Out, r: &RunDetail, rows: &mut Vec<(&str, String)>) {
    let Some(ol) = &r.openlineage else { return };
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    rows.push((
        "openlineage",
        format!("{}  {}/{}", text(&ol["run_id"]), text(&ol["job"]["namespace"]), text(&ol["job"]["name"])),
    ));
    if let Some(p) = ol.get("parent").filter(|p| !p.is_null()) {
        let at = match r.parent {
            Some(id) => run_label(out.painter(), &text(&p["component"]), id),
            None => format!("{} (not logged here)", text(&p["component"])),
        };
        rows.push(("parent", format!("{at}  {}", out.paint(&text(&p["run_id"]), Style::Dim))));
    }
    if let Some(url) = ol["source_url"].as_str() {
        rows.push(("source", url.to_string()));
    }
    if let Some(n) = ol.get("nominal_time").filter(|n| !n.is_null()) {
        let mut t = text(&n["nominalStartTime"]);
        if let Some(end) = n["nominalEndTime"].as_str() {
            t.push_str(&format!(" → {end}"));
        }
        rows.push(("nominal", t));
    }
    if let Some(e) = ol.get("processing_engine").filter(|e| !e.is_null()) {
        rows.push(("engine", format!("{} {}", text(&e["name"]), text(&e["version"])).trim().to_string()));
    }
    if let Some(vars) = ol["environment_variables"].as_array() {
        let list: Vec<String> = vars.iter().map(|v| format!("{}={}", text(&v["name"]), text(&v["value"]))).collect();
        rows.push(("environment", list.join(" ")));
    }
    let events: Vec<String> = ol["events"].as_array().into_iter().flatten().map(|e| text(&e["eventType"])).collect();
    rows.push(("events", events.join(", ")));
}

struct Io<'a> {
    name: &'a str,
    kind: &'a str,
    hash: Option<&'a str>,
    flagged: bool,
    note: Option<String>,
}

fn io_section<'a>(out: &mut Out, title: &str, name_w: usize, items: impl Iterator<Item = Io<'a>>) -> io::Result<()> {
    let items: Vec<Io<'a>> = items.collect();
    heading(out, &format!("{title} ({})", items.len()))?;
    if items.is_empty() {
        return Ok(());
    }
    for i in &items {
        let mark = if i.flagged { out.paint(FLAGGED, Style::Red) } else { out.paint("·", Style::Dim) };
        let mut line = format!("  {mark} {}", i.name);
        let mut rest = vec![out.paint(&format!("{:<8}", i.kind), Style::Dim)];
        if let Some(n) = &i.note {
            rest.push(n.clone());
        }
        if let Some(h) = i.hash {
            rest.push(out.paint(h, Style::Dim));
        }
        if i.flagged {
            rest.push(out.paint("flagged", Style::Red));
        }
        line.push_str(&" ".repeat(name_w - width(i.name) + 2));
        line.push_str(rest.join("  ").trim_end());
        out.line(line.trim_end())?;
    }
    Ok(())
}
