// Drives headless Chromium (Debian's, through playwright-core) over every page of a
// running MeshView. Run by tests/pages/browser.rs, which starts the server and passes:
// SCOPE (`all`: every page; `links`: link quality and coverage; `layout`: every page at a
// phone's and a desktop's size in both themes, with axe-core), BASE, CHROMIUM, PROFILE,
// ARTIFACTS, TILE_PREFIX, HOSTILE_NODE, TRACEROUTE, MAP_NODE, LINK_NODE,
// NO_POSITION_NODE (may be empty), PACKET, PUBLISH (a JSON command line that publishes
// fresh traffic to the broker).
import { chromium } from 'playwright-core';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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

/** Opens a page (at the viewport size `vp`, if given) and records console errors, failed
 * requests and dialogs. */
async function open(path, vp) {
  const page = await ctx.newPage();
  if (vp) await page.setViewportSize(vp);
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

/** Waits for `fn` (evaluated in the page) to be truthy; false after `ms`. */
async function until(page, fn, arg, ms = 15000) {
  try {
    await page.waitForFunction(fn, arg, { timeout: ms });
    return true;
  } catch { return false; }
}

const api = async (path) => {
  const r = await fetch(base + path);
  return { status: r.status, body: r.status === 200 ? await r.json() : null };
};

/** Whether "play this day", started at `started`, stepped through that day's hours so
 * far: one step per hour begun (the current one included, if it began before the last
 * step); a play that ran past midnight played the whole day before. */
function playedToday(started, steps) {
  const ended = new Date();
  if (ended.getDate() !== started.getDate()) return steps >= started.getHours() && steps <= 24;
  return steps >= started.getHours() && steps <= ended.getHours() + 1;
}

/** Sets a datetime-local input to `hoursBack` hours before now (local time). */
async function setLocalTime(page, sel, hoursBack) {
  await page.$eval(sel, (input, h) => {
    const d = new Date(Date.now() - h * 3_600_000);
    const pad = (n) => String(n).padStart(2, '0');
    input.value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
    input.dispatchEvent(new Event('change'));
  }, hoursBack);
}

/** The node list and the stats as of a past moment: the test mesh was stored minutes
 * ago, so an hour back the list is empty and a day back the traffic chart counts
 * nothing; cleared, the live answers again. */
async function asOfChecks() {
  const list = await visit('/nodelist', 'nodelist-as-of', '#nl-body[data-loaded]');
  try {
    const live = Number(await list.getAttribute('#nl-body', 'data-loaded'));
    await setLocalTime(list, '#nl-at', 1);
    await list.waitForSelector('#nl-body:not([data-window="now"])', { state: 'attached', timeout: 15000 });
    const then = Number(await list.getAttribute('#nl-body', 'data-loaded'));
    const rows = await list.$$eval('#nl-body tr', (r) => r.length);
    await list.$eval('#nl-at', (i) => { i.value = ''; i.dispatchEvent(new Event('change')); });
    await list.waitForSelector('#nl-body[data-window="now"]', { state: 'attached', timeout: 15000 });
    const again = Number(await list.getAttribute('#nl-body', 'data-loaded'));
    if (!(live > 0) || then !== 0 || rows !== 0 || again !== live) {
      fail(`/nodelist as of an hour ago: ${then} nodes (${rows} rows), ${live} now, ${again} after clearing`);
    } else ok(`/nodelist as of an hour ago lists no node; cleared, the ${live} live ones`);
  } catch (e) { fail(`/nodelist time travel: ${e.message || e}`); }
  check(list, '/nodelist (as of)');
  await list.close();

  const stats = await visit('/stats', 'stats-as-of', '#chart-traffic[data-window="now"]');
  try {
    const live = Number(await stats.getAttribute('#chart-traffic', 'data-total'));
    await setLocalTime(stats, '#s-to', 24);
    await stats.waitForSelector('#chart-traffic:not([data-window="now"])', { state: 'attached', timeout: 15000 });
    const then = Number(await stats.getAttribute('#chart-traffic', 'data-total'));
    const to = Number((await stats.getAttribute('#chart-traffic', 'data-window')).split('-')[1]);
    const dayAgo = Date.now() * 1000 - 86_400_000_000;
    if (!(live > 0) || then !== 0 || to < dayAgo - 120_000_000 || to > dayAgo + 3_600_000_000) {
      fail(`/stats as of a day ago: ${then} packets to ${to}, ${live} now`);
    } else ok(`/stats as of a day ago charts no packet (${live} in the last 24 hours)`);
  } catch (e) { fail(`/stats time travel: ${e.message || e}`); }
  check(stats, '/stats (as of)');
  await stats.close();

  // A year: the top talkers of the last 365 days rank the same senders as the last
  // day's (the test mesh is minutes old; just after midnight UTC the day may hold
  // fewer), and a node page charts 365 days of its packets from the rollups.
  const ranked = async (period) => {
    const p = await visit(`/top?period=${period}`, `top-${period}`, 'table.top');
    const rows = await p.$$eval('table.top tbody tr', (r) => r.map((x) => x.textContent.trim()));
    await p.close();
    return rows;
  };
  const [day, year] = [await ranked('day'), await ranked('year')];
  const same = JSON.stringify(year) === JSON.stringify(day) || new Date().getUTCHours() === 0;
  if (!(year.length > 0) || year.length < day.length || !same) {
    fail(`/top a year: ${year.length} rows, ${day.length} for a day`);
  } else ok(`/top ranks a year of senders (${year.length} on the first page)`);
  const node = await visit(`/node/${env.LINK_NODE}`, 'node-year', '#chart-year[data-days]');
  const days = Number(await node.getAttribute('#chart-year', 'data-days'));
  if (days !== 365) fail(`/node: the year chart has ${days} days`);
  else ok('/node charts 365 days of packets');
  check(node, '/node (a year)');
  await node.close();
}

/** Moves the time slider `#{prefix}-time` to `hours` (0: now) and waits until `box`
 * shows that window (`data-window`: "now", else the past window). */
async function slideTo(page, prefix, box, hours) {
  await page.$eval(`#${prefix}-time`, (s, v) => {
    s.value = String(v);
    s.dispatchEvent(new Event('input'));
    s.dispatchEvent(new Event('change'));
  }, hours);
  const want = hours === 0 ? `${box}[data-window="now"]` : `${box}:not([data-window="now"])`;
  await page.waitForSelector(want, { state: 'attached', timeout: 15000 });
}

/** Clicks "Play this day" and waits for the end: the counts drawn per hour, the hour it
 * started in, and whether they step through today so far with something in some hour
 * (just after midnight the test mesh may have been stored yesterday). */
async function playToday(page, prefix, box) {
  const started = new Date();
  await page.click(`#${prefix}-play`);
  await page.waitForSelector(`${box}[data-played="1"]`, { state: 'attached', timeout: 45000 });
  const steps = (await page.getAttribute(box, 'data-steps')).split(',').map(Number);
  const hour = started.getHours();
  const some = steps.some((n) => n > 0) || (hour === 0 && started.getMinutes() < 5);
  return { steps, hour, today: playedToday(started, steps.length) && some };
}

// Link quality and coverage: the node page, the map and the mesh graph.
async function linkChecks() {
  const num = Number(env.LINK_NODE);
  const path = `/node/${num}`;
  const page = await visit(path, 'node-links', '#links-table[data-rows]');
  // The table lists every direct link of the node, both directions, each with a badge.
  const want = (await api(`/api/links?node_id=${num}`)).body.links.filter((l) => l.from === num || l.to === num);
  const rows = await page.$$eval('#links-table tbody tr.link-row', (r) => r.map((x) => ({
    from: Number(x.dataset.from), to: Number(x.dataset.to),
    badge: (x.querySelector('.qbadge') || {}).className || '',
    dir: x.cells[0].textContent, snr: x.cells[2].textContent,
  })));
  const key = (l) => `${l.from}>${l.to}`;
  const same = rows.length === want.length && want.every((l) => rows.some((r) => key(r) === key(l)));
  const badgesMatch = rows.every((r) => {
    const l = want.find((x) => key(x) === key(r));
    return l && r.badge.includes(`q-${l.quality}`);
  });
  const heardBy = rows.filter((r) => r.from === num).length;
  if (!rows.length || !same || !badgesMatch || !heardBy) {
    fail(`node links table: ${rows.length} rows (${heardBy} hearing the node) for ${want.length} links; badges match: ${badgesMatch}`);
  } else ok(`node page lists its ${rows.length} direct links (${heardBy} nodes hear it) with quality badges`);
  if (!(await page.isHidden('#links-empty'))) fail('the "no links" note shows beside the links');

  // A row with an SNR opens its SNR history chart.
  const pick = rows.findIndex((r) => r.snr.trim() !== '');
  if (pick < 0) fail('no link of the node has an SNR');
  else {
    await page.locator('#links-table tbody tr.link-row').nth(pick).locator('button.link-chart').click();
    const drawn = await until(page, () => document.getElementById('chart-link').dataset.drawn);
    const state = await page.evaluate(() => ({
      drawn: document.getElementById('chart-link').dataset.drawn,
      canvas: !!document.querySelector('#chart-link canvas'),
      box: !document.getElementById('link-chart-box').hidden,
      selected: document.querySelectorAll('#links-table tr.selected').length,
    }));
    if (!drawn || state.drawn !== '1' || !state.canvas || !state.box || state.selected !== 1) fail(`link SNR chart: ${JSON.stringify(state)}`);
    else ok('a link row draws its SNR over time');
  }

  // Predicted coverage: a polygon on the node's map, labelled with its model; unchecking removes it.
  await page.check('#cov-predicted');
  if (!(await until(page, () => document.querySelectorAll('#node-map path.coverage-predicted').length === 1))) {
    fail('predicted coverage: no polygon drawn');
  } else {
    const model = await page.getAttribute('#cov-model', 'data-model');
    const label = (await page.textContent('#cov-model')).trim();
    const d = await page.getAttribute('#node-map path.coverage-predicted', 'd');
    if (!['area', 'terrain'].includes(model) || !label || !/^M[\d.\s-]+(L[\d.\s-]+){2,}/.test((d || '').replace(/,/g, ' '))) {
      fail(`predicted coverage: model ${model}, label ${JSON.stringify(label)}, path ${d && d.slice(0, 40)}`);
    } else ok(`predicted coverage drawn (${label})`);
  }
  await page.uncheck('#cov-predicted');
  if (!(await until(page, () => !document.querySelector('#node-map path.coverage-predicted')))) fail('predicted coverage stays after unchecking');
  else ok('predicted coverage toggles off');

  // Observed coverage: the receivers' cells and the nodes that heard it, with the comparison.
  const obs = await api(`/api/coverage/${num}/observed?hours=168&resolution=7`);
  if (obs.status !== 200) fail(`/api/coverage/${num}/observed answered ${obs.status}`);
  else {
    await page.check('#cov-observed');
    if (!(await until(page, () => document.getElementById('node-map').dataset.observed === 'shown'))) {
      fail(`observed coverage never shown (${await page.getAttribute('#node-map', 'data-observed')})`);
    } else {
      const st = await page.evaluate(() => ({
        cells: document.querySelectorAll('#node-map path.coverage-cell').length,
        heard: document.querySelectorAll('#node-map path.coverage-heard').length,
        summary: document.getElementById('cov-summary').textContent,
      }));
      const wantCells = obs.body.cells.filter((c) => (c.boundary || []).length >= 3).length;
      const wantHeard = obs.body.heard_by.filter((h) => typeof h.lat === 'number' && typeof h.lon === 'number').length;
      const c = obs.body.comparison;
      const pct = c && typeof c.observed_outside_predicted === 'number' ? `${Math.round(c.observed_outside_predicted * 100)} %` : null;
      if (!wantCells || st.cells !== wantCells || st.heard !== wantHeard || !st.summary.includes(String(obs.body.heard_by.length))
        || (pct && !st.summary.includes(pct))) {
        fail(`observed coverage: ${JSON.stringify(st)}; want ${wantCells} cells, ${wantHeard} receivers, ${pct}`);
      } else ok(`observed coverage: ${st.cells} cells, ${st.heard} receivers; "${st.summary}"`);
    }
    // Both layers at once.
    await page.check('#cov-predicted');
    if (!(await until(page, () => document.querySelectorAll('#node-map path.coverage-predicted').length === 1
      && document.querySelectorAll('#node-map path.coverage-cell').length > 0))) fail('predicted and observed coverage not shown together');
    else ok('predicted and observed coverage side by side');
  }
  await settle(page, 'node-links');
  if (await page.$('img[src="x"]')) fail('an <img src=x> element exists on the node page');
  check(page, `${path} (links, chart, coverage)`);
  await page.close();

  // The hostile node's page: its links' names stay text.
  const hostile = await visit(`/node/${env.HOSTILE_NODE}`, 'node-hostile-links', '#links-table[data-rows]');
  if (await hostile.$('img[src="x"]')) fail('an <img src=x> element exists on the hostile node page');
  check(hostile, '/node (hostile, links)');
  await hostile.close();

  // A node without a position: no coverage toggles, no coverage request, no error.
  if (env.NO_POSITION_NODE) {
    const p = `/node/${env.NO_POSITION_NODE}`;
    const bare = await visit(p, 'node-no-position', '#links-table[data-rows]');
    const st = await bare.evaluate(() => ({
      toggles: !!document.getElementById('cov-predicted') || !!document.getElementById('cov-observed'),
      note: !!document.getElementById('cov-none'),
      asked: performance.getEntriesByType('resource').some((e) => e.name.includes('/api/coverage/')),
    }));
    if (st.toggles || !st.note || st.asked) fail(`${p}: ${JSON.stringify(st)}`);
    else ok('a node without a position shows no coverage toggles and asks for none');
    check(bare, `${p} (no position)`);
    await bare.close();
  } else ok('every simulated node has a position (no-position case not exercised)');

  // The map: the legend; a click colours the node's edges by quality; every link by
  // quality; the observed coverage cells.
  const map = await visit('/map', 'map-quality', '#map[data-nodes-drawn]');
  if (!(await map.$('.quality-legend .sw.q-good'))) fail('/map has no quality legend');
  await map.locator(`path.node-${num}`).first().dispatchEvent('click');
  if (!(await until(map, () => document.getElementById('map').dataset.edgesRated))) fail('/map: no edges after a click');
  else {
    const st = await map.evaluate(() => ({
      rated: Number(document.getElementById('map').dataset.edgesRated),
      drawn: Number(document.getElementById('map').dataset.edgesDrawn),
      classes: [...document.querySelectorAll('path.edge')].filter((e) => /\bq-(good|fair|poor|unknown)\b/.test(e.getAttribute('class'))).length,
    }));
    if (!(st.rated >= 1) || st.classes !== st.rated || st.drawn < st.rated) fail(`/map quality edges: ${JSON.stringify(st)}`);
    else ok(`/map colours ${st.rated} of ${st.drawn} edges by link quality`);
  }
  await map.check('#f-links');
  if (!(await until(map, () => document.getElementById('map').dataset.meshLinks === 'shown'))) fail('/map: all links never shown');
  else {
    const n = await map.$$eval('path.mesh-link', (p) => p.length);
    const said = Number(await map.getAttribute('#map', 'data-mesh-links-drawn'));
    if (!(n > 0) || n !== said) fail(`/map all links: ${n} paths, ${said} said`);
    else ok(`/map draws ${n} links by quality`);
  }
  await map.uncheck('#f-links');
  if ((await map.$$eval('path.mesh-link', (p) => p.length)) !== 0) fail('/map all links stay after unchecking');
  const meshObs = await api('/api/coverage/observed?hours=168&resolution=6');
  if (meshObs.status !== 200) fail(`/api/coverage/observed answered ${meshObs.status}`);
  else {
    await map.check('#f-observed');
    if (!(await until(map, () => document.getElementById('map').dataset.observed === 'shown'))) fail('/map observed coverage never shown');
    else {
      const n = await map.$$eval('path.observed-cell', (p) => p.length);
      if (!(n > 0) || n !== meshObs.body.cells.length) fail(`/map observed cells: ${n} of ${meshObs.body.cells.length}`);
      else ok(`/map draws ${n} observed coverage cells`);
    }
  }
  await settle(map, 'map-quality');

  // Time travel on the map: an hour back no node had been heard yet (the test mesh was
  // stored minutes ago), back at "now" the live nodes again; "play this day" steps
  // through today's hours with the nodes heard in each, the current hour's not none.
  const liveNodes = Number(await map.getAttribute('#map', 'data-nodes-drawn'));
  try {
    await slideTo(map, 'm', '#map', -1);
    const [w, drawn, label, edgesThen] = [await map.getAttribute('#map', 'data-window'),
      Number(await map.getAttribute('#map', 'data-nodes-drawn')), await map.textContent('#m-when'),
      Number(await map.getAttribute('#map', 'data-past-edges'))];
    const to = Number(w.split('-')[1]);
    if (drawn !== 0 || edgesThen !== 0 || Math.abs(to - (Date.now() * 1000 - 3_600_000_000)) > 60_000_000 || label === 'now') {
      fail(`/map an hour back: ${drawn} nodes, ${edgesThen} links, window ${w}, label ${label}`);
    } else ok(`/map an hour back shows the mesh as of then (${label}: no node yet)`);
    await slideTo(map, 'm', '#map', 0);
    const again = Number(await map.getAttribute('#map', 'data-nodes-drawn'));
    if (again !== liveNodes) fail(`/map back to now: ${again} nodes, ${liveNodes} before`);
    else ok(`/map back to now: the ${liveNodes} live nodes`);
    const { steps, hour, today } = await playToday(map, 'm', '#map');
    const links = await map.$$eval('path.past-edge', (p) => p.length);
    if (!today || steps.some((n) => n > liveNodes)) {
      fail(`/map play this day: ${steps.length} steps (hour ${hour}), nodes per hour ${steps}`);
    } else ok(`/map plays today in ${steps.length} hourly steps, nodes per hour ${steps.slice(-2)}, ${links} links in the last`);
  } catch (e) { fail(`/map time travel: ${e.message || e}`); }
  check(map, '/map (quality, layers)');
  await map.close();

  // The mesh graph: the legend, edges rated by the link model.
  const graph = await visit('/nodegraph', 'nodegraph-quality', '#graph[data-drawn]');
  const g = await graph.evaluate(() => ({
    legend: !!document.querySelector('.quality-legend .sw.q-poor'),
    rated: Number(document.getElementById('graph').dataset.rated),
    edges: Number(document.getElementById('g-edges').textContent),
    colour: document.getElementById('graph').dataset.colour,
  }));
  if (!g.legend || !(g.rated > 0) || g.rated > g.edges || g.colour !== 'quality') fail(`/nodegraph quality: ${JSON.stringify(g)}`);
  else ok(`/nodegraph colours ${g.rated} of ${g.edges} links by quality`);
  await graph.selectOption('#g-colour', 'type');
  if ((await graph.getAttribute('#graph', 'data-colour')) !== 'type') fail('/nodegraph colour switch');

  // Time travel: the slider an hour back shows the links as of then (the test mesh was
  // stored minutes ago: none), back at "now" the live links again; "play this day"
  // steps through today's hours, one window an hour, and the current hour has links.
  const live = Number(await graph.textContent('#g-edges'));
  try {
    await slideTo(graph, 'g', '#graph', -1);
    const [w, past, label] = [await graph.getAttribute('#graph', 'data-window'),
      Number(await graph.textContent('#g-edges')), await graph.textContent('#g-when')];
    const [from, to] = w.split('-').map(Number);
    const hourAgo = Date.now() * 1000 - 3_600_000_000;
    if (past !== 0 || to - from !== 24 * 3_600_000_000 || Math.abs(to - hourAgo) > 60_000_000 || label === 'now') {
      fail(`/nodegraph an hour back: ${past} links, window ${w}, label ${label}`);
    } else ok(`/nodegraph an hour back shows the links as of then (${label}: none yet)`);
    await slideTo(graph, 'g', '#graph', 0);
    const again = Number(await graph.textContent('#g-edges'));
    if (again !== live) fail(`/nodegraph back to now: ${again} links, ${live} before`);
    else ok(`/nodegraph back to now: the ${live} live links`);
    const { steps, hour, today } = await playToday(graph, 'g', '#graph');
    if (!today) {
      fail(`/nodegraph play this day: ${steps.length} steps (hour ${hour}), links per hour ${steps}`);
    } else ok(`/nodegraph plays today in ${steps.length} hourly steps, links per hour ${steps.slice(-2)}`);
  } catch (e) { fail(`/nodegraph time travel: ${e.message || e}`); }
  check(graph, '/nodegraph (quality)');
  await graph.close();
}

// The sizes the pages are checked at: a phone (390×844) and a desktop (1360×900).
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1360, height: 900 };
const AXE = readFileSync('node_modules/axe-core/axe.min.js', 'utf8');

/** Every page at both sizes in both themes: nothing scrolls sideways, tables fit (or
 * become cards), the phone menu folds and unfolds from the keyboard, the search stays
 * reachable, touch targets are at least 40 px, and axe-core finds nothing serious. */
async function layoutChecks() {
  const pages = [
    ['/chat', 'chat', '#chat-list'],
    ['/firehose', 'firehose', '#feed'],
    ['/nodelist', 'nodelist', '#nl-body[data-loaded]'],
    [`/node/${env.LINK_NODE}`, 'node', '#links-table[data-rows]'],
    [`/packet/${env.PACKET}`, 'packet', '#packet-map[data-nodes-drawn]'],
    ['/map', 'map', '#map[data-nodes-drawn]'],
    [`/traceroute/${env.TRACEROUTE}`, 'traceroute', '.path.forward'],
    ['/stats', 'stats', '#chart-traffic[data-drawn]'],
    ['/top', 'top', 'table.top tbody tr'],
    ['/net', 'net', 'main .panel'],
    ['/nodegraph', 'nodegraph', '#graph[data-drawn]'],
    ['/heatmap', 'heatmap', 'canvas.leaflet-heatmap-layer'],
    ['/kiosk', 'kiosk', '#map[data-nodes-drawn]'],
    ['/api', 'api', '.endpoint'],
  ];
  for (const theme of ['light', 'dark']) {
    await ctx.addCookies([{ name: 'theme', value: theme, url: base }]);
    for (const [size, vp] of [['phone', PHONE], ['desktop', DESKTOP]]) {
      for (const [path, name, sel] of pages) {
        const p = await open(path, vp);
        const where = `${path} (${size}, ${theme})`;
        try { await p.waitForSelector(sel, { state: 'attached' }); } catch { fail(`${where}: ${sel} never appeared`); }
        await p.waitForTimeout(500);
        await layoutOf(p, where, size);
        if (name === 'map' || name === 'heatmap' || name === 'kiosk') await mapOpensOnNodes(p, where, name === 'heatmap');
        if (name === 'nodegraph') await graphFits(p, where);
        if (name === 'nodelist' && size === 'phone') await phoneSort(p, where);
        if (size === 'phone' && name !== 'kiosk') await phoneMenu(p, where);
        await accessible(p, where);
        if (theme === 'light' || name === 'nodelist') await p.screenshot({ path: `${artifacts}/${name}-${size}-${theme}.png` });
        check(p, where);
        await p.close();
      }
    }
  }
}

async function layoutOf(page, where, size) {
  const st = await page.evaluate((phone) => {
    const vw = document.documentElement.clientWidth;
    const over = [];
    // Tables that overflow their box (a scrolling wrapper hides it from the page's width).
    for (const t of document.querySelectorAll('table')) {
      const box = t.parentElement.getBoundingClientRect();
      const r = t.getBoundingClientRect();
      if (r.width > 0 && r.width > box.width + 1) over.push(`table.${t.className || t.id} ${Math.round(r.width)} > ${Math.round(box.width)}`);
    }
    const small = [];
    if (phone) {
      // (Links in running text, such as the map's attribution, are exempt, as in WCAG's
      // target-size rule.)
      const targets = document.querySelectorAll('button, select, input:not([type=hidden]), nav.menu a, .leaflet-bar a');
      for (const e of targets) {
        const r = e.getBoundingClientRect();
        if (!r.width || !r.height) continue;
        const s = getComputedStyle(e);
        if (s.visibility === 'hidden') continue;
        const min = e.type === 'checkbox' || e.type === 'radio' ? 20 : 40;
        if (r.height < min - 0.5) small.push(`${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''} ${Math.round(r.height)} px`);
      }
    }
    // What sticks out on the right, innermost first (to say what to fix).
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > vw + 1 && ![...e.children].some((c) => c.getBoundingClientRect().right > vw + 1))
      .slice(0, 4)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${typeof e.className === 'string' && e.className ? '.' + e.className.split(' ')[0] : ''} → ${Math.round(e.getBoundingClientRect().right)}`);
    return { vw, sw: document.documentElement.scrollWidth, over, small, wide };
  }, size === 'phone');
  if (st.sw > st.vw + 1) fail(`${where}: the page scrolls sideways (${st.sw} px wide in ${st.vw}: ${st.wide.join('; ')})`);
  else if (st.over.length) fail(`${where}: tables overflow: ${st.over.join('; ')}`);
  else if (st.small.length) fail(`${where}: touch targets under 40 px: ${[...new Set(st.small)].slice(0, 8).join('; ')}`);
  else ok(`${where}: fits`);
}

/** A live map whose configured box misses the mesh opens on its nodes: (nearly) all of
 * them in view, and not as a speck in a corner. The heatmap draws no shapes: its data
 * says which view it chose. */
async function mapOpensOnNodes(page, where, heat) {
  const st = await page.evaluate((heatmap) => {
    const m = document.getElementById('map');
    const box = m.getBoundingClientRect();
    let rects;
    if (heatmap) {
      rects = [];
    } else {
      rects = [...document.querySelectorAll('path.node')].map((e) => e.getBoundingClientRect()).filter((r) => r.width || r.height);
    }
    const c = rects.map((r) => [r.x + r.width / 2, r.y + r.height / 2]);
    const inside = c.filter(([x, y]) => x >= box.left && x <= box.right && y >= box.top && y <= box.bottom);
    const xs = inside.map((p) => p[0]);
    const ys = inside.map((p) => p[1]);
    const spread = inside.length ? Math.max((Math.max(...xs) - Math.min(...xs)) / box.width, (Math.max(...ys) - Math.min(...ys)) / box.height) : 0;
    return { view: m.dataset.view, markers: Number(m.dataset.nodesDrawn || 0), drawn: rects.length, inside: inside.length, spread };
  }, heat);
  // (This run's configured box is far from the mesh.)
  if (st.view !== 'nodes') fail(`${where}: the map opened on the ${st.view} view, not the nodes`);
  else if (heat) ok(`${where}: opens on the nodes`);
  else if (!(st.markers > 0) || st.inside < 0.9 * st.markers || st.spread < 0.25) {
    fail(`${where}: the map opens on ${JSON.stringify(st)}`);
  } else ok(`${where}: ${st.inside} of ${st.markers} nodes in view, spread over ${Math.round(st.spread * 100)} % (${st.view} view)`);
}

/** The mesh graph fits its frame once laid out, and `Fit to frame` brings it back after
 * the user zoomed in. */
async function graphFits(page, where) {
  if (!(await until(page, () => document.getElementById('graph').dataset.fitted === '1'))) {
    fail(`${where}: the graph never fitted its frame`);
    return;
  }
  const first = await page.getAttribute('#graph', 'data-outside');
  const box = await page.locator('#graph').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 5; i += 1) await page.mouse.wheel(0, -400);
  await page.waitForTimeout(300);
  await page.evaluate(() => { delete document.getElementById('graph').dataset.outside; });
  await page.click('#g-fit');
  const again = await page.getAttribute('#graph', 'data-outside');
  if (first !== '0' || again !== '0') fail(`${where}: nodes outside the frame: ${first} after layout, ${again} after "fit"`);
  else ok(`${where}: every node inside the frame, after layout and after "fit"`);
}

/** Rows in the node list's table now. */
const listed = (page) => page.$$eval('#nl-body tr', (rs) => rs.map((r) => Number(r.dataset.num)));

/** Scrolls `more` (a "show more" button) into view until `rows()` stops growing. */
async function scrollAll(page, more, rows) {
  let n = -1;
  for (let i = 0; i < 200; i += 1) {
    const now = (await rows()).length;
    if (now === n && !(await page.isVisible(more))) break;
    n = now;
    if (await page.isVisible(more)) await page.locator(more).scrollIntoViewIfNeeded();
    await page.waitForTimeout(150);
  }
  return rows();
}

/** Clicks `button` and returns the CSV it downloads, as rows of cells (no quoting in
 * what the tests read). */
async function csvOf(page, button) {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60000 }), page.click(button)]);
  const text = readFileSync(await download.path(), 'utf8').replace(/^\ufeff/, '');
  return text.trim().split('\r\n').map((l) => l.split(','));
}

/**
 * The node list draws a chunk of rows at a time, yet its count, search, sort and CSV
 * cover every node of /api/nodes: all of them (the activity filter set to "all") come
 * by scrolling, a node beyond the first chunk is found by a search, and the CSV holds
 * them all.
 */
async function nodeListCovers(page) {
  // What the page took from /api/nodes (an answer the server may have cached a moment
  // before the test's own request would be).
  const [resp] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === '/api/nodes'),
    page.reload(),
  ]);
  const all = (await resp.json()).nodes.map((n) => n.node_id);
  await page.waitForSelector('#nl-body[data-loaded]', { state: 'attached' });
  const chunk = Number(await page.getAttribute('#nl-body', 'data-chunk'));
  await page.selectOption('#nl-active', '0');
  const first = await listed(page);
  const count = Number(await page.textContent('#nl-count'));
  if (!(all.length > chunk)) fail(`the test mesh has ${all.length} nodes, not more than a chunk (${chunk})`);
  if (first.length !== chunk || count !== all.length) fail(`node list: ${first.length} rows first (chunk ${chunk}), count ${count} of ${all.length}`);
  else ok(`node list draws ${chunk} of ${count} rows first`);
  // A node the first chunk does not show is found by a search.
  const target = all.find((n) => !first.includes(n));
  const targetHex = '!' + (target >>> 0).toString(16).padStart(8, '0');
  await page.fill('#nl-search', targetHex);
  const found = await listed(page);
  if (found.length !== 1 || found[0] !== target) fail(`search for ${targetHex}, beyond the first rows, found ${found.join(' ')}`);
  else ok(`search finds ${targetHex}, beyond the first rows`);
  await page.fill('#nl-search', '');
  const scrolled = await scrollAll(page, '#nl-more', () => listed(page));
  const same = scrolled.length === all.length && new Set(scrolled).size === all.length && all.every((n) => scrolled.includes(n));
  if (!same) fail(`node list after scrolling: ${scrolled.length} rows (${new Set(scrolled).size} distinct) of ${all.length}`);
  else ok(`scrolling draws all ${all.length} nodes, each once`);
  await page.fill('#nl-search', '<img');
  const hostile = await listed(page);
  if (!(hostile.length >= 1 && hostile.length < all.length)) fail(`node list search for "<img": ${hostile.length} rows`);
  else ok('node list search filters rows');
  await page.fill('#nl-search', '');
  const csv = await csvOf(page, '#nl-csv');
  const ids = csv.slice(1).map((r) => Number(r[0]));
  if (csv[0][0] !== 'node_id' || ids.length !== all.length || !all.every((n) => ids.includes(n))) {
    fail(`node list CSV: ${ids.length} nodes of ${all.length}`);
  } else ok(`node list CSV holds all ${ids.length} nodes`);
}

/**
 * A busy node's packet table: the newest chunk first, older ones by scrolling (newest
 * first, none twice, as /api/packets lists them), a port filter asked of the API, and a
 * CSV of every packet the filter matches.
 */
async function packetTablePages() {
  const busy = (await api('/api/stats/top?limit=1')).body.nodes[0].node_id;
  const everything = [];
  for (let before = null; ;) {
    const page = (await api(`/api/packets?node_id=${busy}&limit=1000${before ? `&before=${before}` : ''}`)).body.packets;
    everything.push(...page);
    if (page.length < 1000) break;
    before = page[page.length - 1].import_time_us;
  }
  const page = await visit(`/node/${busy}`, 'node-packets', '#pk-body tr');
  const rows = () => page.$$eval('#pk-body tr', (rs) => rs.map((r) => r.dataset.id));
  const chunk = Number(await page.getAttribute('#pk-body', 'data-chunk'));
  // (The table may already have drawn more, if it ends within a screen of the view.)
  const first = (await rows()).slice(0, chunk);
  if (!(everything.length > chunk)) fail(`the busy node has ${everything.length} packets, not more than a chunk (${chunk})`);
  const want = everything.map((p) => String(p.id));
  if (first.join() !== want.slice(0, chunk).join()) fail(`node packets: first rows ${first.length}, not the newest ${chunk}`);
  else ok(`node page shows its newest ${chunk} packets first`);
  const scrolled = await scrollAll(page, '#pk-more', rows);
  if (scrolled.join() !== want.join()) fail(`node packets after scrolling: ${scrolled.length} rows of ${want.length} (in order: ${scrolled.join() === want.slice(0, scrolled.length).join()})`);
  else ok(`scrolling lists all ${want.length} packets of the node, newest first, each once`);
  // A port filter: the table is asked again, with that port only.
  const counts = new Map();
  for (const p of everything) counts.set(p.portnum, (counts.get(p.portnum) || 0) + 1);
  const [port, many] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0];
  await page.selectOption('#pk-port', String(port));
  await until(page, (n) => document.querySelectorAll('#pk-body tr').length === n, Math.min(many, chunk));
  const filtered = await scrollAll(page, '#pk-more', () => page.$$eval('#pk-body tr', (rs) => rs.map((r) => Number(r.dataset.port))));
  if (filtered.length !== many || filtered.some((p) => p !== port)) fail(`port ${port} filter: ${filtered.length} rows of ${many}`);
  else ok(`the port filter lists all ${many} packets of port ${port}`);
  const csv = await csvOf(page, '#pk-csv');
  if (csv.length - 1 !== many) fail(`packet CSV with port ${port}: ${csv.length - 1} rows of ${many}`);
  await page.selectOption('#pk-port', '');
  const all = await csvOf(page, '#pk-csv');
  if (all.length - 1 !== everything.length) fail(`packet CSV: ${all.length - 1} rows of ${everything.length}`);
  else ok(`the packet CSV holds every packet the filter matches (${many} of port ${port}, ${everything.length} in all)`);
  check(page, `/node/${busy} (packet table)`);
  await page.close();
}

/** On a phone the node list's header is hidden (the rows are cards): its select sorts. */
async function phoneSort(page, where) {
  const shown = () => page.$$eval('#nl-body tr:not([hidden])', (rs) => rs.map((r) => ({
    short: r.querySelector('td[data-key="short"]').textContent.trim().toLowerCase(),
    last: Number(r.dataset.last),
    fav: r.classList.contains('fav'),
  })).filter((r) => !r.fav));
  const visible = await page.isVisible('#nl-sort');
  await page.selectOption('#nl-sort', 'short');
  const byName = await shown();
  await page.selectOption('#nl-sort', 'last');
  const byTime = await shown();
  const ordered = (xs, cmp) => xs.every((x, i) => i === 0 || cmp(xs[i - 1], x) <= 0);
  const nameOk = byName.length > 1 && ordered(byName, (a, b) => (a.short < b.short ? -1 : a.short > b.short ? 1 : 0));
  const timeOk = byTime.length > 1 && ordered(byTime, (a, b) => b.last - a.last);
  if (!visible || !nameOk || !timeOk) fail(`${where}: sorting on a phone ${JSON.stringify({ visible, nameOk, timeOk })}`);
  else ok(`${where}: the sort select orders the cards by name and by last seen`);
}

/** The phone menu: folded, opened by its button from the keyboard, closed by Escape;
 * the node search visible. */
async function phoneMenu(page, where) {
  const folded = await page.isHidden('nav.menu');
  const search = await page.evaluate(() => {
    const i = document.querySelector('header .jump input');
    if (!i) return 0;
    const r = i.getBoundingClientRect();
    return r.width;
  });
  await page.focus('#menu-toggle');
  await page.keyboard.press('Enter');
  const opened = await page.isVisible('nav.menu a');
  const expanded = await page.getAttribute('#menu-toggle', 'aria-expanded');
  await page.keyboard.press('Tab');
  const focusInMenu = await page.evaluate(() => !!document.activeElement.closest('nav.menu'));
  await page.keyboard.press('Escape');
  const closed = await page.isHidden('nav.menu');
  const refocused = await page.evaluate(() => document.activeElement.id === 'menu-toggle');
  if (!folded || !opened || expanded !== 'true' || !focusInMenu || !closed || !refocused || !(search >= 200)) {
    fail(`${where}: phone menu ${JSON.stringify({ folded, opened, expanded, focusInMenu, closed, refocused, search })}`);
  } else ok(`${where}: menu folds behind its button; search ${Math.round(search)} px wide`);
}

/** axe-core: no serious or critical violation. */
async function accessible(page, where) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}, ${v.nodes.length}×: ${v.nodes.slice(0, 3).map((n) => {
        const d = ((n.any || [])[0] || {}).data || {};
        return n.target.join(' ') + (d.fgColor ? ` ${d.fgColor} on ${d.bgColor}` : '');
      }).join(', ')})`);
  });
  if (found.length) fail(`${where}: axe: ${found.join('; ')}`);
  else ok(`${where}: axe finds nothing serious`);
}

try {
  if (env.SCOPE === 'links') { await linkChecks(); await asOfChecks(); }
  else if (env.SCOPE === 'layout') await layoutChecks();
  else {
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
    const nodelist = await visit('/nodelist', 'nodelist', '#nl-body[data-loaded]');
    await nodeListCovers(nodelist);
    await nodelist.fill('#nl-search', '');
    await nodelist.click('#nl-body tr .star');
    const fav = await nodelist.evaluate(() => localStorage.getItem('meshview.favorites'));
    if (!fav || fav === '[]') fail('favourite not stored'); else ok('favourite stored in localStorage');
    await nodelist.setViewportSize({ width: 420, height: 860 });
    await settle(nodelist, 'nodelist-mobile');
    check(nodelist, '/nodelist (after scrolling, search and CSV)');
    await nodelist.close();

    await packetTablePages();

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
    // The configured box holds the simulated mesh: the map keeps it.
    const view = await map.getAttribute('#map', 'data-view');
    if (view !== 'config') fail(`/map opened on the ${view} view, not the configured box`);
    else ok('/map keeps the configured box, which holds the nodes');
    // The counts come with the nodes from /api/nodes: all active nodes, those drawn.
    const active = (await api('/api/nodes?days_active=3')).body.nodes.length;
    const counts = await map.evaluate(() => [document.getElementById('shown-count').textContent, document.getElementById('total-count').textContent]);
    if (counts[0] !== String(drawn) || counts[1] !== String(active)) fail(`/map counts ${counts.join(' / ')}, want ${drawn} / ${active}`);
    else ok(`/map counts ${counts.join(' / ')} nodes`);
    await map.locator(`path.node-${env.MAP_NODE}`).first().dispatchEvent('click');
    try {
      await map.waitForSelector('#map[data-edges-drawn]', { state: 'attached' });
      const edges = await map.$$eval('path.edge', (p) => p.length);
      const said = Number(await map.getAttribute('#map', 'data-edges-drawn'));
      if (edges < 1) fail('no edge drawn after clicking a node'); else ok(`map draws ${edges} edges on click`);
      // One arrowhead (a filled triangle, not interactive) per edge, in the edge's colour.
      // (Each in its edge's colour: the link's quality, else the edge type's.)
      const strokes = await map.$$eval('path.edge', (p) => p.map((e) => e.getAttribute('stroke')));
      const arrows = await map.$$eval('path.edge-arrow', (p) => p.map((e) => ({
        d: e.getAttribute('d'), fill: e.getAttribute('fill'), box: { width: e.getBBox().width, height: e.getBBox().height },
        tr: e.classList.contains('edge-arrow-traceroute'),
        interactive: e.classList.contains('leaflet-interactive'),
      })));
      // (Leaflet empties the path of a shape outside the view.)
      const visible = (as) => as.filter((a) => a.box.width > 0 || a.box.height > 0);
      const triangles = arrows.filter((a) => /^M[^LM]+(L[^LM]+){2}z$/i.test(a.d.replace(/\s+/g, '')));
      if (arrows.length !== edges || edges !== said || !triangles.length || triangles.length !== visible(arrows).length
        || arrows.some((a, i) => a.interactive || a.fill !== strokes[i])) {
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
