// Pieces that several views draw the same way: the table of runs, I/O names, the flag toggle,
// stale marks, tags, and the "how to log a first run" panel.

import { api, errorText, flagBody } from './api.js';
import { h, icon, ioName, timeEl, fmtDuration, runDuration, plural, mount } from './dom.js';
import { paths } from './commands.js';
import { breakParts, shortName, shortNames } from './names.js';

/** Newest first by start time, ties by higher id: the API's order of run lists. */
export function compareRuns(a, b) {
  const ta = new Date(a.start).getTime();
  const tb = new Date(b.start).getTime();
  if (ta !== tb) return tb - ta;
  return b.id - a.id;
}

/** A run from a run_logged event, shaped like a list summary (I/O as names). */
export function summaryFromEvent(run) {
  return {
    ...run,
    inputs: (run.inputs || []).map(ioName),
    outputs: (run.outputs || []).map(ioName),
  };
}

export function runLink(id, text) {
  return h('a', { class: 'mono run-id', href: paths.run(id) }, text || `#${id}`);
}

export function componentLink(name) {
  return h('a', { class: 'mono component', href: paths.history(name) }, name);
}

export function tagChip(tag) {
  return h('a', { class: 'chip mono', href: paths.tag(tag) }, tag);
}

/** A stale or outdated reason with its run ids as links ("featuregen (ID 9) ... by ID 14."). */
export function reasonText(msg) {
  const parts = String(msg).split(/(\bID \d+)/);
  return parts.map((part) => {
    const m = /^ID (\d+)$/.exec(part);
    return m ? h('a', { class: 'mono', href: paths.run(Number(m[1])) }, part) : part;
  });
}

/** Stale messages as a list; past `max`, the rest fold away (a fan-in can have hundreds). */
export function staleList(stale, max = 5) {
  const list = stale || [];
  return [
    h('ul', {}, list.slice(0, max).map((msg) => h('li', {}, reasonText(msg)))),
    list.length > max ? h('details', {}, h('summary', {}, `${list.length - max} more`), h('ul', {}, list.slice(max).map((msg) => h('li', {}, reasonText(msg))))) : null,
  ];
}

export function staleMark(stale) {
  if (!stale || stale.length === 0) return null;
  return h('span', { class: 'mark stale', title: stale.join('\n'), 'aria-label': `stale: ${stale.join(' ')}` }, icon('warn'), 'stale');
}

/**
 * A name as shown everywhere: its short form (lib/names.js) unless `full`, the full name on hover
 * and to screen readers, breakable only after a `/`.
 */
export function nameEl(name, { short = null, full = false, cls = '' } = {}) {
  const text = full ? name : (short ?? shortName(name));
  const parts = breakParts(text);
  const children = [];
  parts.forEach((part, i) => { children.push(part); if (i + 1 < parts.length) children.push(h('wbr')); });
  return h('span', { class: ['name', cls], title: name }, children);
}

/** A small button that copies text to the clipboard and says so. */
export function copyButton(text, { label = 'Copy name' } = {}) {
  const button = h('button', { type: 'button', class: 'icon-btn copy-btn', title: `${label}: ${text}`, 'aria-label': `${label} ${text}` }, icon('copy'));
  button.addEventListener('click', async (e) => {
    e.preventDefault();
    e.stopPropagation();
    try {
      await navigator.clipboard.writeText(text);
      button.classList.add('done');
      button.title = 'Copied';
    } catch {
      button.title = 'Could not copy: select the name instead';
    }
    setTimeout(() => { button.classList.remove('done'); button.title = `${label}: ${text}`; }, 1500);
  });
  return button;
}

/** A few I/O names as links to their traces, then "+N more". `short` maps names to short forms. */
export function ioList(names, { max = 3, short = null } = {}) {
  const list = (names || []).map(ioName);
  if (list.length === 0) return h('span', { class: 'muted' }, '—');
  const shown = list.slice(0, max);
  const forms = short || shortNames(shown);
  return h('span', { class: 'io-list' },
    shown.map((name) => h('a', { class: 'io mono', href: paths.trace(name), title: name }, nameEl(name, { short: forms.get(name) }))),
    list.length > max ? h('span', { class: 'more', title: list.slice(max).join('\n') }, `+${list.length - max}`) : null);
}

/**
 * The table of runs of recent and history: appends pages, inserts live runs in order, and
 * never shows a run twice.
 */
export class RunTable {
  constructor({ showComponent = true, label = 'Runs', flagged = null } = {}) {
    this.showComponent = showComponent;
    /** Names flagged now (a Set), to mark the runs that wrote one; null leaves the mark out. */
    this.flagged = flagged;
    this.runs = [];
    this.ids = new Set();
    this.tbody = h('tbody');
    this.el = h('table', { class: 'table runs stack', 'aria-label': label },
      h('thead', {}, h('tr', {},
        h('th', { class: 'num' }, 'ID'),
        showComponent ? h('th', {}, 'Component') : null,
        h('th', {}, 'Start'),
        h('th', { class: 'num' }, 'Duration'),
        h('th', {}, 'Inputs'),
        h('th', {}, 'Outputs'),
        h('th', {}, h('span', { class: 'sr-only' }, 'Status')))),
      this.tbody);
  }

  /** Fetches the flags, then marks the runs (drawn or to come) that wrote a flagged output. */
  async loadFlags(signal) {
    try {
      const answer = await api('/flags', { signal });
      this.flagged = new Set((answer.flags || []).map((f) => f.name));
    } catch { return; }
    for (const tr of [...this.tbody.children]) {
      const run = this.runs.find((r) => String(r.id) === tr.dataset.id);
      if (run) tr.replaceWith(this.row(run, false));
    }
  }

  get size() { return this.runs.length; }
  get lastId() { return this.runs.length ? this.runs[this.runs.length - 1].id : null; }
  has(id) { return this.ids.has(id); }

  row(run, fresh) {
    return h('tr', { dataset: { href: paths.run(run.id), id: String(run.id) }, class: fresh ? 'fresh' : null },
      h('td', { class: 'num', 'data-label': 'ID' }, runLink(run.id, String(run.id))),
      this.showComponent ? h('td', { 'data-label': 'Component' }, componentLink(run.component)) : null,
      h('td', { class: 'nowrap', 'data-label': 'Start' }, timeEl(run.start)),
      h('td', { class: 'num nowrap', 'data-label': 'Duration' }, fmtDuration(runDuration(run))),
      h('td', { 'data-label': 'Inputs' }, ioList(run.inputs)),
      h('td', { 'data-label': 'Outputs' }, ioList(run.outputs)),
      h('td', { class: 'marks' }, staleMark(run.stale), this.flagged && (run.outputs || []).some((o) => this.flagged.has(ioName(o)))
        ? h('span', { class: 'mark flag', title: 'wrote an output that is flagged' }, icon('flag'), 'flagged') : null));
  }

  /** Adds a page of older runs at the end. */
  append(runs) {
    for (const run of runs) {
      if (this.ids.has(run.id)) continue;
      this.ids.add(run.id);
      this.runs.push(run);
      this.tbody.appendChild(this.row(run, false));
    }
  }

  /**
   * Inserts a newly logged run where it belongs. A run older than everything loaded is left to
   * paging unless the list is complete. Returns whether it was shown.
   */
  insert(run, { complete }) {
    if (this.ids.has(run.id)) return false;
    let at = this.runs.findIndex((other) => compareRuns(run, other) < 0);
    if (at < 0) {
      if (!complete) return false;
      at = this.runs.length;
    }
    this.ids.add(run.id);
    this.runs.splice(at, 0, run);
    const tr = this.row(run, true);
    this.tbody.insertBefore(tr, this.tbody.children[at] || null);
    return true;
  }
}

/** Keeps every flag toggle on the page in step with the flag state of its output. */
export function syncFlags(names, flagged) {
  const wanted = names === null ? null : new Set(names);
  for (const el of document.querySelectorAll('[data-flag-name]')) {
    if (wanted && !wanted.has(el.dataset.flagName)) continue;
    setToggle(el, flagged);
  }
}

function setToggle(button, flagged) {
  button.setAttribute('aria-checked', flagged ? 'true' : 'false');
  button.classList.toggle('on', flagged);
  const label = button.querySelector('.toggle-label');
  if (label) label.textContent = flagged ? 'flagged' : 'flag';
  button.title = flagged ? `Flagged: click to unflag ${button.dataset.flagName}` : `Flag ${button.dataset.flagName} for review`;
}

/** A switch that flags or unflags one output, with the error shown next to it. */
export function flagToggle(name, flagged, { onChange } = {}) {
  const error = h('span', { class: 'inline-error', role: 'alert' });
  const button = h('button', {
    type: 'button', role: 'switch', class: 'toggle flag-toggle', dataset: { flagName: name },
    'aria-label': `flag ${name}`,
  }, h('span', { class: 'toggle-track', 'aria-hidden': 'true' }, h('span', { class: 'toggle-knob' })), icon('flag'), h('span', { class: 'toggle-label' }));
  setToggle(button, flagged);
  button.addEventListener('click', async () => {
    const next = button.getAttribute('aria-checked') !== 'true';
    button.disabled = true;
    error.textContent = '';
    try {
      await api(next ? '/flag' : '/unflag', { method: 'POST', body: next ? flagBody([name]) : { outputs: [name] } });
      syncFlags([name], next);
      if (onChange) onChange(next);
    } catch (e) {
      error.textContent = `Could not ${next ? 'flag' : 'unflag'}: ${errorText(e)}`;
    } finally {
      button.disabled = false;
    }
  });
  return h('span', { class: 'flag-control' }, button, error);
}

/** What to do when the store is empty: log a first run from a shell. */
export function firstRunHelp({ title = 'No runs logged yet', intro = true } = {}) {
  const origin = location.origin;
  const now = new Date();
  const start = new Date(now.getTime() - 60000).toISOString();
  const curl = [
    `curl -X POST ${origin}/api/v1/runs \\`,
    "  -H 'Content-Type: application/json' \\",
    `  -d '{"component": "ingest", "outputs": ["raw.csv"],`,
    `       "start": "${start}", "end": "${now.toISOString()}"}'`,
  ].join('\n');
  return h('section', { class: 'empty-state' },
    title ? h('h2', {}, title) : null,
    intro ? h('p', {}, 'mltrace records each run of each pipeline component: what it read, what it wrote, when, and from which code. Log a first run and it appears here at once.') : null,
    h('h3', {}, 'From a shell'),
    copyBlock(`mltrace log --component ingest --output raw.csv --server ${origin}`),
    h('h3', {}, 'Over HTTP'),
    copyBlock(curl),
    h('p', { class: 'muted' }, 'Then try ', h('code', {}, 'trace raw.csv'), ' in the command bar, or ', h('a', { href: paths.help() }, 'see every command'), '.'));
}

/** A block of code with a copy button. */
export function copyBlock(text, { cls = '' } = {}) {
  const button = h('button', { type: 'button', class: 'btn ghost small copy', title: 'Copy' }, icon('copy'), 'copy');
  button.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.lastChild.textContent = 'copied';
    } catch {
      button.lastChild.textContent = 'select and copy';
    }
    setTimeout(() => { button.lastChild.textContent = 'copy'; }, 1500);
  });
  return h('div', { class: `code-block ${cls}` }, h('pre', {}, h('code', {}, text)), button);
}

/** A loading line that a view replaces when its data arrives. */
export function loading(text = 'Loading') {
  return h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), `${text}…`);
}

export function viewHead(title, ...rest) {
  return h('header', { class: 'view-head' }, h('h1', {}, title), ...rest);
}

export { plural, mount };
