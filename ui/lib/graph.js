// The lineage graph as SVG: boxes, routed edges, labels that never collide, pan and zoom, a
// minimap, a legend, keyboard navigation between neighbours, and the highlighted path of the
// selected run. Owns the drawing; the layout is lib/layout.js, the folding of repeated runs
// lib/groups.js, the short names lib/names.js.
//
// Text is measured (canvas measureText with the page's fonts) and cut to the room it has, so a
// title never runs into its #id and labels fit between columns. Edge labels are placed greedily
// (the edges into the traced output first), at the target's end or else at the source's, and left
// out where they would overlap a box or another label (the full names stay in the tooltip).
//
// Keyboard: the graph is one Tab stop (the selected run); Left and Right move to a dependency or a
// dependent, Up and Down through the column, Enter opens a folded group, + - 0 zoom.

import { h, s, icon } from './dom.js';
import { fold } from './groups.js';
import { COL_GAP, NODE_H, NODE_W, layout } from './layout.js';
import { shortNames } from './names.js';

export { NODE_H, NODE_W, layout };

/** The smallest zoom at which every text of the graph (11 px and up) renders at 11 px or more. */
export const READABLE = 1;
const LABEL_ROOM = COL_GAP - 16;
const LABEL_MAX = 240;
const LINE = 13;
const MAX_LINES = 3;
const MAX_LIT_EDGES = 150;

let measureCtx = null;
const fonts = {};

function fontFor(kind) {
  if (!fonts[kind]) {
    const css = getComputedStyle(document.documentElement);
    const mono = css.getPropertyValue('--mono').trim() || 'monospace';
    const sans = css.getPropertyValue('--font').trim() || 'sans-serif';
    fonts[kind] = {
      title: `600 12.5px ${mono}`, id: `11px ${mono}`, sub: `11px ${sans}`, label: `11px ${mono}`,
    }[kind];
  }
  return fonts[kind];
}

export function textWidth(text, kind) {
  if (!measureCtx) measureCtx = document.createElement('canvas').getContext('2d');
  measureCtx.font = fontFor(kind);
  return measureCtx.measureText(text).width;
}

/** The text cut in the middle (keeping more of its end) to fit maxWidth px. */
export function fitText(text, kind, maxWidth) {
  const str = String(text);
  if (textWidth(str, kind) <= maxWidth) return str;
  let lo = 1;
  let hi = str.length - 1;
  let best = '…';
  while (lo <= hi) {
    const keep = (lo + hi) >> 1;
    const tail = Math.ceil(keep * 0.6);
    const cand = `${str.slice(0, keep - tail)}…${str.slice(str.length - tail)}`;
    if (textWidth(cand, kind) <= maxWidth) { best = cand; lo = keep + 1; } else hi = keep - 1;
  }
  return best;
}

/** Segments packed from the end into lines of at most `room` px; null when one does not fit. */
function pack(segs, room) {
  const lines = [];
  let current = '';
  for (let i = segs.length - 1; i >= 0; i -= 1) {
    const seg = segs[i] + (i < segs.length - 1 ? '/' : '');
    if (textWidth(seg, 'label') > room) return null;
    if (current && textWidth(seg + current, 'label') <= room) { current = seg + current; continue; }
    if (current) lines.unshift(current);
    current = seg;
  }
  if (current) lines.unshift(current);
  return lines;
}

/**
 * An edge label: a short name as at most three lines, each as narrow as it can be (from
 * LABEL_ROOM up to LABEL_MAX px; the column gap widens to fit it). Segments are packed from the
 * end, so the file name and the partitions and dates before it stay together. Labels of one graph
 * come from shortNames, so they already differ from each other; a file extension is dropped, and
 * the middle cut, only when a name cannot fit at all. Returns {lines, width}.
 */
function labelLines(text) {
  const whole = textWidth(text, 'label');
  if (whole <= LABEL_ROOM) return { lines: [text], width: whole };
  const segs = text.replace(/^…\//, '').split('/');
  for (let room = LABEL_ROOM; room <= LABEL_MAX; room += 12) {
    const lines = pack(segs, room);
    if (lines && lines.length <= MAX_LINES) return { lines, width: Math.max(...lines.map((l) => textWidth(l, 'label'))) };
  }
  const last = segs.length - 1;
  segs[last] = segs[last].replace(/\.[A-Za-z0-9]{1,8}$/, '');
  const lines = (pack(segs, LABEL_MAX) || [text]).slice(-MAX_LINES).map((l) => fitText(l, 'label', LABEL_MAX));
  return { lines, width: Math.max(...lines.map((l) => textWidth(l, 'label'))) };
}

/** The label text of an edge: its input's short name, "+N" for more, "upstream" for none. */
function labelText(e, short) {
  if (e.vias.length === 0) return 'upstream';
  return e.vias.length === 1 ? short.get(e.vias[0]) : `${short.get(e.vias[0])} +${e.vias.length - 1}`;
}

/** Whether a layout of width x height fits a frame at a readable zoom. */
export function fitsReadable(width, height, frameW, frameH) {
  return Math.min(frameW / width, frameH / height) >= READABLE;
}

const boxesOverlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

function curve(ax, ay, bx, by) {
  const dx = Math.max(24, (bx - ax) / 2);
  return `C${ax + dx},${ay} ${bx - dx},${by} ${bx},${by}`;
}

let graphCount = 0;

/**
 * The folded graph and its layout, without drawing (lineage.js uses it to pick a depth that fits).
 * nodes: [{id, component, depth, ...}], edges: [{up, down, via}].
 */
export function prepare(nodes, edges, { align = 'sink', keep = new Set(), open = new Set(), grouping = true } = {}) {
  const folded = grouping
    ? fold(nodes, edges, { keep, open })
    : { nodes: nodes.map((n) => ({ ...n, members: null })), edges: mergeEdges(edges), groupOf: new Map() };
  const short = shortNames(folded.edges.flatMap((e) => e.vias), { max: 16, tail: 1 });
  const labels = new Map();
  const gapFor = new Map();
  for (const e of folded.edges) {
    const key = `${e.up}>${e.down}`;
    const label = labelLines(labelText(e, short));
    labels.set(key, label);
    gapFor.set(key, Math.ceil(label.width) + 16);
  }
  const lay = layout(folded.nodes, folded.edges, { align, gapFor });
  return { ...folded, ...lay, labels };
}

function mergeEdges(edges) {
  const byKey = new Map();
  for (const e of edges) {
    const key = `${e.up}>${e.down}`;
    if (!byKey.has(key)) byKey.set(key, { up: e.up, down: e.down, vias: [], explicit: false });
    const m = byKey.get(key);
    if (e.via) { if (!m.vias.includes(e.via)) m.vias.push(e.via); } else m.explicit = true;
  }
  return [...byKey.values()];
}

/**
 * Draws a prepared graph into container. Each node: {id, component, subtitle, stale, flagged,
 * root, label, more}; group nodes carry `members`.
 * Returns {element, select(id), setFlagged(runIds), fit(), zoomBy(f), scale, destroy()}.
 */
export function createGraph(container, { prepared, onSelect, onOpenGroup, anchor = 'right', focus = null }) {
  graphCount += 1;
  const markerId = `arrow-${graphCount}`;
  const { nodes, edges, pos, routes, width, height, gapBefore } = prepared;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const ups = new Map(nodes.map((n) => [n.id, []]));
  const downs = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) { ups.get(e.down).push(e.up); downs.get(e.up).push(e.down); }

  // Ports: the edges into (out of) a box spread along its left (right) side, in the order of
  // where they come from (go to), so they neither cross at the box nor share a label spot.
  const inPort = new Map();
  const outPort = new Map();
  const key = (e) => `${e.up}>${e.down}`;
  const firstPoint = (e) => { const r = routes.get(key(e)); return r && r.length ? r[0].y : pos.get(e.down).y; };
  const lastPoint = (e) => { const r = routes.get(key(e)); return r && r.length ? r[r.length - 1].y : pos.get(e.up).y; };
  const spread = (list, place, yOf, map) => {
    list.sort((a, b) => yOf(a) - yOf(b));
    const k = list.length;
    const step = k > 1 ? Math.min(14, (NODE_H - 14) / (k - 1)) : 0;
    list.forEach((e, i) => map.set(key(e), place.y + NODE_H / 2 + (i - (k - 1) / 2) * step));
  };
  for (const n of nodes) {
    const p = pos.get(n.id);
    spread(edges.filter((e) => e.down === n.id), p, lastPoint, inPort);
    spread(edges.filter((e) => e.up === n.id), p, firstPoint, outPort);
  }

  const edgeEls = new Map(); // edge key -> [path, label?]
  const edgeGroup = s('g', { class: 'edges' });
  const labelGroup = s('g', { class: 'edge-labels' });
  const placed = nodes.map((n) => { const p = pos.get(n.id); return { x: p.x - 2, y: p.y - 2, w: NODE_W + 4, h: NODE_H + 4 }; });
  // Labels of the edges nearest the traced output first: they matter most.
  const byPriority = [...edges].sort((a, b) => (pos.get(b.down).layer - pos.get(a.down).layer) * (anchor === 'right' ? 1 : -1));
  for (const e of byPriority) {
    const a = pos.get(e.up);
    const b = pos.get(e.down);
    const y1 = outPort.get(key(e));
    const y2 = inPort.get(key(e));
    let d = `M${a.x + NODE_W},${y1}`;
    let cx = a.x + NODE_W;
    let cy = y1;
    for (const pt of routes.get(key(e)) || []) {
      d += ` ${curve(cx, cy, pt.x0, pt.y)} L${pt.x1},${pt.y}`;
      cx = pt.x1;
      cy = pt.y;
    }
    d += ` ${curve(cx, cy, b.x - 2, y2)}`;
    const full = [...e.vias, ...(e.explicit ? ['explicit upstream dependency'] : [])].join('\n');
    const path = s('path', { class: ['edge', e.vias.length === 0 && 'explicit'], d, 'marker-end': `url(#${markerId})`, dataset: { up: String(e.up), down: String(e.down) } },
      s('title', {}, full));
    edgeGroup.appendChild(path);
    const els = [path];
    const { lines, width: w } = prepared.labels.get(key(e));
    // Baselines LINE apart, the last one 4 px above the edge's end; the box covers the glyphs.
    const top = (yEnd) => yEnd - 4 - LINE * (lines.length - 1);
    const box = (x, yEnd) => ({ x, y: top(yEnd) - 10, w, h: LINE * (lines.length - 1) + 14 });
    const spots = [
      { x: b.x - 8, y: top(y2), anchor: 'end', box: box(b.x - 8 - w, y2) },
      // At the source's end only when the gap after the source is wide enough.
      w + 16 <= (gapBefore[a.layer + 1] ?? 0) ? { x: a.x + NODE_W + 8, y: top(y1), anchor: 'start', box: box(a.x + NODE_W + 8, y1) } : null,
    ].filter(Boolean);
    const spot = spots.find((sp) => !placed.some((other) => boxesOverlap(sp.box, other)));
    if (spot) {
      placed.push(spot.box);
      const label = s('text', { class: 'edge-label', x: spot.x, y: spot.y, 'text-anchor': spot.anchor, dataset: { up: String(e.up), down: String(e.down) } },
        s('title', {}, full), lines.map((line, i) => s('tspan', { x: spot.x, dy: i === 0 ? 0 : LINE }, line)));
      labelGroup.appendChild(label);
      els.push(label);
    }
    edgeEls.set(key(e), els);
  }

  const nodeEls = new Map();
  const nodeGroup = s('g', { class: 'nodes', role: 'list' });
  const idRoom = (id) => textWidth(id, 'id');
  for (const n of nodes) {
    const p = pos.get(n.id);
    const group = Boolean(n.members);
    const idText = group ? `${n.members.length}×` : `#${n.id}`;
    const title = fitText(n.component, 'title', NODE_W - 14 - idRoom(idText) - 12);
    const sub = fitText(n.subtitle || '', 'sub', NODE_W - 14 - 38);
    const g = s('g', {
      class: ['node', group && 'group', n.root && 'root', n.stale && 'stale', n.flagged && 'flagged', n.more && 'has-more'],
      transform: `translate(${p.x},${p.y})`, tabindex: '-1', role: 'listitem',
      'aria-label': n.label || `${n.component} run ${n.id}`, dataset: { id: String(n.id) },
    },
    s('title', {}, n.label || n.component),
    n.more ? s('path', { class: 'more-stub', d: anchor === 'right' ? `M0,${NODE_H / 2} h-26` : `M${NODE_W},${NODE_H / 2} h26` }) : null,
    group ? s('rect', { class: 'node-stack', width: NODE_W, height: NODE_H, x: 4, y: -4, rx: 6 }) : null,
    s('rect', { class: 'node-box', width: NODE_W, height: NODE_H, rx: 6 }),
    s('rect', { class: 'node-bar', width: 4, height: NODE_H - 12, x: 0, y: 6, rx: 2 }),
    s('text', { class: 'node-title', x: 14, y: 20 }, title),
    s('text', { class: 'node-id', x: NODE_W - 10, y: 20, 'text-anchor': 'end' }, idText),
    s('text', { class: 'node-sub', x: 14, y: 37 }, sub),
    s('g', { class: 'node-marks', transform: `translate(${NODE_W - 36},27)` },
      s('g', { class: 'mark-stale' }, s('path', { d: 'M7 1l6.5 11.5h-13z' })),
      s('g', { class: 'mark-flag', transform: 'translate(16,0)' }, s('path', { d: 'M2 13V1.5h9l-2 3 2 3H2' }))));
    nodeEls.set(n.id, g);
    nodeGroup.appendChild(g);
  }

  const viewport = s('g', { class: 'viewport' }, edgeGroup, labelGroup, nodeGroup);
  const svg = s('svg', { class: 'graph-svg', role: 'group', 'aria-label': `lineage graph of ${nodes.length} boxes. Arrow keys move between linked runs, Enter opens a folded group, plus and minus zoom, 0 fits.` },
    s('defs', {}, s('marker', { id: markerId, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { class: 'arrow-head', d: 'M0,1 L9,5 L0,9 z' }))),
    viewport);

  const zoomLabel = h('span', { class: 'zoom-level mono' }, '100%');
  const controls = h('div', { class: 'graph-controls' },
    h('button', { type: 'button', class: 'icon-btn', title: 'Zoom in (+)', 'aria-label': 'Zoom in', onclick: () => zoomBy(1.25) }, icon('plus')),
    zoomLabel,
    h('button', { type: 'button', class: 'icon-btn', title: 'Zoom out (-)', 'aria-label': 'Zoom out', onclick: () => zoomBy(0.8) }, icon('minus')),
    h('button', { type: 'button', class: 'icon-btn', title: 'Fit to screen (0)', 'aria-label': 'Fit to screen', onclick: () => fit() }, icon('fit')));

  // Minimap: every box as a small rectangle and the visible part as a frame; a press moves there.
  const scaleMini = Math.min(180 / width, 110 / height);
  const miniView = s('rect', { class: 'minimap-view' });
  const mini = s('svg', { class: 'minimap-svg', width: Math.max(40, width * scaleMini), height: Math.max(24, height * scaleMini), viewBox: `0 0 ${width} ${height}`, 'aria-hidden': 'true' },
    nodes.map((n) => { const p = pos.get(n.id); return s('rect', { class: ['mini-node', n.root && 'root', n.flagged && 'flagged'], x: p.x, y: p.y, width: NODE_W, height: NODE_H, rx: 8 }); }),
    miniView);
  const minimap = h('div', { class: 'graph-minimap', title: 'Overview: press to move there' }, mini);

  const frame = h('div', { class: 'graph' }, svg, minimap, controls);
  const legend = h('ul', { class: 'graph-legend', 'aria-label': 'legend' },
    h('li', {}, h('span', { class: 'lg lg-root', 'aria-hidden': 'true' }), 'traced output’s producer'),
    h('li', {}, h('span', { class: 'lg lg-stale', 'aria-hidden': 'true' }), '▲ stale: used an older or superseded input'),
    h('li', {}, h('span', { class: 'lg lg-flag', 'aria-hidden': 'true' }), '⚑ wrote a flagged output'),
    h('li', {}, h('span', { class: 'lg lg-dash', 'aria-hidden': 'true' }), 'explicit upstream (no shared input)'),
    h('li', {}, h('span', { class: 'lg lg-group', 'aria-hidden': 'true' }), 'N× folded runs of one component: Enter or click opens'),
    h('li', {}, h('span', { class: 'lg lg-more', 'aria-hidden': 'true' }), 'more runs beyond the depth shown'));
  container.append(frame, legend);

  let view = { x: 0, y: 0, k: 1 };
  // The frame's size, kept by the ResizeObserver: reading it every frame would force a layout.
  let frameSize = { width: 800, height: 500 };
  let frameRequested = false;
  let lowDetail = null;
  let selected = null;
  let tabStop = null;

  const apply = () => {
    frameRequested = false;
    viewport.setAttribute('transform', `translate(${view.x},${view.y}) scale(${view.k})`);
    zoomLabel.textContent = `${Math.round(view.k * 100)}%`;
    const low = view.k < 0.55;
    if (low !== lowDetail) { lowDetail = low; frame.classList.toggle('low-detail', low); }
    const r = frameSize;
    const vx = -view.x / view.k;
    const vy = -view.y / view.k;
    const vw = r.width / view.k;
    const vh = r.height / view.k;
    miniView.setAttribute('x', vx); miniView.setAttribute('y', vy);
    miniView.setAttribute('width', vw); miniView.setAttribute('height', vh);
    minimap.hidden = vx <= 0 && vy <= 0 && vx + vw >= width && vy + vh >= height;
  };
  const schedule = () => { if (!frameRequested) { frameRequested = true; requestAnimationFrame(apply); } };
  const clampK = (k) => Math.min(2.5, Math.max(0.04, k));

  function zoomAt(px, py, factor) {
    const k = clampK(view.k * factor);
    const f = k / view.k;
    view = { k, x: px - (px - view.x) * f, y: py - (py - view.y) * f };
    schedule();
  }
  function zoomBy(factor) {
    const r = frame.getBoundingClientRect();
    zoomAt(r.width / 2, r.height / 2, factor);
  }
  function fit() {
    const r = frame.getBoundingClientRect();
    const cw = r.width || 800;
    const ch = r.height || 500;
    const k = clampK(Math.min(cw / width, ch / height, 1.1));
    view = { k, x: (cw - width * k) / 2, y: (ch - height * k) / 2 };
    schedule();
  }
  /** Everything when it fits at a readable zoom; else a readable zoom around the focus. */
  function initialView() {
    fit();
    if (view.k >= READABLE) return;
    const r = frame.getBoundingClientRect();
    const k = 1;
    const p = pos.get(focus) || pos.get(nodes[0].id);
    const x = anchor === 'right' ? Math.min(0, r.width - 40 - (p.x + NODE_W) * k) : Math.max(r.width - width * k, 40 - p.x * k);
    const y = height * k <= r.height ? (r.height - height * k) / 2 : r.height / 2 - (p.y + NODE_H / 2) * k;
    view = { k, x, y };
    schedule();
  }
  function reveal(id) {
    const p = pos.get(id);
    if (!p) return;
    const r = frame.getBoundingClientRect();
    const sx = view.x + p.x * view.k;
    const sy = view.y + p.y * view.k;
    if (sx > 0 && sy > 0 && sx + NODE_W * view.k < r.width && sy + NODE_H * view.k < r.height) return;
    view = { ...view, x: r.width / 2 - (p.x + NODE_W / 2) * view.k, y: r.height / 2 - (p.y + NODE_H / 2) * view.k };
    schedule();
  }

  function setTabStop(id) {
    if (tabStop !== null && nodeEls.has(tabStop)) nodeEls.get(tabStop).setAttribute('tabindex', '-1');
    tabStop = nodeEls.has(id) ? id : nodes[0].id;
    nodeEls.get(tabStop).setAttribute('tabindex', '0');
  }

  /** Marks the runs upstream and downstream of id, and the edges between them. */
  function highlightPath(id) {
    for (const el of frame.querySelectorAll('.on-path')) el.classList.remove('on-path');
    frame.classList.toggle('has-path', id !== null);
    if (id === null) return;
    const walk = (start, next) => {
      const seen = new Set([start]);
      const stack = [start];
      while (stack.length) for (const o of next.get(stack.pop()) || []) if (!seen.has(o)) { seen.add(o); stack.push(o); }
      return seen;
    };
    const anc = walk(id, ups);
    const desc = walk(id, downs);
    for (const n of [...anc, ...desc]) nodeEls.get(n).classList.add('on-path');
    const onPath = edges.filter((e) => (anc.has(e.up) && anc.has(e.down)) || (desc.has(e.up) && desc.has(e.down)));
    // Hundreds of thick accent edges would paint one solid block (and slow every frame): past
    // that, the path shows by its boxes alone.
    frame.classList.toggle('wide-path', onPath.length > MAX_LIT_EDGES);
    if (onPath.length > MAX_LIT_EDGES) return;
    for (const e of onPath) for (const el of edgeEls.get(key(e)) || []) el.classList.add('on-path');
  }

  function select(id, { notify = false, revealIt = false } = {}) {
    if (selected !== null && nodeEls.has(selected)) nodeEls.get(selected).classList.remove('selected');
    const target = nodeEls.has(id) ? id : prepared.groupOf.get(id);
    selected = nodeEls.has(target) ? target : null;
    highlightPath(selected);
    if (selected === null) { setTabStop(focus); return; }
    nodeEls.get(selected).classList.add('selected');
    setTabStop(selected);
    if (revealIt) reveal(selected);
    if (notify) {
      const n = byId.get(selected);
      if (n.members && onOpenGroup) onOpenGroup(selected);
      else if (onSelect) onSelect(selected);
    }
  }

  // Pan with a drag anywhere; a press that barely moves on a node is a click that selects it.
  let drag = null;
  let touched = false;
  svg.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
    touched = true;
    drag = { x: e.clientX, y: e.clientY, vx: view.x, vy: view.y, moved: false, id: e.pointerId };
  });
  svg.addEventListener('pointermove', (e) => {
    if (!drag || e.pointerId !== drag.id) return;
    const dx = e.clientX - drag.x;
    const dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) > 4) {
      drag.moved = true;
      svg.setPointerCapture(e.pointerId);
      frame.classList.add('dragging');
    }
    if (drag.moved) { view = { ...view, x: drag.vx + dx, y: drag.vy + dy }; schedule(); }
  });
  const endDrag = (e) => {
    if (!drag) return;
    const wasClick = !drag.moved;
    drag = null;
    frame.classList.remove('dragging');
    if (wasClick && e.type === 'pointerup') {
      const g = e.target.closest && e.target.closest('.node');
      if (g) select(nodeKey(g), { notify: true });
    }
  };
  svg.addEventListener('pointerup', endDrag);
  svg.addEventListener('pointercancel', endDrag);
  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    touched = true;
    const r = frame.getBoundingClientRect();
    const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-delta * (e.ctrlKey ? 0.01 : 0.0015)));
  }, { passive: false });

  const moveMini = (e) => {
    const r = mini.getBoundingClientRect();
    const gx = ((e.clientX - r.left) / r.width) * width;
    const gy = ((e.clientY - r.top) / r.height) * height;
    const fr = frame.getBoundingClientRect();
    touched = true;
    view = { ...view, x: fr.width / 2 - gx * view.k, y: fr.height / 2 - gy * view.k };
    schedule();
  };
  mini.addEventListener('pointerdown', (e) => { e.stopPropagation(); mini.setPointerCapture(e.pointerId); moveMini(e); });
  mini.addEventListener('pointermove', (e) => { if (e.buttons & 1) moveMini(e); });

  /** Node ids are run ids (numbers) or group keys (strings). */
  function nodeKey(g) {
    const raw = g.dataset.id;
    return byId.has(Number(raw)) ? Number(raw) : raw;
  }
  function neighbour(id, dir) {
    const p = pos.get(id);
    let list;
    if (dir === 'left' || dir === 'right') list = (dir === 'left' ? ups : downs).get(id) || [];
    else {
      list = nodes.map((n) => n.id).filter((o) => o !== id && pos.get(o).x === p.x && (dir === 'up' ? pos.get(o).y < p.y : pos.get(o).y > p.y));
    }
    let best = null;
    let bestD = Infinity;
    for (const o of list) {
      const q = pos.get(o);
      const dist = Math.abs(q.y - p.y) + Math.abs(q.x - p.x) / 1000;
      if (dist < bestD) { bestD = dist; best = o; }
    }
    return best;
  }
  frame.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    touched = true;
    const g = e.target.closest && e.target.closest('.node');
    if (g && (e.key === 'Enter' || e.key === ' ')) { e.preventDefault(); select(nodeKey(g), { notify: true }); return; }
    const dirs = { ArrowLeft: 'left', ArrowRight: 'right', ArrowUp: 'up', ArrowDown: 'down' };
    if (g && dirs[e.key]) {
      e.preventDefault();
      const to = neighbour(nodeKey(g), dirs[e.key]);
      if (to !== null) {
        const n = byId.get(to);
        select(to, { notify: !n.members, revealIt: true });
        nodeEls.get(to).focus({ preventScroll: true });
      }
      return;
    }
    const actions = { '+': () => zoomBy(1.25), '=': () => zoomBy(1.25), '-': () => zoomBy(0.8), 0: () => fit() };
    if (actions[e.key]) { e.preventDefault(); actions[e.key](); }
  });
  nodeGroup.addEventListener('focusin', (e) => {
    const g = e.target.closest('.node');
    if (g) reveal(nodeKey(g));
  });

  // A short graph gets a short frame (the run card below moves up), never below 320 px.
  const cssHeight = frame.getBoundingClientRect().height;
  if (cssHeight && height + 8 < cssHeight) frame.style.height = `${Math.max(320, Math.ceil(height + 8))}px`;
  { const r = frame.getBoundingClientRect(); frameSize = { width: r.width || 800, height: r.height || 500 }; }
  setTabStop(focus);
  initialView();
  apply();
  const resize = new ResizeObserver(() => {
    const r = frame.getBoundingClientRect();
    frameSize = { width: r.width, height: r.height };
    if (!touched) initialView(); else schedule();
  });
  resize.observe(frame);

  return {
    element: frame,
    select,
    fit,
    zoomBy,
    get scale() { return view.k; },
    setFlagged(runIds) {
      for (const [id, g] of nodeEls) {
        const n = byId.get(id);
        g.classList.toggle('flagged', n.members ? n.members.some((m) => runIds.has(m.id)) : runIds.has(id));
      }
    },
    destroy() { resize.disconnect(); frame.remove(); legend.remove(); },
  };
}
