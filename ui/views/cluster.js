// Cluster: this node's view of the shared log when `mltrace serve --log nats://...` runs it as a
// node of a cluster (see docs/cluster.md), from the `cluster` object of GET /api/v1/health,
// read again every 2 s while the view is shown. A banner says when writes are refused. On a single
// node the view says so and how cluster mode starts.

import { errorBox } from '../lib/api.js';
import { h, icon, mount, fmtDuration, plural } from '../lib/dom.js';
import { checkHealth, onHealth } from '../lib/health.js';
import { loading, viewHead } from '../lib/widgets.js';

const REFRESH_MS = 2000;

const field = (name, label, ...value) => h('div', { class: 'field' }, h('dt', {}, label), h('dd', { dataset: { field: name } }, ...value));
const num = (n) => h('span', { class: 'value mono' }, n === null || n === undefined ? '—' : String(n));
const badge = (ok, text) => h('span', { class: ['badge', ok ? 'ok' : 'bad'] }, icon(ok ? 'check' : 'cross'), text);

/** Who writes for the cluster: this node, another node (its URL), or nobody known yet. */
function writerText(c) {
  if (c.is_writer) return [h('span', { class: 'value' }, 'this node'), c.writer ? [' ', h('span', { class: 'mono muted' }, c.writer)] : null];
  if (c.writer) return [h('span', { class: 'value mono' }, c.writer), h('span', { class: 'muted' }, ' (this node forwards its writes there)')];
  return h('span', { class: 'value muted' }, 'none known: this node writes for itself until a lease holder appears');
}

/** How stale this node's reads may be: only a question when the stream cannot be reached. */
function staleness(c) {
  const ago = c.checked_ms_ago;
  if (c.connected) return [h('span', { class: 'value' }, 'current'), typeof ago === 'number' ? h('span', { class: 'muted' }, ` (stream read ${fmtDuration(ago)} ago)`) : null];
  if (ago === null || ago === undefined) return h('span', { class: 'value' }, 'unknown: the stream was never read');
  return [h('span', { class: 'value' }, `up to ${fmtDuration(ago)}`), h('span', { class: 'muted' }, ': reads come from this node\'s copy, last matched with the stream then')];
}

function replicasBlock(replicas) {
  if (!replicas || replicas.length === 0) {
    return h('p', { class: 'muted replicas-none' }, 'The stream reports no replicas: one NATS server, without a cluster of its own.');
  }
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table replicas', 'aria-label': 'stream replicas' },
    h('thead', {}, h('tr', {}, h('th', {}, 'NATS server'), h('th', {}, 'Holds everything'), h('th', {}, 'Reachable'))),
    h('tbody', {}, replicas.map((r) => h('tr', { dataset: { replica: r.name } },
      h('td', { class: 'mono' }, r.name),
      h('td', {}, r.current ? 'yes' : 'behind'),
      h('td', {}, r.offline ? badge(false, 'offline') : 'yes'))))));
}

/** The node's state; everything but the age of the last check, which changes on every read. */
function details(c) {
  const lag = c.lag === null || c.lag === undefined ? num(null)
    : c.lag === 0 ? [num(0), h('span', { class: 'muted' }, c.connected ? ' (caught up)' : ' (with the stream as last seen)')]
      : [num(c.lag), ` ${c.lag === 1 ? 'event' : 'events'} to apply`];
  return [
    h('dl', { class: 'fields cluster-fields' },
      field('connected', 'Connection to the stream', c.connected ? badge(true, 'connected') : badge(false, 'disconnected'),
        c.error ? h('div', { class: 'muted cluster-error' }, c.error) : null),
      field('applied_seq', 'Applied by this node', num(c.applied_seq)),
      field('stream_last_seq', 'Last seq of the stream', num(c.stream_last_seq),
        typeof c.stream_messages === 'number' ? h('span', { class: 'muted' }, ` in ${plural(c.stream_messages, 'batch', 'batches')}`) : null),
      field('lag', 'Lag', lag),
      field('writer', 'Writer', writerText(c)),
      field('stream', 'Stream', h('span', { class: 'value mono' }, c.stream || '—')),
      field('leader', 'Stream leader', c.leader ? h('span', { class: 'value mono' }, c.leader) : h('span', { class: 'value muted' }, 'none reported')),
      field('conflicts', 'Conflicts', num(c.conflicts || 0),
        h('span', { class: 'muted' }, ' writes re-resolved after another node appended first')),
      field('staleness', 'Staleness of reads', h('span', { class: 'staleness' }))),
    h('h2', {}, 'Replicas'),
    replicasBlock(c.replicas),
  ];
}

function singleNode() {
  return h('section', { class: 'empty-state small single-node' },
    h('h2', {}, 'A single node'),
    h('p', {}, 'This server runs on its own data directory, not in a cluster. To keep the log on a NATS JetStream stream shared by several nodes, start it with ',
      h('code', {}, 'mltrace serve --log nats://HOST:4222 --stream NAME --data-dir DIR'), ' (docs/cluster.md).'));
}

/** The server says "unavailable: WHY"; the banner already says that writes are refused. */
function reasonOf(writes) {
  const why = (writes || 'this node cannot write right now').replace(/^unavailable:\s*/, '');
  return why.charAt(0).toUpperCase() + why.slice(1);
}

/** The banner of a node that refuses writes (health says degraded), with the server's reason. */
function degradedBanner(health) {
  const c = health.cluster;
  return h('div', { class: 'degraded-banner', role: 'alert' }, icon('warn'),
    h('div', {},
      h('strong', {}, 'Writes are refused. '),
      h('span', { class: 'writes' }, reasonOf(health.writes)),
      '. ',
      c ? 'Reads go on from this node\'s copy of the log; the view updates when the stream is back.' : null));
}

export async function render(ctx) {
  ctx.title('Cluster');
  const stamp = h('p', { class: 'muted refreshed', 'aria-live': 'off' });
  const bannerSlot = h('div', { class: 'banner-slot' });
  const problem = h('div', { class: 'problem-slot' });
  const body = h('div', { class: 'cluster-body' }, loading('Reading this node\'s health'));
  mount(ctx.root, h('section', { class: 'view view-cluster' }, viewHead('Cluster', stamp), bannerSlot, problem, body));

  let shownKey = null;
  let bannerKey = null;
  const show = (health) => {
    if (!ctx.isCurrent()) return;
    const c = health.cluster || null;
    // Redraw only what changed: a banner or a table rebuilt every 2 s would be re-announced by
    // screen readers and would lose the reader's selection.
    const degraded = health.status === 'degraded' ? health.writes || 'degraded' : null;
    if (degraded !== bannerKey) {
      bannerKey = degraded;
      mount(bannerSlot, degraded ? degradedBanner(health) : null);
    }
    const key = JSON.stringify(c ? { ...c, checked_ms_ago: null } : null);
    if (key !== shownKey) {
      shownKey = key;
      mount(body, c ? details(c) : singleNode());
    }
    const slot = body.querySelector('.staleness');
    if (slot && c) mount(slot, staleness(c));
    mount(problem);
    stamp.textContent = `refreshed every ${REFRESH_MS / 1000} s, last at ${new Date().toLocaleTimeString()}`;
  };
  const refresh = async () => {
    if (document.visibilityState === 'hidden') return;
    try {
      await checkHealth();
    } catch (e) {
      if (ctx.isCurrent()) mount(problem, errorBox(e, 'Health'));
    }
  };
  await refresh();
  ctx.onCleanup(onHealth(show));
  const timer = setInterval(refresh, REFRESH_MS);
  ctx.onCleanup(() => clearInterval(timer));
}
