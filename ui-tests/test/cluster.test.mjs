// Cluster mode in the UI: a node of a cluster (`serve --log nats://...` on one real JetStream
// server) shows the Cluster link and a /cluster view whose figures are those of /api/v1/health;
// a second node on the same stream names the first as its writer; losing the NATS server brings
// the "writes are refused" banner, which goes when it is back. A single node has no link and
// the view says why. axe-core's contrast rule and the phone width on every state of the view.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { contrastViolations, fitsWidth } from '../lib/checks.mjs';
import { call, eventually, getJson, hoursAgo, launchBrowser, logRuns, openPage, runCommand, screenshot, startServer, waitForView } from '../lib/harness.mjs';
import { natsServerBin, startNats } from '../lib/nats.mjs';

const NO_NATS = natsServerBin()
  ? false
  : 'no nats-server binary found (apt-get install -y nats-server, or set NATS_SERVER; test.sh installs it)';

/** The figures the view shows, read from the page. */
function shown(page) {
  return page.evaluate(() => {
    const value = (name) => {
      const el = document.querySelector(`.cluster-fields [data-field="${name}"] .value`);
      return el ? el.textContent.trim() : null;
    };
    const connected = document.querySelector('.cluster-fields [data-field="connected"] .badge');
    return {
      applied_seq: value('applied_seq'),
      stream_last_seq: value('stream_last_seq'),
      lag: value('lag'),
      connected: connected ? connected.textContent.trim() : null,
    };
  });
}

/** The same figures as health gives them, in the view's words. */
function expected(health) {
  const c = health.cluster;
  return {
    applied_seq: String(c.applied_seq),
    stream_last_seq: String(c.stream_last_seq),
    lag: String(c.lag),
    connected: c.connected ? 'connected' : 'disconnected',
  };
}

/** axe-core's contrast rule on the page in both themes, and nothing wider than a phone. */
async function accessible(browser, url, label) {
  const problems = [];
  for (const theme of ['light', 'dark']) {
    const p = await openPage(browser, { colorScheme: theme });
    await p.goto(url);
    await waitForView(p, url);
    await p.waitForSelector('.cluster-fields, .single-node');
    await p.waitForTimeout(150);
    problems.push(...(await contrastViolations(p)).map((v) => `${label} (${theme}): ${v}`));
    await p.context().close();
  }
  const phone = await openPage(browser, { width: 390, height: 844 });
  await phone.goto(url);
  await waitForView(phone, url);
  await phone.waitForSelector('.cluster-fields, .single-node');
  problems.push(...(await fitsWidth(phone)).map((v) => `${label} (phone): ${v}`));
  await phone.context().close();
  return problems;
}

describe('cluster mode: a node on a NATS JetStream stream', { skip: NO_NATS }, () => {
  let nats;
  let server;
  let browser;
  let page;

  before(async () => {
    nats = await startNats();
    [server, browser] = await Promise.all([
      startServer({ args: ['--log', nats.url, '--stream', 'uitest'] }),
      launchBrowser(),
    ]);
    page = await openPage(browser);
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    await nats?.stop();
  });

  test('the Cluster link opens a view whose seqs, lag and connection are those of health', async () => {
    await call(server.url, 'PUT', '/components/train', { description: 'Trains', owner: 'bob', tags: ['ml'] });
    const runs = await logRuns(server.url, [
      { component: 'ingest', start: hoursAgo(2), end: hoursAgo(1.9), outputs: ['raw.csv'] },
      { component: 'train', start: hoursAgo(1), end: hoursAgo(0.9), inputs: ['raw.csv'], outputs: ['model.pkl'] },
    ]);
    const written = Math.max(...runs.map((r) => r.seq));
    // The stream's figures are read every second: wait until health has seen the writes.
    const health = await eventually(async () => {
      const h = await getJson(server.url, '/health');
      return h.cluster && h.cluster.stream_last_seq >= written && h.cluster.applied_seq >= written ? h : null;
    }, { timeout: 10000 });
    assert.equal(health.status, 'ok');

    await page.goto(server.url);
    await page.waitForSelector('html[data-cluster="on"]');
    const link = page.locator('#nav-cluster');
    assert.equal(await link.isVisible(), true, 'a cluster node shows the Cluster link');
    await link.click();
    await waitForView(page, `${server.url}/cluster`);
    await page.waitForSelector('.cluster-fields');
    assert.equal(await page.locator('#nav-cluster').getAttribute('aria-current'), 'page');

    // Both are read at different moments: compare until a refresh of the view meets a read of health.
    let last;
    await eventually(async () => {
      const fresh = expected(await getJson(server.url, '/health'));
      last = { fresh, view: await shown(page) };
      return JSON.stringify(last.fresh) === JSON.stringify(last.view);
    }, { timeout: 8000, interval: 250 }).catch(() => assert.deepEqual(last.view, last.fresh));
    const view = await shown(page);
    assert.equal(view.applied_seq, String(written), `the view shows the applied seq of the writes (${JSON.stringify(view)})`);
    assert.equal(view.connected, 'connected');
    assert.equal(view.lag, '0');
    const text = await page.locator('#main').innerText();
    assert.match(text, /uitest/, 'the stream is named');
    assert.match(text, /this node/, 'the only node writes itself');
    assert.match(text, /refreshed every 2 s/);
    assert.equal(await page.locator('.degraded-banner').count(), 0, 'no banner while writes work');
    const title = await page.locator('#live').getAttribute('title');
    assert.doesNotMatch(title, /behind the stream/, `no lag, no lag in the tooltip: ${title}`);

    // The view keeps reading health: a new write shows up without a reload.
    const [more] = await logRuns(server.url, [{ component: 'train', start: hoursAgo(0.5), end: hoursAgo(0.4), inputs: ['raw.csv'], outputs: ['model.pkl'] }]);
    await page.waitForFunction((seq) => {
      const el = document.querySelector('.cluster-fields [data-field="applied_seq"] .value');
      return el && Number(el.textContent) >= seq;
    }, more.seq, { timeout: 8000 });
    await screenshot(page, 'cluster');
    assert.deepEqual(page.errors, []);
  });

  test('the header tooltip and the view say how far behind the stream a node is', async () => {
    // A lagging node cannot be made on demand with one node (it catches up within milliseconds),
    // so this page gets the server's own health with a lag added on the way: what is checked is
    // that the header and the view say what health says.
    const p = await openPage(browser);
    await p.route('**/api/v1/health', async (route) => {
      const response = await route.fetch();
      const body = await response.json();
      body.cluster.stream_last_seq = body.cluster.applied_seq + 3;
      body.cluster.lag = 3;
      await route.fulfill({ response, json: body });
    });
    await p.goto(`${server.url}/cluster`);
    await p.waitForSelector('.cluster-fields');
    await p.waitForFunction(() => /3 events behind the stream/.test(document.getElementById('live').title));
    assert.equal((await shown(p)).lag, '3');
    assert.match(await p.locator('.cluster-fields [data-field="lag"]').innerText(), /3 events to apply/);
    await p.context().close();
  });

  test('a second node names the first as the writer and shows the same seqs', async () => {
    const second = await startServer({ args: ['--log', nats.url, '--stream', 'uitest'] });
    try {
      const [a, b] = await eventually(async () => {
        const ha = await getJson(server.url, '/health');
        const hb = await getJson(second.url, '/health');
        return hb.cluster && hb.cluster.writer && hb.cluster.applied_seq === ha.cluster.applied_seq ? [ha, hb] : null;
      }, { timeout: 10000 });
      assert.equal(b.cluster.is_writer, false);
      assert.equal(b.cluster.writer, a.cluster.writer, 'both nodes see one writer');
      const p = await openPage(browser);
      await p.goto(`${second.url}/cluster`);
      await p.waitForSelector('.cluster-fields');
      const writer = await p.locator('.cluster-fields [data-field="writer"]').innerText();
      assert.ok(writer.includes(b.cluster.writer), `the writer's URL is shown: ${writer}`);
      assert.match(writer, /forwards its writes there/);
      assert.equal((await shown(p)).applied_seq, String(a.cluster.applied_seq));
      assert.deepEqual(p.errors, []);
      await p.context().close();
    } finally {
      await second.stop();
    }
  });

  test('the view passes axe-core\'s contrast rule and fits a phone', async () => {
    assert.deepEqual(await accessible(browser, `${server.url}/cluster`, 'cluster'), []);
  });

  test('losing the NATS server brings the banner; writes get 503; the link stays', async () => {
    await page.goto(`${server.url}/cluster`);
    await page.waitForSelector('.cluster-fields');
    await nats.kill();
    await page.waitForSelector('.degraded-banner', { timeout: 15000 });
    const health = await getJson(server.url, '/health');
    assert.equal(health.status, 'degraded');
    const banner = await page.locator('.degraded-banner').innerText();
    assert.match(banner, /Writes are refused/);
    const reason = health.writes.replace(/^unavailable:\s*/, '');
    assert.ok(reason && banner.toLowerCase().includes(reason.toLowerCase()), `the banner gives the server's reason "${health.writes}": ${banner}`);
    await page.waitForFunction(() => {
      const el = document.querySelector('.cluster-fields [data-field="connected"] .badge');
      return el && el.textContent.trim() === 'disconnected';
    }, null, { timeout: 8000 });
    assert.match(await page.locator('.cluster-fields [data-field="staleness"]').innerText(), /up to \d/);
    assert.equal(await page.locator('#nav-cluster').isVisible(), true, 'the Cluster link stays');
    assert.match(await page.locator('#live').getAttribute('title'), /lost the cluster's stream/);
    // The server agrees: a write is refused.
    await call(server.url, 'POST', '/runs', { runs: [{ component: 'train', start: hoursAgo(0.2), end: hoursAgo(0.1), outputs: ['model.pkl'] }] }, [503]);
    await screenshot(page, 'cluster-degraded');
    assert.deepEqual(await accessible(browser, `${server.url}/cluster`, 'cluster, degraded'), []);
    assert.deepEqual(page.errors, []);
  });

  test('the NATS server back: the banner goes, the view says connected again', async () => {
    await page.goto(`${server.url}/cluster`);
    await page.waitForSelector('.degraded-banner');
    await nats.restart();
    await page.waitForSelector('.degraded-banner', { state: 'detached', timeout: 20000 });
    await page.waitForFunction(() => {
      const el = document.querySelector('.cluster-fields [data-field="connected"] .badge');
      return el && el.textContent.trim() === 'connected';
    }, null, { timeout: 8000 });
    assert.equal((await getJson(server.url, '/health')).status, 'ok');
    assert.deepEqual(page.errors, []);
  });
});

describe('a single node', () => {
  let server;
  let browser;

  before(async () => {
    [server, browser] = await Promise.all([startServer(), launchBrowser()]);
  });
  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
  });

  test('no Cluster link; the cluster command\'s view says the server runs on its own data directory', async () => {
    const page = await openPage(browser);
    await page.goto(server.url);
    await page.waitForSelector('html[data-cluster="off"]');
    assert.equal(await page.locator('#nav-cluster').isVisible(), false);
    await runCommand(page, 'cluster');
    await waitForView(page, `${server.url}/cluster`);
    await page.waitForSelector('.single-node');
    const text = await page.locator('.single-node').innerText();
    assert.match(text, /own data directory/);
    assert.match(text, /--log nats:\/\//);
    assert.equal(await page.locator('.single-node a').count(), 0, 'the explanation has no link');
    assert.equal(await page.locator('.cluster-fields').count(), 0);
    assert.equal(await page.locator('.degraded-banner').count(), 0);
    assert.deepEqual(page.errors, []);
    await page.context().close();
  });

  test('the single-node view passes axe-core\'s contrast rule and fits a phone', async () => {
    assert.deepEqual(await accessible(browser, `${server.url}/cluster`, 'cluster, single node'), []);
  });
});
