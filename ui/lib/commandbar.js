// The command bar: keyboard-first entry to every view.
// Owns: completion as you type (command names, then component, tag and output names from
// GET /api/v1/suggest), the history of what you ran (kept in this browser), running a command.
// Never: knows how a view draws; it only navigates or calls the write endpoints.

import { h, mount, debounce } from './dom.js';
import { api, errorText, flagBody, isAbort, setUserName, userName } from './api.js';
import { COMMANDS, commandByName, parse, paths, quoteArg, tokenize } from './commands.js';
import { navigate } from './router.js';
import { setTheme } from './theme.js';
import { toast } from './toast.js';

const HISTORY_KEY = 'mltrace-command-history';
const HISTORY_MAX = 50;
const SUGGEST_LIMIT = 8;

function loadHistory() {
  try {
    const list = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]');
    return Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [];
  } catch { return []; }
}

function remember(line) {
  const list = [line, ...loadHistory().filter((x) => x !== line)].slice(0, HISTORY_MAX);
  try { localStorage.setItem(HISTORY_KEY, JSON.stringify(list)); } catch { /* full or private */ }
}

/** Runs one command line; returns an error sentence, or null when it ran. */
export async function runCommand(line) {
  const parsed = parse(line);
  if (!parsed.ok) return parsed.error;
  const { action } = parsed;
  remember(line.trim());
  try {
    switch (action.type) {
      case 'navigate':
        await navigate(action.path);
        break;
      case 'flag': {
        await api('/flag', { method: 'POST', body: flagBody([action.name], action.reason) });
        await navigate(paths.output(action.name));
        toast(`Flagged ${action.name}`);
        break;
      }
      case 'unflag': {
        const body = action.all ? { all: true } : { outputs: [action.name] };
        const answer = await api('/unflag', { method: 'POST', body });
        const n = (answer && answer.unflagged || []).length;
        if (action.all) {
          await navigate(paths.review());
          toast(`Unflagged ${n} output${n === 1 ? '' : 's'}`);
        } else {
          await navigate(paths.output(action.name));
          toast(n ? `Unflagged ${action.name}` : `${action.name} was not flagged`);
        }
        break;
      }
      case 'user':
        if (action.name !== null) setUserName(action.name);
        toast(userName() ? `Flags from this browser are signed ${userName()}` : 'Flags from this browser are not signed');
        break;
      case 'theme':
        setTheme(action.mode);
        toast(`Theme: ${action.mode}`);
        break;
      default:
        return 'Unknown action';
    }
  } catch (e) {
    if (isAbort(e)) return null;
    return `${action.type} failed: ${errorText(e)}`;
  }
  return null;
}

/** Completion items for the text typed so far. */
async function completions(text, signal) {
  const items = [];
  const words = tokenize(text);
  const endsWithSpace = /\s$/.test(text);
  const history = loadHistory();
  const trimmed = text.trim().toLowerCase();

  if (!trimmed) {
    return history.slice(0, SUGGEST_LIMIT).map((line) => ({ value: line, label: line, kind: 'history', run: true }));
  }

  const first = words[0] ? words[0].text.toLowerCase() : '';
  const command = commandByName.get(first);

  if (words.length === 1 && !endsWithSpace) {
    for (const c of COMMANDS) {
      if (c.name.startsWith(first)) items.push({ value: c.name + (c.usage.includes(' ') ? ' ' : ''), label: c.usage, kind: 'command', hint: c.summary, run: !c.usage.includes(' ') });
    }
  }


  let kinds = null;
  let prefix = '';
  let query = '';
  if (command && command.complete && (words.length > 1 || endsWithSpace)) {
    kinds = [command.complete];
    prefix = `${command.name} `;
    query = words.length > 1 ? text.slice(words[1].start).trim().replace(/^["']/, '').replace(/["']$/, '') : '';
    if (command.name === 'flag' && words.length > 2) kinds = null; // typing the reason
    if (command.name === 'history' && words.length > 2 && /^[0-9]+$/.test(words[words.length - 1].text)) kinds = null;
  } else if (!command && words.length >= 1 && !/^#?[0-9]+$/.test(first)) {
    // Not a command: offer what the text names (trace an output, open a component, a tag).
    kinds = ['outputs', 'components', 'tags'];
    query = text.trim();
  }

  if (kinds && (query || kinds.length === 1)) {
    const answer = await api('/suggest', { query: { q: query, limit: SUGGEST_LIMIT }, signal });
    const verb = { outputs: 'trace', components: 'history', tags: 'tag' };
    for (const kind of kinds) {
      for (const name of (answer && answer[kind]) || []) {
        const line = `${prefix || `${verb[kind]} `}${quoteArg(name)}`;
        const label = prefix ? name : line;
        items.push({ value: line, label, kind: kind.replace(/s$/, ''), run: command ? command.name !== 'flag' && command.name !== 'history' : true });
      }
    }
  }

  // What you ran before comes after what the store knows, so fresh names are not hidden.
  let fromHistory = 0;
  for (const line of history) {
    if (fromHistory >= SUGGEST_LIMIT / 2) break;
    if (line.toLowerCase().startsWith(trimmed) && line.toLowerCase() !== trimmed) {
      items.push({ value: line, label: line, kind: 'history', run: true });
      fromHistory += 1;
    }
  }

  const seen = new Set();
  return items.filter((it) => (seen.has(it.value) ? false : seen.add(it.value))).slice(0, SUGGEST_LIMIT * 2);
}

/** Wires the command bar in the page header. */
export function initCommandBar({ form, input, list, message }) {
  let items = [];
  let active = -1;
  let pending = null;
  let historyIndex = -1;

  const close = () => {
    items = [];
    active = -1;
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  };

  const say = (text, kind = 'error') => {
    mount(message, text ? h('span', { class: kind }, text) : null);
    message.hidden = !text;
  };

  const draw = () => {
    if (items.length === 0) { close(); return; }
    mount(list, items.map((item, i) => h('li', {
      id: `cmd-opt-${i}`, role: 'option', class: ['cmd-option', i === active && 'active'],
      'aria-selected': i === active ? 'true' : 'false', dataset: { kind: item.kind },
      onmousedown: (e) => { e.preventDefault(); choose(i, true); },
    }, h('span', { class: 'cmd-kind' }, item.kind), h('span', { class: 'cmd-label mono' }, item.label),
    item.hint ? h('span', { class: 'cmd-hint' }, item.hint) : null)));
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    if (active >= 0) {
      input.setAttribute('aria-activedescendant', `cmd-opt-${active}`);
      const el = list.children[active];
      if (el) el.scrollIntoView({ block: 'nearest' });
    } else input.removeAttribute('aria-activedescendant');
  };

  const refresh = debounce(async () => {
    if (pending) pending.abort();
    pending = new AbortController();
    const text = input.value;
    try {
      const next = await completions(text, pending.signal);
      if (input.value !== text || document.activeElement !== input) return;
      items = next;
      active = -1;
      draw();
    } catch (e) {
      if (!isAbort(e)) { items = []; draw(); }
    }
  }, 90);

  const submit = async (line) => {
    close();
    refresh.cancel();
    if (pending) pending.abort();
    const error = await runCommand(line);
    if (error) {
      say(error);
      input.focus();
      return;
    }
    say('');
    input.value = '';
    historyIndex = -1;
    input.blur();
  };

  const choose = (i, andRun) => {
    const item = items[i];
    if (!item) return;
    input.value = item.value;
    if (andRun && item.run) { submit(item.value); return; }
    input.focus();
    input.setSelectionRange(input.value.length, input.value.length);
    refresh();
  };

  input.addEventListener('input', () => { say(''); historyIndex = -1; refresh(); });
  // Closing on blur waits a moment (a click on an option blurs first); focus cancels it.
  let blurTimer = null;
  input.addEventListener('focus', () => { clearTimeout(blurTimer); refresh(); });
  input.addEventListener('blur', () => { clearTimeout(blurTimer); blurTimer = setTimeout(close, 100); });

  input.addEventListener('keydown', (e) => {
    const open = !list.hidden && items.length > 0;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!open) {
        // Shell-like: Up walks back through what you ran.
        const history = loadHistory();
        if (history.length === 0) return;
        historyIndex = e.key === 'ArrowUp' ? Math.min(historyIndex + 1, history.length - 1) : Math.max(historyIndex - 1, -1);
        input.value = historyIndex >= 0 ? history[historyIndex] : '';
        return;
      }
      // -1 is the text as typed; the list wraps around through it.
      if (e.key === 'ArrowDown') active = active >= items.length - 1 ? -1 : active + 1;
      else active = active <= -1 ? items.length - 1 : active - 1;
      draw();
    } else if (e.key === 'Tab' && open && !e.shiftKey) {
      e.preventDefault();
      choose(active >= 0 ? active : 0, false);
    } else if (e.key === 'Escape') {
      if (open) close();
      else { input.value = ''; say(''); input.blur(); }
      e.preventDefault();
    } else if (e.key === 'Enter' && open && active >= 0) {
      e.preventDefault();
      const item = items[active];
      if (item.run) submit(item.value); else choose(active, false);
    }
  });

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit(input.value);
  });
}
