// /firehose: every packet, newest first; the stream adds rows (optionally of one port
// and one channel), Pause holds new rows back until Resume.
import { data, t, follow } from './common.js';
import { packetRow } from './packetrows.js';

const feed = document.getElementById('feed');
const pauseBtn = document.getElementById('pause');
const pending = document.getElementById('pending');
const portSel = document.getElementById('port-filter');
const MAX_ROWS = 400;
const seen = new Set([...feed.querySelectorAll('tr[data-id]')].map((r) => r.dataset.id));
let paused = false;
let held = [];

function show(p) {
  const r = packetRow(p, { channel: true });
  r.classList.add('new');
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

// A filter reloads the page with it in the URL (`?portnum=`, `?channel=`), which lists
// the newest packets that match and follows only those.
for (const [sel, param] of [[portSel, 'portnum'], [document.getElementById('channel-filter'), 'channel']]) {
  sel.addEventListener('change', () => {
    const u = new URL(window.location.href);
    if (sel.value) u.searchParams.set(param, sel.value);
    else u.searchParams.delete(param);
    window.location.assign(u.toString());
  });
}

const only = new URLSearchParams();
if (data.portnum !== null && data.portnum !== undefined) only.set('portnum', String(data.portnum));
if (data.channel) only.set('channel', data.channel);
follow(only.toString(), add);
