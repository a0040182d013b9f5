// The SFU's own send path, as Chromium sees it: its sender reports give each forwarded stream
// a `remote-outbound-rtp` whose packet count is what the server says it sent, and Chromium's
// transport-wide feedback about those packets reaches the server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, waitForRemoteVideos, sleep } from './helpers.mjs';

const ctx = serverAndBrowser(['--p2p', 'off']);

// Per kind: what the page's sender reports said (`remote-outbound-rtp`), and what it received.
const remoteOutbound = (page) =>
  page.evaluate(async () => {
    const stats = [...(await window.app.sfu.pc.getStats()).values()];
    const byId = new Map(stats.map((s) => [s.id, s]));
    const out = {};
    for (const s of stats.filter((s) => s.type === 'remote-outbound-rtp')) {
      const inbound = byId.get(s.localId);
      out[inbound.kind] = { sent: s.packetsSent, reports: s.reportsSent, received: inbound.packetsReceived };
    }
    return out;
  });

test("a subscriber's remote-outbound-rtp counts what the SFU sent it", async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'reports', 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, 'reports', 'Bob');
  await waitForRemoteVideos(b, 1);
  await sleep(4000);
  // Ada stops sending, so that the server's count and Bob's reports stop moving; two report
  // intervals later Bob holds the last report of each stream.
  await a.evaluate(async () => {
    for (const s of window.app.sfu.pc.getSenders()) await s.replaceTrack(null);
  });
  await sleep(2500);

  const aId = await a.evaluate(() => window.app.me);
  const bId = await b.evaluate(() => window.app.me);
  const room = await ctx.server.room('reports');
  const ada = room.participants.find((p) => p.id === aId);
  const bob = room.participants.find((p) => p.id === bId);
  const kindOf = new Map(ada.published.map((t) => [t.track_id, t.kind]));
  const sentTo = Object.fromEntries(bob.subscribed.map((s) => [kindOf.get(s.track_id), s.packets]));
  const seen = await remoteOutbound(b);
  console.log('SFU sent', JSON.stringify(sentTo), 'Chromium', JSON.stringify(seen));

  for (const kind of ['audio', 'video']) {
    assert.ok(seen[kind], `a remote-outbound-rtp for ${kind}: ${JSON.stringify(seen)}`);
    assert.ok(seen[kind].reports >= 3, `${kind}: ${seen[kind].reports} reports`);
    const sent = sentTo[kind];
    assert.ok(sent > 30, `${kind}: the SFU sent ${sent}`);
    const off = Math.abs(seen[kind].sent - sent) / sent;
    assert.ok(off <= 0.05, `${kind}: reports say ${seen[kind].sent}, the SFU sent ${sent}`);
  }
  // Chromium's transport-wide feedback about what it received reached the server.
  const fb = bob.transport.feedback;
  assert.ok(fb && fb.feedbacks > 10 && fb.reported_received > 100, JSON.stringify(fb));
  await a.context().close();
  await b.context().close();
});
