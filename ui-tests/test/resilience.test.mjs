// The page over time: time travel (as of) across views, the server going away and coming back,
// the scroll position on Back, and comparing two runs.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJson, openPage, screenshot, setup, startServer, waitForView } from '../lib/harness.mjs';

describe('time travel, outages, Back, compare', () => {
  let env;
  let page;

  before(async () => {
    env = await setup();
    page = await openPage(env.browser);
  });
  after(async () => { await env.close(); });

  test('as of: every view reads the past, links keep it, the banner says so, Now comes back', async () => {
    const run4 = await getJson(env.url, '/runs/4');
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
    await page.locator('#asof-btn').click();
    await page.locator('#asof-input').fill('nonsense');
    await page.locator('#asof-pop button[type="submit"]').click();
    assert.match(await page.locator('#asof-msg').innerText(), /sequence number|time/);
    await page.locator('#asof-input').fill(String(run4.seq));
    await page.locator('#asof-pop button[type="submit"]').click();
    await page.waitForURL(new RegExp(`as_of=${run4.seq}`));
    await page.waitForSelector('#past-banner:not([hidden])');
    assert.match(await page.locator('#past-banner').innerText(), new RegExp(`event ${run4.seq}`));
    await page.waitForSelector('table.runs tbody tr');
    const ids = await page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.id)));
    assert.deepEqual(ids.sort((a, b) => a - b), [1, 2, 3, 4], 'only the runs logged by then');
    // A link keeps the past: the history of featuregen then had one run.
    await page.locator('table.runs a.component', { hasText: 'featuregen' }).click();
    await page.waitForURL(/\/history\/featuregen\?as_of=/);
    await page.waitForSelector('table.runs tbody tr');
    assert.equal(await page.locator('table.runs tbody tr').count(), 1);
    await screenshot(page, 'as-of');
    await page.locator('#past-banner a', { hasText: 'Back to now' }).click();
    await page.waitForURL(`${env.url}/history/featuregen`);
    await page.waitForSelector('#past-banner[hidden]', { state: 'attached' });
    await page.waitForFunction(() => document.querySelectorAll('table.runs tbody tr').length === 2);
  });

  test('the server goes away: views say so with Retry, and come back by themselves', async () => {
    await page.goto(`${env.url}/review`);
    await waitForView(page, `${env.url}/review`);
    await page.waitForSelector('#live[data-status="live"]');
    await page.waitForTimeout(300); // the view modules preload after the first view
    await env.server.stop({ keep: true });
    await page.locator('.nav a', { hasText: 'Outdated' }).click();
    await page.waitForSelector('.error-box');
    const text = await page.locator('.error-box').innerText();
    assert.match(text, /unreachable/i);
    assert.doesNotMatch(text, /dynamically imported module/);
    assert.equal(await page.locator('.error-box button.retry').count(), 1);
    await page.waitForSelector('#live[data-status="offline"]');
    await page.locator('.error-box button.retry').click();
    await page.waitForSelector('.error-box button.retry');
    env.server = await startServer({ dataDir: env.server.dataDir, port: env.server.port });
    await page.waitForSelector('.view-outdated .outdated-item', { timeout: 20000 });
    await page.waitForSelector('#live[data-status="live"]');
    assert.deepEqual(page.errors, []);
  });

  test('Back returns to where the page was scrolled', async () => {
    const runs = [];
    for (let i = 0; i < 120; i += 1) runs.push({ component: 'tick', start: new Date(Date.now() - (i + 1) * 60000).toISOString(), end: new Date(Date.now() - i * 60000).toISOString(), outputs: [`tick/${i}.json`] });
    await fetch(`${env.url}/api/v1/runs`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ runs }) });
    await page.setViewportSize({ width: 1360, height: 600 });
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
    await page.evaluate(() => window.scrollTo(0, 900));
    await page.waitForTimeout(100);
    const y = await page.evaluate(() => window.scrollY);
    assert.ok(y > 800, `scrolled to ${y}`);
    // A click as the user makes it where the page is (the test driver would scroll to the link).
    await page.locator('table.runs tbody tr a.run-id').nth(30).dispatchEvent('click');
    await page.waitForSelector('.run-card');
    assert.equal(await page.evaluate(() => window.scrollY), 0, 'a new view starts at the top');
    await page.goBack();
    await page.waitForSelector('table.runs tbody tr');
    await page.waitForFunction((want) => Math.abs(window.scrollY - want) < 5, y);
    await page.setViewportSize({ width: 1360, height: 860 });
  });

  test('compare two runs: what differs is marked; the run card links the previous run', async () => {
    await page.goto(`${env.url}/run/8`);
    await page.waitForSelector('.compare-link');
    assert.match(await page.locator('.compare-link').innerText(), /Compare with #3/);
    await page.locator('.compare-link').click();
    await waitForView(page, `${env.url}/compare/3/8`);
    await page.waitForSelector('.compare-head');
    const head = await page.locator('.compare-head').innerText();
    assert.match(head, /featuregen/);
    // Same component: that row does not differ; the start does.
    assert.equal(await page.locator('.compare-head tr:not(.differs) th', { hasText: 'Component' }).count(), 1);
    assert.equal(await page.locator('.compare-head tr.differs th', { hasText: 'Start' }).count(), 1);
    // Run 3 logged code, run 8 did not: its lines are marked.
    assert.ok(await page.locator('.code-line.changed').count() >= 2);
    await screenshot(page, 'compare');
    // The command bar knows it too.
    await page.locator('#cmd').fill('compare 4 10');
    await page.locator('#cmd').press('Enter');
    await waitForView(page, `${env.url}/compare/4/10`);
    await page.waitForSelector('.compare-head');
    await page.goto(`${env.url}/compare/4/999`);
    await page.waitForSelector('.error-box');
    assert.match(await page.locator('.error-box').innerText(), /999/);
  });
});
