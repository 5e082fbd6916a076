// /navpage.do: the home page: who is signed in, the recently visited items and the
// screens the vendor guides start from.
import { user } from './api.js';
import { h } from './dom.js';
import { recentItems } from './nav.js';

const START = [
  ['Incidents', '/incident_list.do?sysparm_query=active%3Dtrue'],
  ['Application Registry', '/oauth_entity_list.do'],
  ['Users', '/sys_user_list.do'],
  ['Access Control (ACL)', '/sys_security_acl_list.do'],
  ['System Properties', '/sys_properties_list.do'],
  ['REST API Auth Scope', '/sys_api_access_scope_list.do'],
];

export function renderHome(main) {
  document.title = 'Snowglobe';
  const recent = recentItems();
  main.append(...[h('h1', {}, 'Welcome, ' + user()),
    h('section', { 'aria-labelledby': 'sg-home-start' }, h('h2', { id: 'sg-home-start' }, 'Start here'),
      h('ul', { class: 'sg-tiles' }, START.map(([l, href]) => h('li', {}, h('a', { href }, l))))),
    recent.length ? h('section', { 'aria-labelledby': 'sg-home-recent' }, h('h2', { id: 'sg-home-recent' }, 'Recently visited'),
      h('ul', {}, recent.map((x) => h('li', {}, h('a', { href: x.href }, x.title))))) : null].filter(Boolean));
}
