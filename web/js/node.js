// /node/{id}: QR and import URL, position track and neighbours on a map (coloured by
// link quality), predicted and observed coverage, the direct links with their SNR over
// time, telemetry charts, packets per day by port, and the packet table's filters and CSV.
import { data, el, t, getJson, hex, portLabel, downloadCsv, timeEl, onDemand, packetNames } from './common.js';
import { packetRow, pretty } from './packetrows.js';
import { L, makeMap, fitConfigBounds, card } from './mapkit.js';
import { timeLines, categories } from './charts.js';
import {
  qualityColour, qualityOfSnr, qualityBadge, confidenceStyle, indexLinks, linkKey, linkLines, fmtSnr, fmtConfidence,
} from './links.js';

const node = data.node || {};
const num = node.num;
const hasPosition = typeof node.lat === 'number' && typeof node.lon === 'number';
// Asked once, used by the map, the links table and the coverage layers.
const nodesP = getJson('/api/nodes')
  .then((b) => new Map((b.nodes || []).map((n) => [n.node_id, n])))
  .catch(() => new Map());
const linksP = getJson(`/api/links?node_id=${num}`)
  .then((b) => b.links || [])
  .catch(() => null);
const nameOf = (byNum, id) => {
  const n = byNum.get(id);
  return (n && (n.long_name || n.short_name)) || hex(id);
};
/** `{x}`-style placeholders. */
const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));

// --- contact sharing -----------------------------------------------------------------
const qrBtn = document.getElementById('show-qr');
if (qrBtn) {
  const box = document.getElementById('qr-box');
  qrBtn.addEventListener('click', () => {
    box.hidden = !box.hidden;
    if (!box.hidden && !box.dataset.drawn) drawQr(node.import_url);
  });
  document.getElementById('copy-url').addEventListener('click', async (e) => {
    try {
      await navigator.clipboard.writeText(node.import_url);
      e.target.textContent = t('node', 'copied');
    } catch {
      box.hidden = false;
      const input = document.getElementById('import-url');
      input.select();
    }
  });
}

function drawQr(text) {
  const qr = window.qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const canvas = document.getElementById('qr');
  const quiet = 4;
  const cell = Math.floor(canvas.width / (n + 2 * quiet));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#000';
  const off = Math.floor((canvas.width - cell * n) / 2);
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (qr.isDark(r, c)) ctx.fillRect(off + c * cell, off + r * cell, cell, cell);
    }
  }
  document.getElementById('qr-box').dataset.drawn = '1';
}

// --- map -----------------------------------------------------------------------------
const map = makeMap('node-map');
async function drawMap() {
  const pts = [];
  try {
    const body = await getJson(`/api/packets?portnum=3&from_node_id=${num}&limit=200`);
    for (const p of (body.packets || []).reverse()) {
      const d = p.decoded || {};
      if (typeof d.latitude_i === 'number' && (d.latitude_i || d.longitude_i)) pts.push([d.latitude_i / 1e7, d.longitude_i / 1e7]);
    }
  } catch { /* map stays empty */ }
  const bounds = [];
  if (pts.length > 1) L.polyline(pts, { color: '#4263eb', weight: 3 }).addTo(map);
  if (pts.length) {
    L.circleMarker(pts[0], { radius: 6, color: '#2b8a3e', fillColor: '#40c057', fillOpacity: 1 }).addTo(map);
    L.circleMarker(pts[pts.length - 1], { radius: 8, color: '#c92a2a', fillColor: '#fa5252', fillOpacity: 1, className: 'track-end' })
      .bindTooltip(el('span', { text: node.name })).addTo(map);
    bounds.push(...pts);
  } else if (typeof node.lat === 'number') {
    L.circleMarker([node.lat, node.lon], { radius: 8, color: '#c92a2a', fillColor: '#fa5252', fillOpacity: 1 })
      .bindTooltip(el('span', { text: node.name })).addTo(map);
    bounds.push([node.lat, node.lon]);
  }
  const here = bounds.length ? bounds[bounds.length - 1] : null;
  try {
    const [edges, byNum, links] = await Promise.all([getJson(`/api/edges?node_id=${num}`), nodesP, linksP]);
    const idx = indexLinks(links);
    const done = new Set();
    for (const e of edges.edges || []) {
      const other = e.from === num ? e.to : e.from;
      if (done.has(other)) continue;
      done.add(other);
      const n = byNum.get(other);
      if (!n || !n.last_lat || !n.last_long) continue;
      const p = [n.last_lat / 1e7, n.last_long / 1e7];
      // The model's verdict on this edge (either direction); without one, today's grey.
      const l = idx.get(linkKey(e.from, e.to)) || idx.get(linkKey(e.to, e.from));
      const look = l ? { color: qualityColour(l.quality), ...confidenceStyle(l.confidence) } : { color: '#868e96', weight: 2 };
      if (here) {
        L.polyline([here, p], {
          ...look, dashArray: e.type === 'neighbor' ? '5 5' : null, className: `edge q-${l ? l.quality : 'none'}`,
        }).addTo(map);
      }
      L.circleMarker(p, { radius: 6, color: '#1c7ed6', fillColor: '#4dabf7', fillOpacity: 0.9 })
        .bindPopup(card(n.long_name || hex(other), `/node/${other}`, [
          [t('node', 'link_type'), e.type], ['SNR', typeof e.snr === 'number' ? `${e.snr.toFixed(2)} dB` : ''],
          ...linkLines(l),
        ])).addTo(map);
      bounds.push(p);
    }
  } catch { /* no neighbours */ }
  if (bounds.length > 1) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 15 });
  else if (bounds.length === 1) map.setView(bounds[0], 13);
  else fitConfigBounds(map);
  document.getElementById('node-map').dataset.nodesDrawn = String(bounds.length);
}

// --- coverage: predicted (ITM perimeter) and observed (who heard this node directly) ---
const mapEl = document.getElementById('node-map');
const summary = document.getElementById('cov-summary');
const predicted = { layer: null, body: null, loading: null };
const observed = { layer: null, body: null, loading: null };

/** Fetches once; `build(body)` makes the layer. A failure leaves the box unchecked. */
async function layerOf(state, url, build) {
  if (!state.loading) {
    state.loading = getJson(url).then((body) => {
      state.body = body;
      state.layer = build(body);
      return state.layer;
    });
    state.loading.catch(() => { state.loading = null; });
  }
  return state.loading;
}

function buildPredicted(body) {
  const pts = (body.perimeter || []).filter((p) => Array.isArray(p) && p.length === 2);
  const group = L.layerGroup();
  if (pts.length >= 3) {
    L.polygon(pts, {
      color: '#1c7ed6', weight: 2, dashArray: '6 4', fillColor: '#1c7ed6', fillOpacity: 0.08,
      className: 'coverage-predicted', interactive: false,
    }).addTo(group);
  }
  const badge = document.getElementById('cov-model');
  const model = body.model === 'terrain' ? t('node', 'model_terrain') : t('node', 'model_area');
  badge.textContent = body.missing_tile ? `${model} (${t('node', 'missing_tile')})` : model;
  badge.dataset.model = body.model || '';
  badge.hidden = false;
  return group;
}

function buildObserved(body, byNum) {
  const group = L.layerGroup();
  for (const c of body.cells || []) {
    const ring = (c.boundary || []).filter((p) => Array.isArray(p) && p.length === 2);
    if (ring.length < 3) continue;
    const colour = qualityColour(qualityOfSnr(c.median_snr));
    L.polygon(ring, {
      color: colour, weight: 1, fillColor: colour, fillOpacity: 0.4, className: 'coverage-cell',
    }).bindTooltip(card(t('node', 'observed_coverage'), null, [
      [t('node', 'receivers'), c.receivers], [t('base', 'samples'), c.samples],
      [t('base', 'median_snr'), fmtSnr(c.median_snr)], [t('node', 'best_snr'), fmtSnr(c.best_snr)],
    ]), { sticky: true }).addTo(group);
  }
  const from = Array.isArray(body.position) ? body.position : [node.lat, node.lon];
  let heard = 0;
  for (const h of body.heard_by || []) {
    if (typeof h.lat !== 'number' || typeof h.lon !== 'number') continue;
    const colour = qualityColour(qualityOfSnr(h.median_snr));
    L.polyline([from, [h.lat, h.lon]], { color: colour, weight: 1.5, opacity: 0.8, className: 'coverage-heard-line', interactive: false }).addTo(group);
    L.circleMarker([h.lat, h.lon], { radius: 5, color: '#fff', weight: 1, fillColor: colour, fillOpacity: 0.95, className: 'coverage-heard' })
      .bindPopup(card(nameOf(byNum, h.node_id), `/node/${h.node_id}`, [
        [t('node', 'node_id'), h.id || hex(h.node_id)],
        [t('node', 'distance'), typeof h.distance_km === 'number' ? `${h.distance_km.toFixed(1)} km` : ''],
        [t('base', 'samples'), h.samples], [t('base', 'median_snr'), fmtSnr(h.median_snr)],
      ])).addTo(group);
    heard += 1;
  }
  mapEl.dataset.observedCells = String((body.cells || []).length);
  mapEl.dataset.heardBy = String(heard);
  return group;
}

/** The comparison in words, once both answers (or the observed one alone) are in. */
function describeCoverage() {
  if (!summary) return;
  const parts = [];
  const o = observed.body;
  if (o && map.hasLayer(observed.layer)) {
    parts.push(fill(t('node', 'heard_directly_by'), { n: (o.heard_by || []).length }));
    const c = o.comparison;
    const pct = (v) => (typeof v === 'number' ? Math.round(v * 100) : null);
    const x = c && pct(c.observed_outside_predicted);
    const y = c && pct(c.predicted_never_heard);
    if (x === null && y === null) parts.push(t('node', 'no_comparison'));
    else {
      const model = c.model === 'terrain' ? t('node', 'model_terrain') : t('node', 'model_area');
      const said = [];
      if (x !== null) said.push(fill(t('node', 'outside_prediction'), { x }));
      if (y !== null) said.push(fill(t('node', 'never_heard'), { y }));
      parts.push(`${said.join('; ')} (${model}).`);
    }
  }
  summary.textContent = parts.join(' ');
}

async function toggleLayer(box, state, url, build, name) {
  box.disabled = true;
  try {
    const layer = await layerOf(state, url, build);
    if (box.checked) {
      layer.addTo(map);
      mapEl.dataset[name] = 'shown';
      const b = L.latLngBounds([]);
      layer.eachLayer((x) => { if (x.getBounds) b.extend(x.getBounds()); else if (x.getLatLng) b.extend(x.getLatLng()); });
      if (b.isValid()) map.fitBounds(b.extend([node.lat, node.lon]), { padding: [20, 20], maxZoom: 14 });
    } else {
      layer.remove();
      mapEl.dataset[name] = 'hidden';
    }
  } catch {
    box.checked = false;
    mapEl.dataset[name] = 'failed';
  } finally {
    box.disabled = false;
    describeCoverage();
  }
}

const predBox = document.getElementById('cov-predicted');
const obsBox = document.getElementById('cov-observed');
// Only a node with a position has coverage (the server answers 404 otherwise): the
// template leaves the toggles out then, and nothing is asked.
if (hasPosition && predBox && obsBox) {
  predBox.addEventListener('change', () => toggleLayer(predBox, predicted,
    `/api/coverage/${num}?mode=perimeter`, buildPredicted, 'predicted'));
  obsBox.addEventListener('change', async () => {
    const byNum = await nodesP;
    toggleLayer(obsBox, observed, `/api/coverage/${num}/observed?hours=168&resolution=7`,
      (body) => buildObserved(body, byNum), 'observed');
  });
}

// --- direct links: who hears this node, whom it hears, and how well ---------------------
const linksTable = document.getElementById('links-table');

function sourcesCell(s) {
  const parts = [
    ['TR', s.traceroute, 'src_traceroute'], ['NB', s.neighbor, 'src_neighbor'],
    ['RX', s.reception, 'src_reception'], ['RL', s.relay, 'src_relay'],
  ];
  const td = el('td', { class: 'srcs' });
  for (const [abbr, n, key] of parts) {
    if (!n) continue;
    if (td.childNodes.length) td.append(' · ');
    td.append(el('abbr', { title: t('node', key), text: `${abbr} ${n}` }));
  }
  return td;
}

async function drawLinks() {
  const [links, byNum] = await Promise.all([linksP, nodesP]);
  const body = linksTable.tBodies[0];
  body.replaceChildren();
  // Nodes that heard this one first, then the ones it heard; each most confident first.
  const rows = (links || []).filter((l) => l.from === num || l.to === num)
    .sort((a, b) => (b.from === num) - (a.from === num) || b.confidence - a.confidence);
  for (const l of rows) {
    const hearsMe = l.from === num;
    const other = hearsMe ? l.to : l.from;
    const btn = el('button', { type: 'button', class: 'link-chart', text: t('node', 'snr_history') });
    const tr = el('tr', { class: `link-row q-${l.quality}`, 'data-from': l.from, 'data-to': l.to },
      el('td', { text: hearsMe ? `→ ${t('node', 'hears_me')}` : `← ${t('node', 'heard_by_me')}` }),
      el('td', {}, el('a', { href: `/node/${other}`, text: nameOf(byNum, other) })),
      el('td', { class: 'num', text: fmtSnr(l.median_snr) }),
      el('td', { class: 'num', text: fmtSnr(l.last_snr) }),
      el('td', {}, qualityBadge(l.quality)),
      sourcesCell(l.samples || {}),
      el('td', { class: 'num', text: fmtConfidence(l.confidence) }),
      el('td', {}, timeEl(l.last_seen_us)),
      el('td', {}, btn));
    tr.addEventListener('click', (e) => {
      if (e.target.closest('a')) return;
      showLink(l, byNum, tr);
    });
    body.append(tr);
  }
  document.getElementById('links-empty').hidden = rows.length > 0;
  linksTable.hidden = rows.length === 0;
  linksTable.dataset.rows = String(rows.length);
}

let linkAsk = 0;
async function showLink(l, byNum, tr) {
  const mine = ++linkAsk;
  for (const r of linksTable.querySelectorAll('tr.selected')) r.classList.remove('selected');
  tr.classList.add('selected');
  const box = document.getElementById('link-chart-box');
  const chartEl = document.getElementById('chart-link');
  const a = nameOf(byNum, l.from);
  const b = nameOf(byNum, l.to);
  document.getElementById('link-chart-title').textContent = `${t('node', 'snr_history')}: ${a} → ${b}`;
  box.hidden = false;
  delete chartEl.dataset.drawn;
  // Both directions' hourly series (the reverse may be unknown: then its series is empty).
  const [fwd, rev] = await Promise.all([
    getJson(`/api/links/${l.from}/${l.to}`).catch(() => null),
    getJson(`/api/links/${l.to}/${l.from}`).catch(() => null),
  ]);
  if (mine !== linkAsk) return;
  const pts = (body, key) => ((body && body.hours) || [])
    .filter((h) => typeof h[key] === 'number').map((h) => [Math.round(h.hour_us / 1000), h[key]]);
  const series = [
    { name: `${a} → ${b} ${t('node', 'mean_snr')}`, points: pts(fwd, 'mean_snr') },
    { name: `${a} → ${b} ${t('node', 'min_snr')}`, points: pts(fwd, 'min_snr') },
    { name: `${a} → ${b} ${t('node', 'max_snr')}`, points: pts(fwd, 'max_snr') },
    { name: `${b} → ${a} ${t('node', 'mean_snr')}`, points: pts(rev, 'mean_snr') },
  ].filter((s) => s.points.length);
  const empty = document.getElementById('link-chart-empty');
  empty.hidden = series.length > 0;
  chartEl.hidden = !series.length;
  if (!series.length) {
    chartEl.dataset.drawn = 'empty';
    return;
  }
  timeLines('link', series, { yName: 'SNR (dB)' });
}

// --- charts --------------------------------------------------------------------------
async function drawCharts() {
  const body = await getJson(`/api/packets?portnum=67&from_node_id=${num}&limit=1000`);
  const series = {};
  const add = (key, name, tm, v) => {
    if (typeof v !== 'number') return;
    (series[key] = series[key] || new Map());
    if (!series[key].has(name)) series[key].set(name, []);
    series[key].get(name).push([tm, v]);
  };
  for (const p of (body.packets || []).slice().reverse()) {
    const d = p.decoded || {};
    const tm = Math.round(p.import_time_us / 1000);
    const dm = d.device_metrics || {};
    add('device', t('node', 'battery'), tm, dm.battery_level);
    add('device', t('node', 'voltage'), tm, dm.voltage);
    add('device', t('node', 'channel_utilization'), tm, dm.channel_utilization);
    add('device', t('node', 'air_util_tx'), tm, dm.air_util_tx);
    const em = d.environment_metrics || {};
    add('environment', t('node', 'temperature'), tm, em.temperature);
    add('environment', t('node', 'humidity'), tm, em.relative_humidity);
    add('environment', t('node', 'pressure'), tm, em.barometric_pressure);
    const pm = d.power_metrics || {};
    for (const ch of [1, 2, 3]) {
      add('power', `ch${ch} V`, tm, pm[`ch${ch}_voltage`]);
      add('power', `ch${ch} mA`, tm, pm[`ch${ch}_current`]);
    }
  }
  for (const key of ['device', 'environment', 'power']) {
    const m = series[key];
    if (!m) {
      const box = document.getElementById(`chart-${key}`);
      box.replaceChildren(el('p', { class: 'muted empty', text: t('node', 'no_data') }));
      continue;
    }
    timeLines(key, [...m.entries()].map(([name, points]) => ({ name, points })));
  }
  // Packets per day by port, last 7 days.
  const since = (Date.now() - 7 * 86400000) * 1000;
  const recent = await getJson(`/api/packets?node_id=${num}&since=${since}&limit=1000`);
  const days = [];
  for (let i = 6; i >= 0; i -= 1) days.push(new Date(Date.now() - i * 86400000).toISOString().slice(0, 10));
  const perPort = new Map();
  for (const p of recent.packets || []) {
    const day = new Date(p.import_time_us / 1000).toISOString().slice(0, 10);
    const i = days.indexOf(day);
    if (i < 0) continue;
    const label = portLabel(p.portnum);
    if (!perPort.has(label)) perPort.set(label, new Array(days.length).fill(0));
    perPort.get(label)[i] += 1;
  }
  categories('perday', days, [...perPort.entries()].map(([name, values]) => ({ name, values })), { stack: true });
  // A year of its packets per day, from the hourly rollups (kept beyond the raw rows).
  const year = await getJson(`/api/stats?period_type=day&length=365&from_node=${num}`);
  const perDay = year.data || [];
  categories('year', perDay.map((d) => d.period), [{ name: t('node', 'packets'), values: perDay.map((d) => d.count) }]);
  document.getElementById('chart-year').dataset.days = String(perDay.length);
}

// --- packet table --------------------------------------------------------------------
// The newest rows come with the page; older ones, and those of the chosen port and time,
// from /api/packets a chunk at a time as the reader scrolls. The CSV holds every packet
// the filters match, not only the rows drawn.
const pkBody = document.getElementById('pk-body');
const pkMore = document.getElementById('pk-more');
const pkStatus = document.getElementById('pk-status');
const portSel = document.getElementById('pk-port');
const sinceSel = document.getElementById('pk-since');
const PK_CHUNK = Number(pkBody.dataset.chunk) || 50;
let pkIds = new Set([...pkBody.rows].map((r) => r.dataset.id));
let oldest = pkBody.rows.length ? Math.min(...[...pkBody.rows].map((r) => Number(r.dataset.us))) : null;
/** Bumped by a filter change: answers to the old filters are dropped. */
let generation = 0;

function pkQuery() {
  const q = new URLSearchParams({ node_id: String(num) });
  if (portSel.value !== '') q.set('portnum', portSel.value);
  const hours = Number(sinceSel.value);
  if (hours) q.set('since', String((Date.now() - hours * 3600000) * 1000));
  return q;
}

/**
 * Pages of packets older than `before` (µs, exclusive; null: the newest), each handed to
 * `take`, until `take` returns false or none are left; says whether more remain. Pages
 * overlap by a microsecond and are deduplicated by `seen`, so that packets stored in
 * the same microsecond on both sides of a page's end are all listed.
 */
async function olderThan(before, limit, seen, take) {
  let edge = before === null ? null : before + 1;
  for (;;) {
    const q = pkQuery();
    q.set('limit', String(limit));
    if (edge !== null) q.set('before', String(edge));
    const got = (await getJson(`/api/packets?${q}`)).packets || [];
    const fresh = got.filter((p) => !seen.has(String(p.id)));
    for (const p of fresh) seen.add(String(p.id));
    const full = got.length >= limit;
    if (got.length) edge = got[got.length - 1].import_time_us + 1;
    // A full page of packets already listed (one microsecond): step past them.
    if (!fresh.length && full) { edge -= 1; continue; }
    if (!take(fresh, edge === null ? null : edge - 1) || !full) return full;
  }
}

function pkSay(key) {
  pkStatus.textContent = t('node', key);
  pkStatus.hidden = false;
}

async function olderPackets() {
  const gen = generation;
  const seen = pkIds;
  let more;
  try {
    more = await olderThan(oldest, PK_CHUNK, seen, (fresh, last) => {
      if (gen !== generation) return false;
      pkBody.append(...fresh.map((p) => packetRow(p)));
      oldest = last;
      return false;
    });
  } catch (e) {
    if (gen === generation) pkSay('packets_failed');
    return true;
  }
  // Filters changed meanwhile: go on with theirs.
  if (gen !== generation) return true;
  if (!pkBody.rows.length) pkSay('no_packets');
  return more;
}

const checkPackets = onDemand(pkMore, olderPackets);

function refilter() {
  generation += 1;
  pkBody.replaceChildren();
  pkIds = new Set();
  oldest = null;
  pkStatus.hidden = true;
  pkMore.hidden = false;
  checkPackets();
}
portSel.addEventListener('change', refilter);
sinceSel.addEventListener('change', refilter);

const csvBtn = document.getElementById('pk-csv');
csvBtn.addEventListener('click', async () => {
  const label = csvBtn.textContent;
  csvBtn.disabled = true;
  const rows = [['time', 'packet_id', 'from', 'to', 'port', 'payload']];
  try {
    await olderThan(null, 1000, new Set(), (fresh) => {
      for (const p of fresh) {
        const names = packetNames(p);
        rows.push([new Date(p.import_time_us / 1000).toISOString(), p.id, names.from, names.to, portLabel(p.portnum), pretty(p)]);
      }
      csvBtn.textContent = `${label} … ${rows.length - 1}`;
      return true;
    });
    downloadCsv(`packets_${num}_${Date.now()}.csv`, rows);
  } catch (e) {
    pkSay('packets_failed');
  } finally {
    csvBtn.textContent = label;
    csvBtn.disabled = false;
  }
});

drawMap();
drawLinks().catch(() => {});
drawCharts().catch(() => {});
