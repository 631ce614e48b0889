// Sets the colour theme before the first paint (a classic script in <head>, so no flash):
// the user's remembered pick, or the system's preference. lib/theme.js takes over after load.
(function () {
  var theme = null;
  try { theme = localStorage.getItem('mltrace-theme'); } catch (e) { /* storage blocked */ }
  if (theme !== 'light' && theme !== 'dark') {
    theme = window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  document.documentElement.setAttribute('data-theme', theme);
})();
