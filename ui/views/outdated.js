// Outdated components: those whose latest run used a dependency that is no longer the latest run
// of its component. One card per component, its superseded dependencies summed up per upstream
// component (the full reasons fold away), a filter, and pages of cards.

import { api, errorBox } from '../lib/api.js';
import { h, icon, mount, timeEl, plural, debounce } from '../lib/dom.js';
import { componentLink, loading, reasonText, runLink, viewHead } from '../lib/widgets.js';

const PAGE = 30;
const REASON = /^(.*) \(ID (\d+)\) has been superseded by ID (\d+)\.$/;

/** Reasons summed up per upstream component: [{component, count, newest, reasons}]. */
export function summarize(reasons) {
  const by = new Map();
  for (const r of reasons || []) {
    const m = REASON.exec(r);
    const comp = m ? m[1] : '';
    if (!by.has(comp)) by.set(comp, { component: comp, count: 0, newest: 0, reasons: [] });
    const g = by.get(comp);
    g.count += 1;
    g.reasons.push(r);
    if (m) g.newest = Math.max(g.newest, Number(m[3]));
  }
  return [...by.values()].sort((a, b) => b.count - a.count || a.component.localeCompare(b.component));
}

function card(c) {
  const groups = summarize(c.reasons);
  return h('li', { class: 'outdated-item' },
    h('div', { class: 'row' }, componentLink(c.name),
      c.latest_run ? [h('span', { class: 'muted' }, 'latest run'), runLink(c.latest_run.id), timeEl(c.latest_run.start)] : null),
    h('ul', { class: 'reasons' }, groups.map((g) => h('li', {}, icon('warn'), ' ',
      g.component ? [h('span', { class: 'mono' }, g.component), ': ', plural(g.count, 'run'), ' superseded', g.newest ? [' (newest replacement ', runLink(g.newest), ')'] : null]
        : plural(g.count, 'reason')))),
    h('details', { class: 'reason-details' }, h('summary', {}, `all ${plural((c.reasons || []).length, 'reason')}`),
      h('ul', { class: 'reasons' }, (c.reasons || []).map((r) => h('li', {}, reasonText(r))))));
}

export async function render(ctx) {
  ctx.title('Outdated');
  const body = h('div', {}, loading('Checking components'));
  mount(ctx.root, h('section', { class: 'view view-outdated' }, viewHead('Outdated components'), body));
  let filterText = ctx.query.get('q') || '';
  const load = async () => {
    try {
      const answer = await api('/outdated', { signal: ctx.signal });
      const list = answer.components || [];
      if (list.length === 0) {
        mount(body, h('div', { class: 'empty-state small' }, h('h2', {}, icon('check'), ' Everything is up to date'),
          h('p', {}, 'No component\'s latest run depends on a superseded run.')));
        return;
      }
      const filter = h('input', { type: 'search', class: 'input', placeholder: 'filter components', 'aria-label': 'filter components', value: filterText });
      const cards = h('ul', { class: 'outdated-list' });
      const more = h('button', { type: 'button', class: 'btn small more-btn' });
      const note = h('p', { class: 'muted' });
      let shown = 0;
      let matching = list;
      const next = () => {
        for (const c of matching.slice(shown, shown + PAGE)) cards.appendChild(card(c));
        shown = Math.min(matching.length, shown + PAGE);
        more.hidden = shown >= matching.length;
        more.textContent = `Show more (${matching.length - shown} left)`;
      };
      const redraw = () => {
        const q = filterText.trim().toLowerCase();
        matching = q ? list.filter((c) => c.name.toLowerCase().includes(q) || (c.reasons || []).some((r) => r.toLowerCase().includes(q))) : list;
        note.textContent = `${plural(matching.length, 'component')}${q ? ` of ${list.length}` : ''} used inputs that have since been superseded: rerun them to pick up the fresher data.`;
        mount(cards);
        shown = 0;
        next();
      };
      more.addEventListener('click', next);
      filter.addEventListener('input', debounce(() => { filterText = filter.value; redraw(); }, 150));
      // Upstream components that superseded the most, across every card: where fresh data came from.
      const totals = new Map();
      for (const c of list) for (const g of summarize(c.reasons)) if (g.component) totals.set(g.component, (totals.get(g.component) || 0) + g.count);
      const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
      mount(body,
        h('div', { class: 'toolbar' }, note, h('div', { class: 'filter' }, filter)),
        top.length ? h('p', { class: 'superseders' }, 'Superseded most: ', top.map(([name, n], i) => [i ? ', ' : '', h('span', { class: 'mono' }, name), ` ×${n}`])) : null,
        cards, more);
      redraw();
    } catch (e) {
      if (e.name !== 'AbortError') mount(body, errorBox(e, 'Outdated components'));
    }
  };
  const later = debounce(load, 300);
  ctx.onCleanup(() => later.cancel());
  ctx.onEvent((event) => { if (event.type === 'run_logged') later(); });
  await load();
}
