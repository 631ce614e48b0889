// The UI at realistic scale: the load generator's pipeline (lib/workload.mjs) with 20,000 runs,
// about 940 flagged predictions and a 651-run model trace (MLTRACE_UI_SCALE=heavy: 50,000 runs).
// Every main page is ready in under a second (MLTRACE_UI_PAGE_MS to change it on a slow machine)
// and under 5,000 px tall before the user asks for more; the big trace opens readable; the names
// it shows are pairwise distinct; review and outdated stay short.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJson, openPage, screenshot, setup } from '../lib/harness.mjs';
import { edgesGoRight, fitsWidth, readableAndInside, textsApart } from '../lib/checks.mjs';
import { load } from '../lib/workload.mjs';

const HEAVY = process.env.MLTRACE_UI_SCALE === 'heavy';
const RUNS = HEAVY ? 50000 : 20000;
const PAGE_MS = Number(process.env.MLTRACE_UI_PAGE_MS) || 1000;
const MAX_HEIGHT = 5000;

describe(`the UI with ${RUNS} runs`, () => {
  let env;
  let page;
  let w;
  let pages;

  before(async () => {
    env = await setup({ seed: false });
    w = await load(env.url, { runs: RUNS });
    page = await openPage(env.browser, { width: 1440, height: 900 });
    const bigTrace = w.predictionOf(w.lastChainEnd, 0);
    const enc = encodeURIComponent;
    const someRun = Math.floor(w.runs.length / 2);
    pages = [
      ['/', 'table.runs tbody tr'],
      [`/run/${someRun}`, '.run-card'],
      [`/trace/${enc(bigTrace)}`, '.graph .node'],
      [`/trace/${enc(bigTrace)}?view=tree`, '.tree-row'],
      [`/downstream/${enc(w.rawOf(w.lastChainEnd - 49, 0))}`, '.graph .node'],
      ['/history/infer', 'table.runs tbody tr'],
      ['/review', '.review-runs tbody tr'],
      ['/outdated', '.view-outdated .outdated-item, .view-outdated .empty-state'],
      [`/output/${enc(bigTrace)}`, '.view-output'],
    ];
  });
  after(async () => { await env.close(); });

  test('the workload is at scale', async () => {
    const stats = await getJson(env.url, '/stats');
    assert.ok(stats.runs >= RUNS, `${stats.runs} runs`);
    assert.ok(stats.flags >= 900, `${stats.flags} flags`);
    const trace = await getJson(env.url, `/trace?output=${encodeURIComponent(w.predictionOf(w.lastChainEnd, 0))}`);
    assert.ok(trace.nodes.length >= 600, `${trace.nodes.length} runs in the big trace`);
  });

  test('every page is ready in under a second and under 5,000 px tall', async () => {
    // The first load of the page compiles the modules (then cached): timed pages are navigations.
    await page.goto(`${env.url}/help`);
    await page.waitForSelector('table.help-table');
    const report = [];
    for (const [path, selector] of pages) {
      const t0 = Date.now();
      await page.goto(env.url + path);
      await page.waitForSelector('#main:not([aria-busy])', { state: 'attached' });
      await page.waitForSelector(selector);
      const ms = Date.now() - t0;
      const height = await page.evaluate(() => document.documentElement.scrollHeight);
      report.push(`${path.slice(0, 60)}: ${ms} ms, ${height} px`);
      assert.ok(ms < PAGE_MS, `${path} took ${ms} ms`);
      assert.ok(height < MAX_HEIGHT, `${path} is ${height} px tall`);
      assert.deepEqual(page.errors, [], path);
    }
    console.log(report.join('\n'));
    await page.goto(`${env.url}/review`);
    await page.waitForSelector('.review-runs tbody tr');
    await screenshot(page, 'scale-review');
  });

  test('the 651-run trace opens readable, in columns, without a collision, names distinct', async () => {
    const path = `/trace/${encodeURIComponent(w.predictionOf(w.lastChainEnd, 0))}`;
    await page.goto(env.url + path);
    await page.waitForSelector('.graph .node');
    assert.match(await page.locator('.stats').innerText(), /651 runs/);
    assert.match(await page.locator('.stats').innerText(), /showing \d+ within \d levels?/, 'big lineage opens a few levels deep');
    assert.deepEqual(await edgesGoRight(page), []);
    assert.deepEqual(await readableAndInside(page), []);
    assert.deepEqual(await textsApart(page), []);
    await screenshot(page, 'scale-trace');
    // Every level, unfolded chains folded: the 50 warm-started trainings are one box.
    await page.locator('.depth-select').selectOption({ index: (await page.locator('.depth-select option').count()) - 1 });
    await page.waitForFunction(() => !/showing/.test(document.querySelector('.stats').textContent));
    const groups = await page.evaluate(() => [...document.querySelectorAll('.graph .node.group')].map((g) => g.querySelector('.node-title').textContent + ' ' + g.querySelector('.node-id').textContent));
    assert.ok(groups.includes('churn.train 50×'), `the trainings fold into one box: ${groups.join(', ')}`);
    assert.deepEqual(await edgesGoRight(page), []);
    assert.deepEqual(await textsApart(page), []);
    await screenshot(page, 'scale-trace-all');
    // Labels: each text stands for one name (its tooltip), and different names read differently.
    const labels = await page.evaluate(() => [...document.querySelectorAll('.graph .edge-label')].map((t) => ({ text: [...t.querySelectorAll('tspan')].map((s) => s.textContent).join(''), names: t.querySelector('title').textContent })));
    const byText = new Map();
    for (const l of labels) {
      if (!byText.has(l.text)) byText.set(l.text, new Set());
      byText.get(l.text).add(l.names);
    }
    for (const [text, names] of byText) assert.equal(names.size, 1, `"${text}" stands for ${[...names].join(' and ')}`);
    // The tree view of the same trace: distinct names too, and folded levels keep it short.
    await page.goto(`${env.url}${path}?view=tree`);
    await page.waitForSelector('.tree-row');
    const vias = await page.evaluate(() => [...document.querySelectorAll('.tree-row:not([hidden]) .tree-via .name')].map((n) => [n.textContent, n.title]));
    const seen = new Map();
    for (const [text, name] of vias) {
      if (seen.has(text)) assert.equal(seen.get(text), name, `"${text}" stands for two names`);
      seen.set(text, name);
    }
    assert.ok(await page.evaluate(() => document.documentElement.scrollHeight) < MAX_HEIGHT);
  });

  test('review points at the cause: both numbers, specificity ranking, flags paged and grouped', async () => {
    await page.goto(`${env.url}/review`);
    await page.waitForSelector('.review-runs tbody tr');
    assert.equal(await page.locator('.review-runs tbody tr').count(), 20, 'runs come 20 at a time');
    assert.ok(await page.locator('table.flagged tbody tr').count() <= 25, 'flags come 25 at a time');
    const first = await page.locator('.review-runs tbody tr').first().innerText();
    assert.match(first, /of \d+ it feeds/);
    const api = await getJson(env.url, '/review?rank=specificity&limit=1');
    await page.locator('.segmented[aria-label="Rank runs by"] button', { hasText: 'specificity' }).click();
    await page.waitForURL(/rank=specificity/);
    await page.waitForFunction((id) => document.querySelector('.review-runs tbody tr td a')?.textContent === String(id), api.runs[0].run.id);
    await page.locator('select[aria-label="group flags"]').selectOption('reason');
    assert.equal(await page.locator('details.flag-group').count(), 3, 'three reasons');
    await page.locator('input[aria-label="filter flags"]').fill('label mismatch');
    await page.waitForFunction(() => document.querySelectorAll('details.flag-group').length === 1);
    assert.ok(await page.evaluate(() => document.documentElement.scrollHeight) < MAX_HEIGHT);
  });

  test('phone: the big pages fit a 390 px screen', async () => {
    const phone = await openPage(env.browser, { width: 390, height: 844 });
    for (const [path, selector] of pages) {
      await phone.goto(env.url + path);
      // Narrow screens get the tree instead of the graph.
      await phone.waitForSelector(selector.replace('.graph .node', '.tree-row'));
      assert.deepEqual(await fitsWidth(phone), [], path);
    }
    await phone.context().close();
  });
});
