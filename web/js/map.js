// /map and /kiosk: every node with a position, coloured by channel; filters; a click
// shows the node's radio links (/api/edges, coloured by the link model's quality from
// /api/links); toggles for every link by quality and for the observed coverage cells;
// the stream makes senders blink. Time travel (/map): the nodes where they were and the
// links of a past moment, or hour by hour through a day.
import { data, el, t, follow, getJson, hex, portLabel, timeAgo } from './common.js';
import { L, PALETTE, makeMap, fitNodes, card, spread, mapNodes } from './mapkit.js';
import { timeTravel, timeQuery } from './timetravel.js';
import {
  qualityColour, qualityOfSnr, qualityName, confidenceStyle, indexLinks, linkKey, linkLines, fmtSnr,
} from './links.js';

const kiosk = !!data.kiosk;
/** Nodes heard within this many days (before the moment shown) are drawn. */
const DAYS = 3;
const first = await mapNodes(DAYS);
const { channels } = first;
let nodes = first.nodes;
let byNum = new Map(nodes.map((n) => [n.num, n]));
/** The past moment or window shown (null: now); see timetravel.js. */
let moment = null;
const colourOf = (ch) => {
  const i = channels.indexOf(ch);
  return i < 0 ? '#868e96' : PALETTE[i % PALETTE.length];
};
const isRouter = (n) => (n.role || '').toUpperCase().includes('ROUTER');
const mapEl = document.getElementById('map');
const totalEl = document.getElementById('total-count');
if (totalEl) totalEl.textContent = String(first.total);
const map = makeMap('map', { zoomControl: !kiosk });
let pos = spread(nodes);
const params = new URLSearchParams(window.location.search);
// The view a reset returns to.
const home = () => { mapEl.dataset.view = fitNodes(map, [...pos.values()]); };
if (params.has('lat') && params.has('lng')) {
  map.setView([Number(params.get('lat')), Number(params.get('lng'))], Number(params.get('zoom')) || 13);
  mapEl.dataset.view = 'link';
} else {
  home();
}

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

/** (Re)draws the markers of `list` (nodes with a position). */
function placeNodes(list) {
  for (const m of markers.values()) m.remove();
  markers.clear();
  nodes = list;
  byNum = new Map(nodes.map((n) => [n.num, n]));
  pos = spread(nodes);
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
}
placeNodes(nodes);

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

const TYPE_LABEL = { traceroute: 'traceroute_links', neighbor: 'neighbor_links', link: 'link_model' };

function edgeCard(e, from, to, link) {
  const lines = [[t('map', 'link_type'), t('map', TYPE_LABEL[e.type] || 'link_model')]];
  if (typeof e.snr === 'number') lines.push(['SNR', `${e.snr.toFixed(2)} dB`]);
  if (e.count) lines.push([t('map', 'count'), e.count]);
  if (e.last_seen_us) lines.push([t('map', 'last_seen'), timeAgo(e.last_seen_us)]);
  lines.push(...linkLines(link));
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
  const [edges, links] = await Promise.all([
    getJson(`/api/edges?node_id=${n.num}${timeQuery(moment)}`).then((b) => b.edges || []).catch(() => []),
    getJson(`/api/links?node_id=${n.num}`).then((b) => b.links || []).catch(() => []),
  ]);
  if (mine !== selection) return;
  // Every edge as today, coloured by the model's verdict on the same direction when it
  // has one; then the links only the model knows (direct receptions, relays).
  const idx = indexLinks(links);
  const seen = new Set(edges.map((e) => linkKey(e.from, e.to)));
  const all = [
    ...edges.map((e) => ({ e, link: idx.get(linkKey(e.from, e.to)) })),
    ...links.filter((l) => !seen.has(linkKey(l.from, l.to)))
      .map((l) => ({ e: { from: l.from, to: l.to, type: 'link', last_seen_us: l.last_seen_us }, link: l })),
  ];
  let drawn = 0;
  let rated = 0;
  for (const { e, link } of all) {
    const a = pos.get(e.from); const b = pos.get(e.to);
    const from = byNum.get(e.from); const to = byNum.get(e.to);
    if (!a || !b || !from || !to) continue;
    const tr = e.type === 'traceroute';
    const look = link
      ? { color: qualityColour(link.quality), ...confidenceStyle(link.confidence) }
      : { color: tr ? '#e8590c' : '#868e96', weight: tr ? 3 : 2, opacity: 0.9 };
    const colour = look.color;
    const line = L.polyline([a, b], {
      ...look, dashArray: e.type === 'neighbor' ? '6 6' : null,
      className: `edge edge-${e.type} q-${link ? link.quality : 'none'}`,
    }).addTo(edgeLayer);
    line.bindTooltip(edgeCard(e, from, to, link), { sticky: true });
    if (link) rated += 1;
    // The arrowhead shows who heard whom: it points at the receiver (`to`).
    shownEdges.push({ a, b, colour, type: e.type, gap: (isRouter(to) ? 9 : 7) + 2 });
    drawn += 1;
  }
  drawArrows();
  side.append(el('p', { class: 'muted', text: `${drawn} ${t('map', 'links')}` }));
  mapEl.dataset.edgesDrawn = String(drawn);
  mapEl.dataset.edgesRated = String(rated);
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
    home();
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

// --- time travel: the nodes as they were and every link of the moment (the evidence
// of the day before it) or of the hour played --------------------------------------
const pastLayer = L.layerGroup().addTo(map);

async function showMoment(m) {
  const q = timeQuery(m);
  const [list, edgeBody] = await Promise.all([
    mapNodes(DAYS, q),
    m ? getJson(`/api/edges?${q.slice(1)}${m.at !== undefined ? '&hours=24' : ''}`) : null,
  ]);
  moment = m;
  clearEdges();
  pastLayer.clearLayers();
  if (totalEl) totalEl.textContent = String(list.total);
  placeNodes(list.nodes);
  applyFilters();
  let drawn = 0;
  for (const e of (edgeBody && edgeBody.edges) || []) {
    const a = pos.get(e.from); const b = pos.get(e.to);
    const from = byNum.get(e.from); const to = byNum.get(e.to);
    if (!a || !b || !from || !to) continue;
    const tr = e.type === 'traceroute';
    L.polyline([a, b], {
      color: tr ? '#e8590c' : '#868e96', weight: tr ? 2.5 : 1.5, opacity: 0.8,
      dashArray: tr ? null : '6 6', className: `past-edge edge-${e.type}`,
    }).bindTooltip(edgeCard(e, from, to, null), { sticky: true }).addTo(pastLayer);
    drawn += 1;
  }
  pastLayer.eachLayer((x) => x.bringToBack());
  mapEl.dataset.pastEdges = String(drawn);
  const w = edgeBody && edgeBody.window;
  const rollups = !!((w && w.from_rollups) || (list.window && list.window.from_rollups));
  return { window: w ? { ...w, from_rollups: rollups } : null, count: markers.size };
}
if (!kiosk) {
  timeTravel({
    slider: document.getElementById('m-time'),
    when: document.getElementById('m-when'),
    play: document.getElementById('m-play'),
    note: document.getElementById('m-window'),
    box: mapEl,
    show: showMoment,
  });
}

// --- mesh-wide layers: every confident link by quality; observed coverage cells --------
const meshLinks = { layer: L.layerGroup(), loaded: null };
const observedCells = { layer: L.layerGroup(), loaded: null };

async function loadMeshLinks() {
  // Every confident link, a page at a time (the API's pages are most confident first).
  const all = [];
  for (let offset = 0; offset !== null && offset !== undefined;) {
    const body = await getJson(`/api/links?min_confidence=0.3&limit=5000&offset=${offset}`);
    all.push(...(body.links || []));
    offset = body.next_offset;
  }
  // One line per pair of nodes: the more confident direction speaks for it.
  const best = new Map();
  for (const l of all) {
    const k = l.from < l.to ? linkKey(l.from, l.to) : linkKey(l.to, l.from);
    const had = best.get(k);
    if (!had || l.confidence > had.confidence) best.set(k, l);
  }
  let drawn = 0;
  for (const l of best.values()) {
    const a = pos.get(l.from); const b = pos.get(l.to);
    const from = byNum.get(l.from); const to = byNum.get(l.to);
    if (!a || !b || !from || !to) continue;
    L.polyline([a, b], {
      color: qualityColour(l.quality), ...confidenceStyle(l.confidence), className: `mesh-link q-${l.quality}`,
    }).bindTooltip(edgeCard({ type: 'link', last_seen_us: l.last_seen_us }, from, to, l), { sticky: true })
      .addTo(meshLinks.layer);
    drawn += 1;
  }
  mapEl.dataset.meshLinksDrawn = String(drawn);
}

async function loadObserved() {
  const body = await getJson('/api/coverage/observed?hours=168&resolution=6');
  let drawn = 0;
  for (const c of body.cells || []) {
    const ring = (c.boundary || []).filter((p) => Array.isArray(p) && p.length === 2);
    if (ring.length < 3) continue;
    const colour = qualityColour(qualityOfSnr(c.median_snr));
    L.polygon(ring, { color: colour, weight: 1, fillColor: colour, fillOpacity: 0.35, className: 'observed-cell' })
      .bindTooltip(card(t('map', 'observed_coverage'), null, [
        [t('map', 'transmitters'), c.transmitters], [t('map', 'receivers'), c.receivers],
        [t('base', 'samples'), c.samples], [t('base', 'median_snr'), fmtSnr(c.median_snr)],
        [t('map', 'best_snr'), fmtSnr(c.best_snr)], [t('base', 'link_quality'), qualityName(qualityOfSnr(c.median_snr))],
      ]), { sticky: true })
      .addTo(observedCells.layer);
    drawn += 1;
  }
  mapEl.dataset.observedCells = String(drawn);
}

function layerToggle(id, state, load, name) {
  const box = document.getElementById(id);
  if (!box) return;
  box.addEventListener('change', async () => {
    if (!box.checked) { state.layer.remove(); mapEl.dataset[name] = 'hidden'; return; }
    box.disabled = true;
    try {
      if (!state.loaded) state.loaded = load();
      await state.loaded;
      // (Below the nodes, so they stay clickable.)
      if (box.checked) { state.layer.addTo(map); state.layer.eachLayer((x) => x.bringToBack && x.bringToBack()); }
      mapEl.dataset[name] = 'shown';
    } catch {
      state.loaded = null;
      box.checked = false;
      mapEl.dataset[name] = 'failed';
    } finally {
      box.disabled = false;
    }
  });
}
if (!kiosk) {
  layerToggle('f-links', meshLinks, loadMeshLinks, 'meshLinks');
  layerToggle('f-observed', observedCells, loadObserved, 'observed');
}

// Live: blink the sender; list senders without a position (not while showing the past).
const unmapped = document.getElementById('unmapped');
function blink(p) {
  if (moment) return;
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
