// What the views know about tables, read through the REST API once per page and cached:
// a table's label and ancestry (sys_db_object), its fields (sys_dictionary, a child's entry
// winning over its parent's) and choice lists (sys_choice, the most specific table's list).
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

// Up to this many ancestors come in one request, by dot-walking super_class.
const WALK = 6;

// {name, label, chain: [table, parent, ..., root]} or throws {res}.
export function tableInfo(table) {
  return once('t:' + table, async () => {
    const walks = [];
    for (let i = 1, p = 'super_class'; i <= WALK; i++, p += '.super_class') walks.push(p + '.name');
    const chain = [];
    let label = table;
    let name = table;
    while (name && !chain.includes(name) && chain.length < 64) {
      const res = await api('GET', tablePath('sys_db_object', {
        sysparm_query: 'name=' + name, sysparm_fields: ['name', 'label', ...walks].join(','), sysparm_limit: 1 }));
      if (res.status === 403 && !chain.length) return { name: table, label: prettify(table), chain: [table], limited: true };
      if (!res.ok) throw { res };
      const row = res.json.result[0];
      if (!row) {
        if (!chain.length) throw { res: { status: 404, json: { error: { message: 'No such table: ' + table } } } };
        break;
      }
      if (!chain.length) label = row.label || table;
      chain.push(name);
      name = '';
      for (const w of walks) {
        if (!row[w] || chain.includes(row[w])) break;
        // The deepest ancestor walked starts the next request (a deeper hierarchy).
        if (w === walks[walks.length - 1]) { name = row[w]; break; }
        chain.push(row[w]);
      }
    }
    return { name: table, label, chain };
  });
}

// {fields: Map element → field, order: [element...] (the table's own first), display}
// A field: {element, label, type, reference, mandatory, readOnly, display, choice, maxLength,
// table (where it is defined), hasChoices, choices: [{value, label}]}.
export function dictionary(table) {
  return once('d:' + table, async () => {
    const info = await tableInfo(table);
    const names = info.chain.join(',');
    const [dres, cres] = await Promise.all([
      api('GET', tablePath('sys_dictionary', {
        sysparm_query: 'nameIN' + names + '^elementISNOTEMPTY^active!=false',
        sysparm_fields: 'name,element,column_label,internal_type,reference,mandatory,read_only,display,choice,max_length,default_value',
        sysparm_limit: 2000 })),
      api('GET', tablePath('sys_choice', {
        sysparm_query: 'nameIN' + names + '^inactive!=true^ORDERBYsequence',
        sysparm_fields: 'name,element,value,label,sequence', sysparm_limit: 5000 })),
    ]);
    if (dres.status === 403) return fromSample(table, info);
    if (!dres.ok) throw { res: dres };
    const depth = (t) => info.chain.indexOf(t);
    const rows = dres.json.result.slice().sort((a, b) => depth(b.name) - depth(a.name));
    const fields = new Map();
    for (const r of rows) {
      fields.set(r.element, {
        element: r.element, label: r.column_label || r.element, type: r.internal_type || 'string',
        reference: r.reference, mandatory: r.mandatory === 'true', readOnly: r.read_only === 'true',
        display: r.display === 'true', choice: Number(r.choice || 0), maxLength: Number(r.max_length || 40),
        defaultValue: r.default_value || '', table: r.name, hasChoices: false, choices: [],
      });
    }
    // A choice list is the most specific table's: incident's states replace task's.
    const byElement = new Map();
    for (const c of (cres.ok ? cres.json.result : [])) {
      const cur = byElement.get(c.element);
      if (!cur || depth(c.name) < cur.depth) byElement.set(c.element, { depth: depth(c.name), list: [c] });
      else if (depth(c.name) === cur.depth) cur.list.push(c);
    }
    for (const [el, { list }] of byElement) {
      const f = fields.get(el);
      if (!f) continue;
      list.sort((a, b) => Number(a.sequence || 0) - Number(b.sequence || 0));
      f.choices = list.map((c) => ({ value: c.value, label: c.label || c.value }));
      f.hasChoices = f.choices.length > 0;
    }
    const order = [...fields.values()].sort((a, b) => depth(a.table) - depth(b.table)).map((f) => f.element);
    let display = [...fields.values()].find((f) => f.display && f.table === table) ||
      [...fields.values()].find((f) => f.display);
    if (!display) display = fields.get('name') || fields.get('number') || fields.get('sys_id');
    return { table, label: info.label, chain: info.chain, fields, order, display: display ? display.element : 'sys_id' };
  });
}

// "short_description" → "Short description", as most of ServiceNow's labels read.
export function prettify(name) {
  const s = name.replace(/_/g, ' ').trim();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// A user who may not read the dictionary (nowd's ACLs keep sys_dictionary, sys_db_object and
// sys_choice for admins) still gets lists and forms: the fields are those of a record of the
// table, labelled from their names, all as text.  Written back with
// sysparm_input_display_value=true, the server maps choice labels and reference names itself.
async function fromSample(table, info) {
  const res = await api('GET', tablePath(table, { sysparm_limit: 1, sysparm_display_value: 'all', sysparm_exclude_reference_link: 'true' }));
  const row = res.ok && res.json.result[0] ? res.json.result[0] : {};
  const fields = new Map();
  for (const el of Object.keys(row)) {
    fields.set(el, { element: el, label: prettify(el), type: 'string', reference: '', mandatory: false,
      readOnly: el.startsWith('sys_') || el === 'number', display: false, choice: 0, maxLength: 0, defaultValue: '',
      table, hasChoices: false, choices: [] });
  }
  const display = ['number', 'name', 'user_name', 'sys_id'].find((el) => fields.has(el)) || 'sys_id';
  return { table, label: info.label, chain: info.chain, fields, order: [...fields.keys()], display, limited: true };
}

export function isSystemField(el) {
  return el.startsWith('sys_');
}
