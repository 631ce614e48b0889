// Outdated components: those whose latest run used a dependency that is no longer the latest
// run of its component, with the reasons.

import { api, errorBox } from '../lib/api.js';
import { h, icon, mount, timeEl, plural, debounce } from '../lib/dom.js';
import { componentLink, loading, runLink, viewHead } from '../lib/widgets.js';

export async function render(ctx) {
  ctx.title('Outdated');
  const body = h('div', {}, loading('Checking components'));
  mount(ctx.root, h('section', { class: 'view view-outdated' }, viewHead('Outdated components'), body));
  const load = async () => {
    try {
      const answer = await api('/outdated', { signal: ctx.signal });
      const list = answer.components || [];
      if (list.length === 0) {
        mount(body, h('div', { class: 'empty-state small' }, h('h2', {}, icon('check'), ' Everything is up to date'),
          h('p', {}, 'No component\'s latest run depends on a superseded run.')));
        return;
      }
      mount(body, h('p', { class: 'muted' }, `${plural(list.length, 'component')} used inputs that have since been superseded: rerun them to pick up the fresher data.`),
        h('ul', { class: 'outdated-list' }, list.map((c) => h('li', { class: 'outdated-item' },
          h('div', { class: 'row' }, componentLink(c.name),
            c.latest_run ? [h('span', { class: 'muted' }, 'latest run'), runLink(c.latest_run.id), timeEl(c.latest_run.start)] : null),
          h('ul', { class: 'reasons' }, (c.reasons || []).map((r) => h('li', {}, icon('warn'), ' ', r)))))));
    } catch (e) {
      if (e.name !== 'AbortError') mount(body, errorBox(e, 'Outdated components'));
    }
  };
  const later = debounce(load, 300);
  ctx.onCleanup(() => later.cancel());
  ctx.onEvent((event) => { if (event.type === 'run_logged') later(); });
  await load();
}
