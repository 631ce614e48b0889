// The run card's audit evidence: the proofs the server gives are checked in the browser (leaf
// hash, RFC 9162 inclusion, the Ed25519 signature over the tree head), and a tampered proof fails.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { getJson, openPage, screenshot, setup } from '../lib/harness.mjs';
import { checkEvidence, leafHash, rootFromInclusion } from '../../ui/lib/audit.js';

const b64 = (bytes) => Buffer.from(bytes).toString('base64');

describe('audit evidence on the run card', () => {
  let env;
  let page;

  before(async () => {
    env = await setup();
    page = await openPage(env.browser);
  });
  after(async () => { await env.close(); });

  test('the checks hold for the server\'s proofs and fail for tampered ones', async () => {
    const answer = await getJson(env.url, '/runs/3?proof=true');
    const good = await checkEvidence(answer.proof);
    assert.ok(good.ok, JSON.stringify(good));
    assert.equal(good.signature, true, 'node checks Ed25519 too');
    // One byte of the event changed: its leaf no longer matches.
    const edited = structuredClone(answer.proof);
    const bytes = Buffer.from(edited.events[0].event, 'base64');
    bytes[bytes.length - 1] ^= 1;
    edited.events[0].event = bytes.toString('base64');
    assert.equal((await checkEvidence(edited)).ok, false);
    // A leaf hash recomputed for the edit, but the path still leads elsewhere than the signed root.
    edited.events[0].leaf_hash = b64(await leafHash(bytes));
    assert.equal((await checkEvidence(edited)).ok, false);
    // Another root: the signature no longer covers it.
    const reRooted = structuredClone(answer.proof);
    const e = reRooted.events[0];
    const root = await rootFromInclusion(e.leaf_index, e.size, Buffer.from(e.leaf_hash, 'base64'), e.path.map((p) => Buffer.from(p, 'base64')));
    assert.ok(root, 'the path leads to a root');
    assert.equal(b64(root), answer.proof.head.root);
    const forged = Buffer.from(root);
    forged[0] ^= 1;
    reRooted.head.root = b64(forged);
    const bad = await checkEvidence(reRooted);
    assert.equal(bad.ok, false);
  });

  test('"Prove" on the run card checks the evidence in the browser and offers the head', async () => {
    await page.goto(`${env.url}/run/3`);
    await page.locator('.evidence').waitFor({ state: 'attached' });
    await page.getByRole('button', { name: /Prove this run/ }).click();
    await page.waitForSelector('.evidence-ok');
    const text = await page.locator('.evidence').innerText();
    assert.match(text, /Checked in this browser/);
    assert.match(text, /seq \d+ ✓/);
    assert.match(text, /Signature\s+valid/);
    const href = await page.locator('.evidence a[download]').getAttribute('download');
    assert.match(href, /^mltrace-head-\d+\.json$/);
    await screenshot(page, 'run-audit-evidence');
  });
});
