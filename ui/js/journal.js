// /snowglobe_request_journal.do: nowd's journal of the requests it served
// (GET /_snowglobe/requests, admins only; docs/test-powers.md), read-only, newest first,
// with the journal's own filters (path prefix or glob, user, method, status or class, since,
// limit) kept in the page's URL.  The outbound log has a page of its own (outbound_log.js).
import { call as api } from './elevate.js';
import { h, message, errorText } from './dom.js';
import { urlFilterForm } from './filters.js';

export const JOURNAL_PATH = '/snowglobe_request_journal.do';

const FILTERS = [
  ['path', 'Path', 'a prefix, or a glob with *', 'text'],
  ['user', 'User', 'user name', 'text'],
  ['method', 'Method', 'GET, POST...', 'text'],
  ['status', 'Status', '404 or 4xx', 'text'],
  ['since', 'Since', 'yyyy-MM-dd HH:mm:ss UTC', 'text'],
  ['limit', 'Limit', '100', 'number'],
];

export async function renderJournal(main, params) {
  document.title = 'Request journal | Snowglobe';
  const msgs = h('div', { class: 'sg-msgs' });
  const form = urlFilterForm({ id: 'sg-journal-filter', label: 'Filter the request journal', prefix: 'sg-jf-',
    path: JOURNAL_PATH, filters: FILTERS, max: 10000, params });
  main.append(h('div', { class: 'sg-titlebar' }, h('h1', {}, 'Request journal')), form, msgs);

  const q = new URLSearchParams();
  for (const [name] of FILTERS) if (params.get(name)) q.set(name, params.get(name));
  const s = q.toString();
  const res = await api('GET', '/_snowglobe/requests' + (s ? '?' + s : ''));
  if (!res.ok) {
    message(msgs, 'error', errorText(res));
    return;
  }
  const rows = res.json.result;
  const total = parseInt(res.headers.get('X-Total-Count') || String(rows.length), 10);
  main.append(h('p', { id: 'sg-range', role: 'status' }, rows.length ? rows.length + ' of ' + total + ', newest first' : 'No requests match'));
  if (!rows.length) return;
  const cols = [['time', 'Time (UTC)'], ['user', 'User'], ['method', 'Method'], ['path', 'Path'], ['status', 'Status'],
    ['latency_ms', 'Latency (ms)'], ['request_bytes', 'Request bytes'], ['response_bytes', 'Response bytes']];
  main.append(h('div', { class: 'sg-list-wrap' }, h('table', { class: 'sg-list', id: 'sg-journal' },
    h('caption', { class: 'sg-visually-hidden' }, 'Requests, newest first'),
    h('thead', {}, h('tr', {}, cols.map(([, l]) => h('th', { scope: 'col' }, l)))),
    h('tbody', {}, rows.map((r) => h('tr', { 'data-seq': String(r.seq) }, cols.map(([k]) => {
      let v = r[k] == null ? '' : String(r[k]);
      if (k === 'path' && r.query) v += '?' + r.query;
      return k === 'time' ? h('th', { scope: 'row' }, v) : h('td', { class: 'sg-journal-' + k }, v);
    })))))));
}
