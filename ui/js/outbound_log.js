// /snowglobe_outbound_log.do: the outbound HTTP log (sys_outbound_http_log, one row per request
// the instance sent; docs/outbound.md), read through the Table API (admin, web_service_admin),
// newest first, with its filters kept in the page's URL as the request journal's are.
// ?sys_id=X opens one request: its headers and bodies as the log stores them, secrets masked
// by nowd before they were written (nothing is unmasked here).
import { call as api } from './elevate.js';
import { h, message, errorText } from './dom.js';
import { tablePath, recordPath } from './meta.js';
import { urlFilterForm } from './filters.js';

export const OUTBOUND_LOG_PATH = '/snowglobe_outbound_log.do';
const TABLE = 'sys_outbound_http_log';

const FILTERS = [
  ['url', 'URL', 'contains', 'text'],
  ['method', 'Method', 'GET, POST...', 'text'],
  ['status', 'Status', '404 or 4xx', 'text'],
  ['source', 'REST message', 'contains', 'text'],
  ['outcome', 'Outcome', 'answered, unreachable...', 'text'],
  ['since', 'Since', 'yyyy-MM-dd HH:mm:ss UTC', 'text'],
  ['limit', 'Limit', '100', 'number'],
];

const LIST_FIELDS = ['sys_id', 'sys_created_on', 'method', 'url', 'response_status', 'response_time', 'source', 'outcome'];

// A value as one term of an encoded query: '^' would start another term.
function term(v) {
  return v.replace(/[\^\r\n]/g, '');
}

// The filters as an encoded query, or an error to show.
function encodedQuery(params) {
  const q = [];
  const get = (k) => (params.get(k) || '').trim();
  if (get('url')) q.push('urlLIKE' + term(get('url')));
  if (get('method')) q.push('method=' + term(get('method').toUpperCase()));
  if (get('source')) q.push('sourceLIKE' + term(get('source')));
  if (get('outcome')) q.push('outcome=' + term(get('outcome')));
  const st = get('status').toLowerCase();
  if (/^\d{1,3}$/.test(st)) q.push('response_status=' + st);
  else if (/^[1-5]xx$/.test(st)) q.push('response_status>=' + st[0] + '00^response_status<' + (Number(st[0]) + 1) + '00');
  else if (st) return { error: 'Status is a code (404) or a class (4xx)' };
  if (get('since')) {
    if (!/^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$/.test(get('since'))) return { error: 'Since is yyyy-MM-dd HH:mm:ss (UTC)' };
    const t = get('since');
    q.push('sys_created_on>=' + t + (t.length === 10 ? ' 00:00:00' : t.length === 16 ? ':00' : ''));
  }
  q.push('ORDERBYDESCsys_created_on');
  return { query: q.join('^') };
}

export async function renderOutboundLog(main, params) {
  if (params.get('sys_id')) return renderOne(main, params.get('sys_id'));
  document.title = 'Outbound HTTP log | Snowglobe';
  const msgs = h('div', { class: 'sg-msgs' });
  const form = urlFilterForm({ id: 'sg-outlog-filter', label: 'Filter the outbound HTTP log', prefix: 'sg-of-',
    path: OUTBOUND_LOG_PATH, filters: FILTERS, max: 1000, params });
  main.append(h('div', { class: 'sg-titlebar' }, h('h1', {}, 'Outbound HTTP log'),
    h('a', { href: '/' + TABLE + '_list.do', class: 'sg-button' }, 'As a table list')), form, msgs);

  const { query, error } = encodedQuery(params);
  if (error) {
    message(msgs, 'error', error);
    return;
  }
  const limit = Math.min(Math.max(parseInt(params.get('limit') || '100', 10) || 100, 1), 1000);
  const res = await api('GET', tablePath(TABLE, { sysparm_query: query, sysparm_fields: LIST_FIELDS.join(','),
    sysparm_limit: limit }));
  if (!res.ok) {
    message(msgs, 'error', errorText(res));
    return;
  }
  const rows = res.json.result;
  const total = parseInt(res.headers.get('X-Total-Count') || String(rows.length), 10);
  main.append(h('p', { id: 'sg-range', role: 'status' }, rows.length ? rows.length + ' of ' + total + ', newest first' : 'No outbound requests match'));
  if (!rows.length) return;
  const cols = [['sys_created_on', 'Time (UTC)'], ['method', 'Method'], ['url', 'URL'], ['response_status', 'Status'],
    ['response_time', 'Time (ms)'], ['source', 'REST message'], ['outcome', 'Outcome']];
  main.append(h('div', { class: 'sg-list-wrap' }, h('table', { class: 'sg-list', id: 'sg-outlog' },
    h('caption', { class: 'sg-visually-hidden' }, 'Outbound requests, newest first'),
    h('thead', {}, h('tr', {}, cols.map(([, l]) => h('th', { scope: 'col' }, l)))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-sys-id': r.sys_id }, cols.map(([k]) => {
      const v = r[k] == null ? '' : String(r[k]);
      if (k === 'sys_created_on') return h('th', { scope: 'row' }, h('a', { href: OUTBOUND_LOG_PATH + '?sys_id=' + encodeURIComponent(r.sys_id) }, v));
      return h('td', { class: 'sg-outlog-' + k }, v);
    })))))));
}

// One request: what went and what came back, as stored.
async function renderOne(main, sysId) {
  document.title = 'Outbound HTTP request | Snowglobe';
  const msgs = h('div', { class: 'sg-msgs' });
  main.append(h('div', { class: 'sg-titlebar' }, h('h1', {}, 'Outbound HTTP request'),
    h('a', { href: OUTBOUND_LOG_PATH, class: 'sg-button' }, 'Back to the log')), msgs);
  const res = await api('GET', recordPath(TABLE, sysId, {}));
  if (!res.ok) {
    message(msgs, 'error', res.status === 404 ? 'Record not found' : errorText(res));
    return;
  }
  const r = res.json.result;
  const facts = [['Time (UTC)', r.sys_created_on], ['Method', r.method], ['URL', r.url], ['Status', r.response_status],
    ['Time (ms)', r.response_time], ['Outcome', r.outcome], ['Error', r.error_message], ['REST message', r.source],
    ['Source record', r.source_table ? r.source_table + ' ' + (r.source_record || '') : ''],
    ['In a write transaction', r.transaction]];
  main.append(h('dl', { class: 'sg-outlog-facts', id: 'sg-outlog-facts' },
    facts.filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))])));
  const block = (id, title, text) => h('section', { class: 'sg-related', 'aria-labelledby': id + '-title' },
    h('h2', { id: id + '-title' }, title),
    text ? h('pre', { id, class: 'sg-outlog-text' }, text) : h('p', { class: 'sg-empty', id }, '(none)'));
  main.append(block('sg-outlog-req-headers', 'Request headers', r.request_headers),
    block('sg-outlog-req-body', 'Request body', r.request_body),
    block('sg-outlog-resp-headers', 'Response headers', r.response_headers),
    block('sg-outlog-resp-body', 'Response body', r.response_body));
}
