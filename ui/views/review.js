// Review: the flagged outputs (with reason and who) and the runs most common to them, ranked by
// coverage, the share of flagged outputs whose trace contains the run. Where to start debugging.

import { api, errorBox, errorText } from '../lib/api.js';
import { h, icon, mount, timeEl, plural, debounce } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { componentLink, loading, runLink, staleMark, viewHead } from '../lib/widgets.js';
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

function coverageBar(coverage) {
  const pct = Math.round(coverage * 1000) / 10;
  return h('div', { class: 'coverage', role: 'meter', 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(pct), 'aria-label': 'coverage' },
    h('div', { class: 'coverage-track' }, h('div', { class: 'coverage-fill', style: { width: `${pct}%` } })),
    h('span', { class: 'coverage-pct mono' }, `${pct}%`));
}

function draw(body, review, reload) {
  const flagged = review.flagged || [];
  const runs = review.runs || [];
  const unresolved = review.unresolved || [];
  if (flagged.length === 0) {
    mount(body, h('div', { class: 'empty-state small' },
      h('h2', {}, 'Nothing flagged'),
      h('p', {}, 'Flag outputs that look wrong, with ', h('code', {}, 'flag OUTPUT [REASON]'), ' in the command bar or the flag toggle on a run card. Review then ranks the runs they have in common.')));
    return;
  }
  mount(body,
    h('section', { class: 'block' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Flagged outputs ', h('span', { class: 'count muted' }, String(flagged.length))), unflagAll(reload)),
      h('div', { class: 'table-wrap' }, h('table', { class: 'table flagged', 'aria-label': 'flagged outputs' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Output'), h('th', {}, 'Reason'), h('th', {}, 'By'), h('th', {}, 'Flagged'), h('th', {}, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', {}, flagged.map((f) => h('tr', { dataset: { href: paths.trace(f.name) } },
          h('td', {}, icon('flag'), ' ', h('a', { class: 'mono', href: paths.trace(f.name) }, f.name)),
          h('td', {}, f.reason || h('span', { class: 'muted' }, '—')),
          h('td', { class: 'mono' }, f.by || h('span', { class: 'muted' }, '—')),
          h('td', { class: 'nowrap' }, timeEl(f.at)),
          h('td', { class: 'links' }, unflagButton(f.name, reload)))))))),
    unresolved.length ? h('section', { class: 'block' }, h('h2', {}, 'Unresolved'),
      h('p', { class: 'muted' }, 'Flagged, but no logged run wrote them, so they have no trace:'),
      h('ul', { class: 'chips' }, unresolved.map((u) => h('li', {}, h('a', { class: 'chip mono', href: paths.output(typeof u === 'string' ? u : u.name) }, typeof u === 'string' ? u : u.name))))) : null,
    h('section', { class: 'block' },
      h('h2', {}, 'Runs common to the flagged outputs ', h('span', { class: 'count muted' }, String(runs.length))),
      h('p', { class: 'muted' }, 'Coverage: the share of flagged outputs whose trace contains the run. Start with the top rows.'),
      runs.length === 0 ? h('p', { class: 'muted' }, 'No runs: none of the flagged outputs has a producer.') :
        h('div', { class: 'table-wrap' }, h('table', { class: 'table review-runs', 'aria-label': 'runs by coverage' },
          h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'ID'), h('th', {}, 'Component'), h('th', {}, 'Start'), h('th', { class: 'num' }, 'Flagged outputs'), h('th', { class: 'cov-col' }, 'Coverage'), h('th', {}, h('span', { class: 'sr-only' }, 'Status')))),
          h('tbody', {}, runs.map((r) => h('tr', { dataset: { href: paths.run(r.run.id) } },
            h('td', { class: 'num' }, runLink(r.run.id, String(r.run.id))),
            h('td', {}, componentLink(r.run.component)),
            h('td', { class: 'nowrap' }, timeEl(r.run.start)),
            h('td', { class: 'num mono' }, `${r.count} of ${flagged.length}`),
            h('td', {}, coverageBar(r.coverage)),
            h('td', { class: 'marks' }, staleMark(r.run.stale)))))))));
}

export async function render(ctx) {
  ctx.title('Review');
  const body = h('div', {}, loading('Reviewing flagged outputs'));
  mount(ctx.root, h('section', { class: 'view view-review' }, viewHead('Review'), body));
  const load = async () => {
    try {
      const review = await api('/review', { query: { limit: 100 }, signal: ctx.signal });
      draw(body, review, load);
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
