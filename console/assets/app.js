// Suslik console: one small vanilla-JS app over the broker's JSON API.
//
// * Views live in the URL fragment (#/processes?state=broken&offset=50), so filters
//   survive a reload and every view can be linked.
// * Every request goes through api(): it adds the operator token (kept in
//   sessionStorage) and shows the sign-in form on a 401.
// * The current view refreshes its data every few seconds while the tab is visible,
//   and at once after an action; forms keep what the user typed.
// * Text from the broker is always inserted as text (never as HTML).
'use strict';

const V = '/api/v1';
const TOKEN_KEY = 'suslik.token';
const PAGE = 50;
const REFRESH_MS = 4000;

// ---------------------------------------------------------------- API access

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  toString() {
    return this.status ? `${this.status} ${this.code}: ${this.message}` : this.message;
  }
}

/** The one place that talks to the broker. `opts.body` (an object) is sent as JSON. */
async function api(path, opts = {}) {
  const headers = { Accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = 'Bearer ' + token;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  const method = opts.method || (body !== undefined ? 'POST' : 'GET');
  let res;
  try {
    res = await fetch(path, { method, headers, body });
  } catch (e) {
    throw new ApiError(0, 'network', 'cannot reach the broker: ' + e.message);
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (res.status === 401) {
    showLogin(token ? 'The token was refused.' : null);
    throw new ApiError(401, 'unauthorized', 'sign in with an operator token');
  }
  if (res.status === 403) {
    showLogin('This token may not do that: the console needs the operator token.');
  }
  if (!res.ok) {
    const code = (data && data.error) || 'http_' + res.status;
    const msg = (data && data.message) || text || res.statusText;
    throw new ApiError(res.status, code, msg);
  }
  return data;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, v);
  }
  const s = p.toString();
  return s ? '?' + s : '';
}

// ---------------------------------------------------------------- DOM helpers

/** h('a', {href: '#/x', class: 'y', onclick: f}, 'text', child) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

const SVGNS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function errorBox(what, e) {
  const missing = e && e.status === 404 && e.code === 'not_found';
  return h('p', { class: 'error', 'data-error': what },
    missing ? `${what}: this broker does not offer this endpoint yet (${e}).` : `${what}: ${e}`);
}

function pad(n) { return String(n).padStart(2, '0'); }
function fmtTime(ms) {
  if (ms === undefined || ms === null) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
function ago(ms) {
  if (!ms) return 'never';
  const s = Math.round((Date.now() - ms) / 1000);
  if (s < 0) return 'in ' + dur(-s);
  return dur(s) + ' ago';
}
function dur(s) {
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.round(s / 60) + ' min';
  if (s < 86400) return (s / 3600).toFixed(1) + ' h';
  return (s / 86400).toFixed(1) + ' d';
}
function badge(text) { return h('span', { class: 'badge ' + text }, text); }
function json(v) { return JSON.stringify(v, null, 2); }
function short(id) { return String(id).slice(0, 8); }
function procLink(id) { return h('a', { href: '#/process/' + id, class: 'mono', title: id }, short(id)); }
function taskLink(id) { return h('a', { href: '#/task/' + id, class: 'mono', title: id }, short(id)); }
function errType(e) { return e ? (e.type || e.error_type || '') : ''; }

/** A table: columns [{title, cell(row) -> node|text, num}] */
function table(columns, rows, attrs) {
  return h('table', attrs || {},
    h('thead', {}, h('tr', {}, columns.map(c => h('th', { class: c.num ? 'num' : null }, c.title)))),
    h('tbody', {}, rows.length
      ? rows.map(r => h('tr', {}, columns.map(c => h('td', { class: c.num ? 'num' : c.cls }, c.cell(r)))))
      : h('tr', {}, h('td', { colspan: columns.length, class: 'muted' }, 'Nothing here.'))));
}

/** Prev / next links for an offset-paginated list kept in the hash. */
function pager(route, params, total, offset, limit) {
  const go = o => { const p = new URLSearchParams(params); p.set('offset', o); return '#/' + route + '?' + p; };
  const from = total ? offset + 1 : 0;
  const to = Math.min(offset + limit, total);
  return h('div', { class: 'pager' },
    offset > 0 ? h('a', { href: go(Math.max(0, offset - limit)), class: 'prev' }, '← Previous') : null,
    h('span', { class: 'muted' }, `${from}–${to} of ${total}`),
    offset + limit < total ? h('a', { href: go(offset + limit), class: 'next' }, 'Next →') : null);
}

/** Reads a form's named inputs into an object of non-empty strings. */
function formValues(form) {
  const out = {};
  for (const el of form.elements) {
    if (el.name && el.value !== '') out[el.name] = el.value;
  }
  return out;
}

/** Replaces the hash's query with `params` (one history entry). */
function navigate(route, params) {
  const hash = '#/' + route + qs(params);
  if (location.hash === hash) runRefresh(current); else location.hash = hash;
}

/** An inline "are you sure?" strip; `run` is called on Confirm. */
function confirmBox(slot, text, run) {
  fill(slot, h('div', { class: 'notice confirm row', id: 'confirm' },
    h('span', {}, text),
    h('button', {
      id: 'confirm-yes', class: 'danger', onclick: async (ev) => {
        ev.target.disabled = true;
        try { await run(); } finally { fill(slot); }
      }
    }, 'Confirm'),
    h('button', { id: 'confirm-no', class: 'secondary', onclick: () => fill(slot) }, 'Cancel')));
}

function flash(slot, cls, text) {
  fill(slot, h('p', { class: cls, role: 'status' }, text));
}

// ---------------------------------------------------------------- sign-in

function showSignOut() {
  const out = document.getElementById('sign-out');
  out.hidden = !sessionStorage.getItem(TOKEN_KEY);
}

document.getElementById('sign-out').addEventListener('click', (ev) => {
  ev.preventDefault();
  sessionStorage.removeItem(TOKEN_KEY);
  showSignOut();
  route();
});

function showLogin(message) {
  const box = document.getElementById('login');
  const err = document.getElementById('login-error');
  err.hidden = !message;
  err.textContent = message || '';
  box.hidden = false;
  document.getElementById('login-token').focus();
}

document.getElementById('login-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const token = document.getElementById('login-token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  document.getElementById('login').hidden = true;
  showSignOut();
  route();
});

// ---------------------------------------------------------------- views

const views = {};

// Queues: every (actor, task list) queue with size, last poll and balance.
views.queues = (main, params) => {
  const prefix = params.get('prefix') || '';
  const offset = +params.get('offset') || 0;
  const form = h('form', { class: 'filters', id: 'queue-filter' },
    h('label', {}, 'Actor prefix', h('input', { name: 'prefix', value: prefix, placeholder: 'billing.' })),
    h('button', { type: 'submit' }, 'Filter'));
  form.addEventListener('submit', ev => { ev.preventDefault(); navigate('queues', formValues(form)); });
  const note = h('div');
  const body = h('div');
  fill(main, h('h1', {}, 'Queues'), form, note, body);
  return async () => {
    let rows;
    try {
      rows = (await api(V + '/queues/activity')).queues;
      fill(note);
    } catch (e) {
      if (e.status === 401) throw e;
      const plain = await api(V + '/queues');
      rows = plain.queues.map(q => ({ actor_id: q.actor_id, task_list: q.task_list, size: q.queued, blocked: q.blocked }));
      fill(note, h('p', { class: 'notice' }, `Queue activity (last poll, balance) is unavailable: ${e}`));
    }
    rows = rows.filter(q => q.actor_id.startsWith(prefix));
    rows.sort((a, b) => (a.actor_id + '\u0000' + a.task_list).localeCompare(b.actor_id + '\u0000' + b.task_list));
    const page = rows.slice(offset, offset + PAGE);
    fill(body, table([
      { title: 'Actor', cell: q => h('span', { class: 'mono' }, q.actor_id) },
      { title: 'Task list', cell: q => q.task_list || '(default)' },
      { title: 'Size', num: true, cell: q => q.size },
      { title: 'Leased', num: true, cell: q => q.leased ?? '' },
      { title: 'Last poll', cell: q => q.last_poll_at === undefined ? '' : ago(q.last_poll_at) },
      { title: 'Balance 1 h', cell: q => balance(q.enqueued_1h, q.polled_1h) },
      { title: 'Balance 24 h', cell: q => balance(q.enqueued_24h, q.polled_24h) },
      { title: '', cell: q => q.blocked ? badge('blocked') : '' },
      { title: 'Tasks', cell: q => h('a', { href: '#/queue/' + encodeURIComponent(q.actor_id) + qs({ task_list: q.task_list }) }, 'task ids') },
    ], page, { id: 'queues-table' }), pager('queues', { prefix }, rows.length, offset, PAGE));
  };
};

/** "+in / −out" with an arrow saying whether the queue grows. */
function balance(enq, polled) {
  if (enq === undefined || polled === undefined) return '';
  const d = enq - polled;
  const arrow = d > 0 ? h('span', { class: 'arrow up', title: 'growing' }, '▲')
    : d < 0 ? h('span', { class: 'arrow down', title: 'shrinking' }, '▼')
      : h('span', { class: 'arrow flat', title: 'steady' }, '▶');
  return h('span', {}, arrow, ` +${enq} / −${polled}`);
}

// One queue's waiting task ids.
views.queue = (main, params, actor) => {
  const taskList = params.get('task_list') || '';
  const offset = +params.get('offset') || 0;
  const body = h('div');
  fill(main, h('h1', {}, 'Queue ', h('span', { class: 'mono' }, actor), ' · ', taskList || '(default)'),
    h('p', {}, h('a', { href: '#/queues' }, '← all queues')), body);
  return async () => {
    try {
      const page = await api(V + '/queues/' + encodeURIComponent(actor) + '/tasks' + qs({ task_list: taskList, offset, limit: PAGE }));
      fill(body, table([
        { title: 'Task', cell: t => taskLink(t.task_id) },
        { title: 'Process', cell: t => procLink(t.process_id) },
        { title: 'Priority', num: true, cell: t => t.priority },
        { title: 'Ready since', cell: t => fmtTime(t.ready_at) },
      ], page.items), pager('queue/' + encodeURIComponent(actor), { task_list: taskList }, page.total, offset, PAGE));
    } catch (e) { fill(body, errorBox('Queue tasks', e)); }
  };
};

// Actors: list joined with queue activity; block/unblock; compare side by side.
const selectedActors = new Set();
views.actors = (main, params) => {
  const compare = (params.get('compare') || '').split(',').filter(Boolean);
  const msg = h('div');
  const cmp = h('div', { id: 'compare' });
  const body = h('div');
  const compareBtn = h('button', {
    id: 'compare-button', onclick: () => navigate('actors', { compare: [...selectedActors].join(',') })
  }, 'Compare selected');
  fill(main, h('h1', {}, 'Actors'), h('div', { class: 'row' }, compareBtn,
    h('span', { class: 'muted' }, 'Select two or more actors to compare them.')), msg, cmp, body);
  compare.forEach(a => selectedActors.add(a));

  async function setBlocked(actor, block) {
    try {
      await api(V + (block ? '/actors/block' : '/actors/unblock'), { body: { actor_id: actor } });
      flash(msg, 'success', `${actor} ${block ? 'blocked: its polls get nothing' : 'unblocked'}.`);
    } catch (e) { fill(msg, errorBox(block ? 'Block' : 'Unblock', e)); }
    await refresh();
  }

  async function refresh() {
    let actors;
    try { actors = (await api(V + '/actors')).items; } catch (e) { fill(body, errorBox('Actors', e)); return; }
    let activity = null, activityError = null;
    try { activity = (await api(V + '/queues/activity')).queues; } catch (e) { activityError = e; }
    // Actors that only polled (no task of theirs in the state) are known from activity.
    const known = new Set(actors.map(a => a.actor_id));
    for (const q of activity || []) {
      if (known.has(q.actor_id)) continue;
      known.add(q.actor_id);
      actors.push({ actor_id: q.actor_id, task_lists: [], queued: 0, leased: 0, blocked: false, blocked_task_lists: [], tasks_total: 0 });
    }
    actors.sort((a, b) => a.actor_id.localeCompare(b.actor_id));
    const rows = actors.map(a => {
      const mine = (activity || []).filter(q => q.actor_id === a.actor_id);
      const sum = k => mine.reduce((n, q) => n + (q[k] || 0), 0);
      const last = mine.reduce((m, q) => Math.max(m, q.last_poll_at || 0), 0);
      const lists = new Set(a.task_lists.concat(mine.map(q => q.task_list)));
      return Object.assign({}, a, { task_lists: [...lists].sort() }, activity ? {
        last_poll_at: last || null, enqueued_1h: sum('enqueued_1h'), polled_1h: sum('polled_1h'),
        enqueued_24h: sum('enqueued_24h'), polled_24h: sum('polled_24h'),
      } : {});
    });
    compareBtn.disabled = selectedActors.size < 2;
    fill(body,
      activityError ? h('p', { class: 'notice' }, `Queue activity is unavailable: ${activityError}`) : null,
      table([
        {
          title: '', cell: a => h('input', {
            type: 'checkbox', class: 'pick', 'data-actor': a.actor_id, checked: selectedActors.has(a.actor_id),
            onchange: ev => {
              if (ev.target.checked) selectedActors.add(a.actor_id); else selectedActors.delete(a.actor_id);
              compareBtn.disabled = selectedActors.size < 2;
            }
          })
        },
        { title: 'Actor', cell: a => h('span', { class: 'mono' }, a.actor_id) },
        { title: 'Task lists', cell: a => a.task_lists.map(l => l || '(default)').join(', ') },
        { title: 'Queued', num: true, cell: a => a.queued },
        { title: 'Leased', num: true, cell: a => a.leased },
        { title: 'Tasks', num: true, cell: a => a.tasks_total },
        { title: 'Last activity', cell: a => a.last_poll_at === undefined ? '' : ago(a.last_poll_at) },
        { title: 'Balance 1 h', cell: a => balance(a.enqueued_1h, a.polled_1h) },
        {
          title: 'State', cell: a => a.blocked ? badge('blocked')
            : a.blocked_task_lists.length ? h('span', {}, badge('blocked'), ' ' + a.blocked_task_lists.join(', ')) : 'active'
        },
        {
          title: '', cell: a => h('button', {
            class: a.blocked ? 'secondary' : 'danger', 'data-action': a.blocked ? 'unblock' : 'block', 'data-actor': a.actor_id,
            onclick: () => setBlocked(a.actor_id, !a.blocked)
          }, a.blocked ? 'Unblock' : 'Block')
        },
      ], rows, { id: 'actors-table' }));
    const picked = rows.filter(a => compare.includes(a.actor_id));
    if (picked.length >= 2) {
      const metrics = [
        ['Task lists', a => a.task_lists.map(l => l || '(default)').join(', ')],
        ['Queued', a => a.queued], ['Leased', a => a.leased], ['Tasks', a => a.tasks_total],
        ['Blocked', a => a.blocked ? 'yes' : 'no'],
        ['Last activity', a => a.last_poll_at === undefined ? '–' : ago(a.last_poll_at)],
        ['Enqueued 1 h', a => a.enqueued_1h ?? '–'], ['Polled 1 h', a => a.polled_1h ?? '–'],
        ['Enqueued 24 h', a => a.enqueued_24h ?? '–'], ['Polled 24 h', a => a.polled_24h ?? '–'],
      ];
      fill(cmp, h('h2', {}, 'Comparison'),
        h('table', { class: 'compare card' },
          h('thead', {}, h('tr', {}, h('th', {}, ''), picked.map(a => h('th', { class: 'mono' }, a.actor_id)))),
          h('tbody', {}, metrics.map(([name, f]) => h('tr', {}, h('td', {}, name), picked.map(a => h('td', {}, f(a))))))),
        h('p', {}, h('a', { href: '#/actors' }, 'Close comparison')));
    } else fill(cmp);
  }
  return refresh;
};

// Processes: filters in the URL, newest first, paginated; a full id also finds a task.
views.processes = (main, params) => {
  const offset = +params.get('offset') || 0;
  const p = k => params.get(k) || '';
  const toLocal = ms => ms ? new Date(+ms - new Date(+ms).getTimezoneOffset() * 60000).toISOString().slice(0, 16) : '';
  const form = h('form', { class: 'filters', id: 'process-filter' },
    h('label', {}, 'Id prefix', h('input', { name: 'id', value: p('id'), size: 12 })),
    h('label', {}, 'Custom id prefix', h('input', { name: 'custom_id', value: p('custom_id') })),
    h('label', {}, 'Actor (starter) prefix', h('input', { name: 'actor', value: p('actor') })),
    h('label', {}, 'State', h('select', { name: 'state' },
      ['', 'running', 'finished', 'broken', 'aborted'].map(st => h('option', { value: st, selected: st === p('state') || null }, st || 'any')))),
    h('label', {}, 'Started from', h('input', { name: 'from', type: 'datetime-local', value: toLocal(p('from')) })),
    h('label', {}, 'to', h('input', { name: 'to', type: 'datetime-local', value: toLocal(p('to')) })),
    h('button', { type: 'submit' }, 'Search'),
    h('a', { href: '#/processes' }, 'clear'));
  form.addEventListener('submit', ev => {
    ev.preventDefault();
    const v = formValues(form);
    // The inputs have minute precision: "to" includes its whole minute.
    if (v.from) v.from = String(new Date(v.from).getTime());
    if (v.to) v.to = String(new Date(v.to).getTime() + 59999);
    navigate('processes', v);
  });
  const extra = h('div');
  const body = h('div');
  fill(main, h('h1', {}, 'Processes'), form, extra, body);
  const filters = {};
  for (const k of ['id', 'custom_id', 'actor', 'state', 'from', 'to']) if (p(k)) filters[k] = p(k);
  return async () => {
    try {
      const page = await api(V + '/processes' + qs(Object.assign({ offset, limit: PAGE }, filters)));
      fill(body, table([
        { title: 'Process', cell: r => procLink(r.process_id) },
        { title: 'Custom id', cell: r => r.custom_id || '' },
        { title: 'Starter', cell: r => h('span', { class: 'mono' }, r.starter) },
        { title: 'State', cell: r => badge(r.state) },
        { title: 'Tasks', num: true, cell: r => r.tasks },
        { title: 'Started', cell: r => fmtTime(r.started_at) },
        { title: 'Ended', cell: r => fmtTime(r.ended_at) },
      ], page.items, { id: 'processes-table' }), pager('processes', filters, page.total, offset, PAGE));
      const id = p('id');
      if (page.total === 0 && /^[0-9a-f-]{36}$/i.test(id)) {
        try {
          const t = await api(V + '/tasks/' + id);
          fill(extra, h('p', { class: 'notice' }, 'No process has this id, but a task does: ', taskLink(t.task_id),
            ' (', t.actor_id, '.', t.method, ') in process ', procLink(t.process_id), '.'));
        } catch (_) { fill(extra); }
      } else fill(extra);
    } catch (e) { fill(body, errorBox('Processes', e)); }
  };
};

// One process: properties, actions, task graph, history, tasks.
views.process = (main, params, id) => {
  const props = h('div', { class: 'card' });
  const actions = h('div');
  const graphBox = h('div');
  const history = h('div');
  const hOffset = +params.get('offset') || 0;
  fill(main, h('h1', {}, 'Process ', h('span', { class: 'mono' }, id)), props, actions,
    h('h2', {}, 'Task graph'), graphBox, h('h2', {}, 'History'), history);
  let lastGraph = '';
  const msg = h('div');
  const confirmSlot = h('div');

  async function act(path, body, what) {
    try {
      const r = await api(V + path, { body });
      flash(msg, 'success', `${what}: ${json(r)}`);
    } catch (e) { fill(msg, errorBox(what, e)); }
    await refresh();
  }

  async function refresh() {
    let p;
    try { p = await api(V + '/processes/' + id); } catch (e) { fill(props, errorBox('Process', e)); return; }
    fill(props, h('dl', { class: 'props' },
      h('dt', {}, 'State'), h('dd', {}, badge(p.state)),
      h('dt', {}, 'Custom id'), h('dd', {}, p.custom_id || '–'),
      h('dt', {}, 'Starter'), h('dd', { class: 'mono' }, p.starter),
      h('dt', {}, 'Start task'), h('dd', {}, taskLink(p.start_task_id)),
      h('dt', {}, 'Started'), h('dd', {}, fmtTime(p.started_at)),
      h('dt', {}, 'Ended'), h('dd', {}, fmtTime(p.ended_at) || '–'),
      h('dt', {}, 'Tasks'), h('dd', {}, p.tasks.length),
      p.result !== undefined && p.result !== null ? [h('dt', {}, 'Result'), h('dd', {}, h('pre', {}, json(p.result)))] : null,
      p.error ? [h('dt', {}, 'Error'), h('dd', {}, h('pre', {}, json(p.error)))] : null,
      p.broken ? [h('dt', {}, 'Broken by'), h('dd', {}, taskLink(p.broken.task_id), ' ', p.broken.actor_id, ': ',
        h('strong', {}, errType(p.broken.error)), ' ', p.broken.error.message || '', ' at ', fmtTime(p.broken.at))] : null));
    const sel = { process_ids: [id] };
    const buttons = [];
    if (p.state === 'running') buttons.push(h('button', { class: 'danger', id: 'abort', onclick: () => confirmBox(confirmSlot, 'Abort this process?', () => act('/processes/abort', { process_ids: [id] }, 'Abort')) }, 'Abort'));
    if (p.state === 'broken') buttons.push(
      h('button', { id: 'restart', onclick: () => confirmBox(confirmSlot, 'Restart this process (re-run its failed task)?', () => act('/broken/restart', sel, 'Restart')) }, 'Restart'));
    if (p.state !== 'running') buttons.push(h('button', { class: 'danger', id: 'delete', onclick: () => confirmBox(confirmSlot, 'Delete this process and all its tasks?', () => act('/processes/delete', sel, 'Delete')) }, 'Delete'));
    fill(actions, buttons.length ? h('div', { class: 'row' }, buttons) : null, confirmSlot, msg);

    try {
      const g = await api(V + '/processes/' + id + '/graph');
      const key = JSON.stringify(g);
      if (key !== lastGraph) { lastGraph = key; fill(graphBox, drawGraph(g)); }
    } catch (e) { lastGraph = ''; fill(graphBox, errorBox('Task graph', e)); }

    try {
      const hist = await api(V + '/processes/' + id + '/history' + qs({ offset: hOffset, limit: 200 }));
      fill(history, table([
        { title: '#', num: true, cell: e => e.seq },
        { title: 'At', cell: e => fmtTime(e.at) },
        { title: 'Event', cell: e => badge(e.event) },
        { title: 'Task', cell: e => e.task_id ? taskLink(e.task_id) : '' },
        { title: 'Attempt', num: true, cell: e => e.attempt ?? '' },
        { title: 'Error', cell: e => e.error_type || '' },
        { title: 'Detail', cell: e => e.detail || '' },
      ], hist.items, { id: 'history-table' }), pager('process/' + id, {}, hist.total, hOffset, 200));
    } catch (e) { fill(history, errorBox('History', e)); }
  }
  return refresh;
};

const STATUS_ICON = {
  waiting: ['…', '#b7791f'], scheduled: ['⏱', '#b7791f'], ready: ['●', '#2f6fb3'], leased: ['▶', '#2f6fb3'],
  awaiting_promise: ['↪', '#6b46c1'], resolved: ['✓', '#2e8540'], failed: ['!', '#c53030'],
  broken: ['✗', '#c53030'], released: ['✓', '#6b7380'], purged: ['⌫', '#6b7380'],
};
const EDGE_KINDS = ['arg', 'no_wait', 'wait_for', 'forward', 'spawned'];

/**
 * Draws a process graph as SVG: layers left to right by the longest chain of
 * dependencies (tasks come in creation order, which already orders every edge except
 * `forward`, which points back to the decider), rows ordered by their parents' rows.
 */
function drawGraph(g) {
  const W = 200, H = 44, GX = 70, GY = 16, M = 30;
  const index = new Map(g.nodes.map((n, i) => [n.task_id, i]));
  const layer = new Array(g.nodes.length).fill(0);
  const incoming = g.nodes.map(() => []);
  for (const e of g.edges) {
    const f = index.get(e.from), t = index.get(e.to);
    if (f === undefined || t === undefined) continue;
    if (e.kind !== 'forward') incoming[t].push(f);
  }
  g.nodes.forEach((_, i) => {
    for (const f of incoming[i]) if (f < i) layer[i] = Math.max(layer[i], layer[f] + 1);
  });
  const layers = [];
  g.nodes.forEach((_, i) => (layers[layer[i]] = layers[layer[i]] || []).push(i));
  const row = new Array(g.nodes.length).fill(0);
  for (const members of layers) {
    const bary = i => incoming[i].length ? incoming[i].reduce((s, f) => s + row[f], 0) / incoming[i].length : i;
    members.sort((a, b) => bary(a) - bary(b) || a - b);
    members.forEach((i, r) => (row[i] = r));
  }
  const pos = i => ({ x: M + layer[i] * (W + GX), y: M + row[i] * (H + GY) });
  const width = M * 2 + layers.length * (W + GX) - GX;
  const bottom = M + Math.max(1, ...layers.map(l => l.length)) * (H + GY) - GY;
  const height = bottom + M + 30;
  const svg = s('svg', { class: 'graph', width, height, viewBox: `0 0 ${width} ${height}`, 'data-nodes': g.nodes.length, 'data-edges': g.edges.length });
  const defs = s('defs');
  const colors = { arg: '#2f6fb3', no_wait: '#2f6fb3', wait_for: '#b7791f', forward: '#6b46c1', spawned: '#b8bfca' };
  for (const k of EDGE_KINDS) {
    defs.append(s('marker', { id: 'arrow-' + k, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      s('path', { d: 'M0,0 L10,5 L0,10 z', fill: colors[k] })));
  }
  svg.append(defs);
  const edges = s('g', { class: 'edges' });
  for (const e of g.edges) {
    const f = index.get(e.from), t = index.get(e.to);
    if (f === undefined || t === undefined) continue;
    const a = pos(f), b = pos(t);
    let d;
    if (b.x > a.x) {
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, c = (x2 - x1) / 2;
      d = `M${x1},${y1} C${x1 + c},${y1} ${x2 - c},${y2} ${x2},${y2}`;
    } else {
      // Back edge (a forward to the decider, or same layer): leave to the right, run
      // along a lane below every box, come back up in the gap left of the target.
      const lane = bottom + 12 + (f % 4) * 5;
      const out = a.x + W + GX / 3, back = b.x - GX / 3;
      d = `M${a.x + W},${a.y + H / 2} H${out} V${lane} H${back} V${b.y + H / 2} H${b.x}`;
    }
    edges.append(s('path', {
      class: 'edge ' + e.kind, d, 'data-kind': e.kind, 'data-from': e.from, 'data-to': e.to,
      'marker-end': `url(#arrow-${e.kind})`
    }, s('title', {}, `${e.kind}: ${short(e.from)} → ${short(e.to)}`)));
  }
  svg.append(edges);
  g.nodes.forEach((n, i) => {
    const { x, y } = pos(i);
    const [icon, color] = STATUS_ICON[n.status] || ['?', '#6b7380'];
    const node = s('g', { class: 'node ' + n.status, transform: `translate(${x},${y})`, 'data-task-id': n.task_id, 'data-status': n.status },
      s('title', {}, `${n.actor_id}.${n.method} (${n.kind}) — ${n.status}, attempt ${n.attempt}\n${n.task_id}`),
      s('rect', { width: W, height: H, rx: 5 }),
      s('text', { x: 10, y: 18, fill: color, 'font-size': 14, 'font-weight': 700, class: 'icon' }, icon),
      s('text', { x: 28, y: 18, 'font-weight': 600 }, clip(n.method, 26)),
      s('text', { x: 28, y: 34, fill: '#6b7380' }, clip(n.actor_id, 28) + (n.attempt > 1 ? ` ×${n.attempt}` : '')));
    node.addEventListener('click', () => { location.hash = '#/task/' + n.task_id; });
    svg.append(node);
  });
  const legend = h('div', { class: 'legend' }, EDGE_KINDS.map(k => {
    const sw = s('svg', { width: 34, height: 10, class: 'graph' }, s('path', { class: 'edge ' + k, d: 'M2,5 L32,5' }));
    return h('span', {}, sw, ' ', k);
  }), Object.entries(STATUS_ICON).map(([k, [i, c]]) => h('span', {}, h('b', { style: 'color:' + c }, i), ' ', k)));
  return [legend, g.truncated ? h('p', { class: 'notice' }, 'Only the first tasks are drawn.') : null, h('div', { class: 'graph-wrap' }, svg)];
}

function clip(t, n) { t = String(t); return t.length > n ? t.slice(0, n - 1) + '…' : t; }

// One task: where it is, its arguments, result or error.
views.task = (main, params, id) => {
  const body = h('div');
  fill(main, h('h1', {}, 'Task ', h('span', { class: 'mono' }, id)), body);
  return async () => {
    let t;
    try { t = await api(V + '/tasks/' + id); } catch (e) { fill(body, errorBox('Task', e)); return; }
    fill(body, h('div', { class: 'grid2' },
      h('div', { class: 'card' }, h('dl', { class: 'props' },
        h('dt', {}, 'Process'), h('dd', {}, procLink(t.process_id)),
        h('dt', {}, 'Actor'), h('dd', { class: 'mono' }, t.actor_id),
        h('dt', {}, 'Method'), h('dd', {}, t.method),
        h('dt', {}, 'Kind'), h('dd', {}, t.kind),
        h('dt', {}, 'Task list'), h('dd', {}, t.task_list || '(default)'),
        h('dt', {}, 'Status'), h('dd', {}, badge(t.status), t.leased ? ' (leased)' : ''),
        h('dt', {}, 'Attempt'), h('dd', {}, t.attempt),
        h('dt', {}, 'Missing promises'), h('dd', {}, t.missing),
        h('dt', {}, 'Created'), h('dd', {}, fmtTime(t.created_at)),
        h('dt', {}, 'Scheduled at'), h('dd', {}, fmtTime(t.scheduled_at) || '–'),
        h('dt', {}, 'Released'), h('dd', {}, fmtTime(t.released_at) || '–'),
        h('dt', {}, 'Parent'), h('dd', {}, t.parent ? taskLink(t.parent) : '–'),
        h('dt', {}, 'Depends on'), h('dd', {}, t.depends_on.length ? t.depends_on.map(d => [taskLink(d), ' ']) : '–'))),
      h('div', {},
        h('h2', {}, 'Arguments'), h('pre', { id: 'task-args' }, json(t.args)),
        t.result !== undefined && t.result !== null ? [h('h2', {}, 'Result'), h('pre', { id: 'task-result' }, json(t.result))] : null,
        t.error ? [h('h2', {}, 'Error'), h('pre', { id: 'task-error', class: 'error' }, json(t.error))] : null)));
  };
};

/** Parses the arguments textarea: a JSON array whose elements become plain values. */
function parseArgs(text) {
  let v;
  try { v = JSON.parse(text.trim() || '[]'); } catch (e) { return { error: 'Arguments are not valid JSON: ' + e.message }; }
  if (!Array.isArray(v)) return { error: 'Arguments must be a JSON array, e.g. [1, "two", {"three": 3}].' };
  return { args: v.map(x => ({ value: x })) };
}

// Create process: actor, method, JSON arguments; checked here and by the broker.
views.create = (main) => {
  const out = h('div', { id: 'create-result' });
  const form = h('form', { class: 'card', id: 'create-form' },
    h('div', { class: 'row' },
      h('label', {}, 'Actor (name#version)', h('input', { name: 'actor_id', id: 'create-actor', required: true, placeholder: 'orders.Checkout#1' })),
      h('label', {}, 'Method', h('input', { name: 'method', id: 'create-method', required: true, placeholder: 'start' })),
      h('label', {}, 'Task list', h('input', { name: 'task_list', id: 'create-task-list', placeholder: '(default)' })),
      h('label', {}, 'Custom id', h('input', { name: 'custom_id', id: 'create-custom-id' }))),
    h('label', {}, 'Arguments (a JSON array; each element is passed as one value)',
      h('textarea', { name: 'args', id: 'create-args', spellcheck: 'false' }, '[]')),
    h('p', {}, h('button', { type: 'submit', id: 'create-submit' }, 'Start process')));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = formValues(form);
    const parsed = parseArgs(v.args || '');
    if (parsed.error) { fill(out, h('p', { class: 'error', id: 'create-error' }, parsed.error)); return; }
    const req = { actor_id: v.actor_id || '', method: v.method || '', args: parsed.args };
    if (v.custom_id) req.custom_id = v.custom_id;
    if (v.task_list) req.options = { task_list: v.task_list };
    try {
      const r = await api(V + '/processes', { body: req });
      fill(out, h('p', { class: 'success', id: 'create-ok' }, 'Started process ',
        h('a', { href: '#/process/' + r.process_id, 'data-process-id': r.process_id }, r.process_id), '.'));
    } catch (e) {
      fill(out, h('p', { class: 'error', id: 'create-error' }, 'The broker refused the process: ' + e));
    }
  });
  fill(main, h('h1', {}, 'Create process'), form, out);
  return null;
};

// Broken processes: groups, filters, preview, restart or delete after a confirmation.
views.broken = (main, params) => {
  const by = params.get('by') || 'error_type';
  const filters = {};
  for (const k of ['error_type', 'actor', 'starter']) if (params.get(k)) filters[k] = params.get(k);
  const offset = +params.get('offset') || 0;
  const form = h('form', { class: 'filters', id: 'broken-filter' },
    h('label', {}, 'Group by', h('select', { name: 'by' },
      [['error_type', 'error type'], ['actor', 'broken actor'], ['starter', 'starter']].map(([v, t]) => h('option', { value: v, selected: v === by || null }, t)))),
    h('label', {}, 'Error type prefix', h('input', { name: 'error_type', value: filters.error_type || '' })),
    h('label', {}, 'Actor prefix', h('input', { name: 'actor', value: filters.actor || '' })),
    h('label', {}, 'Starter prefix', h('input', { name: 'starter', value: filters.starter || '' })),
    h('button', { type: 'submit' }, 'Filter'), h('a', { href: '#/broken' }, 'clear'));
  form.addEventListener('submit', ev => { ev.preventDefault(); navigate('broken', formValues(form)); });
  const msg = h('div', { id: 'broken-message' });
  const confirmSlot = h('div');
  const preview = h('div');
  const groups = h('div');
  const list = h('div');
  fill(main, h('h1', {}, 'Broken processes'), form, confirmSlot, msg, h('h2', {}, 'Groups'), groups, preview,
    h('h2', {}, 'Processes'), list);

  // A group: exact ids when the group lists them all, else the filter narrowed to the key.
  const groupSelection = g => g.process_ids.length >= g.count
    ? { process_ids: g.process_ids }
    : { filter: Object.assign({}, filters, { [by]: g.key }) };

  async function run(path, selection, what) {
    try {
      const r = await api(V + path, { body: selection });
      const n = r.restarted ?? r.deleted ?? 0;
      const skipped = r.skipped ? ` (${r.skipped} skipped: not broken or not ended any more)` : '';
      flash(msg, 'success', `${what}: ${n} process${n === 1 ? '' : 'es'}${skipped}.`);
    } catch (e) { fill(msg, errorBox(what, e)); }
    fill(preview);
    await refresh();
  }
  async function showPreview(selection) {
    try {
      const r = await api(V + '/broken/restart/preview', { body: selection });
      fill(preview, h('div', { class: 'card', id: 'restart-preview' }, h('h2', {}, 'A restart would re-run'), table([
        { title: 'Process', cell: t => procLink(t.process_id) },
        { title: 'Task', cell: t => taskLink(t.task_id) },
        { title: 'Actor', cell: t => h('span', { class: 'mono' }, t.actor_id) },
        { title: 'Method', cell: t => t.method },
        { title: 'Attempt', num: true, cell: t => t.attempt },
      ], r.tasks)));
    } catch (e) { fill(preview, errorBox('Restart preview', e)); }
  }
  const actionButtons = (sel, label, key) => [
    h('button', { class: 'secondary', 'data-action': 'preview', 'data-key': key, onclick: () => showPreview(sel) }, 'Preview'),
    h('button', { 'data-action': 'restart', 'data-key': key, onclick: () => confirmBox(confirmSlot, `Restart ${label}?`, () => run('/broken/restart', sel, 'Restarted')) }, 'Restart'),
    h('button', { class: 'danger', 'data-action': 'delete', 'data-key': key, onclick: () => confirmBox(confirmSlot, `Delete ${label}? This cannot be undone.`, () => run('/processes/delete', sel, 'Deleted')) }, 'Delete'),
  ];

  async function refresh() {
    try {
      const r = await api(V + '/broken/groups' + qs(Object.assign({ by }, filters)));
      fill(groups, table([
        { title: by.replace('_', ' '), cell: g => h('a', { href: '#/broken' + qs(Object.assign({}, filters, { by, [by]: g.key })), class: 'mono' }, g.key) },
        { title: 'Processes', num: true, cell: g => g.count },
        { title: '', cell: g => h('div', { class: 'row' }, actionButtons(groupSelection(g), `the ${g.count} process${g.count === 1 ? '' : 'es'} of group ${g.key}`, g.key)) },
      ], r.groups, { id: 'broken-groups' }));
    } catch (e) { fill(groups, errorBox('Broken groups', e)); }
    try {
      const r = await api(V + '/broken' + qs(Object.assign({ offset, limit: PAGE }, filters)));
      fill(list, table([
        { title: 'Process', cell: b => procLink(b.process_id) },
        { title: 'Custom id', cell: b => b.custom_id || '' },
        { title: 'Starter', cell: b => h('span', { class: 'mono' }, b.starter) },
        { title: 'Broken actor', cell: b => h('span', { class: 'mono' }, b.broken.actor_id) },
        { title: 'Error', cell: b => [h('strong', {}, errType(b.broken.error)), ' ', b.broken.error.message || ''] },
        { title: 'At', cell: b => fmtTime(b.broken.at) },
        { title: '', cell: b => h('div', { class: 'row' }, actionButtons({ process_ids: [b.process_id] }, 'process ' + short(b.process_id), b.process_id)) },
      ], r.items, { id: 'broken-table' }), pager('broken', Object.assign({ by }, filters), r.total, offset, PAGE));
    } catch (e) { fill(list, errorBox('Broken processes', e)); }
  }
  return refresh;
};

// Monitoring: the last hour of the broker's counters as sparklines, Raft status.
views.monitoring = (main) => {
  const raft = h('div', { class: 'card', id: 'raft' });
  const charts = h('div', { class: 'grid2', id: 'charts' });
  const counts = h('div');
  const hovering = h('div');
  const repeated = h('div');
  const alerts = h('div');
  fill(main, h('h1', {}, 'Monitoring'), h('h2', {}, 'Raft'), raft, h('h2', {}, 'Last hour'), charts,
    h('h2', {}, 'State'), counts, h('h2', {}, 'Hovering queues'), hovering,
    h('h2', {}, 'Repeated tasks'), repeated, h('h2', {}, 'Alerts'), alerts);
  return async () => {
    try {
      const c = await api('/cluster/status');
      fill(raft, h('dl', { class: 'props' },
        h('dt', {}, 'This node'), h('dd', {}, c.node_id, ' · ', badge(c.role)),
        h('dt', {}, 'Term'), h('dd', {}, c.term),
        h('dt', {}, 'Leader'), h('dd', {}, c.leader ?? 'none', c.leader_addr ? ` (${c.leader_addr})` : ''),
        h('dt', {}, 'Log'), h('dd', {}, `last index ${c.last_log_index ?? '–'}, applied ${c.last_applied ?? '–'}, snapshot ${c.snapshot ?? '–'}`),
        h('dt', {}, 'Members'), h('dd', {}, table([
          { title: 'Node', num: true, cell: m => m.node_id },
          { title: 'Address', cell: m => h('span', { class: 'mono' }, m.addr) },
          { title: 'Voter', cell: m => m.voter ? 'yes' : 'learner' },
          { title: 'Matched', num: true, cell: m => m.matched ?? '' },
        ], c.members || []))));
    } catch (e) { fill(raft, errorBox('Cluster status', e)); }
    try {
      const m = await api(V + '/monitoring');
      fill(charts, Object.entries(m.series).map(([name, values]) => sparkline(name, values, m.bucket_ms)));
    } catch (e) { fill(charts, errorBox('Monitoring series', e)); }
    try {
      const c = await api(V + '/stats');
      fill(counts, h('dl', { class: 'props card' }, Object.entries(c).map(([k, v]) => [h('dt', {}, k.replace('_', ' ')), h('dd', {}, v)])));
    } catch (e) { fill(counts, errorBox('State sizes', e)); }
    try {
      const r = await api(V + '/queues/hovering');
      fill(hovering, table([
        { title: 'Actor', cell: q => h('span', { class: 'mono' }, q.actor_id) },
        { title: 'Task list', cell: q => q.task_list || '(default)' },
        { title: 'Size', num: true, cell: q => q.size },
        { title: 'Last poll', cell: q => ago(q.last_poll_at) },
        { title: 'Oldest ready', cell: q => ago(q.oldest_ready_at) },
      ], r.items));
    } catch (e) { fill(hovering, errorBox('Hovering queues', e)); }
    try {
      const r = await api(V + '/tasks/repeated');
      fill(repeated, table([
        { title: 'Task', cell: t => taskLink(t.task_id) },
        { title: 'Process', cell: t => procLink(t.process_id) },
        { title: 'Actor', cell: t => h('span', { class: 'mono' }, t.actor_id) },
        { title: 'Method', cell: t => t.method },
        { title: 'Attempt', num: true, cell: t => t.attempt },
        { title: 'Last error', cell: t => t.last_error ? errType(t.last_error) + ' ' + (t.last_error.message || '') : '' },
      ], r.items));
    } catch (e) { fill(repeated, errorBox('Repeated tasks', e)); }
    try {
      const r = await api(V + '/alerts');
      fill(alerts, table([
        { title: 'Alert', cell: a => a.name },
        { title: 'Kind', cell: a => a.kind },
        { title: 'Fired', cell: a => fmtTime(a.fired_at) },
        { title: 'Detail', cell: a => a.detail },
      ], r.items));
    } catch (e) { fill(alerts, errorBox('Alerts', e)); }
  };
};

/** A small SVG line chart of one series (oldest first). */
function sparkline(name, values, bucketMs) {
  const W = 300, H = 56, P = 3;
  const nums = values.map(v => +v || 0);
  const peak = Math.max(0, ...nums);
  const max = Math.max(1, peak);
  const step = nums.length > 1 ? (W - 2 * P) / (nums.length - 1) : 0;
  const pts = nums.map((v, i) => `${(P + i * step).toFixed(1)},${(H - P - (v / max) * (H - 2 * P)).toFixed(1)}`);
  const last = nums.length ? nums[nums.length - 1] : 0;
  return h('div', { class: 'card spark', 'data-series': name },
    h('div', { class: 'row' }, h('strong', {}, name.replace(/_/g, ' ')), h('span', { class: 'muted' }, `max ${fmtNum(peak)}${unit(name, bucketMs)}`)),
    h('span', { class: 'val' }, fmtNum(last)),
    s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}` },
      s('polyline', { points: [`${P},${H - P}`, ...pts, `${W - P},${H - P}`].join(' '), fill: '#e3efff', stroke: 'none' }),
      s('polyline', { points: pts.join(' '), fill: 'none', stroke: '#2f6fb3', 'stroke-width': 1.5 })));
}
/** What one point of a series measures: a latency, a level, or a count per bucket. */
function unit(name, bucketMs) {
  if (name.endsWith('_ms')) return ' ms';
  if (name === 'queued') return ' waiting';
  return ` per ${Math.round((bucketMs || 60000) / 1000)} s`;
}
function fmtNum(n) { return Number.isInteger(n) ? String(n) : n.toFixed(1); }

// Schedules: list, create, pause, resume, delete, run now.
views.schedules = (main) => {
  const msg = h('div', { id: 'schedule-message' });
  const confirmSlot = h('div');
  const list = h('div');
  const form = h('form', { class: 'card', id: 'schedule-form' },
    h('div', { class: 'row' },
      h('label', {}, 'Name', h('input', { name: 'name', required: true })),
      h('label', {}, 'Every', h('select', { name: 'when' }, h('option', { value: 'cron' }, 'cron expression'), h('option', { value: 'interval' }, 'interval (ms)'))),
      h('label', {}, 'Cron or interval', h('input', { name: 'spec', required: true, placeholder: '*/5 * * * *' })),
      h('label', {}, 'Actor', h('input', { name: 'actor_id', required: true, placeholder: 'reports.Daily#1' })),
      h('label', {}, 'Method', h('input', { name: 'method', required: true })),
      h('label', {}, 'Task list', h('input', { name: 'task_list' }))),
    h('label', {}, 'Arguments (JSON array)', h('textarea', { name: 'args', rows: 3 }, '[]')),
    h('p', {}, h('button', { type: 'submit', id: 'schedule-submit' }, 'Create schedule')));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const v = formValues(form);
    const parsed = parseArgs(v.args || '');
    if (parsed.error) { fill(msg, h('p', { class: 'error' }, parsed.error)); return; }
    const start = { actor_id: v.actor_id, method: v.method, args: parsed.args };
    if (v.task_list) start.options = { task_list: v.task_list };
    const req = { name: v.name, start };
    if (v.when === 'interval') {
      if (!/^\d+$/.test(v.spec)) { fill(msg, h('p', { class: 'error' }, 'The interval must be a whole number of milliseconds.')); return; }
      req.interval_ms = +v.spec;
    } else req.cron = v.spec;
    try {
      await api(V + '/schedules', { body: req });
      flash(msg, 'success', `Schedule ${v.name} created.`);
    } catch (e) { fill(msg, errorBox('Create schedule', e)); }
    await refresh();
  });
  fill(main, h('h1', {}, 'Schedules'), confirmSlot, msg, list, h('h2', {}, 'New schedule'), form);

  async function act(name, path, method, what) {
    try {
      const r = await api(V + '/schedules/' + encodeURIComponent(name) + path, { method, body: method === 'POST' ? {} : undefined });
      flash(msg, 'success', `${what} ${name}` + (r && r.process_id ? `: started process ${r.process_id}` : '.'));
    } catch (e) { fill(msg, errorBox(what, e)); }
    await refresh();
  }
  async function refresh() {
    try {
      const r = await api(V + '/schedules');
      fill(list, table([
        { title: 'Name', cell: x => h('strong', {}, x.name) },
        { title: 'When', cell: x => x.cron ? h('code', {}, x.cron) : `every ${dur(Math.round(x.interval_ms / 1000))}` },
        { title: 'Starts', cell: x => h('span', { class: 'mono' }, `${x.start.actor_id}.${x.start.method}`) },
        { title: 'State', cell: x => x.paused ? badge('paused') : badge('active') },
        { title: 'Next', cell: x => x.paused ? '–' : fmtTime(x.next_fire_at) },
        { title: 'Last', cell: x => fmtTime(x.last_fired_at) || 'never' },
        { title: 'Fired', num: true, cell: x => x.fired },
        {
          title: '', cell: x => h('div', { class: 'row' },
            x.paused ? h('button', { class: 'secondary', 'data-action': 'resume', 'data-name': x.name, onclick: () => act(x.name, '/resume', 'POST', 'Resumed') }, 'Resume')
              : h('button', { class: 'secondary', 'data-action': 'pause', 'data-name': x.name, onclick: () => act(x.name, '/pause', 'POST', 'Paused') }, 'Pause'),
            h('button', { 'data-action': 'run', 'data-name': x.name, onclick: () => act(x.name, '/run', 'POST', 'Ran') }, 'Run now'),
            h('button', { class: 'danger', 'data-action': 'delete', 'data-name': x.name, onclick: () => confirmBox(confirmSlot, `Delete schedule ${x.name}?`, () => act(x.name, '', 'DELETE', 'Deleted')) }, 'Delete'))
        },
      ], r.items, { id: 'schedules-table' }));
    } catch (e) { fill(list, errorBox('Schedules', e)); }
  }
  return refresh;
};

// ---------------------------------------------------------------- routing and refresh

let current = { refresh: null, busy: false, token: 0 };

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '') || 'queues';
  const q = raw.indexOf('?');
  const path = q < 0 ? raw : raw.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  const [view, ...rest] = path.split('/');
  return { view, arg: rest.length ? decodeURIComponent(rest.join('/')) : null, params };
}

async function runRefresh(state) {
  if (!state.refresh || state.busy) return;
  state.busy = true;
  try { await state.refresh(); } catch (e) { if (e.status !== 401) console.error(e); } finally { state.busy = false; }
}

function route() {
  const { view, arg, params } = parseHash();
  const main = document.getElementById('main');
  const nav = view === 'queue' ? 'queues' : view === 'process' || view === 'task' ? 'processes' : view;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === nav);
  const make = views[view];
  if (!make) { fill(main, h('p', { class: 'error' }, `No view called “${view}”.`)); current = { refresh: null }; return; }
  document.title = 'Suslik · ' + view;
  delete main.dataset.loaded;
  const refresh = make(main, params, arg);
  current = { refresh, busy: false };
  main.dataset.view = view;
  runRefresh(current).then(() => { main.dataset.loaded = view; });
}

async function nodeInfo() {
  try {
    const c = await api('/cluster/status');
    document.getElementById('node').textContent = `node ${c.node_id} · ${c.role} · term ${c.term}`;
  } catch (_) { /* shown by the views */ }
}

window.addEventListener('hashchange', route);
setInterval(() => {
  if (document.visibilityState === 'visible') { runRefresh(current); nodeInfo(); }
}, REFRESH_MS);
document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') runRefresh(current); });
showSignOut();
route();
nodeInfo();
