// A short confirmation at the bottom of the page ("Flagged model.pkl"), read out by screen readers.

let timer = null;

export function toast(text, kind = 'ok') {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.classList.add('show');
  clearTimeout(timer);
  timer = setTimeout(() => el.classList.remove('show'), 3500);
}
