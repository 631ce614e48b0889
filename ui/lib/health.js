// This node's health as the page last saw it: one `GET /api/v1/health` shared by the header (the
// Cluster link, the live indicator's tooltip) and the cluster view, which asks for it more often.
// Owns: the last answer and the listeners that want it; the header's background refresh.
// Never: draws anything; the header and the views decide what the answer means to them.

import { api } from './api.js';

const listeners = new Set();
let last = null;
let inFlight = null;

/** The last answer of /health (null until one came). */
export const lastHealth = () => last;

/** Calls fn(health) with every new answer (and at once with the last one, if any). */
export function onHealth(fn) {
  listeners.add(fn);
  if (last) fn(last);
  return () => listeners.delete(fn);
}

/**
 * Asks the server for its health and tells every listener. Calls made while one is on its way
 * share it, so the header and the cluster view never double the requests.
 */
export function checkHealth() {
  if (!inFlight) {
    inFlight = api('/health')
      .then((health) => {
        last = health;
        for (const fn of [...listeners]) {
          try { fn(health); } catch (e) { console.error('health listener failed', e); }
        }
        return health;
      })
      .finally(() => { inFlight = null; });
  }
  return inFlight;
}

/** How often the header refreshes health in cluster mode (the cluster view asks every 2 s). */
const BACKGROUND_MS = 10000;

/**
 * Reads health once; in cluster mode (or until a first answer came) keeps reading it every 10 s
 * while the tab is visible, so the header's lag stays current. A single node's health does not
 * change what the header shows.
 */
export function startHealth() {
  const tick = () => checkHealth().catch(() => { /* the live indicator already says offline */ });
  tick();
  setInterval(() => {
    if ((!last || last.cluster) && document.visibilityState === 'visible') tick();
  }, BACKGROUND_MS);
}

/** The lag in words, for tooltips and the view: "3 events behind the stream", or null when none. */
export function lagText(cluster) {
  if (!cluster || !cluster.lag) return null;
  return `${cluster.lag} event${cluster.lag === 1 ? '' : 's'} behind the stream`;
}
