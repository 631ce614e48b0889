//! `components`, `tags` and `tag`.

use super::{Ctx, Explain};
use crate::Usage;
use crate::conn::{ConnArgs, ReadArgs};
use crate::output::{Cell, Style, Table, count};
use clap::Args;
use mltrace_api::client::{Call, commands, queries};

/// Components, sorted by name; filter by owner and tag (both when given).
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace components\n  mltrace components --tag etl\n  mltrace components --owner ml-team --tag serving"
)]
pub struct ComponentsArgs {
    /// Only components of this owner.
    #[arg(long)]
    pub owner: Option<String>,
    /// Only components with this tag.
    #[arg(long)]
    pub tag: Option<String>,
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace components`.
pub fn list(a: ComponentsArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let q = queries::Components { owner: a.owner.clone(), tag: a.tag.clone(), as_of: a.read.as_of };
    let list = conn.call(&q).explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&list)?);
    }
    let comps = list.components;
    if comps.is_empty() {
        let msg = ctx.out.paint("no components match", Style::Dim);
        return Ok(ctx.out.line(&msg)?);
    }
    let mut t = Table::new(&["NAME", "OWNER", "TAGS", "DESCRIPTION"]).flexible(3);
    for c in &comps {
        t.row(vec![
            Cell::new(c.name.clone(), Style::Cyan),
            Cell::from(c.owner.clone()),
            Cell::from(c.tags.join(", ")),
            Cell::from(c.description.clone()),
        ]);
    }
    Ok(t.write(&mut ctx.out)?)
}

/// Every tag, with how many components carry it.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  mltrace tags\n  mltrace components --tag etl     # the components with one of them"
)]
pub struct TagsArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace tags`.
pub fn tags(a: TagsArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    let conn = ctx.connect(&a.conn)?;
    let list = conn.call(&queries::Tags { as_of: a.read.as_of }).explained(&conn)?;
    if a.read.json {
        return Ok(ctx.out.json(&list)?);
    }
    let tags = list.tags;
    if tags.is_empty() {
        let msg = ctx.out.paint("no tags yet (add some: mltrace tag COMPONENT TAG...)", Style::Dim);
        return Ok(ctx.out.line(&msg)?);
    }
    let mut t = Table::new(&["TAG", "COMPONENTS"]).right(1);
    for tag in &tags {
        t.row(vec![Cell::from(tag.name.clone()), Cell::from(count(tag.components))]);
    }
    Ok(t.write(&mut ctx.out)?)
}

/// Adds tags to a component (it must exist: register it or log a run of it first).
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  mltrace tag featuregen etl features\n  mltrace components --tag etl")]
pub struct TagArgs {
    /// The component.
    pub component: String,
    /// Tags to add.
    #[arg(required = true, value_name = "TAG")]
    pub tags: Vec<String>,
    /// Print the API's JSON answer (the component).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// `mltrace tag COMPONENT TAG...`.
pub fn tag(a: TagArgs, ctx: &mut Ctx) -> anyhow::Result<()> {
    if a.tags.iter().any(|t| t.trim().is_empty()) {
        return Err(Usage("a tag cannot be empty".into()).into());
    }
    let conn = ctx.connect_for_write(&a.conn)?;
    let c = conn.call(&commands::Tag { name: a.component.clone(), tags: a.tags.clone() }).explained(&conn)?;
    if a.json {
        return Ok(ctx.out.json(&c)?);
    }
    let line =
        format!("{}  {} {}", ctx.out.paint(&c.name, Style::Cyan), ctx.out.paint("tags", Style::Dim), c.tags.join(", "));
    Ok(ctx.out.line(&line)?)
}
