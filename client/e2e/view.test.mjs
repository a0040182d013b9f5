// What a member shows decides what the SFU sends it: in a call of three Chromium pages, one
// page hides another member's tile, and the server stops sending it that member's video
// (not the third member's, and not to anyone else); shown again, the video comes back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, waitForRemoteVideos } from './helpers.mjs';

const ctx = serverAndBrowser(['--p2p', 'off']);

const myId = (page) => page.evaluate(() => window.app.me);

// Video packets the SFU sent `to` of `from`, and how many it held back as not visible.
async function sent(to, from) {
  const room = await ctx.server.room('view');
  const me = room.participants.find((p) => p.id === to);
  const subs = me.subscribed.filter((s) => s.publisher_id === from && s.kind === 'video');
  assert.equal(subs.length, 1, JSON.stringify(me.subscribed));
  return {
    packets: subs.reduce((n, s) => n + s.packets, 0),
    hidden: subs.reduce((n, s) => n + (s.dropped?.not_visible ?? 0), 0),
  };
}

const setShown = (page, peer, shown) =>
  page.evaluate(
    ({ peer, shown }) => {
      document.querySelector(`.tile[data-peer-id="${peer}"]`).style.display = shown ? '' : 'none';
    },
    { peer, shown },
  );

test('a hidden tile is sent no video, and a shown one gets it back', async () => {
  const pages = [];
  for (const name of ['Ada', 'Bob', 'Cat']) pages.push(await openPage(ctx.browser, ctx.server.url, 'view', name));
  for (const p of pages) await waitForRemoteVideos(p, 2);
  const [a, b, c] = pages;
  const [ada, bob, cat] = [await myId(a), await myId(b), await myId(c)];

  // Ada hides Bob's tile; after the report settles, nothing of Bob's video reaches her.
  await setShown(a, bob, false);
  await a.waitForTimeout(1500);
  const [adaBob, adaCat, catBob] = [await sent(ada, bob), await sent(ada, cat), await sent(cat, bob)];
  await a.waitForTimeout(2000);
  const later = [await sent(ada, bob), await sent(ada, cat), await sent(cat, bob)];
  assert.equal(later[0].packets, adaBob.packets, 'Ada gets no video of Bob');
  assert.ok(later[0].hidden > adaBob.hidden + 10, 'held back as not visible');
  assert.ok(later[1].packets > adaCat.packets + 10, 'Ada still gets Cat');
  assert.ok(later[2].packets > catBob.packets + 10, 'Cat still gets Bob');

  // Shown again: Bob's video reaches Ada again, and her page decodes it.
  await setShown(a, bob, true);
  await a.waitForTimeout(2500);
  const back = await sent(ada, bob);
  await a.waitForTimeout(2000);
  const backLater = await sent(ada, bob);
  assert.equal(backLater.hidden, back.hidden, 'nothing held back once shown');
  assert.ok(backLater.packets > back.packets + 10, `${backLater.packets - back.packets} packets in 2 s`);
});
