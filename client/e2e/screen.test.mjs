// Screen sharing: the shared screen replaces the camera at the others, through the SFU, and
// stopping the share brings the camera back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, waitForRemoteVideos } from './helpers.mjs';

const ctx = serverAndBrowser(['--p2p', 'off']);

// The size of the video B shows for A.
const shownSize = (page, id) =>
  page.$eval(`.tile[data-peer-id="${id}"] video.active`, (v) => [v.videoWidth, v.videoHeight]);

test('a shared screen replaces the camera at the others, and stopping brings it back', async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'screen', 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, 'screen', 'Bob');
  await waitForRemoteVideos(b, 1);
  const aId = await a.evaluate(() => window.app.me);
  // The camera at low quality is 320x240; headless Chromium's screen is 1280x720.
  const [camWidth] = await shownSize(b, aId);
  assert.ok(camWidth > 0 && camWidth <= 320, `camera width ${camWidth}`);

  await a.locator('#screen').click();
  await a.waitForFunction(() => document.querySelector('#screen').getAttribute('aria-pressed') === 'true');
  await b.waitForFunction(
    (id) => document.querySelector(`.tile[data-peer-id="${id}"] video.active`)?.videoWidth > 320,
    aId,
    { timeout: 15000 },
  );
  await waitForRemoteVideos(b, 1);

  await a.locator('#screen').click();
  await b.waitForFunction(
    (id) => {
      const w = document.querySelector(`.tile[data-peer-id="${id}"] video.active`)?.videoWidth;
      return w > 0 && w <= 320;
    },
    aId,
    { timeout: 15000 },
  );
  await waitForRemoteVideos(b, 1);
  for (const p of [a, b]) await p.context().close();
});

test('a shared screen takes the stage of the speaker view, and leaving stops the share', async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'screen-stage', 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, 'screen-stage', 'Bob');
  await waitForRemoteVideos(b, 1);
  const aId = await a.evaluate(() => window.app.me);
  await b.evaluate(() => document.querySelector('#grid').dataset.view).then((v) => assert.equal(v, 'grid'));
  await a.locator('#screen').click();
  // Bob's page turns to the speaker view by itself, with Ada's screen the large tile.
  await b.waitForFunction(
    (id) => document.querySelector('#grid').dataset.view === 'speaker' && document.querySelector('.tile.stage')?.dataset.peerId === id,
    aId,
  );
  // Ada leaves while sharing: the capture stops, and the page is ready to join again.
  const screen = await a.evaluateHandle(() => window.app.screen);
  await a.locator('#leave').click();
  await a.waitForFunction(() => !document.querySelector('#landing').hidden);
  assert.equal(await screen.evaluate((t) => t.readyState), 'ended');
  assert.equal(await a.evaluate(() => window.app.screen), null);
  assert.equal(await a.getAttribute('#screen', 'aria-pressed'), 'false');
  // And Bob's page goes back to the tiles.
  await b.waitForFunction(() => document.querySelectorAll('.tile').length === 1 && document.querySelector('#grid').dataset.view === 'grid');
  for (const p of [a, b]) await p.context().close();
});
