// The command language of the command bar: the table of commands (also the help page) and the
// parser that turns a line into an action (a route to open, or a write such as flag).
// Never: performs the action; the command bar does.

/**
 * A name as one path segment. A final ".png", ".js", ".css", ".svg" or ".ico" gets its dot
 * escaped too: the server answers such paths as missing static files (404) instead of the UI's
 * index, so /output/plots%2Floss%2Epng is the deep link that works. Decoding gives the name back.
 */
export function segment(name) {
  return encodeURIComponent(name).replace(/\.(js|css|svg|png|ico)$/i, '%2E$1');
}

/** Paths of the views. Names travel percent-encoded in one path segment. */
export const paths = {
  recent: () => '/',
  run: (id) => `/run/${id}`,
  compare: (a, b) => `/compare/${a}/${b}`,
  trace: (output) => `/trace/${segment(output)}`,
  downstream: (output) => `/downstream/${segment(output)}`,
  output: (name) => `/output/${segment(name)}`,
  history: (component, n) => `/history/${segment(component)}${n ? `?n=${n}` : ''}`,
  tag: (tag) => `/tag/${segment(tag)}`,
  review: () => '/review',
  outdated: () => '/outdated',
  cluster: () => '/cluster',
  help: () => '/help',
};

/**
 * Every command: `complete` names what its argument completes to (suggest API kinds).
 * The help page is drawn from this table, so it cannot drift from what the bar accepts.
 */
export const COMMANDS = [
  { name: 'recent', usage: 'recent', example: 'recent', summary: 'The most recent runs of all components, newest first; loads more as you scroll and updates live. The home page.' },
  { name: 'history', usage: 'history COMPONENT [N]', example: 'history train 15', complete: 'components', summary: 'The runs of one component, newest first (10 unless N is given), with its owner, tags and a date range filter.' },
  { name: 'inspect', usage: 'inspect RUN_ID', example: 'inspect 12', summary: 'The card of one run: inputs and outputs with flag toggles, dependencies, staleness, tests, git, code snapshot and notes.' },
  { name: 'compare', usage: 'compare RUN_ID RUN_ID', example: 'compare 4 9', summary: 'Two runs side by side: inputs, outputs, git, code and tests, with what differs marked. The question after "what changed?".' },
  { name: 'trace', usage: 'trace OUTPUT', example: 'trace model.pkl', complete: 'outputs', summary: 'The graph of runs that produced an output, layered by depth, with the inputs that link them.' },
  { name: 'downstream', usage: 'downstream OUTPUT', example: 'downstream raw.csv', complete: 'outputs', summary: 'Everything derived from an output: the runs that depended on it, transitively, and what they wrote.' },
  { name: 'tag', usage: 'tag TAG', example: 'tag etl', complete: 'tags', summary: 'The components that carry a tag.' },
  { name: 'flag', usage: 'flag OUTPUT [REASON]', example: 'flag pred_17 "label mismatch"', complete: 'outputs', summary: 'Flags an output for review, with an optional reason.' },
  { name: 'unflag', usage: 'unflag OUTPUT | unflag --all', example: 'unflag pred_17', complete: 'outputs', summary: 'Removes the flag from an output, or from every output with --all.' },
  { name: 'review', usage: 'review', example: 'review', summary: 'The flagged outputs and the runs most common to them, by coverage: where to start debugging.' },
  { name: 'outdated', usage: 'outdated', example: 'outdated', summary: 'Components whose latest run used inputs that have since been superseded.' },
  { name: 'cluster', usage: 'cluster', example: 'cluster', summary: 'This node in a cluster (serve --log nats://...): its link to the stream, applied seq and lag, the writer, the stream\'s leader and replicas; refreshed every 2 s.' },
  { name: 'output', usage: 'output NAME', example: 'output model.pkl', complete: 'outputs', summary: 'One input or output: its type, flag, and the runs that produced and read it.' },
  { name: 'user', usage: 'user [NAME | --clear]', example: 'user alice', summary: 'The name this browser signs flags with (the "by" in review); without NAME, says which it is.' },
  { name: 'theme', usage: 'theme light|dark|system', example: 'theme dark', summary: 'Switches the colour theme; system follows the operating system.' },
  { name: 'help', usage: 'help', example: 'help', summary: 'This list.' },
];

export const commandByName = new Map(COMMANDS.map((c) => [c.name, c]));

/**
 * Splits a line into words; "double" or 'single' quotes keep spaces in a word.
 * Each word keeps whether it was quoted and where the raw text after the command begins.
 */
export function tokenize(line) {
  const words = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i])) i += 1;
    if (i >= line.length) break;
    const start = i;
    const quote = line[i] === '"' || line[i] === "'" ? line[i] : null;
    let text = '';
    if (quote) {
      i += 1;
      while (i < line.length && line[i] !== quote) { text += line[i]; i += 1; }
      i += 1; // the closing quote, or past the end when it is missing
    } else {
      while (i < line.length && !/\s/.test(line[i])) { text += line[i]; i += 1; }
    }
    words.push({ text, quoted: Boolean(quote), start });
  }
  return words;
}

/** Quotes a name for the command line when it has spaces or quotes. */
export function quoteArg(name) {
  if (/^[^\s"']+$/.test(name)) return name;
  return name.includes('"') ? `'${name}'` : `"${name}"`;
}

/** The argument of a one-name command: a quoted word as is, else the rest of the line. */
function restAsName(line, words) {
  if (words.length === 2 && words[1].quoted) return words[1].text;
  if (words.length < 2) return '';
  return line.slice(words[1].start).trim();
}

const fail = (error) => ({ ok: false, error });
const go = (path) => ({ ok: true, action: { type: 'navigate', path } });

/** Parses one command line into {ok, action} or {ok: false, error}. */
export function parse(input) {
  const line = input.trim();
  const words = tokenize(line);
  if (words.length === 0) return fail('Type a command, for example: recent, trace model.pkl, help.');
  const name = words[0].text.toLowerCase();
  const args = words.slice(1);
  const usage = commandByName.has(name) ? commandByName.get(name).usage : '';
  switch (name) {
    case 'recent':
    case 'review':
    case 'outdated':
    case 'cluster':
    case 'help':
      return go(paths[name]());
    case 'inspect': {
      const id = args.length === 1 ? args[0].text.replace(/^#/, '') : '';
      if (!/^[1-9][0-9]*$/.test(id)) return fail(`inspect needs one run id, a positive integer: ${usage}`);
      return go(paths.run(id));
    }
    case 'compare': {
      const ids = args.map((a) => a.text.replace(/^#/, ''));
      if (ids.length !== 2 || !ids.every((id) => /^[1-9][0-9]*$/.test(id))) return fail(`compare needs two run ids: ${usage}`);
      return go(paths.compare(ids[0], ids[1]));
    }
    case 'history': {
      if (args.length === 0) return fail(`history needs a component name: ${usage}`);
      let n = null;
      let nameWords = args;
      const last = args[args.length - 1];
      if (args.length >= 2 && !last.quoted && /^[0-9]+$/.test(last.text)) {
        n = Number(last.text);
        if (n < 1 || n > 1000) return fail('N must be between 1 and 1000.');
        nameWords = args.slice(0, -1);
      }
      const component = nameWords.length === 1 && nameWords[0].quoted
        ? nameWords[0].text
        : line.slice(nameWords[0].start, n === null ? undefined : last.start).trim().replace(/^["']|["']$/g, '');
      return go(paths.history(component, n));
    }
    case 'trace':
    case 'downstream':
    case 'output':
    case 'tag': {
      const arg = restAsName(line, words);
      if (!arg) return fail(`${name} needs ${name === 'tag' ? 'a tag' : 'an output name'}: ${usage}`);
      return go(paths[name](arg));
    }
    case 'flag': {
      if (args.length === 0) return fail(`flag needs an output name: ${usage}`);
      const reason = args.length > 1 ? line.slice(args[1].start).trim().replace(/^(["'])(.*)\1$/, '$2') : null;
      return { ok: true, action: { type: 'flag', name: args[0].text, reason } };
    }
    case 'unflag': {
      if (args.length === 1 && !args[0].quoted && args[0].text === '--all') return { ok: true, action: { type: 'unflag', all: true } };
      const arg = restAsName(line, words);
      if (!arg) return fail(`unflag needs an output name: ${usage}`);
      return { ok: true, action: { type: 'unflag', name: arg } };
    }
    case 'user': {
      if (args.length === 0) return { ok: true, action: { type: 'user', name: null } };
      if (args.length === 1 && args[0].text === '--clear' && !args[0].quoted) return { ok: true, action: { type: 'user', name: '' } };
      return { ok: true, action: { type: 'user', name: restAsName(line, words) } };
    }
    case 'theme': {
      const mode = args.length === 1 ? args[0].text.toLowerCase() : '';
      if (!['light', 'dark', 'system'].includes(mode)) return fail(`theme takes light, dark or system: ${usage}`);
      return { ok: true, action: { type: 'theme', mode } };
    }
    default:
      if (/^#?[1-9][0-9]*$/.test(name) && args.length === 0) return go(paths.run(name.replace('#', '')));
      return fail(`Unknown command "${words[0].text}". Type help to see the commands.`);
  }
}
