// One input or output: its type, its flag (with reason and who), the runs that wrote and read it.

import { api, errorBox } from '../lib/api.js';
import { h, icon, mount, timeEl } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { flagToggle, loading, runLink, viewHead } from '../lib/widgets.js';

function runRefs(ids, signal, empty) {
  if (!ids || ids.length === 0) return h('p', { class: 'muted' }, empty);
  const shown = ids.slice(-50).reverse(); // newest first
  const list = h('ul', { class: 'deps' });
  for (const id of shown) {
    const name = h('span', { class: 'mono component muted' });
    const when = h('span', { class: 'muted' });
    list.appendChild(h('li', { dataset: { href: paths.run(id) } }, runLink(id), ' ', name, ' ', when));
    api(`/runs/${id}`, { signal }).then((run) => {
      mount(name, h('a', { class: 'mono component', href: paths.history(run.component) }, run.component));
      mount(when, timeEl(run.start));
    }).catch(() => {});
  }
  if (ids.length > shown.length) list.appendChild(h('li', { class: 'muted' }, `and ${ids.length - shown.length} older`));
  return list;
}

export async function render(ctx) {
  const { name } = ctx.params;
  ctx.title(name);
  const head = viewHead(h('span', { class: 'mono name' }, name));
  mount(ctx.root, h('section', { class: 'view' }, head, loading()));
  let io;
  try {
    io = await api('/io', { query: { name }, signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    mount(ctx.root, h('section', { class: 'view' }, head, errorBox(e, `Looking up ${name}`)));
    return;
  }
  const flagInfo = h('div', { class: 'flag-info' });
  const showFlag = (info) => {
    mount(flagInfo, info
      ? h('p', { class: 'flag-detail' }, icon('flag'), ' Flagged', info.by ? [' by ', h('span', { class: 'mono' }, info.by)] : null,
        info.at ? [' on ', timeEl(info.at)] : null, info.reason ? [': ', h('q', {}, info.reason)] : null)
      : null);
  };
  const refresh = async () => {
    try {
      const next = await api('/io', { query: { name }, signal: ctx.signal });
      showFlag(next.flagged ? next.flag || {} : null);
    } catch { /* keep what is shown */ }
  };
  showFlag(io.flagged ? io.flag || {} : null);
  mount(ctx.root, h('section', { class: 'view view-output' },
    h('header', { class: 'view-head' }, h('h1', {}, h('span', { class: 'mono name' }, io.name || name)),
      h('span', { class: `type type-${io.type}` }, io.type || 'unknown'),
      flagToggle(name, Boolean(io.flagged), { onChange: refresh })),
    flagInfo,
    h('nav', { class: 'row' },
      h('a', { class: 'btn', href: paths.trace(name) }, icon('trace'), 'Trace'),
      h('a', { class: 'btn', href: paths.downstream(name) }, icon('down'), 'Downstream')),
    h('div', { class: 'two-col' },
      h('section', { class: 'block' }, h('h2', {}, 'Written by ', h('span', { class: 'count muted' }, String((io.producers || []).length))),
        runRefs(io.producers, ctx.signal, 'No logged run wrote it: a source.')),
      h('section', { class: 'block' }, h('h2', {}, 'Read by ', h('span', { class: 'count muted' }, String((io.consumers || []).length))),
        runRefs(io.consumers, ctx.signal, 'No logged run has read it.')))));
  ctx.onEvent((event) => {
    if (event.type === 'flagged' || event.type === 'unflagged') refresh();
  });
}
