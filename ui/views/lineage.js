// Trace and downstream of an output: the runs that produced it (trace) or that derived from it
// (downstream), as a layered graph or, on narrow screens or by choice, as a tree; a side card
// shows the selected run. Says so plainly when the server truncated the answer.

import { api, errorBox } from '../lib/api.js';
import { h, icon, mount, timeEl, fmtDuration, fmtDurationShort, runDuration, plural, fmtAgo, ioName } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { createGraph } from '../lib/graph.js';
import { setQuery } from '../lib/router.js';
import { componentLink, flagToggle, loading, runLink, staleList, staleMark, summaryFromEvent } from '../lib/widgets.js';

const DEFAULT_LIMIT = 1000;
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

function drawTree(container, data, mode, flagged, onSelect) {
  const rows = treeOrder(data, mode);
  const list = h('ol', { class: 'tree', role: 'tree', 'aria-label': `${mode} tree` });
  const items = new Map();
  for (const { node, level, via } of rows) {
    const run = node.run;
    const li = h('li', {
      role: 'treeitem', class: ['tree-row', flagged.has(node.id) && 'flagged', (run.stale || []).length && 'stale'],
      style: { '--level': String(level) }, 'aria-level': String(level + 1), dataset: { id: String(node.id), href: paths.run(node.id) }, tabindex: '-1',
      onclick: (e) => { if (!e.target.closest('a')) onSelect(node.id); },
      onfocus: () => onSelect(node.id),
    },
    level > 0 ? h('span', { class: 'tree-via muted mono', title: via || 'explicit upstream dependency' }, via ? `via ${via}` : 'upstream') : null,
    h('span', { class: 'tree-main' }, componentLink(run.component), ' ', runLink(run.id),
      h('span', { class: 'muted tree-time' }, ' ', timeEl(run.start)),
      staleMark(run.stale),
      h('span', { class: 'mark flag', title: 'wrote a flagged output' }, icon('flag'), 'flagged')));
    items.set(node.id, li);
    list.appendChild(li);
  }
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

function ioMini(list) {
  if (!list || list.length === 0) return h('p', { class: 'muted' }, 'none');
  return h('ul', { class: 'io-mini' }, list.map((io) => h('li', {},
    h('a', { class: 'mono', href: paths.trace(io.name), title: `trace ${io.name}` }, io.name),
    flagToggle(io.name, Boolean(io.flagged)))));
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
      h('h1', {}, h('span', { class: 'kicker' }, mode === 'trace' ? 'Trace of' : 'Downstream of'), ' ', h('span', { class: 'mono name' }, output)),
      headFlag,
      h('nav', { class: 'head-links' },
        h('a', { class: 'btn ghost small', href: paths[other](output) }, icon(other === 'trace' ? 'trace' : 'down'), other),
        h('a', { class: 'btn ghost small', href: paths.output(output) }, 'output details'))),
    h('div', { class: 'toolbar' }, switcher, stats),
    banner,
    h('div', { class: 'lineage' }, stage, aside),
    extra));
  mount(stage, loading(mode === 'trace' ? 'Tracing' : 'Following what derived from it'));

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
      limit < 10000 ? h('a', { href: `${location.pathname}?limit=${Math.min(10000, limit * 5)}${viewKind === 'tree' ? '&view=tree' : ''}` }, `Load up to ${Math.min(10000, limit * 5)}`) : null));
  }

  if (mode === 'downstream' && data.outputs.length) {
    mount(extra, h('section', { class: 'block' }, h('h2', {}, 'Derived outputs ', h('span', { class: 'count muted' }, String(data.outputs.length))),
      h('ul', { class: 'chips' }, data.outputs.slice(0, 500).map((name) => h('li', {}, h('a', { class: 'chip mono', href: paths.trace(name) }, name)))),
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

  function draw() {
    for (const b of switcher.querySelectorAll('.seg')) b.setAttribute('aria-pressed', String(b.dataset.kind === viewKind));
    if (drawing && drawing.destroy) drawing.destroy();
    mount(stage);
    stage.dataset.kind = viewKind;
    if (viewKind === 'graph') {
      drawing = createGraph(stage, {
        nodes: data.nodes.map((n) => ({
          id: n.id, layer: n.layer, title: n.run.component,
          subtitle: `${fmtAgo(n.run.start)} · ${fmtDurationShort(runDuration(n.run))}`,
          stale: (n.run.stale || []).length > 0, flagged: flaggedIds.has(n.id),
          root: n.id === data.root || Boolean(n.producer),
          label: `${n.run.component} run ${n.id}, depth ${n.depth}${(n.run.stale || []).length ? ', stale' : ''}${flaggedIds.has(n.id) ? ', flagged' : ''}`,
        })),
        edges: data.edges,
        anchor: mode === 'trace' ? 'right' : 'left',
        focus: selected,
        onSelect: (id) => selectRun(id, { fromUser: true }),
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
