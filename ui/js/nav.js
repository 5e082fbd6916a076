// The application navigator (#sg-nav): ServiceNow's applications and modules as a fixed
// ITSM grouping over the tables this instance has (sys_db_object), every other table under
// its scope, a filter box, and the recently visited lists and records (localStorage).
import { call as api } from './elevate.js';
import { h, clear } from './dom.js';
import { tablePath } from './meta.js';

// [application, [[module label, href, table the module needs ('' for none)]...]]
const APPS = [
  ['Incident', [['Create New', '/incident.do?sys_id=-1', 'incident'], ['Open', '/incident_list.do?sysparm_query=active%3Dtrue', 'incident'],
    ['All', '/incident_list.do', 'incident']]],
  ['Problem', [['Create New', '/problem.do?sys_id=-1', 'problem'], ['All', '/problem_list.do', 'problem']]],
  ['Change', [['Create New', '/change_request.do?sys_id=-1', 'change_request'], ['All', '/change_request_list.do', 'change_request'],
    ['Change Tasks', '/change_task_list.do', 'change_task']]],
  ['Tasks', [['All Tasks', '/task_list.do', 'task']]],
  ['CMDB', [['Configuration Items', '/cmdb_ci_list.do', 'cmdb_ci'], ['Servers', '/cmdb_ci_server_list.do', 'cmdb_ci_server'],
    ['Services', '/cmdb_ci_service_list.do', 'cmdb_ci_service'], ['Relationships', '/cmdb_rel_ci_list.do', 'cmdb_rel_ci'],
    ['Identification Rules', '/cmdb_identifier_list.do', 'cmdb_identifier']]],
  ['User Administration', [['Users', '/sys_user_list.do', 'sys_user'], ['Groups', '/sys_user_group_list.do', 'sys_user_group'],
    ['Roles', '/sys_user_role_list.do', 'sys_user_role'], ['User Roles', '/sys_user_has_role_list.do', 'sys_user_has_role'],
    ['Group Members', '/sys_user_grmember_list.do', 'sys_user_grmember']]],
  ['Organization', [['Companies', '/core_company_list.do', 'core_company'], ['Locations', '/cmn_location_list.do', 'cmn_location'],
    ['Departments', '/cmn_department_list.do', 'cmn_department']]],
  ['System OAuth', [['Application Registry', '/oauth_entity_list.do', 'oauth_entity'], ['Manage Tokens', '/oauth_credential_list.do', 'oauth_credential']]],
  ['System Security', [['Access Control (ACL)', '/sys_security_acl_list.do', 'sys_security_acl'],
    ['REST API Auth Scope', '/sys_api_access_scope_list.do', 'sys_api_access_scope'], ['Auth Scopes', '/sys_auth_scope_list.do', 'sys_auth_scope']]],
  ['System Properties', [['All Properties', '/sys_properties_list.do', 'sys_properties']]],
  ['System Web Services', [['REST Messages', '/sys_rest_message_list.do', 'sys_rest_message'],
    ['Scripted REST APIs', '/sys_ws_definition_list.do', 'sys_ws_definition'], ['Outbound HTTP Log', '/sys_outbound_http_log_list.do', 'sys_outbound_http_log']]],
  ['System Definition', [['Tables', '/sys_db_object_list.do', 'sys_db_object'], ['Dictionary', '/sys_dictionary_list.do', 'sys_dictionary'],
    ['Choice Lists', '/sys_choice_list.do', 'sys_choice'], ['Business Rules', '/sys_script_list.do', 'sys_script'],
    ['Script Includes', '/sys_script_include_list.do', 'sys_script_include'], ['Scheduled Jobs', '/sysauto_script_list.do', 'sysauto_script']]],
  ['System Logs', [['System Log', '/syslog_list.do', 'syslog'], ['Events', '/sysevent_list.do', 'sysevent'], ['Audit', '/sys_audit_list.do', 'sys_audit'],
    ['Request Journal', '/snowglobe_request_journal.do', ''], ['Outbound HTTP Requests', '/snowglobe_outbound_log.do', 'sys_outbound_http_log']]],
];

const RECENT_KEY = 'sg.recent';
const RECENT_MAX = 10;

export function recentItems() {
  try {
    const v = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(v) ? v.filter((x) => x && typeof x.href === 'string' && /^\/[a-z0-9_]/.test(x.href) && typeof x.title === 'string') : [];
  } catch (e) {
    return [];
  }
}

// Remembers a visited list or record (most recent first, one entry per href).
export function remember(href, title) {
  const list = recentItems().filter((x) => x.href !== href);
  list.unshift({ href, title });
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX)));
  } catch (e) { /* storage full or disabled: recent items are a convenience */ }
  renderRecent();
}

let tablesByName = null;

async function loadTables() {
  const res = await api('GET', tablePath('sys_db_object', { sysparm_fields: 'name,label,sys_scope', sysparm_limit: 2000 }));
  if (!res.ok) return null;
  return new Map(res.json.result.map((r) => [r.name, r]));
}

function moduleLink(label, href, app) {
  return h('li', { 'data-filter': (app + ' ' + label + ' ' + href).toLowerCase() }, h('a', { href }, label));
}

export async function renderNav() {
  const nav = document.getElementById('sg-nav');
  clear(nav);
  const filter = h('input', { type: 'search', id: 'sg-nav-filter', placeholder: 'Filter navigator',
    autocomplete: 'off', 'aria-controls': 'sg-nav-apps' });
  nav.append(h('label', { for: 'sg-nav-filter', class: 'sg-visually-hidden' }, 'Filter navigator'), filter);
  nav.append(h('section', { id: 'sg-recent', 'aria-label': 'Recent items' }));
  const apps = h('div', { id: 'sg-nav-apps' });
  nav.append(apps);
  renderRecent();

  filter.addEventListener('input', () => applyFilter(apps, filter.value));
  // "incident.list" / "incident.do" + Enter opens the table, as ServiceNow's filter does.
  filter.addEventListener('keydown', (ev) => {
    if (ev.key !== 'Enter') return;
    const m = /^([a-z0-9_]+)\.(list|do|form)$/.exec(filter.value.trim().toLowerCase());
    if (m) {
      ev.preventDefault();
      window.location.assign(m[2] === 'list' ? '/' + m[1] + '_list.do' : '/' + m[1] + '.do?sys_id=-1');
      return;
    }
    const first = apps.querySelector('li:not([hidden]) a');
    if (first) { ev.preventDefault(); first.click(); }
  });

  tablesByName = await loadTables();
  const listed = new Set();
  const section = (title, modules) => h('details', { class: 'sg-app', open: true },
    h('summary', {}, title), h('ul', {}, modules));
  for (const [app, modules] of APPS) {
    const present = modules.filter(([, , t]) => !t || !tablesByName || tablesByName.has(t));
    present.forEach(([, , t]) => listed.add(t));
    if (present.length) apps.append(section(app, present.map(([label, href]) => moduleLink(label, href, app))));
  }
  if (tablesByName) {
    // Every other table, by application scope, under its label.
    const byScope = new Map();
    for (const t of [...tablesByName.values()].sort((a, b) => (a.label || a.name).localeCompare(b.label || b.name))) {
      if (listed.has(t.name) || !/^[a-z0-9_]+$/.test(t.name)) continue;
      const scope = t.sys_scope && t.sys_scope !== 'global' ? t.sys_scope : 'Other tables';
      if (!byScope.has(scope)) byScope.set(scope, []);
      byScope.get(scope).push(moduleLink((t.label || t.name) + ' [' + t.name + ']', '/' + t.name + '_list.do', scope));
    }
    for (const [scope, items] of byScope) {
      const d = section(scope, items);
      d.open = false;
      apps.append(d);
    }
  }

  applyFilter(apps, filter.value); // typed while the tables loaded
}

function applyFilter(apps, text) {
  const words = text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  for (const app of apps.querySelectorAll('details')) {
    let shown = 0;
    for (const li of app.querySelectorAll('li')) {
      const ok = words.every((w) => li.dataset.filter.includes(w));
      li.hidden = !ok;
      if (ok) shown++;
    }
    app.hidden = shown === 0;
    if (words.length) app.open = true;
  }
}

function renderRecent() {
  const box = document.getElementById('sg-recent');
  if (!box) return;
  clear(box);
  const items = recentItems();
  if (!items.length) return;
  box.append(h('h2', {}, 'Recent'), h('ul', {}, items.map((x) => h('li', {}, h('a', { href: x.href }, x.title)))));
}
