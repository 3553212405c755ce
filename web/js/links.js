// The link-quality model's presentation, shared by the node page, the map and the mesh
// graph: one colour per quality class, line width and opacity from the confidence, and
// a lookup of the directed links (`to` heard `from`) of /api/links.
import { el, t } from './common.js';

export const QUALITIES = ['good', 'fair', 'poor', 'unknown'];

const COLOURS = { good: '#2f9e44', fair: '#f59f00', poor: '#e03131', unknown: '#868e96' };

/** The colour of a quality class (`unknown` for anything else). */
export function qualityColour(q) {
  return COLOURS[q] || COLOURS.unknown;
}

/**
 * The class an SNR (dB) reads as: the server's thresholds (src/web/query/links.rs,
 * `quality_of`): good at −7 dB and above, fair down to −15 dB, poor below.
 */
export function qualityOfSnr(snr) {
  if (typeof snr !== 'number') return 'unknown';
  if (snr >= -7) return 'good';
  if (snr >= -15) return 'fair';
  return 'poor';
}

/** The translated name of a quality class. */
export function qualityName(q) {
  return t('base', `quality_${QUALITIES.includes(q) ? q : 'unknown'}`);
}

/** A coloured badge naming the class. */
export function qualityBadge(q) {
  const k = QUALITIES.includes(q) ? q : 'unknown';
  return el('span', { class: `qbadge q-${k}`, text: qualityName(k) });
}

/** Line width (px) and opacity for a 0–1 confidence. */
export function confidenceStyle(c) {
  const x = typeof c === 'number' ? Math.min(1, Math.max(0, c)) : 0.5;
  return { weight: 1.5 + 3 * x, opacity: 0.35 + 0.6 * x };
}

export function linkKey(from, to) {
  return `${from}>${to}`;
}

/** from>to → link. */
export function indexLinks(links) {
  return new Map((links || []).map((l) => [linkKey(l.from, l.to), l]));
}

export function fmtSnr(v) {
  return typeof v === 'number' ? `${v.toFixed(1)} dB` : '';
}

export function fmtConfidence(c) {
  return typeof c === 'number' ? `${Math.round(c * 100)} %` : '';
}

/** Popup lines describing a link's verdict. */
export function linkLines(l) {
  if (!l) return [];
  return [
    [t('base', 'link_quality'), qualityName(l.quality)],
    [t('base', 'median_snr'), fmtSnr(l.median_snr)],
    [t('base', 'last_snr'), fmtSnr(l.last_snr)],
    [t('base', 'confidence'), fmtConfidence(l.confidence)],
  ];
}
