// /nodelist: the server renders every node; filtering, sorting (by the column headers,
// or on phones, where the rows are cards without them, by a select), favourites
// (localStorage) and CSV export work on those rows.
import { downloadCsv } from './common.js';

const body = document.getElementById('nl-body');
const rows = [...body.querySelectorAll('tr')];
const $ = (id) => document.getElementById(id);
const search = $('nl-search');
const FAV_KEY = 'meshview.favorites';
let favorites = new Set(JSON.parse(localStorage.getItem(FAV_KEY) || '[]').map(String));
let sortKey = 'last';
let sortDir = -1;

function cellText(r, key) {
  const c = r.querySelector(`td[data-key="${key}"]`);
  return c ? c.textContent.trim() : '';
}

function sortValue(r, key) {
  switch (key) {
    case 'last': return Number(r.dataset.last) || 0;
    case 'id': return Number(r.dataset.num) || 0;
    case 'gw': return r.dataset.gw === 'true' ? 1 : 0;
    default: return cellText(r, key).toLowerCase();
  }
}

function markStars() {
  for (const r of rows) {
    const on = favorites.has(r.dataset.num);
    const b = r.querySelector('.star');
    b.textContent = on ? '★' : '☆';
    b.setAttribute('aria-pressed', String(on));
    r.classList.toggle('fav', on);
  }
}

function apply() {
  const q = search.value.trim().toLowerCase();
  const role = $('nl-role').value;
  const channel = $('nl-channel').value;
  const hw = $('nl-hw').value;
  const fw = $('nl-fw').value;
  const days = Number($('nl-active').value);
  const favOnly = $('nl-fav').checked;
  const since = days ? (Date.now() - days * 86400000) * 1000 : 0;
  let shown = 0;
  for (const r of rows) {
    const hay = [r.dataset.num, r.dataset.hex, cellText(r, 'short'), cellText(r, 'long')].join(' ').toLowerCase();
    const ok = (!q || hay.includes(q))
      && (!role || r.dataset.role === role)
      && (!channel || r.dataset.channel === channel)
      && (!hw || r.dataset.hw === hw)
      && (!fw || r.dataset.fw === fw)
      && (!since || Number(r.dataset.last) >= since)
      && (!favOnly || favorites.has(r.dataset.num));
    r.hidden = !ok;
    if (ok) shown += 1;
  }
  $('nl-count').textContent = String(shown);
}

/** Sorting by `key`: the same key again turns the order round; newest first for times,
 * A to Z otherwise. */
function sortBy(key) {
  if (sortKey === key) sortDir = -sortDir;
  else { sortKey = key; sortDir = key === 'last' ? -1 : 1; }
  sort();
}

function sort() {
  const sorted = [...rows].sort((a, b) => {
    const fa = favorites.has(a.dataset.num) ? 0 : 1;
    const fb = favorites.has(b.dataset.num) ? 0 : 1;
    if (fa !== fb) return fa - fb;
    const va = sortValue(a, sortKey); const vb = sortValue(b, sortKey);
    if (va < vb) return -sortDir;
    if (va > vb) return sortDir;
    return 0;
  });
  body.append(...sorted);
  for (const th of document.querySelectorAll('#nl-table th.sortable')) {
    th.setAttribute('aria-sort', th.dataset.key === sortKey ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
  }
}

for (const th of document.querySelectorAll('#nl-table th.sortable')) {
  th.tabIndex = 0;
  const go = () => sortBy(th.dataset.key);
  th.addEventListener('click', go);
  th.addEventListener('keydown', (e) => { if (e.key === 'Enter') go(); });
}

body.addEventListener('click', (e) => {
  const b = e.target.closest('.star');
  if (!b) return;
  const num = b.closest('tr').dataset.num;
  if (favorites.has(num)) favorites.delete(num); else favorites.add(num);
  localStorage.setItem(FAV_KEY, JSON.stringify([...favorites]));
  markStars();
  sort();
  apply();
});

// Phones show cards without the header: a select sorts them instead.
const sortSel = $('nl-sort');
sortSel.addEventListener('change', () => {
  sortKey = '';
  sortBy(sortSel.value);
});

for (const id of ['nl-role', 'nl-channel', 'nl-hw', 'nl-fw', 'nl-active', 'nl-fav']) {
  $(id).addEventListener('change', apply);
}
search.addEventListener('input', apply);

$('nl-csv').addEventListener('click', () => {
  const out = [['node_id', 'id', 'short_name', 'long_name', 'hw_model', 'firmware', 'role', 'channel', 'mqtt_gateway', 'position', 'last_seen']];
  for (const r of rows) {
    if (r.hidden) continue;
    const us = Number(r.dataset.last);
    out.push([r.dataset.num, r.dataset.hex, cellText(r, 'short'), cellText(r, 'long'), r.dataset.hw, r.dataset.fw,
      r.dataset.role, r.dataset.channel, r.dataset.gw, cellText(r, 'pos'), us ? new Date(us / 1000).toISOString() : '']);
  }
  downloadCsv('nodelist.csv', out);
});

markStars();
sort();
apply();
