// Keyboard navigation of lists: j and k move through the rows of the current view that open
// something (rows with data-href), Enter opens the focused row.

import { navigate } from './router.js';

function isTyping(target) {
  return target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT', 'BUTTON'].includes(target.tagName));
}

export function initRowKeys() {
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const focused = document.activeElement;
    if (e.key === 'Enter' && focused && focused.dataset && focused.dataset.href && !isTyping(focused)) {
      e.preventDefault();
      navigate(focused.dataset.href);
      return;
    }
    if ((e.key !== 'j' && e.key !== 'k') || isTyping(e.target)) return;
    const rows = [...document.querySelectorAll('#main [data-href]')];
    if (rows.length === 0) return;
    e.preventDefault();
    const at = rows.indexOf(focused);
    const next = at < 0 ? 0 : Math.max(0, Math.min(rows.length - 1, at + (e.key === 'j' ? 1 : -1)));
    rows[next].tabIndex = -1;
    rows[next].focus();
    rows[next].scrollIntoView({ block: 'nearest' });
  });
}
