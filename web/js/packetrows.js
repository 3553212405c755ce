// A packet as a table row, as the server draws it (firehose.html, node.html): shared by
// the firehose's live rows and the node page's older rows.
import { el, t, timeEl, portTag, packetNames, BROADCAST } from './common.js';

function preview(s) {
  const one = String(s || '').replace(/\n/g, ' ');
  return one.length > 90 ? one.slice(0, 90) + '…' : one;
}

/** The payload as the expanded cell shows it: decoded fields, else the text. */
export function pretty(p) {
  return p.decoded ? JSON.stringify(p.decoded, null, 2) : p.payload;
}

/** A row of the packet tables; with `channel`, the firehose's channel column. */
export function packetRow(p, { channel = false } = {}) {
  const names = packetNames(p);
  const toCell = (p.to_node_id === BROADCAST || p.to_node_id === 1)
    ? names.to
    : el('a', { href: `/node/${p.to_node_id}`, text: names.to });
  const portCell = el('td', { 'data-label': t('firehose', 'port') }, portTag(p.portnum));
  if (p.portnum === 70) {
    portCell.append(' ', el('a', { class: 'extra', href: `/traceroute/${p.id}`, title: t('packet', 'traceroute'), text: '⮕' }));
  }
  const d = p.decoded || {};
  if (typeof d.latitude_i === 'number' && typeof d.longitude_i === 'number' && (d.latitude_i || d.longitude_i)) {
    const lat = d.latitude_i / 1e7; const lng = d.longitude_i / 1e7;
    portCell.append(' ', el('a', { class: 'extra', href: `/map?lat=${lat}&lng=${lng}&zoom=14`, title: t('base', 'on_map'), text: '📍' }));
  }
  return el('tr', { 'data-id': p.id, 'data-port': p.portnum, 'data-us': p.import_time_us },
    el('td', { 'data-label': t('firehose', 'time') }, timeEl(p.import_time_us)),
    el('td', { 'data-label': t('firehose', 'packet_id') }, el('a', { href: `/packet/${p.id}`, text: p.id })),
    el('td', { 'data-label': t('firehose', 'from') }, el('a', { href: `/node/${p.from_node_id}`, text: names.from })),
    el('td', { 'data-label': t('firehose', 'to') }, toCell),
    channel && el('td', { 'data-label': t('firehose', 'channel'), text: p.channel || '' }),
    portCell,
    el('td', { 'data-label': t('firehose', 'payload'), class: 'payload' },
      el('details', {}, el('summary', { text: preview(p.payload) }), el('pre', { text: pretty(p) }))));
}
