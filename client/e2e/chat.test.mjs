// Chat in the page: order, the typing indicator, and history for a late joiner; and a camera
// turned off shows as a placeholder at the others.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, openPage, waitForRemoteVideos } from './helpers.mjs';

const ctx = serverAndBrowser();

const messages = (page) => page.$$eval('#messages li', (lis) => lis.map((li) => li.querySelector('.text').textContent));

test('messages arrive in order with a typing indicator, and a late joiner sees them', async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'chatroom', 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, 'chatroom', 'Bob');
  await b.waitForSelector('.tile.remote');
  await a.waitForSelector('.tile.remote');

  // At 1280 pixels wide, the chat's input and Send button fit in its panel, on screen.
  await a.setViewportSize({ width: 1280, height: 720 });
  const panel = await a.locator('#chat').boundingBox();
  for (const control of ['#chat-input', '#chat-form button']) {
    const box = await a.locator(control).boundingBox();
    assert.ok(box.x >= panel.x && box.x + box.width <= panel.x + panel.width, `${control} inside the chat panel: ${JSON.stringify({ box, panel })}`);
    assert.ok(box.x + box.width <= 1280 && box.y + box.height <= 720, `${control} on screen: ${JSON.stringify(box)}`);
  }

  // Typing shows at B while A types, and goes when A sends.
  await a.locator('#chat-input').pressSequentially('hello', { delay: 30 });
  await b.waitForFunction(() => {
    const t = document.querySelector('#typing');
    return !t.hidden && t.textContent === 'Ada is typing…';
  });
  await a.locator('#chat-input').press('Enter');
  for (const text of ['second', 'third']) {
    await a.locator('#chat-input').fill(text);
    await a.locator('#chat-input').press('Enter');
  }
  for (const p of [a, b]) await p.waitForFunction(() => document.querySelectorAll('#messages li').length === 3);
  assert.deepEqual(await messages(b), ['hello', 'second', 'third']);
  assert.deepEqual(await messages(a), ['hello', 'second', 'third']);
  await b.waitForFunction(() => document.querySelector('#typing').hidden, null, { timeout: 7000 });

  // A third page joins later and sees the conversation.
  const c = await openPage(ctx.browser, ctx.server.url, 'chatroom', 'Cat');
  await c.waitForFunction(() => document.querySelectorAll('#messages li').length === 3);
  assert.deepEqual(await messages(c), ['hello', 'second', 'third']);
  for (const p of [a, b, c]) await p.context().close();
});

test('a camera turned off shows a placeholder at the others', async () => {
  const a = await openPage(ctx.browser, ctx.server.url, 'camroom', 'Ada');
  const b = await openPage(ctx.browser, ctx.server.url, 'camroom', 'Bob');
  await waitForRemoteVideos(b, 1);
  const aId = await a.evaluate(() => window.app.me);
  const placeholder = b.locator(`.tile[data-peer-id="${aId}"] .placeholder`);
  assert.equal(await placeholder.isVisible(), false);
  await a.locator('#cam').click();
  await placeholder.waitFor({ state: 'visible', timeout: 5000 });
  assert.equal(await a.locator('#cam').getAttribute('aria-pressed'), 'false');
  await a.locator('#cam').click();
  await placeholder.waitFor({ state: 'hidden', timeout: 5000 });

  // The speaking indicator follows the fake microphone's beeps, and muting silences it.
  const tile = b.locator(`.tile[data-peer-id="${aId}"]`);
  await b.locator(`.tile[data-peer-id="${aId}"].speaking`).waitFor({ timeout: 10000 });
  await a.locator('#mic').click();
  await b.waitForTimeout(1500);
  let lit = 0;
  for (let i = 0; i < 10; i++) {
    if ((await tile.getAttribute('class')).includes('speaking')) lit++;
    await b.waitForTimeout(200);
  }
  assert.equal(lit, 0, 'a muted member is never shown speaking');
  for (const p of [a, b]) await p.context().close();
});
