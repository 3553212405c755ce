// Drives headless Chromium (Debian's, through playwright-core) over every page of a
// running MeshView. Run by tests/pages/browser.rs, which starts the server and passes:
// BASE, CHROMIUM, PROFILE, ARTIFACTS, TILE_PREFIX, HOSTILE_NODE, TRACEROUTE, MAP_NODE,
// PACKET, PUBLISH (a JSON command line that publishes fresh traffic to the broker).
import { chromium } from 'playwright-core';
import { spawnSync } from 'node:child_process';

const env = process.env;
const base = env.BASE;
const tilePrefix = env.TILE_PREFIX;
const artifacts = env.ARTIFACTS;
const failures = [];
const dialogs = [];
const fail = (msg) => { failures.push(msg); console.log('FAIL ' + msg); };
const ok = (msg) => console.log('ok   ' + msg);

const ctx = await chromium.launchPersistentContext(env.PROFILE, {
  executablePath: env.CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  viewport: { width: 1280, height: 860 },
});
ctx.setDefaultTimeout(15000);

/** Opens a page and records console errors, failed requests and dialogs. */
async function open(path) {
  const page = await ctx.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const where = (m.location() && m.location().url) || '';
    if (where.startsWith(tilePrefix) || m.text().includes(tilePrefix)) return;
    // Tile images that cannot load are reported without a location by some versions.
    if (m.text().includes('ERR_CONNECTION_REFUSED') && !where) return;
    problems.push(`console error: ${m.text()} (${where})`);
  });
  page.on('pageerror', (e) => problems.push(`script error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (r.url().startsWith(tilePrefix)) return;
    // Requests the browser cancels itself (a navigation away, a closed stream) are not
    // failures; HTTP errors are caught by the response check below.
    if ((r.failure() || {}).errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${r.url()} ${(r.failure() || {}).errorText}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400 && !r.url().startsWith(tilePrefix)) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    if (!r.url().startsWith(base) && !r.url().startsWith(tilePrefix) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) {
      problems.push(`request to another host: ${r.url()}`);
    }
  });
  page.on('dialog', async (d) => { dialogs.push(`${path}: ${d.message()}`); await d.dismiss(); });
  page.problems = problems;
  const res = await page.goto(base + path, { waitUntil: 'load' });
  if (!res || res.status() !== 200) fail(`${path}: status ${res && res.status()}`);
  await page.waitForSelector('body[data-ready="1"]', { state: 'attached' });
  return page;
}

async function settle(page, name) {
  await page.waitForTimeout(700);
  await page.screenshot({ path: `${artifacts}/${name}.png` });
}

function check(page, path) {
  if (page.problems.length) fail(`${path}: ${page.problems.join(' | ')}`);
  else ok(`${path} loads cleanly`);
}

async function visit(path, name, waitFor) {
  const page = await open(path);
  try {
    if (waitFor) await page.waitForSelector(waitFor, { state: 'attached' });
  } catch (e) {
    fail(`${path}: ${waitFor} never appeared`);
  }
  await settle(page, name);
  check(page, path);
  return page;
}

try {
  // --- the shell and the redirect ------------------------------------------------------
  const home = await open('/');
  if (!home.url().endsWith('/chat')) fail(`/ went to ${home.url()}`); else ok('/ redirects to site.starting');
  const heading = await home.textContent('header .brand');
  if (!heading.includes('Test Mesh') || !heading.includes('mesh.test')) fail(`header shows ${heading}`);
  await home.close();

  // --- live pages: chat and firehose show what is published after they loaded ----------
  const chat = await open('/chat');
  const fire = await open('/firehose');
  await chat.waitForSelector('#live[data-state="on"]');
  await fire.waitForSelector('#live[data-state="on"]');
  const t0 = Date.now() * 1000;
  const [cmd, ...args] = JSON.parse(env.PUBLISH);
  const pub = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 120000 });
  if (pub.status !== 0) fail(`publish failed: ${pub.stderr}`);
  let texts = [];
  let latest = null;
  for (let i = 0; i < 100 && (!texts.length || !latest); i += 1) {
    const r = await (await fetch(`${base}/api/packets?portnum=1&since=${t0}&limit=100`)).json();
    texts = (r.packets || []).filter((p) => p.payload && !p.reply_id && !(p.decoded && p.decoded.emoji) && !/^seq \d+$/i.test(p.payload));
    const all = await (await fetch(`${base}/api/packets?since=${t0}&limit=1`)).json();
    latest = (all.packets || [])[0] || null;
    if (!texts.length || !latest) await new Promise((r) => setTimeout(r, 200));
  }
  if (!texts.length) fail('no new text message was stored after publishing');
  else {
    const want = texts[texts.length - 1];
    try {
      await chat.waitForSelector(`#chat-list article[data-id="${want.id}"]`, { timeout: 10000 });
      const shown = await chat.textContent(`#chat-list article[data-id="${want.id}"] > .text`);
      if (shown !== want.payload) fail(`chat shows ${JSON.stringify(shown)} for ${JSON.stringify(want.payload)}`);
      else ok(`chat shows message ${want.id} published after the page loaded`);
    } catch { fail(`chat never showed message ${want.id}`); }
  }
  if (latest) {
    try {
      await fire.waitForSelector(`#feed tr[data-id="${latest.id}"]`, { timeout: 10000 });
      ok(`firehose shows packet ${latest.id} published after the page loaded`);
    } catch { fail(`firehose never showed packet ${latest.id}`); }
  }
  // Pause holds rows back.
  await fire.click('#pause');
  if ((await fire.getAttribute('#pause', 'data-paused')) !== 'true') fail('pause did not pause');
  await fire.click('#pause');
  await settle(chat, 'chat');
  await settle(fire, 'firehose');
  check(chat, '/chat (live)');
  check(fire, '/firehose (live)');
  // The hostile text is shown as text.
  const hostileText = await chat.evaluate(() => [...document.querySelectorAll('.msg .text')].some((e) => e.textContent === '<script>alert(1)</script>'));
  if (!hostileText) fail('chat does not show the hostile message as text'); else ok('hostile message rendered as text');
  await chat.close();
  await fire.close();

  // --- every other page ---------------------------------------------------------------
  const nodelist = await visit('/nodelist', 'nodelist', '#nl-body tr');
  const rowsShown = await nodelist.$$eval('#nl-body tr:not([hidden])', (r) => r.length);
  await nodelist.fill('#nl-search', '<img');
  const matching = await nodelist.$$eval('#nl-body tr:not([hidden])', (r) => r.length);
  if (!(rowsShown > 1 && matching >= 1 && matching < rowsShown)) fail(`nodelist search: ${rowsShown} → ${matching}`);
  else ok('nodelist search filters rows');
  await nodelist.fill('#nl-search', '');
  await nodelist.click('#nl-body tr:not([hidden]) .star');
  const fav = await nodelist.evaluate(() => localStorage.getItem('meshview.favorites'));
  if (!fav || fav === '[]') fail('favourite not stored'); else ok('favourite stored in localStorage');
  await nodelist.setViewportSize({ width: 420, height: 860 });
  await settle(nodelist, 'nodelist-mobile');
  await nodelist.close();

  const node = await visit(`/node/${env.HOSTILE_NODE}`, 'node', '#chart-device[data-drawn], #chart-device .empty');
  const title = await node.textContent('.node-card h1');
  if (!title.includes('<img src=x onerror=alert(1)>')) fail(`node title is ${title}`); else ok('hostile node name rendered as text');
  if (await node.$('img[src="x"]')) fail('an <img src=x> element exists');
  await node.click('#show-qr');
  await node.waitForSelector('#qr-box[data-drawn]');
  await settle(node, 'node');
  check(node, '/node (after QR)');
  await node.close();

  await (await visit(`/packet/${env.PACKET}`, 'packet', '#packet-map[data-nodes-drawn]')).close();

  const map = await visit('/map', 'map', '#map[data-nodes-drawn]');
  const drawn = await map.$$eval('path.node', (p) => p.length);
  if (drawn < 5) fail(`map drew ${drawn} nodes`); else ok(`map draws ${drawn} nodes`);
  await map.locator(`path.node-${env.MAP_NODE}`).first().dispatchEvent('click');
  try {
    await map.waitForSelector('#map[data-edges-drawn]', { state: 'attached' });
    const edges = await map.$$eval('path.edge', (p) => p.length);
    const said = Number(await map.getAttribute('#map', 'data-edges-drawn'));
    if (edges < 1) fail('no edge drawn after clicking a node'); else ok(`map draws ${edges} edges on click`);
    // One arrowhead (a filled triangle, not interactive) per edge, in the edge's colour.
    const arrows = await map.$$eval('path.edge-arrow', (p) => p.map((e) => ({
      d: e.getAttribute('d'), fill: e.getAttribute('fill'), box: { width: e.getBBox().width, height: e.getBBox().height },
      tr: e.classList.contains('edge-arrow-traceroute'),
      interactive: e.classList.contains('leaflet-interactive'),
    })));
    // (Leaflet empties the path of a shape outside the view.)
    const visible = (as) => as.filter((a) => a.box.width > 0 || a.box.height > 0);
    const triangles = arrows.filter((a) => /^M[^LM]+(L[^LM]+){2}z$/i.test(a.d.replace(/\s+/g, '')));
    if (arrows.length !== edges || edges !== said || !triangles.length || triangles.length !== visible(arrows).length
      || arrows.some((a) => a.interactive || a.fill !== (a.tr ? '#e8590c' : '#868e96'))) {
      fail(`map: ${arrows.length} arrowheads (${triangles.length} triangles) for ${edges} edges (data-edges-drawn ${said})`);
    } else ok(`map draws ${arrows.length} arrowheads, one per edge`);
    // They keep their size in pixels when the map zooms.
    // (Same orientation at every zoom, so each arrowhead's box stays the same, give or take
    // the whole pixels Leaflet rounds path points to.)
    const side = (a) => Math.max(a.box.width, a.box.height);
    const zoom = () => Number(new URL(map.url()).searchParams.get('zoom'));
    // (The URL holds the zoom from the first move on: zoom in twice, compare the two.)
    await map.click('.leaflet-control-zoom-in');
    await map.waitForTimeout(900);
    const z0 = zoom();
    await map.click('.leaflet-control-zoom-in');
    await map.waitForTimeout(900);
    const z1 = zoom();
    const after = await map.$$eval('path.edge-arrow', (p) => p.map((e) => ({ box: { width: e.getBBox().width, height: e.getBBox().height } })));
    const both = after.map((a, i) => [arrows[i], a]).filter(([x, y]) => visible([x]).length && visible([y]).length);
    const worst = Math.max(0, ...both.map(([x, y]) => Math.abs(side(x) - side(y))));
    if (!(z0 > 0) || z1 !== z0 + 1 || after.length !== edges || !both.length || worst > 2) {
      fail(`map arrowheads after zooming ${z0} → ${z1}: ${after.length} drawn, ${both.length} compared, sizes differ by ${worst.toFixed(1)} px`);
    } else ok(`map arrowheads keep their size (${both.length} compared, within ${worst.toFixed(1)} px) from zoom ${z0} to ${z1}`);
  } catch (e) { fail(`map never drew edges: ${e.message || e}`); }
  await settle(map, 'map-edges');
  if (await map.$('script[src*="leaflet-heat"]')) fail('/map loads Leaflet.heat');
  check(map, '/map (after click)');
  await map.close();

  const tr = await visit(`/traceroute/${env.TRACEROUTE}`, 'traceroute', '.path.forward');
  const legs = await tr.evaluate(() => ({
    forward: document.querySelectorAll('.path.forward').length,
    back: document.querySelectorAll('.path.return').length,
    lines: document.querySelectorAll('.svg-wrap svg line').length,
    snr: [...document.querySelectorAll('.path .snr')].some((e) => /dB/.test(e.textContent)),
  }));
  if (!legs.forward || !legs.back || !legs.lines || !legs.snr) fail(`traceroute legs ${JSON.stringify(legs)}`);
  else ok('traceroute shows both legs with per-hop SNR');
  await tr.close();

  const svg = await ctx.request.get(`${base}/graph/traceroute/${env.TRACEROUTE}`);
  if (svg.status() !== 200 || !(svg.headers()['content-type'] || '').startsWith('image/svg+xml')) fail('traceroute SVG');
  else ok('traceroute SVG served');

  for (const [path, name, sel] of [
    ['/stats', 'stats', '#chart-traffic[data-drawn]'],
    ['/top', 'top', 'table.top tbody tr'],
    ['/net', 'net', 'main .panel'],
    ['/nodegraph', 'nodegraph', '#graph[data-drawn]'],
    ['/kiosk', 'kiosk', '#map[data-nodes-drawn]'],
    ['/api', 'api', '.endpoint'],
  ]) {
    await (await visit(path, name, sel)).close();
  }

  // The heatmap: a Leaflet.heat canvas with colour on it, no per-node shapes; hovering
  // counts the nodes near the pointer.
  const heat = await visit('/heatmap', 'heatmap', 'canvas.leaflet-heatmap-layer');
  const heatState = await heat.evaluate(() => {
    const c = document.querySelector('canvas.leaflet-heatmap-layer');
    const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let painted = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 0) painted += 1;
    return {
      nodes: Number(document.getElementById('map').dataset.nodesDrawn),
      painted,
      shapes: document.querySelectorAll('#map .leaflet-overlay-pane path').length,
      script: !!document.querySelector('script[src*="leaflet-heat"]'),
    };
  });
  if (!(heatState.nodes > 0) || heatState.painted < 100 || heatState.shapes || !heatState.script) {
    fail(`heatmap: ${JSON.stringify(heatState)}`);
  } else ok(`heatmap paints ${heatState.painted} px for ${heatState.nodes} nodes`);
  const box = await heat.locator('#map').boundingBox();
  await heat.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await heat.mouse.move(box.x + box.width / 2 + 5, box.y + box.height / 2 + 5);
  const hoverText = await heat.textContent('#hover');
  if (!/^\d+ nodes nearby \(\d+ m radius\)$/.test(hoverText)) fail(`heatmap hover says ${JSON.stringify(hoverText)}`);
  else ok(`heatmap hover: ${hoverText}`);
  check(heat, '/heatmap');
  await heat.close();

  // --- language switch and theme --------------------------------------------------------
  const lang = await open('/nodelist');
  await Promise.all([lang.waitForNavigation(), lang.selectOption('#lang-switch', 'es')]);
  await lang.waitForSelector('body[data-ready="1"]', { state: 'attached' });
  const es = await lang.textContent('nav.menu');
  if (!es.includes('Nodos')) fail(`Spanish menu: ${es}`); else ok('language switch to Spanish');
  await lang.goto(base + '/stats');
  await lang.waitForSelector('body[data-ready="1"]', { state: 'attached' });
  const kept = await lang.textContent('nav.menu');
  if (!kept.includes('Nodos')) fail('language not remembered'); else ok('language remembered across pages');
  await lang.goto(base + '/map?lang=ru');
  await lang.waitForSelector('body[data-ready="1"]', { state: 'attached' });
  if (!(await lang.textContent('nav.menu')).includes('Узлы')) fail('?lang=ru'); else ok('?lang=ru switches to Russian');
  await lang.click('#theme-toggle');
  const theme = await lang.getAttribute('html', 'data-theme');
  if (!['dark', 'light'].includes(theme)) fail(`theme ${theme}`); else ok(`theme toggled to ${theme}`);
  await settle(lang, 'map-ru-theme');
  await Promise.all([lang.waitForNavigation(), lang.selectOption('#lang-switch', 'en')]);
  check(lang, 'language/theme pages');
  await lang.close();

  // Unknown pages are HTML 404s; nothing reads files outside the embedded sets.
  for (const p of ['/static/..%2F..%2FCargo.toml', '/static/../Cargo.toml', '/nosuch', '/api/lang?lang=..%2F..%2Fx']) {
    const r = await ctx.request.get(base + p);
    const body = await r.text();
    if (r.status() === 200 && !p.startsWith('/api/lang')) fail(`${p} answered 200`);
    if (body.includes('[package]')) fail(`${p} leaked a file`);
  }
  ok('no path reaches files');

  // The site icon: declared by the pages, and /favicon.ico (asked for by browsers on
  // their own) leads to it.
  {
    const page = await open('/nodelist');
    const href = await page.getAttribute('link[rel="icon"]', 'href');
    const icon = href && (await ctx.request.get(base + href));
    const viaIco = await ctx.request.get(base + '/favicon.ico');
    if (!icon || icon.status() !== 200 || !(icon.headers()['content-type'] || '').startsWith('image/svg+xml')) {
      fail(`site icon ${href}: ${icon && icon.status()}`);
    } else if (viaIco.status() !== 200 || (await viaIco.text()) !== (await icon.text())) {
      fail(`/favicon.ico: ${viaIco.status()}`);
    } else ok('site icon declared and served');
    await page.close();
  }
} catch (e) {
  fail(`unexpected: ${e.stack || e}`);
} finally {
  await ctx.close();
}

if (dialogs.length) fail(`dialogs opened: ${dialogs.join(' | ')}`);
if (failures.length) {
  console.log(`${failures.length} page checks failed`);
  process.exit(1);
}
console.log('all page checks passed');
