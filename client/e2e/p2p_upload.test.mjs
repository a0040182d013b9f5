// A peer-to-peer call sends nothing to the server: neither Chromium nor Firefox uploads its
// camera or microphone to the SFU while the room is P2P. Firefox ignores an encoding's
// `active: false` for audio, and used to send its microphone to the server, about 50 packets
// a second, during what the product calls a peer-to-peer call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowsers, openPage, openFirefoxPage, waitForRemoteVideos, mode } from './helpers.mjs';

const ctx = serverAndBrowsers(['--hold-down-secs', '2']);

// RTP packets the server received from each member's SFU session, by participant id.
async function uploads(room) {
  const r = await ctx.server.room(room);
  return Object.fromEntries(r.participants.map((p) => [p.id, p.published.reduce((n, t) => n + t.packets, 0)]));
}

test('a Firefox and a Chromium page in P2P upload nothing to the server', async () => {
  const { server, chromium, firefox } = ctx;
  const fox = await openFirefoxPage(firefox, server.url, 'p2p-up', 'Fox');
  const chr = await openPage(chromium, server.url, 'p2p-up', 'Chr');
  await waitForRemoteVideos(chr, 1, 30000);
  await waitForRemoteVideos(fox, 1, 30000);
  assert.equal(await mode(chr), 'p2p');
  // Both SFU sessions are connected and idle: watch the server's counters for a while.
  await chr.waitForTimeout(3000);
  const before = await uploads('p2p-up');
  await chr.waitForTimeout(3000);
  const after = await uploads('p2p-up');
  const room = await server.room('p2p-up');
  assert.equal(room.mode, 'p2p');
  assert.equal(room.participants.length, 2);
  assert.ok(room.participants.every((p) => p.transport.state === 'connected'), `both SFU sessions are up: ${JSON.stringify(room.participants)}`);
  assert.deepEqual(after, Object.fromEntries(Object.keys(after).map((id) => [id, 0])), `RTP reached the server in P2P: ${JSON.stringify({ before, after })}`);
  assert.equal(room.totals.packets_in, 0, JSON.stringify(room.totals));

  // A third member moves the call to the SFU: now both upload their audio and video.
  const third = await openPage(chromium, server.url, 'p2p-up', 'Third');
  for (const p of [chr, third]) await waitForRemoteVideos(p, 2, 30000);
  await waitForRemoteVideos(fox, 2, 30000);
  const sfu = await server.room('p2p-up');
  assert.equal(sfu.mode, 'sfu');
  const foxId = await fox.evaluate(() => window.app.me);
  const foxTracks = sfu.participants.find((p) => p.id === foxId).published;
  assert.deepEqual(foxTracks.map((t) => t.kind).sort(), ['audio', 'video'], JSON.stringify(foxTracks));
  assert.ok(foxTracks.every((t) => t.packets > 0), `Firefox publishes through the SFU: ${JSON.stringify(foxTracks)}`);
  await third.context().close();
  await chr.context().close();
  await fox.close();
});
