// The layered layout of the lineage graph (Sugiyama style), free of the DOM so that node tests
// run it. Owns: which column each run sits in, the order inside a column, the y of every box, and
// the route of every edge. Never: draws or measures text.
//
// 1. Layers by longest path: with `align: 'sink'` (a trace) each run sits as far right as its
//    dependents allow, so the traced output's producer is alone at the right; with 'source'
//    (downstream) as far left as its dependencies allow. Either way every edge goes strictly
//    left to right: two linked runs never share a column.
// 2. Edges longer than one layer pass through dummy points, one per layer crossed, so they route
//    around the boxes instead of through them.
// 3. Crossing reduction: barycenter sweeps down and up, keeping the order with the fewest
//    crossings (counted exactly, by inversions, per pair of layers).
// 4. Coordinates: each column is packed in its order, then pulled toward the mean height of its
//    neighbours a few times, keeping the gaps.
// A layer taller than `maxPerColumn` boxes wraps into sub-columns (a fan-in of hundreds).

export const NODE_W = 160;
export const NODE_H = 48;
export const COL_GAP = 124;
const ROW_GAP = 18;
const DUMMY_H = 8;
const SUB_GAP = 36;
const MARGIN = 16;
const SWEEPS = 12;

/** Layer of every node: Map id -> layer (0 = leftmost). */
export function assignLayers(ids, edges, align = 'sink') {
  const ups = new Map(ids.map((id) => [id, []]));
  const downs = new Map(ids.map((id) => [id, []]));
  for (const e of edges) {
    if (!ups.has(e.down) || !ups.has(e.up) || e.up === e.down) continue;
    ups.get(e.down).push(e.up);
    downs.get(e.up).push(e.down);
  }
  // Kahn's order from the sources; lineage is acyclic (dependencies point to older runs).
  const indeg = new Map(ids.map((id) => [id, ups.get(id).length]));
  const order = ids.filter((id) => indeg.get(id) === 0);
  for (let i = 0; i < order.length; i += 1) {
    for (const d of downs.get(order[i])) {
      indeg.set(d, indeg.get(d) - 1);
      if (indeg.get(d) === 0) order.push(d);
    }
  }
  if (order.length < ids.length) for (const id of ids) if (!order.includes(id)) order.push(id); // defensive: a cycle
  const layer = new Map();
  if (align === 'source') {
    for (const id of order) layer.set(id, Math.max(0, ...ups.get(id).map((u) => (layer.get(u) ?? -1) + 1)));
  } else {
    const height = new Map();
    for (let i = order.length - 1; i >= 0; i -= 1) {
      const id = order[i];
      height.set(id, Math.max(0, ...downs.get(id).map((d) => (height.get(d) ?? -1) + 1)));
    }
    const top = Math.max(0, ...height.values());
    for (const id of ids) layer.set(id, top - height.get(id));
  }
  return layer;
}

/** Crossings between two adjacent layers: inversions of the lower ends, sorted by upper end. */
function crossings(pairs) {
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const seq = pairs.map((p) => p[1]);
  let count = 0;
  const sort = (lo, hi) => {
    if (hi - lo < 2) return;
    const mid = (lo + hi) >> 1;
    sort(lo, mid);
    sort(mid, hi);
    const merged = [];
    let i = lo;
    let j = mid;
    while (i < mid && j < hi) {
      if (seq[i] <= seq[j]) merged.push(seq[i++]);
      else { count += mid - i; merged.push(seq[j++]); }
    }
    while (i < mid) merged.push(seq[i++]);
    while (j < hi) merged.push(seq[j++]);
    for (let k = 0; k < merged.length; k += 1) seq[lo + k] = merged[k];
  };
  sort(0, seq.length);
  return count;
}

/**
 * Lays out nodes [{id, layer?, h?}] and edges [{up, down}] (up: the dependency, drawn left).
 * Returns {pos: Map id -> {x, y, layer}, routes: Map 'up>down' -> [{x, y}], width, height,
 * layers, crossings}. Layers come from the edges alone (see assignLayers).
 */
export function layout(nodes, edges, { align = 'sink', maxPerColumn = 28, nodeW = NODE_W, nodeH = NODE_H, colGap = COL_GAP, gapFor = null } = {}) {
  const ids = nodes.map((n) => n.id);
  const known = new Set(ids);
  const pairs = [];
  const seenPair = new Set();
  for (const e of edges) {
    const key = `${e.up}>${e.down}`;
    if (!known.has(e.up) || !known.has(e.down) || e.up === e.down || seenPair.has(key)) continue;
    seenPair.add(key);
    pairs.push({ up: e.up, down: e.down, key });
  }
  const layerOf = assignLayers(ids, pairs, align);
  const maxLayer = Math.max(0, ...layerOf.values());

  // Items: real nodes and dummy points; links between adjacent layers only.
  const items = new Map(); // key -> {key, layer, h, real}
  const layers = Array.from({ length: maxLayer + 1 }, () => []);
  for (const n of nodes) {
    const item = { key: n.id, layer: layerOf.get(n.id), h: n.h || nodeH, real: true };
    items.set(n.id, item);
    layers[item.layer].push(n.id);
  }
  const links = []; // [upperKey (left), lowerKey (right)]
  const chains = new Map(); // pair key -> [item keys from up to down]
  for (const p of pairs) {
    const from = layerOf.get(p.up);
    const to = layerOf.get(p.down);
    const chain = [p.up];
    for (let l = from + 1; l < to; l += 1) {
      const key = `d:${p.key}:${l}`;
      items.set(key, { key, layer: l, h: DUMMY_H, real: false });
      layers[l].push(key);
      chain.push(key);
    }
    chain.push(p.down);
    for (let i = 0; i + 1 < chain.length; i += 1) links.push([chain[i], chain[i + 1]]);
    chains.set(p.key, chain);
  }
  const left = new Map([...items.keys()].map((k) => [k, []]));
  const right = new Map([...items.keys()].map((k) => [k, []]));
  for (const [a, b] of links) { right.get(a).push(b); left.get(b).push(a); }

  const rank = new Map();
  const setRanks = (layer) => layer.forEach((k, i) => rank.set(k, i));
  layers.forEach(setRanks);
  const totalCrossings = () => {
    let c = 0;
    for (let l = 0; l < maxLayer; l += 1) {
      const ps = [];
      for (const k of layers[l]) for (const r of right.get(k)) ps.push([rank.get(k), rank.get(r)]);
      c += crossings(ps);
    }
    return c;
  };
  let best = layers.map((l) => [...l]);
  let bestCount = totalCrossings();
  for (let sweep = 0; sweep < SWEEPS && bestCount > 0; sweep += 1) {
    const down = sweep % 2 === 0;
    const order = down ? layers.map((_, i) => i) : layers.map((_, i) => layers.length - 1 - i);
    for (const li of order) {
      const layer = layers[li];
      if (layer.length < 2) continue;
      const score = new Map();
      for (const k of layer) {
        const nb = down ? left.get(k) : right.get(k);
        score.set(k, nb.length ? nb.reduce((s, o) => s + rank.get(o), 0) / nb.length : rank.get(k));
      }
      layer.sort((a, b) => score.get(a) - score.get(b) || rank.get(a) - rank.get(b));
      setRanks(layer);
    }
    const count = totalCrossings();
    if (count < bestCount) { bestCount = count; best = layers.map((l) => [...l]); }
  }
  best.forEach((l, i) => { layers[i] = l; setRanks(l); });

  // x: a column per layer (sub-columns for a wrapped one).
  // The gap before a column fits the widest label of the edges that end in it (gapFor: edge key
  // -> px), never narrower than colGap.
  const gapBefore = layers.map(() => colGap);
  if (gapFor) {
    for (const p of pairs) {
      const want = gapFor.get(p.key);
      const li = layerOf.get(p.down);
      if (want && want > gapBefore[li]) gapBefore[li] = want;
    }
  }
  const colX = [];
  const subCols = layers.map((layer) => Math.max(1, Math.ceil(layer.filter((k) => items.get(k).real).length / maxPerColumn)));
  let x = MARGIN;
  layers.forEach((_, li) => {
    if (li > 0) x += gapBefore[li];
    colX.push(x);
    x += subCols[li] * nodeW + (subCols[li] - 1) * SUB_GAP;
  });
  const width = x + MARGIN;

  // y: pack each column, then relax toward the neighbours' mean a few times.
  const y = new Map();
  const pack = (layer, want) => {
    let bottom = -Infinity;
    for (const k of layer) {
      const it = items.get(k);
      const top = Math.max(want.get(k), bottom === -Infinity ? -Infinity : bottom + ROW_GAP);
      y.set(k, top);
      bottom = top + it.h;
    }
    // Shift the column back by its mean displacement so it stays centred on what it wanted.
    const shift = layer.reduce((s, k) => s + (y.get(k) - want.get(k)), 0) / layer.length;
    for (const k of layer) y.set(k, y.get(k) - Math.max(0, shift));
  };
  const wrapped = (li) => subCols[li] > 1;
  layers.forEach((layer, li) => {
    if (wrapped(li)) return;
    let top = 0;
    for (const k of layer) { y.set(k, top); top += items.get(k).h + ROW_GAP; }
  });
  const centre = (k) => y.get(k) + items.get(k).h / 2;
  for (let pass = 0; pass < 6; pass += 1) {
    const down = pass % 2 === 0;
    const order = down ? layers.map((_, i) => i) : layers.map((_, i) => layers.length - 1 - i);
    for (const li of order) {
      if (wrapped(li)) continue;
      const layer = layers[li];
      const want = new Map();
      for (const k of layer) {
        const nb = [...left.get(k), ...right.get(k)].filter((o) => y.has(o));
        const mean = nb.length ? nb.reduce((s, o) => s + centre(o), 0) / nb.length : centre(k);
        want.set(k, mean - items.get(k).h / 2);
      }
      pack(layer, want);
    }
  }
  // Wrapped layers: a grid of sub-columns, centred on the rest.
  const tallest = Math.max(0, ...layers.map((layer, li) => (wrapped(li) ? Math.min(layer.length, maxPerColumn) * (nodeH + ROW_GAP) : 0)));
  layers.forEach((layer, li) => {
    if (!wrapped(li)) return;
    layer.forEach((k, i) => y.set(k, (i % maxPerColumn) * (nodeH + ROW_GAP)));
  });
  const minY = Math.min(0, ...y.values());
  const pos = new Map();
  const points = new Map();
  let maxBottom = tallest;
  layers.forEach((layer, li) => {
    layer.forEach((k, i) => {
      const it = items.get(k);
      const top = y.get(k) - minY + MARGIN;
      const sub = wrapped(li) ? Math.floor(i / maxPerColumn) : 0;
      const px = colX[li] + sub * (nodeW + SUB_GAP);
      maxBottom = Math.max(maxBottom, top + it.h - MARGIN);
      if (it.real) pos.set(k, { x: px, y: top, layer: li });
      else points.set(k, { x0: colX[li], x1: colX[li] + nodeW, y: top + it.h / 2 });
    });
  });
  const routes = new Map();
  for (const [key, chain] of chains) {
    routes.set(key, chain.slice(1, -1).map((k) => points.get(k)));
  }
  return { pos, routes, width, height: maxBottom + 2 * MARGIN, layers: maxLayer + 1, crossings: bestCount, gapBefore };
}
