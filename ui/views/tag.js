// The components that carry a tag, and every tag for discovery.

import { api, errorBox } from '../lib/api.js';
import { h, mount, plural } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { componentLink, loading, tagChip } from '../lib/widgets.js';

export async function render(ctx) {
  const { tag } = ctx.params;
  ctx.title(`tag ${tag}`);
  const body = h('div', {}, loading('Loading components'));
  const others = h('div', { class: 'tag-cloud' });
  mount(ctx.root, h('section', { class: 'view view-tag' },
    h('header', { class: 'view-head' }, h('h1', {}, h('span', { class: 'kicker' }, 'Tagged'), ' ', h('span', { class: 'mono name' }, tag))),
    body, others));

  api('/tags', { signal: ctx.signal }).then((answer) => {
    const tags = (answer.tags || []).filter((t) => t.name !== tag);
    if (tags.length) mount(others, h('h2', {}, 'Other tags'), h('ul', { class: 'chips' }, tags.map((t) => h('li', {}, tagChip(t.name), h('span', { class: 'muted chip-count' }, String(t.components))))));
  }).catch(() => {});

  try {
    const answer = await api('/components', { query: { tag }, signal: ctx.signal });
    const components = answer.components || [];
    if (components.length === 0) {
      mount(body, h('p', { class: 'empty-note' }, 'No component has the tag ', h('span', { class: 'mono' }, tag), '. Tag one with ', h('code', {}, `mltrace tag COMPONENT ${tag}`), '.'));
      return;
    }
    mount(body, h('p', { class: 'muted' }, plural(components.length, 'component')),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table components', 'aria-label': `components tagged ${tag}` },
        h('thead', {}, h('tr', {}, h('th', {}, 'Component'), h('th', {}, 'Owner'), h('th', {}, 'Description'), h('th', {}, 'Tags'))),
        h('tbody', {}, components.map((c) => h('tr', { dataset: { href: paths.history(c.name) } },
          h('td', {}, componentLink(c.name)),
          h('td', { class: 'mono' }, c.owner || h('span', { class: 'muted' }, '—')),
          h('td', {}, c.description || h('span', { class: 'muted' }, '—')),
          h('td', {}, (c.tags || []).map(tagChip))))))));
  } catch (e) {
    if (e.name !== 'AbortError') mount(body, errorBox(e, `Components tagged ${tag}`));
  }
}
