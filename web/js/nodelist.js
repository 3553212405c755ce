// /nodelist: the server sends the first rows only (every row of a 2,000-node mesh made
// the page 2.2 MB); the script takes every node from /api/nodes and filters, sorts
// (by the column headers, or on phones, where the rows are cards without them, by a
// select), keeps favourites (localStorage) and exports CSV over all of them, drawing the
// rows a chunk at a time as the reader scrolls.
import { el, t, getJson, nodeOf, onDemand, timeAgo, downloadCsv, localizeTimes } from './common.js';

const $ = (id) => document.getElementById(id);
const body = $('nl-body');
const search = $('nl-search');
const more = $('nl-more');
const status = $('nl-status');
const FAV_KEY = 'meshview.favorites';
/** Rows drawn at a time (the server sends as many). */
const CHUNK = Number(body.dataset.chunk) || 50;
let favorites = new Set(JSON.parse(localStorage.getItem(FAV_KEY) || '[]').map(String));
let sortKey = 'last';
let sortDir = -1;
/** The moment the list stands at (µs): now, or the "As of" time. */
let asOf = Date.now() * 1000;
/** Every node, once /api/nodes answered; until then the server's rows stand. */
let all = null;
/** The nodes that pass the filters, in order, and how many of them are drawn. */
let shown = [];
let drawn = 0;

const position = (n) => (n.lat === null ? '' : `${n.lat.toFixed(5)}, ${n.lon.toFixed(5)}`);
const nameOf = (n) => n.long || n.short || n.hex;

function sortValue(n, key) {
  switch (key) {
    case 'last': return n.last;
    case 'id': return n.num;
    case 'gw': return n.gw ? 1 : 0;
    case 'long': return nameOf(n).toLowerCase();
    default: return String(n[key] || '').toLowerCase();
  }
}

/** Each column's header (the label of its cell on a phone's card). */
const LABEL = {
  short: 'short_name', long: 'long_name', id: 'node_id', hw: 'hw_model', fw: 'firmware',
  role: 'role', channel: 'channel', gw: 'gateway', pos: 'position', last: 'last_seen',
};

/** One row, as the server draws it (nodelist.html). */
function row(n) {
  const fav = favorites.has(String(n.num));
  const cell = (key, ...content) => el('td', { 'data-key': key, 'data-label': t('nodelist', LABEL[key]) }, ...content);
  const iso = n.last ? new Date(n.last / 1000).toISOString() : '';
  return el('tr', {
    'data-num': n.num, 'data-hex': n.hex, 'data-role': n.role, 'data-channel': n.channel,
    'data-hw': n.hw, 'data-fw': n.fw, 'data-last': n.last, 'data-gw': String(n.gw), class: fav ? 'fav' : null,
  },
  el('td', { 'data-key': 'fav', 'data-label': t('nodelist', 'favorite') }, el('button', {
    type: 'button', class: 'star', 'aria-label': t('nodelist', 'favorite'), 'aria-pressed': String(fav), text: fav ? '★' : '☆',
  })),
  cell('short', n.short),
  cell('long', el('a', { href: `/node/${n.num}`, text: nameOf(n) })),
  cell('id', el('code', { text: n.hex })),
  cell('hw', n.hw),
  cell('fw', n.fw),
  cell('role', n.role),
  cell('channel', n.channel),
  cell('gw', n.gw ? '✔' : ''),
  cell('pos', n.lat === null ? '' : el('a', { href: `/map?lat=${n.lat}&lng=${n.lon}&zoom=14`, text: position(n) })),
  cell('last', n.last ? el('time', { datetime: iso, title: iso, 'data-us': n.last, 'data-ago': '1', text: timeAgo(n.last) }) : ''));
}

function passes(n) {
  const q = search.value.trim().toLowerCase();
  const role = $('nl-role').value;
  const channel = $('nl-channel').value;
  const hw = $('nl-hw').value;
  const fw = $('nl-fw').value;
  const days = Number($('nl-active').value);
  const since = days ? asOf - days * 86_400_000_000 : 0;
  return (!q || [String(n.num), n.hex, n.short, nameOf(n)].join(' ').toLowerCase().includes(q))
    && (!role || n.role === role)
    && (!channel || n.channel === channel)
    && (!hw || n.hw === hw)
    && (!fw || n.fw === fw)
    && (!since || n.last >= since)
    && (!$('nl-fav').checked || favorites.has(String(n.num)));
}

function compare(a, b) {
  const fa = favorites.has(String(a.num)) ? 0 : 1;
  const fb = favorites.has(String(b.num)) ? 0 : 1;
  if (fa !== fb) return fa - fb;
  const va = sortValue(a, sortKey); const vb = sortValue(b, sortKey);
  if (va < vb) return -sortDir;
  if (va > vb) return sortDir;
  return 0;
}

/** Draws the next chunk of rows; says whether more remain. */
function drawMore() {
  const next = shown.slice(drawn, drawn + CHUNK);
  body.append(...next.map(row));
  drawn += next.length;
  more.textContent = `${t('nodelist', 'show_more')} (${shown.length - drawn})`;
  return drawn < shown.length;
}

const check = onDemand(more, drawMore);

/** Filters and sorts every node, then draws as many rows as were drawn before (at
 * least a chunk), so that a star or a new order does not lose the reader's place. */
function redraw() {
  if (!all) return;
  const keep = Math.max(drawn, CHUNK);
  shown = all.filter(passes).sort(compare);
  body.replaceChildren();
  drawn = 0;
  while (drawn < keep && drawMore());
  more.hidden = drawn >= shown.length;
  $('nl-count').textContent = String(shown.length);
  for (const th of document.querySelectorAll('#nl-table th.sortable')) {
    th.setAttribute('aria-sort', th.dataset.key === sortKey ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
  }
  check();
}

/** Sorting by `key`: the same key again turns the order round; newest first for times,
 * A to Z otherwise. */
function sortBy(key) {
  if (sortKey === key) sortDir = -sortDir;
  else { sortKey = key; sortDir = key === 'last' ? -1 : 1; }
  redraw();
}

for (const th of document.querySelectorAll('#nl-table th.sortable')) {
  th.tabIndex = 0;
  const go = () => sortBy(th.dataset.key);
  th.addEventListener('click', go);
  th.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
}

body.addEventListener('click', (e) => {
  const b = e.target.closest('.star');
  if (!b || !all) return;
  const num = b.closest('tr').dataset.num;
  if (favorites.has(num)) favorites.delete(num); else favorites.add(num);
  localStorage.setItem(FAV_KEY, JSON.stringify([...favorites]));
  redraw();
});

// Phones show cards without the header: a select sorts them instead.
const sortSel = $('nl-sort');
sortSel.addEventListener('change', () => {
  sortKey = '';
  sortBy(sortSel.value);
});

for (const id of ['nl-role', 'nl-channel', 'nl-hw', 'nl-fw', 'nl-active', 'nl-fav']) {
  $(id).addEventListener('change', redraw);
}
search.addEventListener('input', redraw);

$('nl-csv').addEventListener('click', () => {
  const out = [['node_id', 'id', 'short_name', 'long_name', 'hw_model', 'firmware', 'role', 'channel', 'mqtt_gateway', 'position', 'last_seen']];
  for (const n of shown) {
    out.push([n.num, n.hex, n.short, nameOf(n), n.hw, n.fw, n.role, n.channel, String(n.gw), position(n),
      n.last ? new Date(n.last / 1000).toISOString() : '']);
  }
  downloadCsv('nodelist.csv', out);
});

// Time travel: "As of" a local date and time shows the list as it stood then
// (`/api/nodes?at=`); cleared, the live list.
const atInput = $('nl-at');
const windowNote = $('nl-window');
async function load() {
  const at = atInput.value ? new Date(atInput.value).getTime() * 1000 : null;
  const answer = await getJson(at === null ? '/api/nodes' : `/api/nodes?at=${at}`);
  asOf = at === null ? Date.now() * 1000 : at;
  all = (answer.nodes || []).map(nodeOf);
  windowNote.textContent = answer.window && answer.window.from_rollups ? t('time', 'from_rollups') : '';
  body.dataset.window = at === null ? 'now' : String(at);
  redraw();
  body.dataset.loaded = String(all.length);
}
atInput.addEventListener('change', () => load().catch((e) => {
  windowNote.textContent = `${t('time', 'unavailable')}: ${e.message || e}`;
}));

localizeTimes(body);
try {
  await load();
} catch (e) {
  // The first rows stay; the rest cannot be filtered without the list.
  status.textContent = t('nodelist', 'load_failed');
  status.hidden = false;
  for (const id of ['nl-search', 'nl-role', 'nl-channel', 'nl-hw', 'nl-fw', 'nl-active', 'nl-fav', 'nl-sort', 'nl-csv', 'nl-at']) $(id).disabled = true;
}
