// {table}_list.do: a list of records as ServiceNow's list view shows it: columns from the
// dictionary, display values, sorting by header (ORDERBY/ORDERBYDESC in sysparm_query),
// 20 rows a page (sysparm_first_row, "1 to 20 of N" from X-Total-Count), the filter
// builder and its breadcrumbs.  The URL holds the whole state, so a list is bookmarkable.
import { call as api, elevateOffer } from './elevate.js';
import { h, message, errorText, takeFlash } from './dom.js';
import { dictionary, tablePath, recordPath, isSystemField } from './meta.js';
import { remember } from './nav.js';
import { parse, serialize, opLabel, NO_VALUE, onDate } from './query.js';
import { filterBuilder } from './filter.js';

export const PAGE_SIZE = 20;

// A table name as a link may hold it (a value from a record never makes a link elsewhere).
export const TABLE_NAME = /^[a-z0-9_]+$/;

// Fields a list shows when present, in this order (no sys_ui_list in nowd: ServiceNow's
// default list layouts for the ITSM tables use these).
const PREFERRED = ['number', 'name', 'user_name', 'short_description', 'caller_id', 'category', 'state',
  'priority', 'assigned_to', 'email', 'active', 'type', 'value', 'client_id', 'operation', 'admin_overrides',
  'label', 'element', 'internal_type'];

export function listHref(table, query, first) {
  const p = new URLSearchParams();
  if (query) p.set('sysparm_query', query);
  if (first > 1) p.set('sysparm_first_row', String(first));
  const qs = p.toString();
  return '/' + table + '_list.do' + (qs ? '?' + qs : '');
}

export function defaultColumns(dict) {
  const has = (el) => dict.fields.has(el) && !['password', 'password2', 'journal_input', 'journal', 'journal_list']
    .includes(dict.fields.get(el).type);
  let cols = PREFERRED.filter(has);
  if (!cols.includes(dict.display) && has(dict.display)) cols.unshift(dict.display);
  // A table with few well-known fields: its own fields in dictionary order.
  for (const el of dict.order) {
    if (cols.length >= 6) break;
    if (!cols.includes(el) && !isSystemField(el) && has(el) && dict.fields.get(el).table === dict.table) cols.push(el);
  }
  cols = cols.slice(0, 8);
  if (has('sys_updated_on')) cols.push('sys_updated_on');
  return cols;
}

function valueText(f, c) {
  if (NO_VALUE.has(c.op)) return '';
  if ((c.op === 'ON' || c.op === 'NOTON')) return onDate(c.value);
  if (f && f.hasChoices) {
    return c.value.split(',').map((v) => (f.choices.find((x) => x.value === v) || { label: v }).label).join(', ');
  }
  const m = /^javascript:gs\.dateGenerate\('([^']*)'/.exec(c.value);
  if (m) return m[1];
  return c.value.replace(/javascript:gs\.dateGenerate\('([^']*)','[^']*'\)/g, '$1');
}

// "Priority is 1 - Critical"; a reference's sys_id becomes its display value when readable.
function crumbText(dict, group) {
  const parts = group.map((c) => {
    const f = dict.fields.get(c.field);
    const text = [(f ? f.label : c.field), opLabel(c.op), valueText(f, c)].filter(Boolean).join(' ');
    const span = h('span', {}, text);
    if (f && f.type === 'reference' && f.reference && /^[0-9a-f]{32}$/.test(c.value)) {
      dictionary(f.reference).then(async (rd) => {
        const res = await api('GET', recordPath(f.reference, c.value, { sysparm_fields: rd.display,
          sysparm_exclude_reference_link: 'true' }));
        const d = res.ok && res.json.result ? res.json.result[rd.display] : '';
        if (d) span.textContent = [f.label, opLabel(c.op), d].join(' ');
      }).catch(() => {});
    }
    return span;
  });
  const out = [];
  parts.forEach((p, i) => { if (i) out.push(' or '); out.push(p); });
  return out;
}

export async function renderList(main, table, params) {
  const query = params.get('sysparm_query') || '';
  const first = Math.max(1, parseInt(params.get('sysparm_first_row') || '1', 10) || 1);
  const msgs = h('div', { class: 'sg-msgs' });
  let dict;
  try {
    dict = await dictionary(table);
  } catch (e) {
    main.append(h('h1', {}, table), msgs);
    const box = message(msgs, 'error', e && e.res ? errorText(e.res) : String(e));
    // The table's columns are refused as its records would be: elevating may give both.
    const offer = e && e.res ? elevateOffer(e.res, () => window.location.reload()) : null;
    if (offer) box.insertBefore(offer, box.lastChild);
    return;
  }
  document.title = dict.label + ' | Snowglobe';
  const parsed = parse(query);
  const cols = defaultColumns(dict);
  const hasClass = dict.fields.has('sys_class_name');
  const fields = ['sys_id', ...(hasClass ? ['sys_class_name'] : []), ...cols];
  const res = await api('GET', tablePath(table, { sysparm_query: query, sysparm_display_value: 'all',
    sysparm_exclude_reference_link: 'true', sysparm_fields: fields.join(','), sysparm_limit: PAGE_SIZE,
    sysparm_offset: first - 1 }));
  remember(listHref(table, query, 1), dict.label + ' list' + (query ? ': ' + (query.length > 40 ? query.slice(0, 40) + '…' : query) : ''));

  const rows = res.ok ? res.json.result : [];
  const total = res.ok ? parseInt(res.headers.get('X-Total-Count') || String(rows.length), 10) : 0;

  // Title bar: the table's label, New, the filter toggle.
  const filterPanel = h('div', { id: 'sg-filter-panel', hidden: true });
  const toggle = h('button', { type: 'button', id: 'sg-filter-toggle', 'aria-expanded': 'false',
    'aria-controls': 'sg-filter-panel' }, 'Filter');
  toggle.addEventListener('click', () => {
    const show = filterPanel.hidden;
    filterPanel.hidden = !show;
    toggle.setAttribute('aria-expanded', String(show));
    if (show) {
      if (!filterPanel.firstChild) filterPanel.append(filterBuilder(dict, parsed, table));
      const f = filterPanel.querySelector('select, input');
      if (f) f.focus();
    }
  });
  main.append(h('div', { class: 'sg-titlebar' }, h('h1', {}, dict.label), toggle,
    h('a', { class: 'sg-button', href: '/' + table + '.do?sys_id=-1', id: 'sg-new' }, 'New')));

  // Breadcrumbs: All > condition > condition; a crumb keeps itself and those before it.
  const order = { groups: [], order: parsed.order, extra: '' };
  const crumbs = [h('li', {}, h('a', { href: listHref(table, serialize(order), 1) }, 'All'))];
  parsed.groups.forEach((g, i) => {
    const q = serialize({ groups: parsed.groups.slice(0, i + 1), order: parsed.order, extra: '' });
    crumbs.push(h('li', {}, i === parsed.groups.length - 1 && !parsed.extra
      ? h('span', { 'aria-current': 'page' }, crumbText(dict, g)) : h('a', { href: listHref(table, q, 1) }, crumbText(dict, g))));
  });
  if (parsed.extra) crumbs.push(h('li', {}, h('span', { 'aria-current': 'page' }, parsed.extra)));
  main.append(h('nav', { class: 'sg-crumbs', 'aria-label': 'Filter conditions' }, h('ol', {}, crumbs)), filterPanel, msgs);
  const flash = takeFlash();
  if (flash) message(msgs, 'info', flash.text);

  if (!res.ok) {
    const box = message(msgs, 'error', errorText(res));
    const offer = elevateOffer(res, () => window.location.reload());
    if (offer) box.insertBefore(offer, box.lastChild);
    return;
  }

  // The table: sortable headers (a link that flips the order), a link to each record.
  const sortedBy = parsed.order[0];
  const head = cols.map((el) => {
    const f = dict.fields.get(el);
    const desc = sortedBy && sortedBy.field === el && !sortedBy.desc;
    const q = serialize({ groups: parsed.groups, order: [{ field: el, desc }], extra: parsed.extra });
    const sort = sortedBy && sortedBy.field === el ? (sortedBy.desc ? 'descending' : 'ascending') : null;
    return h('th', { scope: 'col', 'aria-sort': sort, 'data-field': el },
      h('a', { href: listHref(table, q, 1), class: 'sg-sort',
        title: 'Sort by ' + (f ? f.label : el) + (desc ? ' (descending)' : ' (ascending)') },
      f ? f.label : el, sort ? h('span', { 'aria-hidden': 'true' }, sort === 'ascending' ? ' ▲' : ' ▼') : null));
  });
  const body = rows.map((r) => {
    const id = r.sys_id.value;
    const cls = hasClass && TABLE_NAME.test(r.sys_class_name.value) ? r.sys_class_name.value : table;
    return h('tr', { 'data-sys-id': id }, cols.map((el, i) => {
      const v = r[el] || { value: '', display_value: '' };
      const text = v.display_value === undefined || v.display_value === null ? '' : String(v.display_value);
      const f = dict.fields.get(el);
      let cell = text;
      if (i === 0) cell = h('a', { href: '/' + cls + '.do?sys_id=' + id, 'aria-label': 'Open record: ' + (text || id) }, text || '(empty)');
      else if (f && f.type === 'reference' && TABLE_NAME.test(f.reference) && v.value)
        cell = h('a', { href: '/' + f.reference + '.do?sys_id=' + encodeURIComponent(v.value) }, text || v.value);
      return h(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : {}, cell);
    }));
  });
  const tableEl = h('table', { class: 'sg-list', id: 'sg-list' },
    h('caption', { class: 'sg-visually-hidden' }, dict.label + ' list'),
    h('thead', {}, h('tr', {}, head)), h('tbody', {}, body));
  main.append(h('div', { class: 'sg-list-wrap' }, tableEl));
  if (!rows.length) main.append(h('p', { class: 'sg-empty' }, 'No records to display'));

  // Paging: first / previous / "1 to 20 of N" / next / last.
  const last = total > 0 ? Math.floor((total - 1) / PAGE_SIZE) * PAGE_SIZE + 1 : 1;
  const pageLink = (label, to, enabled, id) => enabled
    ? h('a', { href: listHref(table, query, to), class: 'sg-button', id, rel: id === 'sg-next' ? 'next' : (id === 'sg-prev' ? 'prev' : null) }, label)
    : h('span', { class: 'sg-button sg-disabled', 'aria-disabled': 'true', id }, label);
  const range = total ? `${first} to ${Math.min(first + rows.length - 1, total)} of ${total}` : '0 of 0';
  main.append(h('nav', { class: 'sg-pager', 'aria-label': 'Pages' },
    pageLink('« First', 1, first > 1, 'sg-first'), pageLink('‹ Previous', Math.max(1, first - PAGE_SIZE), first > 1, 'sg-prev'),
    h('span', { id: 'sg-range', 'aria-live': 'polite' }, range),
    pageLink('Next ›', first + PAGE_SIZE, first + PAGE_SIZE <= total, 'sg-next'),
    pageLink('Last »', last, first < last, 'sg-last')));
}
