// /chat: the first page of messages is rendered by the server; new ones arrive from
// the stream. Replies join their parent's thread, emoji replies become reactions.
import { el, t, follow, timeEl, hex, BROADCAST } from './common.js';

const list = document.getElementById('chat-list');
const empty = document.getElementById('chat-empty');
const channelSel = document.getElementById('chat-channel');
const seen = new Set([...list.querySelectorAll('article[data-id]')].map((a) => a.dataset.id));
const MAX_THREADS = 300;

function byMesh(meshId) {
  return document.getElementById('m' + meshId);
}

function isNoise(text) {
  return !text || /^seq \d+$/i.test(text);
}

function messageBody(p, replyElsewhere) {
  const meta = el('div', { class: 'meta' },
    timeEl(p.import_time_us), ' ',
    el('a', { class: 'chan', href: `/packet/${p.id}`, title: t('chat', 'open_packet'), text: p.channel || '#' }), ' ',
    el('a', { class: 'who', href: `/node/${p.from_node_id}`, text: p.long_name || hex(p.from_node_id) }));
  if (replyElsewhere) {
    meta.append(' ', el('a', { class: 'reply-link', href: `/packet/${p.reply_id}`, text: '↪ ' + t('chat', 'reply_to') }));
  }
  return [meta, el('p', { class: 'text', text: p.payload }), el('div', { class: 'reactions' })];
}

function addReaction(parent, p) {
  const box = parent.querySelector(':scope > .reactions');
  const emoji = p.payload;
  const who = p.long_name || hex(p.from_node_id);
  let chip = [...box.querySelectorAll('.reaction')].find((c) => c.dataset.emoji === emoji);
  if (!chip) {
    chip = el('span', { class: 'reaction', 'data-emoji': emoji, title: who },
      el('span', { class: 'e', text: emoji }), ' ', el('b', { text: '0' }));
    box.append(chip);
  } else {
    chip.title = chip.title + ', ' + who;
  }
  const b = chip.querySelector('b');
  b.textContent = String(Number(b.textContent) + 1);
  flash(chip);
}

function flash(e) {
  e.classList.add('new');
  setTimeout(() => e.classList.remove('new'), 4000);
}

function applyFilter() {
  const ch = channelSel.value;
  for (const a of list.children) {
    a.hidden = ch !== '' && a.dataset.channel !== ch;
  }
}

function add(p) {
  const id = String(p.id);
  if (seen.has(id) || p.portnum !== 1 || p.to_node_id !== BROADCAST) return;
  const text = p.payload || '';
  if (isNoise(text)) return;
  seen.add(id);
  const meshId = p.id % 4294967296;
  const parent = p.reply_id ? byMesh(p.reply_id) : null;
  if (parent && p.decoded && p.decoded.emoji) {
    addReaction(parent, p);
    return;
  }
  const art = el('article', { class: 'msg', id: 'm' + meshId, 'data-id': id, 'data-mesh': meshId, 'data-channel': p.channel || '' },
    ...messageBody(p, !!p.reply_id && !parent));
  if (parent) {
    art.classList.add('reply');
    const root = parent.closest('#chat-list > article') || parent;
    root.querySelector(':scope > .replies').append(art);
  } else {
    art.append(el('div', { class: 'replies' }));
    list.prepend(art);
    while (list.children.length > MAX_THREADS) list.lastElementChild.remove();
  }
  if (channelSel.value && p.channel !== channelSel.value && !parent) art.hidden = true;
  if (p.channel && ![...channelSel.options].some((o) => o.value === p.channel)) {
    channelSel.append(el('option', { value: p.channel, text: p.channel }));
  }
  empty.hidden = true;
  flash(art);
}

channelSel.addEventListener('change', applyFilter);
follow('portnum=1', add);
