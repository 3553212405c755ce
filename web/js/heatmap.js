// /heatmap: node density. Each node adds a translucent disc; overlaps darken.
import { data, t } from './common.js';
import { L, makeMap, fitConfigBounds } from './mapkit.js';

const nodes = (data.nodes || []).filter((n) => typeof n.lat === 'number');
const map = makeMap('map');
fitConfigBounds(map);
const layer = L.layerGroup().addTo(map);
function draw() {
  layer.clearLayers();
  const r = 2000 / Math.pow(2, map.getZoom() - 10);
  for (const n of nodes) {
    L.circle([n.lat, n.lon], { radius: r, stroke: false, fillColor: '#f03e3e', fillOpacity: 0.18, interactive: false }).addTo(layer);
    L.circleMarker([n.lat, n.lon], { radius: 2, stroke: false, fillColor: '#c92a2a', fillOpacity: 0.9, interactive: false }).addTo(layer);
  }
}
map.on('zoomend', draw);
draw();
document.getElementById('map').dataset.nodesDrawn = String(nodes.length);
const hover = document.getElementById('hover');
map.on('mousemove', (e) => {
  const r = 2000 / Math.pow(2, map.getZoom() - 10);
  const near = nodes.filter((n) => map.distance(e.latlng, [n.lat, n.lon]) <= r).length;
  hover.textContent = `${near} ${t('map', 'nodes_nearby')} (${Math.round(r)} m)`;
});
