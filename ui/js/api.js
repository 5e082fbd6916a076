// Calls nowd's REST API as the signed-in user: the session cookie goes by itself
// (same origin), the CSRF token from the page goes as X-UserToken, as ServiceNow's UI does.
const ck = document.querySelector('meta[name="sg-ck"]').content;

export async function api(method, path, body, headers = {}) {
  const init = { method, credentials: 'same-origin',
    headers: Object.assign({ 'Accept': 'application/json', 'X-UserToken': ck }, headers) };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
  return { status: r.status, ok: r.ok, json, headers: r.headers };
}

export function user() {
  return document.querySelector('meta[name="sg-user"]').content;
}
