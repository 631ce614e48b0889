// History of one component: its card (owner, description, tags, outdated) and its runs, newest
// first, with a date range filter; more runs load on demand.

import { api, errorBox } from '../lib/api.js';
import { h, icon, mount, plural } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { navigate } from '../lib/router.js';
import { RunTable, loading, runLink, summaryFromEvent, tagChip } from '../lib/widgets.js';

/** A local calendar day as the start (or end) of that day in RFC 3339. */
function dayBound(day, end) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day || '')) return null;
  const [y, m, d] = day.split('-').map(Number);
  const date = end ? new Date(y, m - 1, d, 23, 59, 59, 999) : new Date(y, m - 1, d, 0, 0, 0, 0);
  return date.toISOString();
}

function componentCard(c) {
  return h('div', { class: 'component-card' },
    c.description ? h('p', { class: 'lede' }, c.description) : h('p', { class: 'muted' }, 'No description.'),
    h('dl', { class: 'fields' },
      h('div', { class: 'field' }, h('dt', {}, 'Owner'), h('dd', {}, c.owner ? h('span', { class: 'mono' }, c.owner) : h('span', { class: 'muted' }, '—'))),
      h('div', { class: 'field' }, h('dt', {}, 'Tags'), h('dd', {}, (c.tags || []).length ? c.tags.map(tagChip) : h('span', { class: 'muted' }, '—'))),
      h('div', { class: 'field' }, h('dt', {}, 'Runs'), h('dd', { class: 'mono' }, String(c.run_count ?? '—'))),
      h('div', { class: 'field' }, h('dt', {}, 'Latest run'), h('dd', {}, c.latest_run ? runLink(c.latest_run.id) : h('span', { class: 'muted' }, 'none yet')))),
    c.outdated ? h('p', { class: 'warn-box' }, icon('warn'), h('span', {}, 'Outdated: its latest run used inputs that have since been superseded. '), h('a', { href: paths.outdated() }, 'See why')) : null);
}

export async function render(ctx) {
  const { component } = ctx.params;
  const n = Math.min(1000, Math.max(1, Number(ctx.query.get('n')) || 10));
  const since = ctx.query.get('since') || '';
  const until = ctx.query.get('until') || '';
  ctx.title(`history ${component}`);

  const card = h('div', {}, loading('Loading the component'));
  const from = h('input', { type: 'date', class: 'input', name: 'since', value: since, 'aria-label': 'from day' });
  const to = h('input', { type: 'date', class: 'input', name: 'until', value: until, 'aria-label': 'to day' });
  const apply = (e) => {
    if (e) e.preventDefault();
    const q = new URLSearchParams();
    if (ctx.query.get('n')) q.set('n', String(n));
    if (from.value) q.set('since', from.value);
    if (to.value) q.set('until', to.value);
    const qs = q.toString();
    navigate(`${paths.history(component)}${qs ? `?${qs}` : ''}`);
  };
  const filter = h('form', { class: 'filter', onsubmit: apply, 'aria-label': 'date range' },
    h('label', {}, 'From ', from), h('label', {}, 'to ', to),
    h('button', { class: 'btn small', type: 'submit' }, 'Apply'),
    since || until ? h('button', { class: 'btn ghost small', type: 'button', onclick: () => { from.value = ''; to.value = ''; apply(); } }, 'Clear') : null);
  const table = new RunTable({ showComponent: false, label: `runs of ${component}` });
  table.loadFlags(ctx.signal);
  const list = h('div', {});
  const more = h('div', { class: 'list-status' });

  mount(ctx.root, h('section', { class: 'view view-history' },
    h('header', { class: 'view-head' }, h('h1', {}, h('span', { class: 'kicker' }, 'History of'), ' ', h('span', { class: 'mono name' }, component))),
    card,
    h('div', { class: 'toolbar' }, h('h2', {}, 'Runs'), filter),
    list, more));

  const cardLoaded = api(`/components/${encodeURIComponent(component)}`, { signal: ctx.signal })
    .then((c) => { mount(card, componentCard(c)); return true; })
    .catch((e) => {
      if (e.name === 'AbortError') return false;
      mount(card, errorBox(e, `Loading component ${component}`));
      if (e.status === 404) {
        // One error is enough: no table, but the names that come close.
        table.el.remove();
        mount(list);
        mount(more, didYouMean(component, ctx.signal));
        ctx.root.querySelector('.view-history > .toolbar').remove();
      }
      return false;
    });

  let complete = false;
  const query = { since: dayBound(since, false), until: dayBound(until, true) };

  async function page(limit) {
    mount(more, loading('Loading runs'));
    try {
      const answer = await api(`/components/${encodeURIComponent(component)}/runs`, { query: { ...query, limit, before: table.lastId }, signal: ctx.signal });
      const runs = answer.runs || [];
      complete = runs.length < limit;
      table.append(runs);
      if (table.size === 0) {
        mount(list, h('p', { class: 'empty-note muted' }, since || until ? 'No runs in this date range.' : 'No runs of this component yet.'));
      } else if (!table.el.isConnected) mount(list, h('div', { class: 'table-wrap' }, table.el));
      mount(more, complete
        ? (table.size ? h('p', { class: 'muted end' }, `${plural(table.size, 'run')}${since || until ? ' in this range' : ''}.`) : null)
        : h('button', { type: 'button', class: 'btn', onclick: () => page(Math.max(n, 25)) }, 'Load older runs'));
    } catch (e) {
      if (e.name === 'AbortError') return;
      mount(more, errorBox(e, 'Loading runs'));
    }
  }

  ctx.onEvent((event) => {
    if (event.type !== 'run_logged' || !event.run || event.run.component !== component) return;
    const run = summaryFromEvent(event.run);
    const t = new Date(run.start).getTime();
    if (query.since && t < new Date(query.since).getTime()) return;
    if (query.until && t > new Date(query.until).getTime()) return;
    const wasEmpty = table.size === 0;
    if (table.insert(run, { complete }) && wasEmpty) mount(list, h('div', { class: 'table-wrap' }, table.el));
  });

  const found = await cardLoaded;
  if (found) await page(n);
}

function didYouMean(component, signal) {
  const box = h('p', { class: 'muted' });
  api('/suggest', { query: { q: component.slice(0, 3), limit: 8 }, signal }).then((answer) => {
    const names = (answer.components || []).filter((c) => c !== component);
    if (names.length) mount(box, 'Components with a similar name: ', names.map((c, i) => [i ? ', ' : '', h('a', { class: 'mono', href: paths.history(c) }, c)]), '.');
  }).catch(() => {});
  return box;
}
