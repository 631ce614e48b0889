// Two runs side by side: the question after "what changed?". Inputs and outputs matched by name
// (a hash that differs marks a new version of the same name), git, code (lines only in one
// side marked), tests matched by name and phase, and the fields that differ highlighted.

import { api, errorBox } from '../lib/api.js';
import { h, mount, timeEl, fmtDuration, runDuration } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { shortNames } from '../lib/names.js';
import { componentLink, loading, nameEl, runLink, staleList, viewHead } from '../lib/widgets.js';

/** Rows of a name-keyed comparison: [{key, a, b, same}] in the order of a, then b's extras. */
export function pairUp(listA, listB, keyOf, same) {
  const byB = new Map((listB || []).map((x) => [keyOf(x), x]));
  const rows = [];
  const seen = new Set();
  for (const a of listA || []) {
    const k = keyOf(a);
    seen.add(k);
    const b = byB.get(k) || null;
    rows.push({ key: k, a, b, same: b !== null && same(a, b) });
  }
  for (const b of listB || []) if (!seen.has(keyOf(b))) rows.push({ key: keyOf(b), a: null, b, same: false });
  return rows;
}

/** Lines of a that b lacks (a multiset difference), for marking changed code. */
export function linesOnlyIn(a, b) {
  const count = new Map();
  for (const line of b) count.set(line, (count.get(line) || 0) + 1);
  return a.map((line) => {
    const n = count.get(line) || 0;
    if (n > 0) { count.set(line, n - 1); return false; }
    return true;
  });
}

function row(label, a, b, same) {
  return h('tr', { class: same ? null : 'differs' },
    h('th', { scope: 'row' }, label, same ? null : h('span', { class: 'sr-only' }, ' (differs)')),
    h('td', {}, a), h('td', {}, b));
}

function ioCell(io, short, other) {
  if (!io) return h('span', { class: 'muted' }, '—');
  const changed = other && io.hash !== other.hash;
  return h('span', {}, h('a', { class: 'mono', href: paths.trace(io.name), title: io.name }, nameEl(io.name, { short: short.get(io.name) })),
    io.hash ? h('div', { class: ['hash mono', changed ? 'changed' : 'muted'] }, io.hash) : null,
    io.producer ? h('div', { class: 'muted small-note' }, 'from ', runLink(io.producer)) : null);
}

function ioSection(title, a, b) {
  const short = shortNames([...(a || []), ...(b || [])].map((io) => io.name));
  const rows = pairUp(a, b, (io) => io.name, (x, y) => x.hash === y.hash && x.producer === y.producer);
  return h('section', { class: 'block' }, h('h2', {}, title),
    rows.length === 0 ? h('p', { class: 'muted' }, 'none on either side') :
      h('table', { class: 'table compare-table', 'aria-label': title },
        h('tbody', {}, rows.map((r) => h('tr', { class: r.same ? null : 'differs' },
          h('td', {}, ioCell(r.a, short, r.b)), h('td', {}, ioCell(r.b, short, r.a)))))));
}

function codeSide(code, marks) {
  if (!code) return h('p', { class: 'muted' }, 'no code snapshot');
  const lines = code.split('\n');
  return h('pre', { class: 'code-compare' }, lines.map((line, i) => h('span', { class: ['code-line', marks[i] && 'changed'] }, line || ' ', '\n')));
}

function testsSection(a, b) {
  const key = (t) => `${t.phase}:${t.name}`;
  const rows = pairUp(a, b, key, (x, y) => x.passed === y.passed);
  const cell = (t) => (t ? h('span', { class: t.passed ? 'ok' : 'bad' }, t.passed ? 'passed' : `failed${t.message ? `: ${t.message}` : ''}`) : h('span', { class: 'muted' }, '—'));
  return h('section', { class: 'block' }, h('h2', {}, 'Tests'),
    rows.length === 0 ? h('p', { class: 'muted' }, 'no tests on either side') :
      h('table', { class: 'table compare-table compare-tests', 'aria-label': 'tests' },
        h('tbody', {}, rows.map((r) => h('tr', { class: r.same ? null : 'differs' },
          h('th', { scope: 'row', class: 'mono' }, r.key), h('td', {}, cell(r.a)), h('td', {}, cell(r.b)))))));
}

export async function render(ctx) {
  const { a: idA, b: idB } = ctx.params;
  ctx.title(`compare ${idA} ${idB}`);
  const body = h('div', {}, loading('Loading both runs'));
  mount(ctx.root, h('section', { class: 'view view-compare' },
    viewHead(h('span', {}, h('span', { class: 'kicker' }, 'Compare'), ' ', h('span', { class: 'mono' }, `#${idA}`), ' and ', h('span', { class: 'mono' }, `#${idB}`))),
    body));
  let a;
  let b;
  try {
    [a, b] = await Promise.all([api(`/runs/${encodeURIComponent(idA)}`, { signal: ctx.signal }), api(`/runs/${encodeURIComponent(idB)}`, { signal: ctx.signal })]);
  } catch (e) {
    if (e.name !== 'AbortError') mount(body, errorBox(e, 'Comparing runs'));
    return;
  }
  const codeA = (a.code_snapshot || '').split('\n');
  const codeB = (b.code_snapshot || '').split('\n');
  const git = (r) => (r.git_hash ? h('span', { class: 'mono', title: r.git_hash }, r.git_hash.slice(0, 12), (r.git_tags || []).map((t) => [' ', h('span', { class: 'chip mono static' }, t)])) : h('span', { class: 'muted' }, '—'));
  mount(body,
    h('div', { class: 'table-wrap' }, h('table', { class: 'table compare-table compare-head', 'aria-label': 'the two runs' },
      h('thead', {}, h('tr', {}, h('th', {}, h('span', { class: 'sr-only' }, 'field')), h('th', {}, runLink(a.id, `#${a.id}`)), h('th', {}, runLink(b.id, `#${b.id}`)))),
      h('tbody', {},
        row('Component', componentLink(a.component), componentLink(b.component), a.component === b.component),
        row('Start', timeEl(a.start), timeEl(b.start), a.start === b.start),
        row('Duration', fmtDuration(runDuration(a)), fmtDuration(runDuration(b)), runDuration(a) === runDuration(b)),
        row('Git', git(a), git(b), a.git_hash === b.git_hash && String(a.git_tags) === String(b.git_tags)),
        row('Depends on', (a.dependencies || []).map((d) => [runLink(d), ' ']), (b.dependencies || []).map((d) => [runLink(d), ' ']), String(a.dependencies) === String(b.dependencies)),
        row('Stale', (a.stale || []).length ? staleList(a.stale, 3) : 'no', (b.stale || []).length ? staleList(b.stale, 3) : 'no', (a.stale || []).length === (b.stale || []).length)))),
    ioSection('Inputs', a.inputs, b.inputs),
    ioSection('Outputs', a.outputs, b.outputs),
    h('section', { class: 'block' }, h('h2', {}, 'Code'),
      a.code_snapshot === b.code_snapshot ? h('p', { class: 'muted' }, a.code_snapshot ? 'The same code on both sides.' : 'No code snapshot on either side.') : null,
      h('div', { class: 'compare-code' }, codeSide(a.code_snapshot, linesOnlyIn(codeA, codeB)), codeSide(b.code_snapshot, linesOnlyIn(codeB, codeA)))),
    testsSection(a.tests, b.tests));
}
