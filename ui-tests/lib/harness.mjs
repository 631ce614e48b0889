// Test harness: starts the real `mltrace serve` on a free loopback port with a fresh data dir,
// logs data over HTTP, and drives Debian's Chromium through playwright-core.
//
// Env: MLTRACE_BIN (default ../target/debug/mltrace), CHROMIUM (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const TESTS_DIR = path.resolve(here, '..');
export const SCREENSHOTS = path.join(TESTS_DIR, 'screenshots');
export const BIN = process.env.MLTRACE_BIN
  ? path.resolve(process.env.MLTRACE_BIN)
  : path.resolve(TESTS_DIR, '..', 'target', 'debug', 'mltrace');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A port that was free a moment ago: bind 127.0.0.1:0, read the port, close. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Starts `mltrace serve` on a fresh data dir; resolves once /api/v1/health answers. */
export async function startServer({ args = [], dataDir: given = null, port: fixedPort = null } = {}) {
  if (!fs.existsSync(BIN)) throw new Error(`mltrace binary not found at ${BIN}: build it with cargo build --workspace, or set MLTRACE_BIN`);
  const dataDir = given || fs.mkdtempSync(path.join(os.tmpdir(), 'mltrace-ui-test-'));
  let lastError = null;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = fixedPort || await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child = spawn(BIN, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    });
    let output = '';
    child.stdout.on('data', (d) => { output += d; });
    child.stderr.on('data', (d) => { output += d; });
    let exited = null;
    child.on('exit', (code, signal) => { exited = { code, signal }; });
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(`${url}/api/v1/health`);
        // 401 counts as up: a server started with --token answers it until given the token.
        if (res.ok || res.status === 401) {
          return {
            url,
            dataDir,
            output: () => output,
            port,
            /** Stops the server; `keep` leaves the data directory for a restart (an outage). */
            async stop({ keep = false } = {}) {
              if (!exited) {
                child.kill('SIGTERM');
                const t = Date.now();
                while (!exited && Date.now() - t < 5000) await sleep(50);
                if (!exited) child.kill('SIGKILL');
              }
              if (!keep) fs.rmSync(dataDir, { recursive: true, force: true });
            },
          };
        }
      } catch { /* not listening yet */ }
      await sleep(100);
    }
    if (!exited) child.kill('SIGKILL');
    lastError = new Error(`mltrace serve did not become healthy on ${url}: ${exited ? `exited ${JSON.stringify(exited)}` : 'timeout'}\n${output}`);
  }
  if (!given) fs.rmSync(dataDir, { recursive: true, force: true });
  throw lastError;
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}

/** A page in a fresh browser context; page.errors collects uncaught page errors. */
export async function openPage(browser, { colorScheme = 'light', width = 1360, height = 860 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, colorScheme, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(10000);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  return page;
}

export async function screenshot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** Calls the API; throws with the answer when the status is not the expected one. */
export async function call(url, method, apiPath, body, expect = [200, 201]) {
  const res = await fetch(`${url}/api/v1${apiPath}`, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!expect.includes(res.status)) throw new Error(`${method} ${apiPath} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

export const logRuns = (url, runs) => call(url, 'POST', '/runs', { runs }).then((a) => a.runs);
export const getJson = (url, apiPath) => call(url, 'GET', apiPath);

/** Types a command into the command bar and runs it. */
export async function runCommand(page, line) {
  await page.keyboard.press('Escape');
  await page.locator('#cmd').click();
  await page.locator('#cmd').fill(line);
  await page.locator('#cmd').press('Enter');
}

/** Waits for the URL, then for the view to finish loading its data. */
export async function waitForView(page, url) {
  await page.waitForURL(url);
  await page.waitForSelector('#main:not([aria-busy])', { state: 'attached' });
}

export const hoursAgo = (h) => new Date(Date.now() - h * 3600 * 1000).toISOString();

export const RAW = 's3://bucket/raw/day=1/trips.csv';

/**
 * A small taxi-tip pipeline. Ids in log order:
 * 1 ingest, 2 clean, 3 featuregen, 4 train, 5-7 predict (pred_1..3), 8 featuregen again
 * (so train's latest run is outdated), 9 ingest of labels (a second source), 10 report of
 * pred_1, stale because predict ran twice more after run 5 and before it.
 */
export async function seedPipeline(url) {
  await call(url, 'PUT', '/components/ingest', { description: 'Pulls raw NYC taxi trips', owner: 'alice', tags: ['etl', 'nyc-taxicab'] });
  await call(url, 'PUT', '/components/clean', { description: 'Cleans raw trips', owner: 'plumber', tags: ['etl'] });
  await call(url, 'PUT', '/components/featuregen', { description: 'Generates features for high tip prediction', owner: 'spark-gymnast', tags: ['etl', 'features'] });
  await call(url, 'PUT', '/components/train', { description: 'Trains the tip classifier', owner: 'bob', tags: ['ml'] });
  const t = (h) => hoursAgo(240 - h);
  const ids = await logRuns(url, [
    { component: 'ingest', start: t(0), end: t(0.2), outputs: [RAW] },
    { component: 'clean', start: t(1), end: t(1.1), inputs: [RAW], outputs: ['clean.csv'] },
    {
      component: 'featuregen', start: t(2), end: t(2.5), inputs: ['clean.csv'], outputs: ['features.parquet'],
      code_snapshot: 'def featuregen(df):\n    df["tip_frac"] = df.tip / df.fare\n    return df\n',
    },
    {
      component: 'train', start: t(3), end: t(4), inputs: ['features.parquet'], outputs: ['model.pkl'],
      git_hash: '9f2c1e0a7b3d4c5e6f708192a3b4c5d6e7f80912', git_tags: ['v1.2'],
      code_snapshot: 'def train(df):\n    model = fit(df)\n    return model\n',
      notes: 'first model',
      tests: [
        { name: 'OutliersTest.testZScore', phase: 'before', passed: true, message: null },
        { name: 'AccuracyTest.testMinimum', phase: 'after', passed: false, message: 'accuracy 0.61 < 0.70' },
      ],
    },
    { component: 'predict', start: t(5), end: t(5.01), inputs: ['model.pkl', 'features.parquet'], outputs: ['pred_1'] },
    { component: 'predict', start: t(6), end: t(6.01), inputs: ['model.pkl', 'features.parquet'], outputs: ['pred_2'] },
    { component: 'predict', start: t(7), end: t(7.01), inputs: ['model.pkl', 'features.parquet'], outputs: ['pred_3'] },
    { component: 'featuregen', start: t(8), end: t(8.5), inputs: ['clean.csv'], outputs: ['features.parquet'] },
    { component: 'ingest', start: t(9), end: t(9.1), outputs: ['labels.csv'] },
    { component: 'report', start: t(10), end: t(10.2), inputs: ['pred_1'], outputs: ['report.html'] },
  ]);
  return ids.map((r) => r.id);
}

/** Waits until fn() is truthy (polling), for API-side effects. */
export async function eventually(fn, { timeout = 5000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(interval);
  }
  throw new Error(`condition not met in ${timeout} ms (last: ${JSON.stringify(last)})`);
}

/** Starts a server and a browser for a test file; returns them and a cleanup. */
export async function setup({ seed = true, args = [] } = {}) {
  const [server, browser] = await Promise.all([startServer({ args }), launchBrowser()]);
  const ids = seed ? await seedPipeline(server.url) : [];
  const env = {
    server, browser, ids, url: server.url,
    async close() {
      await browser.close().catch(() => {});
      // A test may have restarted the server (an outage): stop the one running now.
      await env.server.stop();
    },
  };
  return env;
}
