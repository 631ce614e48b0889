// Folding of repeated runs in the lineage graph, free of the DOM. Owns: which runs share one box
// ("54× search.train"). Never: changes which runs exist or how they link, only how they are shown.
//
// Two shapes fold: a *fan* (runs of one component with exactly the same dependencies and
// dependents, such as 500 predictions from one model) and a *chain* (runs of one component each
// fed by the previous one, such as warm-started trainings). A fan cannot make the graph cyclic (no
// member can depend on another); chains can in odd pipelines, and are then left unfolded.

const FAN_MIN = 4;
const CHAIN_MIN = 3;

function acyclic(ids, edges) {
  const indeg = new Map(ids.map((id) => [id, 0]));
  const out = new Map(ids.map((id) => [id, []]));
  for (const e of edges) { indeg.set(e.down, indeg.get(e.down) + 1); out.get(e.up).push(e.down); }
  const queue = ids.filter((id) => indeg.get(id) === 0);
  let seen = 0;
  while (queue.length) {
    const id = queue.pop();
    seen += 1;
    for (const d of out.get(id)) { indeg.set(d, indeg.get(d) - 1); if (indeg.get(d) === 0) queue.push(d); }
  }
  return seen === ids.length;
}

function merge(nodes, edges, groupOf) {
  const rep = (id) => groupOf.get(id) ?? id;
  const byKey = new Map();
  for (const e of edges) {
    const up = rep(e.up);
    const down = rep(e.down);
    if (up === down) continue;
    const key = `${up}>${down}`;
    if (!byKey.has(key)) byKey.set(key, { up, down, vias: [], explicit: false });
    const m = byKey.get(key);
    if (e.via) { if (!m.vias.includes(e.via)) m.vias.push(e.via); } else m.explicit = true;
  }
  const members = new Map();
  for (const n of nodes) {
    const g = groupOf.get(n.id);
    if (g === undefined) continue;
    if (!members.has(g)) members.set(g, []);
    members.get(g).push(n);
  }
  const out = [];
  const emitted = new Set();
  for (const n of nodes) {
    const g = groupOf.get(n.id);
    if (g === undefined) { out.push({ ...n, members: null }); continue; }
    if (emitted.has(g)) continue;
    emitted.add(g);
    const list = members.get(g);
    out.push({ id: g, component: n.component, members: list, depth: Math.min(...list.map((m) => m.depth ?? 0)) });
  }
  return { nodes: out, edges: [...byKey.values()] };
}

/**
 * nodes: [{id, component, depth?}], edges: [{up, down, via}]; keep: ids never folded (the
 * traced output's producer, the selection); open: group keys the user unfolded.
 * Returns {nodes: [{id, component, members: [node] | null}], edges: [{up, down, vias, explicit}],
 * groupOf: Map run id -> group key}.
 */
export function fold(nodes, edges, { keep = new Set(), open = new Set() } = {}) {
  const comp = new Map(nodes.map((n) => [n.id, n.component]));
  const ups = new Map(nodes.map((n) => [n.id, []]));
  const downs = new Map(nodes.map((n) => [n.id, []]));
  for (const e of edges) {
    if (!comp.has(e.up) || !comp.has(e.down)) continue;
    ups.get(e.down).push(e.up);
    downs.get(e.up).push(e.down);
  }
  const groupOf = new Map();
  const foldable = (id) => !keep.has(id);

  // Fans: same component, same dependency set, same dependent set.
  const fans = new Map();
  for (const n of nodes) {
    if (!foldable(n.id)) continue;
    const key = `${n.component}|${[...new Set(ups.get(n.id))].sort((a, b) => a - b).join(',')}|${[...new Set(downs.get(n.id))].sort((a, b) => a - b).join(',')}`;
    if (!fans.has(key)) fans.set(key, []);
    fans.get(key).push(n.id);
  }
  for (const members of fans.values()) {
    if (members.length < FAN_MIN) continue;
    const g = `fan-${Math.min(...members)}`;
    if (open.has(g)) continue;
    for (const id of members) groupOf.set(id, g);
  }

  // Chains: u -> d of one component where d is u's only same-component dependent and u is d's
  // only same-component dependency.
  const next = new Map();
  const prev = new Map();
  for (const n of nodes) {
    if (groupOf.has(n.id) || !foldable(n.id)) continue;
    const same = [...new Set(downs.get(n.id))].filter((d) => comp.get(d) === n.component && !groupOf.has(d) && foldable(d));
    if (same.length !== 1) continue;
    const d = same[0];
    const back = [...new Set(ups.get(d))].filter((u) => comp.get(u) === n.component);
    if (back.length === 1) { next.set(n.id, d); prev.set(d, n.id); }
  }
  const chainOf = new Map();
  for (const n of nodes) {
    if (prev.has(n.id) || !next.has(n.id)) continue;
    const chain = [n.id];
    while (next.has(chain[chain.length - 1])) chain.push(next.get(chain[chain.length - 1]));
    if (chain.length < CHAIN_MIN) continue;
    const g = `chain-${Math.min(...chain)}`;
    if (open.has(g)) continue;
    for (const id of chain) chainOf.set(id, g);
  }
  if (chainOf.size) {
    const trial = new Map([...groupOf, ...chainOf]);
    const folded = merge(nodes, edges, trial);
    if (acyclic(folded.nodes.map((n) => n.id), folded.edges)) for (const [id, g] of chainOf) groupOf.set(id, g);
  }
  return { ...merge(nodes, edges, groupOf), groupOf };
}
