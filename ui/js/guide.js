// The vendor guides' screens beyond the generic list and form: the Application Registry's
// "New" (what kind of OAuth application), the values a new record's form starts with
// (sysparm_query on sys_id=-1, as ServiceNow's "New" on a related list passes them), and the
// related lists that edit a many-to-many table in place: a user's Roles and Groups, an OAuth
// application's Auth scopes.
import { call as api } from './elevate.js';
import { h, clear, message, errorText } from './dom.js';
import { tablePath, recordPath } from './meta.js';

// /oauth_entity.do?sys_id=-1 without sysparm_query: the kinds of application, as
// ServiceNow's interceptor offers them; each goes to the form with its type set.
export function renderOAuthChooser(main) {
  document.title = 'Application Registry: what kind of OAuth application? | Snowglobe';
  const kinds = [
    ['Create an OAuth API endpoint for external clients', 'type=client',
      'An external client (a connector, a script) gets tokens from this instance: client id, client secret, grant type, the user it runs as.'],
    ['Connect to a third party OAuth Provider', 'type=oauth_provider',
      'This instance gets tokens from another service for its outbound REST messages: once saved, its form\'s "Get OAuth Token" gets one.'],
  ];
  main.append(h('h1', {}, 'What kind of OAuth application?'),
    h('ul', { class: 'sg-tiles sg-kinds' }, kinds.map(([label, query, what]) => h('li', {},
      h('a', { href: '/oauth_entity.do?sys_id=-1&sysparm_query=' + encodeURIComponent(query), 'aria-describedby': 'sg-kind-' + query.slice(5) }, label),
      h('p', { id: 'sg-kind-' + query.slice(5), class: 'sg-muted' }, what)))),
    h('p', {}, h('a', { href: '/oauth_entity_list.do' }, 'Back to the Application Registry')));
}

// The values a new record starts with: the "field=value" terms of sysparm_query (other
// terms are ignored), for fields of the dictionary; a reference's display value is read so
// the form shows a name, not a sys_id.  Returns a record shaped as sysparm_display_value=all
// gives one, or null.
export async function presetRecord(dict, params) {
  const q = params.get('sysparm_query');
  if (!q) return null;
  const rec = {};
  for (const term of q.split('^')) {
    const m = /^([a-z0-9_]+)=(.*)$/.exec(term);
    if (!m || !dict.fields.has(m[1])) continue;
    const f = dict.fields.get(m[1]);
    let display = m[2];
    if (f.type === 'reference' && f.reference && /^[0-9a-f]{32}$/.test(m[2])) {
      const res = await api('GET', recordPath(f.reference, m[2], { sysparm_display_value: 'true', sysparm_exclude_reference_link: 'true' }));
      display = displayOf(res, m[2]);
    } else if (f.hasChoices) {
      const c = f.choices.find((o) => o.value === m[2]);
      if (c) display = c.label;
    }
    rec[m[1]] = { value: m[2], display_value: display };
  }
  return Object.keys(rec).length ? rec : null;
}

function displayOf(res, fallback) {
  const r = res && res.ok && res.json && res.json.result;
  if (!r) return fallback;
  for (const k of ['name', 'user_name', 'number', 'label']) if (typeof r[k] === 'string' && r[k]) return r[k];
  return fallback;
}

// Related lists edited in place: [caption, m2m table, field naming the record, field naming
// the other record, the other table, its name field, id prefix].
const PICKERS = {
  sys_user: [['Roles', 'sys_user_has_role', 'user', 'role', 'sys_user_role', 'name', 'roles'],
    ['Groups', 'sys_user_grmember', 'user', 'group', 'sys_user_group', 'name', 'groups']],
  oauth_entity: [['Auth scopes', 'oauth_entity_auth_scope', 'oauth_entity', 'auth_scope', 'sys_auth_scope', 'name', 'scopes']],
};

export async function guideRelated(table, sysId) {
  const out = [];
  for (const p of PICKERS[table] || []) {
    const sec = await pickerList(sysId, ...p);
    if (sec) out.push(sec);
  }
  return out;
}

// One related list: the linked records (each with Remove), and a picker of the others with
// Add.  Not readable: no list, as ServiceNow hides it.
async function pickerList(sysId, caption, m2m, mine, other, otherTable, nameField, key) {
  const sec = h('section', { class: 'sg-related sg-picker', id: 'sg-rel-' + key, 'aria-labelledby': 'sg-rel-' + key + '-title' });
  const ok = await fill();
  return ok ? sec : null;

  async function fill() {
    const res = await api('GET', tablePath(m2m, { sysparm_query: mine + '=' + sysId + '^ORDERBY' + other + '.' + nameField,
      sysparm_fields: 'sys_id,' + other + ',' + other + '.' + nameField, sysparm_limit: 500 }));
    if (!res.ok) return false;
    const all = await api('GET', tablePath(otherTable, { sysparm_query: 'ORDERBY' + nameField, sysparm_fields: 'sys_id,' + nameField,
      sysparm_limit: 2000 }));
    const rows = res.json.result;
    const have = new Set(rows.map((r) => refValue(r[other])));
    clear(sec);
    const msgs = h('div', { class: 'sg-msgs' });
    sec.append(h('h2', { id: 'sg-rel-' + key + '-title' }, caption + ' (' + rows.length + ')'), msgs);
    if (rows.length) {
      sec.append(h('ul', { class: 'sg-picked' }, rows.map((r) => {
        const name = r[other + '.' + nameField] || refValue(r[other]);
        return h('li', { 'data-name': name }, h('a', { href: '/' + otherTable + '.do?sys_id=' + encodeURIComponent(refValue(r[other])) }, name), ' ',
          h('button', { type: 'button', class: 'sg-link', 'aria-label': 'Remove ' + name,
            onclick: () => change(msgs, 'DELETE', recordPath(m2m, r.sys_id)) }, 'Remove'));
      })));
    } else sec.append(h('p', { class: 'sg-empty' }, 'No records'));
    if (all.ok) {
      const choices = all.json.result.filter((r) => !have.has(r.sys_id));
      const pick = h('select', { id: 'sg-pick-' + key }, h('option', { value: '' }, '-- Choose --'),
        choices.map((r) => h('option', { value: r.sys_id }, r[nameField] || r.sys_id)));
      const add = h('button', { type: 'button', id: 'sg-pick-' + key + '-add', onclick: () => {
        if (pick.value) change(msgs, 'POST', tablePath(m2m, {}), { [mine]: sysId, [other]: pick.value });
      } }, 'Add');
      sec.append(h('p', { class: 'sg-pick' }, h('label', { for: 'sg-pick-' + key }, 'Add to ' + caption.toLowerCase()), ' ', pick, ' ', add));
    }
    return true;
  }

  async function change(msgs, method, path, body) {
    const res = await api(method, path, body);
    if (!res.ok) { message(msgs, 'error', errorText(res)); return; }
    await fill();
    const focus = document.getElementById('sg-pick-' + key);
    if (focus) focus.focus();
  }
}

function refValue(v) {
  return v && typeof v === 'object' ? String(v.value || '') : String(v || '');
}
