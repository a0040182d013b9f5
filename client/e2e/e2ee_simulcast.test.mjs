// Simulcast under end-to-end encryption: the SFU cannot read the frames, yet it still sees
// which are key frames (their VP8 frame tag stays in the clear), so it still switches each
// page to the layer its tile needs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, newPage, joinFullQuality, waitForRemoteVideos, sleep } from './helpers.mjs';

const ctx = serverAndBrowser(['--p2p', 'off']);

async function join(name) {
  const page = await newPage(ctx.browser, name);
  await joinFullQuality(page, ctx.server.url, 'sealed-layers', name, { hash: 'e2ee=layers%20of%20secrets' });
  return page;
}

// The only remote video's last decoded width.
const width = (page) =>
  page.evaluate(async () => {
    const stats = await window.app.sfu.pc.getStats();
    return [...stats.values()].find((s) => s.type === 'inbound-rtp' && s.kind === 'video')?.frameWidth ?? 0;
  });

const tile = (page, style) =>
  page.evaluate((style) => Object.assign(document.querySelector('.tile.remote').style, style), style);

async function waitForWidth(page, what, ok) {
  const deadline = Date.now() + 30000;
  let w = 0;
  while (Date.now() < deadline) {
    w = await width(page);
    if (ok(w)) return w;
    await sleep(500);
  }
  assert.fail(`${what}: last width ${w}`);
}

test('with E2EE on, each page still gets the simulcast layer its tile needs, and switches', async () => {
  const a = await join('Ada');
  const b = await join('Bob');
  for (const p of [a, b]) await waitForRemoteVideos(p, 1, 45000);
  for (const p of [a, b]) assert.equal(await p.evaluate(() => !document.querySelector('#e2ee').hidden), true);

  await tile(b, { width: '160px', height: '90px' });
  await tile(a, { width: '1280px', height: '720px' });
  const small = await waitForWidth(b, 'a small tile gets at most 320 pixels', (w) => w > 0 && w <= 320);
  const large = await waitForWidth(a, 'a large tile gets 640 pixels or more', (w) => w >= 640);
  // Bob's tile grows: the SFU switches him up, at a key frame it can still find.
  await tile(b, { width: '1280px', height: '720px' });
  const grown = await waitForWidth(b, 'the grown tile gets a larger layer', (w) => w >= 640);
  console.log(`E2EE simulcast widths: small ${small}, large ${large}, after growing ${grown}`);
  const decrypted = await b.evaluate(() => [...window.app.peers.values()][0].decrypted);
  assert.ok(decrypted > 100, `Bob opened Ada's frames: ${decrypted}`);
  for (const p of [a, b]) await p.context().close();
});
