// Leaflet helpers shared by the maps. Popups and tooltips get DOM nodes built with
// textContent, never HTML strings.
import { data, el, getJson, nodeOf } from './common.js';

const L = window.L;

export const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6',
  '#bfef45', '#fabed4', '#469990', '#dcbeff', '#9a6324', '#800000', '#aaffc3', '#808000', '#000075',
  '#ffd8b1', '#a9a9a9'];

/** Warm (0 hops) to cold (7+). */
export const HOP_COLOURS = ['#d7191c', '#f46d43', '#fdae61', '#fee08b', '#d9ef8b', '#66bd63', '#3288bd', '#5e4fa2'];

/** A map in `id` with the configured tiles; without tiles it still draws everything. */
export function makeMap(id, opts = {}) {
  const map = L.map(id, { preferCanvas: false, worldCopyJump: true, ...opts });
  if (data.tile_url) {
    L.tileLayer(data.tile_url, {
      maxZoom: 19,
      attribution: '© OpenStreetMap contributors',
      crossOrigin: false,
    }).addTo(map);
  }
  return map;
}

export function fitConfigBounds(map) {
  const b = data.bounds;
  if (Array.isArray(b) && b.length === 2) map.fitBounds(b);
  else map.setView([0, 0], 2);
}

/**
 * The nodes heard within `days`, from `/api/nodes` (asked for after the page loaded, so
 * that a big mesh does not weigh on the page itself): `nodes`, those with a position as
 * the maps draw them; `total`, all of them; `channels`, theirs, sorted; `window`, the
 * past window answered when `query` asks for one (time travel: `&at=…`).
 */
export async function mapNodes(days, query = '') {
  const body = await getJson(`/api/nodes?days_active=${days}${query}`);
  const all = (body.nodes || []).map(nodeOf);
  const nodes = all.filter((n) => n.lat !== null);
  const channels = [...new Set(all.map((n) => n.channel).filter(Boolean))].sort();
  return { nodes, total: all.length, channels, window: body.window || null };
}

/** The share of the nodes the configured box must hold for the map to open on it. */
const BOX_HOLDS = 0.9;

/**
 * Opens the map on its nodes (`points`: [lat, lon]): on the configured box when that
 * holds them, else on the nodes themselves (a box set for another region, or none,
 * would open on an empty map). A few far-off positions (a wrong fix, a node on a trip)
 * do not widen the view: it fits the 2nd to 98th percentile of latitudes and longitudes.
 * Returns which view it chose, `config` or `nodes`.
 */
export function fitNodes(map, points) {
  const b = data.bounds;
  const box = Array.isArray(b) && b.length === 2 ? L.latLngBounds(b) : null;
  const inside = box ? points.filter((p) => box.contains(p)).length : 0;
  if (!points.length || (box && inside >= BOX_HOLDS * points.length)) {
    fitConfigBounds(map);
    return 'config';
  }
  const pick = (i) => {
    const v = points.map((p) => p[i]).sort((x, y) => x - y);
    const at = (q) => v[Math.min(v.length - 1, Math.max(0, Math.round(q * (v.length - 1))))];
    return [at(0.02), at(0.98)];
  };
  const [lat, lon] = [pick(0), pick(1)];
  map.fitBounds([[lat[0], lon[0]], [lat[1], lon[1]]], { padding: [24, 24], maxZoom: 14 });
  return 'nodes';
}

/** Popup content: a title (optionally a link) and label/value lines. */
export function card(title, href, lines) {
  const box = el('div', { class: 'map-card' });
  box.append(href ? el('a', { href, class: 'title', text: title }) : el('b', { class: 'title', text: title }));
  for (const [k, v] of lines) {
    if (v === undefined || v === null || v === '') continue;
    box.append(el('div', {}, el('span', { class: 'k', text: k + ': ' }), el('span', { text: v })));
  }
  return box;
}

/**
 * Spreads nodes that share a spot (within ~10 m) on a small circle, so every one can be
 * seen and clicked. Returns num → [lat, lon].
 */
export function spread(nodes) {
  const groups = new Map();
  for (const n of nodes) {
    if (typeof n.lat !== 'number' || typeof n.lon !== 'number') continue;
    const key = `${n.lat.toFixed(4)},${n.lon.toFixed(4)}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(n);
  }
  const out = new Map();
  for (const group of groups.values()) {
    if (group.length === 1) {
      out.set(group[0].num, [group[0].lat, group[0].lon]);
      continue;
    }
    group.sort((a, b) => a.num - b.num);
    const r = 15 * Math.sqrt(group.length); // metres
    group.forEach((n, i) => {
      const a = (2 * Math.PI * i) / group.length;
      const dLat = (r * Math.cos(a)) / 111320;
      const dLon = (r * Math.sin(a)) / (111320 * Math.cos((n.lat * Math.PI) / 180));
      out.set(n.num, [n.lat + dLat, n.lon + dLon]);
    });
  }
  return out;
}

export { L };
