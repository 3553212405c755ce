// /heatmap: node density. The nodes heard in the last 3 days (with a position) feed a
// Leaflet.heat layer, every node with the same weight; hovering counts the nodes near
// the pointer.
import { t } from './common.js';
import { L, makeMap, fitNodes, mapNodes } from './mapkit.js';

const { nodes } = await mapNodes(3);
document.getElementById('mapped-count').textContent = String(nodes.length);
const map = makeMap('map');
document.getElementById('map').dataset.view = fitNodes(map, nodes.map((n) => [n.lat, n.lon]));

// Cold (few nodes) to hot (many), 7 stops.
const GRADIENT = {
  0.1: '#3b4cc0',
  0.25: '#2c8fd6',
  0.4: '#22b8b0',
  0.55: '#7fd34e',
  0.7: '#f2e034',
  0.85: '#f98e2b',
  1.0: '#d7191c',
};

// Leaflet.heat sums the weights of the points in each small screen cell and scales them
// by 2^(zoom − maxZoom): below zoom 12 it takes several nodes close together to reach
// the hot end, from zoom 12 one node does. minOpacity keeps a lone node visible.
L.heatLayer(nodes.map((n) => [n.lat, n.lon, 1]), {
  radius: 25,
  blur: 18,
  maxZoom: 12,
  max: 1,
  minOpacity: 0.3,
  gradient: GRADIENT,
}).addTo(map);
document.getElementById('map').dataset.nodesDrawn = String(nodes.length);

const hover = document.getElementById('hover');
map.on('mousemove', (e) => {
  const r = 2000 / Math.pow(2, map.getZoom() - 10);
  const near = nodes.filter((n) => map.distance(e.latlng, [n.lat, n.lon]) <= r).length;
  hover.textContent = `${near} ${t('map', 'nodes_nearby')} (${Math.round(r)} m ${t('map', 'radius')})`;
});
