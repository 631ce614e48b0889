// Writes from the page (flag toggles, notes), live updates from the event stream, the empty
// store, the code snapshot, and the light and dark themes.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, eventually, getJson, hoursAgo, logRuns, openPage, runCommand, screenshot, setup, waitForView } from '../lib/harness.mjs';

describe('writes and live updates', () => {
  let env;
  let page;

  before(async () => {
    env = await setup();
    page = await openPage(env.browser);
  });
  after(async () => { await env.close(); });

  test('flag toggle round trip on the run card', async () => {
    await page.goto(`${env.url}/run/4`);
    const toggle = page.locator('.io-table[aria-label="outputs"] .flag-toggle[data-flag-name="model.pkl"]');
    await toggle.waitFor();
    assert.equal(await toggle.getAttribute('aria-checked'), 'false');
    await toggle.click();
    await page.waitForSelector('.io-table[aria-label="outputs"] .flag-toggle[aria-checked="true"]');
    assert.equal((await getJson(env.url, '/io?name=model.pkl')).flagged, true);
    await page.reload();
    await page.waitForSelector('.io-table[aria-label="outputs"] .flag-toggle[data-flag-name="model.pkl"][aria-checked="true"]');
    await screenshot(page, 'run-flagged');
    await page.locator('.io-table[aria-label="outputs"] .flag-toggle[data-flag-name="model.pkl"]').click();
    await page.waitForSelector('.io-table[aria-label="outputs"] .flag-toggle[data-flag-name="model.pkl"][aria-checked="false"]');
    assert.equal((await getJson(env.url, '/io?name=model.pkl')).flagged, false);
  });

  test('a flag set elsewhere shows on the open page', async () => {
    await page.goto(`${env.url}/run/4`);
    await page.waitForSelector('#live[data-status="live"]');
    await page.waitForSelector('.flag-toggle[data-flag-name="features.parquet"][aria-checked="false"]');
    await call(env.url, 'POST', '/flag', { outputs: ['features.parquet'], reason: 'drift', by: 'carol' });
    await page.waitForSelector('.flag-toggle[data-flag-name="features.parquet"][aria-checked="true"]');
    await call(env.url, 'POST', '/unflag', { all: true });
    await page.waitForSelector('.flag-toggle[data-flag-name="features.parquet"][aria-checked="false"]');
  });

  test('notes are edited in place and saved', async () => {
    await page.goto(`${env.url}/run/4`);
    await page.waitForSelector('.notes-text');
    assert.match(await page.locator('.notes-text').innerText(), /first model/);
    await page.locator('.edit-notes').click();
    const area = page.locator('textarea.notes-input');
    await area.fill('retrained after the outlier fix\nsee ticket 42');
    await area.press('Control+Enter');
    await page.waitForSelector('.notes-text >> text=see ticket 42');
    assert.equal((await getJson(env.url, '/runs/4')).notes, 'retrained after the outlier fix\nsee ticket 42');
    // Esc cancels an edit without saving.
    await page.locator('.edit-notes').click();
    await page.locator('textarea.notes-input').fill('not saved');
    await page.locator('textarea.notes-input').press('Escape');
    await page.waitForSelector('.notes-text >> text=see ticket 42');
    await page.reload();
    await page.waitForSelector('.notes-text >> text=see ticket 42');
    assert.equal((await getJson(env.url, '/runs/4')).notes, 'retrained after the outlier fix\nsee ticket 42');
  });

  test('the code snapshot is folded until opened', async () => {
    await page.goto(`${env.url}/run/3`);
    await page.waitForSelector('details.code-snapshot');
    assert.equal(await page.locator('details.code-snapshot').evaluate((d) => d.open), false);
    assert.equal(await page.locator('details.code-snapshot pre').isVisible(), false);
    await page.locator('details.code-snapshot summary').click();
    await page.waitForSelector('details.code-snapshot pre >> text=tip_frac');
    await screenshot(page, 'run-code');
  });

  test('recent updates live as runs are logged', async () => {
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
    await page.waitForSelector('#live[data-status="live"]');
    const before = await page.locator('table.runs tbody tr').count();
    const [logged] = await logRuns(env.url, [{ component: 'predict', start: hoursAgo(0.01), end: hoursAgo(0), inputs: ['model.pkl'], outputs: ['pred_live'] }]);
    await page.waitForSelector(`table.runs tbody tr[data-id="${logged.id}"]`);
    assert.equal(await page.locator('table.runs tbody tr').first().getAttribute('data-id'), String(logged.id));
    assert.equal(await page.locator('table.runs tbody tr').count(), before + 1);
    // A run logged with an older start time lands in its place, not on top.
    const [older] = await logRuns(env.url, [{ component: 'clean', start: hoursAgo(240 - 1.5), end: hoursAgo(240 - 1.6), inputs: [], outputs: ['late.csv'] }]);
    await page.waitForSelector(`table.runs tbody tr[data-id="${older.id}"]`);
    const ids = await page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.id)));
    assert.equal(ids.indexOf(older.id), ids.indexOf(2) - 1, `run ${older.id} sits right above run 2: ${ids}`);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('the run card and review follow the stream', async () => {
    await page.goto(`${env.url}/run/5`);
    await page.waitForSelector('.notes-text');
    await page.waitForSelector('#live[data-status="live"]');
    await call(env.url, 'PUT', '/runs/5/notes', { notes: 'set from the CLI' });
    await page.waitForSelector('.notes-text >> text=set from the CLI');
    await runCommand(page, 'review');
    await waitForView(page, `${env.url}/review`);
    await page.waitForSelector('text=Nothing flagged');
    await call(env.url, 'POST', '/flag', { outputs: ['pred_2'], reason: 'wrong tip', by: 'dana' });
    await page.waitForSelector('table.flagged >> text=wrong tip');
    assert.match(await page.locator('table.flagged').innerText(), /dana/);
    await page.locator('table.flagged button', { hasText: 'Unflag' }).click();
    await page.waitForSelector('text=Nothing flagged');
    await eventually(async () => (await getJson(env.url, '/flags')).flags.length === 0);
  });
});

describe('empty store', () => {
  let env;
  let page;
  before(async () => {
    env = await setup({ seed: false });
    page = await openPage(env.browser);
  });
  after(async () => { await env.close(); });

  test('shows how to log a first run, then the run as it arrives', async () => {
    await page.goto(env.url);
    await page.waitForSelector('.empty-state');
    const text = await page.locator('.empty-state').innerText();
    assert.match(text, /mltrace log --component ingest --output raw\.csv/);
    assert.match(text, /curl -X POST/);
    await screenshot(page, 'empty');
    await page.waitForSelector('#live[data-status="live"]');
    await logRuns(env.url, [{ component: 'ingest', start: hoursAgo(0.1), end: hoursAgo(0), outputs: ['raw.csv'] }]);
    await page.waitForSelector('table.runs tbody tr[data-id="1"]');
    assert.equal(await page.locator('.empty-state').count(), 0);
  });

  test('review and outdated have empty states', async () => {
    await page.goto(`${env.url}/review`);
    await page.waitForSelector('text=Nothing flagged');
    await page.goto(`${env.url}/outdated`);
    await page.waitForSelector('text=Everything is up to date');
  });
});

describe('themes', () => {
  let env;
  before(async () => { env = await setup(); });
  after(async () => { await env.close(); });

  const background = (page) => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const isDark = (rgb) => {
    const [r, g, b] = rgb.match(/\d+/g).map(Number);
    return (r + g + b) / 3 < 80;
  };

  test('follows the system, toggles, and remembers the choice', async () => {
    const page = await openPage(env.browser, { colorScheme: 'dark' });
    await page.goto(`${env.url}/trace/pred_1`);
    await page.waitForSelector('.graph .node');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    assert.ok(isDark(await background(page)), 'dark background');
    await screenshot(page, 'trace-dark');
    await page.goto(`${env.url}/run/4`);
    await page.waitForSelector('.run-card');
    await screenshot(page, 'run-dark');
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
    await screenshot(page, 'recent-dark');

    await page.locator('#theme-toggle').click();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    assert.ok(!isDark(await background(page)), 'light background');
    await page.reload();
    await page.waitForSelector('table.runs tbody tr');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light', 'the choice is remembered');

    await runCommand(page, 'theme system');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    await page.reload();
    assert.equal(await page.getAttribute('html', 'data-theme'), 'dark');
    await page.keyboard.press('t');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    await page.context().close();
  });

  test('a light system starts light', async () => {
    const page = await openPage(env.browser, { colorScheme: 'light' });
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
    assert.equal(await page.getAttribute('html', 'data-theme'), 'light');
    assert.ok(!isDark(await background(page)));
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });
});

describe('a server with a token', () => {
  let env;
  before(async () => { env = await setup({ seed: false, args: ['--token', 'open-sesame-token'] }); });
  after(async () => { await env.close(); });

  test('asks for the token, in words, and works once it is given', async () => {
    const page = await openPage(env.browser);
    await page.goto(env.url);
    await page.waitForSelector('.error-box');
    const text = await page.locator('.error-box').innerText();
    assert.match(text, /token is needed/i);
    assert.match(text, /401/);
    await page.locator('.token-form input').fill('open-sesame-token');
    await page.locator('.token-form button').click();
    await page.waitForSelector('.empty-state');
    await page.waitForSelector('#live[data-status="live"]');
    const res = await fetch(`${env.url}/api/v1/runs`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer open-sesame-token' },
      body: JSON.stringify({ component: 'ingest', start: hoursAgo(1), end: hoursAgo(0.9), outputs: ['raw.csv'] }),
    });
    assert.equal(res.status, 201);
    await page.waitForSelector('table.runs tbody tr[data-id="1"]');
    await page.context().close();
  });
});
