// Recent runs: the home page. A table that loads older runs as you scroll (the `before`
// cursor) and shows new runs as they are logged (the live event stream).

import { api, errorBox } from '../lib/api.js';
import { h, mount, plural } from '../lib/dom.js';
import { RunTable, firstRunHelp, loading, summaryFromEvent, viewHead } from '../lib/widgets.js';

const PAGE = 50;

export async function render(ctx) {
  ctx.title('Recent runs');
  const table = new RunTable({ label: 'Recent runs' });
  table.loadFlags(ctx.signal);
  const count = h('span', { class: 'muted count' });
  const status = h('div', { class: 'list-status', role: 'status' }, loading('Loading runs'));
  const sentinel = h('div', { class: 'sentinel', 'aria-hidden': 'true' });
  const body = h('div', {});
  let complete = false;
  let busy = false;
  let failed = false;

  mount(ctx.root, h('section', { class: 'view view-recent' },
    viewHead('Recent runs', count, h('span', { class: 'muted head-note' }, 'newest first, by start time')),
    body, status, sentinel));

  const showCount = () => {
    count.textContent = table.size ? `${table.size}${complete ? '' : '+'} shown` : '';
    if (complete && table.size && !failed) mount(status, h('p', { class: 'muted end' }, `That is all: ${plural(table.size, 'run')}.`));
  };

  const showTable = () => {
    if (table.el.parentNode !== body) mount(body, h('div', { class: 'table-wrap' }, table.el));
  };

  async function loadMore() {
    if (busy || complete || failed || !ctx.isCurrent()) return;
    busy = true;
    mount(status, loading(table.size ? 'Loading older runs' : 'Loading runs'));
    try {
      const answer = await api('/runs', { query: { limit: PAGE, before: table.lastId }, signal: ctx.signal });
      const runs = answer.runs || [];
      complete = runs.length < PAGE;
      table.append(runs);
      if (table.size === 0) {
        mount(body, firstRunHelp());
        mount(status);
      } else {
        showTable();
        mount(status);
      }
      showCount();
    } catch (e) {
      if (e.name === 'AbortError') return;
      failed = true;
      mount(status, errorBox(e, 'Loading runs'),
        h('button', { class: 'btn', type: 'button', onclick: () => { failed = false; loadMore(); } }, 'Try again'));
    } finally {
      busy = false;
    }
    // The page may still not be full (a tall screen): keep loading while the end is visible.
    if (!complete && !failed && sentinelVisible()) loadMore();
  }

  const sentinelVisible = () => sentinel.getBoundingClientRect().top < window.innerHeight + 400;

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) loadMore();
  }, { rootMargin: '400px 0px' });
  observer.observe(sentinel);
  ctx.onCleanup(() => observer.disconnect());

  ctx.onEvent((event) => {
    if (event.type !== 'run_logged' || !event.run) return;
    const run = summaryFromEvent(event.run);
    const wasEmpty = table.size === 0;
    if (table.insert(run, { complete })) {
      if (wasEmpty) showTable();
      showCount();
    }
  });

  await loadMore();
}
