// "Get OAuth Token", the related link of an outbound OAuth provider's form (Application
// Registry, "Connect to a third party OAuth Provider") and of an OAuth entity profile's, as
// ServiceNow has it.  It calls POST /api/now/ui/oauth/get_token (admins only; nowd runs the
// profile's grant as nowctl oauth get-token does and stores the token) and shows the outcome
// and the token's expiry, never a token.  The password grant asks for the resource owner's
// user name and password first (sent once, kept nowhere).  authorization_code opens the
// provider's sign-in page in a window; the provider sends that window back to the instance's
// /oauth_redirect.do, which stores the token and says so there.
import { call as api } from './elevate.js';
import { h, clear, message, errorText } from './dom.js';

const PATH = '/api/now/ui/oauth/get_token';

function val(rec, el) {
  const v = rec && rec[el];
  return v && typeof v === 'object' ? String(v.value == null ? '' : v.value) : String(v == null ? '' : v);
}

// The Related Links section of table's record rec, or null when it has none.
export function oauthRelatedLinks(table, rec) {
  let grant;
  if (table === 'oauth_entity' && val(rec, 'type') === 'oauth_provider') grant = val(rec, 'default_grant_type');
  else if (table === 'oauth_entity_profile') grant = val(rec, 'grant_type');
  else return null;
  const sysId = val(rec, 'sys_id');
  const msgs = h('div', { class: 'sg-msgs', id: 'sg-oauth-token-msgs' });
  const link = h('button', { type: 'button', class: 'sg-link', id: 'sg-get-oauth-token',
    onclick: () => (grant === 'password' ? askOwner(run) : run({})) }, 'Get OAuth Token');
  return h('section', { class: 'sg-related sg-related-links', 'aria-labelledby': 'sg-related-links-title' },
    h('h2', { id: 'sg-related-links-title' }, 'Related Links'), h('ul', {}, h('li', {}, link)), msgs);

  async function run(owner) {
    clear(msgs);
    link.disabled = true;
    msgs.setAttribute('aria-busy', 'true');
    const wait = message(msgs, 'info', 'Getting an OAuth token from the provider...');
    let res;
    try {
      res = await api('POST', PATH, Object.assign({ profile: sysId }, owner));
    } finally {
      link.disabled = false;
      wait.remove();
      msgs.removeAttribute('aria-busy');
    }
    const r = res.json && res.json.result;
    if (res.ok && r && r.status === 'success') {
      message(msgs, 'info', 'OAuth token flow completed successfully. The access token expires ' + r.expires + ' UTC (in ' +
        duration(r.expires_in) + ')' + (r.refresh_token ? ', with a refresh token' : '') + (r.scope ? '; scope: ' + r.scope : '') + '.');
    } else if (res.ok && r && r.status === 'authorize') {
      const win = window.open(r.authorize_url, 'sg-oauth-authorize', 'popup,width=640,height=720');
      const box = message(msgs, 'info', win
        ? 'Sign in at the OAuth provider in the window that opened and allow access: the provider sends it back to this instance, which stores the token and says so there.'
        : 'The browser blocked the provider\'s window: open the link, sign in and allow access; the provider sends you back to this instance, which stores the token.');
      box.insertBefore(h('p', {}, h('a', { href: r.authorize_url, target: '_blank', rel: 'noopener', id: 'sg-oauth-authorize' },
        'The OAuth provider\'s sign-in page')), box.lastChild);
    } else {
      const e = res.json && res.json.error;
      message(msgs, 'error', e && e.reason ? 'OAuth flow failed: ' + e.detail : errorText(res));
    }
  }
}

function duration(s) {
  const n = Number(s) || 0;
  if (n >= 7200) return Math.round(n / 3600) + ' hours';
  if (n >= 120) return Math.round(n / 60) + ' minutes';
  return n + ' seconds';
}

// The resource owner's user name and password (the password grant); then(owner) after OK.
function askOwner(then) {
  const user = h('input', { type: 'text', id: 'sg-oauth-user', autocomplete: 'off', required: true });
  const pass = h('input', { type: 'password', id: 'sg-oauth-password', autocomplete: 'off', required: true });
  const dlg = h('dialog', { class: 'sg-dialog', 'aria-labelledby': 'sg-oauth-owner-title', id: 'sg-oauth-owner' },
    h('h2', { id: 'sg-oauth-owner-title' }, 'Get OAuth Token'),
    h('p', {}, 'The password grant signs in at the provider as its user: the password is sent once and kept nowhere.'),
    h('p', {}, h('label', { for: 'sg-oauth-user' }, 'User name'), ' ', user),
    h('p', {}, h('label', { for: 'sg-oauth-password' }, 'Password'), ' ', pass),
    h('form', { method: 'dialog' },
      h('button', { value: 'cancel', formnovalidate: true }, 'Cancel'),
      h('button', { value: 'ok', class: 'sg-primary', id: 'sg-oauth-owner-ok' }, 'Get OAuth Token')));
  document.body.append(dlg);
  dlg.addEventListener('close', () => {
    const owner = { user_name: user.value.trim(), password: pass.value };
    pass.value = '';
    const ok = dlg.returnValue === 'ok' && owner.user_name && owner.password;
    dlg.remove();
    if (ok) then(owner);
  });
  dlg.showModal();
  user.focus();
}
