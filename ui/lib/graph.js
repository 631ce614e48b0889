// The lineage graph: our own small layered layout and an SVG drawing with pan and zoom.
//
// Layout: nodes come with a layer (a column; data flows left to right). Large layers wrap into
// several sub-columns so a fan-in of hundreds of runs stays readable. Inside a layer, nodes are
// ordered by a few barycenter sweeps (each node moves toward the mean position of its
// neighbours), which removes most edge crossings at a cost linear in the edges per sweep.
//
// Drawing: one <g> per node, one path per pair of linked nodes, labelled with the input that
// links them. Pan and zoom only change one transform, applied once per animation frame; labels
// and subtitles are hidden when zoomed far out, so 500 runs stay smooth.

import { h, s, icon, ellipsize } from './dom.js';

export const NODE_W = 184;
export const NODE_H = 48;
const ROW_GAP = 18;
const COL_GAP = 170;
const LABEL_CHARS = 22; // about what fits between two columns at 10.5px monospace
const SUB_GAP = 36;
const MAX_PER_COLUMN = 28;
const SWEEPS = 8;
const MARGIN = 40;
const READABLE = 0.8; // the smallest scale at which names and labels read well

/**
 * Positions nodes. nodes: [{id, layer}] in a stable order; edges: [{up, down}].
 * Returns {pos: Map id -> {x, y}, width, height}.
 */
export function layout(nodes, edges) {
  const layerOf = new Map(nodes.map((n) => [n.id, n.layer]));
  const maxLayer = nodes.reduce((m, n) => Math.max(m, n.layer), 0);
  const layers = Array.from({ length: maxLayer + 1 }, () => []);
  for (const n of nodes) layers[n.layer].push(n.id);

  const neighbours = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (!neighbours.has(e.up) || !neighbours.has(e.down) || e.up === e.down) continue;
    neighbours.get(e.up).push(e.down);
    neighbours.get(e.down).push(e.up);
  }

  // Position of a node inside its layer, centred on 0 so layers of different sizes compare.
  const rank = new Map();
  const setRanks = (layer) => layer.forEach((id, i) => rank.set(id, i - (layer.length - 1) / 2));
  layers.forEach(setRanks);

  for (let sweep = 0; sweep < SWEEPS; sweep += 1) {
    const forward = sweep % 2 === 0;
    const order = forward ? layers.map((_, i) => i) : layers.map((_, i) => layers.length - 1 - i);
    for (const li of order) {
      const layer = layers[li];
      if (layer.length < 2) continue;
      const score = new Map();
      for (const id of layer) {
        let sum = 0;
        let count = 0;
        for (const other of neighbours.get(id)) {
          const ol = layerOf.get(other);
          if (forward ? ol < li : ol > li) { sum += rank.get(other); count += 1; }
        }
        score.set(id, count ? sum / count : rank.get(id));
      }
      layer.sort((a, b) => score.get(a) - score.get(b) || rank.get(a) - rank.get(b));
      setRanks(layer);
    }
  }

  const rowStep = NODE_H + ROW_GAP;
  const heights = layers.map((layer) => Math.min(layer.length, MAX_PER_COLUMN) * rowStep - ROW_GAP);
  const tallest = Math.max(0, ...heights);
  const pos = new Map();
  let x = MARGIN;
  layers.forEach((layer, li) => {
    const columns = Math.max(1, Math.ceil(layer.length / MAX_PER_COLUMN));
    const top = MARGIN + (tallest - heights[li]) / 2;
    layer.forEach((id, i) => {
      const col = Math.floor(i / MAX_PER_COLUMN);
      const row = i % MAX_PER_COLUMN;
      pos.set(id, { x: x + col * (NODE_W + SUB_GAP), y: top + row * rowStep });
    });
    x += columns * NODE_W + (columns - 1) * SUB_GAP + COL_GAP;
  });
  return { pos, width: x - COL_GAP + MARGIN, height: tallest + 2 * MARGIN };
}

/**
 * The cubic from the right side of a (upstream) to the left side of b (downstream), and the
 * point where its label sits: at t along the curve (1/2 unless a fan moves it toward the side
 * where the edges spread apart, so labels of a fan do not pile up).
 */
function edgePath(a, b, t = 0.5) {
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x;
  const y2 = b.y + NODE_H / 2;
  const bend = Math.max(60, Math.abs(x2 - x1) / 2);
  const c1x = x1 + bend;
  const c2x = x2 - bend;
  const u = 1 - t;
  const mx = u * u * u * x1 + 3 * u * u * t * c1x + 3 * u * t * t * c2x + t * t * t * x2;
  const my = u * u * u * y1 + 3 * u * u * t * y1 + 3 * u * t * t * y2 + t * t * t * y2;
  return { d: `M${x1},${y1} C${c1x},${y1} ${c2x},${y2} ${x2 - 2},${y2}`, mx, my };
}

let graphCount = 0;

/**
 * Draws a graph into container.
 * nodes: [{id, layer, title, subtitle, stale, flagged, root, label}], edges: [{up, down, via}].
 * Returns {select(id, {reveal}), setFlagged(ids), fit(), zoomBy(f), destroy()}.
 */
export function createGraph(container, { nodes, edges, onSelect, anchor = 'left', focus = null }) {
  graphCount += 1;
  const markerId = `arrow-${graphCount}`;
  const { pos, width, height } = layout(nodes, edges);

  // One path per linked pair; several inputs from the same run share it.
  const pairs = new Map();
  for (const e of edges) {
    if (!pos.has(e.up) || !pos.has(e.down)) continue;
    const key = `${e.up}>${e.down}`;
    if (!pairs.has(key)) pairs.set(key, { up: e.up, down: e.down, vias: [] });
    if (e.via) pairs.get(key).vias.push(e.via);
  }

  const edgeEls = new Map(); // node id -> [path elements]
  const edgeGroup = s('g', { class: 'edges' });
  const labelGroup = s('g', { class: 'edge-labels' });
  const outDegree = new Map();
  const inDegree = new Map();
  for (const pair of pairs.values()) {
    outDegree.set(pair.up, (outDegree.get(pair.up) || 0) + 1);
    inDegree.set(pair.down, (inDegree.get(pair.down) || 0) + 1);
  }
  for (const pair of pairs.values()) {
    const fanOut = outDegree.get(pair.up) > 2;
    const fanIn = inDegree.get(pair.down) > 2;
    const a = pos.get(pair.up);
    const b = pos.get(pair.down);
    const { d, mx, my } = edgePath(a, b);
    // In a fan, labels sit at the end where the edges spread apart: just before each target
    // (fan-out) or just after each source (fan-in), so they never pile up in the middle.
    let lx = mx;
    let ly = my - 4;
    let align = 'middle';
    if (fanOut && !fanIn && b.x > a.x + NODE_W) { lx = b.x - 10; ly = b.y + NODE_H / 2 - 5; align = 'end'; }
    else if (fanIn && !fanOut && b.x > a.x + NODE_W) { lx = a.x + NODE_W + 8; ly = a.y + NODE_H / 2 - 5; align = 'start'; }
    const label = pair.vias.length === 0 ? 'upstream' : pair.vias.length === 1 ? pair.vias[0] : `${pair.vias[0]} +${pair.vias.length - 1}`;
    const path = s('path', { class: ['edge', pair.vias.length === 0 && 'explicit'], d, 'marker-end': `url(#${markerId})`, dataset: { up: pair.up, down: pair.down } },
      s('title', {}, `${pair.vias.join('\n') || 'explicit upstream dependency'}`));
    const text = s('text', { class: 'edge-label', x: lx, y: ly, 'text-anchor': align, dataset: { up: pair.up, down: pair.down } },
      s('title', {}, pair.vias.join('\n') || 'explicit upstream dependency'), ellipsize(label, LABEL_CHARS));
    edgeGroup.appendChild(path);
    labelGroup.appendChild(text);
    for (const id of [pair.up, pair.down]) {
      if (!edgeEls.has(id)) edgeEls.set(id, []);
      edgeEls.get(id).push(path, text);
    }
  }

  const nodeEls = new Map();
  const nodeGroup = s('g', { class: 'nodes' });
  for (const n of nodes) {
    const p = pos.get(n.id);
    const g = s('g', {
      class: ['node', n.root && 'root', n.stale && 'stale', n.flagged && 'flagged'],
      transform: `translate(${p.x},${p.y})`, tabindex: '0', role: 'button',
      'aria-label': n.label || `${n.title} run ${n.id}`, dataset: { id: String(n.id) },
    },
    s('title', {}, n.label || n.title),
    s('rect', { class: 'node-box', width: NODE_W, height: NODE_H, rx: 6 }),
    s('rect', { class: 'node-bar', width: 4, height: NODE_H - 12, x: 0, y: 6, rx: 2 }),
    s('text', { class: 'node-title', x: 14, y: 20 }, ellipsize(n.title, 19)),
    s('text', { class: 'node-id', x: NODE_W - 10, y: 20, 'text-anchor': 'end' }, `#${n.id}`),
    s('text', { class: 'node-sub', x: 14, y: 37 }, ellipsize(n.subtitle || '', 22)),
    s('g', { class: 'node-marks', transform: `translate(${NODE_W - 34},27)` },
      s('g', { class: 'mark-stale', transform: 'translate(0,0)' }, s('path', { d: 'M7 1l6.5 11.5h-13z' })),
      s('g', { class: 'mark-flag', transform: 'translate(14,0)' }, s('path', { d: 'M2 13V1.5h9l-2 3 2 3H2' }))));
    nodeEls.set(n.id, g);
    nodeGroup.appendChild(g);
  }

  const viewport = s('g', { class: 'viewport' }, edgeGroup, labelGroup, nodeGroup);
  const svg = s('svg', { class: 'graph-svg', role: 'group', 'aria-label': `lineage graph of ${nodes.length} runs` },
    s('defs', {}, s('marker', { id: markerId, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { class: 'arrow-head', d: 'M0,1 L9,5 L0,9 z' }))),
    viewport);

  const zoomLabel = h('span', { class: 'zoom-level mono' }, '100%');
  const controls = h('div', { class: 'graph-controls' },
    h('button', { type: 'button', class: 'icon-btn', title: 'Zoom in (+)', 'aria-label': 'Zoom in', onclick: () => zoomBy(1.25) }, icon('plus')),
    zoomLabel,
    h('button', { type: 'button', class: 'icon-btn', title: 'Zoom out (-)', 'aria-label': 'Zoom out', onclick: () => zoomBy(0.8) }, icon('minus')),
    h('button', { type: 'button', class: 'icon-btn', title: 'Fit to screen (0)', 'aria-label': 'Fit to screen', onclick: () => fit() }, icon('fit')));
  const frame = h('div', { class: 'graph', tabindex: '0', 'aria-label': 'Lineage graph. Drag to pan, wheel or + and - to zoom, 0 to fit, arrows to pan.' }, svg, controls);
  container.appendChild(frame);

  let view = { x: 0, y: 0, k: 1 };
  let frameRequested = false;
  let lowDetail = null;
  let selected = null;

  const apply = () => {
    frameRequested = false;
    viewport.setAttribute('transform', `translate(${view.x},${view.y}) scale(${view.k})`);
    zoomLabel.textContent = `${Math.round(view.k * 100)}%`;
    const low = view.k < 0.55;
    if (low !== lowDetail) { lowDetail = low; frame.classList.toggle('low-detail', low); }
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

  /**
   * The first view: everything when it fits at a readable size; otherwise a readable zoom with
   * the anchor side (the traced output's producer) in view, for graphs small enough to read.
   */
  function initialView() {
    fit();
    if (view.k >= READABLE || nodes.length > 150) return;
    const r = frame.getBoundingClientRect();
    const k = READABLE;
    const x = anchor === 'right' ? r.width - width * k : 0;
    const p = pos.get(focus) || pos.get(nodes[0].id);
    const y = Math.min(0, Math.max(r.height - height * k, r.height / 2 - (p.y + NODE_H / 2) * k));
    view = { k, x, y: height * k <= r.height ? (r.height - height * k) / 2 : y };
    schedule();
  }

  function reveal(id) {
    const p = pos.get(id);
    if (!p) return;
    const r = frame.getBoundingClientRect();
    const sx = view.x + p.x * view.k;
    const sy = view.y + p.y * view.k;
    const inside = sx > 0 && sy > 0 && sx + NODE_W * view.k < r.width && sy + NODE_H * view.k < r.height;
    if (inside) return;
    view = { ...view, x: r.width / 2 - (p.x + NODE_W / 2) * view.k, y: r.height / 2 - (p.y + NODE_H / 2) * view.k };
    schedule();
  }

  function select(id, { notify = false, revealIt = false } = {}) {
    if (selected !== null) {
      const old = nodeEls.get(selected);
      if (old) old.classList.remove('selected');
      for (const el of edgeEls.get(selected) || []) el.classList.remove('hl');
    }
    selected = nodeEls.has(id) ? id : null;
    if (selected === null) return;
    nodeEls.get(id).classList.add('selected');
    // A hub with hundreds of edges would turn into a solid block: highlight only modest fans.
    const incident = edgeEls.get(id) || [];
    if (incident.length <= 2 * 60) for (const el of incident) el.classList.add('hl');
    if (revealIt) reveal(id);
    if (notify && onSelect) onSelect(id);
  }

  // Pan with a drag anywhere; a press that barely moves on a node is a click that selects it.
  let drag = null;
  svg.addEventListener('pointerdown', (e) => {
    if (e.button !== 0) return;
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
      if (g) select(Number(g.dataset.id), { notify: true });
    }
  };
  svg.addEventListener('pointerup', endDrag);
  svg.addEventListener('pointercancel', endDrag);

  svg.addEventListener('wheel', (e) => {
    e.preventDefault();
    const r = frame.getBoundingClientRect();
    const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    zoomAt(e.clientX - r.left, e.clientY - r.top, Math.exp(-delta * (e.ctrlKey ? 0.01 : 0.0015)));
  }, { passive: false });

  frame.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const step = 60;
    const node = e.target.closest && e.target.closest('.node');
    if ((e.key === 'Enter' || e.key === ' ') && node) { e.preventDefault(); select(Number(node.dataset.id), { notify: true }); return; }
    const actions = {
      '+': () => zoomBy(1.25), '=': () => zoomBy(1.25), '-': () => zoomBy(0.8), 0: () => fit(),
      ArrowLeft: () => { view.x += step; schedule(); }, ArrowRight: () => { view.x -= step; schedule(); },
      ArrowUp: () => { view.y += step; schedule(); }, ArrowDown: () => { view.y -= step; schedule(); },
    };
    const act = actions[e.key];
    if (act) { e.preventDefault(); act(); }
  });
  nodeGroup.addEventListener('focusin', (e) => {
    const g = e.target.closest('.node');
    if (g) reveal(Number(g.dataset.id));
  });

  initialView();
  apply();
  const resize = new ResizeObserver(() => { if (!interacted()) initialView(); });
  let touched = false;
  const interacted = () => touched;
  svg.addEventListener('pointerdown', () => { touched = true; }, { once: true });
  svg.addEventListener('wheel', () => { touched = true; }, { once: true });
  frame.addEventListener('keydown', () => { touched = true; }, { once: true });
  resize.observe(frame);

  return {
    element: frame,
    select,
    fit,
    zoomBy,
    get scale() { return view.k; },
    setFlagged(ids) {
      for (const [id, g] of nodeEls) g.classList.toggle('flagged', ids.has(id));
    },
    destroy() { resize.disconnect(); frame.remove(); },
  };
}
