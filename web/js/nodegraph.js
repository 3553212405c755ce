// /nodegraph: the radio links (/api/edges) as a force graph, by channel and link type,
// coloured by the link model's quality (or by type); search and click to focus a node;
// the view fits the frame once the layout settles, and again on demand. A time slider
// shows the links as of a past moment (/api/edges?at=), and "play this day" steps
// through the chosen day hour by hour.
import { el, t, hex, getJson, nodeOf } from './common.js';
import { chart } from './charts.js';
import { qualityColour, qualityName, confidenceStyle } from './links.js';
import { timeTravel, timeQuery } from './timetravel.js';

// Asked for once the page has loaded (a big mesh has thousands of nodes and tens of
// thousands of links): both answers are cached by the server, /api/nodes shared with
// the maps.
const [nodeBody, edgeBody] = await Promise.all([getJson('/api/nodes'), getJson('/api/edges?quality=true')]);
const allNodes = (nodeBody.nodes || []).map(nodeOf);
let edges = [];
let nodes = [];
let byNum = new Map();

/** Takes an `/api/edges` answer: its links, and the nodes they join (only nodes with
 * links are drawn). */
function setEdges(body) {
  edges = (body.edges || []).map((e) => ({
    from: e.from, to: e.to, type: e.type, snr: e.snr,
    quality: e.quality || null, confidence: typeof e.confidence === 'number' ? e.confidence : null,
  }));
  const linked = new Set(edges.flatMap((e) => [e.from, e.to]));
  nodes = allNodes.filter((n) => linked.has(n.num));
  byNum = new Map(nodes.map((n) => [n.num, n]));
}
setEdges(edgeBody);
const colourSel = document.getElementById('g-colour');
const TYPE_COLOUR = { traceroute: '#ff5733', neighbor: '#049acd' };

/** An edge's line: by quality (width and opacity by confidence) or, unrated, as before. */
function lineOf(e) {
  if (colourSel.value === 'quality' && e.quality) {
    const { weight, opacity } = confidenceStyle(e.confidence);
    return { color: qualityColour(e.quality), width: weight * 0.8, opacity, curveness: 0.1 };
  }
  return { color: TYPE_COLOUR[e.type] || '#868e96', width: 1.5, opacity: 0.8, curveness: 0.1 };
}
const chSel = document.getElementById('g-channel');
for (const c of [...new Set(allNodes.map((n) => n.channel).filter(Boolean))].sort()) {
  chSel.append(el('option', { value: c, text: c }));
}
const typeSel = document.getElementById('g-type');
const search = document.getElementById('g-search');
const info = document.getElementById('g-info');
const ROLE = {
  ROUTER: [28, '#e03131'], ROUTER_LATE: [24, '#f76707'], REPEATER: [24, '#f59f00'],
  CLIENT_BASE: [18, '#1c7ed6'], CLIENT: [14, '#37b24d'], CLIENT_MUTE: [8, '#868e96'],
};
let graph = null;
let shown = [];

function draw() {
  const ch = chSel.value;
  const type = typeSel.value;
  const es = edges.filter((e) => {
    const a = byNum.get(e.from); const b = byNum.get(e.to);
    if (!a || !b) return false;
    if (type && e.type !== type) return false;
    return !ch || (a.channel === ch && b.channel === ch);
  });
  const used = new Set(es.flatMap((e) => [e.from, e.to]));
  shown = nodes.filter((n) => used.has(n.num));
  const q = search.value.trim().toLowerCase();
  const match = (n) => q && [n.long, n.short, hex(n.num), String(n.num)].some((s) => (s || '').toLowerCase().includes(q));
  graph = chart('graph', {
    tooltip: { renderMode: 'richText' },
    series: [{
      type: 'graph', layout: 'force', roam: true, draggable: true,
      force: { repulsion: 220, edgeLength: [40, 140], gravity: 0.08 },
      emphasis: { focus: 'adjacency' },
      label: { show: true, position: 'right', fontSize: 11 },
      edgeSymbol: ['none', 'arrow'], edgeSymbolSize: 6,
      data: shown.map((n) => {
        const [size, colour] = ROLE[(n.role || '').toUpperCase()] || [12, '#ae3ec9'];
        const isRouter = (n.role || '').toUpperCase().startsWith('ROUTER');
        return {
          id: String(n.num), name: (isRouter ? n.long : n.short) || hex(n.num), value: n.num,
          symbolSize: size, itemStyle: { color: colour, borderColor: match(n) ? '#ffd43b' : '#fff', borderWidth: match(n) ? 4 : 1 },
        };
      }),
      links: es.map((e) => ({
        source: String(e.from), target: String(e.to), lineStyle: lineOf(e),
      })),
    }],
  }, [['from', 'to', 'type', 'snr', 'quality', 'confidence'],
    ...es.map((e) => [hex(e.from), hex(e.to), e.type, e.snr ?? '', e.quality ? qualityName(e.quality) : '', e.confidence ?? ''])]);
  document.getElementById('g-nodes').textContent = String(shown.length);
  document.getElementById('g-edges').textContent = String(es.length);
  const g = document.getElementById('graph');
  g.dataset.rated = String(es.filter((e) => e.quality).length);
  g.dataset.colour = colourSel.value;
  if (graph) {
    fitWhenSettled(graph);
    graph.on('click', (p) => {
      if (p.dataType !== 'node') return;
      const n = byNum.get(Number(p.data.id));
      if (n) showInfo(n, es);
    });
  }
}

/**
 * Fits the graph to its frame once the force layout has settled: the layout spreads a
 * big mesh well past the chart's box, and ECharts has no "fit" for force graphs. The
 * layout is settled when no frame was drawn for 400 ms; the view is then centred on the
 * nodes' box and zoomed out until it fits (never in). `#g-fit` does it again after the
 * user has moved or zoomed.
 */
function fitWhenSettled(g) {
  let timer = null;
  let done = false;
  g.on('finished', () => {
    if (done) return;
    clearTimeout(timer);
    // A redraw (a new moment, a filter) may have replaced this chart meanwhile.
    timer = setTimeout(() => { done = true; if (!g.isDisposed()) fit(g); }, 400);
  });
}

/** The nodes' positions in the graph's own coordinates (its layout), as ECharts keeps
 * them. `getModel` is not in ECharts' documented API (ECharts is pinned by
 * package-lock.json, and the browser test checks the fit after each update). */
function layouts(g) {
  const data = g.getModel().getSeriesByIndex(0).getData();
  const out = [];
  data.each((i) => {
    const p = data.getItemLayout(i);
    if (p && Number.isFinite(p[0]) && Number.isFinite(p[1])) out.push(p);
  });
  return out;
}

/** Centres and zooms the view on every node, with room for the biggest symbol and a
 * short label. */
function fit(g) {
  const pts = layouts(g);
  const box = document.getElementById('graph');
  if (!pts.length) { box.dataset.fitted = '0'; return; }
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = 40;
  const w = Math.max(1, g.getWidth() - 2 * pad);
  const h = Math.max(1, g.getHeight() - 2 * pad);
  const zoom = Math.min(1, w / Math.max(1, x1 - x0), h / Math.max(1, y1 - y0));
  g.setOption({ series: [{ center: [(x0 + x1) / 2, (y0 + y1) / 2], zoom }] });
  // What the tests read: how many nodes ended up outside the frame.
  const outside = layouts(g).filter((p) => {
    const [x, y] = g.convertToPixel({ seriesIndex: 0 }, p);
    return !(x >= 0 && y >= 0 && x <= g.getWidth() && y <= g.getHeight());
  }).length;
  box.dataset.outside = String(outside);
  box.dataset.fitted = '1';
}

function showInfo(n, es) {
  const links = es.filter((e) => e.from === n.num || e.to === n.num).length;
  info.classList.remove('muted');
  info.replaceChildren(
    el('a', { href: `/node/${n.num}`, class: 'title', text: n.long || n.short || hex(n.num) }),
    el('div', { text: `${n.short || ''} ${hex(n.num)}` }),
    el('div', { text: `${t('nodegraph', 'role')}: ${n.role || '?'}` }),
    el('div', { text: `${t('nodegraph', 'channel')}: ${n.channel || '?'}` }),
    el('div', { text: `${links} ${t('nodegraph', 'edges')}` }));
}

chSel.addEventListener('change', draw);
colourSel.addEventListener('change', draw);
typeSel.addEventListener('change', draw);
search.addEventListener('input', () => {
  draw();
  const q = search.value.trim().toLowerCase();
  const hit = q && shown.find((n) => [n.long, n.short, hex(n.num)].some((s) => (s || '').toLowerCase().includes(q)));
  if (hit && graph) {
    graph.dispatchAction({ type: 'highlight', seriesIndex: 0, name: (hit.role || '').toUpperCase().startsWith('ROUTER') ? hit.long : hit.short });
    showInfo(hit, edges);
  }
});
document.getElementById('g-fit').addEventListener('click', () => { if (graph) fit(graph); });
document.getElementById('g-reset').addEventListener('click', () => {
  search.value = ''; chSel.value = ''; typeSel.value = ''; colourSel.value = 'quality'; draw();
});
// Time travel: the links as of a past moment (the evidence of the 24 hours before it),
// or of one hour while playing a day.
const graphBox = document.getElementById('graph');
timeTravel({
  slider: document.getElementById('g-time'),
  when: document.getElementById('g-when'),
  play: document.getElementById('g-play'),
  note: document.getElementById('g-window'),
  box: graphBox,
  async show(moment) {
    const hours = moment && moment.at !== undefined ? '&hours=24' : '';
    const body = await getJson(`/api/edges?quality=true${timeQuery(moment)}${hours}`);
    setEdges(body);
    draw();
    return { window: body.window, count: edges.length };
  },
});
draw();
