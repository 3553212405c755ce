// /packet/{id}: where the packet came from and which gateways heard it, coloured by hops.
import { data, t } from './common.js';
import { L, HOP_COLOURS, makeMap, fitConfigBounds, card } from './mapkit.js';

const pk = data.packet || {};
const map = makeMap('packet-map');
const points = [];
const origin = pk.origin;
if (origin) {
  L.circleMarker(origin, { radius: 9, color: '#000', weight: 2, fillColor: '#e03131', fillOpacity: 1, className: 'origin' })
    .bindTooltip(card(pk.from_name, `/node/${pk.from}`, [[t('packet', 'from'), '']]))
    .addTo(map);
  points.push(origin);
}
for (const s of pk.seen || []) {
  const c = HOP_COLOURS[Math.min(7, s.hops)];
  const p = [s.lat, s.lon];
  if (origin) L.polyline([origin, p], { color: c, weight: 1.5, opacity: 0.7, interactive: false }).addTo(map);
  L.circleMarker(p, { radius: 7, color: '#222', weight: 1, fillColor: c, fillOpacity: 0.95, className: `gateway gateway-${s.num}` })
    .bindPopup(card(s.name, `/node/${s.num}`, [
      [t('packet', 'hops'), s.hops], [t('packet', 'rssi'), s.rssi], [t('packet', 'snr'), s.snr],
      [t('packet', 'distance'), s.distance],
    ]))
    .addTo(map);
  points.push(p);
}
if (points.length > 1) map.fitBounds(points, { padding: [30, 30], maxZoom: 14 });
else if (points.length === 1) map.setView(points[0], 12);
else fitConfigBounds(map);
document.getElementById('packet-map').dataset.nodesDrawn = String(points.length);
