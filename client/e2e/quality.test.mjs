// The call quality mark on each tile, from what the page receives: it turns "poor" when a
// fifth of one member's packets are lost on their way to the SFU (a UDP shim on that path),
// at the pages that receive that member and only for that member's tile, and comes back
// when the loss stops. The details panel shows what is received, and by which path.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launch, openPage, newPage, waitForRemoteVideos, mode } from './helpers.mjs';
import { udpShim, freeShimPort, pageSfuAddress } from './udp_shim.mjs';

let server;
let browser;
let shim;
before(async () => {
  // The server binds 127.0.0.1:P and tells pages to send to 127.0.0.2:P, where the shim is.
  const port = await freeShimPort();
  server = await startServer(['--workers', '1', '--announce-ip', '127.0.0.2'], { udp: `127.0.0.1:${port}` });
  shim = await udpShim({ listen: { address: '127.0.0.2', port }, upstream: { address: '127.0.0.1', port } });
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await server?.stop();
  shim?.close();
});

// The quality mark on the tile of `name`, at `page`.
const markOf = (page, name) =>
  page.evaluate(
    (name) =>
      [...document.querySelectorAll('.tile.remote')].find((t) => t.querySelector('.name').textContent === name)?.querySelector('.quality')
        ?.dataset.quality,
    name,
  );

async function waitForMark(page, name, want, timeout = 15000) {
  const deadline = Date.now() + timeout;
  let got;
  while (Date.now() < deadline) {
    got = await markOf(page, name);
    if (want(got)) return got;
    await page.waitForTimeout(500);
  }
  const figures = await page.evaluate(() => JSON.stringify([...window.app.quality.latest.values()]));
  throw new Error(`${name}'s mark stayed ${got}; figures: ${figures}`);
}

test("a fifth of one member's packets lost on the way to the SFU marks that member poor", async () => {
  const room = 'quality';
  const a = await openPage(browser, server.url, room, 'Ada');
  const b = await openPage(browser, server.url, room, 'Bob');
  await waitForRemoteVideos(b, 1);
  // A third member, watching only, moves the room to the SFU, through the shim.
  const c = await newPage(browser, 'Cat', { refuseMedia: true });
  await c.goto(`${server.url}/?room=${room}&name=Cat&quality=low`);
  await b.waitForFunction(() => [...window.app.peers.values()].every((p) => !p.link));
  assert.equal(await mode(b), 'sfu');
  // The details panel at Bob's: Ada's video as received, once its figures are the SFU's.
  await b.click('#stats-toggle');
  const adaRow = () =>
    b.evaluate(() =>
      [...document.querySelectorAll('#stats-table tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)).find((r) => r[0] === 'Ada'),
    );
  await b.waitForFunction(() =>
    [...document.querySelectorAll('#stats-table tbody tr')].some((tr) => tr.cells[0].textContent === 'Ada' && tr.cells[5].textContent === 'SFU' && /kbit/.test(tr.cells[3].textContent)),
  );
  const row = await adaRow();
  const [, level, video, bitrate, codec, path, loss, rtt] = row;
  assert.ok(['good', 'fair'].includes(level), JSON.stringify(row));
  assert.match(video, /^\d+x\d+ @ \d+ fps$/, JSON.stringify(row));
  assert.match(bitrate, /^\d+ kbit\/s$/, JSON.stringify(row));
  assert.match(codec, /^(VP8|VP9|H264|AV1)$/i, JSON.stringify(row));
  assert.equal(path, 'SFU');
  assert.match(loss, /^\d+\.\d%$/, JSON.stringify(row));
  assert.match(rtt, /^\d+ ms$/, JSON.stringify(row));
  const clean = (m) => m === 'good' || m === 'fair';
  await waitForMark(b, 'Ada', clean);
  await waitForMark(a, 'Bob', clean);

  // Ada's uplink loses a fifth of her media packets: her tile turns poor at Bob's and Cat's,
  // while Bob's tile at Ada's, whose packets all arrive, does not.
  const ada = await pageSfuAddress(a);
  assert.ok(shim.clients().includes(ada), `the shim relays Ada (${ada}): ${shim.clients()}`);
  const start = shim.stats(ada);
  shim.drop(ada, 0.2);
  await waitForMark(b, 'Ada', (m) => m === 'poor');
  await waitForMark(c, 'Ada', (m) => m === 'poor');
  assert.ok(clean(await markOf(a, 'Bob')), "Bob's packets all arrive");
  const now = shim.stats(ada);
  const [dropped, relayed] = [now.dropped - start.dropped, now.relayed - start.relayed];
  assert.ok(dropped > 0.1 * (dropped + relayed), JSON.stringify({ dropped, relayed }));
  // The loss stops: the mark comes back.
  shim.drop(ada, 0);
  await waitForMark(b, 'Ada', clean);
  for (const p of [a, b, c]) await p.context().close();
});
