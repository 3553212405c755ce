// /firehose: every packet, newest first; the stream adds rows (optionally one port),
// Pause holds new rows back until Resume.
import { data, el, t, follow, timeEl, portTag, packetNames, BROADCAST } from './common.js';

const feed = document.getElementById('feed');
const pauseBtn = document.getElementById('pause');
const pending = document.getElementById('pending');
const portSel = document.getElementById('port-filter');
const MAX_ROWS = 400;
const seen = new Set([...feed.querySelectorAll('tr[data-id]')].map((r) => r.dataset.id));
let paused = false;
let held = [];

function preview(s) {
  const one = String(s || '').replace(/\n/g, ' ');
  return one.length > 90 ? one.slice(0, 90) + '…' : one;
}

function pretty(p) {
  return p.decoded ? JSON.stringify(p.decoded, null, 2) : p.payload;
}

function row(p) {
  const names = packetNames(p);
  const toCell = (p.to_node_id === BROADCAST || p.to_node_id === 1)
    ? names.to
    : el('a', { href: `/node/${p.to_node_id}`, text: names.to });
  const portCell = el('td', { 'data-label': t('firehose', 'port') }, portTag(p.portnum));
  if (p.portnum === 70) {
    portCell.append(' ', el('a', { class: 'extra', href: `/traceroute/${p.id}`, title: t('packet', 'traceroute'), text: '⮕' }));
  }
  const d = p.decoded || {};
  if (typeof d.latitude_i === 'number' && typeof d.longitude_i === 'number' && (d.latitude_i || d.longitude_i)) {
    const lat = d.latitude_i / 1e7; const lng = d.longitude_i / 1e7;
    portCell.append(' ', el('a', { class: 'extra', href: `/map?lat=${lat}&lng=${lng}&zoom=14`, title: t('base', 'on_map'), text: '📍' }));
  }
  return el('tr', { 'data-id': p.id, 'data-port': p.portnum, class: 'new' },
    el('td', { 'data-label': t('firehose', 'time') }, timeEl(p.import_time_us)),
    el('td', { 'data-label': t('firehose', 'packet_id') }, el('a', { href: `/packet/${p.id}`, text: p.id })),
    el('td', { 'data-label': t('firehose', 'from') }, el('a', { href: `/node/${p.from_node_id}`, text: names.from })),
    el('td', { 'data-label': t('firehose', 'to') }, toCell),
    el('td', { 'data-label': t('firehose', 'channel'), text: p.channel || '' }),
    portCell,
    el('td', { 'data-label': t('firehose', 'payload'), class: 'payload' },
      el('details', {}, el('summary', { text: preview(p.payload) }), el('pre', { text: pretty(p) }))));
}

function show(p) {
  const r = row(p);
  feed.prepend(r);
  setTimeout(() => r.classList.remove('new'), 3000);
  while (feed.children.length > MAX_ROWS) feed.lastElementChild.remove();
}

function add(p) {
  const id = String(p.id);
  if (seen.has(id)) return;
  seen.add(id);
  if (paused) {
    held.push(p);
    if (held.length > MAX_ROWS) held.shift();
    pending.textContent = `${held.length} ${t('firehose', 'new_packets')}`;
    return;
  }
  show(p);
}

pauseBtn.addEventListener('click', () => {
  paused = !paused;
  pauseBtn.dataset.paused = String(paused);
  pauseBtn.textContent = paused ? t('firehose', 'resume') : t('firehose', 'pause');
  if (!paused) {
    for (const p of held) show(p);
    held = [];
    pending.textContent = '';
  }
});

portSel.addEventListener('change', () => {
  const u = new URL(window.location.href);
  if (portSel.value) u.searchParams.set('portnum', portSel.value);
  else u.searchParams.delete('portnum');
  window.location.assign(u.toString());
});

follow(data.portnum !== null && data.portnum !== undefined ? `portnum=${data.portnum}` : '', add);
