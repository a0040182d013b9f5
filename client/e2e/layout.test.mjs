// The call page's layout at a desktop's size and a phone's: tiles at the largest 16:9 size
// that fits them all (the speaker view past six), inside the tile area and apart, with every
// control and the chat's Send button on screen and not covered. The other members are
// signaling-only clients: the layout depends on how many there are, not on their media.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { serverAndBrowser, openPage } from './helpers.mjs';
import { fitGrid, GAP } from '../web/layout.js';

const ctx = serverAndBrowser();
const members = [];
after(() => members.forEach((s) => s.close()));

// A member with no media, who says so (its tile shows a placeholder).
async function member(url, room, name) {
  const s = io(url, { transports: ['websocket'], forceNew: true });
  members.push(s);
  await new Promise((resolve, reject) =>
    s.emit('join', { room, name }, (r) => (r?.error ? reject(new Error(r.error.message)) : resolve(r))),
  );
  s.emit('media-state', { audio: false, video: false }, () => {});
  return s;
}

// What the page shows once its layout has settled: the tile area's content box, the
// tiles, and each control with whether it is the element found at its own centre.
async function measure(page) {
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  return page.evaluate(() => {
    const box = (e) => {
      const r = e.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    };
    const grid = document.getElementById('grid');
    const g = box(grid);
    const s = getComputedStyle(grid);
    const pad = parseFloat(s.paddingLeft);
    const controls = [...document.querySelectorAll('#controls button, #call > header button, #chat-form button, #chat-input')]
      .filter((e) => e.checkVisibility())
      .map((e) => {
        const b = box(e);
        const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);
        return { id: e.id || e.textContent.trim(), ...b, onTop: !!hit && (hit === e || e.contains(hit)) };
      });
    return {
      view: grid.dataset.view,
      area: { x: g.x + pad, y: g.y + pad, width: g.width - 2 * pad, height: g.height - 2 * pad },
      tiles: [...grid.querySelectorAll('.tile')].map(box),
      controls,
      viewport: { width: innerWidth, height: innerHeight },
    };
  });
}

const inside = (r, a) => r.x >= a.x - 1 && r.y >= a.y - 1 && r.x + r.width <= a.x + a.width + 1 && r.y + r.height <= a.y + a.height + 1;
const overlap = (a, b) => a.x < b.x + b.width - 1 && b.x < a.x + a.width - 1 && a.y < b.y + b.height - 1 && b.y < a.y + a.height - 1;

function checkControls(m, what) {
  const screen = { x: 0, y: 0, ...m.viewport };
  for (const c of m.controls) {
    assert.ok(inside(c, screen), `${what}: ${c.id} is on screen: ${JSON.stringify(c)}`);
    assert.ok(c.onTop, `${what}: ${c.id} is not covered`);
  }
}

// `view`: the grid for up to six tiles, else the speaker view, unless chosen by hand.
function checkTiles(m, n, what, view = n <= 6 ? 'grid' : 'speaker') {
  assert.equal(m.tiles.length, n, what);
  for (const [i, t] of m.tiles.entries()) {
    assert.ok(t.width > 40, `${what}: tile ${i} has a size: ${JSON.stringify(t)}`);
    assert.ok(inside(t, m.area), `${what}: tile ${i} inside the tile area: ${JSON.stringify({ t, area: m.area })}`);
    assert.ok(Math.abs(t.width / t.height - 16 / 9) < 0.03, `${what}: tile ${i} is 16:9: ${JSON.stringify(t)}`);
    for (const u of m.tiles.slice(i + 1)) assert.ok(!overlap(t, u), `${what}: tiles apart: ${JSON.stringify([t, u])}`);
  }
  assert.equal(m.view, view, what);
  if (view === 'grid') {
    // All the same size, the largest at which n fit, and tight against a side of the area.
    const best = fitGrid(m.area.width, m.area.height, n, GAP);
    for (const t of m.tiles) assert.ok(Math.abs(t.width - best.width) <= 1, `${what}: tile width ${t.width}, best ${best.width}`);
    const cols = new Set(m.tiles.map((t) => Math.round(t.x))).size;
    const rows = new Set(m.tiles.map((t) => Math.round(t.y))).size;
    const usedW = cols * best.width + (cols - 1) * GAP;
    const usedH = rows * best.height + (rows - 1) * GAP;
    assert.ok(m.area.width - usedW < cols + 1 || m.area.height - usedH < 2 * rows + 1, `${what}: the tiles fill the area one way: ${JSON.stringify({ usedW, usedH, area: m.area })}`);
    assert.ok(usedW * usedH > 0.3 * m.area.width * m.area.height, `${what}: tiles cover ${((100 * usedW * usedH) / (m.area.width * m.area.height)).toFixed(0)}% of the area`);
  } else {
    // One large tile and a strip of the others, below it.
    const [stage, ...strip] = [...m.tiles].sort((a, b) => b.width - a.width);
    for (const t of strip) {
      assert.ok(stage.width > 1.8 * t.width, `${what}: the stage is large: ${JSON.stringify({ stage, t })}`);
      assert.ok(t.y >= stage.y + stage.height, `${what}: the strip is below the stage`);
    }
  }
}

test('tiles fill the screen for 1, 2, 4 and 7 people, on a desktop and on a phone, with every control visible', async () => {
  const room = 'layout';
  const page = await openPage(ctx.browser, ctx.server.url, room, 'Ada');
  await page.waitForSelector('.tile.local');
  let joined = 1;
  for (const n of [1, 2, 4, 7]) {
    while (joined < n) await member(ctx.server.url, room, `Member${joined++}`);
    await page.waitForFunction((n) => document.querySelectorAll('.tile').length === n, n);
    for (const [width, height] of [
      [1280, 720],
      [360, 740],
    ]) {
      const what = `${n} people at ${width}x${height}`;
      await page.setViewportSize({ width, height });
      const m = await measure(page);
      checkTiles(m, n, what);
      checkControls(m, what);
      if (width === 360) {
        // On a phone the chat opens over the tiles, its Send button on screen.
        assert.ok(!m.controls.some((c) => c.id === 'send'), `${what}: the chat starts closed`);
        await page.click('#chat-toggle');
        const open = await measure(page);
        assert.ok(open.controls.some((c) => c.id === 'send'), `${what}: the chat opened`);
        checkControls(open, `${what}, chat open`);
        await page.click('#chat-close');
      } else {
        assert.ok(m.controls.some((c) => c.id === 'send'), `${what}: the chat is open beside the tiles`);
      }
    }
  }
  // The speaker view by hand, and back to the tiles at seven.
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.click('#layout-toggle'); // auto -> tiles
  checkTiles(await measure(page), 7, 'seven in tiles by hand', 'grid');
  await page.click('#layout-toggle'); // tiles -> speaker
  checkTiles(await measure(page), 7, 'seven in the speaker view by hand', 'speaker');
  await page.click('#layout-toggle'); // back to auto
  // Hiding the chat gives its width to the tiles.
  const before = await measure(page);
  await page.click('#chat-toggle');
  const wider = await measure(page);
  assert.ok(wider.area.width > before.area.width + 250, JSON.stringify([before.area, wider.area]));
  // Messages that come while it is hidden are counted on its button, until it opens.
  await new Promise((resolve) => members[0].emit('chat', { text: 'hello' }, resolve));
  await page.waitForFunction(() => !document.querySelector('#unread').hidden && document.querySelector('#unread').textContent === '1');
  await page.click('#chat-toggle');
  assert.equal(await page.isVisible('#unread'), false);
  assert.equal(await page.locator('#messages li .text').last().textContent(), 'hello');
});
