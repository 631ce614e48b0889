// The UI's pure modules, straight in node: the command parser and the graph layout.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { COMMANDS, parse, quoteArg, segment, tokenize } from '../../ui/lib/commands.js';
import { NODE_H, NODE_W, assignLayers, layout } from '../../ui/lib/layout.js';
import { fold } from '../../ui/lib/groups.js';
import { shortNames } from '../../ui/lib/names.js';
import { linesOnlyIn, pairUp } from '../../ui/views/compare.js';

const nav = (line) => {
  const r = parse(line);
  assert.ok(r.ok, `${line}: ${r.error}`);
  assert.equal(r.action.type, 'navigate');
  return r.action.path;
};

describe('command parser', () => {
  test('every command of the help table parses its own example', () => {
    for (const c of COMMANDS) assert.ok(parse(c.example).ok, c.example);
  });

  test('views and their paths', () => {
    assert.equal(nav('recent'), '/');
    assert.equal(nav('  Review '), '/review');
    assert.equal(nav('inspect 12'), '/run/12');
    assert.equal(nav('inspect #12'), '/run/12');
    assert.equal(nav('12'), '/run/12');
    assert.equal(nav('history train'), '/history/train');
    assert.equal(nav('history train 15'), '/history/train?n=15');
    assert.equal(nav('history "daily job" 3'), '/history/daily%20job?n=3');
    assert.equal(nav('trace s3://bucket/raw/x.csv'), '/trace/s3%3A%2F%2Fbucket%2Fraw%2Fx.csv');
    assert.equal(nav('trace daily report.csv'), '/trace/daily%20report.csv');
    assert.equal(nav('downstream "a b"'), '/downstream/a%20b');
    assert.equal(nav('tag etl'), '/tag/etl');
    assert.equal(nav('output plots/loss.png'), '/output/plots%2Floss%2Epng');
    assert.equal(nav('compare 4 #9'), '/compare/4/9');
    assert.ok(!parse('compare 4').ok);
  });

  test('writes', () => {
    assert.deepEqual(parse('flag pred_17 label mismatch').action, { type: 'flag', name: 'pred_17', reason: 'label mismatch' });
    assert.deepEqual(parse('flag pred_17 "label mismatch"').action, { type: 'flag', name: 'pred_17', reason: 'label mismatch' });
    assert.deepEqual(parse('flag "a b.csv"').action, { type: 'flag', name: 'a b.csv', reason: null });
    assert.deepEqual(parse('unflag pred_17').action, { type: 'unflag', name: 'pred_17' });
    assert.deepEqual(parse('unflag --all').action, { type: 'unflag', all: true });
    assert.deepEqual(parse('theme dark').action, { type: 'theme', mode: 'dark' });
  });

  test('mistakes are explained', () => {
    assert.match(parse('').error, /Type a command/);
    assert.match(parse('inspect x').error, /positive integer/);
    assert.match(parse('inspect 0').error, /positive integer/);
    assert.match(parse('history').error, /component name/);
    assert.match(parse('history a 0').error, /between 1 and 1000/);
    assert.match(parse('trace').error, /output name/);
    assert.match(parse('theme blue').error, /light, dark or system/);
    assert.match(parse('nope').error, /Unknown command "nope"/);
  });

  test('tokenize and quote round trip', () => {
    assert.deepEqual(tokenize(`a "b c" 'd"e'`).map((w) => w.text), ['a', 'b c', 'd"e']);
    for (const name of ['x.csv', 'a b', 'say "hi"', "it's"]) {
      assert.equal(tokenize(quoteArg(name))[0].text, name);
    }
    assert.equal(decodeURIComponent(segment('s3://b/loss.png')), 's3://b/loss.png');
  });
});

describe('graph layout', () => {
  const overlaps = (pos) => {
    const list = [...pos.values()];
    for (let i = 0; i < list.length; i += 1) {
      for (let j = i + 1; j < list.length; j += 1) {
        const a = list[i];
        const b = list[j];
        if (Math.abs(a.x - b.x) < NODE_W && Math.abs(a.y - b.y) < NODE_H) return true;
      }
    }
    return false;
  };

  test('layers become columns from left to right, without overlaps', () => {
    const nodes = [{ id: 1, layer: 2 }, { id: 2, layer: 1 }, { id: 3, layer: 1 }, { id: 4, layer: 0 }];
    const edges = [{ up: 2, down: 1 }, { up: 3, down: 1 }, { up: 4, down: 2 }, { up: 4, down: 3 }];
    const { pos, width, height } = layout(nodes, edges);
    assert.ok(pos.get(4).x < pos.get(2).x && pos.get(2).x < pos.get(1).x);
    assert.equal(pos.get(2).x, pos.get(3).x);
    assert.ok(!overlaps(pos));
    for (const p of pos.values()) assert.ok(p.x + NODE_W <= width && p.y + NODE_H <= height);
  });

  test('ordering inside a layer removes a crossing', () => {
    // a1 -> b2 and a2 -> b1 cross in input order; the sweeps uncross them.
    const nodes = [{ id: 1, layer: 0 }, { id: 2, layer: 0 }, { id: 3, layer: 1 }, { id: 4, layer: 1 }];
    const { pos } = layout(nodes, [{ up: 1, down: 4 }, { up: 2, down: 3 }]);
    assert.equal(Math.sign(pos.get(1).y - pos.get(2).y), Math.sign(pos.get(4).y - pos.get(3).y));
  });

  test('a fan-in of 499 wraps into sub-columns and stays fast', () => {
    const nodes = [{ id: 500, layer: 1 }];
    const edges = [];
    for (let i = 1; i < 500; i += 1) {
      nodes.push({ id: i, layer: 0 });
      edges.push({ up: i, down: 500 });
    }
    const t = performance.now();
    const { pos } = layout(nodes, edges);
    assert.ok(performance.now() - t < 500);
    assert.equal(pos.size, 500);
    assert.ok(!overlaps(pos));
    const columns = new Set(nodes.filter((n) => n.layer === 0).map((n) => pos.get(n.id).x));
    assert.ok(columns.size > 10, `${columns.size} sub-columns`);
    assert.ok(pos.get(500).x > Math.max(...columns));
  });
});

describe('layers, folding, names', () => {
  test('columns by longest path: a run never shares a column with a run it is linked to', () => {
    // The demo's shape: clean#2 feeds featuregen#3 which feeds train#4; ingest#8 feeds clean#9;
    // predict#5 reads train#4 and featuregen#3 (an edge that skips a column).
    const ids = [1, 2, 3, 4, 5, 8, 9];
    const edges = [{ up: 1, down: 2 }, { up: 2, down: 3 }, { up: 3, down: 4 }, { up: 4, down: 5 }, { up: 3, down: 5 }, { up: 8, down: 9 }, { up: 9, down: 5 }];
    const layer = assignLayers(ids, edges, 'sink');
    for (const e of edges) assert.ok(layer.get(e.up) < layer.get(e.down), `${e.up} -> ${e.down}`);
    const { routes } = layout(ids.map((id) => ({ id })), edges);
    assert.equal(routes.get('3>5').length, 1, 'the long edge passes through a dummy point');
  });

  test('a chain of one component folds into one box; a fan of one component too', () => {
    const nodes = [];
    const edges = [];
    for (let i = 1; i <= 54; i += 1) {
      nodes.push({ id: i, component: 'search.train' });
      if (i > 1) edges.push({ up: i - 1, down: i, via: 'model.pkl' });
    }
    nodes.push({ id: 100, component: 'report' });
    edges.push({ up: 54, down: 100, via: 'model.pkl' });
    for (let i = 200; i < 210; i += 1) { nodes.push({ id: i, component: 'shard' }); edges.push({ up: i, down: 100, via: `shard/${i}` }); }
    const folded = fold(nodes, edges, { keep: new Set([100]) });
    const chain = folded.nodes.find((n) => n.members && n.component === 'search.train');
    const fan = folded.nodes.find((n) => n.members && n.component === 'shard');
    assert.equal(chain.members.length, 54);
    assert.equal(fan.members.length, 10);
    assert.equal(folded.nodes.length, 3);
    const open = fold(nodes, edges, { keep: new Set([100]), open: new Set([chain.id]) });
    assert.equal(open.nodes.length, 56);
  });

  test('short names keep what tells them apart', () => {
    const names = [];
    for (const day of ['01', '02']) for (const part of ['0001', '0002']) names.push(`s3://acme-preds/churn/date=2026-01-${day}/part-${part}.parquet`);
    const short = shortNames(names);
    assert.equal(new Set(short.values()).size, names.length, [...short.values()].join(', '));
    for (const [name, text] of short) {
      assert.ok(text.length < name.length);
      assert.ok(text.includes(name.match(/date=[^/]+/)[0]), `${text} keeps the partition`);
      assert.ok(text.endsWith(name.split('/').pop()), `${text} keeps the file name`);
    }
    assert.equal(shortNames(['model.pkl']).get('model.pkl'), 'model.pkl');
    // Names that agree but for one folder far from the end are told apart by it.
    const two = shortNames(['s3://l/clean/events/date=1/p.parquet', 's3://l/ingest/events/date=1/p.parquet']);
    assert.notEqual(two.get('s3://l/clean/events/date=1/p.parquet'), two.get('s3://l/ingest/events/date=1/p.parquet'));
  });

  test('compare pairs items by name and marks the lines only one side has', () => {
    const rows = pairUp([{ name: 'a', hash: '1' }, { name: 'b', hash: '1' }], [{ name: 'b', hash: '2' }, { name: 'c' }], (x) => x.name, (x, y) => x.hash === y.hash);
    assert.deepEqual(rows.map((r) => [r.key, Boolean(r.a), Boolean(r.b), r.same]), [['a', true, false, false], ['b', true, true, false], ['c', false, true, false]]);
    assert.deepEqual(linesOnlyIn(['x', 'y', 'y'], ['y', 'z']), [true, false, true]);
  });
});
