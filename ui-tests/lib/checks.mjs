// Geometric checks of what the browser drew, shared by the UI tests. Each returns a list of
// problems in words (empty when all is well), so a failure says what collided where.

import fs from 'node:fs';
import { createRequire } from 'node:module';

/** Linked runs never share a column: every edge's upstream box ends left of its downstream box. */
export function edgesGoRight(page) {
  return page.evaluate(() => {
    const rect = new Map([...document.querySelectorAll('.graph .node')].map((g) => [g.dataset.id, g.querySelector('.node-box').getBoundingClientRect()]));
    const problems = [];
    for (const e of document.querySelectorAll('.graph .edge')) {
      const a = rect.get(e.dataset.up);
      const b = rect.get(e.dataset.down);
      if (!a || !b) { problems.push(`edge ${e.dataset.up}>${e.dataset.down} has no box`); continue; }
      if (!(a.right < b.left)) problems.push(`${e.dataset.up} -> ${e.dataset.down} share a column (${Math.round(a.left)}..${Math.round(a.right)} vs ${Math.round(b.left)})`);
    }
    return problems;
  });
}

/** At load: every box inside the graph's frame, and every text at 11 px or more on screen. */
export function readableAndInside(page) {
  return page.evaluate(() => {
    const frame = document.querySelector('.graph').getBoundingClientRect();
    const m = /scale\(([\d.]+)\)/.exec(document.querySelector('.graph .viewport').getAttribute('transform'));
    const k = m ? Number(m[1]) : 1;
    const problems = [];
    for (const g of document.querySelectorAll('.graph .node')) {
      const r = g.querySelector('.node-box').getBoundingClientRect();
      if (r.left < frame.left - 0.5 || r.right > frame.right + 0.5 || r.top < frame.top - 0.5 || r.bottom > frame.bottom + 0.5) problems.push(`box ${g.dataset.id} is outside the view`);
    }
    for (const t of document.querySelectorAll('.graph text')) {
      if (t.getClientRects().length === 0) continue;
      const px = parseFloat(getComputedStyle(t).fontSize) * k;
      if (px < 10.95) problems.push(`text "${t.textContent}" renders at ${px.toFixed(1)} px`);
    }
    return problems;
  });
}

/** No two texts of the graph overlap (titles, ids, subtitles, edge labels). */
export function textsApart(page) {
  return page.evaluate(() => {
    const boxes = [];
    for (const t of document.querySelectorAll('.graph text')) {
      for (const r of t.getClientRects()) if (r.width > 0) boxes.push({ r, text: t.textContent });
    }
    const problems = [];
    for (let i = 0; i < boxes.length; i += 1) {
      for (let j = i + 1; j < boxes.length; j += 1) {
        const a = boxes[i].r;
        const b = boxes[j].r;
        const ox = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const oy = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (ox > 0.5 && oy > 0.5) problems.push(`"${boxes[i].text}" overlaps "${boxes[j].text}"`);
      }
    }
    return problems;
  });
}

/** Nothing is wider than the screen (code blocks scroll on their own, as code does). */
export function fitsWidth(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const problems = [];
    if (document.documentElement.scrollWidth > w) problems.push(`page is ${document.documentElement.scrollWidth} px wide on a ${w} px screen`);
    for (const el of document.querySelectorAll('main *')) {
      const r = el.getBoundingClientRect();
      if (r.width && r.right > w + 1 && getComputedStyle(el).position !== 'fixed' && !el.closest('.graph, pre')) {
        problems.push(`${el.tagName.toLowerCase()}.${el.className} reaches ${Math.round(r.right)} px`);
        if (problems.length > 5) break;
      }
    }
    return problems;
  });
}

const require = createRequire(import.meta.url);

/** axe-core's colour-contrast rule on the page as it is: the violations, in words. */
export async function contrastViolations(page) {
  const source = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.addScriptTag({ content: source });
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast'] }, resultTypes: ['violations'] });
    return result.violations.flatMap((v) => v.nodes.map((n) => `${n.target.join(' ')}: ${n.any.map((a) => a.message).join('; ')}`));
  });
}
