// What the views know about tables, asked of the server once per page and cached: a table's
// label and ancestry, its fields as the dictionary describes them (a child's entry winning over
// its parent's) and choice lists (the most specific table's), for the signed-in user: the
// server leaves out the columns field-level ACLs hide, and needs no read access to
// sys_dictionary or sys_choice, which ServiceNow's UI never asks of a user either.
import { call as api } from './elevate.js';

const cache = new Map();

function once(key, make) {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key);
}

function enc(v) {
  return encodeURIComponent(v);
}

export function tablePath(table, params) {
  const qs = Object.entries(params).map(([k, v]) => k + '=' + enc(v)).join('&');
  return '/api/now/table/' + enc(table) + (qs ? '?' + qs : '');
}

export function recordPath(table, sysId, params = {}) {
  const qs = Object.entries(params).map(([k, v]) => k + '=' + enc(v)).join('&');
  return '/api/now/table/' + enc(table) + '/' + enc(sysId) + (qs ? '?' + qs : '');
}

// The server's answer for a table (GET /api/now/ui/meta/{table}): its label, ancestry and the
// columns this user may read, with their dictionary entries and choices, read once per page.
// Throws {res} when the table cannot be read (the Table API's 403) or does not exist.
function tableMeta(table) {
  return once('m:' + table, async () => {
    const res = await api('GET', '/api/now/ui/meta/' + enc(table));
    if (!res.ok) throw { res };
    return res.json.result;
  });
}

// {name, label, chain: [table, parent, ..., root]} or throws {res}.
export async function tableInfo(table) {
  const m = await tableMeta(table);
  return { name: m.name, label: m.label || table, chain: m.ancestry };
}

// {fields: Map element → field, order: [element...] (the table's own first), display}
// A field: {element, label, type, reference, mandatory, readOnly, display, choice, maxLength,
// table (where it is defined), hasChoices, choices: [{value, label}]}.
export function dictionary(table) {
  return once('d:' + table, async () => {
    const m = await tableMeta(table);
    const chain = m.ancestry;
    const depth = (t) => chain.indexOf(t);
    const fields = new Map();
    for (const [el, c] of Object.entries(m.columns)) {
      fields.set(el, {
        element: el, label: c.label || el, type: c.type || 'string', reference: c.reference || '',
        mandatory: c.mandatory, readOnly: c.read_only, display: c.display, choice: c.choice,
        maxLength: c.max_length, defaultValue: c.default_value || '', table: c.table,
        hasChoices: c.choices.length > 0, choices: c.choices,
      });
    }
    const order = [...fields.values()].sort((a, b) => depth(a.table) - depth(b.table) ||
      (a.element < b.element ? -1 : a.element > b.element ? 1 : 0)).map((f) => f.element);
    let display = m.display_field && fields.has(m.display_field) ? m.display_field : '';
    if (!display) display = ['name', 'number', 'sys_id'].find((el) => fields.has(el)) || 'sys_id';
    return { table, label: m.label || table, chain, fields, order, display };
  });
}

// "short_description" → "Short description", as most of ServiceNow's labels read.
export function prettify(name) {
  const s = name.replace(/_/g, ' ').trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function isSystemField(el) {
  return el.startsWith('sys_');
}
