// The page's SFU session heals itself: an answer the server refuses, an offer that never
// arrives, and a session that keeps failing are each recovered from, and the member sees and
// is seen by everyone again. Before, one refused answer left the member blind to every later
// newcomer for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, waitForRemoteVideos } from './helpers.mjs';

// Every room is an SFU call, so that two pages already exercise the SFU session.
const ctx = serverAndBrowser(['--p2p', 'off']);

const sfu = (page) => page.evaluate(() => ({ restarts: window.app.sfu.restarts, renegotiations: window.app.sfu.renegotiations }));

test('a refused answer, a lost offer and repeated failures are each recovered from', async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'heal', 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, 'heal', 'Bob');
  await waitForRemoteVideos(a, 1, 30000);
  await waitForRemoteVideos(b, 1, 30000);

  // 1. Ada's answer to the offer of Cat's tracks is refused (it is no SDP): the server
  // offers again by itself (the page leaves that to it), and Ada sees Cat.
  await a.evaluate(() => {
    window.app.sfu.test.spoilSdp = 1;
  });
  const first = await sfu(a);
  const c = await openPage(ctx.browser, ctx.server.url, 'heal', 'Cat');
  await waitForRemoteVideos(a, 2, 30000);
  assert.equal(await a.evaluate(() => window.app.sfu.test.spoilSdp), 0, 'an answer was spoiled');
  assert.equal((await sfu(a)).renegotiations, first.renegotiations, 'the server made the fresh offer');
  await c.context().close();
  await waitForRemoteVideos(a, 1, 30000);

  // 2. The server's offer of Dan's tracks never reaches Ada's session (dropped in the page):
  // Ada misses Dan's media, renegotiates by herself, and sees him.
  await a.evaluate(() => {
    window.app.sfu.test.dropOffers = 1;
  });
  const before = await sfu(a);
  const d = await openPage(ctx.browser, ctx.server.url, 'heal', 'Dan');
  await waitForRemoteVideos(a, 2, 30000);
  assert.equal(await a.evaluate(() => window.app.sfu.test.dropOffers), 0, 'an offer was dropped');
  assert.ok((await sfu(a)).renegotiations > before.renegotiations, 'Ada renegotiated by herself');

  // 3. Ada's session keeps failing (three offers in a row refused): she replaces it with a
  // new one, and everyone sees everyone again.
  await a.evaluate(() => {
    window.app.sfu.test.spoilSdp = 3;
    window.app.sfu.renegotiate();
  });
  await a.waitForFunction(() => window.app.sfu.restarts === 1, null, { timeout: 20000 });
  for (const p of [a, b, d]) await waitForRemoteVideos(p, 2, 30000);
  const room = await ctx.server.room('heal');
  const adaId = await a.evaluate(() => window.app.me);
  const ada = room.participants.find((p) => p.id === adaId);
  assert.deepEqual(ada.published.map((t) => t.kind).sort(), ['audio', 'video'], 'Ada publishes again');
  for (const p of [a, b, d]) await p.context().close();
});
