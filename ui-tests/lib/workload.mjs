// The load generator's pipeline (benches/src/workload.rs) at UI-test scale, generated here so that
// the UI tests need nothing but the server: hourly cycles of ingest -> clean -> featgen per
// partition, one train per cycle warm-starting from the previous model (chains of `chain`), and
// one inference per partition. Object-store names of about 55 characters that differ only in
// their date, hour and partition; the model is always written to the same path, its versions told
// apart by content hash. A share of the predictions is flagged, with a few reasons and people.

import { call, logRuns } from './harness.mjs';

const BASE = Date.parse('2026-01-01T00:00:00Z');
const HOUR = 3600 * 1000;

function when(cycle) {
  const t = new Date(BASE + cycle * HOUR);
  const pad = (n) => String(n).padStart(2, '0');
  return `date=${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())}/hour=${pad(t.getUTCHours())}`;
}

export const MODEL = 's3://acme-models/churn/latest/model.pkl';

/**
 * The runs and flags of about `runs` runs: {runs: [...], flags: [{outputs, reason, by}],
 * lastChainEnd: the cycle whose model ends a full warm-start chain (its trace is the biggest)}.
 */
export function generate({ runs: target = 20000, partitions = 4, chain = 50, flagEvery = 5 } = {}) {
  const runs = [];
  const flags = new Map();
  const perCycle = partitions * 4 + 1;
  const cycles = Math.ceil(target / perCycle);
  let predictions = 0;
  const reasons = ['score drift', 'label mismatch', 'null spike in features'];
  const people = ['alice', 'bob', 'drift-monitor'];
  let lastChainEnd = 0;
  for (let c = 0; c < cycles; c += 1) {
    const at = (step) => new Date(BASE + c * HOUR + step * 60000).toISOString();
    const part = (p) => `part-${String(p).padStart(4, '0')}`;
    const features = [];
    for (let p = 0; p < partitions; p += 1) {
      const raw = `s3://acme-raw/events/${when(c)}/${part(p)}.jsonl`;
      const ingested = `s3://acme-lake/ingest/events/${when(c)}/${part(p)}.parquet`;
      const clean = `s3://acme-lake/clean/events/${when(c)}/${part(p)}.parquet`;
      const feat = `s3://acme-lake/features/churn/${when(c)}/${part(p)}.parquet`;
      runs.push({ component: 'ingest', start: at(p), end: at(p + 1), inputs: [raw], outputs: [ingested], git_hash: 'a1b2c3d' });
      runs.push({ component: 'clean', start: at(p + 2), end: at(p + 3), inputs: [ingested], outputs: [clean], git_hash: 'a1b2c3d' });
      runs.push({ component: 'featgen', start: at(p + 4), end: at(p + 5), inputs: [clean], outputs: [feat], git_hash: 'a1b2c3d' });
      features.push(feat);
    }
    const warm = c % chain !== 0;
    if (c % chain === chain - 1) lastChainEnd = c;
    runs.push({
      component: 'churn.train', start: at(20), end: at(30),
      inputs: [...features, ...(warm ? [{ name: MODEL, hash: `sha256:model-${c - 1}` }] : [])],
      outputs: [{ name: MODEL, hash: `sha256:model-${c}` }], git_hash: 'f00dfeed',
    });
    for (let p = 0; p < partitions; p += 1) {
      const pred = `s3://acme-preds/churn/${when(c)}/${part(p)}.parquet`;
      runs.push({ component: 'infer', start: at(31 + p), end: at(32 + p), inputs: [{ name: MODEL, hash: `sha256:model-${c}` }, features[p]], outputs: [pred], git_hash: 'f00dfeed' });
      predictions += 1;
      if (predictions % flagEvery === 0) {
        const key = `${reasons[c % 3]}|${people[p % 3]}`;
        if (!flags.has(key)) flags.set(key, []);
        flags.get(key).push(pred);
      }
    }
  }
  return {
    runs,
    flags: [...flags.entries()].map(([key, outputs]) => { const [reason, by] = key.split('|'); return { outputs, reason, by }; }),
    lastChainEnd,
    lastCycle: cycles - 1,
    predictionOf: (c, p) => `s3://acme-preds/churn/${when(c)}/part-${String(p).padStart(4, '0')}.parquet`,
    rawOf: (c, p) => `s3://acme-raw/events/${when(c)}/part-${String(p).padStart(4, '0')}.jsonl`,
  };
}

/** Logs the workload over HTTP in batches, then the flags; returns the workload. */
export async function load(url, options) {
  const w = generate(options);
  for (let i = 0; i < w.runs.length; i += 5000) await logRuns(url, w.runs.slice(i, i + 5000));
  for (const f of w.flags) await call(url, 'POST', '/flag', f);
  return w;
}
