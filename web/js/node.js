// /node/{id}: QR and import URL, position track and neighbours on a map, telemetry
// charts, packets per day by port, and the packet table's filters and CSV.
import { data, el, t, getJson, hex, portLabel, downloadCsv } from './common.js';
import { L, makeMap, fitConfigBounds, card } from './mapkit.js';
import { timeLines, categories } from './charts.js';

const node = data.node || {};
const num = node.num;

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
    const [edges, nodes] = await Promise.all([getJson(`/api/edges?node_id=${num}`), getJson('/api/nodes')]);
    const byNum = new Map((nodes.nodes || []).map((n) => [n.node_id, n]));
    const done = new Set();
    for (const e of edges.edges || []) {
      const other = e.from === num ? e.to : e.from;
      if (done.has(other)) continue;
      done.add(other);
      const n = byNum.get(other);
      if (!n || !n.last_lat || !n.last_long) continue;
      const p = [n.last_lat / 1e7, n.last_long / 1e7];
      if (here) L.polyline([here, p], { color: '#868e96', weight: 2, dashArray: e.type === 'neighbor' ? '5 5' : null }).addTo(map);
      L.circleMarker(p, { radius: 6, color: '#1c7ed6', fillColor: '#4dabf7', fillOpacity: 0.9 })
        .bindPopup(card(n.long_name || hex(other), `/node/${other}`, [
          [t('node', 'link_type'), e.type], ['SNR', typeof e.snr === 'number' ? `${e.snr.toFixed(2)} dB` : ''],
        ])).addTo(map);
      bounds.push(p);
    }
  } catch { /* no neighbours */ }
  if (bounds.length > 1) map.fitBounds(bounds, { padding: [20, 20], maxZoom: 15 });
  else if (bounds.length === 1) map.setView(bounds[0], 13);
  else fitConfigBounds(map);
  document.getElementById('node-map').dataset.nodesDrawn = String(bounds.length);
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
}

// --- packet table --------------------------------------------------------------------
const table = document.getElementById('pk-table');
const portSel = document.getElementById('pk-port');
const sinceSel = document.getElementById('pk-since');
function filterTable() {
  const port = portSel.value;
  const hours = Number(sinceSel.value);
  const since = hours ? (Date.now() - hours * 3600000) * 1000 : 0;
  for (const r of table.tBodies[0].rows) {
    r.hidden = (port !== '' && r.dataset.port !== port) || (since && Number(r.dataset.us) < since);
  }
}
portSel.addEventListener('change', filterTable);
sinceSel.addEventListener('change', filterTable);
document.getElementById('pk-csv').addEventListener('click', () => {
  const rows = [['time', 'packet_id', 'from', 'to', 'port', 'payload']];
  for (const r of table.tBodies[0].rows) {
    if (r.hidden) continue;
    const c = [...r.cells].map((x) => x.textContent.trim());
    const payload = r.cells[5].querySelector('pre');
    rows.push([new Date(Number(r.dataset.us) / 1000).toISOString(), c[1], c[2], c[3], c[4], payload ? payload.textContent : c[5]]);
  }
  downloadCsv(`packets_${num}_${Date.now()}.csv`, rows);
});

drawMap();
drawCharts().catch(() => {});
