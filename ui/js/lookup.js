// A reference field's input: type-ahead over the referenced table's display field (a
// combobox with a listbox, keyboard as WAI-ARIA's combobox pattern), holding the chosen
// record's sys_id.  Text typed but not chosen is given as it is: the Table API resolves a
// display value itself when written with sysparm_input_display_value=true.
import { call as api } from './elevate.js';
import { h, clear, debounce } from './dom.js';
import { dictionary, tablePath } from './meta.js';

let seq = 0;

// opts: {id, table, value (sys_id), display, required, readOnly, onchange}
export function referenceInput(opts) {
  const listId = 'sg-ref-list-' + ++seq;
  let chosen = { value: opts.value || '', display: opts.display || '' };
  let options = [];
  let active = -1;
  const input = h('input', { type: 'text', id: opts.id, value: chosen.display, autocomplete: 'off',
    role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId,
    required: !!opts.required, readOnly: !!opts.readOnly, class: 'sg-ref-input' });
  const list = h('ul', { id: listId, role: 'listbox', class: 'sg-ref-list', hidden: true });
  const open = opts.value && /^[a-z0-9_]+$/.test(opts.table) ? h('a', { class: 'sg-ref-open', href: '/' + opts.table + '.do?sys_id=' + encodeURIComponent(opts.value),
    title: 'Open the referenced record', 'aria-label': 'Open ' + (opts.display || 'referenced record') }, '→') : null;
  const el = h('div', { class: 'sg-ref' }, input, open, list);

  function close() {
    list.hidden = true;
    active = -1;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
  }

  function highlight(i) {
    active = i;
    [...list.children].forEach((li, j) => li.setAttribute('aria-selected', j === i ? 'true' : 'false'));
    if (i >= 0 && list.children[i]) {
      input.setAttribute('aria-activedescendant', list.children[i].id);
      list.children[i].scrollIntoView({ block: 'nearest' });
    }
  }

  function choose(o) {
    chosen = { value: o.value, display: o.display };
    input.value = o.display;
    close();
    if (opts.onchange) opts.onchange();
  }

  const search = debounce(async () => {
    const text = input.value.trim();
    if (!text) { close(); return; }
    const dict = await dictionary(opts.table).catch(() => null);
    const disp = dict ? dict.display : 'name';
    const res = await api('GET', tablePath(opts.table, { sysparm_query: disp + 'LIKE' + text + '^ORDERBY' + disp,
      sysparm_fields: 'sys_id,' + disp, sysparm_limit: 10, sysparm_exclude_reference_link: 'true' }));
    if (input.value.trim() !== text) return; // typed on meanwhile
    clear(list);
    options = res.ok ? res.json.result.map((r) => ({ value: r.sys_id, display: r[disp] || r.sys_id })) : [];
    if (!options.length) {
      list.append(h('li', { class: 'sg-ref-none', role: 'option', 'aria-disabled': 'true', id: listId + '-none' },
        res.ok ? 'No matches' : 'Lookup refused (HTTP ' + res.status + ')'));
    }
    options.forEach((o, i) => list.append(h('li', { role: 'option', id: listId + '-' + i, 'aria-selected': 'false',
      onmousedown: (ev) => { ev.preventDefault(); choose(o); } }, o.display)));
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    highlight(options.length ? 0 : -1);
  }, 200);

  input.addEventListener('input', () => { search(); if (opts.onchange) opts.onchange(); });
  input.addEventListener('keydown', (ev) => {
    if (list.hidden) return;
    if (ev.key === 'ArrowDown') { ev.preventDefault(); highlight(Math.min(active + 1, options.length - 1)); }
    else if (ev.key === 'ArrowUp') { ev.preventDefault(); highlight(Math.max(active - 1, 0)); }
    else if (ev.key === 'Enter' && active >= 0) { ev.preventDefault(); choose(options[active]); }
    else if (ev.key === 'Escape') { ev.preventDefault(); close(); }
  });
  input.addEventListener('blur', () => setTimeout(close, 150));

  return {
    el, input,
    // The sys_id chosen, the text when typed and not chosen, '' when empty.
    get value() {
      const text = input.value.trim();
      if (!text) return '';
      return text === chosen.display && chosen.value ? chosen.value : text;
    },
    get display() { return input.value.trim(); },
  };
}
