// The list's condition builder: rows of field / operator / value, joined by AND or OR, as
// ServiceNow's filter offers them per field type; Run writes the encoded query into the URL.
import { h, clear } from './dom.js';
import { go } from './app.js';
import { listHref } from './list.js';
import { serialize, operatorsFor, fieldKind, NO_VALUE, onDate, onValue } from './query.js';
import { referenceInput } from './lookup.js';
import { isSystemField } from './meta.js';

let seq = 0;

const DATE_RE = /^javascript:gs\.dateGenerate\('([^']*)','[^']*'\)$/;

function dateOf(v) {
  const m = DATE_RE.exec(v || '');
  return m ? m[1] : (v || '').slice(0, 10);
}

function dateExpr(d, when) {
  return `javascript:gs.dateGenerate('${d}','${when}')`;
}

// The value control of one row for its field and operator: {el, get()}.
function valueControl(f, op, value, id, label) {
  const kind = fieldKind(f);
  const labelled = { id, 'aria-label': label };
  if (NO_VALUE.has(op)) return { el: h('span', { class: 'sg-cond-novalue' }), get: () => '' };
  if (op === 'BETWEEN') {
    const isDate = kind === 'date';
    const [a, b] = (value || '').split('@');
    const type = isDate ? 'date' : 'text';
    const from = h('input', { type, id, 'aria-label': label + ' from', value: isDate ? dateOf(a) : (a || '') });
    const to = h('input', { type, 'aria-label': label + ' to', value: isDate ? dateOf(b) : (b || '') });
    return { el: h('span', { class: 'sg-cond-between' }, from, ' and ', to),
      get: () => isDate ? dateExpr(from.value, 'start') + '@' + dateExpr(to.value, 'end') : from.value + '@' + to.value };
  }
  if (kind === 'choice' || kind === 'boolean') {
    const opts = kind === 'boolean' ? [{ value: 'true', label: 'true' }, { value: 'false', label: 'false' }] : f.choices;
    const multi = op === 'IN' || op === 'NOT IN';
    const chosen = new Set((value || '').split(','));
    const sel = h('select', Object.assign({ multiple: multi, size: multi ? Math.min(6, opts.length) : null }, labelled),
      opts.map((o) => h('option', { value: o.value, selected: chosen.has(o.value) }, o.label)));
    const get = () => [...sel.selectedOptions].map((o) => o.value).join(',');
    if (['=', '!=', 'IN', 'NOT IN', '<', '>', '<=', '>='].includes(op)) return { el: sel, get };
  }
  if (kind === 'reference' && (op === '=' || op === '!=')) {
    const ref = referenceInput({ id, table: f.reference, value: value, display: value });
    ref.input.setAttribute('aria-label', label);
    return { el: ref.el, get: () => ref.value };
  }
  if (kind === 'date') {
    const input = h('input', Object.assign({ type: 'date', value: op === 'ON' || op === 'NOTON' ? onDate(value) : dateOf(value) }, labelled));
    return { el: input, get: () => {
      if (!input.value) return '';
      if (op === 'ON' || op === 'NOTON') return onValue(input.value);
      return dateExpr(input.value, op === '>' || op === '<=' ? 'end' : 'start');
    } };
  }
  const input = h('input', Object.assign({ type: 'text', value: value || '',
    inputmode: kind === 'number' ? 'decimal' : null }, labelled));
  return { el: input, get: () => input.value };
}

export function filterBuilder(dict, parsed, table) {
  const fields = [...dict.fields.values()]
    .filter((f) => !['password', 'password2', 'journal_input', 'journal_list'].includes(f.type))
    .sort((a, b) => a.label.localeCompare(b.label));
  const rows = [];
  parsed.groups.forEach((g) => g.forEach((c, i) => rows.push({ or: i > 0, field: c.field, op: c.op, value: c.value })));
  if (!rows.length) rows.push({ or: false, field: '', op: '', value: '' });

  const list = h('ol', { class: 'sg-conds' });
  const form = h('form', { class: 'sg-filter', 'aria-label': 'Filter conditions builder' });

  function renderRows() {
    clear(list);
    rows.forEach((row, i) => {
      const n = ++seq;
      const f = dict.fields.get(row.field);
      const fieldSel = h('select', { id: 'sg-cond-field-' + n, 'aria-label': 'Field, condition ' + (i + 1), class: 'sg-cond-field' },
        h('option', { value: '' }, '-- choose field --'),
        fields.map((x) => h('option', { value: x.element, selected: x.element === row.field },
          x.label + (isSystemField(x.element) || fields.some((y) => y !== x && y.label === x.label) ? ' [' + x.element + ']' : ''))));
      const ops = f ? operatorsFor(f) : [];
      if (f && !ops.some(([o]) => o === row.op)) row.op = ops[0][0];
      const opSel = h('select', { id: 'sg-cond-op-' + n, 'aria-label': 'Operator, condition ' + (i + 1), class: 'sg-cond-op', disabled: !f },
        ops.map(([o, l]) => h('option', { value: o, selected: o === row.op }, l)));
      const ctl = f ? valueControl(f, row.op, row.value, 'sg-cond-value-' + n, 'Value, condition ' + (i + 1))
        : { el: h('span'), get: () => '' };
      row.get = ctl.get;
      fieldSel.addEventListener('change', () => { row.field = fieldSel.value; row.op = ''; row.value = ''; renderRows(); focusRow(i, '.sg-cond-field'); });
      opSel.addEventListener('change', () => { row.value = ctl.get(); row.op = opSel.value; renderRows(); focusRow(i, '.sg-cond-op'); });
      const remove = h('button', { type: 'button', class: 'sg-cond-remove', 'aria-label': 'Remove condition ' + (i + 1),
        onclick: () => { rows.splice(i, 1); if (!rows.length) rows.push({ or: false, field: '', op: '', value: '' }); if (rows[0]) rows[0].or = false; renderRows(); } }, '×');
      list.append(h('li', { class: 'sg-cond' + (row.or ? ' sg-cond-or' : '') },
        h('span', { class: 'sg-cond-join' }, i === 0 ? 'where' : row.or ? 'or' : 'and'), fieldSel, opSel, ctl.el, remove));
    });
  }

  function focusRow(i, sel) {
    const el = list.children[i] && list.children[i].querySelector(sel);
    if (el) el.focus();
  }

  function add(or) {
    rows.forEach((r) => { if (r.get) r.value = r.get(); });
    rows.push({ or: or && rows.length > 0, field: '', op: '', value: '' });
    renderRows();
    focusRow(rows.length - 1, '.sg-cond-field');
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const groups = [];
    for (const r of rows) {
      if (!r.field) continue;
      const c = { field: r.field, op: r.op, value: r.get ? r.get() : r.value };
      if (r.or && groups.length) groups[groups.length - 1].push(c);
      else groups.push([c]);
    }
    go(listHref(table, serialize({ groups, order: parsed.order, extra: parsed.extra }), 1));
  });

  renderRows();
  form.append(list, h('div', { class: 'sg-filter-actions' },
    h('button', { type: 'button', id: 'sg-cond-and', onclick: () => add(false) }, 'AND'),
    h('button', { type: 'button', id: 'sg-cond-or', onclick: () => add(true) }, 'OR'),
    h('button', { type: 'submit', id: 'sg-filter-run', class: 'sg-primary' }, 'Run'),
    h('button', { type: 'button', id: 'sg-filter-clear',
      onclick: () => go(listHref(table, serialize({ groups: [], order: parsed.order, extra: '' }), 1)) }, 'Clear all')));
  return form;
}
