// ECharts helpers: every chart renders on a canvas, tooltips as rich text (no HTML
// from data), follows the theme, resizes with the window, and can export its data.
import { isDark, downloadCsv } from './common.js';

const echarts = window.echarts;
const charts = new Map();

/** Creates (or re-creates) the chart in `#chart-<name>` with `option`; `csv` rows for export. */
export function chart(name, option, csv) {
  const node = document.getElementById(`chart-${name}`) || document.getElementById(name);
  if (!node) return null;
  const old = charts.get(name);
  if (old) old.chart.dispose();
  const c = echarts.init(node, isDark() ? 'dark' : null, { renderer: 'canvas' });
  c.setOption({
    backgroundColor: 'transparent',
    animation: false,
    tooltip: { trigger: option.series && option.series[0] && option.series[0].type === 'pie' ? 'item' : 'axis', renderMode: 'richText', confine: true },
    grid: { left: 48, right: 24, top: 36, bottom: 40 },
    ...option,
  });
  charts.set(name, { chart: c, option, csv });
  node.dataset.drawn = '1';
  return c;
}

window.addEventListener('resize', () => { for (const { chart: c } of charts.values()) c.resize(); });
window.addEventListener('themechange', () => {
  for (const [name, { option, csv }] of [...charts.entries()]) chart(name, option, csv);
});

document.addEventListener('click', (e) => {
  const b = e.target.closest('button.csv[data-chart]');
  if (!b) return;
  const entry = charts.get(b.dataset.chart);
  if (entry && entry.csv) downloadCsv(`${b.dataset.chart}.csv`, entry.csv);
});

/** A time-axis line chart: `series` = [{name, points: [[ms, value]…]}]. */
export function timeLines(name, series, { yName } = {}) {
  const option = {
    legend: { top: 0 },
    xAxis: { type: 'time' },
    yAxis: { type: 'value', name: yName, scale: true },
    dataZoom: [{ type: 'inside' }],
    series: series.map((s) => ({ name: s.name, type: 'line', showSymbol: false, connectNulls: false, data: s.points, yAxisIndex: 0 })),
  };
  const rows = [['time', ...series.map((s) => s.name)]];
  const times = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const maps = series.map((s) => new Map(s.points));
  for (const tm of times) rows.push([new Date(tm).toISOString(), ...maps.map((m) => m.get(tm) ?? '')]);
  return chart(name, option, rows);
}

/** A category chart (bars or lines) over labels. */
export function categories(name, labels, series, { type = 'bar', stack = false } = {}) {
  const option = {
    legend: { top: 0, type: 'scroll' },
    xAxis: { type: 'category', data: labels },
    yAxis: { type: 'value' },
    series: series.map((s) => ({ name: s.name, type, data: s.values, stack: stack ? 'total' : undefined, showSymbol: false })),
  };
  const rows = [['label', ...series.map((s) => s.name)]];
  labels.forEach((l, i) => rows.push([l, ...series.map((s) => s.values[i])]));
  return chart(name, option, rows);
}

/** A pie of [{name, value}]. */
export function pie(name, items) {
  const option = {
    legend: { type: 'scroll', bottom: 0 },
    series: [{ type: 'pie', radius: ['35%', '65%'], center: ['50%', '45%'], data: items, label: { show: items.length <= 8 } }],
  };
  return chart(name, option, [['name', 'value'], ...items.map((i) => [i.name, i.value])]);
}
