// Trace and downstream of an output: the runs that produced it (trace) or that derived from it
// (downstream), as a layered graph or, on narrow screens or by choice, as a tree; a side card
// shows the selected run. Says so plainly when the server truncated the answer.

import { api, errorBox } from '../lib/api.js';
import { h, icon, mount, timeEl, fmtDuration, fmtDurationShort, runDuration, plural, fmtAgo, ioName } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { createGraph, fitsReadable, prepare } from '../lib/graph.js';
import { setQuery } from '../lib/router.js';
import { shortNames } from '../lib/names.js';
import { componentLink, copyButton, flagToggle, loading, nameEl, runLink, staleList, staleMark, summaryFromEvent } from '../lib/widgets.js';

const DEFAULT_LIMIT = 1000;

/** "3 days ago" as "3d ago": room is tight in a graph box. */
const agoShort = (iso) => fmtAgo(iso).replace(/ (days?|months?|years?|min|h|s) ago$/, (_, unit) => `${{ day: 'd', days: 'd', month: 'mo', months: 'mo', year: 'y', years: 'y', min: 'm', h: 'h', s: 's' }[unit]} ago`);
const NARROW = window.matchMedia('(max-width: 760px)');

/** The answer of trace or downstream as one shape: nodes with depth and layer, edges up/down. */
async function loadLineage(mode, output, limit, signal) {
  if (mode === 'trace') {
    const answer = await api('/trace', { query: { output, limit }, signal });
    const nodes = (answer.nodes || []).map((n) => ({ id: n.run.id, depth: n.depth, run: n.run }));
    const maxDepth = nodes.reduce((m, n) => Math.max(m, n.depth), 0);
    for (const n of nodes) n.layer = maxDepth - n.depth;
    return {
      nodes, maxDepth, truncated: Boolean(answer.truncated), root: answer.root,
      edges: (answer.edges || []).map((e) => ({ up: e.to, down: e.from, via: e.via || null })),
      outputs: [],
    };
  }
  const answer = await api('/downstream', { query: { output, limit }, signal });
  const producerRuns = await Promise.all((answer.producers || []).map((p) => (typeof p === 'object' && p !== null
    ? Promise.resolve(p.run || p)
    : api(`/runs/${p}`, { signal }))));
  const nodes = producerRuns.map((run) => ({ id: run.id, depth: 0, run: summaryFromEvent(run), producer: true }));
  const seen = new Set(nodes.map((n) => n.id));
  for (const r of answer.runs || []) {
    if (seen.has(r.run.id)) continue;
    seen.add(r.run.id);
    nodes.push({ id: r.run.id, depth: r.depth, run: r.run });
  }
  const maxDepth = nodes.reduce((m, n) => Math.max(m, n.depth), 0);
  // A source has no producer: its consumers start at depth 1, so shift them to the first column.
  const minDepth = nodes.reduce((m, n) => Math.min(m, n.depth), Infinity);
  for (const n of nodes) n.layer = n.depth - (Number.isFinite(minDepth) ? minDepth : 0);
  return {
    nodes, maxDepth, truncated: Boolean(answer.truncated), root: null,
    edges: (answer.edges || []).map((e) => ({ up: e.to, down: e.from, via: e.via || null })),
    outputs: answer.outputs || [],
  };
}

function flaggedRuns(nodes, flaggedNames) {
  const ids = new Set();
  for (const n of nodes) {
    if ((n.run.outputs || []).some((o) => flaggedNames.has(ioName(o)))) ids.add(n.id);
  }
  return ids;
}

/** Tree order: each node under one parent one layer closer to the start, in node order. */
function treeOrder(data, mode) {
  const index = new Map(data.nodes.map((n, i) => [n.id, i]));
  const byId = new Map(data.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const e of data.edges) {
    // Trace: the dependent is the parent (it led to the dependency). Downstream: the reverse.
    const [p, c] = mode === 'trace' ? [e.down, e.up] : [e.up, e.down];
    const pn = byId.get(p);
    const cn = byId.get(c);
    if (!pn || !cn || cn.depth !== pn.depth + 1) continue;
    const current = parent.get(c);
    if (!current || index.get(p) < index.get(current.id)) parent.set(c, { id: p, via: e.via });
  }
  const children = new Map();
  const roots = [];
  for (const n of data.nodes) {
    const p = parent.get(n.id);
    if (p) {
      if (!children.has(p.id)) children.set(p.id, []);
      children.get(p.id).push(n);
    } else roots.push(n);
  }
  const out = [];
  const walk = (n, level) => {
    out.push({ node: n, level, via: parent.has(n.id) ? parent.get(n.id).via : null });
    for (const c of children.get(n.id) || []) walk(c, level + 1);
  };
  for (const r of roots) walk(r, 0);
  return out;
}

/** Indentation stops growing past this level (the level shows as a number instead). */
const INDENT_CAP = 12;

function drawTree(container, data, mode, flagged, onSelect) {
  const rows = treeOrder(data, mode);
  const short = shortNames(rows.map((r) => r.via).filter(Boolean));
  const list = h('ol', { class: 'tree', role: 'tree', 'aria-label': `${mode} tree` });
  const items = new Map();
  const entries = [];
  // Big trees open three levels deep; every level folds and unfolds.
  const openTo = rows.length > 150 ? 3 : Infinity;
  const hasChildren = rows.map((r, i) => i + 1 < rows.length && rows[i + 1].level > r.level);
  const refresh = () => {
    let foldedAt = Infinity;
    for (const e of entries) {
      if (e.level <= foldedAt) foldedAt = Infinity;
      e.li.hidden = e.level > foldedAt;
      if (!e.li.hidden && e.open === false) foldedAt = e.level;
    }
  };
  const setOpen = (i, open) => {
    const e = entries[i];
    e.open = open;
    e.li.setAttribute('aria-expanded', String(open));
    const button = e.li.querySelector('.tree-toggle');
    if (button) { button.setAttribute('aria-expanded', String(open)); button.textContent = open ? '▾' : '▸'; }
  };
  rows.forEach(({ node, level, via }, i) => {
    const run = node.run;
    const toggle = hasChildren[i] ? h('button', {
      type: 'button', class: 'tree-toggle', 'aria-expanded': 'true', 'aria-label': `fold the runs under ${run.component} #${run.id}`,
      onclick: (e) => { e.stopPropagation(); setOpen(i, entries[i].open === false); refresh(); },
    }, '▾') : h('span', { class: 'tree-toggle-space', 'aria-hidden': 'true' });
    const li = h('li', {
      role: 'treeitem', class: ['tree-row', flagged.has(node.id) && 'flagged', (run.stale || []).length && 'stale', level > INDENT_CAP && 'deep'],
      style: { '--level': String(Math.min(level, INDENT_CAP)) }, 'aria-level': String(level + 1), dataset: { id: String(node.id), href: paths.run(node.id) }, tabindex: '-1',
      onclick: (e) => { if (!e.target.closest('a, button')) onSelect(node.id); },
      onfocus: () => onSelect(node.id),
    },
    level > 0 ? h('span', { class: 'tree-via muted mono', title: via || 'explicit upstream dependency' },
      level > INDENT_CAP ? h('span', { class: 'tree-depth' }, `depth ${level} · `) : null, via ? ['via ', nameEl(via, { short: short.get(via) })] : 'upstream') : null,
    h('span', { class: 'tree-main' }, toggle, componentLink(run.component), ' ', runLink(run.id),
      h('span', { class: 'muted tree-time' }, ' ', timeEl(run.start)),
      staleMark(run.stale),
      h('span', { class: 'mark flag', title: 'wrote a flagged output' }, icon('flag'), 'flagged')));
    if (hasChildren[i]) li.setAttribute('aria-expanded', 'true');
    items.set(node.id, li);
    entries.push({ li, level, open: hasChildren[i] ? true : null });
    list.appendChild(li);
  });
  entries.forEach((e, i) => { if (hasChildren[i] && e.level + 1 >= openTo) setOpen(i, false); });
  refresh();
  container.appendChild(list);
  return {
    select(id) {
      for (const [key, li] of items) li.classList.toggle('selected', key === id);
    },
    setFlagged(ids) { for (const [key, li] of items) li.classList.toggle('flagged', ids.has(key)); },
  };
}

async function sideCard(aside, id, signal) {
  mount(aside, loading('Loading run'));
  try {
    const run = await api(`/runs/${id}`, { signal });
    mount(aside,
      h('div', { class: 'side-head' },
        h('h2', {}, componentLink(run.component), ' ', h('span', { class: 'mono muted' }, `#${run.id}`)),
        h('a', { class: 'btn small', href: paths.run(run.id) }, 'Open run card')),
      run.description ? h('p', { class: 'muted' }, run.description) : null,
      h('dl', { class: 'fields compact' },
        h('div', { class: 'field' }, h('dt', {}, 'Start'), h('dd', {}, timeEl(run.start), h('span', { class: 'muted' }, ` · ${fmtAgo(run.start)}`))),
        h('div', { class: 'field' }, h('dt', {}, 'Duration'), h('dd', {}, fmtDuration(runDuration(run)))),
        h('div', { class: 'field' }, h('dt', {}, 'Owner'), h('dd', {}, run.owner || h('span', { class: 'muted' }, '—'))),
        run.git_hash ? h('div', { class: 'field' }, h('dt', {}, 'Git'), h('dd', { class: 'mono' }, run.git_hash.slice(0, 12))) : null),
      (run.stale || []).length ? h('div', { class: 'stale-box small' }, h('strong', {}, 'Stale'), staleList(run.stale, 5)) : null,
      h('h3', {}, 'Inputs'),
      ioMini(run.inputs),
      h('h3', {}, 'Outputs'),
      ioMini(run.outputs),
      run.notes ? [h('h3', {}, 'Notes'), h('p', { class: 'notes-text' }, run.notes)] : null);
  } catch (e) {
    if (e.name !== 'AbortError') mount(aside, errorBox(e, `Loading run ${id}`));
  }
}

/** The current URL with one query parameter changed (the others, as_of included, kept). */
function withParam(key, value) {
  const url = new URL(location.href);
  url.searchParams.set(key, String(value));
  return url.pathname + url.search;
}

/** For an unknown output: the known names that look like it, as links. */
async function didYouMean(stage, output, mode, signal) {
  try {
    // The suggest API matches substrings: try the name, its last segment, and its folder (the
    // siblings of a misspelt file).
    const cut = output.lastIndexOf('/', output.length - 2);
    const tail = cut >= 0 ? output.slice(cut + 1) : '';
    const folder = cut > 0 ? output.slice(0, cut + 1) : '';
    const answers = await Promise.all([output, tail, folder].filter((q) => q.length >= 2)
      .map((q) => api('/suggest', { query: { q, limit: 8 }, signal }).catch(() => ({ outputs: [] }))));
    const names = [...new Set(answers.flatMap((a) => a.outputs || []))].slice(0, 8);
    if (names.length === 0) return;
    stage.appendChild(h('section', { class: 'block did-you-mean' }, h('h2', {}, 'Did you mean'),
      h('ul', { class: 'chips' }, names.map((name) => h('li', {}, h('a', { class: 'chip mono', href: paths[mode](name), title: name }, nameEl(name)))))));
  } catch { /* suggestions are a help, not a must */ }
}

function ioMini(list) {
  if (!list || list.length === 0) return h('p', { class: 'muted' }, 'none');
  return h('ul', { class: 'io-mini' }, list.map((io) => h('li', {},
    h('a', { class: 'mono', href: paths.trace(io.name), title: `trace ${io.name}` }, nameEl(io.name, { full: true })),
    h('span', { class: 'io-mini-tools' }, copyButton(io.name), flagToggle(io.name, Boolean(io.flagged))))));
}

export async function render(ctx) {
  const { mode, output } = ctx.params;
  const other = mode === 'trace' ? 'downstream' : 'trace';
  const limit = Number(ctx.query.get('limit')) || DEFAULT_LIMIT;
  let viewKind = ctx.query.get('view') || (NARROW.matches ? 'tree' : 'graph');
  ctx.title(`${mode} ${output}`);

  const headFlag = h('span', { class: 'head-flag' });
  const stats = h('span', { class: 'muted stats' });
  const switcher = h('div', { class: 'segmented', role: 'group', 'aria-label': 'View as' },
    ['graph', 'tree'].map((kind) => h('button', {
      type: 'button', class: 'seg', dataset: { kind }, 'aria-pressed': String(kind === viewKind),
      onclick: () => { if (kind !== viewKind) { viewKind = kind; setQuery({ view: kind }); draw(); } },
    }, icon(kind), kind)));
  const banner = h('div', {});
  const stage = h('div', { class: 'lineage-stage' });
  const aside = h('aside', { class: 'side-card', 'aria-label': 'selected run' });
  const extra = h('div', {});

  mount(ctx.root, h('section', { class: `view view-lineage mode-${mode}` },
    h('header', { class: 'view-head' },
      h('h1', {}, h('span', { class: 'kicker' }, mode === 'trace' ? 'Trace of' : 'Downstream of'), ' ', h('span', { class: 'mono name' }, nameEl(output, { full: true })), copyButton(output, { label: 'Copy output name' })),
      headFlag,
      h('nav', { class: 'head-links' },
        h('a', { class: 'btn ghost small', href: paths[other](output) }, icon(other === 'trace' ? 'trace' : 'down'), other),
        h('a', { class: 'btn ghost small', href: paths.output(output) }, 'output details'))),
    h('div', { class: 'toolbar' }, switcher, stats),
    banner,
    h('div', { class: 'lineage' }, stage, aside),
    extra));
  mount(stage, loading(mode === 'trace' ? 'Tracing' : 'Following what derived from it'));
  const graphTools = h('div', { class: 'graph-tools' });
  graphTools.hidden = true;
  switcher.after(graphTools);

  let data;
  let flaggedNames = new Set();
  try {
    const [lineage, flags, io] = await Promise.all([
      loadLineage(mode, output, limit, ctx.signal),
      api('/flags', { signal: ctx.signal }).catch(() => ({ flags: [] })),
      api('/io', { query: { name: output }, signal: ctx.signal }).catch(() => null),
    ]);
    data = lineage;
    flaggedNames = new Set((flags.flags || []).map((f) => f.name));
    if (io) mount(headFlag, flagToggle(output, Boolean(io.flagged)));
  } catch (e) {
    if (e.name === 'AbortError') return;
    mount(stage, errorBox(e, mode === 'trace' ? `Tracing ${output}` : `Downstream of ${output}`));
    aside.remove();
    switcher.hidden = true;
    graphTools.hidden = true;
    if (e.code === 'not_found') didYouMean(stage, output, mode, ctx.signal);
    return;
  }

  if (data.nodes.length === 0) {
    switcher.hidden = true;
    aside.remove();
    mount(stage, h('div', { class: 'empty-state small' }, mode === 'trace'
      ? [h('h2', {}, 'A source'), h('p', {}, h('span', { class: 'mono' }, output), ' was read by runs but no logged run wrote it, so there is nothing upstream to trace. '),
        h('p', {}, h('a', { href: paths.downstream(output) }, 'See what it fed (downstream)'), '.')]
      : [h('h2', {}, 'Nothing downstream'), h('p', {}, 'No logged run has read ', h('span', { class: 'mono' }, output), ' or anything derived from it yet.')]));
    return;
  }

  stats.textContent = `${plural(data.nodes.length, 'run')} · ${plural(data.maxDepth + 1, 'level')} · ${plural(data.edges.length, 'link')}`;
  if (data.truncated) {
    mount(banner, h('div', { class: 'warn-box', role: 'status' },
      icon('warn'), h('span', {}, `The server stopped at ${plural(data.nodes.length, 'run')} (limit ${limit}): this ${mode} is incomplete. `),
      limit < 10000 ? h('a', { href: withParam('limit', Math.min(10000, limit * 5)) }, `Load up to ${Math.min(10000, limit * 5)}`) : null));
  }

  if (mode === 'downstream' && data.outputs.length) {
    mount(extra, h('section', { class: 'block' }, h('h2', {}, 'Derived outputs ', h('span', { class: 'count muted' }, String(data.outputs.length))),
      h('ul', { class: 'chips' }, data.outputs.slice(0, 500).map((name) => h('li', {}, h('a', { class: 'chip mono link-chip', href: paths.trace(name), title: `trace ${name}` }, nameEl(name), ' ›')))),
      data.outputs.length > 500 ? h('p', { class: 'muted' }, `and ${data.outputs.length - 500} more`) : null));
  }

  let flaggedIds = flaggedRuns(data.nodes, flaggedNames);
  let drawing = null;
  let selected = Number(ctx.query.get('run')) || (data.root ?? data.nodes[0].id);
  let cardController = null;

  const selectRun = (id, { fromUser = false } = {}) => {
    selected = id;
    if (drawing) drawing.select(id, { revealIt: fromUser });
    if (fromUser) setQuery({ run: id });
    if (cardController) cardController.abort();
    cardController = new AbortController();
    ctx.signal.addEventListener('abort', () => cardController.abort(), { once: true });
    sideCard(aside, id, cardController.signal);
  };

  /** Runs within `depth` of the start, and how many neighbours each one hides past it. */
  const withinDepth = (depth) => {
    const shown = data.nodes.filter((n) => n.depth <= depth);
    const ids = new Set(shown.map((n) => n.id));
    const hidden = new Map();
    for (const e of data.edges) {
      const inUp = ids.has(e.up);
      const inDown = ids.has(e.down);
      if (inUp && !inDown) hidden.set(e.up, (hidden.get(e.up) || 0) + 1);
      if (inDown && !inUp) hidden.set(e.down, (hidden.get(e.down) || 0) + 1);
    }
    return { shown, edges: data.edges.filter((e) => ids.has(e.up) && ids.has(e.down)), hidden };
  };
  const graphNodes = (shown, hidden) => shown.map((n) => {
    const stale = (n.run.stale || []).length > 0;
    const more = hidden.get(n.id) || 0;
    return {
      id: n.id, depth: n.depth, component: n.run.component,
      subtitle: `${agoShort(n.run.start)} · ${fmtDurationShort(runDuration(n.run))}`,
      stale, flagged: flaggedIds.has(n.id), root: n.id === data.root || Boolean(n.producer), more,
      label: `${n.run.component} run ${n.id}, depth ${n.depth}${stale ? ', stale' : ''}${flaggedIds.has(n.id) ? ', wrote a flagged output' : ''}${more ? `, ${more} more ${mode === 'trace' ? 'upstream' : 'downstream'} beyond the depth shown` : ''}`,
    };
  });
  const groupLabel = (n) => {
    const ids = n.members.map((m) => m.id).sort((a, b) => a - b);
    const stale = n.members.filter((m) => m.stale).length;
    n.subtitle = `#${ids[0]}–${ids[ids.length - 1]}`;
    n.stale = stale > 0;
    n.flagged = n.members.some((m) => m.flagged);
    n.label = `${n.members.length} runs of ${n.component} folded, #${ids[0]} to #${ids[ids.length - 1]}${stale ? `, ${stale} stale` : ''}. Enter opens them.`;
    return n;
  };
  const frameSize = () => {
    const probe = h('div', { class: 'graph', style: { visibility: 'hidden' } });
    stage.appendChild(probe);
    const r = probe.getBoundingClientRect();
    probe.remove();
    return { w: r.width || 800, h: r.height || 500 };
  };
  const openGroups = new Set();
  let grouping = ctx.query.get('group') !== 'off';
  let depth = Number(ctx.query.get('depth')) || null;
  const build = (d) => {
    const { shown, edges, hidden } = withinDepth(d);
    const keep = new Set([data.root, selected].filter((x) => x !== null && x !== undefined));
    const prepared = prepare(graphNodes(shown, hidden), edges, { align: mode === 'trace' ? 'sink' : 'source', keep, open: openGroups, grouping });
    for (const n of prepared.nodes) if (n.members) groupLabel(n);
    return prepared;
  };
  /** The deepest view that fits at a readable zoom (a few hops for big lineage). */
  const autoDepth = () => {
    const { w, h: fh } = frameSize();
    let lo = 1;
    let hi = data.nodes.length > 150 ? Math.min(data.maxDepth, 4) : data.maxDepth;
    if (hi <= 1) return { depth: Math.max(1, data.maxDepth), prepared: build(Math.max(1, data.maxDepth)) };
    let best = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = build(mid);
      if (fitsReadable(p.width, p.height, w, fh)) { best = { depth: mid, prepared: p }; lo = mid + 1; } else hi = mid - 1;
    }
    return best || { depth: 1, prepared: build(1) };
  };
  const depthSelect = h('select', { class: 'input depth-select', 'aria-label': 'depth shown' });
  const groupBox = h('input', { type: 'checkbox', checked: grouping });
  mount(graphTools,
    h('label', {}, mode === 'trace' ? 'Levels upstream ' : 'Levels downstream ', depthSelect),
    h('label', { title: 'Fold chains and fans of runs of one component into one box' }, groupBox, ' fold repeated runs'));
  depthSelect.addEventListener('change', () => {
    depth = Number(depthSelect.value);
    setQuery({ depth: depth >= data.maxDepth ? 'all' : depth });
    draw();
  });
  groupBox.addEventListener('change', () => {
    grouping = groupBox.checked;
    setQuery({ group: grouping ? null : 'off' });
    draw();
  });

  function draw() {
    for (const b of switcher.querySelectorAll('.seg')) b.setAttribute('aria-pressed', String(b.dataset.kind === viewKind));
    if (drawing && drawing.destroy) drawing.destroy();
    mount(stage);
    stage.dataset.kind = viewKind;
    graphTools.hidden = viewKind !== 'graph';
    if (viewKind === 'graph') {
      let prepared;
      if (ctx.query.get('depth') === 'all' && depth === null) depth = data.maxDepth;
      if (depth === null) ({ depth, prepared } = autoDepth());
      else prepared = build(Math.min(depth, data.maxDepth));
      mount(depthSelect, Array.from({ length: Math.max(1, data.maxDepth) }, (_, i) => i + 1).map((d) => h('option', { value: String(d), selected: d === Math.min(depth, data.maxDepth) }, d === data.maxDepth ? `${d} (all)` : String(d))));
      depthSelect.disabled = data.maxDepth <= 1;
      const shownRuns = data.nodes.filter((n) => n.depth <= depth).length;
      stats.textContent = `${plural(data.nodes.length, 'run')} · ${plural(data.maxDepth + 1, 'level')} · ${plural(data.edges.length, 'link')}${shownRuns < data.nodes.length ? ` · showing ${shownRuns} within ${plural(depth, 'level')}` : ''}`;
      drawing = createGraph(stage, {
        prepared,
        anchor: mode === 'trace' ? 'right' : 'left',
        focus: data.root ?? data.nodes[0].id,
        onSelect: (id) => selectRun(id, { fromUser: true }),
        onOpenGroup: (g) => { openGroups.add(g); draw(); },
      });
    } else {
      drawing = drawTree(stage, data, mode, flaggedIds, (id) => selectRun(id, { fromUser: true }));
    }
    drawing.select(selected, {});
  }

  draw();
  selectRun(selected);

  const refreshFlags = async () => {
    try {
      const flags = await api('/flags', { signal: ctx.signal });
      flaggedNames = new Set((flags.flags || []).map((f) => f.name));
      flaggedIds = flaggedRuns(data.nodes, flaggedNames);
      if (drawing) drawing.setFlagged(flaggedIds);
    } catch { /* the marks stay as they were */ }
  };
  ctx.onEvent((event) => {
    if (event.type === 'flagged' || event.type === 'unflagged') refreshFlags();
  });
}
