// The HTTP client of the UI: one function per need, errors as ApiError.
// Owns: URLs under /api/v1/, the bearer token kept in this browser, turning error bodies
// ({"error":{"code","message","field"}}) into ApiError, and drawing an error where it happened.
// Never: touches the page outside the element it is given.

import { h } from './dom.js';

const BASE = '/api/v1';
/** Reads about the server itself, never about the past. */
const NOW_ONLY = new Set(['/health', '/events', '/metrics']);
const TOKEN_KEY = 'mltrace-token';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.field = field || null;
  }
}

export function token() {
  try { return localStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; }
}

export function setToken(value) {
  try {
    if (value) localStorage.setItem(TOKEN_KEY, value);
    else localStorage.removeItem(TOKEN_KEY);
  } catch { /* private mode: the token lives for this page only */ }
}

const USER_KEY = 'mltrace-user';

/** Who flags from this browser (the `by` of a flag), set with the `user NAME` command. */
export function userName() {
  try { return localStorage.getItem(USER_KEY) || ''; } catch { return ''; }
}

export function setUserName(name) {
  try {
    if (name) localStorage.setItem(USER_KEY, name);
    else localStorage.removeItem(USER_KEY);
  } catch { /* private mode */ }
}

/** The body of POST /flag, signed with the user's name when one is set. */
export function flagBody(outputs, reason) {
  const body = { outputs };
  if (reason) body.reason = reason;
  const by = userName();
  if (by) body.by = by;
  return body;
}

export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Builds /api/v1/path?query, leaving out empty parameters. */
export function apiUrl(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    params.set(key, String(value));
  }
  const qs = params.toString();
  return `${BASE}${path}${qs ? `?${qs}` : ''}`;
}

async function errorFrom(res) {
  let body = null;
  try { body = await res.json(); } catch { /* not JSON: a proxy or a crash */ }
  const err = body && body.error;
  if (err && typeof err.message === 'string') {
    return new ApiError(res.status, err.code || 'error', err.message, err.field);
  }
  return new ApiError(res.status, 'http_' + res.status, `The server answered ${res.status} ${res.statusText || ''}`.trim());
}

/** Calls the API and returns the parsed JSON answer; throws ApiError. */
export async function api(path, { method = 'GET', query, body, signal } = {}) {
  const headers = { Accept: 'application/json', ...authHeaders() };
  // Time travel: every read answers as of the URL's as_of (writes and the live stream do not).
  const past = new URLSearchParams(location.search).get('as_of');
  if (past && method === 'GET' && !NOW_ONLY.has(path) && !(query && 'as_of' in query)) query = { ...(query || {}), as_of: past };
  let payload;
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(apiUrl(path, query), { method, headers, body: payload, signal });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the mltrace server. Is `mltrace serve` still running?');
  }
  if (!res.ok) throw await errorFrom(res);
  if (res.status === 204) return null;
  return res.json();
}

export const isAbort = (e) => e && e.name === 'AbortError';

const TITLES = {
  not_found: 'Not found',
  invalid_argument: 'Invalid request',
  unauthorized: 'A token is needed',
  forbidden: 'Not allowed',
  conflict: 'Conflict',
  unavailable: 'The server cannot write right now',
  network: 'Server unreachable',
};

/** A sentence for an error, for inline messages next to a control. */
export function errorText(err) {
  if (err instanceof ApiError) {
    // The field helps with a rejected request; for a missing thing the message says it all.
    const field = err.field && err.code === 'invalid_argument' ? ` (field ${err.field})` : '';
    return `${err.message}${field}`;
  }
  return String((err && err.message) || err);
}

/** An error panel: what failed, the server's words, and what to do for auth errors. */
export function errorBox(err, what) {
  const title = err instanceof ApiError ? (TITLES[err.code] || `Error ${err.status}`) : 'Something went wrong';
  const box = h('div', { class: 'error-box', role: 'alert' },
    h('div', { class: 'error-title' }, what ? `${what}: ${title.toLowerCase()}` : title),
    h('p', { class: 'error-message' }, errorText(err)),
    err instanceof ApiError && err.status ? h('p', { class: 'error-meta mono' }, `${err.status} ${err.code}`) : null);
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) box.appendChild(tokenForm());
  if (err instanceof ApiError && (err.code === 'network' || err.status >= 500)) box.appendChild(retryButton());
  return box;
}

/**
 * Asks the router to draw the view again. The page also does so by itself when the event stream
 * reconnects (lib/router.js), so a user who waits sees the view come back.
 */
export function retryButton() {
  document.documentElement.dataset.unreachable = 'true';
  return h('p', {}, h('button', { type: 'button', class: 'btn small retry', onclick: () => window.dispatchEvent(new Event('mltrace:retry')) }, 'Retry'),
    h('span', { class: 'muted' }, ' The page also retries by itself when the server is back.'));
}

function tokenForm() {
  const input = h('input', { type: 'password', class: 'input mono', placeholder: 'token', 'aria-label': 'API token', autocomplete: 'off' });
  return h('form', {
    class: 'token-form',
    onsubmit: (e) => { e.preventDefault(); setToken(input.value.trim()); location.reload(); },
  }, h('label', {}, 'Paste the server\'s token (kept in this browser): '), input, h('button', { class: 'btn', type: 'submit' }, 'Use token'));
}
