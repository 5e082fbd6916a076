// {table}.do?sys_id=X (sys_id=-1: a new record): a record's form.  Fields come from the
// dictionary and take the control their type asks for; values are the Table API's display
// values (dates in the user's time zone) and go back with sysparm_input_display_value=true,
// so the server converts dates and resolves typed references as ServiceNow's form does.
// The server's own refusals (data policy, ACL, unique key) are shown as it words them.
import { call as api, elevateOffer } from './elevate.js';
import { h, clear, message, errorText, setFlash, takeFlash } from './dom.js';
import { dictionary, tablePath, recordPath, isSystemField } from './meta.js';
import { remember } from './nav.js';
import { referenceInput } from './lookup.js';
import { listHref, TABLE_NAME } from './list.js';
import { go } from './app.js';
import { attachmentsSection } from './attachments.js';
import { presetRecord, guideRelated } from './guide.js';
import { oauthRelatedLinks } from './oauth_token.js';

// Fields shown first when present, in ServiceNow's default form order for the ITSM tables;
// every other field is under "More fields".
const MAIN = ['number', 'name', 'user_name', 'first_name', 'last_name', 'email', 'caller_id', 'requested_by',
  'category', 'subcategory', 'cmdb_ci', 'contact_type', 'state', 'impact', 'urgency', 'priority', 'risk', 'type',
  'assignment_group', 'assigned_to', 'short_description', 'description', 'close_code', 'close_notes',
  'client_id', 'client_secret', 'default_grant_type', 'oauth_user', 'redirect_url', 'access_token_lifespan', 'refresh_token_lifespan', 'active',
  'web_service_access_only', 'locked_out', 'user_password', 'value', 'operation', 'admin_overrides', 'condition', 'script',
  'label', 'element', 'internal_type', 'reference', 'parent', 'manager', 'department', 'company', 'location'];
const NOT_INPUT = new Set(['journal', 'journal_list']);
const DATETIME_TYPES = new Set(['glide_date_time', 'due_date']);

function cell(rec, el) {
  const v = rec && rec[el];
  if (v === undefined || v === null) return { value: '', display: '' };
  if (typeof v !== 'object') return { value: String(v), display: String(v) };
  return { value: v.value == null ? '' : String(v.value), display: v.display_value == null ? '' : String(v.display_value) };
}

// One field's control: {el (the control to label), wrap (what goes in the form), get() → the
// value to send, initial (what get() gave when loaded)}.
function control(f, rec, isNew, id) {
  let { value, display } = cell(rec, f.element);
  if (isNew && !value && f.defaultValue && !f.defaultValue.startsWith('javascript:')) value = display = f.defaultValue;
  const readOnly = f.readOnly || (!isNew && f.element === 'number');
  const common = { id, name: f.element, required: f.mandatory && !readOnly, 'aria-required': f.mandatory ? 'true' : null };
  let el;
  let get;
  if (f.hasChoices) {
    const opts = f.choices.slice();
    if (value && !opts.some((o) => o.value === value)) opts.push({ value, label: display || value });
    el = h('select', Object.assign({ disabled: readOnly }, common),
      (f.mandatory && value) ? null : h('option', { value: '' }, '-- None --'),
      opts.map((o) => h('option', { value: o.value, selected: o.value === value }, o.label)));
    get = () => el.value;
  } else if (f.type === 'reference' && f.reference) {
    const ref = referenceInput({ id, table: f.reference, value, display, required: common.required, readOnly });
    ref.input.name = f.element;
    if (f.mandatory) ref.input.setAttribute('aria-required', 'true');
    return { el: ref.input, wrap: ref.el, get: () => ref.value, initial: ref.value };
  } else if (f.type === 'boolean') {
    el = h('input', Object.assign({ type: 'checkbox', checked: value === 'true', disabled: readOnly }, common, { required: false }));
    get = () => (el.checked ? 'true' : 'false');
  } else if (f.type === 'password' || f.type === 'password2') {
    el = h('input', Object.assign({ type: 'password', autocomplete: 'new-password', readOnly,
      placeholder: value ? '(set: type to change)' : '' }, common, { required: common.required && !value }));
    get = () => el.value;
    return { el, wrap: el, get, initial: '', secret: true, hasValue: !!value };
  } else if (f.type === 'glide_date') {
    el = h('input', Object.assign({ type: 'date', value: display, readOnly }, common));
    get = () => el.value;
  } else if (DATETIME_TYPES.has(f.type)) {
    el = h('input', Object.assign({ type: 'text', value: display, readOnly, placeholder: 'yyyy-MM-dd HH:mm:ss',
      pattern: '\\d{4}-\\d{2}-\\d{2}( \\d{2}:\\d{2}(:\\d{2})?)?', title: 'yyyy-MM-dd HH:mm:ss, in your time zone' }, common));
    get = () => el.value.trim();
  } else if (f.type === 'journal_input') {
    el = h('textarea', Object.assign({ rows: 3, readOnly, class: 'sg-journal-input' }, common, { required: false }));
    get = () => el.value.trim();
    return { el, wrap: el, get, initial: '', journal: true };
  } else if (['script', 'script_plain', 'conditions', 'html'].includes(f.type) || f.maxLength > 255) {
    el = h('textarea', Object.assign({ rows: f.type === 'script' ? 10 : 4, readOnly, maxLength: f.maxLength > 0 ? f.maxLength : null,
      class: f.type === 'script' ? 'sg-code' : null, spellcheck: f.type === 'script' ? 'false' : null }, common));
    el.value = display;
    get = () => el.value;
  } else {
    const numeric = ['integer', 'decimal', 'float', 'currency', 'price'].includes(f.type);
    el = h('input', Object.assign({ type: f.type === 'email' ? 'email' : f.type === 'url' ? 'url' : 'text', value: display,
      readOnly, inputmode: numeric ? 'decimal' : null, maxLength: f.maxLength > 0 && !numeric ? f.maxLength : null }, common));
    get = () => el.value;
  }
  return { el, wrap: el, get, initial: get() };
}

function fieldRow(f, ctl) {
  const label = h('label', { for: ctl.el.id }, f.label,
    f.mandatory ? h('span', { class: 'sg-mandatory', title: 'Mandatory' }, ' *') : null,
    f.readOnly ? h('span', { class: 'sg-readonly-mark' }, ' (read-only)') : null);
  return h('div', { class: 'sg-field sg-type-' + f.type + (f.mandatory ? ' sg-is-mandatory' : '') + (f.readOnly ? ' sg-is-readonly' : ''),
    'data-field': f.element }, label, ctl.wrap);
}

export async function renderForm(main, table, params) {
  const sysId = params.get('sys_id') || '-1';
  const isNew = sysId === '-1' || sysId === '';
  const msgs = h('div', { class: 'sg-msgs' });
  // The record is asked for while the table's columns are: one round trip, not two.
  const recRes = isNew ? null : api('GET', recordPath(table, sysId, { sysparm_display_value: 'all', sysparm_exclude_reference_link: 'true' }));
  let dict;
  try {
    dict = await dictionary(table);
  } catch (e) {
    if (recRes) await recRes.catch(() => null);
    main.append(h('h1', {}, table), msgs);
    const box = message(msgs, 'error', e && e.res ? errorText(e.res) : String(e));
    // The table's columns are refused as its records would be: elevating may give both.
    const offer = e && e.res ? elevateOffer(e.res, () => window.location.reload()) : null;
    if (offer) box.insertBefore(offer, box.lastChild);
    return;
  }
  let rec = null;
  if (!isNew) {
    const res = await recRes;
    if (!res.ok) {
      main.append(h('h1', {}, dict.label), msgs);
      const box = message(msgs, 'error', res.status === 404 ? 'Record not found' : errorText(res));
      const offer = elevateOffer(res, () => window.location.reload());
      if (offer) box.insertBefore(offer, box.lastChild);
      return;
    }
    rec = res.json.result;
  } else rec = await presetRecord(dict, params); // sysparm_query's field=value terms
  const title = isNew ? 'New record' : (cell(rec, dict.display).display || sysId);
  document.title = dict.label + ' ' + title + ' | Snowglobe';
  if (!isNew) remember('/' + table + '.do?sys_id=' + sysId, dict.label + ' ' + title);

  const controls = new Map();
  const shown = [...dict.order].filter((el) => {
    const f = dict.fields.get(el);
    return !isSystemField(el) && !NOT_INPUT.has(f.type) && el !== 'sys_class_name';
  });
  const main1 = MAIN.filter((el) => shown.includes(el));
  if (main1.length < 4) shown.filter((el) => dict.fields.get(el).table === table && !main1.includes(el)).slice(0, 12).forEach((el) => main1.push(el));
  const journals = shown.filter((el) => dict.fields.get(el).type === 'journal_input');
  const more = shown.filter((el) => !main1.includes(el) && !journals.includes(el));
  const make = (el) => {
    const f = dict.fields.get(el);
    const ctl = control(f, rec, isNew, 'sg-f-' + el);
    controls.set(el, ctl);
    return fieldRow(f, ctl);
  };

  const form = h('form', { id: 'sg-form', class: 'sg-form', novalidate: true, 'aria-label': dict.label + ' form' });
  form.append(h('div', { class: 'sg-fields' }, main1.map(make)));
  if (journals.length) form.append(h('fieldset', { class: 'sg-journals' }, h('legend', {}, 'Notes'), journals.map(make)));
  if (more.length) form.append(h('details', { class: 'sg-more' }, h('summary', {}, 'More fields'), h('div', { class: 'sg-fields' }, more.map(make))));

  // Buttons, in the title bar as ServiceNow puts them, and again under the form.
  const buttons = () => {
    const b = [];
    if (isNew) b.push(h('button', { type: 'submit', form: 'sg-form', class: 'sg-primary', 'data-action': 'insert' }, 'Submit'));
    else {
      b.push(h('button', { type: 'submit', form: 'sg-form', class: 'sg-primary', 'data-action': 'update' }, 'Update'));
      if (dict.chain.includes('incident') && controls.has('state') && !['6', '7', '8'].includes(cell(rec, 'state').value))
        b.push(h('button', { type: 'button', 'data-action': 'resolve', onclick: () => resolve() }, 'Resolve'));
      b.push(h('button', { type: 'button', class: 'sg-danger', 'data-action': 'delete', onclick: () => confirmDelete() }, 'Delete'));
    }
    return h('div', { class: 'sg-actions' }, b);
  };
  main.append(h('div', { class: 'sg-titlebar' }, h('h1', {}, h('span', { class: 'sg-table-label' }, dict.label), ' ', title), buttons()), msgs);
  const flash = takeFlash();
  if (flash) {
    const box = message(msgs, 'info', flash.text);
    if (flash.secret) {
      box.insertBefore(h('p', {}, 'Client secret, shown this once (copy it now): ',
        h('code', { id: 'sg-secret-once' }, flash.secret)), box.lastChild);
    }
  }
  main.append(form, buttons());

  function resolve() {
    const st = controls.get('state');
    st.el.value = '6';
    form.requestSubmit();
  }

  async function confirmDelete() {
    const dlg = h('dialog', { class: 'sg-dialog', 'aria-labelledby': 'sg-del-title' },
      h('h2', { id: 'sg-del-title' }, 'Delete this record?'),
      h('p', {}, dict.label + ' ' + title + ' will be deleted.'),
      h('form', { method: 'dialog' },
        h('button', { value: 'cancel', autofocus: true }, 'Cancel'),
        h('button', { value: 'delete', class: 'sg-danger', id: 'sg-del-confirm' }, 'Delete')));
    document.body.append(dlg);
    dlg.addEventListener('close', async () => {
      const ok = dlg.returnValue === 'delete';
      dlg.remove();
      if (!ok) return;
      const res = await api('DELETE', recordPath(table, sysId));
      if (!res.ok) { message(msgs, 'error', errorText(res)); return; }
      setFlash('Record deleted');
      go(listHref(table, '', 1), true);
    });
    dlg.showModal();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clear(msgs);
    const missing = [];
    for (const [el, ctl] of controls) {
      const f = dict.fields.get(el);
      ctl.el.removeAttribute('aria-invalid');
      const empty = ctl.get() === '' && !(ctl.secret && ctl.hasValue);
      if (f.mandatory && !f.readOnly && empty && !(isNew && f.defaultValue)) {
        missing.push(f.label);
        ctl.el.setAttribute('aria-invalid', 'true');
      }
    }
    if (missing.length) {
      message(msgs, 'error', 'The following mandatory fields are not filled in: ' + missing.join(', '));
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) { first.closest('details')?.setAttribute('open', ''); first.focus(); }
      return;
    }
    const body = {};
    for (const [el, ctl] of controls) {
      const v = ctl.get();
      if (dict.fields.get(el).readOnly) continue;
      if (isNew ? v !== '' : v !== ctl.initial) body[el] = v;
    }
    if (!isNew && !Object.keys(body).length) { message(msgs, 'info', 'No changes to save'); return; }
    // A new inbound OAuth application gets a generated client secret, shown once (the API
    // masks it ever after), as the Application Registry's form does.
    const secret = isNew && table === 'oauth_entity' && controls.has('client_secret') && !body.client_secret
      ? newSecret() : '';
    if (secret) body.client_secret = secret;
    const opts = { sysparm_input_display_value: 'true', sysparm_display_value: 'all', sysparm_exclude_reference_link: 'true' };
    const res = isNew ? await api('POST', tablePath(table, opts), body) : await api('PATCH', recordPath(table, sysId, opts), body);
    if (!res.ok) {
      // The form keeps what was typed: after elevating, Update again sends it elevated.
      const box = message(msgs, 'error', errorText(res));
      const offer = elevateOffer(res, () => box.remove());
      if (offer) box.insertBefore(offer, box.lastChild);
      return;
    }
    const id = isNew ? cell(res.json.result, 'sys_id').value : sysId;
    setFlash(isNew ? 'Record inserted' : 'Record updated', secret);
    go('/' + table + '.do?sys_id=' + id, true);
  });

  if (!isNew) {
    // Related Links under the form, as ServiceNow puts them: an outbound provider's Get OAuth Token.
    const links = oauthRelatedLinks(table, rec);
    if (links) main.append(links);
    // Asked for together, shown in their order.
    const [activity, related, guided] = await Promise.all([journalHistory(dict, sysId),
      relatedLists(dict, table, sysId), guideRelated(table, sysId)]); // guided: Roles, Groups, Auth scopes
    if (activity) main.append(activity);
    main.append(...related, ...guided);
  }
}

// The activity of a record's journal fields (work notes, comments), newest first.
async function journalHistory(dict, sysId) {
  const sec = h('section', { class: 'sg-activity', 'aria-labelledby': 'sg-activity-title' }, h('h2', { id: 'sg-activity-title' }, 'Activity'));
  if (![...dict.fields.values()].some((f) => f.type.startsWith('journal'))) return null;
  const res = await api('GET', tablePath('sys_journal_field', { sysparm_query: 'element_id=' + sysId + '^ORDERBYDESCsys_created_on',
    sysparm_fields: 'element,value,sys_created_by,sys_created_on', sysparm_display_value: 'true', sysparm_limit: 200 }));
  if (!res.ok) { sec.append(h('p', { class: 'sg-empty' }, errorText(res))); return sec; }
  const rows = res.json.result;
  if (!rows.length) sec.append(h('p', { class: 'sg-empty' }, 'No activity yet'));
  sec.append(h('ol', { class: 'sg-journal' }, rows.map((r) => {
    const f = dict.fields.get(r.element);
    return h('li', { 'data-element': r.element },
      h('div', { class: 'sg-journal-head' }, h('strong', {}, r.sys_created_by), ' · ', h('time', {}, r.sys_created_on), ' · ', f ? f.label : r.element),
      h('p', { class: 'sg-journal-text' }, r.value));
  })));
  return sec;
}

function relatedTable(caption, cols, rows, linkTable) {
  if (!rows.length) return h('p', { class: 'sg-empty' }, 'No records');
  return h('table', { class: 'sg-list' }, h('caption', { class: 'sg-visually-hidden' }, caption),
    h('thead', {}, h('tr', {}, cols.map(([, l]) => h('th', { scope: 'col' }, l)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map(([el], i) => {
      const c = cell(r, el);
      if (i === 0) return h('th', { scope: 'row' }, h('a', { href: '/' + linkTable(r) + '.do?sys_id=' + cell(r, 'sys_id').value }, c.display || '(empty)'));
      return h('td', {}, c.display);
    })))));
}

// Related lists: a task's child tasks (parent = this record), an incident's child incidents,
// and the attachments (attachments.js).
async function relatedLists(dict, table, sysId) {
  const out = [];
  const tabs = [];
  if (dict.chain.includes('task')) tabs.push(['Child tasks', 'task', 'parent=' + sysId]);
  if (dict.fields.has('parent_incident')) tabs.push(['Child incidents', 'incident', 'parent_incident=' + sysId]);
  const cols = [['number', 'Number'], ['short_description', 'Short description'], ['state', 'State'], ['sys_class_name', 'Task type']];
  const answers = Promise.all(tabs.map(([, t, q]) => api('GET', tablePath(t, { sysparm_query: q, sysparm_display_value: 'all',
    sysparm_exclude_reference_link: 'true', sysparm_fields: 'sys_id,' + cols.map(([el]) => el).join(','), sysparm_limit: 50 }))));
  const attachments = attachmentsSection(table, sysId);
  const got = await answers;
  for (const [i, [caption, t]] of tabs.entries()) {
    const res = got[i];
    if (!res.ok) continue; // not readable: no list, as ServiceNow hides it
    out.push(h('section', { class: 'sg-related', 'aria-label': caption }, h('h2', {}, caption + ' (' + res.json.result.length + ')'),
      relatedTable(caption, cols, res.json.result, (r) => (TABLE_NAME.test(cell(r, 'sys_class_name').value) ? cell(r, 'sys_class_name').value : t))));
  }
  const section = await attachments;
  if (section) out.push(section);
  return out;
}

// 24 random bytes as 32 URL-safe characters, as nowctl oauth add makes a client secret.
function newSecret() {
  const b = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_');
}

