// A page's filter form whose values live in the page's URL (the request journal's and the
// outbound log's): one labelled input per filter, Run (navigates to path?filters) and Clear.
// filters: [name, label, placeholder, input type]; max: the largest limit the page takes.
import { h } from './dom.js';
import { go } from './app.js';

export function urlFilterForm({ id, label, prefix, path, filters, max, params }) {
  const inputs = new Map();
  const form = h('form', { id, class: 'sg-journal-filter', 'aria-label': label },
    filters.map(([name, text, hint, type]) => {
      const input = h('input', { type, id: prefix + name, name, value: params.get(name) || '', placeholder: hint,
        min: type === 'number' ? '1' : null, max: type === 'number' ? String(max) : null });
      inputs.set(name, input);
      return h('span', { class: 'sg-jf' }, h('label', { for: prefix + name }, text), ' ', input);
    }),
    h('button', { type: 'submit', class: 'sg-primary', id: prefix + 'run' }, 'Run'),
    h('a', { class: 'sg-button', href: path }, 'Clear filters'));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const [name, input] of inputs) if (input.value.trim()) q.set(name, input.value.trim());
    const s = q.toString();
    go(path + (s ? '?' + s : ''));
  });
  return form;
}
