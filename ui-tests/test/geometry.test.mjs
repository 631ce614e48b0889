// What the graph and the pages look like, measured in the browser on the demo pipeline
// (`mltrace serve --demo`): linked runs in different columns, everything readable and inside the
// view at load, no text on top of another, one Tab stop with arrow keys, the selected run's path,
// phones (390 px) with nothing wider than the screen, and axe-core's contrast rule in both themes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJson, openPage, screenshot, setup, waitForView } from '../lib/harness.mjs';
import { contrastViolations, edgesGoRight, fitsWidth, readableAndInside, textsApart } from '../lib/checks.mjs';

describe('graph geometry and pages on the demo', () => {
  let env;
  let page;
  let latest; // the newest prediction of the demo
  let tracePath;

  before(async () => {
    env = await setup({ seed: false, args: ['--demo'] });
    page = await openPage(env.browser);
    const runs = (await getJson(env.url, '/runs?limit=50')).runs;
    const infer = runs.filter((r) => r.component === 'infer').sort((a, b) => b.id - a.id)[0];
    latest = { id: infer.id, output: infer.outputs[0] };
    tracePath = `/trace/${encodeURIComponent(latest.output)}`;
  });
  after(async () => { await env.close(); });

  test('the demo trace: linked runs never share a column; all of it readable and inside the view', async () => {
    await page.goto(env.url + tracePath);
    await waitForView(page, env.url + tracePath);
    await page.waitForSelector('.graph .node');
    const trace = await getJson(env.url, `/trace?output=${encodeURIComponent(latest.output)}`);
    assert.equal(await page.locator('.graph .node').count(), trace.nodes.length, 'the whole trace shows at load');
    assert.deepEqual(await edgesGoRight(page), []);
    assert.deepEqual(await readableAndInside(page), []);
    assert.deepEqual(await textsApart(page), []);
    assert.equal(await page.locator('.graph-legend li').count(), 6);
    await screenshot(page, 'demo-trace');
  });

  test('one Tab stop; arrow keys move between linked runs; the selection lights its path', async () => {
    await page.goto(env.url + tracePath);
    await page.waitForSelector('.graph .node');
    assert.equal(await page.locator('.graph [tabindex="0"]').count(), 1, 'one Tab stop in the graph');
    assert.equal(await page.locator('.graph .node[tabindex="0"]').getAttribute('data-id'), String(latest.id), 'the traced output\'s producer');
    await page.locator('.graph .node[tabindex="0"]').focus();
    await page.keyboard.press('ArrowLeft');
    const dep = await page.evaluate(() => document.activeElement.dataset.id);
    assert.notEqual(dep, String(latest.id));
    const run = await getJson(env.url, `/runs/${latest.id}`);
    assert.ok(run.dependencies.map(String).includes(dep), `${dep} is a dependency of ${latest.id}`);
    await page.waitForURL(new RegExp(`run=${dep}`));
    await page.waitForSelector(`.side-card >> text=#${dep}`);
    assert.equal(await page.locator('.graph [tabindex="0"]').count(), 1, 'still one Tab stop');
    // The path of the selection: its upstream and downstream, the rest dimmed.
    assert.equal(await page.locator('.graph.has-path').count(), 1);
    assert.equal(await page.locator(`.graph .node.on-path[data-id="${latest.id}"]`).count(), 1, 'downstream of the selection');
    const off = await page.locator('.graph .node:not(.on-path)').count();
    assert.ok(off > 0, 'runs off the path are dimmed');
    await page.keyboard.press('ArrowRight');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.id), String(latest.id));
  });

  test('names are shortened alike, the full name on hover and behind a copy button', async () => {
    await page.goto(`${env.url}/run/${latest.id}`);
    await page.waitForSelector('.io-table');
    const title = await page.locator('.io-table[aria-label="outputs"] .io-name a').first().getAttribute('title');
    assert.equal(title, latest.output);
    assert.equal(await page.locator('.io-table[aria-label="outputs"] .copy-btn').count(), 1);
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
    const shown = await page.locator('table.runs tbody tr').first().locator('td[data-label="Outputs"] a').innerText();
    assert.match(shown, /date=\d{4}-\d\d-\d\d/, `the partition stays visible: ${shown}`);
  });

  test('an unknown output says so and suggests names; the graph controls hide', async () => {
    const typo = latest.output.replace('batch', 'bacth');
    await page.goto(`${env.url}/trace/${encodeURIComponent(typo)}`);
    await page.waitForSelector('.did-you-mean a');
    assert.equal(await page.locator('.segmented[aria-label="View as"]').isVisible(), false);
    assert.equal(await page.locator('.graph-tools').isVisible(), false);
    assert.ok(await page.locator('.did-you-mean a').count() >= 1);
  });

  test('phone (390 px): every page fits the screen, the views live in a menu', async () => {
    const phone = await openPage(env.browser, { width: 390, height: 844 });
    const pages = ['/', `/run/${latest.id}`, tracePath, `/downstream/${encodeURIComponent(latest.output)}`, '/history/infer', '/review', '/outdated', '/help', `/output/${encodeURIComponent(latest.output)}`, '/tag/ml'];
    for (const path of pages) {
      await phone.goto(env.url + path);
      await waitForView(phone, env.url + path);
      await phone.waitForTimeout(100);
      assert.deepEqual(await fitsWidth(phone), [], path);
    }
    await phone.goto(`${env.url}/run/${latest.id}`);
    await phone.waitForSelector('.io-table');
    await screenshot(phone, 'phone-run');
    await phone.locator('#menu-btn').click();
    await phone.locator('#nav a', { hasText: 'Review' }).click();
    await waitForView(phone, `${env.url}/review`);
    assert.deepEqual(phone.errors, []);
    await phone.context().close();
  });

  for (const theme of ['light', 'dark']) {
    test(`axe-core finds no contrast violation (${theme})`, async () => {
      const p = await openPage(env.browser, { colorScheme: theme });
      await flagOnce(env.url, latest.output);
      const pages = ['/', `/run/${latest.id}`, tracePath, '/review', '/outdated', '/history/infer', '/help'];
      const problems = [];
      for (const path of pages) {
        await p.goto(env.url + path);
        await waitForView(p, env.url + path);
        await p.waitForTimeout(150);
        problems.push(...(await contrastViolations(p)).map((v) => `${path}: ${v}`));
      }
      assert.deepEqual(problems, []);
      await p.context().close();
    });
  }
});

/** Flags the output once, so that flagged marks and the review are on the pages checked. */
async function flagOnce(url, output) {
  await fetch(`${url}/api/v1/flag`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ outputs: [output], reason: 'contrast check' }) });
}
