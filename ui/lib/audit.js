// Evidence for a run, checked in the browser: the events behind the run card, their inclusion
// proofs in the log's Merkle tree (RFC 6962 / 9162), and the server's Ed25519 signature over the
// tree head. Everything is recomputed here with WebCrypto from the bytes the server sent, so the
// verdict does not rest on the server saying "ok"; the head can be saved for `mltrace audit check`.

const enc = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const b64 = (bytes) => btoa(String.fromCharCode(...bytes));

async function sha256(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let at = 0;
  for (const p of parts) { buf.set(p, at); at += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

const same = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 6962's leaf hash: SHA-256(0x00 || the event's bytes as stored). */
export const leafHash = (event) => sha256(Uint8Array.of(0), event);

/** RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or null if it cannot. */
export async function rootFromInclusion(index, size, leaf, path) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(Uint8Array.of(1), p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await sha256(Uint8Array.of(1), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** The 50 bytes a tree head's signature covers (RFC 6962's TreeHeadSignature). */
export function signedMessage(size, timestamp, root) {
  const m = new Uint8Array(50);
  const view = new DataView(m.buffer);
  m[0] = 0;
  m[1] = 1;
  view.setBigUint64(2, BigInt(Math.max(0, timestamp)));
  view.setBigUint64(10, BigInt(size));
  m.set(root, 18);
  return m;
}

async function signatureHolds(head) {
  try {
    const key = await crypto.subtle.importKey('raw', enc(head.public_key), { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, enc(head.signature),
      signedMessage(head.size, head.timestamp, enc(head.root)));
  } catch {
    return null; // this browser has no Ed25519 in WebCrypto
  }
}

/**
 * Checks the evidence `?proof=true` answered; answers {ok, head, events: [{seq, ok, why}], signature}.
 * `signature` is true, false, or null when the browser cannot check Ed25519.
 */
export async function checkEvidence(proof) {
  const head = proof.head;
  const root = enc(head.root);
  const events = [];
  for (const e of proof.events || []) {
    const leaf = await leafHash(enc(e.event));
    if (!same(leaf, enc(e.leaf_hash))) {
      events.push({ seq: e.seq, ok: false, why: 'its bytes do not hash to the leaf the server named' });
      continue;
    }
    const got = await rootFromInclusion(e.leaf_index, e.size, leaf, (e.path || []).map(enc));
    const ok = got !== null && e.size === head.size && same(got, root);
    events.push({ seq: e.seq, ok, why: ok ? '' : 'its inclusion proof does not lead to the signed root' });
  }
  const signature = await signatureHolds(head);
  return { ok: events.every((e) => e.ok) && signature !== false, head, events, signature, rootB64: b64(root) };
}
