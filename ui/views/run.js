// The run card (inspect RUN_ID): everything known about one run, with flag toggles on its
// inputs and outputs, links to their traces, and notes that can be edited in place.

import { api, errorBox, errorText } from '../lib/api.js';
import { h, icon, mount, timeEl, fmtDuration, runDuration, plural } from '../lib/dom.js';
import { paths } from '../lib/commands.js';
import { componentLink, copyBlock, copyButton, flagToggle, loading, nameEl, runLink, staleList, tagChip, viewHead } from '../lib/widgets.js';
import { toast } from '../lib/toast.js';
import { checkEvidence } from '../lib/audit.js';

export async function render(ctx) {
  const id = ctx.params.id.replace(/^#/, '');
  ctx.title(`Run ${id}`);
  if (!/^[1-9][0-9]*$/.test(id)) {
    mount(ctx.root, h('section', { class: 'view' }, viewHead(`Run ${id}`),
      errorBox(new Error(`"${id}" is not a run id: run ids are positive integers.`), 'Opening the run')));
    return;
  }
  mount(ctx.root, h('section', { class: 'view' }, viewHead(`Run ${id}`), loading('Loading the run')));
  let run;
  try {
    run = await api(`/runs/${id}`, { signal: ctx.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    mount(ctx.root, h('section', { class: 'view' }, viewHead(`Run ${id}`), errorBox(e, `Loading run ${id}`)));
    return;
  }
  ctx.title(`${run.component} #${run.id}`);
  let card = runCard(run, ctx);
  mount(ctx.root, card);
  compareLink(card, run, ctx.signal);

  ctx.onEvent(async (event) => {
    // A later OpenLineage event of this run (RUNNING, COMPLETE, FAIL ...) changes the card: redraw it.
    if (event.type === 'openlineage' && event.run && Number(event.run.id) === run.id) {
      try {
        run = await api(`/runs/${id}`, { signal: ctx.signal });
        card = runCard(run, ctx);
        mount(ctx.root, card);
      } catch (e) {
        if (e.name !== 'AbortError') toast(`Could not refresh run ${id}: ${errorText(e)}`);
      }
      return;
    }
    if (event.type !== 'notes_set') return;
    // {"run": 12, "notes": "..."}; also accepts {"run": {"id": 12, "notes": "..."}}.
    const target = event.run && typeof event.run === 'object' ? event.run : { id: event.run, notes: event.notes };
    if (Number(target.id) === run.id) card.updateNotes(target.notes ?? event.notes ?? '');
  });
}

/** "Compare with #N", N the run of the same component just before this one, once it is known. */
async function compareLink(card, run, signal) {
  try {
    const answer = await api(`/components/${encodeURIComponent(run.component)}/runs`, { query: { before: run.id, limit: 1 }, signal });
    const prev = (answer.runs || [])[0];
    if (!prev) return;
    card.querySelector('.view-head').appendChild(h('a', { class: 'btn ghost small compare-link', href: paths.compare(prev.id, run.id), title: `What changed since ${run.component} #${prev.id}` }, `Compare with #${prev.id}`));
  } catch { /* the card is complete without it */ }
}

function field(label, ...value) {
  return h('div', { class: 'field' }, h('dt', {}, label), h('dd', {}, ...value));
}

function ioTable(entries, kind) {
  if (!entries || entries.length === 0) return h('p', { class: 'muted' }, kind === 'inputs' ? 'No inputs: this run is a source.' : 'No outputs.');
  return h('table', { class: 'table io-table stack', 'aria-label': kind },
    h('thead', {}, h('tr', {}, h('th', {}, 'Name'), h('th', {}, 'Type'), kind === 'inputs' ? h('th', {}, 'Produced by') : null, h('th', {}, 'Flag'), h('th', {}, h('span', { class: 'sr-only' }, 'Links')))),
    h('tbody', {}, entries.map((io) => h('tr', { dataset: { io: io.name } },
      h('td', { class: 'io-name', 'data-label': 'Name' }, h('a', { class: 'mono', href: paths.output(io.name), title: io.hash ? `${io.name}\n${io.hash}` : io.name }, nameEl(io.name, { full: true })),
        copyButton(io.name),
        io.hash ? h('div', { class: 'hash mono muted' }, io.hash) : null),
      h('td', { 'data-label': 'Type' }, h('span', { class: `type type-${io.type}` }, io.type || 'unknown')),
      kind === 'inputs' ? h('td', { 'data-label': 'Produced by' }, io.producer ? runLink(io.producer) : h('span', { class: 'muted' }, 'source')) : null,
      h('td', { 'data-label': 'Flag' }, flagToggle(io.name, Boolean(io.flagged))),
      h('td', { class: 'links' },
        h('a', { class: 'btn ghost small', href: paths.trace(io.name), title: `trace ${io.name}` }, icon('trace'), 'trace'),
        h('a', { class: 'btn ghost small', href: paths.downstream(io.name), title: `downstream ${io.name}` }, icon('down'), 'downstream'))))));
}

function testsTable(tests) {
  if (!tests || tests.length === 0) return h('p', { class: 'muted' }, 'No tests were recorded for this run.');
  const failed = tests.filter((t) => !t.passed).length;
  return h('div', {},
    h('p', { class: failed ? 'test-summary bad' : 'test-summary good' }, failed ? `${failed} of ${tests.length} failed` : `All ${plural(tests.length, 'test')} passed`),
    h('table', { class: 'table tests', 'aria-label': 'tests' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Test'), h('th', {}, 'Phase'), h('th', {}, 'Result'), h('th', {}, 'Message'))),
      h('tbody', {}, tests.map((t) => h('tr', { class: t.passed ? 'pass' : 'fail' },
        h('td', { class: 'mono' }, t.name),
        h('td', {}, t.phase || '—'),
        h('td', {}, h('span', { class: `result ${t.passed ? 'pass' : 'fail'}` }, icon(t.passed ? 'check' : 'cross'), t.passed ? 'passed' : 'failed')),
        h('td', { class: 'message' }, t.message || h('span', { class: 'muted' }, '—')))))));
}

/** Dependencies with the component of each and the input that links it (or "upstream"). */
function dependencyList(run, signal) {
  const deps = run.dependencies || [];
  if (deps.length === 0) return h('p', { class: 'muted' }, 'No dependencies: nothing logged before this run produced its inputs.');
  const via = new Map();
  for (const io of run.inputs || []) {
    if (io.producer) via.set(io.producer, [...(via.get(io.producer) || []), io.name]);
  }
  const list = h('ul', { class: 'deps' });
  for (const depId of deps) {
    const name = h('span', { class: 'mono component muted' }, '…');
    const when = h('span', { class: 'muted' });
    const stale = h('span', {});
    list.appendChild(h('li', { dataset: { href: paths.run(depId) } }, runLink(depId), ' ', name, ' ',
      h('span', { class: 'via muted' }, via.has(depId) ? ['via ', via.get(depId).map((n, i) => [i ? ', ' : '', h('span', { class: 'mono' }, n)])] : 'upstream'), ' ', when, stale));
    // Component names come from the dependency runs themselves; a few requests at most.
    if (deps.indexOf(depId) < 30) {
      api(`/runs/${depId}`, { signal }).then((dep) => {
        mount(name, h('a', { class: 'mono component', href: paths.history(dep.component) }, dep.component));
        mount(when, timeEl(dep.start));
      }).catch(() => { name.textContent = ''; });
    }
  }
  return list;
}

function notesEditor(run) {
  let notes = run.notes || '';
  let editing = false;
  const box = h('div', { class: 'notes' });
  const error = h('p', { class: 'inline-error', role: 'alert' });

  const show = () => {
    editing = false;
    mount(box,
      h('div', { class: ['notes-text', !notes && 'muted'], tabindex: '0', title: 'Click to edit', onclick: edit, onkeydown: (e) => { if (e.key === 'Enter') { e.preventDefault(); edit(); } } },
        notes || 'No notes yet. Click to add what you know about this run.'),
      h('button', { type: 'button', class: 'btn ghost small edit-notes', onclick: edit }, icon('edit'), 'Edit notes'));
  };

  const edit = () => {
    if (editing) return;
    editing = true;
    const area = h('textarea', { class: 'input notes-input', rows: Math.max(4, notes.split('\n').length + 1), 'aria-label': 'notes' });
    area.value = notes;
    const save = async () => {
      saveBtn.disabled = true;
      error.textContent = '';
      try {
        const answer = await api(`/runs/${run.id}/notes`, { method: 'PUT', body: { notes: area.value } });
        notes = answer && typeof answer.notes === 'string' ? answer.notes : area.value;
        show();
        toast('Notes saved');
      } catch (e) {
        error.textContent = `Could not save the notes: ${errorText(e)}`;
        saveBtn.disabled = false;
      }
    };
    const saveBtn = h('button', { type: 'button', class: 'btn primary small save-notes', onclick: save }, 'Save');
    area.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); }
      if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); error.textContent = ''; show(); }
    });
    mount(box, area, error, h('div', { class: 'row' }, saveBtn,
      h('button', { type: 'button', class: 'btn ghost small', onclick: () => { error.textContent = ''; show(); } }, 'Cancel'),
      h('span', { class: 'muted hint' }, 'Ctrl+Enter saves, Esc cancels')));
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  };

  show();
  box.update = (next) => { if (!editing) { notes = next || ''; show(); } };
  return box;
}

/** The badge of an OpenLineage run that has not completed (native runs have no status). */
function statusBadge(run) {
  if (run.status === 'running') {
    return h('span', { class: 'badge run-status running', title: `running since ${run.start}` }, `running for ${fmtDuration(Date.now() - new Date(run.start))}`);
  }
  if (run.status === 'failed' || run.status === 'aborted') {
    return h('span', { class: `badge run-status ${run.status}`, title: run.error || run.status }, icon('cross'), run.status);
  }
  return null;
}

/** What the OpenLineage events of the run said: its id there, its job, its parent (a link when it
 *  is logged here), where the code lives, the scheduler's facets, and every facet as received. */
function lineageBlock(run) {
  const ol = run.openlineage;
  if (!ol) return null;
  // A fresh node each time: one DOM node can only sit in one place.
  const dash = () => h('span', { class: 'muted' }, '—');
  const parent = ol.parent
    ? [run.parent ? runLink(run.parent) : null, ' ', h('span', { class: 'mono' }, ol.parent.component || ''), ' ', h('span', { class: 'mono muted' }, ol.parent.run_id)]
    : dash();
  const nominal = ol.nominal_time ? [timeEl(ol.nominal_time.nominalStartTime), ol.nominal_time.nominalEndTime ? [' → ', timeEl(ol.nominal_time.nominalEndTime)] : null] : dash();
  const engine = ol.processing_engine ? h('span', { class: 'mono' }, `${ol.processing_engine.name || ''} ${ol.processing_engine.version || ''}`.trim()) : dash();
  const env = (ol.environment_variables || []).length ? ol.environment_variables.map((v) => h('span', { class: 'chip mono static' }, `${v.name}=${v.value}`)) : dash();
  return h('section', { class: 'block openlineage' },
    h('h2', {}, 'OpenLineage'),
    run.error ? h('div', { class: 'error-box', role: 'note' }, h('strong', {}, `This run ${run.status}`), h('pre', { class: 'mono' }, run.error)) : null,
    h('dl', { class: 'fields' },
      field('Run id', h('span', { class: 'mono' }, ol.run_id)),
      field('Job', h('span', { class: 'mono' }, `${ol.job.namespace} / ${ol.job.name}`)),
      field('Parent', parent),
      field('Source', ol.source_url ? h('a', { class: 'mono', href: ol.source_url, rel: 'noopener noreferrer', target: '_blank' }, ol.source_url) : dash()),
      field('Nominal time', nominal),
      field('Engine', engine),
      field('Environment', env),
      field('Events', (ol.events || []).map((e) => h('span', { class: 'chip mono static', title: `seq ${e.seq}, ${e.eventTime}` }, e.eventType)))),
    h('details', { class: 'code-snapshot' }, h('summary', {}, 'Facets as received'), copyBlock(JSON.stringify(ol.facets, null, 2), { cls: 'code' })));
}

/**
 * "Prove it": the events behind this run with their inclusion proofs and the signed tree head,
 * checked here in the browser (see lib/audit.js), and the head to save for a later audit.
 */
function evidenceBlock(run, ctx) {
  const out = h('div', { class: 'evidence', 'aria-live': 'polite' });
  const button = h('button', { class: 'btn small', type: 'button' }, 'Prove this run is in the signed history');
  button.addEventListener('click', async () => {
    button.disabled = true;
    mount(out, loading('Fetching and checking the proofs'));
    try {
      const answer = await api(`/runs/${run.id}`, { query: { proof: 'true' }, signal: ctx.signal });
      const verdict = await checkEvidence(answer.proof);
      const head = verdict.head;
      const sig = verdict.signature === null ? 'not checked (this browser has no Ed25519)' : verdict.signature ? 'valid' : 'INVALID';
      const saved = new Blob([JSON.stringify(head) + '\n'], { type: 'application/json' });
      mount(out,
        h('p', { class: verdict.ok ? 'evidence-ok' : 'evidence-bad' },
          verdict.ok ? `✓ Checked in this browser: the run's ${plural(verdict.events.length, 'event')} ${verdict.events.length === 1 ? 'is' : 'are'} in the log's tree of ${head.size} events, whose head the server signed.`
            : '✗ The evidence does not check out: see below.'),
        h('dl', { class: 'fields' },
          field('Events', verdict.events.map((e) => h('span', { class: `chip mono static ${e.ok ? '' : 'bad'}`, title: e.why || 'leaf hash and inclusion proof check out' }, `seq ${e.seq} ${e.ok ? '✓' : '✗'}`))),
          field('Tree size', h('span', { class: 'mono' }, String(head.size))),
          field('Root', h('span', { class: 'mono break' }, head.root)),
          field('Signed', timeEl(head.time)),
          field('Key', h('span', { class: 'mono break' }, head.public_key), copyButton(head.public_key, { label: 'Copy the public key' })),
          field('Signature', h('span', {}, sig))),
        h('p', {}, h('a', { class: 'btn ghost small', href: URL.createObjectURL(saved), download: `mltrace-head-${head.size}.json` }, 'Save this head'),
          h('span', { class: 'muted' }, ' keep it elsewhere; later, `mltrace audit check HEAD_FILE` proves nothing before it changed.')));
    } catch (e) {
      if (e.name !== 'AbortError') mount(out, errorBox(e, 'Proving the run'));
    } finally {
      button.disabled = false;
    }
  });
  return h('section', { class: 'block' }, h('h2', {}, 'Audit'), button, out);
}

function runCard(run, ctx) {
  const lines = (run.code_snapshot || '').split('\n').length;
  const notes = notesEditor(run);
  const card = h('article', { class: 'view run-card', 'aria-label': `run ${run.id}` },
    h('header', { class: 'view-head' },
      h('h1', {}, h('a', { class: 'mono', href: paths.history(run.component) }, run.component), h('span', { class: 'run-id-big mono' }, `#${run.id}`)),
      (run.stale || []).length ? h('span', { class: 'badge warn' }, icon('warn'), 'stale') : null,
      statusBadge(run)),
    run.description ? h('p', { class: 'lede' }, run.description) : null,
    (run.stale || []).length ? h('div', { class: 'stale-box', role: 'note' },
      h('strong', {}, 'This run may need to be rerun'),
      staleList(run.stale, 20)) : null,
    h('dl', { class: 'fields' },
      field('Owner', run.owner ? h('span', { class: 'mono' }, run.owner) : h('span', { class: 'muted' }, '—')),
      field('Tags', (run.tags || []).length ? run.tags.map(tagChip) : h('span', { class: 'muted' }, '—')),
      field('Start', timeEl(run.start)),
      field('End', timeEl(run.end)),
      field('Duration', fmtDuration(runDuration(run))),
      field('Git', run.git_hash ? h('span', { class: 'mono git-hash', title: run.git_hash }, run.git_hash.slice(0, 12)) : h('span', { class: 'muted' }, '—'),
        (run.git_tags || []).map((t) => h('span', { class: 'chip mono static' }, t))),
      field('Log position', h('span', { class: 'mono' }, `seq ${run.seq}`))),
    lineageBlock(run),
    h('section', { class: 'block' }, h('h2', {}, 'Inputs ', h('span', { class: 'count muted' }, String((run.inputs || []).length))), ioTable(run.inputs, 'inputs')),
    h('section', { class: 'block' }, h('h2', {}, 'Outputs ', h('span', { class: 'count muted' }, String((run.outputs || []).length))), ioTable(run.outputs, 'outputs')),
    h('section', { class: 'block' }, h('h2', {}, 'Dependencies ', h('span', { class: 'count muted' }, String((run.dependencies || []).length))), dependencyList(run, ctx.signal)),
    h('section', { class: 'block' }, h('h2', {}, 'Tests'), testsTable(run.tests)),
    h('section', { class: 'block' }, h('h2', {}, 'Notes'), notes),
    evidenceBlock(run, ctx),
    h('section', { class: 'block' },
      run.code_snapshot
        ? h('details', { class: 'code-snapshot' }, h('summary', {}, `Code snapshot (${plural(lines, 'line')})`), copyBlock(run.code_snapshot, { cls: 'code' }))
        : h('div', {}, h('h2', {}, 'Code snapshot'), h('p', { class: 'muted' }, 'No code snapshot was logged with this run.'))));
  card.updateNotes = (text) => notes.update(text);
  return card;
}
