// Small DOM helpers shared by the views.  Text always goes in as text (never as HTML):
// every value shown comes from records anyone with write access could have typed.

// h('a', {href: '/x', class: 'y', onclick: f}, 'text', child...) → an element.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// The page's message area: kind is 'error' or 'info'.  Errors are announced (role=alert).
export function message(container, kind, text) {
  const box = h('div', { class: 'sg-msg sg-msg-' + kind, role: kind === 'error' ? 'alert' : 'status' },
    h('span', {}, text),
    h('button', { type: 'button', class: 'sg-msg-close', 'aria-label': 'Dismiss message',
      onclick: () => box.remove() }, '×'));
  container.append(box);
  return box;
}

// The text of a failed REST call as the API gives it: ServiceNow's UI shows the detail
// ("Data Policy Exception: ...") when there is one, else the message.
export function errorText(res) {
  const e = res.json && res.json.error;
  if (e && (e.detail || e.message)) {
    const detail = String(e.detail || '').replace(/\s*\n\s*/g, ' ').trim();
    return detail || e.message;
  }
  if (res.status === 401) return 'Your session has ended: sign in again.';
  if (res.status === 403) return 'Security constraints prevent access to this record.';
  return 'The request failed (HTTP ' + res.status + ').';
}

export function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

// A message carried over a navigation ("Record inserted" on the new record's form, "Record
// deleted" on the list): set before go(), shown once by the next view; {text, secret}.
let flash = null;

export function setFlash(text, secret = '') {
  flash = { text, secret };
}

export function takeFlash() {
  const t = flash;
  flash = null;
  return t;
}
