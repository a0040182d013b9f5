// Firefox beside Chromium: the driver itself can see Firefox decode video, and a room with
// a Firefox member publishing simulcast works through the SFU, moves to P2P when it is down
// to two, and back to the SFU when a third joins, each page decoding every other's video.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowsers, openPage, openFirefoxPage, waitForRemoteVideos, mode, paths, waitFor } from './helpers.mjs';

const ctx = serverAndBrowsers(['--hold-down-secs', '2']);

// Waits for every page to decode `n` remote videos; on failure, says what the SFU holds.
async function allDecoding(pages, n, room) {
  try {
    for (const p of pages) await waitForRemoteVideos(p, n, 45000);
  } catch (e) {
    const r = await ctx.server.room(room);
    const subs = r.participants.map((p) => ({
      id: p.id,
      state: p.transport.state,
      bwe: p.transport.bandwidth_estimate_bps,
      published: p.published.map((t) => ({ kind: t.kind, packets: t.packets, layers: t.layers.map((l) => [l.rid, l.active, l.bitrate_bps]) })),
      subscribed: p.subscribed.map((t) => ({ from: t.publisher_id, kind: t.kind, packets: t.packets, layer: t.layer, target: t.target_layer, dropped: t.dropped })),
    }));
    throw new Error(`${e.message}\nSFU: ${JSON.stringify({ mode: r.mode, subs })}`);
  }
}

test('the driver sees Firefox decode video between two peer connections on loopback', async () => {
  const { server, firefox } = ctx;
  const page = await firefox.newPage();
  await page.goto(`${server.url}/healthz`);
  const decoded = await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ video: true });
    const a = new RTCPeerConnection();
    const b = new RTCPeerConnection();
    a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
    b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
    for (const t of stream.getTracks()) a.addTrack(t, stream);
    await a.setLocalDescription();
    await b.setRemoteDescription(a.localDescription);
    await b.setLocalDescription();
    await a.setRemoteDescription(b.localDescription);
    const deadline = performance.now() + 15000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 250));
      let frames = 0;
      for (const s of (await b.getStats()).values()) {
        if (s.type === 'inbound-rtp' && s.kind === 'video') frames = s.framesDecoded ?? 0;
      }
      if (frames > 10 || performance.now() > deadline) {
        a.close();
        b.close();
        return frames;
      }
    }
  });
  assert.ok(decoded > 10, `Firefox decoded ${decoded} frames`);
  await page.close();
});

test('a Firefox simulcast publisher with Chromium pages: SFU, down to P2P, and back', async () => {
  const { server, chromium, firefox } = ctx;
  const room = 'mixed';
  // Firefox at full quality: it publishes its camera as three rid layers in the SFU mode.
  const fox = await openFirefoxPage(firefox, server.url, room, 'Fox', { full: true });
  const chr = await openPage(chromium, server.url, room, 'Chr');
  const extra = await openPage(chromium, server.url, room, 'Extra');
  await allDecoding([fox, chr, extra], 2, room);
  assert.equal(await mode(fox), 'sfu');

  // The server received Firefox's video as rid layers, and forwards it.
  const foxId = await fox.evaluate(() => window.app.me);
  await waitFor('Firefox simulcast layers at the SFU', async () => {
    const r = await server.room(room);
    const video = r.participants.find((p) => p.id === foxId)?.published.find((t) => t.kind === 'video');
    const layers = video?.layers ?? [];
    // Firefox drops its upper layers when the machine is busy (CI): two rid layers known to
    // the SFU, one of them flowing, show that its simulcast is understood.
    return (layers.length >= 2 && layers.every((l) => l.rid) && layers.some((l) => l.active)) || layers;
  });
  for (const p of [chr, extra]) assert.equal((await paths(p))[foxId], 'sfu');

  // Down to two: after the hold-down the room returns to P2P, Firefox to Chromium.
  await extra.context().close();
  await waitFor('P2P on both pages', async () => (await mode(fox)) === 'p2p' && (await mode(chr)) === 'p2p');
  const chrId = await chr.evaluate(() => window.app.me);
  await waitFor('both pages playing the P2P video', async () => {
    const [f, c] = [await paths(fox), await paths(chr)];
    return (f[chrId] === 'p2p' && c[foxId] === 'p2p') || { f, c };
  });
  for (const p of [fox, chr]) await waitForRemoteVideos(p, 1, 20000);
  assert.equal((await server.room(room)).mode, 'p2p');

  // A third member: back to the SFU, everyone decoding everyone.
  const third = await openPage(chromium, server.url, room, 'Third');
  await allDecoding([fox, chr, third], 2, room);
  assert.equal(await mode(fox), 'sfu');
  await waitFor('every tile on the SFU path', async () => {
    const all = [await paths(fox), await paths(chr), await paths(third)];
    return all.every((m) => Object.values(m).every((v) => v === 'sfu')) || all;
  });
  await third.context().close();
  await chr.context().close();
  await fox.close();
});
