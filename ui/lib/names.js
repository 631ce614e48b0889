// Short names for I/O pointers: one rule for every place a name is shown in little room (tables,
// edge labels, chips). Owns: which segments of a name tell it apart from its neighbours.
// Never: hides the full name (callers put it in a title and behind a copy button).
//
// The rule: split on `/`; drop the segments shared by every name in the group (the prefix
// neighbours have in common); keep the last segments and any partition (`key=value`) or date
// segment; add segments from the end until the names in the group are pairwise distinct. A gap
// shows as `…`. A name that fits is left whole.

const DATE = /(^|[^0-9])(19|20)\d\d[-_/]?(0[1-9]|1[0-2])([-_/]?\d\d)?([^0-9]|$)/;
const PARTITION = /^[^=]+=.+$/;

/** Whether a path segment carries a date or a partition key (kept when shortening). */
export function isMarker(segment) {
  return PARTITION.test(segment) || DATE.test(segment);
}

function segmentsOf(name) {
  // `s3://bucket/a/b` -> ['s3://bucket', 'a', 'b']: the scheme stays with its host.
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)(\/.*)?$/i.exec(name);
  if (m) return [m[1], ...(m[2] || '').split('/').filter((s, i) => i > 0 || s !== '')];
  return name.split('/');
}

/** How many leading segments all the split names share (never all of any name). */
function sharedPrefix(split) {
  if (split.length < 2) return 0;
  let n = 0;
  for (;;) {
    const seg = split[0][n];
    if (seg === undefined) return n;
    for (const s of split) if (s[n] !== seg || s.length <= n + 1) return n;
    n += 1;
  }
}

function render(segs, keep) {
  const out = [];
  let gap = false;
  segs.forEach((seg, i) => {
    if (keep.has(i)) {
      if (gap || (out.length === 0 && i > 0)) out.push('…');
      out.push(seg);
      gap = false;
    } else gap = true;
  });
  if (gap && out.length) out.push('…');
  return out.join('/').replace(/^…\//, '…/');
}

/**
 * Short forms of a group of names shown together: Map name -> short text. `max` is the length
 * below which a name is left whole; `tail` how many last segments are always kept.
 */
export function shortNames(names, { max = 28, tail = 2 } = {}) {
  const unique = [...new Set(names.filter((n) => typeof n === 'string'))];
  const split = unique.map(segmentsOf);
  const shared = unique.length > 1 ? sharedPrefix(split) : 0;
  const keeps = split.map((segs) => {
    const keep = new Set();
    for (let i = Math.max(shared, segs.length - tail); i < segs.length; i += 1) keep.add(i);
    segs.forEach((seg, i) => { if (i >= shared && isMarker(seg)) keep.add(i); });
    return keep;
  });
  const result = new Map();
  const texts = () => unique.map((name, i) => (name.length <= max ? name : render(split[i], keeps[i])));
  let current = texts();
  // Widen the names that still collide, one segment at a time from the end.
  for (let round = 0; round < 12; round += 1) {
    const seen = new Map();
    current.forEach((t, i) => { if (!seen.has(t)) seen.set(t, []); seen.get(t).push(i); });
    let widened = false;
    for (const group of seen.values()) {
      if (group.length < 2) continue;
      for (const i of group) {
        const segs = split[i];
        for (let j = segs.length - 1; j >= 0; j -= 1) {
          if (!keeps[i].has(j)) { keeps[i].add(j); widened = true; break; }
        }
      }
    }
    if (!widened) break;
    current = texts();
  }
  unique.forEach((name, i) => result.set(name, current[i]));
  return result;
}

/** The short form of one name on its own (no neighbours to compare with). */
export function shortName(name, options) {
  return shortNames([name], options).get(name) || name;
}

/** A name cut after each `/`, for places that may wrap it there (and nowhere else). */
export function breakParts(name) {
  return String(name).split(/(?<=\/)(?=[^/])/);
}
