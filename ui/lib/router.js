// Client-side routing: every view has its own URL, so a link can be shared and Back and Forward
// work. Owns: the route table, link interception, and the life of the current view (its abort
// signal and its live-event listeners end when the user leaves it).
// Never: renders anything itself beyond the not-found page.

import { h, mount } from './dom.js';
import { onEvent, onStatus } from './live.js';
import { ApiError, errorBox } from './api.js';

const ROUTES = [
  { re: /^\/(?:recent\/?)?$/, view: 'recent' },
  { re: /^\/run\/([^/]+)\/?$/, view: 'run', keys: ['id'] },
  { re: /^\/compare\/([^/]+)\/([^/]+)\/?$/, view: 'compare', keys: ['a', 'b'] },
  { re: /^\/trace\/(.+)$/, view: 'lineage', keys: ['output'], extra: { mode: 'trace' } },
  { re: /^\/downstream\/(.+)$/, view: 'lineage', keys: ['output'], extra: { mode: 'downstream' } },
  { re: /^\/output\/(.+)$/, view: 'output', keys: ['name'] },
  { re: /^\/history\/(.+?)\/?$/, view: 'history', keys: ['component'] },
  { re: /^\/tag\/(.+?)\/?$/, view: 'tag', keys: ['tag'] },
  { re: /^\/review\/?$/, view: 'review' },
  { re: /^\/outdated\/?$/, view: 'outdated' },
  { re: /^\/cluster\/?$/, view: 'cluster' },
  { re: /^\/help\/?$/, view: 'help' },
];

const VIEWS = {
  recent: () => import('../views/recent.js'),
  run: () => import('../views/run.js'),
  compare: () => import('../views/compare.js'),
  lineage: () => import('../views/lineage.js'),
  output: () => import('../views/output.js'),
  history: () => import('../views/history.js'),
  tag: () => import('../views/tag.js'),
  review: () => import('../views/review.js'),
  outdated: () => import('../views/outdated.js'),
  cluster: () => import('../views/cluster.js'),
  help: () => import('../views/help.js'),
};

let root = null;
let current = null; // { controller, cleanups }
let renderCount = 0;
const afterRender = new Set();

/** Finds the view for a path; names in the path are percent-decoded. */
export function match(pathname) {
  for (const route of ROUTES) {
    const m = route.re.exec(pathname);
    if (!m) continue;
    const params = { ...(route.extra || {}) };
    try {
      (route.keys || []).forEach((key, i) => { params[key] = decodeURIComponent(m[i + 1]); });
    } catch {
      return null; // a malformed escape: not a page of ours
    }
    return { view: route.view, params };
  }
  return null;
}

/**
 * The `as_of` of the current URL (a seq or a time), or null for the present. Every view reads the
 * store as of it (lib/api.js adds it to every read), and links keep it, so a user who travels back
 * stays there until they come back to now.
 */
export function asOf() {
  return new URLSearchParams(location.search).get('as_of') || null;
}

/** Opens a path inside the app (pushes history unless replace is set). */
export function navigate(path, { replace = false, state = null, present = false } = {}) {
  const url = new URL(path, location.origin);
  const past = asOf();
  if (past && !present && !url.searchParams.has('as_of')) url.searchParams.set('as_of', past);
  const same = url.pathname + url.search === location.pathname + location.search;
  // Remember where the page was scrolled, so Back returns there.
  if (!replace && !same) history.replaceState({ ...(history.state || {}), scroll: window.scrollY }, '', location.href);
  if (replace || same) history.replaceState(state, '', url.pathname + url.search + url.hash);
  else history.pushState(state, '', url.pathname + url.search + url.hash);
  return render();
}

/** Changes the query of the current URL without re-rendering (view state such as a selection). */
export function setQuery(updates) {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(updates)) {
    if (value === null || value === undefined || value === '') url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  }
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
}

export function onRendered(fn) {
  afterRender.add(fn);
  return () => afterRender.delete(fn);
}

function leaveCurrent() {
  if (!current) return;
  current.controller.abort();
  for (const fn of current.cleanups) {
    try { fn(); } catch (e) { console.error(e); }
  }
  current = null;
}

function notFound(container) {
  document.title = 'Not found · mltrace';
  mount(container, h('section', { class: 'view' },
    h('h1', {}, 'No such page'),
    h('p', {}, 'Nothing lives at ', h('code', {}, location.pathname), '. ',
      h('a', { href: '/help' }, 'See the commands'), ' or go to ', h('a', { href: '/' }, 'recent runs'), '.')));
}

/** Renders the view of the current URL into the main element. */
export async function render() {
  leaveCurrent();
  const seq = ++renderCount;
  const controller = new AbortController();
  const cleanups = [];
  current = { controller, cleanups };
  const found = match(location.pathname);
  const container = h('div', { class: 'view-root' });
  mount(root, container);
  root.setAttribute('aria-busy', 'true');
  if (!found) {
    notFound(container);
    root.removeAttribute('aria-busy');
    return;
  }
  const ctx = {
    params: found.params,
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    root: container,
    title: (text) => { document.title = text ? `${text} · mltrace` : 'mltrace'; },
    onEvent: (fn) => cleanups.push(onEvent(fn)),
    onCleanup: (fn) => cleanups.push(fn),
    isCurrent: () => seq === renderCount,
  };
  delete document.documentElement.dataset.unreachable;
  try {
    let mod;
    try {
      mod = await VIEWS[found.view]();
    } catch {
      // The module could not be fetched: the server is gone (it is preloaded after the first view).
      throw new ApiError(0, 'network', 'Cannot reach the mltrace server to load this view. Is `mltrace serve` still running?');
    }
    if (seq !== renderCount) return;
    await mod.render(ctx);
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (seq === renderCount) {
      if (e instanceof ApiError) mount(container, errorBox(e));
      else {
        console.error(e);
        mount(container, h('div', { class: 'error-box', role: 'alert' }, h('div', { class: 'error-title' }, 'This view failed'), h('p', {}, String(e && e.message || e))));
      }
    }
  } finally {
    if (seq === renderCount) {
      root.removeAttribute('aria-busy');
      for (const fn of afterRender) fn(found);
    }
  }
}

/** Scrolls back to y once the page is tall enough (a list may still be loading its pages). */
function restoreScroll(y) {
  let tries = 0;
  const step = () => {
    window.scrollTo(0, y);
    tries += 1;
    if (Math.abs(window.scrollY - y) > 2 && tries < 20) setTimeout(step, 50);
  };
  step();
}

function isPlainLeftClick(e) {
  return e.button === 0 && !e.metaKey && !e.ctrlKey && !e.shiftKey && !e.altKey && !e.defaultPrevented;
}

/** Starts routing: link clicks inside the app become history entries. */
export function startRouter(mainEl) {
  root = mainEl;
  document.addEventListener('click', (e) => {
    if (!isPlainLeftClick(e)) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
    e.preventDefault();
    navigate(url.pathname + url.search + url.hash);
    window.scrollTo(0, 0);
  });
  if ('scrollRestoration' in history) history.scrollRestoration = 'manual';
  // Outages: Retry draws the view again, and so does the event stream coming back while the
  // view shows that the server was unreachable.
  window.addEventListener('mltrace:retry', () => render());
  let wasOffline = false;
  onStatus((status) => {
    if (status === 'offline') wasOffline = true;
    if (status === 'live' && wasOffline) {
      wasOffline = false;
      if (document.documentElement.dataset.unreachable) render();
    }
  });
  window.addEventListener('popstate', async () => {
    const scroll = history.state && history.state.scroll;
    await render();
    if (typeof scroll === 'number') restoreScroll(scroll);
  });
  const first = render();
  // Every view module loads in the background after the first view, so a view opened during an
  // outage is already there (it then says the server is unreachable instead of failing to load).
  first.finally(() => { for (const load of Object.values(VIEWS)) load().catch(() => {}); });
  return first;
}
