// Each command of the command bar, typed as a user would, against the real server.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RAW, getJson, openPage, runCommand, screenshot, setup, waitForView } from '../lib/harness.mjs';

describe('command bar', () => {
  let env;
  let page;

  before(async () => {
    env = await setup();
    page = await openPage(env.browser);
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
  });
  after(async () => { await env.close(); });

  test('recent is the home page: runs newest first', async () => {
    const ids = await page.locator('table.runs tbody tr').evaluateAll((rows) => rows.map((r) => Number(r.dataset.id)));
    assert.deepEqual(ids, [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
    assert.match(await page.locator('table.runs tbody tr[data-id="10"]').innerText(), /stale/);
    await runCommand(page, 'recent');
    await waitForView(page, `${env.url}/`);
    await page.waitForSelector('table.runs tbody tr');
    assert.match(await page.locator('table.runs tbody tr').first().innerText(), /report/);
    assert.match(await page.title(), /Recent runs/);
    await screenshot(page, 'recent');
  });

  test('help lists every command with an example', async () => {
    await runCommand(page, 'help');
    await waitForView(page, `${env.url}/help`);
    const names = await page.locator('table.help-table tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.command));
    for (const name of ['recent', 'history', 'inspect', 'trace', 'downstream', 'tag', 'flag', 'unflag', 'review', 'outdated', 'help']) {
      assert.ok(names.includes(name), `help lists ${name}`);
    }
    assert.match(await page.locator('table.help-table').innerText(), /history train 15/);
    await screenshot(page, 'help');
  });

  test('history COMPONENT shows its card and runs; N limits the rows', async () => {
    await runCommand(page, 'history featuregen');
    await waitForView(page, `${env.url}/history/featuregen`);
    await page.waitForSelector('.component-card');
    const card = await page.locator('.component-card').innerText();
    assert.match(card, /spark-gymnast/);
    assert.match(card, /Generates features/);
    await page.waitForSelector('table.runs tbody tr');
    assert.equal(await page.locator('table.runs tbody tr').count(), 2);
    await screenshot(page, 'history');

    await runCommand(page, 'history predict 2');
    await waitForView(page, `${env.url}/history/predict?n=2`);
    await page.waitForSelector('table.runs tbody tr');
    assert.equal(await page.locator('table.runs tbody tr').count(), 2);
    await page.getByRole('button', { name: 'Load older runs' }).click();
    await page.waitForFunction(() => document.querySelectorAll('table.runs tbody tr').length === 3);
  });

  test('inspect RUN_ID opens the run card', async () => {
    await runCommand(page, 'inspect 4');
    await waitForView(page, `${env.url}/run/4`);
    await page.waitForSelector('.run-card');
    const text = await page.locator('.run-card').innerText();
    assert.match(text, /train/);
    assert.match(text, /bob/);
    assert.match(text, /9f2c1e0a7b3d/);
    assert.match(text, /v1\.2/);
    assert.match(text, /model\.pkl/);
    assert.match(text, /1 of 2 failed/);
    assert.match(text, /accuracy 0\.61 < 0\.70/);
    assert.match(text, /first model/);
    // The dependency is named with its component and the input that links it.
    await page.waitForFunction(() => /featuregen/.test(document.querySelector('.deps').textContent));
    assert.match(await page.locator('.deps').innerText(), /#3\s+featuregen\s+via features\.parquet/);
    await screenshot(page, 'run');
  });

  test('trace OUTPUT with slashes and colons: URL encodes it in one segment', async () => {
    await runCommand(page, 'trace pred_2');
    await waitForView(page, `${env.url}/trace/pred_2`);
    await page.waitForSelector('.graph .node');
    // pred_2 <- predict#6 <- train#4, featuregen#3 <- featuregen#3 <- clean#2 <- ingest#1
    const nodes = await page.locator('.graph .node').evaluateAll((els) => els.map((e) => Number(e.dataset.id)).sort((a, b) => a - b));
    assert.deepEqual(nodes, [1, 2, 3, 4, 6]);
    const labels = await page.locator('.graph .edge-label').allTextContents();
    assert.ok(labels.some((l) => l.includes('model.pkl')), `edge labelled model.pkl in ${labels}`);
    assert.ok(labels.some((l) => l.includes('clean.csv')));
    await runCommand(page, `trace ${RAW}`);
    await waitForView(page, `${env.url}/trace/${encodeURIComponent(RAW)}`);
    await page.waitForSelector('.graph .node');
    assert.equal(await page.locator('.graph .node').count(), 1);
    assert.match(await page.locator('.view-head h1').innerText(), /s3:\/\/bucket\/raw\/day=1\/trips\.csv/);
  });

  test('downstream OUTPUT shows what derived from it', async () => {
    await runCommand(page, 'downstream clean.csv');
    await waitForView(page, `${env.url}/downstream/clean.csv`);
    await page.waitForSelector('.graph .node');
    const nodes = await page.locator('.graph .node').evaluateAll((els) => els.map((e) => Number(e.dataset.id)).sort((a, b) => a - b));
    // the producer (clean#2) and everything downstream of it
    for (const id of [2, 3, 4, 5, 6, 7, 8]) assert.ok(nodes.includes(id), `downstream of clean.csv has run ${id}: ${nodes}`);
    assert.ok(!nodes.includes(1) && !nodes.includes(9));
    assert.match(await page.locator('.view-lineage').innerText(), /pred_3/);
    await screenshot(page, 'downstream');
  });

  test('tag TAG lists the components with that tag', async () => {
    await runCommand(page, 'tag etl');
    await waitForView(page, `${env.url}/tag/etl`);
    await page.waitForSelector('table.components');
    const names = await page.locator('table.components tbody tr td:first-child').allTextContents();
    assert.deepEqual(names.sort(), ['clean', 'featuregen', 'ingest']);
    await screenshot(page, 'tag');
  });

  test('flag OUTPUT REASON, review, unflag OUTPUT', async () => {
    await runCommand(page, 'flag pred_1 "label mismatch"');
    await waitForView(page, `${env.url}/output/pred_1`);
    await page.waitForSelector('.flag-toggle[aria-checked="true"]');
    assert.match(await page.locator('.flag-info').innerText(), /label mismatch/);
    await runCommand(page, 'user carol');
    await runCommand(page, 'flag pred_2');
    await waitForView(page, `${env.url}/output/pred_2`);
    await page.waitForSelector('.flag-info >> text=carol');
    await page.waitForSelector('.flag-toggle[aria-checked="true"]');
    const flags = await getJson(env.url, '/flags');
    assert.deepEqual(flags.flags.map((f) => f.name).sort(), ['pred_1', 'pred_2']);
    assert.equal(flags.flags.find((f) => f.name === 'pred_2').by, 'carol', 'flags are signed with the user name');
    assert.equal(flags.flags.find((f) => f.name === 'pred_1').by, null);

    await runCommand(page, 'review');
    await waitForView(page, `${env.url}/review`);
    await page.waitForSelector('table.review-runs');
    const flagged = await page.locator('table.flagged').innerText();
    assert.match(flagged, /pred_1/);
    assert.match(flagged, /label mismatch/);
    // train#4 is in both traces: full coverage; predict#5 only in one.
    const rows = await page.locator('table.review-runs tbody tr').evaluateAll((trs) => trs.map((tr) => [tr.dataset.href, tr.querySelector('.coverage').getAttribute('aria-valuenow')]));
    const coverage = Object.fromEntries(rows);
    assert.equal(coverage['/run/4'], '100');
    assert.equal(coverage['/run/5'], '50');
    await screenshot(page, 'review');

    await runCommand(page, 'unflag pred_1');
    await waitForView(page, `${env.url}/output/pred_1`);
    await page.waitForSelector('.flag-toggle[aria-checked="false"]');
    const after = await getJson(env.url, '/flags');
    assert.deepEqual(after.flags.map((f) => f.name), ['pred_2']);
    await runCommand(page, 'unflag --all');
    await waitForView(page, `${env.url}/review`);
    await page.waitForSelector('text=Nothing flagged');
  });

  test('flag of an unknown output says why, in words', async () => {
    await runCommand(page, 'flag no-such-output.csv');
    await page.waitForSelector('#cmd-msg:not([hidden])');
    assert.match(await page.locator('#cmd-msg').innerText(), /flag failed: .*no-such-output\.csv/i);
    assert.equal((await getJson(env.url, '/flags')).flags.length, 0);
  });

  test('outdated lists components whose latest run used superseded runs', async () => {
    await runCommand(page, 'outdated');
    await waitForView(page, `${env.url}/outdated`);
    await page.waitForSelector('.outdated-item, .empty-state');
    const text = await page.locator('.view-outdated').innerText();
    assert.match(text, /train/);
    assert.match(text, /featuregen: 1 run superseded \(newest replacement #8\)/);
    // The full reasons fold away; their run ids are links.
    const train = page.locator('.outdated-item', { hasText: 'train' });
    await train.locator('.reason-details summary').click();
    assert.match(await train.locator('.reason-details').innerText(), /featuregen \(ID 3\) has been superseded by ID 8\./);
    await train.locator('.reason-details a', { hasText: 'ID 3' }).click();
    await waitForView(page, `${env.url}/run/3`);
    await page.goBack();
    await waitForView(page, `${env.url}/outdated`);
    await screenshot(page, 'outdated');
  });

  test('unknown commands and bad arguments are explained', async () => {
    await runCommand(page, 'frobnicate');
    await page.waitForSelector('#cmd-msg:not([hidden])');
    assert.match(await page.locator('#cmd-msg').innerText(), /Unknown command "frobnicate"/);
    await runCommand(page, 'inspect abc');
    assert.match(await page.locator('#cmd-msg').innerText(), /positive integer/);
    await page.keyboard.press('Escape');
  });

  test('completion: commands, then names from the suggest API; Tab accepts', async () => {
    await page.goto(`${env.url}/help`);
    await page.keyboard.press('/');
    await page.keyboard.type('hist');
    await page.waitForSelector('#cmd-list li[data-kind="command"]');
    assert.match(await page.locator('#cmd-list').innerText(), /history COMPONENT \[N\]/);
    await page.keyboard.press('Tab');
    assert.equal(await page.locator('#cmd').inputValue(), 'history ');
    await page.keyboard.type('feat');
    await page.waitForSelector('#cmd-list li[data-kind="component"]');
    assert.match(await page.locator('#cmd-list').innerText(), /featuregen/);
    await page.keyboard.press('Tab');
    assert.equal(await page.locator('#cmd').inputValue(), 'history featuregen');
    await page.keyboard.press('Enter');
    await waitForView(page, `${env.url}/history/featuregen`);

    await page.keyboard.press('/');
    await page.keyboard.type('trace mod');
    await page.waitForSelector('#cmd-list li[data-kind="output"]');
    assert.match(await page.locator('#cmd-list').innerText(), /model\.pkl/);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('Enter');
    await waitForView(page, `${env.url}/trace/model.pkl`);

    await page.keyboard.press('/');
    await page.keyboard.type('tag ml');
    await page.waitForSelector('#cmd-list li[data-kind="tag"]');
    assert.match(await page.locator('#cmd-list').innerText(), /\bml\b/);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
  });

  test('history of commands: Up recalls what ran, empty bar lists it', async () => {
    await page.keyboard.press('/');
    await page.waitForSelector('#cmd-list li[data-kind="history"]');
    const recalled = await page.locator('#cmd-list li[data-kind="history"]').allTextContents();
    assert.ok(recalled.some((t) => t.includes('trace model.pkl')), `history lists the last command: ${recalled}`);
    await page.keyboard.press('Escape');
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.locator('#cmd').inputValue(), 'trace model.pkl');
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.locator('#cmd').inputValue(), 'history featuregen');
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    assert.deepEqual(page.errors, []);
  });

  test('keyboard: j and k walk rows, Enter opens, ? and g r jump', async () => {
    await page.goto(env.url);
    await page.waitForSelector('table.runs tbody tr');
    await page.locator('body').click({ position: { x: 5, y: 300 } });
    await page.keyboard.press('j');
    await page.keyboard.press('j');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.id), '9');
    await page.keyboard.press('k');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.id), '10');
    await page.keyboard.press('Enter');
    await waitForView(page, `${env.url}/run/10`);
    await page.waitForSelector('.run-card');
    await page.keyboard.press('?');
    await waitForView(page, `${env.url}/help`);
    await page.keyboard.press('g');
    await page.keyboard.press('r');
    await waitForView(page, `${env.url}/`);
    await page.keyboard.press('Control+k');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'cmd');
    await page.keyboard.press('Escape');
  });
});
