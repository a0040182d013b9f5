// Simulcast in real Chromium: with P2P off, two pages are an SFU call. Each page publishes
// its camera as three encodings (rids q, h and f). The SFU sends each page the layer its
// tile of the other needs: a small tile gets at most 320 pixels of width, a large one 640 or
// more; a hidden tile gets no video at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, newPage, joinFullQuality, waitForRemoteVideos, sleep } from './helpers.mjs';

const ctx = serverAndBrowser(['--p2p', 'off']);

// Full quality (no `quality=low`), as a real call.
async function join(name) {
  const page = await newPage(ctx.browser, name);
  await joinFullQuality(page, ctx.server.url, 'simulcast', name);
  return page;
}

// The page's RTP stats of one kind ('outbound-rtp' or 'inbound-rtp'), for video.
const rtp = (page, type) =>
  page.evaluate(async (type) => {
    const stats = await window.app.sfu.pc.getStats();
    return [...stats.values()]
      .filter((s) => s.type === type && s.kind === 'video')
      .map((s) => ({
        rid: s.rid,
        frameWidth: s.frameWidth,
        frames: s.framesDecoded,
        packets: s.packetsReceived ?? s.packetsSent,
      }));
  }, type);

// The only remote video's width, as last decoded, and its packets.
async function received(page) {
  const inbound = await rtp(page, 'inbound-rtp');
  assert.equal(inbound.length, 1, JSON.stringify(inbound));
  return inbound[0];
}

// Sets the size of the page's tile of the other member, or hides it.
const tile = (page, style) =>
  page.evaluate((style) => Object.assign(document.querySelector('.tile.remote').style, style), style);

async function waitFor(what, cond, timeout = 20000) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await cond();
    if (last.ok) return last;
    await sleep(500);
  }
  assert.fail(`${what}: ${JSON.stringify(last)}`);
}

test('three encodings go up, and each page gets the layer its tile needs', async () => {
  const a = await join('Ada');
  const b = await join('Bob');
  await waitForRemoteVideos(a, 1, 30000);
  await waitForRemoteVideos(b, 1, 30000);

  for (const page of [a, b]) {
    const out = await waitFor('three encodings sent', async () => {
      const rids = (await rtp(page, 'outbound-rtp')).map((s) => s.rid).sort();
      return { ok: rids.join() === 'f,h,q', rids };
    });
    console.log('outbound encodings:', out.rids.join(', '));
  }

  // Bob shows Ada small, Ada shows Bob large.
  await tile(b, { width: '160px', height: '90px' });
  await tile(a, { width: '1280px', height: '720px' });
  const small = await waitFor('a small tile gets at most 320 pixels', async () => {
    const r = await received(b);
    return { ok: r.frameWidth > 0 && r.frameWidth <= 320, ...r };
  });
  const large = await waitFor('a large tile gets 640 pixels or more', async () => {
    const r = await received(a);
    return { ok: r.frameWidth >= 640, ...r };
  });
  console.log(`frame widths: small tile ${small.frameWidth}, large tile ${large.frameWidth}`);

  // Bob's tile grows: the SFU moves him to a larger layer of the same stream, which his
  // decoder goes on decoding (continuous sequence numbers, timestamps and picture ids).
  await tile(b, { width: '1280px', height: '720px' });
  const grown = await waitFor('a grown tile gets 640 pixels or more', async () => {
    const r = await received(b);
    return { ok: r.frameWidth >= 640, ...r };
  });
  await sleep(1000);
  const decoding = await received(b);
  assert.ok(decoding.frames > grown.frames + 3, `frames decoded after the switch: ${JSON.stringify(decoding)}`);
  console.log(`after growing the tile: ${grown.frameWidth} wide`);

  // Bob hides Ada's tile: once the report has settled, not one video packet reaches him.
  await tile(b, { display: 'none' });
  await sleep(1500);
  const before = await received(b);
  await sleep(2500);
  const after = await received(b);
  assert.equal(after.packets, before.packets, 'a hidden tile receives no video packets');
  // Ada, who shows Bob, goes on receiving.
  const adaBefore = await received(a);
  await sleep(1000);
  assert.ok((await received(a)).packets > adaBefore.packets + 5);
});
