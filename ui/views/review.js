// Review: where to start debugging. The runs most common to the flagged outputs come first, with
// coverage (the share of flagged outputs whose trace contains the run) and specificity (the share
// of the outputs the run still feeds that are flagged), then the flags, paged, grouped and filtered.

import { api, errorBox, errorText } from '../lib/api.js';
import { h, icon, mount, timeEl, plural, debounce, fmtAgo } from '../lib/dom.js';
import { setQuery } from '../lib/router.js';
import { paths } from '../lib/commands.js';
import { componentLink, copyButton, loading, nameEl, runLink, staleMark, viewHead } from '../lib/widgets.js';
import { toast } from '../lib/toast.js';

function unflagButton(name, after) {
  const error = h('span', { class: 'inline-error', role: 'alert' });
  const button = h('button', { type: 'button', class: 'btn ghost small', 'aria-label': `unflag ${name}` }, 'Unflag');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api('/unflag', { method: 'POST', body: { outputs: [name] } });
      toast(`Unflagged ${name}`);
      after();
    } catch (e) {
      error.textContent = errorText(e);
      button.disabled = false;
    }
  });
  return h('span', {}, button, error);
}

function unflagAll(after) {
  const box = h('span', { class: 'confirm' });
  const ask = () => mount(box, h('button', { type: 'button', class: 'btn ghost small', onclick: confirm }, 'Unflag all…'));
  const confirm = () => mount(box, h('span', { class: 'muted' }, 'Remove every flag? '),
    h('button', { type: 'button', class: 'btn danger small', onclick: run }, 'Unflag all'),
    h('button', { type: 'button', class: 'btn ghost small', onclick: ask }, 'Keep'));
  const run = async () => {
    try {
      const answer = await api('/unflag', { method: 'POST', body: { all: true } });
      toast(`Unflagged ${plural((answer.unflagged || []).length, 'output')}`);
      after();
    } catch (e) {
      mount(box, h('span', { class: 'inline-error', role: 'alert' }, errorText(e)));
    }
  };
  ask();
  return box;
}

function meter(value, label) {
  const pct = Math.round(value * 1000) / 10;
  return h('div', { class: 'coverage', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct), 'aria-label': label },
    h('div', { class: 'coverage-track' }, h('div', { class: 'coverage-fill', style: { width: `${pct}%` } })),
    h('span', { class: 'coverage-pct mono' }, `${pct}%`));
}

const PAGE = 25;
/** How many ranked runs the page asks for: far more than anyone reads, 20 at a time. */
const RANKED = 100;

/** Count first, specificity as the tie-breaker, then the newest run: the UI's default order. */
function byCountThenSpecificity(a, b) {
  return b.count - a.count || (b.specificity ?? 0) - (a.specificity ?? 0) || b.run.id - a.run.id;
}

/** A list that shows `PAGE` rows and a button for the next page. */
function paged(items, row, { empty = 'Nothing here.', size = PAGE, wrap = (rows) => h('div', {}, rows) } = {}) {
  const holder = h('div', {});
  let shown = 0;
  const more = h('button', { type: 'button', class: 'btn small more-btn' });
  const body = wrap([]);
  const target = body.querySelector('tbody') || body;
  const next = () => {
    const batch = items.slice(shown, shown + size);
    for (const item of batch) target.appendChild(row(item));
    shown += batch.length;
    more.hidden = shown >= items.length;
    more.textContent = `Show ${Math.min(size, items.length - shown)} more (${items.length - shown} left)`;
  };
  more.addEventListener('click', next);
  if (items.length === 0) return h('p', { class: 'muted' }, empty);
  next();
  holder.append(body, more);
  return holder;
}

function runsSection(review, flaggedCount, rank, setRank) {
  const runs = [...(review.runs || [])];
  if (rank !== 'specificity') runs.sort(byCountThenSpecificity);
  const switcher = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Rank runs by' },
    [['count', 'flagged outputs'], ['specificity', 'specificity']].map(([kind, text]) => h('button', {
      type: 'button', class: 'seg', 'aria-pressed': String(kind === rank), onclick: () => setRank(kind),
    }, text)));
  const table = (rows) => h('div', { class: 'table-wrap' }, h('table', { class: 'table review-runs stack', 'aria-label': 'runs common to the flagged outputs' },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'ID'), h('th', {}, 'Component'), h('th', {}, 'Start'), h('th', { class: 'num' }, 'Flagged outputs'),
      h('th', { class: 'cov-col' }, 'Coverage'), h('th', { class: 'cov-col' }, 'Specificity'), h('th', {}, h('span', { class: 'sr-only' }, 'Status')))),
    h('tbody', {}, rows)));
  const row = (r) => h('tr', { dataset: { href: paths.run(r.run.id) } },
    h('td', { class: 'num', 'data-label': 'ID' }, runLink(r.run.id, String(r.run.id))),
    h('td', { 'data-label': 'Component' }, componentLink(r.run.component)),
    h('td', { class: 'nowrap', 'data-label': 'Start' }, timeEl(r.run.start)),
    h('td', { class: 'num mono nowrap', 'data-label': 'Flagged' }, `${r.count} of ${flaggedCount}`),
    h('td', { 'data-label': 'Coverage', title: 'share of the flagged outputs whose trace contains this run' }, meter(r.coverage, 'coverage')),
    h('td', { 'data-label': 'Specificity', title: `${r.count} of the ${r.reach ?? '?'} outputs this run still feeds are flagged` },
      meter(r.specificity ?? 0, 'specificity'), h('span', { class: 'muted small-note' }, `${r.count} of ${r.reach ?? '?'} it feeds`)),
    h('td', { class: 'marks' }, staleMark(r.run.stale)));
  return h('section', { class: 'block' },
    h('div', { class: 'toolbar' }, h('h2', {}, 'Where to start ', h('span', { class: 'count muted' }, runs.length >= RANKED ? `top ${runs.length}` : String(runs.length))), h('span', { class: 'muted' }, 'rank by'), switcher),
    h('p', { class: 'muted' }, 'Coverage: the share of flagged outputs whose trace contains the run. Specificity: the share of the outputs the run still feeds that are flagged; a run that also fed healthy outputs scores lower. ',
      rank === 'specificity' ? 'Ranked by specificity, then coverage.' : 'Ranked by coverage, ties by specificity.'),
    runs.length === 0 ? h('p', { class: 'muted' }, 'No runs: none of the flagged outputs has a producer.') : paged(runs, row, { size: 20, wrap: table }));
}

const GROUPINGS = [['time', 'newest first'], ['reason', 'by reason'], ['by', 'by who'], ['component', 'by component']];

function flagsSection(review, reload, state, producerOf) {
  const flags = [...(review.flagged || [])].sort((a, b) => String(b.at).localeCompare(String(a.at)));
  const filter = h('input', { type: 'search', class: 'input', placeholder: 'filter: name, reason, who', 'aria-label': 'filter flags', value: state.filter });
  const groupSel = h('select', { class: 'input', 'aria-label': 'group flags' }, GROUPINGS.map(([v, t]) => h('option', { value: v, selected: v === state.group }, t)));
  const list = h('div', {});
  const keyOf = (f) => ({ reason: f.reason || '(no reason)', by: f.by || '(nobody)', component: producerOf(f.name) || '(no producer)' }[state.group]);
  const flagTable = (rows) => h('div', { class: 'table-wrap' }, h('table', { class: 'table flagged stack', 'aria-label': 'flagged outputs' },
    h('thead', {}, h('tr', {}, h('th', {}, 'Output'), h('th', {}, 'Reason'), h('th', {}, 'By'), h('th', {}, 'Flagged'), h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
    h('tbody', {}, rows)));
  const flagRow = (f) => h('tr', { dataset: { href: paths.trace(f.name) } },
    h('td', { 'data-label': 'Output' }, icon('flag'), ' ', h('a', { class: 'mono', href: paths.trace(f.name), title: f.name }, nameEl(f.name)), copyButton(f.name)),
    h('td', { 'data-label': 'Reason' }, f.reason || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'mono', 'data-label': 'By' }, f.by || h('span', { class: 'muted' }, '—')),
    h('td', { class: 'nowrap', 'data-label': 'Flagged' }, timeEl(f.at)),
    h('td', { class: 'links' }, unflagButton(f.name, reload)));
  const drawList = () => {
    const q = state.filter.trim().toLowerCase();
    const shown = q ? flags.filter((f) => [f.name, f.reason, f.by, producerOf(f.name)].some((v) => v && v.toLowerCase().includes(q))) : flags;
    if (state.group === 'time') { mount(list, paged(shown, flagRow, { wrap: flagTable, empty: 'No flag matches the filter.' })); return; }
    const groups = new Map();
    for (const f of shown) { const k = keyOf(f); if (!groups.has(k)) groups.set(k, []); groups.get(k).push(f); }
    const ordered = [...groups.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]));
    mount(list, ordered.length === 0 ? h('p', { class: 'muted' }, 'No flag matches the filter.') : paged(ordered, ([k, items]) => h('details', { class: 'flag-group' },
      h('summary', {}, h('strong', {}, k), ' ', h('span', { class: 'count muted' }, String(items.length)), h('span', { class: 'muted' }, ` · newest ${fmtAgo(items[0].at)}`)),
      paged(items, flagRow, { wrap: flagTable })), { size: 15 }));
  };
  filter.addEventListener('input', debounce(() => { state.filter = filter.value; drawList(); }, 150));
  groupSel.addEventListener('change', () => { state.group = groupSel.value; setQuery({ group: state.group === 'time' ? null : state.group }); drawList(); });
  drawList();
  return h('section', { class: 'block' },
    h('div', { class: 'toolbar' }, h('h2', {}, 'Flagged outputs ', h('span', { class: 'count muted' }, String(flags.length))),
      h('div', { class: 'filter' }, filter, groupSel), unflagAll(reload)),
    list);
}

function draw(body, review, reload, state) {
  const flagged = review.flagged || [];
  const unresolved = review.unresolved || [];
  if (flagged.length === 0) {
    mount(body, h('div', { class: 'empty-state small' },
      h('h2', {}, 'Nothing flagged'),
      h('p', {}, 'Flag outputs that look wrong, with ', h('code', {}, 'flag OUTPUT [REASON]'), ' in the command bar or the flag toggle on a run card. Review then ranks the runs they have in common.')));
    return;
  }
  // The component that wrote each flagged output (its latest producer among the ranked runs).
  const producer = new Map();
  for (const r of [...(review.runs || [])].sort((a, b) => a.run.id - b.run.id)) for (const o of r.run.outputs || []) producer.set(o, r.run.component);
  const setRank = (rank) => { state.rank = rank; setQuery({ rank: rank === 'count' ? null : rank }); reload(); };
  mount(body,
    runsSection(review, flagged.length, state.rank, setRank),
    unresolved.length ? h('section', { class: 'block' }, h('h2', {}, 'Unresolved'),
      h('p', { class: 'muted' }, 'Flagged, but no logged run wrote them, so they have no trace:'),
      h('ul', { class: 'chips' }, unresolved.map((u) => { const name = typeof u === 'string' ? u : u.name; return h('li', {}, h('a', { class: 'chip mono', href: paths.output(name), title: name }, nameEl(name))); }))) : null,
    flagsSection(review, reload, state, (name) => producer.get(name)));
}

export async function render(ctx) {
  ctx.title('Review');
  const body = h('div', {}, loading('Reviewing flagged outputs'));
  mount(ctx.root, h('section', { class: 'view view-review' }, viewHead('Review'), body));
  const state = {
    rank: ctx.query.get('rank') === 'specificity' ? 'specificity' : 'count',
    group: GROUPINGS.some(([v]) => v === ctx.query.get('group')) ? ctx.query.get('group') : 'time',
    filter: '',
  };
  const load = async () => {
    try {
      const review = await api('/review', { query: { limit: RANKED, rank: state.rank === 'specificity' ? 'specificity' : null }, signal: ctx.signal });
      draw(body, review, load, state);
    } catch (e) {
      if (e.name !== 'AbortError') mount(body, errorBox(e, 'Review'));
    }
  };
  const later = debounce(load, 250);
  ctx.onCleanup(() => later.cancel());
  ctx.onEvent((event) => {
    if (['flagged', 'unflagged', 'run_logged'].includes(event.type)) later();
  });
  await load();
}
