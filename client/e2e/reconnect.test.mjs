// The server goes away: pages say "reconnecting…", retry with backoff, and rejoin the same
// room by themselves when it is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, serverAndBrowser, openPage, waitForRemoteVideos } from './helpers.mjs';

// A fixed port inside the test's own network namespace, so the restart can reuse it.
const http = `127.0.0.1:${20000 + Math.floor(Math.random() * 20000)}`;
const ctx = serverAndBrowser([], { http });

test('pages rejoin the same room after the server restarts', async () => {
  const { browser } = ctx;
  const a = await openPage(browser, ctx.server.url, 'again', 'Ada');
  const b = await openPage(browser, ctx.server.url, 'again', 'Bob');
  await waitForRemoteVideos(a, 1);

  await ctx.server.stop();
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelector('#status').dataset.status === 'reconnecting');
    assert.equal(await p.locator('#status').textContent(), 'reconnecting…');
    // A banner says what is going on, and counts the attempts.
    await p.waitForFunction(() => /^Connection to the server lost\. Reconnecting… \(attempt \d+\)$/.test(document.querySelector('#notice').textContent));
    assert.equal(await p.locator('#notice').isVisible(), true);
  }
  ctx.server = await startServer([], { http });
  for (const p of [a, b]) {
    await p.waitForFunction(() => document.querySelector('#status').dataset.status === 'connected', null, { timeout: 15000 });
  }
  // Both are back in the room, seeing each other again.
  await waitForRemoteVideos(a, 1, 30000);
  await waitForRemoteVideos(b, 1, 30000);
  assert.equal(await a.locator('#room-label').textContent(), 'Room again');
  // Back in the room, the banner has gone.
  for (const p of [a, b]) assert.equal(await p.locator('#notice').isVisible(), false);
  for (const p of [a, b]) await p.context().close();
});
