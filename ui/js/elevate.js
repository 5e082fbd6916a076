// Role elevation, as ServiceNow's UI does it: security_admin is in effect only once the
// user elevates for the session (the "Elevate Roles" dialog).  Every view's REST call goes
// through call(), which then carries X-Snowglobe-Elevate (nowd honours it for a holder of the
// role when snowglobe.rest.allow_elevation is true; otherwise the refusal stays and is shown).
// The choice is kept for this tab and this session only: it is stored with the session's
// CSRF token and ignored under another one (after signing in again).
import { api } from './api.js';
import { h, clear } from './dom.js';

const KEY = 'sg.elevate';
const ROLE = 'security_admin';

function token() {
  return document.querySelector('meta[name="sg-ck"]').content;
}

export function elevatedRole() {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    return v && v.ck === token() ? v.role : '';
  } catch (e) {
    return '';
  }
}

function setElevated(role) {
  try {
    if (role) sessionStorage.setItem(KEY, JSON.stringify({ ck: token(), role }));
    else sessionStorage.removeItem(KEY);
  } catch (e) { /* storage disabled: no elevation */ }
  renderElevationStatus();
}

export function call(method, path, body, headers = {}) {
  const role = elevatedRole();
  return api(method, path, body, role ? Object.assign({ 'X-Snowglobe-Elevate': role }, headers) : headers);
}

// The "Elevate Roles" dialog; then() runs after the user elevated.
export function elevationPrompt(then) {
  const box = h('input', { type: 'checkbox', id: 'sg-elevate-role', value: ROLE });
  const dlg = h('dialog', { class: 'sg-dialog', 'aria-labelledby': 'sg-elevate-title', id: 'sg-elevate-dialog' },
    h('h2', { id: 'sg-elevate-title' }, 'Elevate Roles'),
    h('p', {}, 'Access controls and security settings need an elevated role in effect for this session.'),
    h('p', {}, box, ' ', h('label', { for: 'sg-elevate-role' }, ROLE)),
    h('form', { method: 'dialog' },
      h('button', { value: 'cancel' }, 'Cancel'),
      h('button', { value: 'ok', class: 'sg-primary', id: 'sg-elevate-ok' }, 'OK')));
  document.body.append(dlg);
  dlg.addEventListener('close', () => {
    const ok = dlg.returnValue === 'ok' && box.checked;
    dlg.remove();
    if (ok) {
      setElevated(ROLE);
      then();
    }
  });
  dlg.showModal();
  box.focus();
}

// Offered with a 403 when no role is elevated yet.
export function elevateOffer(res, then) {
  if (res.status !== 403 || elevatedRole()) return null;
  return h('button', { type: 'button', id: 'sg-elevate', onclick: () => elevationPrompt(then) }, 'Elevate role');
}

// "Elevated: security_admin [Drop]" at the top of the navigator.
export function renderElevationStatus() {
  const nav = document.getElementById('sg-nav');
  if (!nav) return;
  let box = document.getElementById('sg-elevation');
  if (!box) {
    box = h('div', { id: 'sg-elevation', role: 'status' });
    nav.prepend(box);
  }
  clear(box);
  const role = elevatedRole();
  box.hidden = !role;
  if (role) {
    box.append(h('span', {}, 'Elevated: ' + role), ' ',
      h('button', { type: 'button', class: 'sg-link', onclick: () => { setElevated(''); window.location.reload(); } }, 'Drop'));
  }
}
