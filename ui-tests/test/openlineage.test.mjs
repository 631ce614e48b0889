// The run card of OpenLineage runs: a failed task with its error and its parent (a link to the
// DAG run), and a running DAG run with how long it has been running.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { call, hoursAgo, openPage, setup, waitForView } from '../lib/harness.mjs';

const DAG = '0190c0de-0000-7000-8000-00000000da90';
const TASK = '0190c0de-0000-7000-8000-0000000000a1';

function event(type, time, runId, job, runFacets = {}, outputs = []) {
  return {
    eventType: type, eventTime: time, producer: 'https://example.com/ui-test',
    schemaURL: 'https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent',
    run: { runId, facets: runFacets }, job: { namespace: 'airflow', name: job }, inputs: [], outputs,
  };
}

describe('OpenLineage runs on the run card', () => {
  let env;
  let page;

  before(async () => {
    env = await setup({ seed: false });
    page = await openPage(env.browser);
    const meta = { _producer: 'p', _schemaURL: 's' };
    await call(env.url, 'POST', '/lineage', [
      event('START', hoursAgo(2), DAG, 'nightly', { nominalTime: { ...meta, nominalStartTime: hoursAgo(2) } }),
      event('START', hoursAgo(1.9), TASK, 'nightly.load', {
        parent: { ...meta, run: { runId: DAG }, job: { namespace: 'airflow', name: 'nightly' } },
        processing_engine: { ...meta, name: 'Airflow', version: '2.10.0' },
      }, [{ namespace: 's3://lake', name: 'orders.parquet' }]),
      event('FAIL', hoursAgo(1.8), TASK, 'nightly.load', {
        errorMessage: { ...meta, message: 'relation "orders" does not exist', programmingLanguage: 'python' },
      }),
    ]);
  });
  after(async () => { await env.close(); });

  test('a failed task shows its error and links to its parent run', async () => {
    await page.goto(`${env.url}/run/2`);
    await page.waitForSelector('.run-card .openlineage');
    const card = await page.locator('.run-card').innerText();
    assert.match(card, /failed/);
    assert.match(card, /relation "orders" does not exist/);
    assert.match(card, /Airflow 2\.10\.0/);
    assert.match(card, new RegExp(TASK));
    // Fields the events did not give each show a dash of their own.
    for (const label of ['Nominal time', 'Environment', 'Source']) {
      assert.match(await page.locator('.openlineage .field', { hasText: label }).innerText(), /—/, label);
    }
    await page.locator('.openlineage a', { hasText: '#1' }).first().click();
    await waitForView(page, `${env.url}/run/1`);
    await page.waitForSelector('.run-status.running');
    assert.match(await page.locator('.run-status').innerText(), /running for 2 h/);
    // The DAG run completes while its card is open: the card redraws without the badge.
    await call(env.url, 'POST', '/lineage', event('COMPLETE', hoursAgo(0), DAG, 'nightly'));
    await page.waitForSelector('.run-status.running', { state: 'detached' });
    assert.match(await page.locator('.openlineage').innerText(), /START\s*COMPLETE/);
    assert.deepEqual(page.errors, []);
  });
});
