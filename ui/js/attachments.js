// A record's attachments on its form, as ServiceNow's paper-clip list: upload, list, download
// and delete, all through the Attachment API as the signed-in user (the session cookie with
// the page's X-UserToken, and the elevated role when there is one).  The server decides who
// may do what (read on the parent to see, write on it to add or remove, the allowed file
// extensions, the size limit); its refusals are shown as it words them.
import { elevatedRole, elevateOffer } from './elevate.js';
import { h, clear, message, errorText } from './dom.js';

function headers(more = {}) {
  const role = elevatedRole();
  return Object.assign({ 'Accept': 'application/json',
    'X-UserToken': document.querySelector('meta[name="sg-ck"]').content },
  role ? { 'X-Snowglobe-Elevate': role } : {}, more);
}

// {status, ok, json} of a fetch whose answer is JSON (or empty).
async function send(method, path, body, type) {
  const init = { method, credentials: 'same-origin', headers: headers(type ? { 'Content-Type': type } : {}) };
  if (body !== undefined) init.body = body;
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  return { status: r.status, ok: r.ok, json };
}

function sizeText(bytes) {
  const n = Number(bytes);
  if (!Number.isFinite(n)) return '? bytes';
  if (n < 1024) return n + ' bytes';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
  return (n / 1024 / 1024).toFixed(1) + ' MB';
}

// The bytes come through fetch (they need the token header) and are saved from a blob URL.
async function download(a, msgs) {
  const r = await fetch('/api/now/attachment/' + encodeURIComponent(a.sys_id) + '/file',
    { credentials: 'same-origin', headers: headers({ 'Accept': '*/*' }) });
  if (!r.ok) {
    let json = null;
    try { json = await r.json(); } catch (e) { json = null; }
    message(msgs, 'error', errorText({ status: r.status, json }));
    return;
  }
  const url = URL.createObjectURL(await r.blob());
  const link = h('a', { href: url, download: a.file_name || 'attachment', hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// The "Attachments" section of table's record sysId; null when the user may not list them.
export async function attachmentsSection(table, sysId) {
  const sec = h('section', { class: 'sg-related', id: 'sg-attachments', 'aria-labelledby': 'sg-attachments-title' });
  const ok = await fill(sec, table, sysId, null);
  return ok ? sec : null;
}

// (Re)draws sec; note (optional) is a message to show once.  False when the list is refused.
async function fill(sec, table, sysId, note) {
  const q = 'table_name=' + table + '^table_sys_id=' + sysId + '^ORDERBYsys_created_on';
  const res = await send('GET', '/api/now/attachment?sysparm_query=' + encodeURIComponent(q));
  if (!res.ok || !res.json || !Array.isArray(res.json.result)) return false;
  const rows = res.json.result;
  clear(sec);
  const msgs = h('div', { class: 'sg-msgs', 'aria-live': 'polite' });
  if (note) message(msgs, 'info', note);
  const refused = (r) => {
    const box = message(msgs, 'error', errorText(r));
    const offer = elevateOffer(r, () => fill(sec, table, sysId, null));
    if (offer) box.insertBefore(offer, box.lastChild);
  };

  const items = rows.map((a) => h('li', { 'data-sys-id': a.sys_id },
    h('button', { type: 'button', class: 'sg-link sg-attachment-name', onclick: () => download(a, msgs) }, a.file_name),
    ' ', h('span', { class: 'sg-muted' }, [a.content_type, sizeText(a.size_bytes)].filter(Boolean).join(', ')),
    ' ', h('button', { type: 'button', class: 'sg-attachment-delete', 'aria-label': 'Delete ' + a.file_name,
      onclick: async () => {
        if (!window.confirm('Delete ' + a.file_name + '?')) return;
        const r = await send('DELETE', '/api/now/attachment/' + encodeURIComponent(a.sys_id));
        if (r.ok) await fill(sec, table, sysId, 'Attachment deleted: ' + a.file_name);
        else refused(r);
      } }, 'Delete')));

  const file = h('input', { type: 'file', id: 'sg-attach-file' });
  const upload = h('button', { type: 'submit', id: 'sg-attach-upload' }, 'Upload');
  const form = h('form', { class: 'sg-attach-form', onsubmit: async (ev) => {
    ev.preventDefault();
    const f = file.files[0];
    if (!f) {
      message(msgs, 'error', 'Choose a file to attach');
      file.focus();
      return;
    }
    upload.disabled = true;
    const qs = 'table_name=' + encodeURIComponent(table) + '&table_sys_id=' + encodeURIComponent(sysId) +
      '&file_name=' + encodeURIComponent(f.name);
    const r = await send('POST', '/api/now/attachment/file?' + qs, f, f.type || 'application/octet-stream');
    upload.disabled = false;
    if (r.ok) await fill(sec, table, sysId, 'Attachment added: ' + f.name);
    else refused(r);
  } }, h('label', { for: 'sg-attach-file' }, 'Attach a file'), ' ', file, ' ', upload);

  sec.append(h('h2', { id: 'sg-attachments-title' }, 'Attachments (' + rows.length + ')'), msgs,
    items.length ? h('ul', { class: 'sg-attachment-list' }, items) : h('p', { class: 'sg-empty' }, 'No attachments'),
    form);
  return true;
}
