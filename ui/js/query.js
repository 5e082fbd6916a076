// ServiceNow encoded queries as the list view edits them: conditions joined by ^ (AND),
// alternatives by ^OR, ORDERBY/ORDERBYDESC terms, ^NQ (a new query) kept as one opaque
// group.  Pure functions: no DOM, no network.

// Operators in matching order: a longer one before any it starts with.
const OPS = ['ISNOTEMPTY', 'ISEMPTY', 'EMPTYSTRING', 'ANYTHING', 'NOT LIKE', 'NOTLIKE', 'NOT IN',
  'STARTSWITH', 'ENDSWITH', 'LIKE', 'IN', 'BETWEEN', 'SAMEAS', 'NSAMEAS', 'DYNAMIC', 'NOTON', 'ON',
  'RELATIVEGT', 'RELATIVELT', 'RELATIVEGE', 'RELATIVELE', 'RELATIVEEE', 'MORETHAN', 'LESSTHAN',
  'DATEPART', 'VALCHANGES', 'CHANGESFROM', 'CHANGESTO', 'INSTANCEOF', '!=', '>=', '<=', '=', '>', '<'];

export const NO_VALUE = new Set(['ISEMPTY', 'ISNOTEMPTY', 'EMPTYSTRING', 'ANYTHING', 'VALCHANGES']);

// One term ("stateIN1,2") → {field, op, value}, or null when it is not a condition.
export function parseTerm(term) {
  const m = /^([a-z0-9_.]+)(.*)$/.exec(term);
  if (!m) return null;
  const rest = m[2];
  for (const op of OPS)
    if (rest.startsWith(op)) return { field: m[1], op, value: rest.slice(op.length) };
  return null;
}

export function termText(c) {
  return c.field + c.op + (NO_VALUE.has(c.op) ? '' : c.value);
}

// A query → {groups: [[cond, cond...] (an AND of ORs)], order: [{field, desc}], extra: string}.
// A group holds a condition and its ^OR alternatives.  Terms we cannot read go to `extra`
// unchanged (they are kept, not dropped, when the query is written back).
export function parse(q) {
  const out = { groups: [], order: [], extra: '' };
  if (!q) return out;
  const nq = q.indexOf('^NQ');
  if (nq >= 0) { out.extra = q.slice(nq); q = q.slice(0, nq); }
  for (const part of q.split('^')) {
    if (part === '' || part === 'EQ') continue;
    if (part.startsWith('ORDERBYDESC')) { out.order.push({ field: part.slice(11), desc: true }); continue; }
    if (part.startsWith('ORDERBY')) { out.order.push({ field: part.slice(7), desc: false }); continue; }
    const isOr = part.startsWith('OR') && out.groups.length > 0 && parseTerm(part.slice(2));
    const cond = parseTerm(isOr ? part.slice(2) : part);
    if (!cond) { out.extra = (out.extra ? out.extra + '^' : '') + part; continue; }
    if (isOr) out.groups[out.groups.length - 1].push(cond);
    else out.groups.push([cond]);
  }
  return out;
}

export function conditionsText(groups) {
  return groups.map((g) => g.map(termText).join('^OR')).join('^');
}

export function serialize(p) {
  const parts = [];
  const cond = conditionsText(p.groups);
  if (cond) parts.push(cond);
  for (const o of p.order) parts.push((o.desc ? 'ORDERBYDESC' : 'ORDERBY') + o.field);
  let q = parts.join('^');
  if (p.extra) q = q ? (p.extra.startsWith('^') ? q + p.extra : q + '^' + p.extra) : p.extra.replace(/^\^/, '');
  return q;
}

// Operators the filter builder offers for a dictionary type, with ServiceNow's wording.
const STRING_OPS = [['=', 'is'], ['!=', 'is not'], ['STARTSWITH', 'starts with'], ['ENDSWITH', 'ends with'],
  ['LIKE', 'contains'], ['NOT LIKE', 'does not contain'], ['IN', 'is one of'], ['ISEMPTY', 'is empty'],
  ['ISNOTEMPTY', 'is not empty'], ['EMPTYSTRING', 'is empty string'], ['ANYTHING', 'is anything']];
const NUMBER_OPS = [['=', 'is'], ['!=', 'is not'], ['<', 'less than'], ['>', 'greater than'],
  ['<=', 'less than or is'], ['>=', 'greater than or is'], ['BETWEEN', 'between'], ['IN', 'is one of'],
  ['ISEMPTY', 'is empty'], ['ISNOTEMPTY', 'is not empty'], ['ANYTHING', 'is anything']];
const CHOICE_OPS = [['=', 'is'], ['!=', 'is not'], ['IN', 'is one of'], ['NOT IN', 'is not one of'],
  ['LIKE', 'contains'], ['STARTSWITH', 'starts with'], ['ENDSWITH', 'ends with'],
  ['NOT LIKE', 'does not contain'], ['ISEMPTY', 'is empty'], ['ISNOTEMPTY', 'is not empty'],
  ['ANYTHING', 'is anything']];
const REFERENCE_OPS = [['=', 'is'], ['!=', 'is not'], ['ISEMPTY', 'is empty'], ['ISNOTEMPTY', 'is not empty'],
  ['IN', 'is one of'], ['ANYTHING', 'is anything']];
const DATE_OPS = [['ON', 'on'], ['NOTON', 'not on'], ['<', 'before'], ['>', 'after'], ['BETWEEN', 'between'],
  ['ISEMPTY', 'is empty'], ['ISNOTEMPTY', 'is not empty'], ['ANYTHING', 'is anything']];
const BOOLEAN_OPS = [['=', 'is'], ['!=', 'is not'], ['ISEMPTY', 'is empty'], ['ISNOTEMPTY', 'is not empty'],
  ['ANYTHING', 'is anything']];

export const NUMBER_TYPES = new Set(['integer', 'decimal', 'float', 'currency', 'price', 'integer_time']);
export const DATE_TYPES = new Set(['glide_date', 'glide_date_time', 'due_date']);

// kind: 'choice' | 'reference' | 'boolean' | 'number' | 'date' | 'string'
export function fieldKind(f) {
  if (!f) return 'string';
  if (f.hasChoices) return 'choice';
  if (f.type === 'reference') return 'reference';
  if (f.type === 'boolean') return 'boolean';
  if (NUMBER_TYPES.has(f.type)) return 'number';
  if (DATE_TYPES.has(f.type)) return 'date';
  return 'string';
}

export function operatorsFor(f) {
  // An integer choice (priority, state) also compares, as ServiceNow's filter offers.
  if (fieldKind(f) === 'choice' && NUMBER_TYPES.has(f.type))
    return CHOICE_OPS.slice(0, 4).concat(NUMBER_OPS.slice(2, 6), CHOICE_OPS.slice(8));
  return { choice: CHOICE_OPS, reference: REFERENCE_OPS, boolean: BOOLEAN_OPS, number: NUMBER_OPS,
    date: DATE_OPS, string: STRING_OPS }[fieldKind(f)];
}

export function opLabel(op) {
  for (const list of [STRING_OPS, NUMBER_OPS, CHOICE_OPS, DATE_OPS])
    for (const [o, l] of list) if (o === op) return l;
  return op;
}

// A date the builder took as yyyy-mm-dd → the ON/NOTON value ServiceNow writes for it.
export function onValue(date) {
  return `${date}@javascript:gs.dateGenerate('${date}','start')@javascript:gs.dateGenerate('${date}','end')`;
}

// The date an ON/NOTON value names (its first part), for crumbs and the builder.
export function onDate(value) {
  return String(value).split('@')[0];
}
