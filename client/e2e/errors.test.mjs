// Clear errors, never a blank page: a refused camera joins to watch and listen, and a full
// room shows the server's message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, waitForRemoteVideos } from './helpers.mjs';

const ctx = serverAndBrowser(['--max-room-size', '2']);

test('a refused camera joins to watch and listen, and a full room says so', async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'small', 'Ada');
  const viewer = await openPage(ctx.browser, ctx.server.url, 'small', 'Vic', { refuseMedia: true });
  // The viewer is in the call, sees Ada's video, and is told why it sends nothing.
  await waitForRemoteVideos(viewer, 1);
  assert.match(await viewer.locator('#notice').textContent(), /refused.*watch and listen/);
  const vicId = await viewer.evaluate(() => window.app.me);
  await a.locator(`.tile[data-peer-id="${vicId}"] .placeholder`).waitFor({ state: 'visible' });

  // A third person: the room holds two.
  const late = await openPage(ctx.browser, ctx.server.url, 'small', 'Late');
  await late.locator('#landing-error').waitFor({ state: 'visible' });
  assert.match(await late.locator('#landing-error').textContent(), /room small is full/);
  assert.equal(await late.locator('#call').isHidden(), true);
  for (const p of [a, viewer, late]) await p.context().close();
});

test('a participant removed by an administrator is told why and does not rejoin', async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'kick', 'Ada');
  await a.locator('#call').waitFor({ state: 'visible' });
  const id = await a.evaluate(() => window.app.me);
  await ctx.server.remove('kick', id);
  await a.waitForFunction(() => document.querySelector('#status').dataset.status === 'removed');
  assert.match(await a.locator('#notice').textContent(), /removed from the room: an administrator/);
  // No automatic rejoin: the server has no such room a moment later.
  await a.waitForTimeout(2000);
  await assert.rejects(ctx.server.room('kick'), /404/);
  await a.context().close();
});
