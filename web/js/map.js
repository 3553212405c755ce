// /map and /kiosk: every node with a position, coloured by channel; filters; a click
// shows the node's radio links (/api/edges); the stream makes senders blink.
import { data, el, t, follow, getJson, hex, portLabel, timeAgo } from './common.js';
import { L, PALETTE, makeMap, fitConfigBounds, card, spread } from './mapkit.js';

const kiosk = !!data.kiosk;
const nodes = data.nodes || [];
const byNum = new Map(nodes.map((n) => [n.num, n]));
const channels = data.channels || [];
const colourOf = (ch) => {
  const i = channels.indexOf(ch);
  return i < 0 ? '#868e96' : PALETTE[i % PALETTE.length];
};
const isRouter = (n) => (n.role || '').toUpperCase().includes('ROUTER');
const mapEl = document.getElementById('map');
const map = makeMap('map', { zoomControl: !kiosk });
const params = new URLSearchParams(window.location.search);
if (params.has('lat') && params.has('lng')) {
  map.setView([Number(params.get('lat')), Number(params.get('lng'))], Number(params.get('zoom')) || 13);
} else {
  fitConfigBounds(map);
}

const pos = spread(nodes);
const markers = new Map();
const edgeLayer = L.layerGroup().addTo(map);

function style(n) {
  return {
    radius: isRouter(n) ? 9 : 7,
    color: n.gw ? '#111' : '#fff',
    weight: n.gw ? 2.5 : 1,
    fillColor: colourOf(n.channel),
    fillOpacity: 0.85,
    className: `node node-${n.num}`,
  };
}

function nodeCard(n) {
  return card(n.long || n.short || hex(n.num), `/node/${n.num}`, [
    [t('map', 'short_name'), n.short],
    [t('map', 'node_id'), hex(n.num)],
    [t('map', 'channel'), n.channel],
    [t('map', 'hw_model'), n.hw],
    [t('map', 'role'), n.role],
    [t('map', 'firmware'), n.fw],
    [t('map', 'gateway'), n.gw ? '✔' : ''],
    [t('map', 'last_seen'), n.last ? timeAgo(n.last) : ''],
  ]);
}

for (const n of nodes) {
  const p = pos.get(n.num);
  if (!p) continue;
  const m = L.circleMarker(p, style(n));
  m.bindTooltip(el('span', { text: n.short || n.long || hex(n.num) }), { direction: 'top' });
  if (kiosk) {
    m.bindPopup(() => nodeCard(n), { autoClose: true });
  } else {
    m.on('click', (e) => { L.DomEvent.stopPropagation(e); select(n); });
  }
  markers.set(n.num, m);
}
mapEl.dataset.nodesDrawn = String(markers.size);

// Filters (saved in localStorage).
const FKEY = 'meshview.mapFilters';
let filters = { routers: false, gateways: false, hidden: [] };
try { filters = { ...filters, ...JSON.parse(localStorage.getItem(FKEY) || '{}') }; } catch { /* defaults */ }

function applyFilters() {
  let shown = 0;
  for (const [num, m] of markers) {
    const n = byNum.get(num);
    const ok = (!filters.routers || isRouter(n)) && (!filters.gateways || n.gw)
      && !filters.hidden.includes(n.channel || '');
    if (ok) { if (!map.hasLayer(m)) m.addTo(map); shown += 1; } else if (map.hasLayer(m)) m.remove();
  }
  const c = document.getElementById('shown-count');
  if (c) c.textContent = String(shown);
  if (!kiosk) localStorage.setItem(FKEY, JSON.stringify(filters));
}

function edgeCard(e, from, to) {
  const lines = [[t('map', 'link_type'), e.type === 'traceroute' ? t('map', 'traceroute_links') : t('map', 'neighbor_links')]];
  if (typeof e.snr === 'number') lines.push(['SNR', `${e.snr.toFixed(2)} dB`]);
  lines.push([t('map', 'count'), e.count], [t('map', 'last_seen'), timeAgo(e.last_seen_us)]);
  return card(`${from.short || hex(from.num)} → ${to.short || hex(to.num)}`, null, lines);
}

// Arrowheads: small filled triangles just short of the receiving node, pointing along
// the link, sized in pixels; computed in projected space, so redrawn after each zoom.
const arrowLayer = L.layerGroup().addTo(map);
let shownEdges = [];
let selection = 0; // bumped on every clear: a slower, older answer is dropped
const ARROW_LEN = 11;
const ARROW_HALF = 5;

function drawArrows() {
  arrowLayer.clearLayers();
  const z = map.getZoom();
  for (const { a, b, colour, type, gap } of shownEdges) {
    const pa = map.project(a, z);
    const pb = map.project(b, z);
    const dx = pb.x - pa.x;
    const dy = pb.y - pa.y;
    const len = Math.hypot(dx, dy);
    // Coincident ends have no direction: point down onto the node.
    const ux = len > 1e-9 ? dx / len : 0;
    const uy = len > 1e-9 ? dy / len : 1;
    // The tip stops at the receiver's marker edge, but never before the line's middle.
    const back = Math.min(gap, len / 2);
    const tip = L.point(pb.x - ux * back, pb.y - uy * back);
    const base = L.point(tip.x - ux * ARROW_LEN, tip.y - uy * ARROW_LEN);
    const left = L.point(base.x - uy * ARROW_HALF, base.y + ux * ARROW_HALF);
    const right = L.point(base.x + uy * ARROW_HALF, base.y - ux * ARROW_HALF);
    L.polygon([tip, left, right].map((p) => map.unproject(p, z)), {
      color: colour, weight: 1, opacity: 1, fillColor: colour, fillOpacity: 1,
      interactive: false, className: `edge-arrow edge-arrow-${type}`,
    }).addTo(arrowLayer);
  }
}
map.on('zoomend', drawArrows);

function clearEdges() {
  edgeLayer.clearLayers();
  arrowLayer.clearLayers();
  shownEdges = [];
  selection += 1;
}

async function select(n) {
  clearEdges();
  const mine = selection;
  const side = document.getElementById('selected');
  side.replaceChildren(nodeCard(n));
  side.classList.remove('muted');
  let edges = [];
  try { edges = (await getJson(`/api/edges?node_id=${n.num}`)).edges || []; } catch { edges = []; }
  if (mine !== selection) return;
  let drawn = 0;
  for (const e of edges) {
    const a = pos.get(e.from); const b = pos.get(e.to);
    const from = byNum.get(e.from); const to = byNum.get(e.to);
    if (!a || !b || !from || !to) continue;
    const tr = e.type === 'traceroute';
    const colour = tr ? '#e8590c' : '#868e96';
    const line = L.polyline([a, b], {
      color: colour, weight: tr ? 3 : 2, opacity: 0.9,
      dashArray: tr ? null : '6 6', className: `edge edge-${e.type}`,
    }).addTo(edgeLayer);
    line.bindTooltip(edgeCard(e, from, to), { sticky: true });
    // The arrowhead shows who heard whom: it points at the receiver (`to`).
    shownEdges.push({ a, b, colour, type: e.type, gap: (isRouter(to) ? 9 : 7) + 2 });
    drawn += 1;
  }
  drawArrows();
  side.append(el('p', { class: 'muted', text: `${drawn} ${t('map', 'links')}` }));
  mapEl.dataset.edgesDrawn = String(drawn);
  mapEl.dataset.selected = String(n.num);
}

if (!kiosk) {
  map.on('click', () => {
    clearEdges();
    delete mapEl.dataset.selected;
    const side = document.getElementById('selected');
    side.textContent = t('map', 'click_node');
    side.classList.add('muted');
  });
  const r = document.getElementById('f-routers');
  const g = document.getElementById('f-gateways');
  r.checked = filters.routers; g.checked = filters.gateways;
  r.addEventListener('change', () => { filters.routers = r.checked; applyFilters(); });
  g.addEventListener('change', () => { filters.gateways = g.checked; applyFilters(); });
  const chips = document.getElementById('f-channels');
  for (const ch of channels) {
    const box = el('input', { type: 'checkbox' });
    box.checked = !filters.hidden.includes(ch);
    box.addEventListener('change', () => {
      filters.hidden = box.checked ? filters.hidden.filter((x) => x !== ch) : [...filters.hidden, ch];
      applyFilters();
    });
    const sw = el('span', { class: 'swatch' });
    sw.style.background = colourOf(ch);
    chips.append(el('label', { class: 'chip' }, box, sw, ch));
  }
  document.getElementById('reset').addEventListener('click', () => {
    filters = { routers: false, gateways: false, hidden: [] };
    r.checked = false; g.checked = false;
    for (const b of chips.querySelectorAll('input')) b.checked = true;
    applyFilters();
    fitConfigBounds(map);
  });
  const share = document.getElementById('share');
  share.addEventListener('click', async () => {
    const url = window.location.href;
    try { await navigator.clipboard.writeText(url); share.textContent = t('map', 'copied'); } catch { window.prompt(t('map', 'share'), url); }
  });
  map.on('moveend', () => {
    const c = map.getCenter();
    const u = new URL(window.location.href);
    u.searchParams.set('lat', c.lat.toFixed(5));
    u.searchParams.set('lng', c.lng.toFixed(5));
    u.searchParams.set('zoom', String(map.getZoom()));
    window.history.replaceState(null, '', u.toString());
  });
}
applyFilters();

// Live: blink the sender; list senders without a position.
const unmapped = document.getElementById('unmapped');
function blink(p) {
  const m = markers.get(p.from_node_id);
  if (m) {
    const n = byNum.get(p.from_node_id);
    m.setStyle({ fillColor: '#ffd43b', radius: (isRouter(n) ? 9 : 7) + 4 });
    if (m.getElement()) m.getElement().classList.add('blink');
    setTimeout(() => {
      m.setStyle(style(n));
      if (m.getElement()) m.getElement().classList.remove('blink');
    }, 2500);
    return;
  }
  if (!unmapped) return;
  const li = el('li', {}, el('a', { href: `/node/${p.from_node_id}`, text: p.long_name || hex(p.from_node_id) }), ' ', el('span', { class: 'muted', text: portLabel(p.portnum) }));
  unmapped.prepend(li);
  setTimeout(() => li.remove(), 30000);
  while (unmapped.children.length > 50) unmapped.lastElementChild.remove();
}
if (data.map_interval !== 0) follow('', blink);
