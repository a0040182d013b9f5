// The move between P2P and the SFU at full quality: two pages talk P2P on one encoding each;
// a third moves the call to the SFU, where each page publishes three simulcast layers; then
// it leaves, and the two go back to P2P, their simulcast layers paused again. Neither move
// stalls a remote video for more than a second. (The way back used to stall for 2.8 s: the
// renegotiation after the leave unbound the layers' SSRCs on the server, and a browser names
// a layer by its rid only in its first packets.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, newPage, joinFullQuality, waitForRemoteVideos, watchStalls } from './helpers.mjs';

const ctx = serverAndBrowser(['--hold-down-secs', '2']);

// The video encodings the page sends through its SFU session, and how many are active.
const sfuEncodings = (page) =>
  page.evaluate(() => {
    const sender = window.app.sfu.pc.getSenders().find((s) => s.track?.kind === 'video');
    const encodings = sender?.getParameters().encodings ?? [];
    return { rids: encodings.map((e) => e.rid ?? '').join(','), active: encodings.filter((e) => e.active).length };
  });

const waitMode = (page, mode) =>
  page.waitForFunction((m) => document.querySelector('#mode').dataset.mode === m, mode, { timeout: 15000 });

test('simulcast pages move to the SFU and back without a stall', async () => {
  const pages = [];
  for (const name of ['Ada', 'Bob']) {
    const page = await newPage(ctx.browser, name);
    await joinFullQuality(page, ctx.server.url, 'switch', name);
    pages.push(page);
  }
  const [a, b] = pages;
  for (const p of pages) await waitForRemoteVideos(p, 1, 30000);
  // P2P: the SFU encodings are there, paused.
  assert.deepEqual(await sfuEncodings(a), { rids: 'q,h,f', active: 0 });

  const c = await newPage(ctx.browser, 'Cat');
  await a.waitForTimeout(1000);
  let stops = [await watchStalls(a), await watchStalls(b)];
  await joinFullQuality(c, ctx.server.url, 'switch', 'Cat');
  for (const p of [a, b, c]) await waitForRemoteVideos(p, 2, 40000);
  for (const p of [a, b]) await waitMode(p, 'sfu');
  await a.waitForTimeout(3000);
  let stalls = [await stops[0](), await stops[1]()];
  console.log(`to the SFU: longest stall Ada ${stalls[0]} ms, Bob ${stalls[1]} ms`);
  assert.ok(stalls.every((s) => s <= 1000), `stalls: ${stalls}`);
  assert.deepEqual(await sfuEncodings(a), { rids: 'q,h,f', active: 3 });

  // Cat leaves; once its tile is gone, and until after the hold-down the two are back to
  // P2P, the remaining videos play on.
  const cat = await c.evaluate(() => window.app.me);
  await c.close();
  for (const p of [a, b]) await p.waitForSelector(`.tile[data-peer-id="${cat}"]`, { state: 'detached', timeout: 5000 });
  stops = [await watchStalls(a), await watchStalls(b)];
  for (const p of [a, b]) await waitMode(p, 'p2p');
  await a.waitForTimeout(3000);
  stalls = [await stops[0](), await stops[1]()];
  console.log(`back to P2P: longest stall Ada ${stalls[0]} ms, Bob ${stalls[1]} ms`);
  for (const p of [a, b]) await waitForRemoteVideos(p, 1);
  assert.ok(stalls.every((s) => s <= 1000), `stalls: ${stalls}`);
  assert.equal((await sfuEncodings(a)).active, 0, 'the SFU encodings are paused again');
});
