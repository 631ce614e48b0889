// Live updates: one follow stream of the event log for the whole page.
// Owns: GET /api/v1/events?after=SEQ&follow=true read with fetch and a stream reader (NDJSON),
// reconnecting from the last event seen, and handing each event to the views that listen.
// Never: changes the page itself; views decide what an event means to them.

import { apiUrl, authHeaders } from './api.js';
import { checkHealth } from './health.js';

const listeners = new Set();
const statusListeners = new Set();
let lastSeq = 0;
let status = 'connecting';
let started = false;

export const currentSeq = () => lastSeq;
export const liveStatus = () => status;

/** Calls fn(event) for every new event; returns the function that stops listening. */
export function onEvent(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function onStatus(fn) {
  statusListeners.add(fn);
  fn(status);
  return () => statusListeners.delete(fn);
}

function setStatus(next) {
  if (next === status) return;
  status = next;
  for (const fn of statusListeners) fn(status);
}

function emit(event) {
  if (typeof event.seq === 'number') {
    if (event.seq <= lastSeq) return; // a replay after a reconnect
    lastSeq = event.seq;
  }
  for (const fn of [...listeners]) {
    try { fn(event); } catch (e) { console.error('live listener failed', e); }
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function readStream() {
  const res = await fetch(apiUrl('/events', { after: lastSeq, follow: 'true' }), {
    headers: { Accept: 'application/x-ndjson', ...authHeaders() },
    cache: 'no-store',
  });
  if (!res.ok || !res.body) throw new Error(`events stream answered ${res.status}`);
  setStatus('live');
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (!line) continue;
      let event;
      try { event = JSON.parse(line); } catch { continue; }
      emit(event);
    }
  }
}

/** Starts following the log from the server's current last event (once per page). */
export async function startLive() {
  if (started) return;
  started = true;
  let delay = 500;
  for (;;) {
    try {
      if (lastSeq === 0) {
        // The header reads health at boot too: one request serves both.
        const health = await checkHealth();
        lastSeq = health.last_seq || 0;
      }
      await readStream();
      delay = 500; // the server closed a healthy stream: reconnect at once
      setStatus('connecting');
    } catch (e) {
      // Stay "offline" while waiting to retry: "connecting" would hide that the server is gone.
      setStatus('offline');
      delay = Math.min(delay * 2, 8000);
    }
    await sleep(delay);
  }
}
