// Help: every command with an example you can run, the keyboard shortcuts, how to log data.

import { h, mount } from '../lib/dom.js';
import { COMMANDS } from '../lib/commands.js';
import { runCommand } from '../lib/commandbar.js';
import { firstRunHelp } from '../lib/widgets.js';

const KEYS = [
  ['/ or Ctrl+K', 'Focus the command bar'],
  ['↑ ↓ in the bar', 'Move through completions, or through what you ran'],
  ['Tab', 'Accept a completion'],
  ['Enter', 'Run the command'],
  ['Esc', 'Close completions, then leave the bar'],
  ['j k', 'Next and previous row of a list; Enter opens it'],
  ['g r, g v, g o, g c, g h', 'Go to recent, review, outdated, cluster, help'],
  ['t', 'Toggle light and dark theme'],
  ['?', 'This page'],
  ['+ − 0 and arrows', 'In a graph: zoom, fit, pan'],
];

export function render(ctx) {
  ctx.title('Help');
  mount(ctx.root, h('section', { class: 'view view-help' },
    h('header', { class: 'view-head' }, h('h1', {}, 'Commands')),
    h('p', { class: 'lede' }, 'Type a command in the bar at the top (press ', h('kbd', {}, '/'), ' to get there). Names complete as you type. Quote names with spaces: ', h('code', {}, 'trace "daily report.csv"'), '. Every view has its own address, so you can share the link.'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table help-table stack', 'aria-label': 'commands' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Command'), h('th', {}, 'What it does'), h('th', {}, 'Example'))),
      h('tbody', {}, COMMANDS.map((c) => h('tr', { dataset: { command: c.name } },
        h('td', { class: 'mono nowrap usage', 'data-label': 'Command' }, c.usage),
        h('td', { 'data-label': 'What' }, c.summary),
        h('td', { 'data-label': 'Example' }, h('button', { type: 'button', class: 'btn ghost small mono example', title: 'Run this example', onclick: () => runCommand(c.example) }, c.example))))))),
    h('h2', {}, 'Keyboard'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'table keys', 'aria-label': 'keyboard shortcuts' },
      h('tbody', {}, KEYS.map(([k, what]) => h('tr', {}, h('td', { class: 'nowrap' }, h('kbd', {}, k)), h('td', {}, what)))))),
    h('h2', {}, 'Logging runs'),
    firstRunHelp({ title: null, intro: false })));
}
