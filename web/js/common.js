// Shared by every page: page data, translations, safe DOM building, times, the live
// stream, CSV export, the narrow-screen menu, the language switch and the theme toggle.
// Mesh data is only ever inserted as text (textContent / createTextNode).

const dataEl = document.getElementById('page-data');
export const data = dataEl ? JSON.parse(dataEl.textContent) : {};
const I18N = data.i18n || {};

/** A translated string: `t('chat', 'title')`. */
export function t(section, key) {
  const s = I18N[section];
  return (s && typeof s[key] === 'string') ? s[key] : key;
}

/** Builds an element. `attrs`: class, text, title, href, data-* …; children: nodes or strings. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = String(v);
    else if (k === 'href') e.setAttribute('href', safeHref(String(v)));
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/** Only same-site paths (and https links we build ourselves) become links. */
function safeHref(h) {
  if (h.startsWith('/') && !h.startsWith('//')) return h;
  if (h.startsWith('https://meshtastic.org/')) return h;
  if (h.startsWith('#')) return h;
  return '#';
}

export function hex(n) {
  return '!' + (Number(n) >>> 0).toString(16).padStart(8, '0');
}

export const BROADCAST = 4294967295;

const dtf = new Intl.DateTimeFormat(data.lang || undefined, { dateStyle: 'short', timeStyle: 'medium' });

export function fmtTime(us) {
  if (!us) return '';
  return dtf.format(new Date(Number(us) / 1000));
}

export function timeAgo(us) {
  const s = Math.max(0, (Date.now() - Number(us) / 1000) / 1000);
  const rtf = new Intl.RelativeTimeFormat(data.lang || undefined, { numeric: 'auto' });
  if (s < 60) return rtf.format(-Math.round(s), 'second');
  if (s < 3600) return rtf.format(-Math.round(s / 60), 'minute');
  if (s < 86400) return rtf.format(-Math.round(s / 3600), 'hour');
  return rtf.format(-Math.round(s / 86400), 'day');
}

/** A `<time>` element for a µs timestamp. */
export function timeEl(us) {
  const iso = new Date(Number(us) / 1000).toISOString();
  return el('time', { datetime: iso, 'data-us': us, title: iso, text: fmtTime(us) });
}

/** Shows every `time[data-us]` in local time (or "… ago" with data-ago). */
export function localizeTimes(root = document) {
  for (const e of root.querySelectorAll('time[data-us]')) {
    const us = Number(e.dataset.us);
    if (!us) continue;
    e.title = e.getAttribute('datetime') || '';
    e.textContent = e.dataset.ago ? timeAgo(us) : fmtTime(us);
  }
}

export function portLabel(p) {
  const opts = (I18N.base && I18N.base.portnum_options) || {};
  return opts[String(p)] || `Port ${p}`;
}

/** The coloured port tag. */
export function portTag(p) {
  return el('span', { class: `port port-${Number(p)}`, text: portLabel(p) });
}

/** Node name for a packet side. */
export function packetNames(p) {
  const from = p.long_name || hex(p.from_node_id);
  let to;
  if (p.to_node_id === BROADCAST) to = t('base', 'all');
  else if (p.to_node_id === 1) to = t('base', 'direct_to_mqtt');
  else to = p.to_long_name || hex(p.to_node_id);
  return { from, to };
}

/**
 * Follows `/api/stream` (Server-Sent Events; the browser reconnects by itself).
 * `query`: filter parameters; `onPacket(item)`; `indicator`: the live badge.
 */
export function follow(query, onPacket, indicator = document.getElementById('live')) {
  const url = '/api/stream' + (query ? '?' + query : '');
  const es = new EventSource(url);
  const set = (on) => {
    if (!indicator) return;
    indicator.dataset.state = on ? 'on' : 'off';
    indicator.textContent = on ? t('base', 'live_on') : t('base', 'live_off');
  };
  es.onopen = () => set(true);
  es.onerror = () => set(false);
  es.onmessage = (ev) => {
    let item;
    try { item = JSON.parse(ev.data); } catch { return; }
    onPacket(item);
  };
  window.addEventListener('pagehide', () => es.close());
  return es;
}

/**
 * A node of `/api/nodes` as the pages use it. A position of 0 is no position (the
 * server's rule too: firmware reports 0, 0 when it has no fix).
 */
export function nodeOf(n) {
  const coord = (v) => (typeof v === 'number' && v !== 0 ? v / 1e7 : null);
  let lat = coord(n.last_lat);
  let lon = coord(n.last_long);
  if (lat === null || lon === null) { lat = null; lon = null; }
  return {
    num: n.node_id,
    hex: hex(n.node_id),
    long: n.long_name || '',
    short: n.short_name || '',
    hw: n.hw_model || '',
    fw: n.firmware || '',
    role: n.role || '',
    channel: n.channel || '',
    gw: !!n.is_mqtt_gateway,
    lat,
    lon,
    last: n.last_seen_us || 0,
  };
}

/**
 * Shows a long list a chunk at a time. `more`, a button after the list, asks `next()`
 * (which adds rows and says, maybe asynchronously, whether more remain) when clicked,
 * and by itself once it comes within a screen of the viewport. Returns `check()`, for
 * when the list was redrawn: the button may then stand in view without moving.
 */
export function onDemand(more, next) {
  let busy = false;
  const near = () => !more.hidden && more.getBoundingClientRect().top < window.innerHeight * 2;
  async function step() {
    if (busy || more.hidden) return;
    busy = true;
    more.disabled = true;
    try {
      more.hidden = !(await next());
    } finally {
      busy = false;
      more.disabled = false;
    }
    // Rows that did not fill the screen leave the button in view: go on.
    if (near()) step();
  }
  more.addEventListener('click', () => { step(); });
  if ('IntersectionObserver' in window) {
    new IntersectionObserver((seen) => {
      if (seen.some((e) => e.isIntersecting)) step();
    }, { rootMargin: '100% 0px' }).observe(more);
  }
  return () => { if (near()) step(); };
}

/** Fetches JSON from our API. */
export async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: 'application/json' } });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

/** Downloads rows (arrays) as a CSV file (UTF-8 with BOM, for spreadsheets). */
export function downloadCsv(filename, rows) {
  const cell = (v) => {
    let s = v === null || v === undefined ? '' : String(v);
    // A leading = + - @ would be a formula in a spreadsheet.
    if (/^[=+\-@]/.test(s) && !/^-?\d/.test(s)) s = "'" + s;
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  };
  const text = '\ufeff' + rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = el('a', { download: filename });
  a.href = url;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function isDark() {
  const th = document.documentElement.dataset.theme;
  if (th === 'dark') return true;
  if (th === 'light') return false;
  return window.matchMedia && window.matchMedia('(prefers-color-scheme: dark)').matches;
}

function setCookie(name, value) {
  document.cookie = `${name}=${encodeURIComponent(value)}; Path=/; Max-Age=31536000; SameSite=Lax`;
}

/**
 * Names every cell of a table that becomes cards on a phone after its column's header
 * (`data-label`, which the card shows before the value), rows added later included.
 * Cells that name themselves, and columns without a header, are left as they are.
 */
function labelCells(table) {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
  const label = (rows) => {
    for (const tr of rows) {
      [...tr.children].forEach((td, i) => {
        if (td.tagName === 'TD' && !td.hasAttribute('data-label') && heads[i]) td.dataset.label = heads[i];
      });
    }
  };
  for (const body of table.tBodies) {
    label(body.rows);
    new MutationObserver((changes) => {
      label(changes.flatMap((c) => [...c.addedNodes].filter((n) => n.tagName === 'TR')));
    }).observe(body, { childList: true });
  }
}

function initShell() {
  const sw = document.getElementById('lang-switch');
  if (sw) {
    sw.addEventListener('change', () => {
      setCookie('lang', sw.value);
      const u = new URL(window.location.href);
      u.searchParams.delete('lang');
      window.location.assign(u.toString());
    });
  }
  const tg = document.getElementById('theme-toggle');
  if (tg) {
    tg.addEventListener('click', () => {
      const next = isDark() ? 'light' : 'dark';
      document.documentElement.dataset.theme = next;
      setCookie('theme', next);
      window.dispatchEvent(new CustomEvent('themechange'));
    });
  }
  // Narrow screens: the menu hides behind its button (the CSS shows the button only
  // there); Escape closes it and gives the focus back to the button.
  const menuBtn = document.getElementById('menu-toggle');
  const header = menuBtn && menuBtn.closest('header');
  if (header) {
    const setOpen = (open) => {
      header.classList.toggle('menu-open', open);
      menuBtn.setAttribute('aria-expanded', String(open));
    };
    menuBtn.addEventListener('click', () => setOpen(!header.classList.contains('menu-open')));
    header.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && header.classList.contains('menu-open')) {
        setOpen(false);
        menuBtn.focus();
      }
    });
  }
  for (const table of document.querySelectorAll('table.cards-on-mobile')) labelCells(table);
  for (const s of document.querySelectorAll('select.autosubmit')) {
    s.addEventListener('change', () => s.form && s.form.submit());
  }
  localizeTimes();
  document.body.dataset.ready = '1';
}

initShell();
