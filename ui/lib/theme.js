// Light and dark themes: follow the system until the user picks one, then remember the pick.
// The first paint is set by /theme.js (a classic script in <head>) so the page never flashes.

const KEY = 'mltrace-theme';
const media = window.matchMedia('(prefers-color-scheme: dark)');

export function storedTheme() {
  try {
    const t = localStorage.getItem(KEY);
    return t === 'light' || t === 'dark' ? t : null;
  } catch { return null; }
}

export const activeTheme = () => document.documentElement.dataset.theme || (media.matches ? 'dark' : 'light');

function apply() {
  const theme = storedTheme() || (media.matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
  document.documentElement.dataset.themeSource = storedTheme() ? 'user' : 'system';
  for (const fn of listeners) fn(theme);
}

const listeners = new Set();
export function onThemeChange(fn) { listeners.add(fn); fn(activeTheme()); }

/** 'light', 'dark', or 'system' (forget the pick and follow the operating system). */
export function setTheme(mode) {
  try {
    if (mode === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, mode);
  } catch { /* private mode: the pick lasts for this page */ }
  if (mode !== 'system') document.documentElement.dataset.theme = mode;
  apply();
}

export function toggleTheme() {
  setTheme(activeTheme() === 'dark' ? 'light' : 'dark');
}

export function initTheme() {
  media.addEventListener('change', apply);
  apply();
}
