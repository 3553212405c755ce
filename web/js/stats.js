// /stats: traffic per hour or day (all, text, per channel, per port), up to now or as
// of a past moment, and the node breakdowns the server computed.
import { data, t, getJson } from './common.js';
import { categories, pie } from './charts.js';

const periodSel = document.getElementById('s-period');
const channelSel = document.getElementById('s-channel');
const toInput = document.getElementById('s-to');

/** The series' unit and buckets; a year of days comes from the daily rollups' hours. */
const WINDOWS = { hour: ['hour', 24], day: ['day', 14], year: ['day', 365] };

/** The window: `length` buckets ending now, or with "As of" (time travel) then. */
function span() {
  const [period, length] = WINDOWS[periodSel.value] || WINDOWS.hour;
  let s = `period_type=${period}&length=${length}`;
  if (toInput.value) s += `&to=${new Date(toInput.value).getTime() * 1000}`;
  return s;
}

function q(extra) {
  let s = span();
  if (channelSel.value) s += `&channel=${encodeURIComponent(channelSel.value)}`;
  return s + (extra || '');
}

async function traffic() {
  const all = await getJson(`/api/stats?${q()}`);
  const labels = all.data.map((d) => d.period);
  categories('traffic', labels, [{ name: t('stats', 'packets'), values: all.data.map((d) => d.count) }], { type: 'line' });
  const text = await getJson(`/api/stats?${q('&portnum=1')}`);
  categories('text', labels, [{ name: t('stats', 'text_messages'), values: text.data.map((d) => d.count) }]);
  const chans = (data.channels || []).slice(0, 8);
  const per = await Promise.all(chans.map((c) => getJson(`/api/stats?${span()}&channel=${encodeURIComponent(c)}`)));
  categories('channels', labels, per.map((s, i) => ({ name: chans[i], values: s.data.map((d) => d.count) })), { type: 'line' });
  const total = all.data.reduce((a, d) => a + d.count, 0);
  // What the tests read: the window charted and its packets.
  const box = document.getElementById('chart-traffic');
  box.dataset.window = all.window ? `${all.window.from_us}-${all.window.to_us}` : 'now';
  box.dataset.total = String(total);
  const ports = await Promise.all((data.ports || []).map((p) => getJson(`/api/stats?${q(`&portnum=${p.port}`)}`)));
  const items = [];
  let counted = 0;
  ports.forEach((s, i) => {
    const n = s.data.reduce((a, d) => a + d.count, 0);
    if (n > 0) items.push({ name: data.ports[i].label, value: n });
    counted += n;
  });
  if (total > counted) items.push({ name: t('stats', 'other'), value: total - counted });
  pie('ports', items);
}

for (const [key, items] of Object.entries(data.breakdowns || {})) {
  pie(key, items.map((i) => ({ name: i.name === 'other' ? t('stats', 'other') : i.name, value: i.value })));
}
periodSel.addEventListener('change', () => traffic().catch(() => {}));
toInput.addEventListener('change', () => traffic().catch(() => {}));
channelSel.addEventListener('change', () => traffic().catch(() => {}));
traffic().catch(() => {});
