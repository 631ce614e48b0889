// Small DOM and formatting helpers shared by every view.
// Owns: element construction, time and duration formatting, the icons we draw ourselves.
// Never: talks to the API or knows about routes.

const SVG_NS = 'http://www.w3.org/2000/svg';

function setAttrs(el, attrs, isSvg) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (key === 'style' && typeof value === 'object') {
      for (const [prop, v] of Object.entries(value)) {
        if (prop.startsWith('--')) el.style.setProperty(prop, v);
        else el.style[prop] = v;
      }
    }
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (!isSvg && (key === 'value' || key === 'checked' || key === 'disabled')) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false || child === '') continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Builds an HTML element: h('a', {href: '/'}, 'text', child, [more]). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs, false);
  append(el, children);
  return el;
}

/** Builds an SVG element, same signature as h(). */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setAttrs(el, attrs, true);
  append(el, children);
  return el;
}

/** Replaces all children of el. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** An RFC 3339 time from the API, shown in local time: 2026-11-26 04:31:09. */
export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "3 min ago", "in 2 h", for titles next to absolute times. */
export function fmtAgo(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '';
  const sec = Math.round((now - t) / 1000);
  const abs = Math.abs(sec);
  let text;
  if (abs < 45) text = `${abs} s`;
  else if (abs < 2700) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400 * 1.5) text = `${Math.round(abs / 3600)} h`;
  else if (abs < 86400 * 45) text = `${Math.round(abs / 86400)} days`;
  else if (abs < 86400 * 500) text = `${Math.round(abs / (86400 * 30))} months`;
  else text = `${(abs / (86400 * 365)).toFixed(1)} years`;
  return sec >= 0 ? `${text} ago` : `in ${text}`;
}

/** A <time> element: local time as text, UTC and relative time on hover. */
export function timeEl(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: `${iso} (${fmtAgo(iso)})` }, fmtTime(iso));
}

/** Milliseconds as a short human duration: 820 ms, 4.2 s, 5 min 03 s, 2 h 05 min, 3 d 4 h. */
export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)} s`;
  const totalSec = Math.round(sec);
  const min = Math.floor(totalSec / 60);
  if (min < 60) return `${min} min ${pad(totalSec % 60)} s`;
  const hours = Math.floor(min / 60);
  if (hours < 24) return `${hours} h ${pad(min % 60)} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A compact duration for tight places: 820ms, 4.2s, 5m03s, 2h05m, 3d4h. */
export function fmtDurationShort(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const sec = ms / 1000;
  if (sec < 60) return `${sec < 10 ? sec.toFixed(1) : Math.round(sec)}s`;
  const totalSec = Math.round(sec);
  const min = Math.floor(totalSec / 60);
  if (min < 60) return `${min}m${pad(totalSec % 60)}s`;
  const hours = Math.floor(min / 60);
  if (hours < 24) return `${hours}h${pad(min % 60)}m`;
  return `${Math.floor(hours / 24)}d${hours % 24}h`;
}

/** Duration of a run, from duration_ms or its start and end. */
export function runDuration(run) {
  if (typeof run.duration_ms === 'number') return run.duration_ms;
  const ms = new Date(run.end) - new Date(run.start);
  return Number.isNaN(ms) ? null : ms;
}

/** An I/O entry is a name (summaries) or an object with a name (full runs, events). */
export const ioName = (io) => (typeof io === 'string' ? io : io && io.name);

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

/** Shortens a long name in the middle, keeping its end (the file name) readable. */
export function ellipsize(text, max) {
  const str = String(text);
  if (str.length <= max) return str;
  const tail = Math.ceil((max - 1) * 0.6);
  return `${str.slice(0, max - 1 - tail)}…${str.slice(str.length - tail)}`;
}

/** Debounce: fn runs once, wait ms after the last call. */
export function debounce(fn, wait) {
  let timer = null;
  const wrapped = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), wait);
  };
  wrapped.cancel = () => clearTimeout(timer);
  return wrapped;
}

// Icons: drawn here, 16x16, stroke in currentColor.
const ICONS = {
  moon: 'M13.5 9.5A5.5 5.5 0 0 1 6.5 2.5a5.5 5.5 0 1 0 7 7z',
  sun: 'M8 4.5a3.5 3.5 0 1 0 0 7a3.5 3.5 0 1 0 0-7zM8 1v1.5M8 13.5V15M1 8h1.5M13.5 8H15M3 3l1 1M12 12l1 1M3 13l1-1M12 4l1-1',
  flag: 'M3.5 14.5V2M3.5 2.5h8l-1.8 3 1.8 3h-8',
  warn: 'M8 2l6.5 11.5h-13zM8 6.5v3.2M8 11.4v.2',
  trace: 'M2.5 4h3M2.5 12h3M5.5 4c3 0 2 4 5 4M5.5 12c3 0 2-4 5-4M10.5 8h3',
  down: 'M2.5 8h3M10.5 4h3M10.5 12h3M5.5 8c3 0 2-4 5-4M5.5 8c3 0 2 4 5 4',
  check: 'M3 8.5l3 3 7-7',
  cross: 'M4 4l8 8M12 4l-8 8',
  copy: 'M5.5 5.5h8v8h-8zM10.5 5.5v-3h-8v8h3',
  edit: 'M10.5 2.5l3 3-8 8h-3v-3z',
  plus: 'M8 3v10M3 8h10',
  minus: 'M3 8h10',
  fit: 'M2.5 6V2.5H6M10 2.5h3.5V6M13.5 10v3.5H10M6 13.5H2.5V10',
  graph: 'M4 4.5a1.5 1.5 0 1 0 0-.01zM12 3.5a1.5 1.5 0 1 0 0-.01zM12 12.5a1.5 1.5 0 1 0 0-.01zM5.5 4.2L10.5 3.6M5.3 5.2l5.4 6.5',
  tree: 'M3 2.5v11M3 5h4M3 10h4M9 5h4.5M9 10h4.5',
  help: 'M6 6.2a2 2 0 1 1 2.8 1.8c-.5.3-.8.7-.8 1.3v.4M8 11.6v.2M8 1.5a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z',
  search: 'M7 2.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9zM10.3 10.3L14 14',
};

export function icon(name, label) {
  const el = s('svg', {
    class: `icon icon-${name}`, viewBox: '0 0 16 16', width: 16, height: 16,
    'aria-hidden': label ? null : 'true', role: label ? 'img' : null, 'aria-label': label || null,
  }, s('path', { d: ICONS[name] || '' }));
  return el;
}
