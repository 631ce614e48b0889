// The entry point of the mltrace UI: wires the header (command bar, live indicator, theme
// toggle), the global keyboard shortcuts, live updates and the router.
//
// Layout of ui/ (see README.md): lib/ holds what every view shares (API client, router, command
// language, live event stream, graph layout), views/ holds one module per view, each exporting
// `render(ctx)`.

import { initCommandBar } from './lib/commandbar.js';
import { h, icon, mount } from './lib/dom.js';
import { onEvent, onStatus, startLive } from './lib/live.js';
import { lagText, onHealth, startHealth } from './lib/health.js';
import { syncFlags } from './lib/widgets.js';
import { ioName } from './lib/dom.js';
import { asOf, navigate, onRendered, startRouter } from './lib/router.js';
import { initTheme, onThemeChange, toggleTheme } from './lib/theme.js';
import { initRowKeys } from './lib/rows.js';

function initThemeToggle() {
  const button = document.getElementById('theme-toggle');
  initTheme();
  onThemeChange((theme) => {
    const next = theme === 'dark' ? 'light' : 'dark';
    mount(button, icon(theme === 'dark' ? 'sun' : 'moon'));
    button.setAttribute('aria-label', `Switch to ${next} theme`);
    button.title = `Switch to ${next} theme (t)`;
    button.setAttribute('aria-pressed', theme === 'dark' ? 'true' : 'false');
  });
  button.addEventListener('click', () => toggleTheme());
}

function initLiveIndicator() {
  const el = document.getElementById('live');
  const words = { live: 'live', connecting: 'connecting', offline: 'offline' };
  const titles = { live: 'Updates appear as runs are logged', offline: 'Lost the server; retrying', connecting: 'Connecting to the event stream' };
  let status = 'connecting';
  let cluster = null;
  // In cluster mode the tooltip also says how far this node trails the stream, or that it lost it.
  const update = () => {
    const extra = [];
    if (cluster && cluster.connected === false) extra.push('This node lost the cluster\'s stream; reads may be stale');
    const lag = lagText(cluster);
    if (lag) extra.push(`This node is ${lag}`);
    el.title = [titles[status] || status, ...extra].join('. ');
  };
  onStatus((next) => {
    status = next;
    el.dataset.status = status;
    mount(el, h('span', { class: 'dot', 'aria-hidden': 'true' }), words[status] || status);
    update();
  });
  onHealth((health) => { cluster = health.cluster || null; update(); });
}

/** The Cluster link appears once health says this server is a node of a cluster. */
function initClusterLink() {
  const link = document.getElementById('nav-cluster');
  onHealth((health) => {
    link.hidden = !health.cluster;
    document.documentElement.dataset.cluster = health.cluster ? 'on' : 'off';
  });
}

/** A seq (digits) or a time Date can read; else null. */
function parseAsOf(text) {
  const v = text.trim();
  if (/^\d+$/.test(v)) return v;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

function withoutAsOf() {
  const url = new URL(location.href);
  url.searchParams.delete('as_of');
  return url.pathname + url.search + url.hash;
}

/** The "as of" control and the banner that says the page shows the past. */
function initTimeTravel() {
  const button = document.getElementById('asof-btn');
  const pop = document.getElementById('asof-pop');
  const input = document.getElementById('asof-input');
  const msg = document.getElementById('asof-msg');
  const banner = document.getElementById('past-banner');
  const close = () => { pop.hidden = true; button.setAttribute('aria-expanded', 'false'); };
  button.addEventListener('click', () => {
    pop.hidden = !pop.hidden;
    button.setAttribute('aria-expanded', String(!pop.hidden));
    if (!pop.hidden) { input.value = asOf() || ''; msg.textContent = ''; input.focus(); }
  });
  pop.addEventListener('keydown', (e) => { if (e.key === 'Escape') { close(); button.focus(); } });
  pop.addEventListener('submit', (e) => {
    e.preventDefault();
    const value = parseAsOf(input.value);
    if (!value) { msg.textContent = 'Give a sequence number (1200) or a time (2026-11-27T10:00Z).'; return; }
    close();
    const url = new URL(location.href);
    url.searchParams.set('as_of', value);
    navigate(url.pathname + url.search);
  });
  document.getElementById('asof-now').addEventListener('click', () => { close(); navigate(withoutAsOf(), { present: true }); });
  onRendered(() => {
    const past = asOf();
    document.documentElement.toggleAttribute('data-past', Boolean(past));
    button.classList.toggle('on', Boolean(past));
    banner.hidden = !past;
    if (!past) return;
    const what = /^\d+$/.test(past) ? `event ${past}` : new Date(past).toLocaleString();
    mount(banner, icon('warn'), h('span', {}, h('strong', {}, 'The past: '), `this page shows the store as it was at ${what}. Links keep you there; runs logged since are not shown.`),
      h('a', { class: 'btn small', href: withoutAsOf(), onclick: (e) => { e.preventDefault(); navigate(withoutAsOf(), { present: true }); } }, 'Back to now'));
  });
}

/** On narrow screens the views' links live in a menu. */
function initMenu() {
  const button = document.getElementById('menu-btn');
  const nav = document.getElementById('nav');
  const set = (open) => { nav.classList.toggle('open', open); button.setAttribute('aria-expanded', String(open)); };
  button.addEventListener('click', () => set(!nav.classList.contains('open')));
  nav.addEventListener('click', () => set(false));
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && nav.classList.contains('open')) { set(false); button.focus(); } });
  onRendered(() => set(false));
}

function isTyping(target) {
  return target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
}

function initShortcuts(input) {
  document.addEventListener('keydown', (e) => {
    if ((e.key === 'k' && (e.ctrlKey || e.metaKey)) || (e.key === '/' && !isTyping(e.target) && !e.ctrlKey && !e.metaKey)) {
      e.preventDefault();
      input.focus();
      input.select();
      return;
    }
    if (isTyping(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '?') { e.preventDefault(); navigate('/help'); }
    else if (e.key === 't') { toggleTheme(); }
    else if (e.key === 'g') { pendingGo = Date.now(); return; }
    else if (pendingGo && Date.now() - pendingGo < 1200) {
      const target = { r: '/', v: '/review', o: '/outdated', c: '/cluster', h: '/help' }[e.key];
      if (target) { e.preventDefault(); navigate(target); }
    }
    pendingGo = 0;
  });
}
let pendingGo = 0;

function boot() {
  initThemeToggle();
  initLiveIndicator();
  initClusterLink();
  startHealth();
  const input = document.getElementById('cmd');
  initCommandBar({
    form: document.getElementById('cmd-form'),
    input,
    list: document.getElementById('cmd-list'),
    message: document.getElementById('cmd-msg'),
  });
  initShortcuts(input);
  initTimeTravel();
  initMenu();
  initRowKeys();
  document.documentElement.dataset.ready = 'true';
  // Flag toggles on any view follow flags set elsewhere (another tab, the CLI, a colleague).
  onEvent((event) => {
    if (event.type === 'flagged') syncFlags((event.outputs || []).map(ioName), true);
    if (event.type === 'unflagged') syncFlags(event.all ? null : (event.outputs || []).map(ioName), false);
  });
  startLive();
  onRendered((found) => {
    for (const a of document.querySelectorAll('.nav a')) {
      if (a.dataset.nav === found.view) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
  });
  startRouter(document.getElementById('main'));
}

boot();
