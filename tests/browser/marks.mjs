// Run in the page (`context.addInitScript(marks)`): records, in the page's own clock (milliseconds
// since navigation started), when the form first shows and when the status first says the page is
// ready (or cannot be), so a test polling from outside adds nothing to the figures.
export const marks = () => {
  window.__webtune_marks = {};
  new MutationObserver(() => {
    const m = window.__webtune_marks;
    if (m.first_screen_ms === undefined && document.querySelector('[data-testid=train]')) m.first_screen_ms = performance.now();
    const s = document.querySelector('[data-testid=status]')?.dataset.state;
    if (m.ready_ms === undefined && ['ready', 'failed', 'no-webgpu'].includes(s)) { m.ready_ms = performance.now(); m.state = s; }
  }).observe(document, { subtree: true, childList: true, attributes: true });
};
