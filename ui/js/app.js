// The console's entry point: routes by the page's path the way ServiceNow's URLs do
// (navpage.do → home, {table}_list.do → list, {table}.do → form).  Links are real links;
// a link to another console page is followed in place (history.pushState) and Back works.
import { renderNav } from './nav.js';
import { renderList } from './list.js';
import { renderForm } from './form.js';
import { renderHome } from './home.js';
import { user } from './api.js';
import { renderElevationStatus } from './elevate.js';
import { h, clear } from './dom.js';
import { renderOAuthChooser } from './guide.js';
import { renderJournal, JOURNAL_PATH } from './journal.js';
import { renderOutboundLog, OUTBOUND_LOG_PATH } from './outbound_log.js';
// Not used here: imported so the browser fetches every module at once rather than one
// level of imports after another (app.html is fixed and has no modulepreload links).
import './meta.js';
import './query.js';
import './filter.js';
import './lookup.js';
import './elevate.js';
import './oauth_token.js';

const PAGE = /^\/(?:navpage\.do|([a-z0-9_]+)_list\.do|([a-z0-9_]+)\.do)$/;

export function route() {
  const main = document.getElementById('sg-main');
  clear(main);
  const m = PAGE.exec(window.location.pathname);
  const params = new URLSearchParams(window.location.search);
  let done;
  if (window.location.pathname === JOURNAL_PATH) done = renderJournal(main, params);
  else if (window.location.pathname === OUTBOUND_LOG_PATH) done = renderOutboundLog(main, params);
  else if (m && m[2] === 'oauth_entity' && (params.get('sys_id') || '-1') === '-1' && !params.get('sysparm_query')) {
    done = renderOAuthChooser(main); // the Application Registry's "New": which kind of application
  } else if (!m || (!m[1] && !m[2])) done = renderHome(main);
  else if (m[1]) done = renderList(main, m[1], params);
  else done = renderForm(main, m[2], params);
  return Promise.resolve(done).catch((e) => {
    main.append(h('div', { class: 'sg-msg sg-msg-error', role: 'alert' }, String(e && e.message ? e.message : e)));
  }).finally(() => {
    // The time a view took, for measuring (performance.getEntriesByName('sg-ready')).
    performance.mark('sg-ready', { detail: window.location.pathname + window.location.search });
    document.body.setAttribute('data-sg-ready', window.location.pathname + window.location.search);
  });
}

// Navigates within the console without a page load; other targets load as usual.
export function go(href, replace = false) {
  const url = new URL(href, window.location.href);
  if (url.origin !== window.location.origin || !PAGE.test(url.pathname)) {
    window.location.assign(url.href);
    return;
  }
  if (replace) history.replaceState(null, '', url.pathname + url.search);
  else history.pushState(null, '', url.pathname + url.search);
  document.body.removeAttribute('data-sg-ready');
  route().then(() => document.getElementById('sg-main').focus({ preventScroll: true }));
}

document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const a = ev.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, window.location.href);
  if (url.origin !== window.location.origin || !PAGE.test(url.pathname)) return;
  ev.preventDefault();
  go(url.pathname + url.search);
});

window.addEventListener('popstate', () => {
  document.body.removeAttribute('data-sg-ready');
  route();
});

document.getElementById('sg-user').textContent = user();
renderNav();
renderElevationStatus();
route();
